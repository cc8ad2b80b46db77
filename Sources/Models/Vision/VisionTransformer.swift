// The Vision Transformer of Hugging Face's ViTForImageClassification:
//   e = [cls; patches(x)·Wᵀ + b] + positions   (the strided convolution as one GEMM)
//   h = pre-LN blocks(e);  logits = classifier(LayerNorm(h_cls))
// Token relevance is measured at e, as for text; pixels get x·∂f/∂x through W.
import Tensor

/// Image → embedding-block output: patchify, project, prepend [CLS], add positions.
public struct PatchEmbedder: Sendable {
  /// The architecture.
  public let config: VisionConfig
  /// The patch projection, weight [D, C·P·P] (the convolution kernel flattened c, i, j).
  public let projection: Linear
  /// The [CLS] embedding [1, 1, D].
  public let classToken: Tensor
  /// Position embeddings [1, N + 1, D].
  public let positions: Tensor

  init(_ scope: WeightScope, config: VisionConfig) throws {
    self.config = config
    let (d, c, p) = (config.hiddenSize, config.channels, config.patchSize)
    let projectionScope = scope.child("patch_embeddings").child("projection")
    projection = Linear(
      weight: try projectionScope.parameter("weight", shape: [d, c, p, p]).reshaped([d, c * p * p]),
      bias: try projectionScope.parameter("bias", shape: [d]))
    classToken = try scope.parameter("cls_token", shape: [1, 1, d])
    positions = try scope.parameter("position_embeddings", shape: [1, config.patchCount + 1, d])
  }

  /// Patches [B, N, C·P·P] of pixel values [B, C, H, W] (patch n = row n / side,
  /// column n mod side; values in the kernel's order c, i, j).
  public func patches(_ pixels: Tensor) -> Tensor {
    let (batch, c, side, p) = (pixels.shape[0], config.channels, config.patchesPerSide, config.patchSize)
    let size = config.imageSize
    let n = config.patchCount
    let width = config.patchValues
    var values = [Float](repeating: 0, count: batch * n * width)
    pixels.withUnsafeBufferPointer { source in
      for b in 0..<batch {
        for patch in 0..<n {
          let (top, left) = (patch / side * p, patch % side * p)
          for channel in 0..<c {
            for i in 0..<p {
              let from = ((b * c + channel) * size + top + i) * size + left
              let to = (b * n + patch) * width + (channel * p + i) * p
              for j in 0..<p { values[to + j] = source[from + j] }
            }
          }
        }
      }
    }
    return Tensor(shape: [batch, n, width], scalars: values)
  }

  /// Embedding-block output [B, N + 1, D] of pixel values [B, C, H, W].
  public func embed(_ pixels: Tensor) -> Tensor {
    let batch = pixels.shape[0]
    let projected = projection(patches(pixels))
    let classes = Tensor.concat(Array(repeating: classToken, count: batch), axis: 0)
    return Tensor.concat([classes, projected], axis: 1) + positions
  }
}

/// Hugging Face's ViT checkpoint names (`vit.embeddings…`, `vit.encoder.layer.N…`,
/// `vit.layernorm`, `classifier`).
public enum VisionTransformer {
  static func block(_ scope: WeightScope, config: VisionConfig) throws -> PreNormBlock {
    let (d, f, eps) = (config.hiddenSize, config.intermediateSize, config.layerNormEps)
    let attention = scope.child("attention").child("attention")
    return PreNormBlock(
      attentionNorm: try LayerNorm(scope.child("layernorm_before"), width: d, eps: eps),
      attention: SelfAttention(
        query: try Linear(attention.child("query"), in: d, out: d, bias: config.qkvBias),
        key: try Linear(attention.child("key"), in: d, out: d, bias: config.qkvBias),
        value: try Linear(attention.child("value"), in: d, out: d, bias: config.qkvBias),
        output: try Linear(scope.child("attention").child("output").child("dense"), in: d, out: d),
        heads: config.heads),
      feedForwardNorm: try LayerNorm(scope.child("layernorm_after"), width: d, eps: eps),
      feedForward: FeedForward(
        expand: try Linear(scope.child("intermediate").child("dense"), in: d, out: f),
        contract: try Linear(scope.child("output").child("dense"), in: f, out: d)))
  }

  /// The front end and the encoder + head whose weights are under `root`.
  static func network(config: VisionConfig, root: WeightScope) throws -> (
    PatchEmbedder, TransformerClassifier
  ) {
    let body = root.child("vit")
    let d = config.hiddenSize
    guard let classifierWeight = try root.store.tensor("classifier.weight"), classifierWeight.rank == 2 else {
      throw ModelError.badInput("\(root.store.path): the model has no classifier (classifier.weight).")
    }
    let labels =
      config.labels.isEmpty ? (0..<classifierWeight.shape[0]).map { "LABEL_\($0)" } : config.labels
    let head = ClassificationHead.normalizedFirst(
      try LayerNorm(body.child("layernorm"), width: d, eps: config.layerNormEps),
      classifier: try Linear(root.child("classifier"), in: d, out: labels.count))
    let blocks = try (0..<config.layers).map {
      try block(body.child("encoder").child("layer").child("\($0)"), config: config)
    }
    return (
      try PatchEmbedder(body.child("embeddings"), config: config),
      TransformerClassifier(labels: labels, hiddenSize: d, blocks: blocks, head: head)
    )
  }
}
