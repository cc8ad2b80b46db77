/// What a configuration's `model_type` names: the one place where xai compares
/// model-type strings. Everything else asks a `ModelKind` or a `LoadedModel`.
public enum ModelKind: String, Sendable, CaseIterable, Equatable {
  /// A transformer sequence classifier or sentence encoder reading text (DistilBERT, BERT).
  case textClassifier = "text classifier"
  /// A Vision Transformer classifying images.
  case imageClassifier = "image classifier"
  /// A graph neural network classifying graphs (GraphNet, GCN).
  case graphNetwork = "graph network"
  /// A decoder language model generating text (GPT-2, Llama, Qwen2).
  case languageModel = "language model"

  /// The kind `modelType` names, or nil for an architecture xai does not run.
  public init?(modelType: String) {
    guard let kind = Self.byModelType[modelType] else { return nil }
    self = kind
  }

  /// The `model_type` of the Vision Transformer (the one image architecture).
  public static let visionTransformerType = "vit"

  /// Every `model_type` xai reads with its kind, in the order the messages list them: the
  /// text families, the image architecture, the graph architectures.
  private static let table: [(type: String, kind: ModelKind)] =
    TransformerConfig.Family.allCases.map { ($0.rawValue, .textClassifier) }
    + [(visionTransformerType, .imageClassifier)]
    + GraphNetwork.Architecture.allCases.map { ($0.rawValue, .graphNetwork) }
    + DecoderConfig.Family.allCases.map { ($0.rawValue, .languageModel) }

  /// Every `model_type` xai reads, in the order the messages list them.
  public static let knownModelTypes = table.map(\.type)

  private static let byModelType = Dictionary(uniqueKeysWithValues: table.map { ($0.type, $0.kind) })

  /// "a text classifier", "an image classifier", "a graph network".
  public var withArticle: String { (self == .imageClassifier ? "an " : "a ") + rawValue }

  /// What relevance is reported over for this kind of model.
  public var units: UnitKind {
    switch self {
    case .textClassifier: .tokens
    case .languageModel: .promptTokens
    case .imageClassifier: .patches
    case .graphNetwork: .nodes
    }
  }
}

/// The units of an input that relevance is assigned to and perturbation removes.
public enum UnitKind: String, Sendable, CaseIterable, Equatable {
  /// Word pieces of a text.
  case tokens
  /// Patches of an image.
  case patches
  /// Nodes of a graph.
  case nodes
  /// The tokens of a language model's prompt (special tokens and chat-template text left
  /// out), for next-token explanations.
  case promptTokens = "prompt tokens"
}
