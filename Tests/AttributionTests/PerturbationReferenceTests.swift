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
    /// max |xai − reference| / max |reference| per method.
    var relative: [String: Float] = [:]
    mutating func note(_ used: Float, _ line: String) {
      count += 1
      if used >= worst.used { worst = (used, line) }
    }
    var agreement: String {
      relative.keys.sorted().map { "\($0) \(String(format: "%.2g", Double(relative[$0]!)))" }.joined(separator: ", ")
    }
  }

  private func compare(
    _ actual: [Float], _ expected: [Float], floor: Float, deviation: Float, what: String, method: String,
    margin: inout Margin
  ) {
    let bound = DerivedTolerance(floor: floor, deviation: deviation)
    if let failure = bound.failure(actual, expected, what: what) { XCTFail(failure) }
    let scale = expected.map(abs).max() ?? 0
    let worst = zip(actual, expected).map { abs($0 - $1) }.max() ?? 0
    margin.note(worst / bound.allowed(scale: scale), "\(what): " + bound.margin(actual, expected))
    margin.relative[method] = max(margin.relative[method] ?? 0, scale > 0 ? worst / scale : worst)
  }

  /// Captum's ShapleyValues itself: it sums its 5,040 orders in float32 whatever the model's
  /// dtype, so its own distance from the float64 value (`captum_float32_accumulation`) is
  /// added to the bound.
  private func checkCaptumShapley(_ actual: [Float], _ reference: JSONNode, what: String) throws {
    let captum = try XCTUnwrap(reference["captum"]?["shapley"]?.numericArray()?.values, "\(what): no ShapleyValues")
    let accumulation = Float(try XCTUnwrap(reference["captum_float32_accumulation"]?["shapley"]?.double))
    let bound = DerivedTolerance(floor: Self.floor, deviation: try FixtureDeviation.of(reference, "shapley-float64"))
    let scale = captum.map(abs).max() ?? 0
    let worst = zip(actual, captum).map { abs($0 - $1) }.max() ?? .infinity
    XCTAssertLessThanOrEqual(
      worst, bound.allowed(scale: scale) + accumulation,
      "\(what): \(worst) from Captum's ShapleyValues (its float32 accumulation \(accumulation))")
    captumShapley.append((worst / scale, what))
  }

  /// max |xai − ShapleyValues| / max |φ| per case, for the log.
  private var captumShapley: [(Float, String)] = []

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
            what: "\(name) \(key) (\(grouping)) '\(text)'", method: explanation.method.name, margin: &margin)
          compared.insert(key.split(separator: "@").first.map(String.init) ?? key)
        }
        for key in cases.keys where key.hasPrefix("occlusion@") {
          let numbers = key.dropFirst("occlusion@".count).split(separator: ",").compactMap { Int($0) }
          try check(key, run(.occlusion, PerturbationSettings(window: numbers[0], stride: numbers[1])))
        }
        let ablation = try run(.featureAblation, PerturbationSettings())
        try check("feature-ablation", ablation)
        if cases["shapley-float64"] != nil {
          let exact = try run(.shapley, PerturbationSettings())
          try check("shapley-float64", exact)
          try checkCaptumShapley(exact.perturbation!.unitRelevance, reference, what: "\(name) (\(grouping)) '\(text)'")
          XCTAssertEqual(exact.perturbation?.evaluations, 1 << groups.count)
          // KernelSHAP over every coalition is the exact Shapley value too.
          let kernel = try run(.kernelShap, PerturbationSettings(samples: (1 << groups.count) - 2))
          XCTAssertEqual(kernel.perturbation?.scheme, .allCoalitions)
          try check("shapley-float64", kernel)
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
    XCTAssertEqual(
      compared, ["occlusion", "feature-ablation", "shapley-float64", "lime"], "\(name): methods compared")
    print("reference margin: perturbation \(name), tightest of \(margin.count): \(margin.worst.line)")
    print("reference agreement: perturbation \(name), max |xai − reference| / max |φ|: \(margin.agreement)")
    if let worst = captumShapley.max(by: { $0.0 < $1.0 }) {
      print("reference margin: perturbation \(name), ShapleyValues (Captum) at most \(worst.0) of max|φ| (\(worst.1))")
    }
  }

  func testTinyDistilBertPerturbationMatchesCaptum() throws {
    try assertTextModel("tiny-distilbert")
  }

  func testSampleModelPerturbationMatchesCaptum() throws {
    try assertTextModel("minilm-rt-sentiment")
  }

  /// Occlusion (three window/stride pairs, in patches) and feature ablation of vit-digits
  /// against Captum on the pixels, the black image as baseline.
  func testImagePatchPerturbationMatchesCaptum() throws {
    let model = try ImageModel.load(path: AttributionFixtures.modelPath("vit-digits"))
    let images = try XCTUnwrap(try Self.fixture()["images"]).elements
    XCTAssertEqual(images.count, 2)
    var margin = Margin()
    for entry in images {
      let name = try XCTUnwrap(entry["image"]?.string)
      let file = AttributionFixtures.repository.appendingPathComponent("samples/data/\(name)").path
      let image = try model.prepare(file: file)
      let cases = try XCTUnwrap(entry["cases"])
      XCTAssertEqual(cases.keys.count, 4)
      for key in cases.keys {
        let settings: PerturbationSettings
        let kind: MethodKind
        if key.hasPrefix("occlusion@") {
          let numbers = key.dropFirst("occlusion@".count).split(separator: ",").compactMap { Int($0) }
          (kind, settings) = (.occlusion, PerturbationSettings(window: numbers[0], stride: numbers[1]))
        } else {
          (kind, settings) = (.featureAblation, PerturbationSettings())
        }
        let explanation = try model.explain(
          [image], method: PerturbationAttribution(kind: kind, settings: settings), targets: [.predicted])[0]
        XCTAssertEqual(explanation.targetIndex, entry["target"]?.int, "\(name) target")
        XCTAssertEqual(explanation.perturbation?.units, "patches")
        compare(
          explanation.patchRelevance, try XCTUnwrap(cases[key]?.numericArray()?.values), floor: Self.floor,
          deviation: try FixtureDeviation.of(entry, key), what: "vit-digits \(key) \(name)", method: kind.rawValue,
          margin: &margin)
      }
    }
    print("reference margin: perturbation vit-digits, tightest of \(margin.count): \(margin.worst.line)")
    print("reference agreement: perturbation vit-digits, max |xai − reference| / max |φ|: \(margin.agreement)")
  }

  /// Occlusion, feature ablation and (up to 7 nodes) exact Shapley values and KernelSHAP
  /// over every coalition, on the sample GraphNet and GCN, against Captum on a node mask.
  func testGraphNodePerturbationMatchesCaptum() throws {
    let graphs = try XCTUnwrap(try Self.fixture()["graphs"]).elements
    XCTAssertEqual(graphs.count, 4)
    var margin = Margin()
    var shapleyCases = 0
    for entry in graphs {
      let name = try XCTUnwrap(entry["model"]?.string)
      let index = try XCTUnwrap(entry["index"]?.int)
      let network = try GraphNetwork.load(
        path: AttributionFixtures.repository.appendingPathComponent("samples/models/\(name)/model.json").path)
      let data = name == "graphnet-ba" ? "ba_graphs.jsonl" : "solubility_test.sdf"
      let graph = try GraphFile.read(AttributionFixtures.repository.appendingPathComponent("samples/data/\(data)").path)[index]
      let input = try network.prepare(graph)
      let cases = try XCTUnwrap(entry["cases"])
      for key in cases.keys {
        var runs: [(MethodKind, PerturbationSettings)] = []
        if key.hasPrefix("occlusion@") {
          let numbers = key.dropFirst("occlusion@".count).split(separator: ",").compactMap { Int($0) }
          runs = [(.occlusion, PerturbationSettings(window: numbers[0], stride: numbers[1]))]
        } else if key == "shapley-float64" {
          shapleyCases += 1
          runs = [(.shapley, PerturbationSettings()), (.kernelShap, PerturbationSettings(samples: 1 << 20))]
        } else {
          runs = [(.featureAblation, PerturbationSettings())]
        }
        for (kind, settings) in runs {
          let nodes = try GraphPerturbation(kind: kind, settings: settings)
            .explain(network: network, input: input, target: .predicted)
          XCTAssertEqual(nodes.target, entry["target"]?.int, "\(name) graph \(index) target")
          if key == "shapley-float64" {
            try checkCaptumShapley(nodes.relevance, entry, what: "\(name) graph \(index) \(kind.rawValue)")
          }
          compare(
            nodes.relevance, try XCTUnwrap(cases[key]?.numericArray()?.values), floor: Self.floor,
            deviation: try FixtureDeviation.of(entry, key), what: "\(name) graph \(index) \(kind.rawValue) \(key)",
            method: kind.rawValue, margin: &margin)
          let baseline = DerivedTolerance(
            absoluteFloor: 1e-4, deviation: try FixtureDeviation.of(entry, "baseline_logit"))
          if let failure = baseline.failure(
            [try XCTUnwrap(nodes.conservation.baselineLogit)], [Float(try XCTUnwrap(entry["baseline_logit"]?.double))],
            what: "\(name) graph \(index) baseline output")
          {
            XCTFail(failure)
          }
        }
      }
    }
    XCTAssertGreaterThan(shapleyCases, 0, "no graph small enough for exact Shapley values")
    print("reference margin: perturbation graphs, tightest of \(margin.count): \(margin.worst.line)")
    print("reference agreement: perturbation graphs, max |xai − reference| / max |φ|: \(margin.agreement)")
    if let worst = captumShapley.max(by: { $0.0 < $1.0 }) {
      print("reference margin: perturbation graphs, ShapleyValues (Captum) at most \(worst.0) of max|φ| (\(worst.1))")
    }
  }
}
