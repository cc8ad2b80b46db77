import Foundation
import Models
import Tensor

/// Which class's logit to explain.
public enum ClassTarget: Sendable, Equatable {
  /// The class the model predicts.
  case predicted
  /// A class by index.
  case index(Int)
  /// A class by its label (`id2label`).
  case label(String)

  /// The class index this target names for a model with `labels` and these `logits`.
  public func index(labels: [String], logits: [Float]) throws -> Int {
    switch self {
    case .predicted:
      return logits.indices.max { logits[$0] < logits[$1] } ?? 0
    case .index(let index):
      guard labels.indices.contains(index) else {
        throw ModelError.badInput(
          "Target class \(index) does not exist; the model has classes 0…\(labels.count - 1) (\(labels.joined(separator: ", ")))."
        )
      }
      return index
    case .label(let name):
      guard let index = labels.firstIndex(where: { $0.lowercased() == name.lowercased() }) else {
        throw ModelError.badInput(
          "Target '\(name)' is not a label of the model (\(labels.joined(separator: ", "))).")
      }
      return index
    }
  }

  /// Parses a command-line value: an integer index or a label name.
  public init(_ text: String) {
    if let index = Int(text) { self = .index(index) } else { self = .label(text) }
  }
}

/// Σ_t R_t against the explained logit; the residual is what biases and eps absorbed.
public struct Conservation: Sendable, Equatable {
  /// Σ_t R_t.
  public let sumRelevance: Float
  /// The explained logit f(x).
  public let targetLogit: Float
  /// target logit − Σ R.
  public var residual: Float { targetLogit - sumRelevance }
  /// For path methods: the target logit at the baseline.
  public let baselineLogit: Float?
  /// For path methods: (f(x) − f(baseline)) − Σ R (completeness).
  public var completenessResidual: Float? {
    baselineLogit.map { targetLogit - $0 - sumRelevance }
  }
}

/// The attribution of one text: tokens, prediction, target, relevance, conservation.
public struct TextExplanation: Sendable {
  /// The model that was explained.
  public let modelName: String
  /// The method name (`lrp`, `gradxinput`, …).
  public let method: String
  /// Detachment hooks that were on.
  public let hooks: DetachmentHooks
  /// The tokenized text.
  public let encoded: EncodedText
  /// Index of the explained class.
  public let targetIndex: Int
  /// Label of the explained class.
  public let targetLabel: String
  /// Every class label, by index.
  public let labels: [String]
  /// The logits of every class.
  public let logits: [Float]
  /// Softmax of the logits.
  public let probabilities: [Float]
  /// One relevance per token (including `[CLS]` and `[SEP]`).
  public let relevance: [Float]
  /// Σ R against the explained logit.
  public let conservation: Conservation

  /// The original text.
  public var text: String { encoded.text }
  /// Token strings.
  public var tokens: [String] { encoded.pieces }
  /// Index of the predicted class.
  public var predictedIndex: Int { logits.indices.max { logits[$0] < logits[$1] } ?? 0 }

  /// Word pieces merged into words (relevance summed); special tokens stay alone.
  /// Each word's text is taken from the original string.
  public func words() -> [(text: String, relevance: Float)] {
    var merged: [(text: String, relevance: Float)] = []
    var currentWord: Int?
    var span: Range<Int>?
    var sum: Float = 0
    func flush() {
      if let span { merged.append((encoded.substring(span), sum)) }
      span = nil
      sum = 0
    }
    for (token, value) in zip(encoded.tokens, relevance) {
      guard let word = token.word else {
        flush()
        currentWord = nil
        merged.append((token.piece, value))
        continue
      }
      if word != currentWord { flush() }
      currentWord = word
      span =
        span.map {
          min($0.lowerBound, token.offsets.lowerBound)..<max($0.upperBound, token.offsets.upperBound)
        }
        ?? token.offsets
      sum += value
    }
    flush()
    return merged
  }
}

/// Softmax of a logit vector (for display).
func probabilities(_ logits: [Float]) -> [Float] {
  let largest = logits.max() ?? 0
  let exps = logits.map { Foundation.exp($0 - largest) }
  let total = exps.reduce(0, +)
  return exps.map { $0 / total }
}

extension TextModel {
  /// Explains `text` with `method` for `target`.
  public func explain(_ text: String, method: any TextAttributionMethod, target: ClassTarget = .predicted)
    throws -> TextExplanation
  {
    guard network.hasClassifier else {
      throw ModelError.badInput("\(path): the model has no classification head to explain.")
    }
    guard !text.unicodeScalars.allSatisfy({ $0.properties.isWhitespace }) else {
      throw ModelError.badInput("The text is empty; give a sentence to explain.")
    }
    let encoded = try encode(text)
    try validate(ids: encoded.ids)
    let padId = tokenizer?.padId ?? config.padTokenId
    let input = TextInput(
      model: network, ids: encoded.ids, padId: padId, isSpecial: encoded.tokens.map { $0.word == nil })
    let logits = withoutGrad { network.logits(embeddings: input.embeddings, batch: input.batch) }.scalars
    let labels = config.labels
    let targetIndex = try target.index(labels: labels, logits: logits)
    let attribution = method.attribute(model: network, input: input, target: targetIndex)
    return TextExplanation(
      modelName: name, method: method.name, hooks: method.hooks, encoded: encoded,
      targetIndex: targetIndex, targetLabel: labels[targetIndex], labels: labels, logits: logits,
      probabilities: probabilities(logits), relevance: attribution.relevance,
      conservation: Conservation(
        sumRelevance: attribution.relevance.reduce(0, +), targetLogit: logits[targetIndex],
        baselineLogit: attribution.baselineLogit))
  }
}

/// The methods by command-line name.
public enum TextMethods {
  /// Names accepted by `--method`.
  public static let names = ["lrp", "gradxinput", "gradient", "integrated-gradients"]

  /// The method `name` with extra `hooks` (on top of gradxinput) and IG `steps`.
  public static func make(
    _ name: String, hooks: DetachmentHooks = .none, steps: Int = 32,
    rule: IntegratedGradients.Rule = .gaussLegendre
  ) throws -> any TextAttributionMethod {
    switch name {
    case "lrp": return GradientTimesInput.lrp
    case "gradxinput", "gradient-x-input", "inputxgradient":
      return GradientTimesInput(hooks: hooks)
    case "gradient", "saliency": return GradientSaliency()
    case "integrated-gradients", "ig": return IntegratedGradients(steps: steps, rule: rule)
    default:
      throw ModelError.badInput(
        "Unknown method '\(name)'; choose one of \(names.joined(separator: ", ")).")
    }
  }
}
