import Foundation
import Models
import XCTest

/// The perturbation methods through the built binary: outputs, evaluation counts, the
/// usage errors that name their limit, and every command that takes them.
final class PerturbationCommandTests: XCTestCase {
  private func json(_ result: CommandResult) throws -> JSONNode {
    try JSONDocument.parse(result.stdout, source: "stdout").rootNode
  }

  func testShapleyOnATextPrintsEfficiencyAndTheEvaluationCount() throws {
    let result = try runXai([
      "explain", "--model", tinyDistilBert, "--method", "shapley", "--format", "json", "the movie was not good",
    ])
    XCTAssertEqual(result.status, 0, result.stderr)
    let object = try json(result)
    XCTAssertEqual(object["method"]?.string, "shapley")
    XCTAssertEqual(object["perturbation"]?["evaluations"]?.int, 32)
    XCTAssertEqual(object["perturbation"]?["scheme"]?.string, "all_coalitions")
    XCTAssertEqual(object["perturbation"]?["units"]?.string, "tokens")
    XCTAssertEqual(object["perturbation"]?["unit_relevance"]?.count, 5)
    let residual = try XCTUnwrap(object["conservation"]?["completeness_residual"]?.double)
    XCTAssertLessThan(abs(residual), 1e-5)

    let terminal = try runXai(
      ["explain", "--model", tinyDistilBert, "--method", "kernel-shap", "--samples", "20", "--seed", "3",
       "the movie was not good"], environment: ["NO_COLOR": "1"])
    XCTAssertEqual(terminal.status, 0, terminal.stderr)
    XCTAssertTrue(terminal.stdout.contains("efficiency: f(x) − f(baseline) = "), terminal.stdout)
    XCTAssertTrue(terminal.stdout.contains("cost: "), terminal.stdout)
    XCTAssertTrue(terminal.stdout.contains("20 samples over 5 tokens, seed 3"), terminal.stdout)
  }

  func testWordUnitsMergeTheTerminalViewAndTheJSONListsWords() throws {
    let result = try runXai([
      "explain", "--model", tinyDistilBert, "--method", "feature-ablation", "--units", "words", "--format", "json",
      "it was loved, not boring",
    ])
    XCTAssertEqual(result.status, 0, result.stderr)
    let object = try json(result)
    XCTAssertEqual(object["perturbation"]?["units"]?.string, "words")
    XCTAssertEqual(object["perturbation"]?["unit_positions"]?.elements.map { $0.elements.compactMap(\.int) }, [[1], [2], [3, 4], [5], [6], [7]])
    XCTAssertEqual(object["perturbation"]?["evaluations"]?.int, 8)
  }

  func testSettingsThatCannotWorkExit64WithOneSentence() throws {
    let cases: [([String], String)] = [
      (["--method", "lime", "--samples", "0"], "--samples must be between 1 and"),
      (["--method", "occlusion", "--window", "0"], "--window must be at least 1"),
      (["--method", "occlusion", "--window", "9"], "larger than this input's 3 units"),
      (["--method", "occlusion", "--window", "2", "--stride", "3"], "--stride 3 is larger than --window 2"),
      (["--method", "lrp", "--window", "2"], "--window and --stride apply to --method occlusion"),
      (["--method", "occlusion", "--samples", "5"], "--samples applies to --method shapley"),
      (["--method", "lrp", "--units", "words"], "--units applies to perturbation methods"),
      (["--method", "shapley", "--seed", "-1"], "--seed must be ≥ 0"),
      // Malformed lists are usage errors, not traps.
      (["--method", "shapley", "--samples", "8,"], "--samples"),
      (["--method", "shapley", "--samples", ",8"], "--samples"),
      (["--method", "shapley", "--samples", ""], "--samples"),
      (["--method", "shapley", "--samples", "="], "--samples"),
      (["--method", "shapley", "--samples", "shapley="], "--samples"),
    ]
    for (options, sentence) in cases {
      let result = try runXai(["explain", "--model", tinyDistilBert] + options + ["great film!"])
      XCTAssertEqual(result.status, 64, "\(options): \(result.stderr)")
      XCTAssertTrue(result.stderr.contains(sentence), "\(options): \(result.stderr)")
    }
    let long = Array(repeating: "good", count: 20).joined(separator: " ")
    let exact = try runXai(["explain", "--model", tinyDistilBert, "--method", "shapley", long])
    XCTAssertEqual(exact.status, 64, exact.stderr)
    XCTAssertTrue(exact.stderr.contains("at most 16 units") && exact.stderr.contains("--samples"), exact.stderr)
    XCTAssertEqual(exact.stderr.split(separator: "\n").count, 1, exact.stderr)
    let sampled = try runXai(["explain", "--model", tinyDistilBert, "--method", "shapley", "--samples", "2", long])
    XCTAssertEqual(sampled.status, 0, sampled.stderr)
  }

