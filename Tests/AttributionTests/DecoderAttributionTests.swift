import Attribution
import Foundation
import Models
import ReferenceSupport
import Tensor
import XCTest

/// Decoder attribution's own checks (the LXT and Captum references are in
/// DecoderAttributionReferenceTests): gradients against finite differences, the span
/// target against the log-probabilities generation reports, causality, one forward for
/// many targets.
final class DecoderAttributionTests: XCTestCase {
  static func model(_ name: String) throws -> LanguageModel {
    try LanguageModel.load(
      path: AttributionFixtures.repository.appendingPathComponent("Tests/ModelsTests/Fixtures/decoders/\(name)").path)
  }

  let ids = [0, 12, 40, 7, 33, 21, 5, 60, 18, 2]

  func testGradientTimesInputMatchesFiniteDifferencesOfTheLogit() throws {
    for name in ["gpt2", "llama-gqa", "qwen2"] {
      let network = try Self.model(name).network
      let explainer = DecoderExplainer(network: network)
      let position = ids.count - 1
      let token = 17
      let result = explainer.attribute(ids: ids, targets: [.logit(position: position, token: token)], rules: .gradient)[0]
      // R_s = Σ_d e_{s,d}·∂f/∂e_{s,d}: compare with the derivative of f(e + h·e_s) at h = 0,
      // which is exactly R_s (scaling one position's embedding), by central differences in Double.
      let embedded = withoutGrad { network.embed(ids) }
      func f(scaling s: Int, by h: Float) -> Double {
        var values = embedded.scalars
        let width = network.config.hiddenSize
        for d in 0..<width { values[s * width + d] *= 1 + h }
        let logits = withoutGrad { network.logits(embedded: Tensor(shape: embedded.shape, scalars: values)) }
        return Double(logits.scalars[position * network.config.vocabSize + token])
      }
      let scale = Double(result.relevance.map(abs).max()!)
      for s in [0, 3, position] {
        let h: Float = 1e-2
        let numeric = (f(scaling: s, by: h) - f(scaling: s, by: -h)) / (2 * Double(h))
        XCTAssertEqual(Double(result.relevance[s]), numeric, accuracy: 2e-3 * max(scale, 1), "\(name) position \(s)")
      }
      XCTAssertEqual(Double(result.value), f(scaling: 0, by: 0), accuracy: 1e-5)
    }
  }

  func testSpanValueIsTheSummedLogProbabilityOfGeneration() throws {
    let network = try Self.model("llama-gqa").network
    let prompt = Array(ids.prefix(5))
    let generated = network.generate(prompt: prompt, maxNewTokens: 5, stopTokens: []).tokens
    let sequence = prompt + generated.map(\.id)
    let pairs = (1..<4).map { (position: prompt.count + $0 - 1, token: generated[$0].id) }
    let result = DecoderExplainer(network: network).attribute(
      ids: sequence, targets: [.logProbability(pairs)], rules: .gradient)[0]
    XCTAssertEqual(result.value, generated[1..<4].map(\.logProbability).reduce(0, +), accuracy: 1e-4)
  }

  func testIntegratedGradientsIsCompleteFromTheEndTokenBaseline() throws {
    for name in ["gpt2", "llama-gqa", "qwen2"] {
      let model = try Self.model(name)
      let explainer = DecoderExplainer(network: model.network)
      let target = DecoderTarget.logit(position: ids.count - 1, token: 17)
      let nodes = IntegratedGradients(steps: 64).nodes
      let result = explainer.integratedGradients(ids: ids, targets: [target], nodes: nodes, baselineToken: model.neutralToken)[0]
      let baseline = try XCTUnwrap(result.baselineValue)
      let sum = result.relevance.reduce(0, +)
      // Gauss–Legendre with 64 points on these smooth paths: exact to float32 rounding.
      XCTAssertEqual(sum, result.value - baseline, accuracy: 1e-3 * max(1, abs(result.value - baseline)), name)
      let coarse = explainer.integratedGradients(
        ids: ids, targets: [target], nodes: IntegratedGradients(steps: 8).nodes, baselineToken: model.neutralToken)[0]
      XCTAssertEqual(coarse.value, result.value)
    }
  }

  func testManyTargetsInOnePassEqualOneAtATimeAndAreCausal() throws {
    let network = try Self.model("qwen2").network
    let explainer = DecoderExplainer(network: network)
    let targets: [DecoderTarget] = [
      .logit(position: 4, token: 9), .contrast(position: 8, token: 3, contrast: 30), .logit(position: 9, token: 1),
    ]
    for kind in [MethodKind.gradxinput, .lrp, .attnlrp] {
      let rules = DecoderExplainer.rules(for: kind)!
      let together = explainer.attribute(ids: ids, targets: targets, rules: rules)
      for (index, target) in targets.enumerated() {
        let alone = explainer.attribute(ids: ids, targets: [target], rules: rules)[0]
        // The two passes run products of other shapes (one target reads only the last
        // rows of the last block), so they agree to float32 rounding through the depth
        // of the network, not bit for bit.
        let magnitude = max(abs(together[index].value), together[index].relevance.map(abs).reduce(0, +))
        let bound = DerivedTolerance.float32Rounding(
          magnitude: magnitude, stages: 2 * network.config.layers + 1, contraction: network.config.intermediateSize,
          terms: ids.count * network.config.hiddenSize)
        XCTAssertEqual(alone.value, together[index].value, accuracy: bound, "\(kind) target \(index)")
        for (a, b) in zip(alone.relevance, together[index].relevance) where abs(a - b) > bound {
          XCTFail("\(kind) target \(index): \(a) vs \(b), bound \(bound)")
          break
        }
      }
      XCTAssertTrue(together[0].relevance[5...].allSatisfy { $0 == 0 }, "\(kind): position 4 sees nothing after it")
    }
  }
}
