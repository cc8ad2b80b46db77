// Perturbation methods on a decoder's next token: the units are the prompt's tokens (a
// leading BOS token, the sink every later position attends to, is kept); a removed token's
// row of the token-embedding output (GPT-2: token + position) becomes that of the model's
// end token at the same position, Integrated Gradients' baseline for language models.
// f is the next token's logit (or the difference to --contrast), read at the last position.
import Models
import Tensor

extension LanguageModel {
  /// The next token after `promptIds` explained by a perturbation method: `target` (default
  /// the model's choice), f its logit or, with `contrast`, logit(target) − logit(contrast).
  /// `units` are the positions that may be replaced (default: every position but a
  /// leading BOS), each a unit of its own.
  public func explainByPerturbation(
    promptIds ids: [Int], target: Int?, contrast: Int?, method kind: MethodKind, settings: PerturbationSettings,
    units: [Int]? = nil, runner: PerturbationRunner = PromptTokenBackend.runner
  ) throws -> LanguageExplanation {
    precondition(kind.isPerturbation, "\(kind.rawValue) is not a perturbation method")
    try validate(ids: ids)
    for id in [target, contrast].compactMap({ $0 }) where id < 0 || id >= config.vocabSize {
      throw ModelError.badInput("token id \(id) is outside the vocabulary of \(config.vocabSize).")
    }
    let (embeddings, baseline, full) = withoutGrad {
      let e = network.embed(ids)
      return (e, network.embed(Array(repeating: neutralToken, count: ids.count)), network.logits(embedded: e, lastOnly: true).scalars)
    }
    guard full.allSatisfy(\.isFinite) else {
      throw ModelError.badInput("\(path): the model's logits are not finite numbers (NaN or infinity) for this prompt.")
    }
    let chosen = target ?? predictedClass(full)
    let value = { (logits: [Float]) -> Float in logits[chosen] - (contrast.map { logits[$0] } ?? 0) }
    let first = ids.first == config.bosTokenId && ids.count > 1 ? 1 : 0
    let positions = units ?? Array(first..<ids.count)
    precondition(positions.allSatisfy(ids.indices.contains), "unit positions inside the prompt")
    let layout = UnitLayout(groups: positions.map { [$0] })
    let backend = PromptTokenBackend(
      network: network, ids: ids, layout: layout, replacement: neutralToken,
      readout: { logits in
        let f = logits[logits.startIndex + chosen] - (contrast.map { logits[logits.startIndex + $0] } ?? 0)
        return f.isFinite ? [f] : nil
      })
    let geometry = kind == .lime ? rowGeometry(embeddings, baseline, layout) : nil
    let plan = try CoalitionPlan.make(kind: kind, settings: settings.forInput(0), layout: layout, geometry: geometry)
    // The prompt itself (coalition 0) was evaluated above.
    let answers = try runner.logits(
      of: plan.coalitions.dropFirst().map { PromptTokenBackend.Variant(present: $0) }, backend: backend
    ).logits
    let values = [Double(value(full))] + answers.map { Double($0[0]) }
    let phi = plan.attribute(values).map { Float($0) }
    let outcome = PerturbationOutcome(
      units: "tokens", layout: layout, unitRelevance: phi, evaluations: plan.coalitions.count, scheme: plan.scheme)
    func text(_ id: Int) -> String { tokenizer?.displayText(of: id) ?? "#\(id)" }
    let probabilities = softmax(full)
    let step = LanguageExplanation.Step(
      generatedIndex: nil, positions: [ids.count - 1], tokens: [chosen], contrast: contrast,
      tokenTexts: [text(chosen)], contrastText: contrast.map(text), value: Float(values[0]),
      baselineValue: Float(values[CoalitionSet.empty]), probabilities: [probabilities[chosen]],
      relevance: outcome.positionRelevance(length: ids.count),
      quantity: contrast == nil ? "logit" : "logit difference", perturbation: outcome)
    return LanguageExplanation(
      modelName: name, method: kind, ids: ids, tokens: ids.map(text), promptCount: ids.count, steps: [step])
  }

  /// Σ‖x‖², Σ‖b‖², Σ x·b over each unit's rows of [T, hidden] rows.
  private func rowGeometry(_ x: Tensor, _ b: Tensor, _ layout: UnitLayout) -> UnitGeometry {
    let width = x.shape[1]
    let (xs, bs) = (x.scalars, b.scalars)
    var sums = (input: [Double](), baseline: [Double](), cross: [Double]())
    for group in layout.groups {
      var totals = (0.0, 0.0, 0.0)
      for position in group {
        for d in (position * width)..<((position + 1) * width) {
          totals.0 += Double(xs[d]) * Double(xs[d])
          totals.1 += Double(bs[d]) * Double(bs[d])
          totals.2 += Double(xs[d]) * Double(bs[d])
        }
      }
      sums.input.append(totals.0)
      sums.baseline.append(totals.1)
      sums.cross.append(totals.2)
    }
    return UnitGeometry(input: sums.input, baseline: sums.baseline, cross: sums.cross)
  }
}
