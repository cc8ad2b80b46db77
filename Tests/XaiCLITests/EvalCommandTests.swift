import Foundation
import Models
import XCTest

/// `xai eval` end to end through the built binary.
final class EvalCommandTests: XCTestCase {
  private var scratch: ScratchFolder!

  override func setUpWithError() throws { scratch = try ScratchFolder(prefix: "xai-eval") }

  override func tearDown() { scratch.remove() }

  private var dataset: String {
    get throws {
      try scratch.write(
        """
        {"text": "the movie was not good", "label": "negative"}
        {"text": "great film!", "label": "positive"}
        {"text": "it is boring", "label": "2"}
        {"text": "a bad, bad movie.", "label": "no such class"}
        {"text": "the best film"}

        """, to: "data.jsonl")
    }
  }

  func testAFailedExampleGivesEvalAndBatchTheSameExitCode() throws {
    let data = try scratch.write(
      "{\"text\": \"great film!\"}\n{\"text\": \"\"}\n{\"text\": \"it is boring\"}\n", to: "empty.jsonl")
    for skip in [[], ["--skip-invalid"]] {
      let eval = try runXai(
        ["eval", "--model", tinyDistilBert, "--input", data, "--method", "lrp", "--quiet"] + skip)
      let batch = try runXai(
        [
          "batch", "--model", tinyDistilBert, "--input", data, "--output",
          scratch.file("b\(skip.count).jsonl"),
          "--quiet",
        ] + skip)
      XCTAssertEqual(eval.status, skip.isEmpty ? 65 : 0, eval.stderr)
      XCTAssertEqual(eval.status, batch.status, "one rule for both: \(skip)")
      XCTAssertTrue(eval.stderr.contains("line 2"), eval.stderr)
    }
  }

  func testTableJSONAndPageCoverEveryMethodAndBaseline() throws {
    let result = try runXai([
      "eval", "--model", tinyDistilBert, "--input", dataset, "--method", "lrp", "--method", "gradient",
      "--output", scratch.file("curves.json"), "--html", scratch.file("eval.html"), "--quiet",
    ])
    XCTAssertEqual(result.status, 0, result.stderr)
    XCTAssertTrue(result.stdout.contains("5 examples"), result.stdout)
    for row in [
      "LRP (detachment)", "Gradient (saliency)", "Random (mean of 5 orders)", "Attention ([CLS], last layer)",
    ] {
      XCTAssertTrue(result.stdout.contains(row), "missing \(row) in\n\(result.stdout)")
    }
    XCTAssertEqual(result.stdout.components(separatedBy: "*").count - 1, 8 + 1, "one best mark per column")
    XCTAssertTrue(result.stderr.contains("1 label(s) name no class"), result.stderr)
    let json = try JSONDocument.read(scratch.file("curves.json")).rootNode
    XCTAssertEqual(json["examples"]?.int, 5)
    XCTAssertEqual(json["labelled_examples"]?.int, 3)
    XCTAssertEqual(json["tracked_class"]?.string, "label or prediction")
    let rankings = try XCTUnwrap(json["rankings"]?.elements)
    XCTAssertEqual(rankings.compactMap { $0["name"]?.string }, ["lrp", "gradient", "random", "attention"])
    for ranking in rankings {
      XCTAssertEqual(ranking["curves"]?["activation"]?.count, 11)
      XCTAssertEqual(ranking["curves"]?["comprehensiveness"]?.count, 5)
      XCTAssertEqual(ranking["per_example"]?["auac"]?.count, 5)
      XCTAssertNotNil(ranking["scores"]?["area_between"]?["standard_error"]?.double)
    }
    let page = try String(contentsOfFile: scratch.file("eval.html"), encoding: .utf8)
    XCTAssertEqual(
      page.components(separatedBy: "<svg").count - 1, 6 + 2, "one chart per protocol and two of score against cost")
    XCTAssertTrue(page.contains("ΔA ↑ against time per explanation"), "the cost charts")
    XCTAssertFalse(page.contains("http://") || page.contains("https://"), "the page needs no network")

    let redrawn = try runXai([
      "eval", "--from", scratch.file("curves.json"), "--html", scratch.file("again.html"), "--quiet",
    ])
    XCTAssertEqual(redrawn.status, 0, redrawn.stderr)
    XCTAssertEqual(redrawn.stdout, result.stdout, "the saved run draws the same table")
    XCTAssertEqual(try String(contentsOfFile: scratch.file("again.html"), encoding: .utf8), page)
    let notEval = try runXai(["eval", "--from", dataset])
    XCTAssertEqual(notEval.status, 65, notEval.stderr)
  }

