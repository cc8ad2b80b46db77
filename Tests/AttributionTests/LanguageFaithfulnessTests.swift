import Foundation
import Models
import ReferenceSupport
import Tensor
import XCTest

@testable import Attribution

/// Next-token faithfulness of language models: removal by the neutral token (in place),
/// the curves' ends, a perturbed point against an independent forward pass, PyTorch's
/// readouts of explicit perturbations, and the seeded random baseline.
final class LanguageFaithfulnessTests: XCTestCase {
  static let decoders = AttributionFixtures.repository.appendingPathComponent("Tests/ModelsTests/Fixtures/decoders")
  static let llama = try! LanguageModel.load(path: decoders.appendingPathComponent("llama-gqa.q4_1.gguf").path)

  /// A prepared prompt with every position but the BOS as a unit.
  func prepared(_ model: LanguageModel, _ text: String, target: String? = nil) throws -> PreparedPrompt {
    try PromptExplainer(model: model).prepare(
      PromptRecord(index: 0, line: 1, id: "0", prompt: text, target: target, contrast: nil))
  }

  /// log p(token) at the last position of `ids`, from one plain forward pass.
  func logProbability(_ model: LanguageModel, _ ids: [Int], _ token: Int) -> Double {
    let logits = withoutGrad { model.network.logits(embedded: model.network.embed(ids), lastOnly: true) }.scalars
    let largest = Double(logits.max()!)
    let total = logits.reduce(0.0) { $0 + exp(Double($1) - largest) }
    return Double(logits[token]) - largest - log(total)
  }

  func testARemovedTokenIsReplacedInPlaceByTheNeutralToken() throws {
    let model = Self.llama
    let prompt = try prepared(model, "the cat sat on")
    XCTAssertEqual(prompt.units, Array(1..<prompt.ids.count), "the BOS is not a unit")
    let perturbed = try PromptExplainer(model: model).perturb(prompt, removing: [2, 4])
    XCTAssertEqual(perturbed.ids.count, prompt.ids.count, "the sequence keeps its length")
    for (position, (before, after)) in zip(prompt.ids, perturbed.ids).enumerated() {
      XCTAssertEqual(after, [2, 4].contains(position) ? model.neutralToken : before, "position \(position)")
    }
  }

  func testCurvesStartUnperturbedAndMeetWhenEveryTokenIsReplaced() throws {
    let model = Self.llama
    let prompt = try prepared(model, "the cat sat on the mat and")
    let evaluation = LanguageFaithfulness(
      model: model, methods: [.lrp, .gradxinput], baselines: [.random(orders: 3), .attention], seed: 4)
    let result = try evaluation.evaluate(prompt, index: 0)
    let tracked = result.trueClass
    XCTAssertFalse(result.fromLabel, "no target: the greedy token")
    XCTAssertEqual(result.unitCount, prompt.ids.count - 1)
    let logits = withoutGrad { model.network.logits(embedded: model.network.embed(prompt.ids), lastOnly: true) }.scalars
    XCTAssertEqual(tracked, logits.indices.max { logits[$0] < logits[$1] })
    let original = logProbability(model, prompt.ids, tracked)
    let allRemoved = logProbability(
      model, prompt.ids.enumerated().map { $0.offset == 0 ? $0.element : model.neutralToken }, tracked)
    XCTAssertGreaterThan(abs(original - allRemoved), 0.01, "the prompt matters to the model")
    let tolerance = 1e-4 * max(1, abs(original))
    for (r, curves) in result.curves.enumerated() {
      let last = Faithfulness.fractions.count - 1
      XCTAssertEqual(Double(curves.mostRelevantFirst[0]), original, accuracy: tolerance, "ranking \(r)")
      XCTAssertEqual(Double(curves.leastRelevantFirst[0]), original, accuracy: tolerance)
      XCTAssertEqual(Double(curves.pruning[0]), exp(original), accuracy: tolerance)
      XCTAssertEqual(Double(curves.activation[last]), exp(original), accuracy: tolerance)
      XCTAssertEqual(curves.pruningError[0], 0)
      XCTAssertEqual(Double(curves.mostRelevantFirst[last]), allRemoved, accuracy: tolerance)
      XCTAssertEqual(curves.mostRelevantFirst[last], curves.leastRelevantFirst[last], "the curves meet")
      XCTAssertEqual(Double(curves.activation[0]), exp(allRemoved), accuracy: tolerance)
    }
  }

