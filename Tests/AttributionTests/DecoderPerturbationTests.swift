import Attribution
import Foundation
import Models
import ReferenceSupport
import Tensor
import XCTest

/// Perturbation methods on a decoder's next token, checked against the model run on the
/// token ids themselves: replacing a token's embedding row by the end token's row (GPT-2:
/// with its own position) is the same as giving the end token's id at that position.
final class DecoderPerturbationTests: XCTestCase {
  private func model(_ name: String) throws -> LanguageModel {
    try LanguageModel.load(
      path: AttributionFixtures.repository.appendingPathComponent("Tests/ModelsTests/Fixtures/decoders/\(name)").path)
  }

  private func lastLogits(_ model: LanguageModel, _ ids: [Int]) -> [Float] {
    withoutGrad { model.network.logits(embedded: model.network.embed(ids), lastOnly: true) }.scalars
  }

  func testFeatureAblationEqualsTheModelOnTheReplacedTokens() throws {
    for name in ["llama-gqa.f32.gguf", "gpt2.q8_0.gguf", "qwen2.q8_0.gguf"] {
      let model = try model(name)
      let ids = [model.config.bosTokenId ?? 3, 5, 9, 14, 22, 7].map { $0 % model.config.vocabSize }
      let explanation = try model.explainByPerturbation(
        promptIds: ids, target: nil, contrast: nil, method: .featureAblation, settings: PerturbationSettings())
      let step = try XCTUnwrap(explanation.steps.first)
      let outcome = try XCTUnwrap(step.perturbation)
      let full = lastLogits(model, ids)
      let target = step.tokens[0]
      XCTAssertEqual(target, full.indices.max { full[$0] < full[$1] }, "\(name): the model's own next token")
      let bos = ids[0] == model.config.bosTokenId
      XCTAssertEqual(outcome.layout.groups.first, [bos ? 1 : 0], "\(name): a leading BOS is no unit")
      var expected: [Float] = []
      for group in outcome.layout.groups {
        var replaced = ids
        replaced[group[0]] = model.neutralToken
        expected.append(full[target] - lastLogits(model, replaced)[target])
      }
      // The perturbed prompts hold the same ids, but they run stacked in one batched
      // forward (every position through the last block, the head on the last rows),
      // while the expected values come from one pass per prompt that computes the last
      // block for the last row only: the same function, with products of other shapes,
      // whose sums may round in another order. Two such float32 evaluations lie within
      // the rounding of one pass through every sublayer (2 per block and the head),
      // each a sum over at most the MLP's inner width.
      let scale = full.map(abs).max() ?? 0
      let config = model.config
      let bound = DerivedTolerance.float32Rounding(
        magnitude: scale, stages: 2 * config.layers + 1,
        contraction: max(config.intermediateSize, config.hiddenSize), terms: 1)
      XCTAssertLessThanOrEqual(
        zip(outcome.unitRelevance, expected).map { abs($0 - $1) }.max() ?? 0, bound,
        "\(name): \(outcome.unitRelevance) vs \(expected)")
      XCTAssertEqual(outcome.evaluations, outcome.layout.count + 2)
    }
  }

  func testShapleyOnTheNextTokenIsEfficientAndTakesContrast() throws {
    let model = try model("llama-gqa.f32.gguf")
    let ids = [model.config.bosTokenId ?? 3, 5, 9, 14, 22]
    let explanation = try model.explainByPerturbation(
      promptIds: ids, target: 11, contrast: 12, method: .shapley, settings: PerturbationSettings())
    let step = try XCTUnwrap(explanation.steps.first)
    XCTAssertEqual(step.quantity, "logit difference")
    let full = lastLogits(model, ids)
    XCTAssertEqual(step.value, full[11] - full[12], accuracy: 1e-5 * max(1, abs(full[11]) + abs(full[12])))
    let baseline = try XCTUnwrap(step.baselineValue)
    let sum = step.relevance.reduce(0, +)
    XCTAssertEqual(sum, step.value - baseline, accuracy: 1e-5 * max(1, abs(step.value) + abs(baseline)))
    XCTAssertEqual(step.perturbation?.evaluations, 1 << (ids.count - 1))
  }
}
