import Foundation

/// One example of a text data set.
public struct DataRecord: Sendable, Equatable {
  /// 0-based position among the records of the file.
  public let index: Int
  /// 1-based line where the record starts.
  public let line: Int
  /// The id field, or the record's 0-based index.
  public let id: String
  /// The text to explain.
  public let text: String
  /// The true label as given (a class name or index), when the data set has one.
  public let label: String?
}

/// One record read from a data file, or the reason it could not be read, with its
/// position in the file either way.
public struct RecordRead<Record: Sendable>: Sendable {
  /// 0-based position among the records of the file.
  public let index: Int
  /// 1-based line where the record starts.
  public let line: Int
  /// The record, or what is wrong with it (naming the file and line).
  public let result: Result<Record, ModelError>
}

/// The field (JSONL key or CSV column) names of a text data set.
public struct DataFields: Sendable {
  /// The text to explain.
  public var text: String
  /// The true label (optional in the data).
  public var label: String
  /// The example's id (optional in the data).
  public var id: String

  /// Field names, `text`, `label` and `id` by default.
  public init(text: String = "text", label: String = "label", id: String = "id") {
    self.text = text
    self.label = label
    self.id = id
  }
}

/// Streams a text data set: JSON Lines (an object per line) or CSV with a header row
/// (RFC 4180: commas, quotes and line breaks inside quoted fields). Blank lines are
/// skipped; a record that cannot be read is returned as a failure naming its line,
/// so that the caller decides whether to stop or skip.
public final class DataRecordReader {
  /// Whether the file is CSV (by its `.csv` ending).
  public let isCSV: Bool
  private let lines: LineReader
  private let fields: DataFields
  private var header: [String] = []
  private var nextIndex = 0

  /// Opens `path` (`-`: JSON Lines on standard input); for CSV reads the header.
  public init(path: String, fields: DataFields = DataFields()) throws {
    lines = try LineReader(path: path)
    self.fields = fields
    isCSV = path.lowercased().hasSuffix(".csv")
    if isCSV {
      guard let first = try csvRecord() else { throw ModelError.badInput("\(path): the CSV file is empty.") }
      header = try first.fields.get()
      guard header.contains(fields.text) else {
        throw ModelError.badInput(
          "\(path): the header has no column '\(fields.text)' (it has \(header.joined(separator: ", "))).")
      }
    }
  }

  /// The file read, for messages.
  public var path: String { lines.path }

  /// The next record (or the failure to read it), or nil at the end of the file.
  public func next() throws -> RecordRead<DataRecord>? {
    if isCSV {
      guard let record = try csvRecord() else { return nil }
      defer { nextIndex += 1 }
      return RecordRead(
        index: nextIndex, line: record.line,
        result: record.fields.flatMap { row in makeCSVRecord(row, line: record.line) })
    }
    guard let (line, value) = try lines.nextJSONObject() else { return nil }
    defer { nextIndex += 1 }
    return RecordRead(index: nextIndex, line: line, result: value.flatMap { jsonRecord($0.object, source: $0.source, line: line) })
  }

  private func jsonRecord(_ node: JSONNode, source: String, line: Int) -> Result<DataRecord, ModelError> {
    guard let value = node[fields.text]?.string else {
      return .failure(.badInput("\(source): no string field '\(fields.text)'."))
    }
    func scalar(_ key: String) -> String? {
      guard let field = node[key], !field.isNull else { return nil }
      return field.string ?? field.int.map(String.init) ?? field.double.map { "\($0)" }
    }
    return .success(
      DataRecord(
        index: nextIndex, line: line, id: scalar(fields.id) ?? "\(nextIndex)", text: value,
        label: scalar(fields.label)))
  }

  private func makeCSVRecord(_ row: [String], line: Int) -> Result<DataRecord, ModelError> {
    guard row.count == header.count else {
      return .failure(
        .badInput("\(lines.path) line \(line): \(row.count) fields, the header has \(header.count)."))
    }
    func column(_ name: String) -> String? { header.firstIndex(of: name).map { row[$0] } }
    return .success(
      DataRecord(
        index: nextIndex, line: line, id: column(fields.id) ?? "\(nextIndex)", text: column(fields.text)!,
        label: column(fields.label).flatMap { $0.isEmpty ? nil : $0 }))
  }

  /// One CSV record (possibly spanning lines) and the line it starts on.
  private func csvRecord() throws -> (fields: Result<[String], ModelError>, line: Int)? {
    var row: [String] = []
    var field = String.UnicodeScalarView()
    var quoted = false
    var startLine = 0
    var invalidLine: Int?
    while let bytes = try lines.nextLine() {
      if startLine == 0 {
        if bytes.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }) { continue }
        startLine = lines.lineNumber
      }
      // An undecodable line fails the record, but is still read (with replacement
      // characters) to the record's end, so that a quoted field spanning it cannot
      // make its remaining lines look like records of their own.
      let text: String
      if let decoded = String(validating: bytes, as: UTF8.self) {
        text = decoded
      } else {
        invalidLine = invalidLine ?? lines.lineNumber
        text = String(decoding: bytes, as: UTF8.self)
      }
      var scalars = text.unicodeScalars.makeIterator()
      var pending = scalars.next()
      while let scalar = pending {
        pending = scalars.next()
        if quoted {
          if scalar == "\"" {
            if pending == "\"" {
              field.append("\"")
              pending = scalars.next()
            } else {
              quoted = false
            }
          } else {
            field.append(scalar)
          }
          continue
        }
        switch scalar {
        case "\"" where field.isEmpty: quoted = true
        case ",":
          row.append(String(field))
          field = String.UnicodeScalarView()
        default: field.append(scalar)
        }
      }
      if quoted {
        field.append("\n")
        continue
      }
      row.append(String(field))
      if let invalidLine {
        return (.failure(.badInput("\(lines.path) line \(invalidLine) is not valid UTF-8.")), startLine)
      }
      return (.success(row), startLine)
    }
    guard startLine != 0 else { return nil }
    return (
      .failure(.badInput("\(lines.path) line \(startLine): a quoted CSV field is never closed.")), startLine
    )
  }
}
