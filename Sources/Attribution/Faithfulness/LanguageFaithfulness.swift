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
/// an example (one length) run as batched no-grad forwards that compute the logits of the
/// last position only. MoRF and LeRF track log p(y), the others p(y).
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

  /// Most positions (variants × prompt length) in one batched forward.
  public static let tokensPerBatch = 2048
  /// Most variants in one batched forward (the output head's rows).
  public static let variantsPerBatch = 128

  /// Evaluates `methods` (lrp, attnlrp, gradxinput, integrated-gradients) and the
  /// baselines `baselines` (random, attention); a removed token becomes `replacement`
  /// (nil: `model.neutralToken`).
  public init(
    model: LanguageModel, methods: [MethodKind], baselines: [Ranking], seed: UInt64,
    integratedGradients: IntegratedGradients = IntegratedGradients(), replacement: Int? = nil
  ) {
    self.model = model
    self.replacement = replacement ?? model.neutralToken
    self.seed = seed
    self.integratedGradients = integratedGradients
    rankings = methods.map { .method($0) } + baselines
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
    let vocabulary = network.config.vocabSize
    let originalLogits = network.nextTokenLogits([prompt.ids]).scalars
    let tracked = prompt.target ?? originalLogits.indices.max { originalLogits[$0] < originalLogits[$1] }!
    guard let original = Self.readout(originalLogits[...], original: originalLogits, token: tracked) else {
      throw ModelError.badInput("the model's logits are not finite numbers (NaN or infinity) for this prompt.")
    }
    let relevance = try PerturbationRun.relevance(
      rankings: rankings, indices: [index], unitCounts: [units.count], seed: seed,
      method: { kind in
        let explanation = try model.explain(
          promptIds: prompt.ids, request: .nextToken(target: tracked, contrast: nil), method: kind,
          integratedGradients: integratedGradients)
        let values = explanation.steps[0].relevance
        guard values.allSatisfy(\.isFinite) else {
          throw ModelError.badInput("the relevance is not finite (NaN or infinity) for this prompt.")
        }
        return [units.map { values[$0] }]
      },
      attention: {
        let attention = network.lastPositionAttention(prompt.ids)
        return [units.map { attention[$0] }]
      })
    let neutral = replacement
    return try PerturbationRun.curves(
      indices: [index], labels: [prompt.target], trueClasses: [tracked], original: [original],
      unitCounts: [units.count], relevance: relevance,
      canonical: { Perturbation(.unknownToken, removing: $0.removed) }
    ) { requests in
      var answers: [Readout] = []
      answers.reserveCapacity(requests.count)
      let length = prompt.ids.count
      let perBatch = max(1, min(Self.variantsPerBatch, Self.tokensPerBatch / length))
      for start in stride(from: 0, to: requests.count, by: perBatch) {
        let chunk = requests[start..<min(start + perBatch, requests.count)]
        let variants = chunk.map { request in
          var ids = prompt.ids
          for unit in request.perturbation.removed { ids[units[unit]] = neutral }
          return ids
        }
        let logits = network.nextTokenLogits(variants)
        let values = logits.scalars
        for row in 0..<variants.count {
          guard
            let readout = Self.readout(
              values[(row * vocabulary)..<((row + 1) * vocabulary)], original: originalLogits, token: tracked)
          else {
            throw ModelError.badInput(
              "the model's logits are not finite numbers (NaN or infinity) for a perturbed prompt.")
          }
          answers.append(readout)
        }
      }
      return answers
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
