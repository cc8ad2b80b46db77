import Attribution
import Foundation
import Models
import ReferenceSupport
import XCTest

/// ViT relevance of every method and hook, per token and per pixel, against the
/// PyTorch reference (Fixtures/vit-attribution.json from scripts/reference_vit.py).
final class VisionAttributionTests: XCTestCase {
  private let methods: [(String, any AttributionMethod)] = [
    ("gradient", GradientSaliency()),
    ("gradxinput", GradientTimesInput()),
    ("gradxinput+layernorm", GradientTimesInput(detaching: [.layerNorm])),
    ("gradxinput+attention", GradientTimesInput(detaching: [.attention])),
    ("gradxinput+gelu", GradientTimesInput(detaching: [.gelu])),
    ("lrp", GradientTimesInput.lrp),
    ("attnlrp", GradientTimesInput.attnLRP),
    ("integrated-gradients@32", IntegratedGradients(steps: 32)),
    ("integrated-gradients@32/riemann-middle", IntegratedGradients(steps: 32, rule: .riemannMiddle)),
  ]

  /// The methods whose pixel relevance the reference computes (the detachment variants
  /// and the midpoint rule are checked on tokens only); a missing key fails the test.
  private static let pixelMethods: Set<String> = [
    "gradient", "gradxinput", "lrp", "attnlrp", "integrated-gradients@32",
  ]

  private func floats(_ node: JSONNode?, file: StaticString = #filePath, line: UInt = #line) throws -> [Float]
  {
    try XCTUnwrap(
      node?.numericArray()?.values, "fixture value is not a list of numbers", file: file, line: line)
  }

  func testTokenAndPixelRelevanceMatchPyTorchForEveryMethod() throws {
    let reference = try JSONDocument.read(
      AttributionFixtures.here.appendingPathComponent("Fixtures/vit-attribution.json").path
    ).rootNode
    var checked = 0
    for name in ["tiny-vit", "vit-digits"] {
      let folder =
        name == "tiny-vit" ? "Tests/ModelsTests/Fixtures/tiny-vit" : "samples/models/vit-digits"
      let model = try ImageModel.load(
        path: AttributionFixtures.repository.appendingPathComponent(folder).path)
      for entry in try XCTUnwrap(reference["models"]?[name]?.elements) {
        let file = AttributionFixtures.repository.appendingPathComponent(
          try XCTUnwrap(entry["image"]?.string)
        ).path
        let image = try model.prepare(file: file)
        let target = try XCTUnwrap(entry["target"]?.int)
        for (key, method) in methods {
          let expected = try floats(entry["relevance"]?[key])
          let explanation = try model.explain([image], method: method, targets: [.predicted])[0]
          XCTAssertEqual(explanation.targetIndex, target, "\(name) \(file) \(key)")
          let tokens = [explanation.classTokenRelevance] + explanation.patchRelevance
          let tokenBound = DerivedTolerance(
            floor: 1e-3, deviation: try FixtureDeviation.of(entry, "relevance", key))
          if let failure = tokenBound.failure(tokens, expected, what: "\(name) \(file) \(key) tokens") {
            XCTFail(failure)
          }
          if Self.pixelMethods.contains(key) {
            let expectedPixels = try floats(entry["pixel_relevance"]?[key])
            let pixelBound = DerivedTolerance(
              floor: 1e-3, deviation: try FixtureDeviation.of(entry, "pixel_relevance", key))
            if let failure = pixelBound.failure(
              explanation.pixelRelevance, expectedPixels, what: "\(name) \(file) \(key) pixels")
            {
              XCTFail(failure)
            }
          }
          if key.hasPrefix("integrated") {
            let baselineBound = DerivedTolerance(
              absoluteFloor: 1e-4, deviation: try FixtureDeviation.of(entry, "baseline_logit"))
            if let failure = baselineBound.failure(
              [explanation.conservation.baselineLogit!],
              [try XCTUnwrap(entry["baseline_logit"]?.double.map(Float.init))],
              what: "\(name) \(file) baseline logit")
            {
              XCTFail(failure)
            }
          }
          checked += 1
        }
      }
    }
    XCTAssertEqual(checked, 6 * methods.count)
  }
}

extension VisionAttributionTests {
  func testIntegratedGradientsIsCompleteFromEveryImageBaseline() throws {
    let model = try ImageModel.load(
      path: AttributionFixtures.repository.appendingPathComponent("samples/models/vit-digits").path)
    let image = try model.prepare(
      file: AttributionFixtures.repository.appendingPathComponent("samples/data/digits/7-0094.png").path)
    let mean = model.baselineValues(for: image, kind: .mean)
    XCTAssertEqual(Set(mean).count, 1, "one channel, one mean value")
    XCTAssertEqual(mean[0], image.pixelValues.reduce(0, +) / Float(image.pixelValues.count), accuracy: 1e-5)
    let blur = model.baselineValues(for: image, kind: .blur)
    XCTAssertLessThan(
      zip(blur.dropFirst(), blur).map { abs($0 - $1) }.max()!,
      zip(image.pixelValues.dropFirst(), image.pixelValues).map { abs($0 - $1) }.max()! / 2,
      "the blur is smoother than the image")
    for kind in ImageBaseline.allCases {
      let explanation = try model.explain(
        [image], method: IntegratedGradients(steps: 32), targets: [.predicted], baseline: kind)[0]
      let c = explanation.conservation
      XCTAssertEqual(
        explanation.sumPixels, c.sumRelevance, accuracy: 1e-3, "\(kind): pixels carry the tokens' sum")
      XCTAssertLessThan(abs(c.completenessResidual!), 0.1, "\(kind): completeness")
    }
  }
}

/// Largest absolute difference between two float lists.
private func maxAbsoluteDifference(_ a: [Float], _ b: [Float]) -> Float {
  precondition(a.count == b.count, "lengths \(a.count) and \(b.count)")
  return zip(a, b).map { abs($0 - $1) }.max() ?? 0
}
