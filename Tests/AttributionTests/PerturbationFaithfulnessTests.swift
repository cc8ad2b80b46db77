import Foundation
import Models
import ReferenceSupport
import Tensor
import XCTest

@testable import Attribution

/// The perturbation methods inside `xai eval`: each ranking's cost is its exact count of
/// model passes, a perturbation method ranks the units by the φ its explanation gives,
/// graph and prompt curves run through `PerturbationRunner` and equal the model on the
/// perturbed inputs, and a setting that cannot work is found before anything runs.
final class PerturbationFaithfulnessTests: XCTestCase {
  static let tiny = FaithfulnessTests.tiny
  static let llama = LanguageFaithfulnessTests.llama

  /// Occlusion windows of `window` every `stride` along `n` units (Captum's placement).
  func windows(_ n: Int, _ window: Int, _ stride: Int) -> Int { (n - window + stride - 1) / stride + 1 }

  func testEachRankingsCostIsItsExactNumberOfModelPasses() throws {
    let model = Self.tiny
    let texts = try FaithfulnessTests.tinySentences.map(model.prepare)
    let sampled = PerturbationSettings(window: 2, samples: 6, seed: 3)
    let perturbation: [PerturbationAttribution] = [
      PerturbationAttribution(kind: .occlusion, settings: sampled),
      PerturbationAttribution(kind: .featureAblation, settings: sampled),
      PerturbationAttribution(kind: .shapley, settings: PerturbationSettings(seed: 3)),
      PerturbationAttribution(kind: .kernelShap, settings: sampled),
      PerturbationAttribution(kind: .lime, settings: sampled),
    ]
    let methods: [any AttributionMethod] = [GradientTimesInput.lrp, IntegratedGradients(steps: 4)] + perturbation
    let evaluator = TextFaithfulness(
      model: model, methods: methods, baselines: [.random(orders: 2), .attention], seed: 1)
    let results = try evaluator.evaluate(texts, indices: [0, 1, 2, 3], labels: [nil, nil, nil, nil])
    for (index, (text, result)) in zip(texts, results).enumerated() {
      let n = result.unitCount
      XCTAssertEqual(result.costs.count, evaluator.rankings.count)
      // What `xai explain` reports for the same input and settings, drawing as the
      // evaluation draws for this example (keyed by its index).
      let reported = try perturbation.map {
        try model.explain(
          encoded: [text], method: keyedByExample($0, indices: [index]), targets: [.index(result.trueClass)]
        )[0].perturbation!.evaluations
      }
      let expected: [ModelPasses] = [
        .gradient, ModelPasses(forward: 4 + 2, backward: 4),
        ModelPasses(forward: windows(n, 2, 1) + 2, backward: 0), ModelPasses(forward: n + 2, backward: 0),
        ModelPasses(forward: 1 << n, backward: 0), ModelPasses(forward: reported[3], backward: 0),
        ModelPasses(forward: reported[4], backward: 0), .none, ModelPasses(forward: 1, backward: 0),
      ]
      XCTAssertEqual(result.costs.map(\.passes), expected, "\(n) units")
      XCTAssertEqual(Array(reported.prefix(3)), expected[2..<5].map(\.forward), "explain counts the same")
      XCTAssertLessThanOrEqual(reported[3], min(6 + 2, 1 << n))
      XCTAssertLessThanOrEqual(reported[4], min(6 + 2, 1 << n), "LIME: at most its draws, the input and the baseline")
      XCTAssertTrue(result.costs.allSatisfy { $0.seconds >= 0 && $0.seconds.isFinite })
    }
    let summary = FaithfulnessSummary(rankings: evaluator.rankings, examples: results)
    let meanOcclusion = Double(results.map { windows($0.unitCount, 2, 1) + 2 }.reduce(0, +)) / 4
    XCTAssertEqual(try XCTUnwrap(summary.rows[2].cost).forward, meanOcclusion, accuracy: 1e-12)
    XCTAssertEqual(try XCTUnwrap(summary.rows[0].cost).backward, 1)
  }

