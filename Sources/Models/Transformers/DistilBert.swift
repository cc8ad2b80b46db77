import Tensor

/// Hugging Face's `DistilBertForSequenceClassification`; scope names mirror the
/// checkpoint keys (`distilbert.transformer.layer.0.attention.q_lin.weight`).
public enum DistilBert: TransformerFamily {
  /// `distilbert.embeddings`: word + position embeddings → LayerNorm.
  struct Embeddings: TokenEmbedder {
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

    func embed(_ batch: TokenBatch) -> Tensor {
      let words = wordEmbeddings(batch.ids, shape: [batch.batchSize, batch.length])
      let positions = positionEmbeddings(Array(0..<batch.length), shape: [1, batch.length])
      return layerNorm(words + positions)
    }
  }

  /// `transformer.layer.N`: attention.{q,k,v,out}_lin → sa_layer_norm → ffn.lin1 → GELU →
  /// ffn.lin2 → output_layer_norm.
  static func block(_ scope: WeightScope, config: TransformerConfig) throws -> PostNormBlock {
    let (d, f) = (config.hiddenSize, config.intermediateSize)
    let attention = scope.child("attention")
    return PostNormBlock(
      attention: SelfAttention(
        query: try Linear(attention.child("q_lin"), in: d, out: d),
        key: try Linear(attention.child("k_lin"), in: d, out: d),
        value: try Linear(attention.child("v_lin"), in: d, out: d),
        output: try Linear(attention.child("out_lin"), in: d, out: d), heads: config.heads),
      attentionNorm: try LayerNorm(scope.child("sa_layer_norm"), width: d, eps: 1e-12),
      feedForward: FeedForward(
        expand: try Linear(scope.child("ffn").child("lin1"), in: d, out: f),
        contract: try Linear(scope.child("ffn").child("lin2"), in: f, out: d)),
      outputNorm: try LayerNorm(scope.child("output_layer_norm"), width: d, eps: 1e-12))
  }

  /// Reads every weight the architecture needs from `root` (keys with or without the
  /// `distilbert.` prefix), verifying names and shapes.
  public static func classifier(config: TransformerConfig, root: WeightScope) throws -> TextClassifier {
    let store = root.store
    let body = store.names.contains { $0.hasPrefix("distilbert.") } ? root.child("distilbert") : root
    let config = try config.withLabelsOfHead(in: store)
    let d = config.hiddenSize
    let head: ClassificationHead =
      config.classCount > 0
      ? .preClassifier(
        try Linear(root.child("pre_classifier"), in: d, out: d),
        classifier: try Linear(root.child("classifier"), in: d, out: config.classCount)) : .none
    return TextClassifier(
      config: config, frontEnd: try Embeddings(body.child("embeddings"), config: config),
      blocks: try (0..<config.layers).map {
        try block(body.child("transformer").child("layer").child("\($0)"), config: config)
      },
      head: head)
  }
}
