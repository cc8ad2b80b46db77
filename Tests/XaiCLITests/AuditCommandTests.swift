import Foundation
import Models
import XCTest

/// `--method attnlrp` and `--audit` from the command line.
final class AuditCommandTests: XCTestCase {
  private let tinyBert = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent()
    .appendingPathComponent("ModelsTests/Fixtures/tiny-bert.json").path

  func testExplainWithAuditPrintsEveryLayerAndTheConservationSentence() throws {
    let result = try runXai([
      "explain", "--model", tinyBert, "--method", "attnlrp", "--audit", "the movie was good",
    ])
    XCTAssertEqual(result.status, 0, result.stderr)
    for line in [
      "method attnlrp", "audit: Σ h·∂f/∂h", "layer.1.output_norm", "layer.0.attention", "bias share",
      "rules' share", "softmax rule absorbed",
    ] {
      XCTAssertTrue(result.stdout.contains(line), "\(line) in \(result.stdout)")
    }
  }

  func testJSONCarriesTheAuditAndTheShares() throws {
    let result = try runXai(["explain", "--model", tinyBert, "--format", "json", "--audit", "great film"])
    XCTAssertEqual(result.status, 0, result.stderr)
    let root = try JSONDocument.parse(result.stdout, source: "stdout").rootNode
    let audit = try XCTUnwrap(root["audit"]).elements
    XCTAssertEqual(audit.first?["layer"]?.string, "layer.0.attention")
    XCTAssertEqual(audit.last?["layer"]?.string, "classifier")
    XCTAssertEqual(audit.count, 2 * 4 + 2, "4 points per block of the 2-layer model, head and classifier")
    let conservation = try XCTUnwrap(root["conservation"])
    let sum = try XCTUnwrap(conservation["sum_relevance"]?.double)
    let bias = try XCTUnwrap(conservation["bias_share"]?.double)
    let logit = try XCTUnwrap(conservation["target_logit"]?.double)
    XCTAssertEqual(sum + bias, logit, accuracy: 1e-4 * max(1, abs(logit)), "lrp: tokens + biases = logit")
  }

  func testAuditOfAMethodThatIsNotGradientTimesInputIsAUsageError() throws {
    let result = try runXai(["explain", "--model", tinyBert, "--method", "gradient", "--audit", "good"])
    XCTAssertEqual(result.status, 64)
    XCTAssertTrue(result.stderr.contains("Gradient×Input"), result.stderr)
  }
}
