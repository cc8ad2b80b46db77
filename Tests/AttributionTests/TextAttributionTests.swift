import Attribution
import Foundation
import Models
import Tensor
import XCTest

/// Golden relevances from scripts/reference_attribution.py (PyTorch).
enum AttributionFixtures {
  static let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
  static let repository = here.deletingLastPathComponent().deletingLastPathComponent()

  static func modelPath(_ name: String) -> String {
    if name.hasPrefix("tiny-") {
      return repository.appendingPathComponent("Tests/ModelsTests/Fixtures/\(name).json").path
    }
    return repository.appendingPathComponent("samples/models/\(name)").path
  }

  static func reference() throws -> JSONNode {
    try JSONDocument.read(here.appendingPathComponent("Fixtures/text-attribution.json").path).rootNode
  }
}

extension JSONNode {
  fileprivate var floats: [Float] { numericArray()?.values ?? [] }
}

final class TextAttributionTests: XCTestCase {
  /// Method name in the fixture → the Swift method.
  private let methods: [(String, any TextAttributionMethod)] = [
    ("gradient", GradientSaliency()),
    ("gradxinput", GradientTimesInput()),
    ("lrp", GradientTimesInput.lrp),
    ("gradxinput+layernorm", GradientTimesInput(hooks: .layerNorm)),
    ("gradxinput+attention", GradientTimesInput(hooks: .attention)),
    ("gradxinput+gelu", GradientTimesInput(hooks: .gelu)),
    ("gradxinput+tanh", GradientTimesInput(hooks: .tanh)),
    ("integrated-gradients@32", IntegratedGradients(steps: 32)),
    ("integrated-gradients@64", IntegratedGradients(steps: 64)),
  ]

  private func assertModelMatchesReference(_ name: String) throws {
    let model = try TextModel.load(path: AttributionFixtures.modelPath(name))
    let sentences = try XCTUnwrap(try AttributionFixtures.reference()[name]).elements
    XCTAssertGreaterThanOrEqual(sentences.count, 5)
    for sentence in sentences {
      let text = sentence["text"]!.string!
      for (key, method) in methods {
        let explanation = try model.explain(text, method: method)
        XCTAssertEqual(explanation.encoded.ids, sentence["ids"]!.elements.compactMap(\.int))
        XCTAssertEqual(explanation.targetIndex, sentence["target"]!.int)
        let expected = sentence["relevance"]![key]!.floats
        let scale = expected.map(abs).max() ?? 1
        let worst = zip(explanation.relevance, expected).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(
          worst, 1e-3 * scale, "\(name) \(key) '\(text)': off by \(worst) at scale \(scale)")
        if key.hasPrefix("integrated-gradients@") {
          let steps = key.split(separator: "@")[1]
          let baseline = try XCTUnwrap(explanation.conservation.baselineLogit)
          XCTAssertEqual(baseline, Float(sentence["baseline_logit@\(steps)"]!.double!), accuracy: 1e-4)
        }
      }
    }
  }

  func testTinyDistilBertRelevanceMatchesPyTorchForEveryMethodAndHook() throws {
    try assertModelMatchesReference("tiny-distilbert")
  }

  func testTinyBertRelevanceMatchesPyTorchForEveryMethodAndHook() throws {
    try assertModelMatchesReference("tiny-bert")
  }

  func testSampleModelRelevanceMatchesPyTorchForEveryMethodAndHook() throws {
    try assertModelMatchesReference("minilm-rt-sentiment")
  }

  func testEveryHookCombinationLeavesLogitsUnchanged() throws {
    for name in ["tiny-distilbert", "tiny-bert", "minilm-rt-sentiment"] {
      let model = try TextModel.load(path: AttributionFixtures.modelPath(name))
      let ids = try model.encode("the movie was not good, but the film is great").ids
      let batch = TokenBatch([ids])
      let plain = model.network.logits(batch).scalars
      for raw in 1..<16 {
        let hooks = DetachmentHooks(rawValue: raw)
        let hooked = model.network.logits(batch, hooks: hooks).scalars
        XCTAssertEqual(hooked, plain, "\(name) hooks \(hooks.names)")
      }
    }
  }