  func testExamplesOfEqualSizeDrawTheirOwnSamplesWhateverTheGrouping() throws {
    let model = Self.tiny
    let text = try model.prepare("the movie was not good at all")
    for kind in [MethodKind.shapley, .kernelShap, .lime] {
      let method = PerturbationAttribution(kind: kind, settings: PerturbationSettings(samples: 5, seed: 7))
      func explain(_ method: any AttributionMethod, count: Int) throws -> [TextExplanation] {
        try model.explain(
          encoded: Array(repeating: text, count: count), method: method,
          targets: Array(repeating: .index(0), count: count))
      }
      func seed(_ explanation: TextExplanation) -> UInt64? {
        guard case .sampled(_, let seed)? = explanation.perturbation?.scheme else { return nil }
        return seed
      }
      // Alone and in a group the same coalitions run in batches of other shapes: φ, a
      // weighted sum of differences of logits, agrees to their float32 rounding.
      func difference(_ a: TextExplanation, _ b: TextExplanation) -> (Float, bound: Float) {
        let bound = DerivedTolerance.float32Rounding(
          magnitude: max(1, a.logits.map(abs).max()!), stages: 2 * model.config.layers + 2,
          contraction: model.config.intermediateSize, terms: 2 * 64 * a.relevance.count)
        return (zip(a.relevance, b.relevance).map { abs($0 - $1) }.max()!, bound)
      }
      // Unkeyed (xai explain, xai batch): the same input draws the same samples.
      let plain = try explain(method, count: 2)
      XCTAssertEqual(seed(plain[0]), 7, "\(kind)")
      XCTAssertEqual(seed(plain[1]), 7, "\(kind)")
      let (same, bound) = difference(plain[0], plain[1])
      XCTAssertLessThanOrEqual(same, bound, "\(kind), unkeyed")
      // Keyed by example (xai eval): two examples of the same text draw other samples, and
      // their φ differ by far more than rounding ...
      let keyed = try explain(keyedByExample(method, indices: [4, 9]), count: 2)
      XCTAssertNotEqual(seed(keyed[0]), seed(keyed[1]), "\(kind)")
      XCTAssertNotEqual(seed(keyed[0]), 7, "\(kind)")
      XCTAssertGreaterThan(difference(keyed[0], keyed[1]).0, 100 * bound, "\(kind): examples 4 and 9 share their draws")
      // ... and each example draws the same alone as in a group.
      for (position, index) in [4, 9].enumerated() {
        let alone = try explain(keyedByExample(method, indices: [index]), count: 1)[0]
        XCTAssertEqual(seed(alone), seed(keyed[position]), "\(kind), example \(index)")
        let (apart, bound) = difference(alone, keyed[position])
        XCTAssertLessThanOrEqual(apart, bound, "\(kind), example \(index)")
      }
    }
  }

  func testAPerturbationMethodRanksTheUnitsByItsOwnRelevance() throws {
    let model = Self.tiny
    let text = try model.prepare("the movie was not good")
    let ablation = PerturbationAttribution(kind: .featureAblation)
    let result = try TextFaithfulness(model: model, methods: [ablation], baselines: [], seed: 0)
      .evaluate([text], indices: [0], labels: [nil])[0]
    let explanation = try model.explain(encoded: [text], method: ablation, targets: [.index(result.trueClass)])[0]
    let units = TextExplainer(model: model).units(of: text)
    let phi = units.map { explanation.relevance[$0] }
    // At fraction 0.1 of 5 units one unit is zeroed (⌊0.5⌉ = 1): the one of largest φ.
    let top = units[phi.indices.max { phi[$0] < phi[$1] }!]
    let tokens = TokenBatch([text.ids], padId: model.tokenizer!.padId)
    let expected = withoutGrad { () -> [Float] in
      var mask = [Float](repeating: 1, count: text.ids.count)
      mask[top] = 0
      let embeddings = model.network.embed(tokens) * Tensor(shape: [1, text.ids.count, 1], scalars: mask)
      return model.network.body.logits(embeddings: embeddings, keep: tokens.keep).scalars
    }
    // The same rows in a batch of other variants: products of other shapes.
    let scale = expected.map(abs).max()!
    let bound = DerivedTolerance.float32Rounding(
      magnitude: scale, stages: 2 * model.config.layers + 2, contraction: model.config.intermediateSize, terms: 1)
    XCTAssertEqual(result.curves[0].mostRelevantFirst[1], expected[result.trueClass], accuracy: bound)
  }

