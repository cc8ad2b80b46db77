import Models
import Tensor

/// Faithfulness of image explanations with patches as the units, all at the
/// embedding-block output: a patch "replaced by [UNK]" becomes the embedding of the
/// black image's patch (its pixels set to black), a zeroed patch is a zero row, and a
/// deleted patch leaves the sequence (the others keep their position embeddings).
public struct ImageFaithfulness: Sendable {
  /// The model.
  public let model: ImageModel
  /// What ranks the patches, in output order.
  public let rankings: [Ranking]
  /// Seed of the random baseline.
  public let seed: UInt64
  private let methods: [MethodKind: any AttributionMethod]

  /// Most positions in one no-grad batch of perturbed variants.
  public static let tokensPerBatch = 8192

  /// Evaluates `methods` and the baselines `baselines` (random, attention).
  public init(model: ImageModel, methods: [any AttributionMethod], baselines: [Ranking], seed: UInt64) {
    self.model = model
    self.seed = seed
    rankings = methods.map { .method($0.kind) } + baselines
    self.methods = Dictionary(methods.map { ($0.kind, $0) }, uniquingKeysWith: { first, _ in first })
  }

  /// The curves of `images`, example `indices[i]` tracking `labels[i]` when given, else
  /// the predicted class.
  public func evaluate(_ images: [PreparedImage], indices: [Int], labels: [Int?]) throws
    -> [ExampleFaithfulness]
  {
    precondition(
      images.count == indices.count && images.count == labels.count, "one index and label per image")
    let batch = model.embedded(images, baselines: Array(repeating: model.blackImage, count: images.count))
    let (positions, width) = (batch.embeddings.shape[1], batch.embeddings.shape[2])
    let patches = positions - 1
    let embeddings = batch.embeddings.scalars
    let black = Array(batch.baseline!.scalars[0..<(positions * width)])
    let original = rows(withoutGrad { model.body.logits(embeddings: batch.embeddings, keep: batch.keep) })
    let trueClasses = zip(labels, original).map { label, logits in label ?? predictedClass(logits) }
    let relevance = try PerturbationRun.relevance(
      rankings: rankings, indices: indices, unitCounts: Array(repeating: patches, count: images.count),
      seed: seed,
      method: { kind in
        try model.explain(images, method: methods[kind]!, targets: trueClasses.map { .index($0) }).map(
          \.patchRelevance)
      },
      attention: {
        model.body.lastLayerFirstPositionAttention(embeddings: batch.embeddings, keep: batch.keep).map {
          Array($0.dropFirst())
        }
      })
    return try PerturbationRun.curves(
      indices: indices, labels: labels, trueClasses: trueClasses, original: original,
      unitCounts: Array(repeating: patches, count: images.count), relevance: relevance
    ) { requests in
      // Each variant's rows: from its image, the black image, zeros, or left out.
      let variants: [[Float]] = requests.map { request in
        let removed = Set(request.perturbation.removed.map { $0 + 1 })
        let own = embeddings[
          (request.example * positions * width)..<((request.example + 1) * positions * width)]
        var rows: [Float] = []
        rows.reserveCapacity(positions * width)
        for position in 0..<positions {
          let range = (position * width)..<((position + 1) * width)
          guard removed.contains(position) else {
            rows += own[(own.startIndex + range.lowerBound)..<(own.startIndex + range.upperBound)]
            continue
          }
          switch request.perturbation.removal {
          case .unknownToken: rows += black[range]
          case .zeroEmbedding: rows += repeatElement(0, count: width)
          case .deletion: break
          }
        }
        return rows
      }
      return try logits(of: variants, width: width)
    }
  }

  /// Logits of each variant's embedding rows, in padded no-grad batches sorted by length.
  private func logits(of variants: [[Float]], width: Int) throws -> [[Float]] {
    let lengths = variants.map { $0.count / width }
    let plan = BatchPlan(maximumRows: 256, maximumTokens: Self.tokensPerBatch)
    var result = [[Float]](repeating: [], count: variants.count)
    for batch in plan.batches(lengths: lengths) {
      let keep = KeepMask(lengths: batch.map { lengths[$0] })
      var values = [Float](repeating: 0, count: batch.count * keep.length * width)
      for (row, index) in batch.enumerated() {
        values.replaceSubrange(
          (row * keep.length * width)..<(row * keep.length * width + variants[index].count),
          with: variants[index])
      }
      let logits = withoutGrad {
        model.body.logits(
          embeddings: Tensor(shape: [batch.count, keep.length, width], scalars: values), keep: keep)
      }
      for (index, values) in zip(batch, rows(logits)) {
        guard values.allSatisfy(\.isFinite) else {
          throw ModelError.badInput(
            "\(model.path): the model's logits are not finite numbers (NaN or infinity).")
        }
        result[index] = values
      }
    }
    return result
  }
}
