import Foundation
import Models
import XCTest

/// The perturbation methods through every command and model kind that the first part
/// left out: `xai eval` (texts, images, graphs, prompts) with each method's cost,
/// `xai report --graph` and `xai graph --html` with node methods, `xai batch` of prompts,
/// and the settings that cannot work, refused before an evaluation runs.
final class PerturbationEvalCommandTests: XCTestCase {
  private var scratch: ScratchFolder!

  override func setUpWithError() throws { scratch = try ScratchFolder(prefix: "xai-perturbation-eval") }

  override func tearDown() { scratch.remove() }

  private var sentences: String {
    get throws {
      try scratch.write(
        """
        {"text": "the movie was not good", "label": "negative"}
        {"text": "great film!", "label": "positive"}
        {"text": "it is boring"}

        """, to: "sentences.jsonl")
    }
  }

  private var graphs: String { checkout.appendingPathComponent("samples/data/ba_graphs.jsonl").path }

  /// The rankings of an eval output by name.
  private func rankings(_ path: String) throws -> [String: JSONNode] {
    let root = try JSONDocument.read(path).rootNode
    return Dictionary(
      uniqueKeysWithValues: try XCTUnwrap(root["rankings"]?.elements).map { ($0["name"]!.string!, $0) })
  }

  /// Each example's unit count from an eval output.
  private func units(_ path: String) throws -> [Int] {
    try XCTUnwrap(JSONDocument.read(path).rootNode["example_units"]?.elements.compactMap(\.int))
  }

  /// The mean as the JSON's float32 holds it.
  private func mean(_ values: [Int]) -> Float { Float(Double(values.reduce(0, +)) / Double(values.count)) }

  private func evaluations(_ ranking: JSONNode?) -> Float? {
    ranking?["cost"]?["model_evaluations"]?.double.map { Float($0) }
  }

  func testEvalOfTextsScoresEveryPerturbationMethodWithItsExactCost() throws {
    let output = scratch.file("text.json")
    let page = scratch.file("text.html")
    let result = try runXai([
      "eval", "--model", tinyDistilBert, "--input", sentences, "--method", "lrp", "--method", "occlusion",
      "--method", "feature-ablation", "--method", "shapley", "--method", "kernel-shap", "--method", "lime",
      "--window", "2", "--samples", "8", "--seed", "5", "--output", output, "--html", page, "--quiet",
    ])
    XCTAssertEqual(result.status, 0, result.stderr)
    for row in ["Occlusion", "Feature ablation", "Shapley values", "KernelSHAP", "LIME", "model passes"] {
      XCTAssertTrue(result.stdout.contains(row), "missing \(row) in\n\(result.stdout)")
    }
    XCTAssertTrue(result.stdout.contains("1 fwd + 1 bwd"), result.stdout)
    let n = try units(output)
    let byName = try rankings(output)
    XCTAssertEqual(evaluations(byName["lrp"]), 1)
    XCTAssertEqual(byName["lrp"]?["cost"]?["backward_passes"]?.double, 1)
    XCTAssertEqual(evaluations(byName["feature-ablation"]), mean(n.map { $0 + 2 }))
    XCTAssertEqual(evaluations(byName["occlusion"]), mean(n.map { $0 - 2 + 1 + 2 }))
    // --samples 8 orders of n units: at most 8(n − 1) + 2 distinct prefixes.
    XCTAssertLessThanOrEqual(try XCTUnwrap(evaluations(byName["shapley"])), mean(n.map { 8 * ($0 - 1) + 2 }))
    XCTAssertLessThanOrEqual(try XCTUnwrap(evaluations(byName["lime"])), 8 + 2)
    XCTAssertEqual(evaluations(byName["random"]), 0)
    XCTAssertNotNil(byName["kernel-shap"]?["cost"]?["ms_per_explanation"]?.double)
    let html = try String(contentsOfFile: page, encoding: .utf8)
    XCTAssertEqual(html.components(separatedBy: "<svg").count - 1, 6 + 2)
    XCTAssertTrue(html.contains("Pareto frontier") && html.contains("Most faithful per millisecond"), "caption")
    // The saved run draws the same table and page.
    let again = scratch.file("again.html")
    let redrawn = try runXai(["eval", "--from", output, "--html", again, "--quiet"])
    XCTAssertEqual(redrawn.status, 0, redrawn.stderr)
    XCTAssertEqual(redrawn.stdout, result.stdout)
    XCTAssertEqual(try String(contentsOfFile: again, encoding: .utf8), html)
  }

