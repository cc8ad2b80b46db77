import Models
import Tensor

/// Faithfulness of image explanations with patches as the units, all at the
/// embedding-block output: a patch "replaced by [UNK]" becomes the embedding of the
/// black image's patch (its pixels set to black), a zeroed patch is a zero row, and a
/// deleted patch leaves the sequence (the others keep their position embeddings). The
/// perturbed variants run through `PerturbationRunner` (`EmbeddingRowBackend`), as the
/// perturbation methods' coalitions do.
public struct ImageFaithfulness: Sendable {
  /// The model.
  public let model: ImageModel
  /// What ranks the patches, in output order.
  public let rankings: [Ranking]
  /// Seed of the random baseline.
  public let seed: UInt64
  let methods: [MethodKind: any AttributionMethod]

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
    let patches = batch.embeddings.shape[1] - 1
    // Patch u is row u + 1 (row 0 is [CLS], never removed).
    let layout = UnitLayout(groups: (1...max(patches, 1)).map { [$0] })
    let backend = EmbeddingRowBackend(
      network: model.body, embeddings: batch.embeddings, baseline: batch.baseline, lengths: batch.keep.lengths,
      layouts: Array(repeating: layout, count: images.count))
    let runner = PerturbationRunner(maximumRows: 256, maximumTokens: Self.tokensPerBatch)
    func variant(_ image: Int, _ perturbation: Perturbation) -> EmbeddingRowBackend.Variant {
      var present = Coalition(units: patches, full: true)
      for unit in perturbation.removed { present.remove(unit) }
      let removal: EmbeddingRowBackend.Removal
      switch perturbation.removal {
      case .unknownToken: removal = .baseline
      case .zeroEmbedding: removal = .zero
      case .deletion: removal = .deletion
      }
      return EmbeddingRowBackend.Variant(input: image, present: present, removal: removal)
    }
    let original = try runner.logits(
      of: images.indices.map { variant($0, Perturbation(.unknownToken, removing: [])) }, backend: backend
    ).logits
    let trueClasses = zip(labels, original).map { label, logits in label ?? predictedClass(logits) }
    let (relevance, costs) = try PerturbationRun.relevance(
      rankings: rankings, indices: indices, unitCounts: Array(repeating: patches, count: images.count),
      seed: seed,
      method: { kind in
        let method = keyedByExample(methods[kind]!, indices: indices)
        return try model.explain(images, method: method, targets: trueClasses.map { .index($0) }).map {
          ($0.patchRelevance, method.passes(of: $0.perturbation))
        }
      },
      attention: {
        model.body.lastLayerFirstPositionAttention(embeddings: batch.embeddings, keep: batch.keep).map {
          Array($0.dropFirst())
        }
      })
    return try PerturbationRun.curves(
      indices: indices, labels: labels, trueClasses: trueClasses, original: original,
      unitCounts: Array(repeating: patches, count: images.count), relevance: relevance, costs: costs
    ) { requests in
      try runner.logits(of: requests.map { variant($0.example, $0.perturbation) }, backend: backend).logits
    }
  }
}
