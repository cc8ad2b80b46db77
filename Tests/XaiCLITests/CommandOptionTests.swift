import Foundation
import Models
import XCTest

/// Command-line options: typed values, refusals instead of silent
/// ignoring, the installed binary finding its models from any folder.
final class CommandOptionTests: XCTestCase {
  private let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()
  private var tinyDistilBert: String {
    repository.appendingPathComponent("Tests/ModelsTests/Fixtures/tiny-distilbert.json").path
  }
  private var baGraphs: String { repository.appendingPathComponent("samples/data/ba_graphs.jsonl").path }

  func testNegativeNumbersAreRefusedAsUsageErrorsNamingTheOption() throws {
    let cases: [([String], String)] = [
      (["explain", "--model", tinyDistilBert, "--target", "-1", "good"], "--target must be ≥ 0"),
      (["graph", "--graph", baGraphs, "--top", "-3"], "--top must be ≥ 0"),
      (["graph", "--graph", baGraphs, "--gamma", "-1"], "--gamma must be ≥ 0"),
      (["graph", "--graph", baGraphs, "--index", "-2"], "--index must be ≥ 0"),
      (["explain", "--steps", "-5", "good"], "--steps must be between 1 and 4096"),
    ]
    for (arguments, message) in cases {
      let result = try runXai(arguments)
      XCTAssertEqual(result.status, 64, "\(arguments): \(result.stderr)")
      XCTAssertTrue(result.stderr.contains(message), "\(arguments): \(result.stderr)")
      XCTAssertFalse(result.stderr.contains("Missing value"), result.stderr)
    }
  }

  func testDetachmentsThatCannotApplyAreRefused() throws {
    let withLRP = try runXai(["explain", "--method", "lrp", "--detach", "gelu", "good"])
    XCTAssertEqual(withLRP.status, 64)
    XCTAssertTrue(withLRP.stderr.contains("lrp already detaches"), withLRP.stderr)
    let tanh = try runXai(["explain", "--model", tinyDistilBert, "--detach", "tanh", "good"])
    XCTAssertEqual(tanh.status, 64)
    XCTAssertTrue(tanh.stderr.contains("tanh"), tanh.stderr)
    XCTAssertEqual(tanh.stderr.split(separator: "\n").count, 1, tanh.stderr)
  }

  func testJSONDetachListsOnlyOperationsTheModelHas() throws {
    let result = try runXai(["explain", "--model", tinyDistilBert, "--format", "json", "good"])
    XCTAssertEqual(result.status, 0, result.stderr)
    XCTAssertTrue(
      result.stdout.contains("\"detach\": [\"layernorm\", \"attention\", \"gelu\"]"), result.stdout)
    let bert = repository.appendingPathComponent("Tests/ModelsTests/Fixtures/tiny-bert.json").path
    let withPooler = try runXai(["explain", "--model", bert, "--format", "json", "good"])
    XCTAssertTrue(withPooler.stdout.contains("\"gelu\", \"tanh\"]"), withPooler.stdout)
  }

  func testExplainTakesOneMethodAndGraphHTMLDrawsNodeMethodsToo() throws {
    XCTAssertEqual(try runXai(["explain", "--method", "lrp", "--method", "gradient", "good"]).status, 64)
    let html = FileManager.default.temporaryDirectory.appendingPathComponent("xai-\(UUID()).html").path
    defer { try? FileManager.default.removeItem(atPath: html) }
    let result = try runXai(["graph", "--graph", baGraphs, "--method", "gradxinput", "--html", html])
    XCTAssertEqual(result.status, 0, result.stderr)
    let page = try String(contentsOfFile: html, encoding: .utf8)
    XCTAssertTrue(page.contains("Node relevance of a graph classifier") && page.contains("Gradient×Input over the nodes"), page)
  }

  func testGraphNodeGradientTimesInputPrintsEveryNodeAsJSON() throws {
    let result = try runXai(["graph", "--graph", baGraphs, "--method", "gradxinput", "--format", "json"])
    XCTAssertEqual(result.status, 0, result.stderr)
    let root = try JSONDocument.parse(result.stdout, source: "stdout").rootNode
    XCTAssertEqual(root["method"]?.string, "gradxinput")
    XCTAssertEqual(root["node_relevance"]?.count, root["num_nodes"]?.int)
  }

