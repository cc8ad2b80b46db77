import Foundation

/// One example of a text data set.
public struct DataRecord: Sendable, Equatable {
  /// The `id` field, or the line/row number.
  public let id: String
  /// The text to explain.
  public let text: String
  /// The true label, when the data set has one.
  public let label: String?
}

/// Reads text data sets: JSON Lines (`text`, optional `label`, optional `id`) or CSV
/// with a header row (RFC 4180 quoting).
public enum DataRecords {
  /// Every record of `path`; ids default to the 1-based line/row number.
  public static func read(_ path: String, textField: String = "text", labelField: String = "label") throws
    -> [DataRecord]
  {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw ModelError.missingFile(path: path)
    }
    guard let content = String(data: data, encoding: .utf8) else {
      throw ModelError.badInput("\(path): the file is not valid UTF-8.")
    }
    if path.lowercased().hasSuffix(".csv") {
      return try csv(content, path: path, textField: textField, labelField: labelField)
    }
    var records: [DataRecord] = []
    for (index, line) in content.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
    where !line.trimmingCharacters(in: .whitespaces).isEmpty {
      let source = "\(path) line \(index + 1)"
      let node = try JSONDocument.parse(String(line), source: source).rootNode
      guard let text = node[textField]?.string else {
        throw ModelError.badInput("\(source): no string field '\(textField)'.")
      }
      let label = node[labelField].flatMap { $0.string ?? $0.int.map(String.init) }
      let id = node["id"].flatMap { $0.string ?? $0.int.map(String.init) } ?? "\(index + 1)"
      records.append(DataRecord(id: id, text: text, label: label))
    }
    return records
  }

  static func csv(_ content: String, path: String, textField: String, labelField: String) throws
    -> [DataRecord]
  {
    let rows = try csvRows(content, path: path)
    guard let header = rows.first else { throw ModelError.badInput("\(path): the CSV file is empty.") }
    guard let textColumn = header.firstIndex(of: textField) else {
      throw ModelError.badInput(
        "\(path): the header has no column '\(textField)' (it has \(header.joined(separator: ", "))).")
    }
    let labelColumn = header.firstIndex(of: labelField)
    let idColumn = header.firstIndex(of: "id")
    return try rows.dropFirst().enumerated().compactMap { offset, row in
      if row.count == 1 && row[0].isEmpty { return nil }
      guard row.count == header.count else {
        throw ModelError.badInput(
          "\(path) row \(offset + 2): \(row.count) fields, the header has \(header.count).")
      }
      return DataRecord(
        id: idColumn.map { row[$0] } ?? "\(offset + 1)", text: row[textColumn],
        label: labelColumn.map { row[$0] })
    }
  }

  static func csvRows(_ content: String, path: String) throws -> [[String]] {
    var rows: [[String]] = []
    var row: [String] = []
    var field = ""
    var quoted = false
    var iterator = content.unicodeScalars.makeIterator()
    var pending: Unicode.Scalar? = iterator.next()
    while let scalar = pending {
      pending = iterator.next()
      if quoted {
        if scalar == "\"" {
          if pending == "\"" {
            field.unicodeScalars.append("\"")
            pending = iterator.next()
          } else {
            quoted = false
          }
        } else {
          field.unicodeScalars.append(scalar)
        }
        continue
      }
      switch scalar {
      case "\"" where field.isEmpty: quoted = true
      case ",":
        row.append(field)
        field = ""
      case "\n":
        row.append(field)
        rows.append(row)
        row = []
        field = ""
      case "\r" where pending == "\n": continue
      default: field.unicodeScalars.append(scalar)
      }
    }
    if quoted { throw ModelError.badInput("\(path): a quoted CSV field is never closed.") }
    if !field.isEmpty || !row.isEmpty {
      row.append(field)
      rows.append(row)
    }
    return rows
  }
}
