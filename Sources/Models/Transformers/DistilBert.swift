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

  /// `distilbert.transformer.layer.N`: attention → sa_layer_norm → ffn → output_layer_norm.
  public struct TransformerBlock: Sendable {
    let qLin, kLin, vLin, outLin: Linear
    let saLayerNorm: LayerNorm
    let lin1, lin2: Linear
    let outputLayerNorm: LayerNorm
    let heads: Int

    init(_ scope: WeightScope, config: TransformerConfig) throws {
      let (d, f) = (config.hiddenSize, config.intermediateSize)
      let attention = scope.child("attention")
      qLin = try Linear(attention.child("q_lin"), in: d, out: d)
      kLin = try Linear(attention.child("k_lin"), in: d, out: d)
      vLin = try Linear(attention.child("v_lin"), in: d, out: d)
      outLin = try Linear(attention.child("out_lin"), in: d, out: d)
      saLayerNorm = try LayerNorm(scope.child("sa_layer_norm"), width: d, eps: 1e-12)
      lin1 = try Linear(scope.child("ffn").child("lin1"), in: d, out: f)
      lin2 = try Linear(scope.child("ffn").child("lin2"), in: f, out: d)
      outputLayerNorm = try LayerNorm(scope.child("output_layer_norm"), width: d, eps: 1e-12)
      heads = config.heads
    }

    func callAsFunction(_ x: Tensor, keep: Tensor, hooks: DetachmentHooks) -> Tensor {
      let context = multiHeadAttention(
        query: qLin(x), key: kLin(x), value: vLin(x), heads: heads, keep: keep, hooks: hooks,
        scaleQueryFirst: true)
      let attended = saLayerNorm(outLin(context) + x, hooks: hooks)
      let expanded = lin1(attended).gelu(constantPhi: hooks.contains(.gelu))
      return outputLayerNorm(lin2(expanded) + attended, hooks: hooks)
    }
  }

  public let config: TransformerConfig
  let embeddings: Embeddings
  let layers: [TransformerBlock]
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
      try TransformerBlock(body.child("transformer").child("layer").child("\($0)"), config: config)
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