  func testGraphPerturbationMethodsRankNodesAndTheirCurvesEqualTheNetworkOnEachRemoval() throws {
    let (network, graph, input) = try FaithfulnessTests.firstSampleGraph()
    let n = graph.nodeCount
    let methods = [
      GraphPerturbation(kind: .featureAblation), GraphPerturbation(kind: .shapley, settings: PerturbationSettings(samples: 4)),
    ]
    let evaluator = GraphFaithfulness(
      walks: nil, nodeGradientTimesInput: false, perturbations: methods, randomOrders: 2, seed: 0)
    XCTAssertEqual(evaluator.rankings.map(\.name), ["feature-ablation", "shapley", "random"])
    let result = try evaluator.evaluate(network: network, input: input, index: 0, label: nil)
    let explanations = try methods.map {
      try $0.explain(network: network, input: input, target: .index(result.trueClass))
    }
    XCTAssertEqual(
      result.costs.map(\.passes),
      [
        ModelPasses(forward: n + 2, backward: 0),
        ModelPasses(forward: explanations[1].perturbation!.evaluations, backward: 0), .none,
      ])
    XCTAssertLessThanOrEqual(explanations[1].perturbation!.evaluations, 4 * (n - 1) + 2)
    // MoRF by feature ablation's φ: each point is the network on the graph without the top k.
    let phi = explanations[0].relevance
    let order = phi.indices.sorted { (phi[$0], -$0) > (phi[$1], -$1) }
    let outputs = network.outputs(input)
    for (point, fraction) in Faithfulness.fractions.enumerated() {
      let k = Faithfulness.count(fraction, of: n)
      let expected =
        k == 0 ? outputs : network.outputs(try network.input(input, removing: Array(order.prefix(k))))
      // Batched as a disjoint union against one graph alone: the same sums in other shapes.
      let bound = DerivedTolerance.float32Rounding(
        magnitude: max(1, expected.map(abs).max()!), stages: 4, contraction: n, terms: 1)
      XCTAssertEqual(result.curves[0].mostRelevantFirst[point], expected[result.trueClass], accuracy: bound)
    }
    // A window larger than the graph is found before anything runs.
    let tooWide = GraphFaithfulness(
      walks: nil, nodeGradientTimesInput: false,
      perturbations: [GraphPerturbation(kind: .occlusion, settings: PerturbationSettings(window: n + 1))],
      randomOrders: 1, seed: 0)
    XCTAssertThrowsError(try NetworkFaithfulness(network: network, evaluation: tooWide).check(input)) {
      XCTAssertTrue(($0 as? PerturbationLimitError)?.message.contains("larger than this input's \(n) units") ?? false, "\($0)")
    }
  }

  func testPromptRankingsByPerturbationCountTheirPassesAndReplaceOnlyThePromptsOwnTokens() throws {
    let model = Self.llama
    let prompt = try PromptExplainer(model: model).prepare(
      PromptRecord(index: 0, line: 1, id: "0", prompt: "the cat sat on the mat", target: nil, contrast: nil))
    let evaluation = LanguageFaithfulness(
      model: model, methods: [.featureAblation, .lrp], baselines: [.random(orders: 1)], seed: 0)
    let result = try evaluation.evaluate(prompt, index: 0)
    let n = prompt.units.count
    XCTAssertEqual(result.costs.map(\.passes), [ModelPasses(forward: n + 2, backward: 0), .gradient, .none])
    let explanation = try model.explainByPerturbation(
      promptIds: prompt.ids, target: result.trueClass, contrast: nil, method: .featureAblation,
      settings: PerturbationSettings(), units: prompt.units)
    let relevance = explanation.steps[0].relevance
    for position in prompt.ids.indices where !prompt.units.contains(position) {
      XCTAssertEqual(relevance[position], 0, "position \(position) is not a unit")
    }
    // MoRF point k: log p(y) with the k units of largest φ replaced by the end token.
    let phi = prompt.units.map { relevance[$0] }
    let order = phi.indices.sorted { (phi[$0], -$0) > (phi[$1], -$1) }
    for (point, fraction) in Faithfulness.fractions.enumerated() {
      var ids = prompt.ids
      for unit in order.prefix(Faithfulness.count(fraction, of: n)) { ids[prompt.units[unit]] = model.neutralToken }
      let logits = withoutGrad { model.network.logits(embedded: model.network.embed(ids), lastOnly: true) }.scalars
      let expected = LanguageFaithfulness.readout(logits[...], original: logits, token: result.trueClass)!.tracked
      let bound = DerivedTolerance.float32Rounding(
        magnitude: max(1, logits.map(abs).max()!), stages: 2 * model.config.layers + 1,
        contraction: model.config.intermediateSize, terms: 1)
      XCTAssertEqual(result.curves[0].mostRelevantFirst[point], expected, accuracy: bound, "point \(point)")
    }
  }

