import Tensor

/// Hugging Face's `DistilBertForSequenceClassification`; property names mirror
/// the checkpoint keys (`distilbert.transformer.layer.0.attention.q_lin.weight`).
public struct DistilBertForSequenceClassification: TextClassifier {
  /// `distilbert.embeddings`: word + position embeddings → LayerNorm.
  public struct Embeddings: Sendable {
    let wordEmbeddings: Embedding
    let positionEmbeddings: Embedding
    let layerNorm: LayerNorm

    init(_ scope: WeightScope, config: TransformerConfig) throws {
      let width = config.hiddenSize
      wordEmbeddings = try Embedding(scope.child("word_embeddings"), count: config.vocabSize, width: width)
      positionEmbeddings = try Embedding(
        scope.child("position_embeddings"), count: config.maxPositions, width: width)
      layerNorm = try LayerNorm(scope.child("LayerNorm"), width: width, eps: 1e-12)
    }
  }

  /// `distilbert.transformer.layer.N`: attention.{q,k,v,out}_lin → sa_layer_norm →
  /// ffn.lin1 → GELU → ffn.lin2 → output_layer_norm.
  static func transformerBlock(_ scope: WeightScope, config: TransformerConfig) throws -> PostNormBlock {
    let (d, f) = (config.hiddenSize, config.intermediateSize)
    let attention = scope.child("attention")
    return PostNormBlock(
      query: try Linear(attention.child("q_lin"), in: d, out: d),
      key: try Linear(attention.child("k_lin"), in: d, out: d),
      value: try Linear(attention.child("v_lin"), in: d, out: d),
      attentionOutput: try Linear(attention.child("out_lin"), in: d, out: d),
      attentionNorm: try LayerNorm(scope.child("sa_layer_norm"), width: d, eps: 1e-12),
      expand: try Linear(scope.child("ffn").child("lin1"), in: d, out: f),
      contract: try Linear(scope.child("ffn").child("lin2"), in: f, out: d),
      outputNorm: try LayerNorm(scope.child("output_layer_norm"), width: d, eps: 1e-12),
      heads: config.heads)
  }

  /// The architecture (labels as the weights have them).
  public let config: TransformerConfig
  let embeddings: Embeddings
  let layers: [PostNormBlock]
  let preClassifier: Linear?
  let classifier: Linear?

  /// Reads every weight the architecture needs from `store` (keys with or without
  /// the `distilbert.` prefix), verifying names and shapes.
  public init(config: TransformerConfig, store: WeightStore) throws {
    let root = WeightScope(store)
    let body = store.names.contains { $0.hasPrefix("distilbert.") } ? root.child("distilbert") : root
    self.config = try config.withLabelsOfHead(in: store)
    embeddings = try Embeddings(body.child("embeddings"), config: config)
    layers = try (0..<config.layers).map {
      try Self.transformerBlock(body.child("transformer").child("layer").child("\($0)"), config: config)
    }
    if self.config.classCount > 0 {
      let d = config.hiddenSize
      preClassifier = try Linear(root.child("pre_classifier"), in: d, out: d)
      classifier = try Linear(root.child("classifier"), in: d, out: self.config.classCount)
    } else {
      preClassifier = nil
      classifier = nil
    }
  }

  public func embed(_ batch: TokenBatch) -> Tensor {
    let shape = [batch.batchSize, batch.length]
    let words = embeddings.wordEmbeddings(batch.ids, shape: shape)
    let positions = embeddings.positionEmbeddings(Array(0..<batch.length), shape: [1, batch.length])
    return embeddings.layerNorm(words + positions, hooks: .none)
  }

  public func encode(embeddings: Tensor, batch: TokenBatch, hooks: DetachmentHooks) -> Tensor {
    layers.reduce(embeddings) { x, layer in layer(x, keep: batch.keep, hooks: hooks) }
  }

  public func classify(hidden: Tensor, hooks: DetachmentHooks) -> Tensor? {
    guard let preClassifier, let classifier else { return nil }
    return classifier(preClassifier(hidden.select(axis: 1, 0)).relu())
  }
}
