import Models
import Tensor

/// Faithfulness of text explanations over a group of examples: one plain forward pass for
/// the logits, each method's batched explanation of the class tracked, then every
/// perturbed variant of every example (deduplicated) in padded no-grad batches.
public struct TextFaithfulness: Sendable {
  /// The model.
  public let model: TextModel
  /// What ranks the tokens, in output order.
  public let rankings: [Ranking]
  /// Seed of the random baseline.
  public let seed: UInt64
  private let methods: [MethodKind: any AttributionMethod]

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
    let original = try logits(of: texts.map { Variant(ids: $0.ids, zeroed: []) })
    let trueClasses = zip(labels, original).map { label, logits in label ?? predictedClass(logits) }
    let relevance = try PerturbationRun.relevance(
      rankings: rankings, indices: indices, unitCounts: units.map(\.count), seed: seed,
      method: { kind in
        try explain(texts, method: methods[kind]!, classes: trueClasses).enumerated().map { t, explanation in
          units[t].map { explanation.relevance[$0] }
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
      unitCounts: units.map(\.count), relevance: relevance
    ) { requests in
      try logits(
        of: requests.map {
          Variant(
            text: texts[$0.example], units: units[$0.example], perturbation: $0.perturbation,
            unknownId: tokenizer.unknownId)
        })
    }
  }

  /// Relevance of every position of `texts` for their classes, in padded batches.
  private func explain(_ texts: [EncodedText], method: any AttributionMethod, classes: [Int]) throws
    -> [TextExplanation]
  {
    let plan = BatchPlan.explaining(with: method)
    var result = [TextExplanation?](repeating: nil, count: texts.count)
    for batch in plan.batches(lengths: texts.map(\.ids.count)) {
      let explanations = try model.explain(
        encoded: batch.map { texts[$0] }, method: method, targets: batch.map { .index(classes[$0]) })
      for (position, explanation) in zip(batch, explanations) { result[position] = explanation }
    }
    return result.map { $0! }
  }

  /// Logits of each variant, in padded no-grad batches sorted by length.
  private func logits(of variants: [Variant]) throws -> [[Float]] {
    let padId = model.tokenizer?.padId ?? model.config.padTokenId
    let plan = BatchPlan(maximumRows: 256, maximumTokens: Self.tokensPerBatch)
    var result = [[Float]](repeating: [], count: variants.count)
    for batch in plan.batches(lengths: variants.map(\.ids.count)) {
      let tokens = TokenBatch(batch.map { variants[$0].ids }, padId: padId)
      let logits = withoutGrad { () -> Tensor in
        var embeddings = model.network.embed(tokens)
        if batch.contains(where: { !variants[$0].zeroed.isEmpty }) {
          var mask = [Float](repeating: 1, count: tokens.batchSize * tokens.length)
          for (row, position) in batch.enumerated() {
            for zeroed in variants[position].zeroed { mask[row * tokens.length + zeroed] = 0 }
          }
          embeddings = embeddings * Tensor(shape: [tokens.batchSize, tokens.length, 1], scalars: mask)
        }
        return model.network.body.logits(embeddings: embeddings, keep: tokens.keep)
      }
      for (row, values) in zip(batch, rows(logits)) {
        guard values.allSatisfy(\.isFinite) else {
          throw ModelError.badInput(
            "\(model.path): the model's logits are not finite numbers (NaN or infinity); its weights overflow float32."
          )
        }
        result[row] = values
      }
    }
    return result
  }
}

/// A perturbed token sequence: ids, and positions whose embedding is zeroed.
private struct Variant {
  let ids: [Int]
  let zeroed: [Int]

  init(ids: [Int], zeroed: [Int]) {
    self.ids = ids
    self.zeroed = zeroed
  }

  /// `text` with `perturbation` applied to its units (unit u is position `units[u]`).
  init(text: EncodedText, units: [Int], perturbation: Perturbation, unknownId: Int) {
    let positions = perturbation.removed.map { units[$0] }
    switch perturbation.removal {
    case .unknownToken:
      var ids = text.ids
      for position in positions { ids[position] = unknownId }
      self.init(ids: ids, zeroed: [])
    case .zeroEmbedding:
      self.init(ids: text.ids, zeroed: positions)
    case .deletion:
      let removed = Set(positions)
      self.init(ids: text.ids.indices.filter { !removed.contains($0) }.map { text.ids[$0] }, zeroed: [])
    }
  }
}