  func testRandomBaselineRepeatsWithItsSeedThroughTheCommand() throws {
    func run(_ seed: String) throws -> JSONNode? {
      let output = scratch.file("seed-\(seed)-\(UUID()).json")
      let result = try runXai([
        "eval", "--model", tinyDistilBert, "--input", dataset, "--method", "gradxinput", "--baseline",
        "random",
        "--seed", seed, "--output", output, "--quiet", "--workers", "2",
      ])
      XCTAssertEqual(result.status, 0, result.stderr)
      return try JSONDocument.read(output).rootNode["rankings"]?.elements.last?["per_example"]?["auac"]
    }
    let (first, again, other) = (try run("4"), try run("4"), try run("5"))
    XCTAssertEqual(first?.literal, again?.literal)
    XCTAssertNotEqual(first?.literal, other?.literal)
  }

  func testBadRequestsExitWithUsageOrDataErrors() throws {
    let data = try dataset
    for (arguments, status, message) in [
      (["--random-orders", "0"], 64, "--random-orders"),
      (["--seed", "-1"], 64, "--seed"),
      (["--method", "gnn-lrp"], 64, "graph"),
      (["--baseline", "nonsense"], 64, "baseline"),
      (["--output", data], 64, "different files"),
    ] as [([String], Int32, String)] {
      let result = try runXai(["eval", "--model", tinyDistilBert, "--input", data] + arguments)
      XCTAssertEqual(result.status, status, "\(arguments): \(result.stderr)")
      XCTAssertTrue(result.stderr.contains(message), "\(arguments): \(result.stderr)")
    }
    let missing = try runXai(["eval", "--model", tinyDistilBert, "--input", scratch.file("none.jsonl")])
    XCTAssertEqual(missing.status, 66, missing.stderr)
    let empty = try runXai([
      "eval", "--model", tinyDistilBert, "--input", scratch.write("{\"text\": \"  \"}\n", to: "blank.jsonl"),
    ])
    XCTAssertEqual(empty.status, 65, empty.stderr)
    XCTAssertTrue(empty.stderr.contains("line 1"), empty.stderr)
  }

  func testGraphModelEvaluatesNodeRelevanceAgainstRandom() throws {
    let result = try runXai([
      "eval", "--model", "graphnet-ba", "--input",
      checkout.appendingPathComponent("samples/data/ba_graphs.jsonl").path, "--limit", "4", "--output",
      scratch.file("graphs.json"), "--quiet",
    ])
    XCTAssertEqual(result.status, 0, result.stderr)
    let json = try JSONDocument.read(scratch.file("graphs.json")).rootNode
    XCTAssertEqual(json["units"]?.string, "nodes")
    XCTAssertEqual(
      json["rankings"]?.elements.compactMap { $0["name"]?.string }, ["gnn-lrp", "gradxinput", "random"])
    let attention = try runXai([
      "eval", "--model", "graphnet-ba", "--input",
      checkout.appendingPathComponent("samples/data/ba_graphs.jsonl").path, "--baseline", "attention",
    ])
    XCTAssertEqual(attention.status, 64, attention.stderr)
  }
}
