import Attribution
import Foundation
import Models
import ReferenceSupport
import XCTest

/// The relevance audit against an independent torch computation (scripts/reference_audit.py,
/// float64; derived bounds as `DerivedTolerance` says) and its conservation properties.
final class RelevanceAuditTests: XCTestCase {
  private let methods: [(String, GradientTimesInput)] = [
    ("lrp", .lrp), ("gradxinput", GradientTimesInput()), ("attnlrp", .attnLRP),
  ]

  func testAuditSumsEqualTorchAtEverySublayerInputForEveryMethod() throws {
    let fixture = try JSONDocument.read(
      AttributionFixtures.here.appendingPathComponent("Fixtures/audit.json").path
    )
    .rootNode
    for name in ["tiny-distilbert", "tiny-bert", "minilm-rt-sentiment"] {
      let model = try TextModel.load(path: AttributionFixtures.modelPath(name))
      let sentences = try XCTUnwrap(fixture[name]).elements
      XCTAssertGreaterThanOrEqual(sentences.count, 3)
      for sentence in sentences {
        let text = try XCTUnwrap(sentence["text"]?.string)
        for (key, method) in methods {
          let explanation = try model.explain(text, method: method, audit: true)
          let audit = try XCTUnwrap(explanation.audit)
          let expected = try XCTUnwrap(sentence["methods"]?[key]?["audit"]).elements
          XCTAssertEqual(
            audit.entries.map(\.layer), expected.compactMap { $0["layer"]?.string }, "\(name) \(key)")
          let values = expected.compactMap { $0["sum_relevance"]?.double.map(Float.init) }
          XCTAssertEqual(values.count, audit.entries.count)
          let scale = max(values.map(abs).max() ?? 1, abs(audit.targetLogit))
          let sums = DerivedTolerance(
            floor: 1e-3, deviation: try FixtureDeviation.of(sentence, "methods", key, "audit"))
          for (entry, value) in zip(audit.entries, values) {
            XCTAssertEqual(
              entry.sumRelevance, value, accuracy: sums.allowed(scale: scale),
              "\(name) \(key) \(entry.layer) '\(text)'")
          }
          let bias = try XCTUnwrap(sentence["methods"]?[key]?["bias_share"]?.double)
          let biasBound = DerivedTolerance(
            floor: 1e-3, deviation: try FixtureDeviation.of(sentence, "methods", key, "bias_share"))
          XCTAssertEqual(
            audit.biasShare, Float(bias), accuracy: biasBound.allowed(scale: scale),
            "\(name) \(key) bias share")
          XCTAssertEqual(audit.entries[0].sumRelevance, audit.sumTokens, accuracy: 1e-4 * scale)
          if key == "lrp" {
            XCTAssertEqual(audit.ruleShare, 0, accuracy: 1e-4 * scale, "lrp is conservative up to the biases")
          }
        }
      }
    }
  }

  /// tiny-distilbert with every bias after the embedding block set to zero.
  private func biasFreeModel() throws -> TextModel {
    let data = try Data(contentsOf: URL(fileURLWithPath: AttributionFixtures.modelPath("tiny-distilbert")))
    var root = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    var tensors = try XCTUnwrap(root["tensors"] as? [String: Any])
    for (key, value) in tensors where key.hasSuffix(".bias") && !key.contains("embeddings") {
      var tensor = try XCTUnwrap(value as? [String: Any])
      let count = try XCTUnwrap(tensor["data"] as? [Any]).count
      tensor["data"] = Array(repeating: 0, count: count)
      tensors[key] = tensor
    }
    root["tensors"] = tensors
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("xai-bias-free-\(UUID()).json")
    try JSONSerialization.data(withJSONObject: root).write(to: path)
    defer { try? FileManager.default.removeItem(at: path) }
    return try TextModel.load(path: path.path)
  }

  func testLRPOnABiasFreeModelIsExactlyConservativeWithAFlatAuditWhileAttnLRPAbsorbs() throws {
    let model = try biasFreeModel()
    for text in ["the movie was not good", "a great film", "boring"] {
      let lrp = try XCTUnwrap(try model.explain(text, method: GradientTimesInput.lrp, audit: true).audit)
      let scale = max(abs(lrp.targetLogit), 1e-3)
      XCTAssertEqual(lrp.sumTokens, lrp.targetLogit, accuracy: 1e-4 * max(scale, 1), text)
      XCTAssertEqual(lrp.biasShare, 0, accuracy: 1e-6)
      for entry in lrp.entries {
        XCTAssertEqual(
          entry.sumRelevance, lrp.targetLogit, accuracy: 1e-4 * max(scale, 1), "\(text) \(entry.layer)")
      }
      let attn = try XCTUnwrap(try model.explain(text, method: GradientTimesInput.attnLRP, audit: true).audit)
      let drift = attn.entries.map { abs($0.sumRelevance - attn.targetLogit) }.max() ?? 0
      XCTAssertGreaterThan(drift, 0.01 * scale, "the softmax rule absorbs a share: \(text)")
      XCTAssertGreaterThan(abs(attn.ruleShare), 0.01 * scale)
    }
  }

  func testTheAuditIsRefusedForMethodsThatAreNotGradientTimesInputAndLeavesRelevanceAlone() throws {
    let model = try TextModel.load(path: AttributionFixtures.modelPath("tiny-bert"))
    XCTAssertThrowsError(try model.explain("good", method: GradientSaliency(), audit: true)) {
      XCTAssertTrue($0 is AuditUnavailableError)
    }
    let plain = try model.explain("the film is good", method: GradientTimesInput.lrp)
    let audited = try model.explain("the film is good", method: GradientTimesInput.lrp, audit: true)
    XCTAssertEqual(plain.relevance, audited.relevance)
    XCTAssertEqual(plain.logits, audited.logits)
  }
}