  func testImagesPerturbPatchesAndGraphsPerturbNodes() throws {
    let digit = checkout.appendingPathComponent("samples/data/digits/3-0045.png").path
    let image = try runXai([
      "explain", "--model", "vit-digits", "--image", digit, "--method", "occlusion", "--window", "4", "--stride", "4",
      "--format", "json",
    ])
    XCTAssertEqual(image.status, 0, image.stderr)
    let object = try json(image)
    XCTAssertEqual(object["perturbation"]?["units"]?.string, "patches")
    XCTAssertEqual(object["perturbation"]?["windows"]?.int, 4)
    XCTAssertEqual(object["perturbation"]?["evaluations"]?.int, 6)
    let grid = try XCTUnwrap(object["patch_grid"]?.elements.map { $0.numericArray()?.values ?? [] })
    XCTAssertEqual(grid[0][0], grid[3][3], "one window covers patches (0,0) … (3,3)")
    let words = try runXai(["explain", "--model", "vit-digits", "--image", digit, "--method", "lime", "--units", "words"])
    XCTAssertEqual(words.status, 64, words.stderr)

    let graphs = checkout.appendingPathComponent("samples/data/ba_graphs.jsonl").path
    let graph = try runXai([
      "graph", "--model", "graphnet-ba", "--graph", graphs, "--method", "feature-ablation", "--format", "json",
    ])
    XCTAssertEqual(graph.status, 0, graph.stderr)
    let nodes = try json(graph)
    XCTAssertEqual(nodes["method"]?.string, "feature-ablation")
    let n = try XCTUnwrap(nodes["num_nodes"]?.int)
    XCTAssertEqual(nodes["node_relevance"]?.count, n)
    XCTAssertEqual(nodes["perturbation"]?["evaluations"]?.int, n + 2)
    XCTAssertEqual(nodes["perturbation"]?["units"]?.string, "nodes")
  }

