import Foundation
import Models
import Tensor

/// Faithfulness of next-token explanations of a language model. For each prompt the
/// tracked token y is its target, else the model's greedy next token; each method explains
/// z_y at the last position, the prompt's own tokens (no BOS, no chat-template text) are
/// ranked by relevance, and every protocol removes a token by replacing it with the
/// model's neutral token (`LanguageModel.neutralToken`, its end-of-text token), so that
/// the sequence keeps its length and every other token its position: deleting a token
/// would shift each later one's rotary or learned position and shorten the causal
/// context, and the curve would mix the removal with that shift. The perturbed prompts of
/// an example (one length) run through `PerturbationRunner` (`PromptTokenBackend`): batched
/// no-grad forwards that compute the logits of the last position only, as the
/// perturbation methods' coalitions do. MoRF and LeRF track log p(y), the others p(y).
public struct LanguageFaithfulness: Sendable {
  /// The model.
  public let model: LanguageModel
  /// What ranks the tokens, in output order.
  public let rankings: [Ranking]
  /// Seed of the random baseline.
  public let seed: UInt64
  /// Integrated Gradients' path.
  public let integratedGradients: IntegratedGradients
  /// The token a removed prompt token becomes (default: the model's neutral token).
  public let replacement: Int
  /// The perturbation methods' window, stride, samples and seed.
  public let perturbation: PerturbationSettings

  /// Most positions (variants × prompt length) in one batched forward.
  public static let tokensPerBatch = PromptTokenBackend.tokensPerBatch
  /// Most variants in one batched forward (the output head's rows).
  public static let variantsPerBatch = PromptTokenBackend.variantsPerBatch

  /// Evaluates `methods` (lrp, attnlrp, gradxinput, integrated-gradients and the
  /// perturbation methods, with `perturbation`) and the baselines `baselines` (random,
  /// attention); a removed token becomes `replacement` (nil: `model.neutralToken`).
  public init(
    model: LanguageModel, methods: [MethodKind], baselines: [Ranking], seed: UInt64,
    integratedGradients: IntegratedGradients = IntegratedGradients(), replacement: Int? = nil,
    perturbation: PerturbationSettings = PerturbationSettings()
  ) {
    self.model = model
    self.replacement = replacement ?? model.neutralToken
    self.seed = seed
    self.integratedGradients = integratedGradients
    self.perturbation = perturbation
    rankings = methods.map { .method($0) } + baselines
  }

  /// The perturbation methods among the rankings.
  var perturbationMethods: [MethodKind] {
    rankings.compactMap { if case .method(let kind) = $0, kind.isPerturbation { kind } else { nil } }
  }

  /// Refuses perturbation settings that cannot work on this prompt's units.
  public func check(_ prompt: PreparedPrompt) throws {
    let layout = UnitLayout(groups: prompt.units.map { [$0] })
    for kind in perturbationMethods {
      try CoalitionPlan.check(kind: kind, settings: perturbation, layout: layout)
    }
  }

  /// The curves of `prompts` (prepared by `PromptExplainer`, each with at least one unit),
  /// example `indices[i]` seeding the random baseline. Each prompt tracks its own target
  /// (else the greedy token); `labels` are not used (a language model has no classes).
  public func evaluate(_ prompts: [PreparedPrompt], indices: [Int], labels: [Int?]) throws -> [ExampleFaithfulness]
  {
    precondition(prompts.count == indices.count, "one index per prompt")
    return try zip(prompts, indices).map { try evaluate($0, index: $1) }
  }

