import Models
import Tensor

/// Faithfulness of text explanations over a group of examples: one plain forward pass for
/// the logits, each method's batched explanation of the class tracked (perturbation
/// methods through `PerturbationRunner`), then every perturbed variant of every example
/// through the same runner: each distinct one once, in padded no-grad batches.
public struct TextFaithfulness: Sendable {
  /// The model.
  public let model: TextModel
  /// What ranks the tokens, in output order.
  public let rankings: [Ranking]
  /// Seed of the random baseline.
  public let seed: UInt64
  let methods: [MethodKind: any AttributionMethod]

  /// Most padded tokens in one no-grad batch of perturbed variants.
  public static let tokensPerBatch = 4096

  /// Evaluates `methods` and the baselines `baselines` (random, attention).
  public init(model: TextModel, methods: [any AttributionMethod], baselines: [Ranking], seed: UInt64) {
    self.model = model
    self.seed = seed
    rankings = methods.map { .method($0.kind) } + baselines
    self.methods = Dictionary(methods.map { ($0.kind, $0) }, uniquingKeysWith: { first, _ in first })
  }

  /// Positions of `text` that are units (not `[CLS]`, `[SEP]` or `[PAD]`).
  public func units(of text: EncodedText) -> [Int] { TextExplainer(model: model).units(of: text) }

  /// The curves of `texts` (prepared by `TextModel.prepare`; each with at least one
  /// unit), example `indices[i]` (which seeds the random baseline) tracking `labels[i]`
  /// when given, else the predicted class.
  public func evaluate(_ texts: [EncodedText], indices: [Int], labels: [Int?]) throws -> [ExampleFaithfulness]
  {
    precondition(texts.count == indices.count && texts.count == labels.count, "one index and label per text")
    guard let tokenizer = model.tokenizer else {
      throw ModelError.badInput("\(model.path): the model has no vocabulary, so it cannot read text.")
    }
    let units = texts.map(self.units(of:))
    if let empty = units.firstIndex(where: \.isEmpty) {
      throw ModelError.badInput("example \(indices[empty]) has no tokens besides [CLS] and [SEP].")
    }
    let backend = TextTokenBackend(
      model: model, texts: texts, units: units, unknownId: tokenizer.unknownId,
      padId: tokenizer.padId)
    let runner = PerturbationRunner(maximumRows: 256, maximumTokens: Self.tokensPerBatch)
    let original = try runner.logits(
      of: texts.indices.map { backend.variant($0, removing: Perturbation(.unknownToken, removing: [])) },
      backend: backend
    ).logits
    let trueClasses = zip(labels, original).map { label, logits in label ?? predictedClass(logits) }
    let (relevance, costs) = try PerturbationRun.relevance(
      rankings: rankings, indices: indices, unitCounts: units.map(\.count), seed: seed,
      method: { kind in
        let method = methods[kind]!
        return try explain(texts, method: method, classes: trueClasses, indices: indices).enumerated().map { t, explanation in
          (units[t].map { explanation.relevance[$0] }, method.passes(of: explanation.perturbation))
        }
      },
      attention: {
        let batch = model.embedded(texts, withBaseline: false)
        return model.network.body.lastLayerFirstPositionAttention(
          embeddings: batch.embeddings, keep: batch.keep
        )
        .enumerated().map { t, row in units[t].map { row[$0] } }
      })
    return try PerturbationRun.curves(
      indices: indices, labels: labels, trueClasses: trueClasses, original: original,
      unitCounts: units.map(\.count), relevance: relevance, costs: costs
    ) { requests in
      try runner.logits(
        of: requests.map { backend.variant($0.example, removing: $0.perturbation) }, backend: backend
      ).logits
    }
  }

  /// Relevance of every position of `texts` for their classes, in padded batches; a
  /// perturbation method draws for each text by its example index (`indices`).
  private func explain(_ texts: [EncodedText], method: any AttributionMethod, classes: [Int], indices: [Int])
    throws -> [TextExplanation]
  {
    let plan = BatchPlan.explaining(with: method)
    var result = [TextExplanation?](repeating: nil, count: texts.count)
    for batch in plan.batches(lengths: texts.map(\.ids.count)) {
      let explanations = try model.explain(
        encoded: batch.map { texts[$0] }, method: keyedByExample(method, indices: batch.map { indices[$0] }),
        targets: batch.map { .index(classes[$0]) })
      for (position, explanation) in zip(batch, explanations) { result[position] = explanation }
    }
    return result.map { $0! }
  }

}

/// The texts of one evaluation group with some units removed: a unit's token becomes
/// `[UNK]` (re-embedded at its position), its embedding-block output row is zeroed, or
/// the token leaves the sequence (the later tokens move up a position, as in a shorter
/// text); evaluated without gradients in padded batches by `PerturbationRunner`.
struct TextTokenBackend: PerturbationBackend {
  struct Variant: Hashable {
    let input: Int
    let present: Coalition
    let removal: Removal
  }

  let model: TextModel
  let texts: [EncodedText]
  /// Positions of each text's units.
  let units: [[Int]]
  let unknownId: Int
  let padId: Int

  /// Text `input` with `perturbation` applied to its units.
  func variant(_ input: Int, removing perturbation: Perturbation) -> Variant {
    var present = Coalition(units: units[input].count, full: true)
    for unit in perturbation.removed { present.remove(unit) }
    return Variant(input: input, present: present, removal: perturbation.removal)
  }

  /// The token ids of `variant` and the positions whose embedding is zeroed.
  func tokens(of variant: Variant) -> (ids: [Int], zeroed: [Int]) {
    let text = texts[variant.input].ids
    let removed = units[variant.input].indices.filter { !variant.present.contains($0) }.map {
      units[variant.input][$0]
    }
    switch variant.removal {
    case .unknownToken:
      var ids = text
      for position in removed { ids[position] = unknownId }
      return (ids, [])
    case .zeroEmbedding:
      return (text, removed)
    case .deletion:
      let gone = Set(removed)
      return (text.indices.filter { !gone.contains($0) }.map { text[$0] }, [])
    }
  }

  func length(of variant: Variant) -> Int {
    guard variant.removal == .deletion else { return texts[variant.input].ids.count }
    return texts[variant.input].ids.count - (units[variant.input].count - variant.present.count)
  }

  func logits(of batch: [Variant]) throws -> [[Float]] {
    let variants = batch.map(tokens(of:))
    let tokens = TokenBatch(variants.map(\.ids), padId: padId)
    let logits = withoutGrad { () -> Tensor in
      var embeddings = model.network.embed(tokens)
      if variants.contains(where: { !$0.zeroed.isEmpty }) {
        var mask = [Float](repeating: 1, count: tokens.batchSize * tokens.length)
        for (row, variant) in variants.enumerated() {
          for zeroed in variant.zeroed { mask[row * tokens.length + zeroed] = 0 }
        }
        embeddings = embeddings * Tensor(shape: [tokens.batchSize, tokens.length, 1], scalars: mask)
      }
      return model.network.body.logits(embeddings: embeddings, keep: tokens.keep)
    }
    return rows(logits)
  }
}