  func testReportOfAGraphIsTheSamePipelineAsGraph() throws {
    let page = FileManager.default.temporaryDirectory.appendingPathComponent("xai-\(UUID()).html").path
    let viaGraph = FileManager.default.temporaryDirectory.appendingPathComponent("xai-\(UUID()).html").path
    let report = try runXai(["report", "--graph", baGraphs, "--index", "2", "--gamma", "0.1", "-o", page])
    XCTAssertEqual(report.status, 0, report.stderr)
    let graph = try runXai([
      "graph", "--graph", baGraphs, "--index", "2", "--gamma", "0.1", "--html", viaGraph,
    ])
    XCTAssertEqual(graph.status, 0, graph.stderr)
    XCTAssertEqual(
      try String(contentsOfFile: page, encoding: .utf8), try String(contentsOfFile: viaGraph, encoding: .utf8)
    )
  }

  func testAnUnwritableOutputIsRefusedBeforeAnyWork() throws {
    let result = try runXai(["report", "-o", "/nonexistent/folder/x.html", "good"])
    XCTAssertEqual(result.status, 73, "EX_CANTCREAT")
    XCTAssertTrue(result.stderr.contains("/nonexistent/folder does not exist"), result.stderr)
    let folder = try runXai(["report", "-o", FileManager.default.temporaryDirectory.path, "good"])
    XCTAssertEqual(folder.status, 64, "a folder named as the output file is a usage error, as in batch")
    XCTAssertTrue(folder.stderr.contains("is a folder"), folder.stderr)
  }

  func testModelsGivenAModelFolderListsThatModel() throws {
    let folder = repository.appendingPathComponent("Tests/ModelsTests/Fixtures/tiny-sentence-transformer")
      .path
    let result = try runXai(["models", folder])
    XCTAssertEqual(result.status, 0, result.stderr)
    XCTAssertTrue(result.stdout.contains("tiny-sentence-transformer"), result.stdout)
  }

  func testAWeightFileWithUnreadTensorsWarnsNamingThem() throws {
    let original = try Data(contentsOf: URL(fileURLWithPath: tinyDistilBert))
    var root = try XCTUnwrap(JSONSerialization.jsonObject(with: original) as? [String: Any])
    var tensors = try XCTUnwrap(root["tensors"] as? [String: Any])
    tensors["bert.pooler.dense.bias"] = ["shape": [1], "data": [0]]
    root["tensors"] = tensors
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("xai-extra-\(UUID()).json")
    try JSONSerialization.data(withJSONObject: root).write(to: path)
    defer { try? FileManager.default.removeItem(at: path) }
    let result = try runXai(["explain", "--model", path.path, "good"])
    XCTAssertEqual(result.status, 0, result.stderr)
    XCTAssertTrue(result.stderr.contains("1 tensor(s) are never read"), result.stderr)
    XCTAssertTrue(result.stderr.contains("bert.pooler.dense.bias"), result.stderr)
  }

  func testTheInstalledBinaryFindsItsDefaultModelFromAnyFolderThroughPATH() throws {
    let prefix = FileManager.default.temporaryDirectory.appendingPathComponent("xai-prefix-\(UUID())")
    defer { try? FileManager.default.removeItem(at: prefix) }
    let install = Process()
    install.executableURL = URL(fileURLWithPath: "/bin/sh")
    install.arguments = [
      repository.appendingPathComponent("scripts/install.sh").path, xaiBinary().path, prefix.path,
    ]
    install.standardOutput = Pipe()
    try install.run()
    install.waitUntilExit()
    XCTAssertEqual(install.terminationStatus, 0)
    let elsewhere = FileManager.default.temporaryDirectory.appendingPathComponent("xai-cwd-\(UUID())")
    try FileManager.default.createDirectory(at: elsewhere, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: elsewhere) }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["xai", "explain", "--format", "json", "A wonderful film."]
    var environment = ProcessInfo.processInfo.environment
    environment["PATH"] = prefix.appendingPathComponent("bin").path + ":/usr/bin:/bin"
    environment["XAI_MODELS"] = nil
    process.environment = environment
    process.currentDirectoryURL = elsewhere
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    XCTAssertEqual(process.terminationStatus, 0, errors)
    XCTAssertTrue(output.contains("\"model\": \"minilm-rt-sentiment\""), output)
    let listing = Process()
    listing.executableURL = prefix.appendingPathComponent("bin/xai")
    listing.arguments = ["models"]
    listing.currentDirectoryURL = elsewhere
    listing.environment = environment
    let listed = Pipe()
    listing.standardOutput = listed
    try listing.run()
    let models = String(decoding: listed.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    listing.waitUntilExit()
    XCTAssertTrue(models.contains(prefix.appendingPathComponent("share/xai/models").path), models)
  }
}