  func testSamplesMayBeGivenPerMethod() throws {
    let result = try runXai([
      "eval", "--model", tinyDistilBert, "--input", sentences, "--method", "shapley", "--method", "lime",
      "--samples", "3,lime=7", "--output", scratch.file("samples.json"), "--quiet",
    ])
    XCTAssertEqual(result.status, 0, result.stderr)
    let byName = try rankings(scratch.file("samples.json"))
    let n = try units(scratch.file("samples.json"))
    XCTAssertLessThanOrEqual(try XCTUnwrap(evaluations(byName["shapley"])), mean(n.map { 3 * ($0 - 1) + 2 }))
    XCTAssertLessThanOrEqual(try XCTUnwrap(evaluations(byName["lime"])), 7 + 2)
    for (samples, method, expected) in [("8,kernel-shap=20", "kernel-shap", 20), ("6", "lime", 6), ("lime=5", "lime", 5)] {
      let explained = try runXai([
        "explain", "--model", tinyDistilBert, "--method", method, "--samples", samples, "--format", "json",
        "the movie was not good",
      ])
      XCTAssertEqual(explained.status, 0, explained.stderr)
      let root = try JSONDocument.parse(explained.stdout, source: "stdout").rootNode
      XCTAssertEqual(root["perturbation"]?["samples"]?.int, expected, "\(method) with --samples \(samples)")
    }
  }

