import Foundation

/// One example of a language-model data set: a prompt whose next token is explained.
public struct PromptRecord: Sendable, Equatable {
  /// 0-based position among the records of the file.
  public let index: Int
  /// 1-based line of the record.
  public let line: Int
  /// The id field, or the record's 0-based index.
  public let id: String
  /// The prompt (before any chat template).
  public let prompt: String
  /// The next token to explain as written: one token's text (`" Paris"`) or `#id`; nil
  /// for the model's greedy choice.
  public let target: String?
  /// A contrast token written the same way (explain target − contrast), or nil.
  public let contrast: String?

  /// A record from its fields.
  public init(index: Int, line: Int, id: String, prompt: String, target: String?, contrast: String?) {
    self.index = index
    self.line = line
    self.id = id
    self.prompt = prompt
    self.target = target
    self.contrast = contrast
  }
}

/// Streams a language-model data set: JSON Lines, one object per line with the prompt
/// (`prompt`, or the field `--text-field` names), optionally `target`, `contrast` and the
/// id (`id`, or `--id-field`; a string or an integer). Blank lines are skipped. A record
/// that cannot be read (not JSON, not an object, no prompt, a field of the wrong type, a
/// field the format does not have) is returned as a failure naming the file and line.
public final class PromptRecordReader {
  private let lines: LineReader
  private let promptField: String
  private let idField: String
  private var nextIndex = 0

  /// The target and contrast fields.
  public static let targetField = "target"
  public static let contrastField = "contrast"

  /// Opens `path` (`-`: standard input); `promptField` and `idField` name those fields.
  public init(path: String, promptField: String = "prompt", idField: String = "id") throws {
    let lowered = path.lowercased()
    if lowered.hasSuffix(".csv") {
      throw ModelError.badInput(
        "\(path): a language model reads its prompts from JSON Lines ({\"prompt\": \"…\", \"target\": \"…\"} per line), not CSV.")
    }
    lines = try LineReader(path: path)
    self.promptField = promptField
    self.idField = idField
  }

  /// The file read, for messages.
  public var path: String { lines.path }

  /// The next record (or the failure to read it), or nil at the end of the file.
  public func next() throws -> RecordRead<PromptRecord>? {
    guard let (line, value) = try lines.nextJSONObject() else { return nil }
    defer { nextIndex += 1 }
    return RecordRead(index: nextIndex, line: line, result: value.flatMap { record($0.object, source: $0.source, line: line) })
  }

  private func record(_ node: JSONNode, source: String, line: Int) -> Result<PromptRecord, ModelError> {
    let known = [promptField, idField, Self.targetField, Self.contrastField]
    let unknown = node.keys.filter { !known.contains($0) }
    guard let field = node[promptField], !field.isNull else {
      let others = unknown.isEmpty ? "" : "; it has \(unknown.prefix(4).map(Self.quoted).joined(separator: ", "))"
      return .failure(.badInput("\(source): no field '\(promptField)' (the prompt to explain)\(others)."))
    }
    if let unknown = unknown.first {
      return .failure(
        .badInput(
          "\(source): unknown field \(Self.quoted(unknown)); a prompt record has \(known.map { "'\($0)'" }.joined(separator: ", "))."
        ))
    }
    guard let prompt = field.string else {
      return .failure(.badInput("\(source): '\(promptField)' must be a string; got \(Self.kind(of: field))."))
    }
    var id = "\(nextIndex)"
    if let value = node[idField], !value.isNull {
      guard let given = value.string ?? value.int.map(String.init) else {
        return .failure(.badInput("\(source): '\(idField)' must be a string or an integer; got \(Self.kind(of: value))."))
      }
      id = given
    }
    func token(_ key: String) -> Result<String?, ModelError> {
      guard let value = node[key], !value.isNull else { return .success(nil) }
      guard let text = value.string else {
        return .failure(
          .badInput(
            "\(source): '\(key)' must be a string (one token such as \" Paris\", or \"#id\"); got \(Self.kind(of: value))."))
      }
      guard !text.isEmpty else { return .failure(.badInput("\(source): '\(key)' is empty; give one token, or #id.")) }
      return .success(text)
    }
    return token(Self.targetField).flatMap { target in
      token(Self.contrastField).map { contrast in
        PromptRecord(index: nextIndex, line: line, id: id, prompt: prompt, target: target, contrast: contrast)
      }
    }
  }

  /// A field name in quotes, cut at 40 characters (a file may hold any key).
  static func quoted(_ key: String) -> String { "'" + (key.count > 40 ? key.prefix(40) + "…" : key) + "'" }

  /// A JSON value's type in words, for messages (its text may be long).
  static func kind(of node: JSONNode) -> String {
    if node.isObject { return "an object" }
    if node.isArray { return "an array" }
    if node.bool != nil { return "true or false" }
    if node.double != nil { return "a number" }
    return "a string"
  }
}
