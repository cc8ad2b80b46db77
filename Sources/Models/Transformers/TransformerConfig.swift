/// Architecture of a DistilBERT or BERT sequence classifier, read from a Hugging
/// Face `config.json` (either spelling of each dimension).
public struct TransformerConfig: Sendable, Equatable {
  /// The two transformer families xai runs.
  public enum Family: String, Sendable, CaseIterable {
    case distilbert, bert
  }

  /// DistilBERT or BERT.
  public var family: Family
  /// Rows of the word-embedding table.
  public var vocabSize: Int
  /// Model width (`dim` / `hidden_size`).
  public var hiddenSize: Int
  /// Number of transformer blocks.
  public var layers: Int
  /// Attention heads per block.
  public var heads: Int
  /// FFN width (`hidden_dim` / `intermediate_size`).
  public var intermediateSize: Int
  /// Longest input in tokens.
  public var maxPositions: Int
  /// BERT token types (0 for DistilBERT).
  public var typeVocabSize: Int
  /// LayerNorm eps (BERT; DistilBERT always uses 1e-12).
  public var layerNormEps: Float
  /// Class names by index (`id2label`); empty for an encoder without a head.
  public var labels: [String]
  /// Id used for padding.
  public var padTokenId: Int

  /// Most transformer blocks a configuration may ask for (checked before anything is allocated).
  public static let largestLayerCount = 1024
  /// Most classes a configuration may ask for.
  public static let largestClassCount = 100_000
  /// Largest width, vocabulary or number of positions a configuration may ask for.
  public static let largestExtent = 1 << 24

  /// Number of classes (labels, or `num_labels` when labels are absent).
  public var classCount: Int { labels.count }

  /// A configuration given in code.
  public init(
    family: Family, vocabSize: Int, hiddenSize: Int, layers: Int, heads: Int, intermediateSize: Int,
    maxPositions: Int = 512, typeVocabSize: Int = 2, layerNormEps: Float = 1e-12,
    labels: [String] = ["negative", "positive"], padTokenId: Int = 0
  ) {
    self.family = family
    self.vocabSize = vocabSize
    self.hiddenSize = hiddenSize
    self.layers = layers
    self.heads = heads
    self.intermediateSize = intermediateSize
    self.maxPositions = maxPositions
    self.typeVocabSize = family == .bert ? typeVocabSize : 0
    self.layerNormEps = layerNormEps
    self.labels = labels
    self.padTokenId = padTokenId
  }

  /// Reads a `config.json` object; `file` names it in errors.
  public init(json: JSONNode, file: String) throws {
    guard json.isObject else {
      throw ModelError.badConfig(file: file, key: "config", reason: "is not a JSON object")
    }
    guard let typeNode = json["model_type"] else {
      throw ModelError.badConfig(file: file, key: "model_type", reason: "is missing")
    }
    guard let type = typeNode.string else {
      throw ModelError.badConfig(
        file: file, key: "model_type", reason: "is not a string (it names the architecture)")
    }
    guard let family = Family(rawValue: type) else {
      if let kind = ModelKind(modelType: type) {
        throw ModelError.wrongModelKind(file: file, found: kind, modelType: type, expected: .textClassifier)
      }
      throw ModelError.unknownModelType(file: file, modelType: type)
    }
    self.family = family
    func integer(_ keys: String..., default fallback: Int? = nil, limit: Int = Self.largestExtent) throws
      -> Int
    {
      try json.positiveInteger(keys, file: file, default: fallback, limit: limit)
    }
    vocabSize = try integer("vocab_size")
    hiddenSize = try integer("dim", "hidden_size")
    layers = try integer("n_layers", "num_hidden_layers", limit: Self.largestLayerCount)
    heads = try integer("n_heads", "num_attention_heads", limit: 4096)
    intermediateSize = try integer("hidden_dim", "intermediate_size")
    maxPositions = try integer("max_position_embeddings", default: 512)
    typeVocabSize = family == .bert ? try integer("type_vocab_size", default: 2) : 0
    guard hiddenSize % heads == 0 else {
      throw ModelError.badConfig(
        file: file, key: "n_heads", reason: "(\(heads)) does not divide the hidden size \(hiddenSize)")
    }
    if let eps = json["layer_norm_eps"] {
      guard let value = eps.double, value > 0 else {
        throw ModelError.badConfig(file: file, key: "layer_norm_eps", reason: "must be a positive number")
      }
      layerNormEps = Float(value)
    } else {
      layerNormEps = 1e-12
    }
    let activation = json[family == .bert ? "hidden_act" : "activation"]?.string ?? "gelu"
    guard activation == "gelu" else {
      throw ModelError.badConfig(
        file: file, key: family == .bert ? "hidden_act" : "activation",
        reason: "is '\(activation)'; xai implements the exact erf GELU ('gelu')")
    }
    if family == .distilbert, json["sinusoidal_pos_embds"]?.bool == true {
      throw ModelError.badConfig(
        file: file, key: "sinusoidal_pos_embds", reason: "is true; xai reads learned positions only")
    }
    padTokenId = json["pad_token_id"]?.int ?? 0
    labels = try Self.labels(json: json, file: file)
  }

  static func labels(json: JSONNode, file: String) throws -> [String] {
    if let table = json["id2label"], table.isObject {
      var byIndex: [Int: String] = [:]
      for key in table.keys {
        guard let index = Int(key), index >= 0, let name = table[key]?.string else {
          throw ModelError.badConfig(file: file, key: "id2label.\(key)", reason: "is not index → name")
        }
        byIndex[index] = name
      }
      guard byIndex.keys.sorted() == Array(0..<byIndex.count) else {
        throw ModelError.badConfig(file: file, key: "id2label", reason: "does not number classes 0…n−1")
      }
      return (0..<byIndex.count).map { byIndex[$0]! }
    }
    if let node = json["num_labels"], let count = node.int, count > 0 {
      guard count <= largestClassCount else {
        throw ModelError.badConfig(
          file: file, key: "num_labels",
          reason: "is \(node.literal); xai reads at most \(largestClassCount) classes")
      }
      return (0..<count).map { "LABEL_\($0)" }
    }
    return []
  }

  /// This configuration as the weights in `store` say: no labels when there is no
  /// classification head (`classifier.weight`), generic labels when the head is
  /// there but `id2label` is not.
  func withLabelsOfHead(in store: WeightStore) throws -> TransformerConfig {
    var copy = self
    guard let weight = try store.tensor("classifier.weight") else {
      copy.labels = []
      return copy
    }
    if labels.isEmpty, weight.rank == 2 {
      copy.labels = (0..<weight.shape[0]).map { "LABEL_\($0)" }
    }
    return copy
  }
}

extension JSONNode {
  /// The first of `keys` present, as a positive integer of at most `limit` (else
  /// `fallback`); a missing key without a fallback, a value that is not a positive
  /// integer and one above the limit are refused naming `file` and the key.
  func positiveInteger(_ keys: [String], file: String, default fallback: Int? = nil, limit: Int) throws -> Int
  {
    for key in keys {
      if let node = self[key] {
        guard let value = node.int, value > 0 else {
          throw ModelError.badConfig(file: file, key: key, reason: "must be a positive integer")
        }
        guard value <= limit else {
          throw ModelError.badConfig(
            file: file, key: key, reason: "is \(node.literal); xai reads models with at most \(limit)")
        }
        return value
      }
    }
    if let fallback { return fallback }
    throw ModelError.badConfig(file: file, key: keys.joined(separator: "' or '"), reason: "is missing")
  }
}
