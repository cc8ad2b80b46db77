import Foundation
import Models
import XCTest

/// `xai explain` with a language model (the tiny GGUF fixtures).
final class LanguageExplainTests: XCTestCase {
  static let llama = GenerateCommandTests.llama

  func json(_ result: CommandResult) throws -> JSONNode {
    try JSONDocument.parse(result.stdout, source: "stdout").rootNode
  }

  func testNextTokenJSONIsConservedForLRPAndNamesItsTarget() throws {
    let result = try runXai(["explain", "--model", Self.llama, "--format", "json", "the cat sat"])
    XCTAssertEqual(result.status, 0, result.stderr)
    let output = try json(result)
    XCTAssertEqual(output["method"]?.string, "lrp")
    let step = output["steps"]!.elements[0]
    let relevance = step["relevance"]!.elements.compactMap(\.double)
    XCTAssertEqual(relevance.count, output["ids"]!.elements.count)
    // CP-LRP on a bias-free Llama is conservative: Σ R = the logit.
    XCTAssertEqual(relevance.reduce(0, +), step["value"]!.double!, accuracy: 1e-4 * max(1, abs(step["value"]!.double!)))
    XCTAssertEqual(step["quantity"]?.string, "logit")
    let terminal = try runXai(["explain", "--model", Self.llama, "the cat sat"])
    XCTAssertEqual(terminal.status, 0, terminal.stderr)
    XCTAssertTrue(terminal.stdout.contains("next token") && terminal.stdout.contains("conservation"), terminal.stdout)
  }

  func testContrastGenerateTokensAndSpan() throws {
    let contrast = try json(try runXai(
      ["explain", "--model", Self.llama, "--format", "json", "--target", "a", "--contrast", "#5", "the cat"]))
    XCTAssertEqual(contrast["steps"]!.elements[0]["quantity"]?.string, "logit difference")
    XCTAssertEqual(contrast["steps"]!.elements[0]["contrast_id"]?.int, 5)
    let matrix = try json(try runXai(
      ["explain", "--model", Self.llama, "--format", "json", "--generate", "5", "--method", "attnlrp", "the cat"]))
    let steps = matrix["steps"]!.elements
    let promptCount = matrix["prompt_count"]!.int!
    XCTAssertEqual(steps.count, matrix["ids"]!.elements.count - promptCount)
    for (k, step) in steps.enumerated() {
      XCTAssertEqual(step["relevance"]!.elements.count, promptCount + k, "step \(k + 1) covers every earlier position")
    }
    let chosen = try json(try runXai(
      ["explain", "--model", Self.llama, "--format", "json", "--generate", "5", "--tokens", "2,4", "the cat"]))
    XCTAssertEqual(chosen["steps"]!.elements.compactMap { $0["generated_index"]?.int }, [1, 3])
    let span = try json(try runXai(
      ["explain", "--model", Self.llama, "--format", "json", "--generate", "5", "--span", "2:3", "the cat"]))
    XCTAssertEqual(span["steps"]!.elements.count, 1)
    XCTAssertEqual(span["steps"]!.elements[0]["quantity"]?.string, "log-probability")
    XCTAssertLessThan(span["steps"]!.elements[0]["value"]!.double!, 0)
  }

  func testIntegratedGradientsReportsCompleteness() throws {
    let result = try runXai(["explain", "--model", Self.llama, "--method", "ig", "--steps", "64", "the cat sat"])
    XCTAssertEqual(result.status, 0, result.stderr)
    XCTAssertTrue(result.stdout.contains("completeness") && !result.stdout.contains("warning"), result.stdout)
    let coarse = try runXai(["explain", "--model", Self.llama, "--method", "ig", "--steps", "1", "the cat sat"])
    XCTAssertTrue(coarse.stdout.contains("not converged"), coarse.stdout)
  }

  func testHTMLPageIsSelfContainedAndEscaped() throws {
    let scratch = try ScratchFolder(prefix: "lm-html")
    defer { scratch.remove() }
    let page = scratch.file("page.html")
    let result = try runXai(["explain", "--model", Self.llama, "--generate", "4", "--html", page, "the <cat>"])
    XCTAssertEqual(result.status, 0, result.stderr)
    let html = try String(contentsOfFile: page, encoding: .utf8)
    XCTAssertTrue(html.contains("Source × generated") && html.contains("<details id=\"step-"), "matrix and heatmaps")
    XCTAssertFalse(html.contains("<cat>"), "token text is escaped")
    XCTAssertFalse(html.contains("http://") || html.contains("https://"), "no network")
  }

  func testBadLanguageOptions() throws {
    for (arguments, status, fragment) in [
      (["--generate", "0"], Int32(64), "--generate"),
      (["--span", "3:1", "--generate", "4"], 64, "--span"),
      (["--span", "1:2"], 64, "--generate"),
      (["--contrast", "a", "--generate", "3"], 64, "--contrast"),
      (["--target", "the cat"], 65, "tokens"),
      (["--generate", "3", "--tokens", "9"], 65, "--tokens"),
      (["--generate", "3", "--span", "2:9"], 65, "--span"),
      (["--method", "gradient"], 65, "lrp, attnlrp, gradxinput or integrated-gradients"),
    ] {
      let result = try runXai(["explain", "--model", Self.llama] + arguments + ["the cat"])
      XCTAssertEqual(result.status, status, "\(arguments): \(result.stderr)")
      XCTAssertTrue(result.stderr.contains(fragment), "\(arguments): \(result.stderr)")
    }
    let classifier = try runXai(["explain", "--model", tinyDistilBert, "--generate", "3", "hello"])
    XCTAssertEqual(classifier.status, 64, classifier.stderr)
  }
}
