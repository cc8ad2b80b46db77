@testable import Attribution
import Foundation
import Models
import ReferenceSupport
import XCTest

/// xai's perturbation methods against Captum 0.9 on the same models, inputs and baselines
/// (scripts/reference_perturbation.py; float64 expected values, each case's bound derived
/// from PyTorch float32's own deviation by `DerivedTolerance`).
final class PerturbationReferenceTests: XCTestCase {
  static func fixture() throws -> JSONNode {
    try JSONDocument.read(AttributionFixtures.here.appendingPathComponent("Fixtures/perturbation.json").path)
      .rootNode
  }

  /// The relative floors the issue sets: Occlusion, FeatureAblation and exact Shapley within
  /// 1e-5 of max|attr|, LIME's surrogate within 1e-4 (its fit runs on float32 data in Captum).
  static let floor: Float = 1e-5
  static let limeFloor: Float = 1e-4

  private struct Margin {
    var worst: (used: Float, line: String) = (0, "")
    var count = 0
    mutating func note(_ used: Float, _ line: String) {
      count += 1
      if used >= worst.used { worst = (used, line) }
    }
  }

  private func compare(
    _ actual: [Float], _ expected: [Float], floor: Float, deviation: Float, what: String, margin: inout Margin
  ) {
    let bound = DerivedTolerance(floor: floor, deviation: deviation)
    if let failure = bound.failure(actual, expected, what: what) { XCTFail(failure) }
    let scale = expected.map(abs).max() ?? 0
    let worst = zip(actual, expected).map { abs($0 - $1) }.max() ?? 0
    margin.note(worst / bound.allowed(scale: scale), "\(what): " + bound.margin(actual, expected))
  }

  private func assertTextModel(_ name: String) throws {
    let model = try TextModel.load(path: AttributionFixtures.modelPath(name))
    let sentences = try XCTUnwrap(try Self.fixture()["text"]?[name]).elements
    XCTAssertGreaterThanOrEqual(sentences.count, 3)
    var margin = Margin()
    var compared: Set<String> = []
    for sentence in sentences {
      let text = try XCTUnwrap(sentence["text"]?.string)
      let units = try XCTUnwrap(sentence["units"])
      for grouping in UnitGrouping.allCases {
        guard let reference = units[grouping.rawValue] else { continue }
        let groups = reference["groups"]!.elements.map { $0.elements.compactMap(\.int) }
        let cases = try XCTUnwrap(reference["cases"])
        func run(_ kind: MethodKind, _ settings: PerturbationSettings) throws -> TextExplanation {
          var settings = settings
          settings.units = grouping
          let explanation = try model.explain(text, method: PerturbationAttribution(kind: kind, settings: settings))
          XCTAssertEqual(explanation.targetIndex, reference["target"]?.int, "\(name) '\(text)' target")
          XCTAssertEqual(explanation.perturbation?.layout.groups, groups, "\(name) '\(text)' \(grouping) units")
          return explanation
        }
        func check(_ key: String, _ explanation: TextExplanation, floor: Float = Self.floor) throws {
          let expected = try XCTUnwrap(cases[key]?.numericArray()?.values, "\(name) lacks \(key)")
          let deviation = try FixtureDeviation.of(reference, key)
          compare(
            explanation.perturbation!.unitRelevance, expected, floor: floor, deviation: deviation,
            what: "\(name) \(key) (\(grouping)) '\(text)'", margin: &margin)
          compared.insert(key.split(separator: "@").first.map(String.init) ?? key)
        }
        for key in cases.keys where key.hasPrefix("occlusion@") {
          let numbers = key.dropFirst("occlusion@".count).split(separator: ",").compactMap { Int($0) }
          try check(key, run(.occlusion, PerturbationSettings(window: numbers[0], stride: numbers[1])))
        }
        let ablation = try run(.featureAblation, PerturbationSettings())
        try check("feature-ablation", ablation)
        if cases["shapley"] != nil {
          let exact = try run(.shapley, PerturbationSettings())
          try check("shapley", exact)
          XCTAssertEqual(exact.perturbation?.evaluations, 1 << groups.count)
          // KernelSHAP over every coalition is the exact Shapley value too.
          let kernel = try run(.kernelShap, PerturbationSettings(samples: (1 << groups.count) - 2))
          XCTAssertEqual(kernel.perturbation?.scheme, .allCoalitions)
          try check("shapley", kernel)
          // Both report the baseline logit Captum's model gives.
          let baseline = try XCTUnwrap(reference["baseline_logit"]?.double)
          let bound = DerivedTolerance(
            absoluteFloor: 1e-4, deviation: try FixtureDeviation.of(reference, "baseline_logit"))
          if let failure = bound.failure(
            [try XCTUnwrap(exact.conservation.baselineLogit)], [Float(baseline)], what: "\(name) baseline logit")
          {
            XCTFail(failure)
          }
        }
        for key in cases.keys where key.hasPrefix("lime@") {
          let seed = try XCTUnwrap(UInt64(key.dropFirst("lime@".count)))
          // The coalitions xai draws are those Captum was given.
          let masks = try XCTUnwrap(reference["lime_masks@\(seed)"]).elements.map { $0.elements.compactMap(\.int) }
          var random = PerturbationRandom(seed: seed, stream: "lime")
          let drawn = masks.map { row in row.map { _ in random.coin() ? 1 : 0 } }
          XCTAssertEqual(drawn, masks, "\(name) '\(text)': xai's LIME draws differ from the fixture's")
          try check(
            key, run(.lime, PerturbationSettings(samples: masks.count, seed: seed)), floor: Self.limeFloor)
        }
      }
    }
    XCTAssertEqual(compared, ["occlusion", "feature-ablation", "shapley", "lime"], "\(name): methods compared")
    print("reference margin: perturbation \(name), tightest of \(margin.count): \(margin.worst.line)")
  }

  func testTinyDistilBertPerturbationMatchesCaptum() throws {
    try assertTextModel("tiny-distilbert")
  }

  func testSampleModelPerturbationMatchesCaptum() throws {
    try assertTextModel("minilm-rt-sentiment")
  }
}
