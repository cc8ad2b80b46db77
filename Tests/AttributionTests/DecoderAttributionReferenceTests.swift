import Attribution
import Foundation
import Models
import ReferenceSupport
import Tensor
import XCTest

/// Decoder attribution against LXT 2.1's rules applied where LXT's family files place them
/// (gradxinput, lrp = cp_LRP, attnlrp = attnLRP), on tiny GPT-2, Llama (GQA), Llama 3-scaled
/// and Qwen2 models: next token, contrast, the 6-step source × generated matrix and a span
/// of log-probabilities (scripts/reference_decoder_attribution.py); and on the real SmolLM2
/// GGUF when `make models` has fetched it. Relevance within 1e-3 of max|R| plus 4× PyTorch
/// float32's own deviation.
final class DecoderAttributionReferenceTests: XCTestCase {
  static let fixtures = AttributionFixtures.here.appendingPathComponent("Fixtures/decoders")

  func compare(
    _ relevance: [Float], _ value: Float, against method: JSONNode, row: Int?, label: String, margins: inout [String]
  ) throws {
    let expected = row.map { method["relevance"]!.elements[$0].elements.compactMap(\.double).map(Float.init) }
      ?? method["relevance"]!.elements.compactMap(\.double).map(Float.init)
    let f = Float(row.map { method["f"]!.elements[$0].double! } ?? method["f"]!.double!)
    let tolerance = DerivedTolerance(floor: 1e-3, deviation: try FixtureDeviation.of(method, "relevance"))
    let actual = Array(relevance.prefix(expected.count))
    if let failure = tolerance.failure(actual, expected, what: label) { XCTFail(failure) }
    XCTAssertTrue(relevance.dropFirst(expected.count).allSatisfy { $0 == 0 }, "\(label): relevance after the target")
    XCTAssertEqual(value, f, accuracy: 1e-4 * max(1, abs(f)), "\(label): f")
    margins.append("\(label): \(tolerance.margin(actual, expected))")
  }

  func testTinyDecodersMatchLXT() throws {
    let root = try JSONDocument.read(Self.fixtures.appendingPathComponent("attribution.json").path).rootNode
    var margins: [String] = []
    var checked = 0
    for item in root["cases"]!.elements {
      let name = item["name"]!.string!
      let model = try LanguageModel.load(
        path: AttributionFixtures.repository.appendingPathComponent("Tests/ModelsTests/Fixtures/decoders")
          .appendingPathComponent(item["folder"]!.string!).path)
      let explainer = DecoderExplainer(network: model.network)
      let targets = item["targets"]!
      for methodName in item["methods"]!.elements.compactMap(\.string) {
        let rules = try XCTUnwrap(DecoderExplainer.rules(for: try XCTUnwrap(MethodKind(name: methodName))))
        if let next = targets["next"], let method = next["methods"]?[methodName] {
          let result = explainer.attribute(
            ids: next["input_ids"]!.elements.compactMap(\.int),
            targets: [.logit(position: next["position"]!.int!, token: next["target_id"]!.int!)], rules: rules)[0]
          try compare(result.relevance, result.value, against: method, row: nil, label: "\(name) next \(methodName)", margins: &margins)
          checked += 1
        }
        if let contrast = targets["contrast"], let method = contrast["methods"]?[methodName] {
          let result = explainer.attribute(
            ids: contrast["input_ids"]!.elements.compactMap(\.int),
            targets: [
              .contrast(
                position: contrast["position"]!.int!, token: contrast["target_id"]!.int!,
                contrast: contrast["contrast_id"]!.int!)
            ], rules: rules)[0]
          try compare(result.relevance, result.value, against: method, row: nil, label: "\(name) contrast \(methodName)", margins: &margins)
          checked += 1
        }
        if let steps = targets["steps"], let method = steps["methods"]?[methodName] {
          let rows = steps["rows"]!.elements
          let results = explainer.attribute(
            ids: steps["input_ids"]!.elements.compactMap(\.int),
            targets: rows.map { .logit(position: $0["position"]!.int!, token: $0["target_id"]!.int!) }, rules: rules)
          for (index, result) in results.enumerated() {
            try compare(
              result.relevance, result.value, against: method, row: index, label: "\(name) step \(index + 1) \(methodName)",
              margins: &margins)
            checked += 1
          }
        }
        if let span = targets["span"], let method = span["methods"]?[methodName] {
          let pairs = span["pairs"]!.elements.map { (position: $0["position"]!.int!, token: $0["target_id"]!.int!) }
          let result = explainer.attribute(
            ids: span["input_ids"]!.elements.compactMap(\.int), targets: [.logProbability(pairs)], rules: rules)[0]
          try compare(result.relevance, result.value, against: method, row: nil, label: "\(name) span \(methodName)", margins: &margins)
          checked += 1
        }
      }
    }
    XCTAssertGreaterThanOrEqual(checked, 60)
    print("decoder attribution reference margins:\n  " + margins.joined(separator: "\n  "))
  }