  func testBatchAndReportTakeThePerturbationMethods() throws {
    let scratch = try ScratchFolder(prefix: "perturbation")
    defer { scratch.remove() }
    let data = try scratch.write(
      "{\"text\": \"the movie was not good\", \"label\": \"negative\"}\n{\"text\": \"great film!\"}\n", to: "d.jsonl")
    let output = scratch.file("out.jsonl")
    let batch = try runXai([
      "batch", "--model", tinyDistilBert, "--input", data, "--method", "occlusion", "--method", "lime",
      "--window", "2", "--samples", "16", "--output", output, "--quiet",
    ])
    XCTAssertEqual(batch.status, 0, batch.stderr)
    let lines = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n")
    XCTAssertEqual(lines.count, 4)
    let first = try JSONDocument.parse(String(lines[0]), source: "line").rootNode
    XCTAssertEqual(first["method"]?.string, "occlusion")
    XCTAssertEqual(first["perturbation"]?["window"]?.int, 2)
    // The same lines from a second run: the draws depend on the seed alone.
    let again = scratch.file("again.jsonl")
    _ = try runXai([
      "batch", "--model", tinyDistilBert, "--input", data, "--method", "occlusion", "--method", "lime",
      "--window", "2", "--samples", "16", "--output", again, "--quiet", "--workers", "2",
    ])
    XCTAssertEqual(try String(contentsOfFile: again, encoding: .utf8), try String(contentsOfFile: output, encoding: .utf8))

    let page = scratch.file("page.html")
    let report = try runXai([
      "report", "--model", tinyDistilBert, "--method", "shapley", "--method", "lrp", "-o", page, "great film!",
    ])
    XCTAssertEqual(report.status, 0, report.stderr)
    let html = try String(contentsOfFile: page, encoding: .utf8)
    XCTAssertTrue(html.contains("model evaluations"), "the conservation table counts evaluations")
    XCTAssertTrue(html.contains(">8</td>"), "shapley over 3 tokens: 8 evaluations")

    let graphs = checkout.appendingPathComponent("samples/data/ba_graphs.jsonl").path
    let graphOutput = scratch.file("graphs.jsonl")
    let graphBatch = try runXai([
      "batch", "--model", "graphnet-ba", "--input", graphs, "--limit", "3", "--method", "kernel-shap",
      "--samples", "40", "--output", graphOutput, "--quiet",
    ])
    XCTAssertEqual(graphBatch.status, 0, graphBatch.stderr)
    let graphLines = try String(contentsOfFile: graphOutput, encoding: .utf8).split(separator: "\n")
    XCTAssertEqual(graphLines.count, 3)
    let line = try JSONDocument.parse(String(graphLines[0]), source: "line").rootNode
    XCTAssertEqual(line["method"]?.string, "kernel-shap")
    XCTAssertNotNil(line["conservation"]?["completeness_residual"]?.double)
  }

  func testLanguageModelsExplainTheNextTokenByPerturbation() throws {
    let llama = GenerateCommandTests.llama
    let result = try runXai(["explain", "--model", llama, "--method", "shapley", "--format", "json", "the cat sat"])
    XCTAssertEqual(result.status, 0, result.stderr)
    let step = try XCTUnwrap(try json(result)["steps"]?.elements.first)
    let units = try XCTUnwrap(step["perturbation"]?["unit_positions"]?.count)
    XCTAssertEqual(step["perturbation"]?["evaluations"]?.int, 1 << units)
    let sum = try XCTUnwrap(step["relevance"]?.numericArray()?.values).reduce(0, +)
    let value = try XCTUnwrap(step["value"]?.double)
    let baseline = try XCTUnwrap(step["baseline_value"]?.double)
    XCTAssertEqual(Double(sum), value - baseline, accuracy: 1e-4 * max(1, abs(value) + abs(baseline)), "efficiency")
    for (options, sentence) in [
      (["--method", "occlusion", "--generate", "3"], "Perturbation methods explain a language model's next token"),
      (["--method", "lime", "--audit"], "--audit sums"),
      (["--method", "lime", "--units", "words"], "a language model's units are its tokens"),
    ] {
      let refused = try runXai(["explain", "--model", llama] + options + ["the cat sat"])
      XCTAssertEqual(refused.status, 64, "\(options): \(refused.stderr)")
      XCTAssertTrue(refused.stderr.contains(sentence), "\(options): \(refused.stderr)")
    }
    let scratch = try ScratchFolder(prefix: "lm-perturbation")
    defer { scratch.remove() }
    let page = scratch.file("lm.html")
    let html = try runXai(["explain", "--model", llama, "--method", "feature-ablation", "--html", page, "the cat sat"])
    XCTAssertEqual(html.status, 0, html.stderr)
    XCTAssertTrue(try String(contentsOfFile: page, encoding: .utf8).contains("model evaluations"))
  }
}