  func testIntegratedGradientsIsCompleteWithinOnePercentAt64Steps() throws {
    let model = try TextModel.load(path: AttributionFixtures.modelPath("minilm-rt-sentiment"))
    for text in ["This was one of the best movies I have ever seen.", "A dull, lifeless film."] {
      let explanation = try model.explain(text, method: IntegratedGradients(steps: 64))
      let c = explanation.conservation
      let difference = c.targetLogit - c.baselineLogit!
      XCTAssertLessThanOrEqual(abs(c.completenessResidual!), 0.01 * abs(difference), "\(text): \(c)")
    }
  }

  func testManyStepsRunInChunksAndConvergeToTheSameIntegral() throws {
    let model = try TextModel.load(path: AttributionFixtures.modelPath("tiny-bert"))
    let sixtyFour = try model.explain("the movie was not good", method: IntegratedGradients(steps: 64))
    let chunked = try model.explain("the movie was not good", method: IntegratedGradients(steps: 150))
    let scale = sixtyFour.relevance.map(abs).max() ?? 1
    for (a, b) in zip(chunked.relevance, sixtyFour.relevance) { XCTAssertEqual(a, b, accuracy: 1e-3 * scale) }
    XCTAssertLessThanOrEqual(abs(chunked.conservation.completenessResidual!), 1e-3 * scale)
  }

  func testGaussLegendreRuleIntegratesPolynomialsExactly() {
    for steps in [1, 2, 5, 32] {
      let nodes = IntegratedGradients(steps: steps).nodes
      XCTAssertEqual(nodes.map(\.weight).reduce(0, +), 1, accuracy: 1e-12)
      let degree = 2 * steps - 1
      let integral = nodes.reduce(0.0) { $0 + $1.weight * pow($1.alpha, Double(degree)) }
      XCTAssertEqual(integral, 1 / Double(degree + 1), accuracy: 1e-12, "\(steps) nodes")
      XCTAssertTrue(nodes.allSatisfy { $0.alpha > 0 && $0.alpha < 1 })
    }
    let middle = IntegratedGradients(steps: 4, rule: .riemannMiddle).nodes.map(\.alpha)
    XCTAssertEqual(middle, [0.125, 0.375, 0.625, 0.875])
  }

  func testTargetByLabelOrIndexAndBadTargetsAreClearErrors() throws {
    let model = try TextModel.load(path: AttributionFixtures.modelPath("tiny-distilbert"))
    let byLabel = try model.explain("great film", method: GradientTimesInput(), target: .label("Neutral"))
    XCTAssertEqual(byLabel.targetIndex, 1)
    XCTAssertEqual(
      try model.explain("great film", method: GradientTimesInput(), target: .index(0)).targetLabel, "negative"
    )
    XCTAssertThrowsError(try model.explain("great film", method: GradientTimesInput(), target: .index(7))) {
      XCTAssertEqual(($0 as? ModelError)?.exitCode, 65)
    }
    XCTAssertThrowsError(
      try model.explain("great film", method: GradientTimesInput(), target: .label("happy")))
    XCTAssertThrowsError(try model.explain("   ", method: GradientTimesInput()))
  }

  func testWordsMergePiecesAndKeepTheOriginalSpelling() throws {
    let model = try TextModel.load(path: AttributionFixtures.modelPath("minilm-rt-sentiment"))
    let explanation = try model.explain("Unwatchably BORING, honestly.", method: GradientTimesInput.lrp)
    let words = explanation.words()
    XCTAssertEqual(words.map(\.text), ["[CLS]", "Unwatchably", "BORING", ",", "honestly", ".", "[SEP]"])
    XCTAssertEqual(
      words.map(\.relevance).reduce(0, +), explanation.relevance.reduce(0, +), accuracy: 1e-4)
  }
}
