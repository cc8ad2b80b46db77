import Foundation

/// Streams an image data set: a folder (every .png, .jpg and .jpeg in it, by name, no
/// labels) or a JSON Lines / CSV file whose `fields.text` column names each image file
/// (relative paths are relative to the data-set file's folder), with optional label and
/// id. Each record's `text` is the image's path.
public final class ImageRecordReader {
  private let records: DataRecordReader?
  private let files: [String]
  private let folder: String
  private var nextIndex = 0

  /// The file or folder read, for messages.
  public let path: String

  /// Opens a folder of images or a data-set file naming them.
  public init(path: String, fields: DataFields) throws {
    self.path = path
    var isFolder: ObjCBool = false
    guard path == "-" || FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
      throw ModelError.missingFile(path: path)
    }
    if isFolder.boolValue {
      let names = try FileManager.default.contentsOfDirectory(atPath: path)
      files = names.filter { ["png", "jpg", "jpeg"].contains(($0 as NSString).pathExtension.lowercased()) }
        .sorted()
      guard !files.isEmpty else { throw ModelError.badInput("\(path) holds no .png, .jpg or .jpeg file.") }
      folder = path
      records = nil
    } else {
      files = []
      folder = path == "-" ? "." : URL(fileURLWithPath: path).deletingLastPathComponent().path
      records = try DataRecordReader(path: path, fields: fields)
    }
  }

  /// The next record (its `text` the image's path) or the failure to read it, or nil at
  /// the end.
  public func next() throws -> RecordRead<DataRecord>? {
    guard let records else {
      guard nextIndex < files.count else { return nil }
      defer { nextIndex += 1 }
      let file = (folder as NSString).appendingPathComponent(files[nextIndex])
      return RecordRead(
        index: nextIndex, line: nextIndex + 1,
        result: .success(
          DataRecord(index: nextIndex, line: nextIndex + 1, id: files[nextIndex], text: file, label: nil)))
    }
    guard let read = try records.next() else { return nil }
    return RecordRead(
      index: read.index, line: read.line,
      result: read.result.map { record in
        let file =
          record.text.hasPrefix("/") ? record.text : (folder as NSString).appendingPathComponent(record.text)
        return DataRecord(
          index: record.index, line: record.line, id: record.id, text: file, label: record.label)
      })
  }
}
