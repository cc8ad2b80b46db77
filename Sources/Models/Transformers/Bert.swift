import Tensor

/// Hugging Face's `BertForSequenceClassification` (or a bare `BertModel` encoder
/// when the weights have no `classifier`); names mirror the checkpoint keys, with
/// or without the `bert.` prefix, so an unmodified sentence-transformers folder loads.
public struct BertForSequenceClassification: TextClassifier {
  /// `embeddings`: word + position + token type → LayerNorm.
  public struct Embeddings: Sendable {
    let wordEmbeddings, positionEmbeddings, tokenTypeEmbeddings: Embedding
    let layerNorm: LayerNorm

    init(_ scope: WeightScope, config: TransformerConfig) throws {
      let width = config.hiddenSize
      wordEmbeddings = try Embedding(scope.child("word_embeddings"), count: config.vocabSize, width: width)
      positionEmbeddings = try Embedding(
        scope.child("position_embeddings"), count: config.maxPositions, width: width)
      tokenTypeEmbeddings = try Embedding(
        scope.child("token_type_embeddings"), count: config.typeVocabSize, width: width)
      layerNorm = try LayerNorm(scope.child("LayerNorm"), width: width, eps: config.layerNormEps)
    }
  }

  /// `encoder.layer.N`: attention.self.{query,key,value} → attention.output.{dense,LayerNorm}
  /// → intermediate.dense → GELU → output.{dense,LayerNorm}.
  static func layer(_ scope: WeightScope, config: TransformerConfig) throws -> PostNormBlock {
    let (d, f, eps) = (config.hiddenSize, config.intermediateSize, config.layerNormEps)
    let attention = scope.child("attention")
    return PostNormBlock(
      query: try Linear(attention.child("self").child("query"), in: d, out: d),
      key: try Linear(attention.child("self").child("key"), in: d, out: d),
      value: try Linear(attention.child("self").child("value"), in: d, out: d),
      attentionOutput: try Linear(attention.child("output").child("dense"), in: d, out: d),
      attentionNorm: try LayerNorm(attention.child("output").child("LayerNorm"), width: d, eps: eps),
      expand: try Linear(scope.child("intermediate").child("dense"), in: d, out: f),
      contract: try Linear(scope.child("output").child("dense"), in: f, out: d),
      outputNorm: try LayerNorm(scope.child("output").child("LayerNorm"), width: d, eps: eps),
      heads: config.heads)
  }

  /// The architecture (labels as the weights have them).
  public let config: TransformerConfig
  let embeddings: Embeddings
  let layers: [PostNormBlock]
  let poolerDense: Linear?
  let classifier: Linear?

  /// Reads every weight the architecture needs from `store`, verifying names and shapes.
  public init(config: TransformerConfig, store: WeightStore) throws {
    let root = WeightScope(store)
    let body = store.names.contains { $0.hasPrefix("bert.") } ? root.child("bert") : root
    self.config = try config.withLabelsOfHead(in: store)
    embeddings = try Embeddings(body.child("embeddings"), config: config)
    layers = try (0..<config.layers).map {
      try Self.layer(body.child("encoder").child("layer").child("\($0)"), config: config)
    }
    let d = config.hiddenSize
    if self.config.classCount > 0 {
      poolerDense = try Linear(body.child("pooler").child("dense"), in: d, out: d)
      classifier = try Linear(root.child("classifier"), in: d, out: self.config.classCount)
    } else {
      poolerDense = nil
      classifier = nil
    }
  }

  public func embed(_ batch: TokenBatch) -> Tensor {
    let shape = [batch.batchSize, batch.length]
    let words = embeddings.wordEmbeddings(batch.ids, shape: shape)
    let positions = embeddings.positionEmbeddings(Array(0..<batch.length), shape: [1, batch.length])
    let types = embeddings.tokenTypeEmbeddings(batch.tokenTypes, shape: shape)
    return embeddings.layerNorm(words + positions + types, hooks: .none)
  }

  public func encode(embeddings: Tensor, batch: TokenBatch, hooks: DetachmentHooks) -> Tensor {
    layers.reduce(embeddings) { x, layer in layer(x, keep: batch.keep, hooks: hooks) }
  }

  public func classify(hidden: Tensor, hooks: DetachmentHooks) -> Tensor? {
    guard let poolerDense, let classifier else { return nil }
    let pooled = poolerDense(hidden.select(axis: 1, 0)).tanh(constantRatio: hooks.contains(.tanh))
    return classifier(pooled)
  }
}