  /// A MoRF point of the lrp ranking equals log p(y) of the prompt with its top tokens
  /// (by the explanation's own relevance) replaced, run as a separate forward pass, and
  /// differs from deleting them (which would shift every later position).
  func testAPerturbedPointEqualsAnIndependentForwardOnTheSubstitutedIds() throws {
    let model = Self.llama
    let prompt = try prepared(model, "a cat sat on the mat", target: " a")
    let target = try XCTUnwrap(prompt.target)
    let result = try LanguageFaithfulness(model: model, methods: [.lrp], baselines: [], seed: 0)
      .evaluate(prompt, index: 0)
    XCTAssertTrue(result.fromLabel)
    XCTAssertEqual(result.trueClass, target)
    let explanation = try model.explain(
      promptIds: prompt.ids, request: .nextToken(target: target, contrast: nil), method: .lrp)
    let relevance = prompt.units.map { explanation.steps[0].relevance[$0] }
    let mostFirst = relevance.indices.sorted { (relevance[$0], -$0) > (relevance[$1], -$1) }
    let n = prompt.units.count
    for point in [3, 5] {
      let removed = Set(mostFirst.prefix(Faithfulness.count(Faithfulness.fractions[point], of: n)).map { prompt.units[$0] })
      let replaced = prompt.ids.enumerated().map { removed.contains($0.offset) ? model.neutralToken : $0.element }
      let expected = logProbability(model, replaced, target)
      XCTAssertEqual(Double(result.curves[0].mostRelevantFirst[point]), expected, accuracy: 1e-4 * max(1, abs(expected)))
      let deleted = prompt.ids.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
      XCTAssertGreaterThan(abs(logProbability(model, deleted, target) - expected), 1e-3, "deletion is another input")
    }
  }

  /// Each case of scripts/reference_lm_faithfulness.py's fixture with its model's name and
  /// the model loaded from the same folder.
  private func referenceCases() throws -> [(JSONNode, String, LanguageModel)] {
    let fixture = try JSONDocument.read(
      AttributionFixtures.here.appendingPathComponent("Fixtures/decoders/lm-faithfulness.json").path
    ).rootNode
    return try fixture["cases"]!.elements.map { item in
      let name = item["model"]!.string!
      return (item, name, try LanguageModel.load(path: Self.decoders.appendingPathComponent(name).path))
    }
  }

  /// The batched perturbed forward and its readout against PyTorch (transformers on the same
  /// folders; scripts/reference_lm_faithfulness.py).
  func testPerturbedReadoutsMatchPyTorch() throws {
    for (item, name, model) in try referenceCases() {
      XCTAssertEqual(model.neutralToken, item["neutral"]!.int!, name)
      let prompt = item["prompt"]!.elements.compactMap(\.int)
      let target = item["target"]!.int!
      let variants = item["variants"]!.elements
      let tolerance = DerivedTolerance(floor: 1e-5, deviation: Float(item["float32_deviation"]!.double!))
      let original = model.network.nextTokenLogits([prompt]).scalars
      let vocabulary = model.config.vocabSize
      let ids = try variants.map { variant -> [Int] in
        var ids = prompt
        for position in variant["removed"]!.elements.compactMap(\.int) { ids[position] = model.neutralToken }
        XCTAssertEqual(ids, variant["ids"]!.elements.compactMap(\.int), name)
        return ids
      }
      let logits = model.network.nextTokenLogits(ids).scalars
      for (row, variant) in variants.enumerated() {
        let readout = try XCTUnwrap(LanguageFaithfulness.readout(
          logits[(row * vocabulary)..<((row + 1) * vocabulary)], original: original, token: target))
        for (found, key) in [
          (readout.tracked, "log_probability"), (readout.probability, "probability"),
          (readout.squaredChange, "squared_change"),
        ] {
          let expected = Float(variant[key]!.double!)
          XCTAssertEqual(
            found, expected, accuracy: tolerance.allowed(scale: max(1, abs(expected))), "\(name) \(row) \(key)")
        }
      }
    }
  }

  /// Eval's attention baseline against transformers' eager attention probabilities (the
  /// last layer, from the last position, averaged over the heads; same fixture).
  func testLastPositionAttentionMatchesPyTorch() throws {
    for (item, name, model) in try referenceCases() {
      let expected = try XCTUnwrap(item["last_attention"]?.elements.compactMap { $0.double.map(Float.init) })
      let tolerance = DerivedTolerance(floor: 1e-6, deviation: Float(item["last_attention_deviation"]!.double!))
      let found = model.network.lastPositionAttention(item["prompt"]!.elements.compactMap(\.int))
      XCTAssertEqual(found.count, expected.count, name)
      XCTAssertNil(tolerance.failure(found, expected, what: "\(name) last-position attention"))
    }
  }

  func testTheRandomBaselineRepeatsWithItsSeedAndChangesWithAnother() throws {
    let model = Self.llama
    let prompt = try prepared(model, "the dog and the cat sat on a mat")
    func randomCurves(seed: UInt64) throws -> FaithfulnessCurves {
      try LanguageFaithfulness(model: model, methods: [], baselines: [.random(orders: 2)], seed: seed)
        .evaluate(prompt, index: 3).curves[0]
    }
    XCTAssertEqual(try randomCurves(seed: 7), try randomCurves(seed: 7))
    XCTAssertNotEqual(try randomCurves(seed: 7).mostRelevantFirst, try randomCurves(seed: 8).mostRelevantFirst)
  }

  func testAPromptOfSpecialTokensOnlyHasNoUnits() throws {
    let model = Self.llama
    let bos = PreparedPrompt(ids: [0], units: [], target: nil, contrast: nil)
    XCTAssertThrowsError(
      try LanguageFaithfulness(model: model, methods: [.lrp], baselines: [], seed: 0).evaluate(bos, index: 0))
    XCTAssertThrowsError(try prepared(model, "  ")) { XCTAssertTrue("\($0)".contains("empty"), "\($0)") }
  }
}
