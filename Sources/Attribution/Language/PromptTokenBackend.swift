// Perturbed prompts of a decoder: the units are positions of one prompt, and a removed
// unit's token becomes the replacement token at the same position (the sequence keeps
// its length, every other token its position). Replacing the id is the same as
// replacing the token-embedding row by the replacement's row at that position (GPT-2's
// position embedding included), which is how the perturbation methods and Integrated
// Gradients define their baseline. The variants of a batch (all of the prompt's length)
// run as one stacked no-grad forward that reads the last position only
// (`DecoderNetwork.nextTokenLogits`), and each variant's next-token logits are reduced to
// the few numbers the caller reads (`readout`), so that thousands of coalitions never
// hold a vocabulary-wide row each.
import Models
import Tensor

/// Prompts with some tokens replaced, in stacked no-grad next-token forwards.
public struct PromptTokenBackend: PerturbationBackend {
  /// The prompt with the tokens of the units outside `present` replaced.
  public struct Variant: Hashable, Sendable {
    public let present: Coalition

    public init(present: Coalition) { self.present = present }
  }

  /// The decoder.
  public let network: DecoderNetwork
  /// The prompt's token ids.
  public let ids: [Int]
  /// The positions of each unit.
  public let layout: UnitLayout
  /// The token a removed unit's positions take.
  public let replacement: Int
  /// What a variant's next-token logits are reduced to (nil when a logit is not finite).
  public let readout: @Sendable (ArraySlice<Float>) -> [Float]?

  /// Most prompts stacked in one forward (the output head's rows).
  public static let variantsPerBatch = 128
  /// Most positions (prompts × length) in one forward.
  public static let tokensPerBatch = 2048

  /// The runner for these batches.
  public static var runner: PerturbationRunner {
    PerturbationRunner(maximumRows: variantsPerBatch, maximumTokens: tokensPerBatch)
  }

  public init(
    network: DecoderNetwork, ids: [Int], layout: UnitLayout, replacement: Int,
    readout: @escaping @Sendable (ArraySlice<Float>) -> [Float]?
  ) {
    precondition(layout.groups.allSatisfy { $0.allSatisfy(ids.indices.contains) }, "units inside the prompt")
    self.network = network
    self.ids = ids
    self.layout = layout
    self.replacement = replacement
    self.readout = readout
  }

  public func length(of variant: Variant) -> Int { ids.count }

  /// The ids of `variant`.
  public func tokens(of variant: Variant) -> [Int] {
    var tokens = ids
    for unit in 0..<layout.count where !variant.present.contains(unit) {
      for position in layout.groups[unit] { tokens[position] = replacement }
    }
    return tokens
  }

  public func logits(of batch: [Variant]) throws -> [[Float]] {
    guard !batch.isEmpty else { return [] }
    let vocabulary = network.config.vocabSize
    let values = network.nextTokenLogits(batch.map(tokens(of:))).scalars
    return try batch.indices.map { row in
      guard let reduced = readout(values[(row * vocabulary)..<((row + 1) * vocabulary)]) else {
        throw ModelError.badInput(
          "the model's logits are not finite numbers (NaN or infinity) for a perturbed prompt.")
      }
      return reduced
    }
  }
}
