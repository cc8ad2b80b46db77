import Tensor

/// Hugging Face's `BertForSequenceClassification` (or a bare `BertModel` encoder when
/// the weights have no `classifier`); scope names mirror the checkpoint keys, with or
/// without the `bert.` prefix, so an unmodified sentence-transformers folder loads.
public enum Bert: TransformerFamily {
  /// `embeddings`: word + position + token type → LayerNorm.
  struct Embeddings: TokenEmbedder {
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

    func embed(_ batch: TokenBatch) -> Tensor {
      let shape = [batch.batchSize, batch.length]
      let words = wordEmbeddings(batch.ids, shape: shape)
      let positions = positionEmbeddings(Array(0..<batch.length), shape: [1, batch.length])
      let types = tokenTypeEmbeddings(batch.tokenTypes, shape: shape)
      return layerNorm(words + positions + types)
    }
  }

  /// `encoder.layer.N`: attention.self.{query,key,value} → attention.output.{dense,LayerNorm}
  /// → intermediate.dense → GELU → output.{dense,LayerNorm}.
  static func block(_ scope: WeightScope, config: TransformerConfig) throws -> PostNormBlock {
    let (d, f, eps) = (config.hiddenSize, config.intermediateSize, config.layerNormEps)
    let attention = scope.child("attention")
    return PostNormBlock(
      attention: SelfAttention(
        query: try Linear(attention.child("self").child("query"), in: d, out: d),
        key: try Linear(attention.child("self").child("key"), in: d, out: d),
        value: try Linear(attention.child("self").child("value"), in: d, out: d),
        output: try Linear(attention.child("output").child("dense"), in: d, out: d), heads: config.heads),
      attentionNorm: try LayerNorm(attention.child("output").child("LayerNorm"), width: d, eps: eps),
      feedForward: FeedForward(
        expand: try Linear(scope.child("intermediate").child("dense"), in: d, out: f),
        contract: try Linear(scope.child("output").child("dense"), in: f, out: d)),
      outputNorm: try LayerNorm(scope.child("output").child("LayerNorm"), width: d, eps: eps))
  }

  /// Reads every weight the architecture needs from `root` (keys with or without the
  /// `bert.` prefix), verifying names and shapes.
  public static func classifier(config: TransformerConfig, root: WeightScope) throws -> TextClassifier {
    let store = root.store
    let body = store.names.contains { $0.hasPrefix("bert.") } ? root.child("bert") : root
    let config = try config.withLabelsOfHead(in: store)
    let d = config.hiddenSize
    let head: ClassificationHead =
      config.classCount > 0
      ? .pooler(
        try Linear(body.child("pooler").child("dense"), in: d, out: d),
        classifier: try Linear(root.child("classifier"), in: d, out: config.classCount)) : .none
    return TextClassifier(
      config: config, frontEnd: try Embeddings(body.child("embeddings"), config: config),
      blocks: try (0..<config.layers).map {
        try block(body.child("encoder").child("layer").child("\($0)"), config: config)
      },
      head: head)
  }
}