  /// The source × generated matrix against Captum 0.9's `LLMGradientAttribution` with
  /// `LayerGradientXActivation` at the block-0 input: Captum's target is each generated
  /// token's log-probability and its columns the prompt positions only.
  func testGeneratedMatrixMatchesCaptum() throws {
    let root = try JSONDocument.read(Self.fixtures.appendingPathComponent("attribution.json").path).rootNode
    var compared = 0
    for item in root["cases"]!.elements {
      guard let steps = item["targets"]?["steps"], let captum = steps["captum"]?["captum_layer_gradient_x_activation"]
      else { continue }
      let model = try LanguageModel.load(
        path: AttributionFixtures.repository.appendingPathComponent("Tests/ModelsTests/Fixtures/decoders")
          .appendingPathComponent(item["folder"]!.string!).path)
      let ids = steps["input_ids"]!.elements.compactMap(\.int)
      let rows = steps["rows"]!.elements
      let results = DecoderExplainer(network: model.network).attribute(
        ids: ids, targets: rows.map { .logProbability([(position: $0["position"]!.int!, token: $0["target_id"]!.int!)]) },
        rules: .gradient)
      let expected = captum["relevance"]!.elements.map { $0.elements.compactMap(\.double).map(Float.init) }
      let tolerance = DerivedTolerance(floor: 1e-3, deviation: try FixtureDeviation.of(captum, "relevance"))
      let actual = results.flatMap { Array($0.relevance.prefix(expected[0].count)) }
      if let failure = tolerance.failure(actual, expected.flatMap { $0 }, what: "\(item["name"]!.string!) Captum matrix") {
        XCTFail(failure)
      }
      print("Captum matrix \(item["name"]!.string!): \(tolerance.margin(actual, expected.flatMap { $0 }))")
      compared += 1
    }
    XCTAssertEqual(compared, 3)
  }

  func testSmolLM2MatchesLXT() throws {
    let path = ProcessInfo.processInfo.environment["XAI_SMOLLM2_GGUF"]
      ?? AttributionFixtures.repository.appendingPathComponent("models/smollm2-135m-instruct.gguf").path
    guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("\(path) is absent; `make models`") }
    let model = try LanguageModel.load(path: path)
    let explainer = DecoderExplainer(network: model.network)
    let root = try JSONDocument.read(Self.fixtures.appendingPathComponent("smollm2-attribution.json").path).rootNode
    var margins: [String] = []
    for item in root["cases"]!.elements {
      let ids = item["input_ids"]!.elements.compactMap(\.int)
      for (methodName, method) in ["lrp", "attnlrp"].compactMap({ name in item["methods"]?[name].map { (name, $0) } }) {
        let rules = DecoderExplainer.rules(for: MethodKind(name: methodName)!)!
        let result = explainer.attribute(
          ids: ids, targets: [.logit(position: item["position"]!.int!, token: item["target_id"]!.int!)], rules: rules)[0]
        try compare(result.relevance, result.value, against: method, row: nil, label: "SmolLM2 \(methodName)", margins: &margins)
      }
    }
    print("SmolLM2 attribution margins:\n  " + margins.joined(separator: "\n  "))
  }
}