  func testEvalWithPerturbationMethodsIsTheSameForAnyWorkerCountButItsTimes() throws {
    func run(_ workers: String) throws -> String {
      let output = scratch.file("w\(workers).json")
      let result = try runXai([
        "eval", "--model", tinyDistilBert, "--input", sentences, "--method", "kernel-shap", "--method", "occlusion",
        "--samples", "6", "--seed", "2", "--workers", workers, "--output", output, "--quiet",
      ])
      XCTAssertEqual(result.status, 0, result.stderr)
      // The wall times (the run's, and each method's per explanation) are the machine's.
      return try String(contentsOfFile: output, encoding: .utf8)
        .replacingOccurrences(of: #""seconds": [^,]*,"#, with: "", options: .regularExpression)
        .replacingOccurrences(of: #""ms_per_explanation": [^}]*"#, with: "", options: .regularExpression)
    }
    let one = try run("1")
    XCTAssertTrue(one.contains("\"model_evaluations\""), one)
    XCTAssertEqual(try run("2"), one)
  }

  func testEvalOfImagesGraphsAndPromptsTakesThePerturbationMethods() throws {
    let images = try scratch.write(
      "{\"image\": \"\(checkout.appendingPathComponent("samples/data/digits/3-0045.png").path)\", \"label\": \"3\"}\n"
        + "{\"image\": \"\(checkout.appendingPathComponent("samples/data/digits/7-0094.png").path)\"}\n",
      to: "images.jsonl")
    let imageOutput = scratch.file("images.json")
    let image = try runXai([
      "eval", "--model", "vit-digits", "--input", images, "--method", "occlusion", "--window", "4", "--stride",
      "4", "--output", imageOutput, "--quiet",
    ])
    XCTAssertEqual(image.status, 0, image.stderr)
    XCTAssertEqual(evaluations(try rankings(imageOutput)["occlusion"]), 4 + 2, "four 4×4 windows on 8×8 patches")

    let graphOutput = scratch.file("graphs.json")
    let graph = try runXai([
      "eval", "--model", "graphnet-ba", "--input", graphs, "--limit", "3", "--method", "gnn-lrp", "--method",
      "feature-ablation", "--method", "shapley", "--samples", "3", "--output", graphOutput, "--quiet",
    ])
    XCTAssertEqual(graph.status, 0, graph.stderr)
    let graphRankings = try rankings(graphOutput)
    XCTAssertEqual(Set(graphRankings.keys), ["gnn-lrp", "feature-ablation", "shapley", "random"])
    XCTAssertEqual(evaluations(graphRankings["feature-ablation"]), mean(try units(graphOutput).map { $0 + 2 }))
    XCTAssertEqual(graphRankings["gnn-lrp"]?["cost"]?["backward_passes"]?.double, 0, "walks, no backward pass")

    let prompts = try scratch.write(
      "{\"prompt\": \"the cat sat on\"}\n{\"prompt\": \"a dog ran to the\", \"target\": \" a\"}\n", to: "p.jsonl")
    let promptOutput = scratch.file("prompts.json")
    let prompt = try runXai([
      "eval", "--model", GenerateCommandTests.llama, "--input", prompts, "--method", "feature-ablation",
      "--method", "shapley", "--method", "lrp", "--output", promptOutput, "--quiet",
    ])
    XCTAssertEqual(prompt.status, 0, prompt.stderr)
    let promptRankings = try rankings(promptOutput)
    let n = try units(promptOutput)
    XCTAssertEqual(evaluations(promptRankings["feature-ablation"]), mean(n.map { $0 + 2 }))
    XCTAssertEqual(evaluations(promptRankings["shapley"]), mean(n.map { 1 << $0 }), "exact: every coalition")
  }

  func testEvalRefusesASettingThatCannotWorkBeforeEvaluatingAnything() throws {
    let long = Array(repeating: "good", count: 20).joined(separator: " ")
    let data = try scratch.write(
      "{\"text\": \"great film!\"}\n{\"text\": \"\(long)\"}\n{\"text\": \"it is boring\"}\n", to: "long.jsonl")
    let exact = try runXai(["eval", "--model", tinyDistilBert, "--input", data, "--method", "shapley"])
    XCTAssertEqual(exact.status, 64, exact.stderr)
    XCTAssertTrue(exact.stderr.contains("line 2") && exact.stderr.contains("at most 16 units"), exact.stderr)
    XCTAssertEqual(exact.stderr.split(separator: "\n").count, 1, exact.stderr)
    XCTAssertEqual(exact.stdout, "", "no table: nothing was evaluated")
    for (arguments, sentence) in [
      (["--method", "occlusion", "--window", "4"], "larger than this input's 3 units"),
      (["--method", "lime", "--samples", "0"], "--samples must be between 1 and"),
      (["--method", "lrp", "--window", "2"], "--window and --stride apply to --method occlusion"),
      (["--samples", "4"], "name them with --method"),
      (["--method", "occlusion", "--window", "2", "--stride", "3"], "--stride 3 is larger than --window 2"),
      (["--method", "shapley", "--samples", "kernel-shap=4"], "gives kernel-shap its samples, but the methods are shapley"),
      (["--method", "occlusion", "--samples", "occlusion=4"], "--samples"),
      (["--method", "lime", "--samples", "4,lime=0"], "--samples must be between 1 and"),
    ] as [([String], String)] {
      let result = try runXai(["eval", "--model", tinyDistilBert, "--input", sentences] + arguments)
      XCTAssertEqual(result.status, 64, "\(arguments): \(result.stderr)")
      XCTAssertTrue(result.stderr.contains(sentence), "\(arguments): \(result.stderr)")
    }
    for (model, input) in [("graphnet-ba", graphs), (GenerateCommandTests.llama, try sentences)] {
      let words = try runXai(["eval", "--model", model, "--input", input, "--method", "lime", "--units", "words"])
      XCTAssertEqual(words.status, 64, words.stderr)
    }
    let graph = try runXai(["eval", "--model", "graphnet-ba", "--input", graphs, "--method", "lrp"])
    XCTAssertEqual(graph.status, 64, graph.stderr)
    XCTAssertTrue(graph.stderr.contains("perturbation methods"), graph.stderr)
  }

  func testReportAndGraphDrawNodeRelevanceForNodeMethods() throws {
    let page = scratch.file("nodes.html")
    let report = try runXai([
      "report", "--model", "graphnet-ba", "--graph", graphs, "--index", "2", "--method", "shapley", "--samples",
      "8", "-o", page,
    ])
    XCTAssertEqual(report.status, 0, report.stderr)
    let html = try String(contentsOfFile: page, encoding: .utf8)
    XCTAssertTrue(html.contains("Shapley values over the nodes"), html)
    XCTAssertTrue(html.contains("model evaluations") && html.contains("efficiency"), "cost and efficiency")
    XCTAssertEqual(html.components(separatedBy: "<circle").count - 1, 25, "every node drawn")
    // `xai graph --html` is the same pipeline and page.
    let viaGraph = scratch.file("graph.html")
    let graph = try runXai([
      "graph", "--model", "graphnet-ba", "--graph", graphs, "--index", "2", "--method", "shapley", "--samples", "8",
      "--html", viaGraph, "--format", "json",
    ])
    XCTAssertEqual(graph.status, 0, graph.stderr)
    XCTAssertEqual(try String(contentsOfFile: viaGraph, encoding: .utf8), html)
    let ablation = try runXai([
      "report", "--model", "gcn-solubility", "--graph", checkout.appendingPathComponent("samples/data/solubility_test.sdf").path,
      "--method", "feature-ablation", "-o", scratch.file("molecule.html"),
    ])
    XCTAssertEqual(ablation.status, 0, ablation.stderr)
    for (arguments, sentence) in [
      (["--method", "lrp"], "explains transformers"),
      (["--method", "occlusion", "--method", "lime"], "one --method"),
      (["--method", "lime", "--units", "words"], "a graph's units are its nodes"),
    ] as [([String], String)] {
      let refused = try runXai(
        ["report", "--model", "graphnet-ba", "--graph", graphs, "-o", scratch.file("x.html")] + arguments)
      XCTAssertEqual(refused.status, 64, "\(arguments): \(refused.stderr)")
      XCTAssertTrue(refused.stderr.contains(sentence), "\(arguments): \(refused.stderr)")
    }
  }

  func testBatchAndReportOfImagesTakeThePerturbationMethods() throws {
    let digit = checkout.appendingPathComponent("samples/data/digits/3-0045.png").path
    let images = try scratch.write("{\"image\": \"\(digit)\", \"label\": \"3\"}\n", to: "images.jsonl")
    let output = scratch.file("images.jsonl.out")
    let batch = try runXai([
      "batch", "--model", "vit-digits", "--input", images, "--method", "occlusion", "--window", "4", "--stride", "4",
      "--output", output, "--quiet",
    ])
    XCTAssertEqual(batch.status, 0, batch.stderr)
    let line = try JSONDocument.parse(
      try String(contentsOfFile: output, encoding: .utf8).trimmingCharacters(in: .newlines), source: "line"
    ).rootNode
    XCTAssertEqual(line["perturbation"]?["evaluations"]?.int, 6)
    XCTAssertEqual(line["perturbation"]?["units"]?.string, "patches")
    let page = scratch.file("digit.html")
    let report = try runXai([
      "report", "--model", "vit-digits", "--image", digit, "--method", "lime", "--method", "lrp", "--samples", "8",
      "-o", page,
    ])
    XCTAssertEqual(report.status, 0, report.stderr)
    XCTAssertTrue(try String(contentsOfFile: page, encoding: .utf8).contains("10 evaluations</span>"), "8 samples, the image and the black image")
    let words = try runXai([
      "batch", "--model", "vit-digits", "--input", images, "--method", "lime", "--units", "words", "--output",
      scratch.file("words.jsonl"),
    ])
    XCTAssertEqual(words.status, 64, words.stderr)
  }

  func testBatchOfPromptsWritesExplainsObjectForAPerturbationMethod() throws {
    let prompts = try scratch.write(
      "{\"prompt\": \"the cat sat on\", \"id\": \"a\"}\n{\"prompt\": \"a dog ran\", \"target\": \" a\"}\n",
      to: "prompts.jsonl")
    let output = scratch.file("out.jsonl")
    let batch = try runXai([
      "batch", "--model", GenerateCommandTests.llama, "--input", prompts, "--method", "kernel-shap", "--samples",
      "12", "--seed", "4", "--output", output, "--quiet",
    ])
    XCTAssertEqual(batch.status, 0, batch.stderr)
    let lines = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n").map(String.init)
    XCTAssertEqual(lines.count, 2)
    let records: [(prompt: String, target: String?)] = [("the cat sat on", nil), ("a dog ran", " a")]
    for (index, line) in lines.enumerated() {
      let (prompt, target) = records[index]
      var arguments = [
        "explain", "--model", GenerateCommandTests.llama, "--threads", "1", "--format", "json", "--method",
        "kernel-shap", "--samples", "12", "--seed", "4",
      ]
      if let target { arguments += ["--target", target] }
      let alone = try runXai(arguments + [prompt])
      XCTAssertEqual(alone.status, 0, alone.stderr)
      let id = index == 0 ? "a" : "1"
      let prefix = "{\"index\": \(index), \"id\": \"\(id)\", "
      XCTAssertTrue(line.hasPrefix(prefix), line)
      XCTAssertEqual("{" + line.dropFirst(prefix.count), alone.stdout.trimmingCharacters(in: .newlines))
      XCTAssertTrue(line.contains("\"evaluations\""), line)
    }
  }
}