  func testPromptBackendReadsEachVariantAsItsOwnForwardPass() throws {
    let model = Self.llama
    let ids = [model.config.bosTokenId ?? 1, 5, 9, 14, 22, 7, 30]
    let layout = UnitLayout(groups: [[1], [2, 3], [5]])
    let backend = PromptTokenBackend(
      network: model.network, ids: ids, layout: layout, replacement: model.neutralToken,
      readout: { Array($0.prefix(3)) })
    var present = Coalition(units: 3, full: true)
    present.remove(1)
    XCTAssertEqual(
      backend.tokens(of: .init(present: present)),
      [ids[0], 5, model.neutralToken, model.neutralToken, 22, 7, 30])
    let variants = (0..<8).map { PromptTokenBackend.Variant(present: Coalition(units: 3, mask: UInt64($0))) }
    let (values, evaluations) = try PromptTokenBackend.runner.logits(of: variants + variants, backend: backend)
    XCTAssertEqual(evaluations, 8, "each distinct prompt once")
    for (variant, value) in zip(variants, values) {
      let alone = withoutGrad {
        model.network.logits(embedded: model.network.embed(backend.tokens(of: variant)), lastOnly: true)
      }.scalars
      let bound = DerivedTolerance.float32Rounding(
        magnitude: max(1, alone.map(abs).max()!), stages: 2 * model.config.layers + 1,
        contraction: model.config.intermediateSize, terms: 1)
      for (found, expected) in zip(value, alone.prefix(3)) { XCTAssertEqual(found, expected, accuracy: bound) }
    }
  }

  func testTheCheckBeforeARunRefusesExactlyTheDocumentedLimits() throws {
    let sequences = [1, 2, 3, 10, 16, 17, 40].map { n in UnitLayout(groups: (0..<n).map { [$0] }) }
    let grids = [2, 4, 8].map { side in UnitLayout(groups: (0..<(side * side)).map { [$0] }, shape: [side, side]) }
    let settings = [
      PerturbationSettings(), PerturbationSettings(window: 3, stride: 4), PerturbationSettings(window: 9),
      PerturbationSettings(window: 2, stride: 2), PerturbationSettings(samples: 1 << 20),
      PerturbationSettings(samples: 40_000), PerturbationSettings(samples: 0), PerturbationSettings(stride: 0),
      PerturbationSettings(samples: 3),
    ]
    let (evaluations, fit) = (1 << 20, 1 << 26)
    /// docs/methods.md's limits, written out again.
    func refused(_ kind: MethodKind, _ s: PerturbationSettings, _ layout: UnitLayout) -> Bool {
      let n = layout.count
      if [s.window, s.stride, s.samples].contains(where: { $0.map { $0 < 1 } ?? false }) { return true }
      if let samples = s.samples, samples > evaluations { return true }
      switch kind {
      case .occlusion:
        let window = s.window ?? (layout.shape.count == 2 ? 2 : 3)
        let stride = s.stride ?? 1
        if layout.shape.contains(where: { $0 < window }) { return true }
        if layout.shape.contains(where: { $0 > window }) && stride > window { return true }
        return layout.shape.reduce(1) { $0 * (($1 - window + stride - 1) / stride + 1) } + 2 > evaluations
      case .featureAblation: return n + 2 > evaluations
      case .shapley:
        guard let orders = s.samples else { return n > 16 }
        return orders * (n - 1) + 2 > evaluations
      case .kernelShap:
        let samples = s.samples ?? 512
        if n < 2 || (n <= 62 && samples >= (1 << n) - 2) { return false }
        return samples + 2 > evaluations || samples * n > fit
      case .lime:
        let samples = s.samples ?? 50
        return samples + 2 > evaluations || samples * n > fit
      default: preconditionFailure()
      }
    }
    var refusals = 0
    for layout in sequences + grids {
      let geometry = UnitGeometry(
        input: Array(repeating: 1, count: layout.count), baseline: Array(repeating: 0, count: layout.count),
        cross: Array(repeating: 0, count: layout.count))
      for kind in MethodKind.perturbationMethods {
        for setting in settings {
          let checked = Result(catching: { try CoalitionPlan.check(kind: kind, settings: setting, layout: layout) })
          let expected = refused(kind, setting, layout)
          XCTAssertEqual(checked.failureMessage != nil, expected, "\(kind) \(setting) on \(layout.shape): \(checked)")
          if case .failure(let error) = checked {
            refusals += 1
            XCTAssertTrue(error is PerturbationLimitError, "\(error)")
            XCTAssertEqual("\(error)".split(separator: "\n").count, 1, "one sentence")
          } else if setting.samples.map({ $0 <= 4_000 }) ?? true, !(kind == .shapley && setting.samples == nil && layout.count > 12) {
            // What passes the check also plans (small enough to build here).
            XCTAssertNoThrow(try CoalitionPlan.make(kind: kind, settings: setting, layout: layout, geometry: geometry))
          }
        }
      }
    }
    XCTAssertGreaterThan(refusals, 20, "the cases include refusals of every kind")
  }
}

extension Result {
  /// The error's sentence, nil on success.
  fileprivate var failureMessage: String? {
    if case .failure(let error) = self { return "\(error)" }
    return nil
  }
}
