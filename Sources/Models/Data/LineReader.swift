import Foundation

/// Reads a file or standard input line by line in fixed-size chunks, so that a file of
/// any size is streamed: memory holds one chunk and the current line.
public final class LineReader {
  /// The file read (`-` for standard input), for messages.
  public let path: String
  private let handle: FileHandle
  private var buffer: [UInt8] = []
  private var start = 0
  /// Where the search for the next line break resumes (bytes before it hold none).
  private var scanned = 0
  private var finished = false
  /// 1-based number of the last line returned.
  public private(set) var lineNumber = 0
  /// Longest line accepted (a longer one is an error, not an allocation abort).
  public static let maximumLineBytes = 64 << 20
  private let chunkBytes = 1 << 20

  /// Opens `path` (`-` reads standard input).
  public init(path: String) throws {
    self.path = path
    if path == "-" {
      handle = FileHandle.standardInput
      return
    }
    var isFolder: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
      throw ModelError.missingFile(path: path)
    }
    guard !isFolder.boolValue else { throw ModelError.badInput("\(path) is a folder, not a data file.") }
    guard let handle = FileHandle(forReadingAtPath: path) else { throw ModelError.missingFile(path: path) }
    self.handle = handle
  }

  deinit { if path != "-" { try? handle.close() } }

  /// The next line's bytes without its line break (`\n` or `\r\n`), or nil at the end.
  public func nextLine() throws -> ArraySlice<UInt8>? {
    while true {
      if let newline = buffer[max(start, scanned)...].firstIndex(of: UInt8(ascii: "\n")) {
        var end = newline
        if end > start && buffer[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        var line = buffer[start..<end]
        start = newline + 1
        lineNumber += 1
        if lineNumber == 1 { line = Self.withoutByteOrderMark(line) }
        return line
      }
      if finished {
        guard start < buffer.count else { return nil }
        var line = buffer[start...]
        start = buffer.count
        lineNumber += 1
        if lineNumber == 1 { line = Self.withoutByteOrderMark(line) }
        return line
      }
      guard buffer.count - start <= Self.maximumLineBytes else {
        throw ModelError.badInput(
          "\(path) line \(lineNumber + 1) is longer than \(Self.maximumLineBytes >> 20) MB.")
      }
      if start > 0 {
        buffer.removeSubrange(0..<start)
        start = 0
      }
      // Searched once: a long line costs linear time, not quadratic.
      scanned = buffer.count
      // A pipe is read as its data arrives (a line is answered before the writer sends
      // more); a file in full chunks.
      let chunk = path == "-" ? handle.availableData : (try handle.read(upToCount: chunkBytes) ?? Data())
      if chunk.isEmpty { finished = true } else { buffer.append(contentsOf: chunk) }
    }
  }

  /// A line without a leading UTF-8 byte-order mark (as spreadsheet programs write it).
  static func withoutByteOrderMark(_ line: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
    line.starts(with: [0xEF, 0xBB, 0xBF]) ? line.dropFirst(3) : line
  }

  /// Lines of a file (for a quick total), counting without decoding.
  /// Nil for standard input and anything but a regular file: a pipe or device counted
  /// would be consumed (or never end).
  public static func countLines(_ path: String) -> Int? {
    var status = stat()
    // stat follows links: a link to a file counts, a pipe such as /dev/fd/63 does not.
    guard path != "-", stat(path, &status) == 0, status.st_mode & S_IFMT == S_IFREG,
      let handle = FileHandle(forReadingAtPath: path)
    else { return nil }
    defer { try? handle.close() }
    var count = 0
    var last: UInt8 = UInt8(ascii: "\n")
    while let chunk = try? handle.read(upToCount: 1 << 20), !chunk.isEmpty {
      chunk.withUnsafeBytes { bytes in
        for byte in bytes where byte == UInt8(ascii: "\n") { count += 1 }
        last = bytes.last ?? last
      }
    }
    return last == UInt8(ascii: "\n") ? count : count + 1
  }

  /// The next line that is not blank, read as one JSON value: its line number and the
  /// value, or the sentence naming the file and line it could not be read from (not
  /// UTF-8, not JSON); nil at the end of the file.
  public func nextJSONLine() throws -> (line: Int, value: Result<JSONNode, ModelError>)? {
    while let bytes = try nextLine() {
      guard bytes.contains(where: { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }) else { continue }
      let line = lineNumber
      let source = "\(path) line \(line)"
      guard let text = String(validating: bytes, as: UTF8.self) else {
        return (line, .failure(.badInput("\(source) is not valid UTF-8.")))
      }
      do {
        return (line, .success(try JSONDocument.parse(text, source: source).rootNode))
      } catch let error as ModelError {
        return (line, .failure(error))
      } catch {
        return (line, .failure(.badInput("\(source): \(error)")))
      }
    }
    return nil
  }

  /// The next line that is not blank, read as one JSON object: its line number and the
  /// object with the "file line N" that names it in messages, or the sentence saying why
  /// it is not one (not UTF-8, not JSON, not an object); nil at the end of the file.
  public func nextJSONObject() throws -> (line: Int, value: Result<(object: JSONNode, source: String), ModelError>)? {
    guard let (line, value) = try nextJSONLine() else { return nil }
    let source = "\(path) line \(line)"
    return (
      line,
      value.flatMap { node in
        node.isObject ? .success((node, source)) : .failure(.badInput("\(source): not a JSON object."))
      }
    )
  }
}