  /// The curves of one prompt.
  public func evaluate(_ prompt: PreparedPrompt, index: Int) throws -> ExampleFaithfulness {
    let network = model.network
    let units = prompt.units
    guard !units.isEmpty else {
      throw ModelError.badInput("the prompt has no tokens besides special ones.")
    }
    let originalLogits = network.nextTokenLogits([prompt.ids]).scalars
    let tracked = prompt.target ?? originalLogits.indices.max { originalLogits[$0] < originalLogits[$1] }!
    guard let original = Self.readout(originalLogits[...], original: originalLogits, token: tracked) else {
      throw ModelError.badInput("the model's logits are not finite numbers (NaN or infinity) for this prompt.")
    }
    let (relevance, costs) = try PerturbationRun.relevance(
      rankings: rankings, indices: [index], unitCounts: [units.count], seed: seed,
      method: { kind in
        let explanation =
          kind.isPerturbation
          ? try model.explainByPerturbation(
            promptIds: prompt.ids, target: tracked, contrast: nil, method: kind,
            settings: perturbation.keyed(by: [UInt64(index)]), units: units)
          : try model.explain(
            promptIds: prompt.ids, request: .nextToken(target: tracked, contrast: nil), method: kind,
            integratedGradients: integratedGradients)
        let step = explanation.steps[0]
        guard step.relevance.allSatisfy(\.isFinite) else {
          throw ModelError.badInput("the relevance is not finite (NaN or infinity) for this prompt.")
        }
        // Gradient×Input methods: one forward and one backward pass; Integrated Gradients
        // also runs the input and the baseline forward and backward (their gradients are
        // not used), then each path point.
        let passes =
          step.perturbation.map(ModelPasses.init(perturbation:))
          ?? (kind == .integratedGradients
            ? ModelPasses(forward: integratedGradients.steps + 2, backward: integratedGradients.steps + 2)
            : .gradient)
        return [(units.map { step.relevance[$0] }, passes)]
      },
      attention: {
        let attention = network.lastPositionAttention(prompt.ids)
        return [units.map { attention[$0] }]
      })
    let backend = PromptTokenBackend(
      network: network, ids: prompt.ids, layout: UnitLayout(groups: units.map { [$0] }), replacement: replacement,
      readout: { logits in
        Self.readout(logits, original: originalLogits, token: tracked).map {
          [$0.probability, $0.tracked, $0.squaredChange]
        }
      })
    return try PerturbationRun.curves(
      indices: [index], labels: [prompt.target], trueClasses: [tracked], original: [original],
      unitCounts: [units.count], relevance: relevance, costs: costs,
      canonical: { Perturbation(.unknownToken, removing: $0.removed) }
    ) { requests in
      try PromptTokenBackend.runner.logits(
        of: requests.map { request in
          var present = Coalition(units: units.count, full: true)
          for unit in request.perturbation.removed { present.remove(unit) }
          return PromptTokenBackend.Variant(present: present)
        }, backend: backend
      ).logits.map { Readout(probability: $0[0], tracked: $0[1], squaredChange: $0[2]) }
    }[0]
  }

  /// p(y), log p(y) and Σ_c (z⁰_c − z_c)² of one next-token logit vector, in Double; nil
  /// when a logit is not finite.
  static func readout(_ logits: ArraySlice<Float>, original: [Float], token: Int) -> Readout? {
    var largest = -Float.infinity
    for z in logits {
      guard z.isFinite else { return nil }
      largest = max(largest, z)
    }
    var total = 0.0
    var squared = 0.0
    var offset = logits.startIndex
    for value in original {
      let z = Double(logits[offset])
      total += Foundation.exp(z - Double(largest))
      squared += (Double(value) - z) * (Double(value) - z)
      offset += 1
    }
    let logProbability = Double(logits[logits.startIndex + token]) - Double(largest) - Foundation.log(total)
    return Readout(
      probability: Float(Foundation.exp(logProbability)), tracked: Float(logProbability),
      squaredChange: Float(squared))
  }
}

extension LanguageFaithfulness: FaithfulnessEvaluator {
  /// Each prompt alone: its variants are batched with each other, so that an example's
  /// numbers do not depend on which prompts share its group.
  public var examplesPerGroup: Int { 1 }
}
