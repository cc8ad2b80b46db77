import Foundation
import Models
import XCTest

/// `xai explain --audit` with a language model (the tiny GGUF fixtures).
final class LanguageAuditCommandTests: XCTestCase {
  static let llama = GenerateCommandTests.llama
  static let gpt2 = GenerateCommandTests.decoders.appendingPathComponent("gpt2.q8_0.gguf").path

  func json(_ arguments: [String]) throws -> JSONNode {
    let result = try runXai(["explain", "--format", "json", "--audit"] + arguments)
    XCTAssertEqual(result.status, 0, result.stderr)
    return try JSONDocument.parse(result.stdout, source: "stdout").rootNode
  }

  /// The step's audit checks every caller shares: forward order from e to the head, the first
  /// entry the tokens' sum, and f = Σ R + bias share + rule share.
  func checkStep(_ step: JSONNode, layers: Int, file: StaticString = #filePath, line: UInt = #line) throws -> (
    bias: Double, rule: Double, value: Double
  ) {
    let audit = try XCTUnwrap(step["audit"], file: file, line: line).elements
    let names = audit.compactMap { $0["layer"]?.string }
    XCTAssertEqual(
      names, (0..<layers).flatMap { ["layer.\($0).attention_norm", "layer.\($0).mlp_norm"] } + ["final_norm", "head"], file: file,
      line: line)
    let conservation = try XCTUnwrap(step["conservation"], file: file, line: line)
    let sum = try XCTUnwrap(conservation["sum_relevance"]?.double, file: file, line: line)
    let bias = try XCTUnwrap(conservation["bias_share"]?.double, file: file, line: line)
    let rule = try XCTUnwrap(conservation["rule_share"]?.double, file: file, line: line)
    let value = try XCTUnwrap(step["value"]?.double, file: file, line: line)
    let scale = max(1, abs(value), abs(sum))
    XCTAssertEqual(audit[0]["sum_relevance"]!.double!, sum, accuracy: 1e-4 * scale, "first entry = Σ R", file: file, line: line)
    XCTAssertEqual(sum + bias + rule, value, accuracy: 1e-5 * scale, file: file, line: line)
    return (bias, rule, value)
  }

  func testNextTokenAuditOfABiasFreeLlamaIsFlatForLRPAndOfGPT2HasABiasShare() throws {
    let llama = try json(["--model", Self.llama, "the cat sat"])
    let shares = try checkStep(llama["steps"]!.elements[0], layers: 2)
    XCTAssertEqual(shares.bias, 0)
    XCTAssertEqual(shares.rule, 0, accuracy: 1e-4 * max(1, abs(shares.value)), "lrp conserves")
    let gpt2 = try json(["--model", Self.gpt2, "the cat sat"])
    let gpt2Shares = try checkStep(gpt2["steps"]!.elements[0], layers: 2)
    XCTAssertGreaterThan(abs(gpt2Shares.bias), 1e-3, "GPT-2's biases take a share")
    XCTAssertEqual(gpt2Shares.rule, 0, accuracy: 1e-4 * max(1, abs(gpt2Shares.value)), "lrp conserves")
  }

  func testContrastGenerateAndSpanAreAudited() throws {
    let contrast = try json(["--model", Self.llama, "--target", "a", "--contrast", "#5", "the cat"])
    let step = contrast["steps"]!.elements[0]
    XCTAssertEqual(step["quantity"]?.string, "logit difference")
    _ = try checkStep(step, layers: 2)
    XCTAssertEqual(
      step["audit"]!.elements.last!["sum_relevance"]!.double!, step["value"]!.double!,
      accuracy: 1e-4 * max(1, abs(step["value"]!.double!)), "the head's sum is the logit difference")
    let generated = try json(["--model", Self.llama, "--method", "attnlrp", "--generate", "4", "the cat"])
    let steps = generated["steps"]!.elements
    XCTAssertEqual(steps.count, 4)
    let rules = try steps.map { try checkStep($0, layers: 2).rule }
    XCTAssertEqual(Set(rules).count, 4, "each step its own audit: \(rules)")
    XCTAssertTrue(rules.contains { abs($0) > 1e-3 }, "attnlrp leaves a rule share: \(rules)")
    let span = try json(["--model", Self.llama, "--generate", "4", "--span", "2:3", "the cat"])
    let spanStep = span["steps"]!.elements[0]
    XCTAssertEqual(spanStep["quantity"]?.string, "log-probability")
    XCTAssertLessThan(try checkStep(spanStep, layers: 2).rule, 0, "the log-softmax's share, −Σ entropy")
  }

  func testTerminalAndPageShowTheAudit() throws {
    let result = try runXai(["explain", "--model", Self.llama, "--audit", "--generate", "3", "--method", "gradxinput", "the cat"])
    XCTAssertEqual(result.status, 0, result.stderr)
    for fragment in [
      "audit per step", "audit: Σ h·∂f/∂h", "layer.1.mlp_norm", "layer.0.attention_norm", "bias share", "rules' share",
      "plain gradients",
    ] {
      XCTAssertTrue(result.stdout.contains(fragment), "\(fragment) in \(result.stdout)")
    }
    let scratch = try ScratchFolder(prefix: "lm-audit")
    defer { scratch.remove() }
    let page = scratch.file("audit.html")
    let html = try runXai(["explain", "--model", Self.llama, "--audit", "--html", page, "the <cat>"])
    XCTAssertEqual(html.status, 0, html.stderr)
    let text = try String(contentsOfFile: page, encoding: .utf8)
    XCTAssertTrue(text.contains("Relevance audit") && text.contains("layer.1.mlp_norm"), "the audit table")
    XCTAssertFalse(text.contains("<cat>"))
  }

  func testIntegratedGradientsAuditAndWordsAreUsageErrors() throws {
    let ig = try runXai(["explain", "--model", Self.llama, "--method", "ig", "--audit", "the cat"])
    XCTAssertEqual(ig.status, 64, ig.stderr)
    XCTAssertTrue(ig.stderr.contains("Gradient×Input"), ig.stderr)
    let words = try runXai(["explain", "--model", Self.llama, "--words", "the cat"])
    XCTAssertEqual(words.status, 64, words.stderr)
    XCTAssertTrue(words.stderr.contains("--words") && words.stderr.contains("language model"), words.stderr)
  }
}
