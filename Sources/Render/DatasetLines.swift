import Attribution
import Foundation
import Models

/// The true label of an example as a data set gives it, and the class it names.
public struct GivenLabel: Sendable, Equatable {
  /// The label as written in the data (a class name or index).
  public let given: String
  /// The model's class it names, nil when it names none.
  public let classIndex: Int?

  /// A label and the class it names.
  public init(given: String, classIndex: Int?) {
    self.given = given
    self.classIndex = classIndex
  }
}

/// One line of `xai batch` output: the object of one example and one method (docs/json-output.md, "xai batch"),
/// with the example's input position, id, true label and whether the prediction is right.
public enum DatasetLine {
  /// The line for a text explanation.
  public static func json(index: Int, id: String, label: GivenLabel?, explanation: TextExplanation)
    -> JSONOutput
  {
    guard case .object(let members) = explanation.json else { preconditionFailure("an object") }
    return wrap(
      members, index: index, id: id, label: label, labels: explanation.labels,
      predicted: explanation.predictedIndex)
  }

  /// The line for a graph explanation object (walks or node relevance) with its outputs.
  public static func json(
    index: Int, id: String, label: GivenLabel?, object: JSONOutput, labels: [String], outputs: [Float]
  ) -> JSONOutput {
    guard case .object(let members) = object else { preconditionFailure("an object") }
    return wrap(
      members, index: index, id: id, label: label, labels: labels, predicted: predictedClass(outputs))
  }

  /// The line for an explanation object without classes (a language model's next token).
  public static func json(index: Int, id: String, object: JSONOutput) -> JSONOutput {
    guard case .object(let members) = object else { preconditionFailure("an object") }
    return wrap(members, index: index, id: id, label: nil, labels: [], predicted: 0)
  }

  static func wrap(
    _ members: [(String, JSONOutput)], index: Int, id: String, label: GivenLabel?, labels: [String],
    predicted: Int
  ) -> JSONOutput {
    var line: [(String, JSONOutput)] = [("index", .int(index)), ("id", .string(id))]
    line += members
    if let label {
      if let classIndex = label.classIndex {
        line.append(
          (
            "label",
            .object([
              ("index", .int(classIndex)), ("label", .string(labels[classIndex])),
              ("given", .string(label.given)),
            ])
          ))
        line.append(("correct", .bool(classIndex == predicted)))
      } else {
        line.append(("label", .object([("given", .string(label.given))])))
      }
    }
    return .object(line)
  }
}

/// One line of batch output read back: what the data-set page needs.
public struct DatasetRow: Sendable {
  /// Input position.
  public let index: Int
  /// Example id.
  public let id: String
  /// The text.
  public let text: String
  /// How the relevance was computed (`lrp`, `gradxinput + detach gelu`).
  public let methodTitle: String
  /// Word pieces as the model saw them.
  public let tokens: [String]
  /// One relevance per token.
  public let relevance: [Float]
  /// Class probabilities.
  public let probabilities: [Float]
  /// Explained class (index, label).
  public let target: (index: Int, label: String)
  /// The true class, when the label names one.
  public let label: (index: Int, label: String)?
  /// A label that names no class of the model.
  public let unknownLabel: String?

  /// The predicted class.
  public var predicted: Int { predictedClass(probabilities) }

  /// Word pieces merged into words (`WordPieceTokenizer.wordRanges`, as the explanation
  /// itself merges them; relevance summed), the pieces' text joined.
  public var words: [(text: String, relevance: Float)] {
    let tokens = tokens
    return WordPieceTokenizer.wordRanges(tokens, isSpecial: { WordPieceTokenizer.isSpecial(tokens[$0]) }).map
    {
      range in
      (
        tokens[range].map { $0.hasPrefix("##") ? String($0.dropFirst(2)) : $0 }.joined(),
        relevance[range].reduce(0, +)
      )
    }
  }

  /// A row from one parsed line.
  public init(line node: JSONNode, source: String) throws {
    func missing(_ key: String) -> ModelError {
      .badInput(
        "\(source): key '\(key)' is missing or malformed (a line of text explanations has index, id, text, method and relevance)."
      )
    }
    guard let index = node["index"]?.int else { throw missing("index") }
    guard let id = node["id"]?.string else { throw missing("id") }
    guard let text = node["text"]?.string else { throw missing("text") }
    guard let name = node["method"]?.string, let kind = MethodKind(name: name) else {
      throw missing("method")
    }
    let detached = (node["detach"]?.elements ?? []).compactMap {
      $0.string.flatMap(RuleOperation.init(rawValue:))
    }
    guard let tokens = node["tokens"]?.elements.compactMap(\.string) else { throw missing("tokens") }
    guard let relevance = node["relevance"]?.numericArray()?.values, relevance.count == tokens.count else {
      throw missing("relevance")
    }
    guard let probabilities = node["probabilities"]?.numericArray()?.values, !probabilities.isEmpty else {
      throw missing("probabilities")
    }
    for (key, values) in [("relevance", relevance), ("probabilities", probabilities)]
    where !values.allSatisfy(\.isFinite) {
      throw ModelError.badInput("\(source): key '\(key)' holds a number beyond the float32 range.")
    }
    guard let targetIndex = node["target"]?["index"]?.int, let targetLabel = node["target"]?["label"]?.string,
      probabilities.indices.contains(targetIndex)
    else { throw missing("target") }
    self.index = index
    self.id = id
    self.text = text
    methodTitle = MethodSummary(kind: kind, detached: detached).title
    self.tokens = tokens
    self.relevance = relevance
    self.probabilities = probabilities
    target = (targetIndex, targetLabel)
    if let labelIndex = node["label"]?["index"]?.int, let labelName = node["label"]?["label"]?.string,
      probabilities.indices.contains(labelIndex)
    {
      label = (labelIndex, labelName)
      unknownLabel = nil
    } else {
      label = nil
      unknownLabel = node["label"]?["given"]?.string
    }
  }

  /// The row of a live explanation, with the values its line carries (no JSON in between).
  public init(index: Int, id: String, label: GivenLabel?, explanation: TextExplanation) {
    self.index = index
    self.id = id
    text = explanation.text
    methodTitle = explanation.method.title
    tokens = explanation.tokens
    relevance = explanation.relevance
    probabilities = explanation.probabilities
    target = (explanation.targetIndex, explanation.targetLabel)
    if let classIndex = label?.classIndex {
      self.label = (classIndex, explanation.labels[classIndex])
      unknownLabel = nil
    } else {
      self.label = nil
      unknownLabel = label?.given
    }
  }
}
