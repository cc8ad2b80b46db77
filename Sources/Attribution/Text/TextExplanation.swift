import Foundation
import Models

/// How an explanation was made, as the renderers show it.
public struct MethodSummary: Sendable, Equatable {
  /// Which method.
  public let kind: MethodKind
  /// Operations held constant in the backward that the model has, in a fixed order.
  public let detached: [RuleOperation]

  /// A method and the operations it held constant.
  public init(kind: MethodKind, detached: [RuleOperation]) {
    self.kind = kind
    self.detached = detached
  }

  /// Name as the command line and JSON spell it.
  public var name: String { kind.rawValue }

  /// One sentence saying what the conservation residual (logit − Σ R) is for this method.
  public var residualMeaning: String {
    switch kind {
    case .lrp:
      "The residual is what the biases absorbed: with every detachment rule the network is affine in the embeddings, so nothing else is lost."
    case .attnlrp:
      "The residual is what the biases and AttnLRP's softmax rule absorbed (half of each attention product's share goes to the probabilities, which the softmax mostly cancels)."
    case .gradxinput:
      detached.count == 0
        ? "The residual is what the biases absorbed and what plain gradients through LayerNorm, softmax, GELU and tanh do not conserve."
        : "The residual is what the biases absorbed and what the operations left without a detachment rule do not conserve."
    case .gradient:
      "Saliency is a gradient norm, not a share of the logit: it is not meant to sum to it."
    case .integratedGradients:
      "Integrated Gradients sums to f(x) − f(baseline) (completeness); the completeness residual is the error of the path integral."
    case .occlusion:
      "Occlusion is not conservative: each unit gets the mean drop of the logit over the windows that cover it, so neither sum is meant to match."
    case .featureAblation:
      "Feature ablation is not conservative: each unit gets the drop of the logit when it alone is replaced by the baseline, so neither sum is meant to match."
    case .shapley:
      "Shapley values sum to f(x) − f(baseline) (efficiency), exactly and for every sampled order; the efficiency residual is rounding."
    case .kernelShap:
      "KernelSHAP's fit is constrained to sum to f(x) − f(baseline) (efficiency); the efficiency residual is rounding."
    case .lime:
      "LIME's coefficients are a Lasso surrogate's slopes, not shares of the logit: neither sum is meant to match."
    }
  }

  /// What f(x) − f(baseline) − Σ R is called: efficiency for Shapley values, else completeness.
  public var completenessName: String {
    kind == .shapley || kind == .kernelShap ? "efficiency" : "completeness"
  }

  /// `lrp`, `gradxinput`, or `gradxinput + detach layernorm,gelu` for detachments chosen one by one.
  public var title: String {
    guard kind.takesDetachments, !detached.isEmpty else { return kind.rawValue }
    return "\(kind.rawValue) + detach \(detached.map(\.rawValue).joined(separator: ","))"
  }
}

/// The attribution of one text: tokens, prediction, target, relevance, conservation.
public struct TextExplanation: Sendable {
  /// The model that was explained.
  public let modelName: String
  /// The method and its rules.
  public let method: MethodSummary
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
  /// Σ h·∂f/∂h per sublayer and the bias share, when asked for.
  public let audit: RelevanceAudit?
  /// Perturbation methods: the units, their relevance and the evaluations used.
  public let perturbation: PerturbationOutcome?

  /// The original text.
  public var text: String { encoded.text }
  /// Token strings.
  public var tokens: [String] { encoded.pieces }
  /// Index of the predicted class.
  public var predictedIndex: Int { predictedClass(logits) }

  /// Word pieces merged into words (`WordPieceTokenizer.wordRanges`; relevance summed);
  /// special tokens stay alone. Each word's text is taken from the original string.
  public func words() -> [(text: String, relevance: Float)] {
    let tokens = encoded.tokens
    return WordPieceTokenizer.wordRanges(tokens.map(\.piece), isSpecial: { tokens[$0].word == nil }).map {
      range in
      let sum = relevance[range].reduce(0, +)
      guard tokens[range.lowerBound].word != nil else { return (tokens[range.lowerBound].piece, sum) }
      let start = tokens[range].map(\.offsets.lowerBound).min()!
      let end = tokens[range].map(\.offsets.upperBound).max()!
      return (encoded.substring(start..<end), sum)
    }
  }
}
