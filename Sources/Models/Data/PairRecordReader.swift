import Foundation

/// One example of a data set of text pairs: two texts whose similarity is explained.
public struct TextPair: Sendable, Equatable {
  /// 0-based position among the records of the file.
  public let index: Int
  /// 1-based line of the record.
  public let line: Int
  /// The id field, or the record's 0-based index.
  public let id: String
  /// Text A.
  public let a: String
  /// Text B.
  public let b: String
}

/// Streams a data set of text pairs: JSON Lines, one object per line with the strings `a`
/// and `b` and optionally the id (`id`, or `--id-field`; a string or an integer). Blank
/// lines are skipped. A record that cannot be read (not JSON, not an object, a missing or
/// non-string text, a field the format does not have) is returned as a failure naming the
/// file, the line and the field.
public final class PairRecordReader {
  private let lines: LineReader
  private let idField: String
  private var nextIndex = 0

  /// The two text fields.
  public static let fields = ["a", "b"]

  /// Opens `path` (`-`: standard input).
  public init(path: String, idField: String = "id") throws {
    if path.lowercased().hasSuffix(".csv") {
      throw ModelError.badInput(
        "\(path): a sentence encoder reads pairs from JSON Lines ({\"a\": \"…\", \"b\": \"…\"} per line), not CSV.")
    }
    lines = try LineReader(path: path)
    self.idField = idField
  }

  /// The file read, for messages.
  public var path: String { lines.path }

  /// The next record (or the failure to read it), or nil at the end of the file.
  public func next() throws -> RecordRead<TextPair>? {
    guard let (line, value) = try lines.nextJSONObject() else { return nil }
    defer { nextIndex += 1 }
    return RecordRead(index: nextIndex, line: line, result: value.flatMap { record($0.object, source: $0.source, line: line) })
  }

  private func record(_ node: JSONNode, source: String, line: Int) -> Result<TextPair, ModelError> {
    let known = Self.fields + [idField]
    if let unknown = node.keys.first(where: { !known.contains($0) }) {
      return .failure(
        .badInput(
          "\(source): unknown field \(PromptRecordReader.quoted(unknown)); a pair record has 'a', 'b' and '\(idField)'."))
    }
    var texts: [String] = []
    for field in Self.fields {
      guard let value = node[field], !value.isNull else {
        return .failure(.badInput("\(source): no field '\(field)' (text \(field.uppercased()) of the pair)."))
      }
      guard let text = value.string else {
        return .failure(
          .badInput("\(source): '\(field)' must be a string; got \(PromptRecordReader.kind(of: value))."))
      }
      texts.append(text)
    }
    var id = "\(nextIndex)"
    if let value = node[idField], !value.isNull {
      guard let given = value.string ?? value.int.map(String.init) else {
        return .failure(
          .badInput(
            "\(source): '\(idField)' must be a string or an integer; got \(PromptRecordReader.kind(of: value))."))
      }
      id = given
    }
    return .success(TextPair(index: nextIndex, line: line, id: id, a: texts[0], b: texts[1]))
  }
}
