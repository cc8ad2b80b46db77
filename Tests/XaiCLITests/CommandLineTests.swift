import Foundation
import Models
import XCTest

/// Runs the built `xai` binary and captures what it prints.
struct CommandResult {
  let status: Int32
  let stdout: String
  let stderr: String
}

/// The `xai` executable next to the test bundle.
func xaiBinary() -> URL {
  URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    .appendingPathComponent("xai")
}

/// Runs `xai` with `arguments`, `environment` added to the current one.
func runXai(
  _ arguments: [String], environment: [String: String] = [:], stdin: String? = nil
) throws -> CommandResult {
  let process = Process()
  process.executableURL = xaiBinary()
  process.arguments = arguments
  process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
  return try capture(process, stdin: stdin)
}

/// Runs `script` with bash, `$0` being the `xai` binary and `$1`… `arguments`: for what
/// `Process` cannot say (pipes, resource limits, raw bytes on the command line).
func runXaiInShell(_ script: String, _ arguments: [String] = []) throws -> CommandResult {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: "/bin/bash")
  process.arguments = ["-c", script, xaiBinary().path] + arguments
  return try capture(process, stdin: nil)
}

/// Runs `process` with `stdin` (or an empty, closed input) and collects what it prints.
private func capture(_ process: Process, stdin: String?) throws -> CommandResult {
  let out = Pipe()
  let err = Pipe()
  let input = Pipe()
  process.standardOutput = out
  process.standardError = err
  process.standardInput = input
  try process.run()
  if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
  try input.fileHandleForWriting.close()
  let outData = out.fileHandleForReading.readDataToEndOfFile()
  let errData = err.fileHandleForReading.readDataToEndOfFile()
  process.waitUntilExit()
  return CommandResult(
    status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
    stderr: String(decoding: errData, as: UTF8.self))
}

final class CommandLineTests: XCTestCase {
  func testVersionPrintsTheVersionAndExitsZero() throws {
    let result = try runXai(["--version"])
    XCTAssertEqual(result.status, 0)
    XCTAssertEqual(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "0.1.0")
  }

  /// A single explanation runs on OpenBLAS and never loads oneDNN (opened on first use,
  /// Sources/CDNNL/loader.c); forcing oneDNN loads it, so the check can fail.
  func testASingleExplanationNeverLoadsOneDNN() throws {
    let single = try runXai(["explain", "A fine film."], environment: ["LD_DEBUG": "files"])
    XCTAssertEqual(single.status, 0, single.stderr)
    XCTAssertFalse(single.stderr.contains("libdnnl"), "oneDNN was loaded for one explanation")
    let forced = try runXai(
      ["explain", "A fine film."], environment: ["LD_DEBUG": "files", "XAI_GEMM": "onednn"])
    XCTAssertEqual(forced.status, 0, forced.stderr)
    XCTAssertTrue(forced.stderr.contains("libdnnl"), "XAI_GEMM=onednn runs its products on oneDNN")
  }

  func testHelpDescribesTheTool() throws {
    let result = try runXai(["--help"])
    XCTAssertEqual(result.status, 0)
    XCTAssertTrue(result.stdout.contains("Explain transformer and graph neural network"))
  }

  func testUnknownOptionIsAUsageErrorWithExitCode64() throws {
    let result = try runXai(["--no-such-option"])
    XCTAssertEqual(result.status, 64)
    XCTAssertFalse(result.stderr.isEmpty)
  }
}

final class ModelsCommandTests: XCTestCase {
  private var fixtures: String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("ModelsTests/Fixtures").path
  }

  func testModelsListsTheSampleModelAsDefaultWithItsAccuracy() throws {
    let result = try runXai(["models"])
    XCTAssertEqual(result.status, 0, result.stderr)
    let line = try XCTUnwrap(
      result.stdout.split(separator: "\n").first { $0.contains("minilm-rt-sentiment") })
    XCTAssertTrue(line.contains("(default)"))
    XCTAssertTrue(line.contains("distilbert"))
    XCTAssertTrue(line.contains("negative,positive"))
    XCTAssertNotNil(line.range(of: #"0\.[89]\d\d"#, options: .regularExpression), String(line))
  }

  func testModelsListsModelsOfAFolderGivenOnTheCommandLine() throws {
    let result = try runXai(["models", fixtures])
    XCTAssertEqual(result.status, 0, result.stderr)
    XCTAssertTrue(result.stdout.contains("tiny-bert"))
    XCTAssertTrue(result.stdout.contains("negative,neutral,positive"))
  }

  func testMissingFolderIsExitCode66WithOneSentence() throws {
    let result = try runXai(["models", "/no/such/folder"])
    XCTAssertEqual(result.status, 66)
    XCTAssertEqual(result.stderr.split(separator: "\n").count, 1)
    XCTAssertTrue(result.stderr.contains("/no/such/folder"))
  }
}

final class ExplainCommandTests: XCTestCase {
  private var tinyModel: String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("ModelsTests/Fixtures/tiny-distilbert.json").path
  }

  func testDefaultModelExplainsASentenceAsPlainTextWhenNotATerminal() throws {
    let result = try runXai(["explain", "This was one of the best movies I have ever seen."])
    XCTAssertEqual(result.status, 0, result.stderr)
    XCTAssertTrue(result.stdout.contains("minilm-rt-sentiment · predicted positive"), result.stdout)
    XCTAssertTrue(result.stdout.contains("method lrp"))
    XCTAssertFalse(result.stdout.contains("\u{1B}"))
    XCTAssertTrue(result.stdout.contains("conservation"))
  }

  func testJSONFormatAnswersEveryStdinLineAndReportsTheBlankOne() throws {
    let result = try runXai(
      ["explain", "--model", tinyModel, "--format", "json", "--method", "gradxinput", "-"],
      stdin: "the movie was good\n\ngreat film\n")
    XCTAssertEqual(result.status, 65, "the blank line failed")
    let lines = result.stdout.split(separator: "\n")
    XCTAssertEqual(lines.count, 3)
    XCTAssertTrue(lines[0].hasPrefix("{\"model\": \"tiny-distilbert\", \"method\": \"gradxinput\""))
    XCTAssertTrue(lines[1].hasPrefix("{\"line\": 2, \"error\""), String(lines[1]))
    XCTAssertTrue(lines[2].hasPrefix("{\"model\": \"tiny-distilbert\""))
    XCTAssertTrue(result.stderr.contains("line 2"), result.stderr)
  }

  func testStandardInputIsAnsweredLineByLineAsItArrives() throws {
    let process = Process()
    process.executableURL = xaiBinary()
    process.arguments = ["explain", "--model", tinyModel, "--format", "json", "-"]
    let input = Pipe()
    let output = Pipe()
    process.standardInput = input
    process.standardOutput = output
    process.standardError = Pipe()
    try process.run()
    input.fileHandleForWriting.write(Data("great film\n".utf8))
    var received = Data()
    let deadline = Date().addingTimeInterval(20)
    while !received.contains(10) && Date() < deadline {
      received.append(output.fileHandleForReading.availableData)
    }
    XCTAssertTrue(
      String(decoding: received, as: UTF8.self).contains("\"text\": \"great film\""), "answered before EOF")
    try input.fileHandleForWriting.close()
    process.waitUntilExit()
    XCTAssertEqual(process.terminationStatus, 0)
  }

  func testEveryMethodRunsFromTheCommandLine() throws {
    for method in ["lrp", "attnlrp", "gradxinput", "gradient", "integrated-gradients"] {
      let result = try runXai(["explain", "--model", tinyModel, "--method", method, "--words", "not good"])
      XCTAssertEqual(result.status, 0, "\(method): \(result.stderr)")
      XCTAssertTrue(result.stdout.contains("method \(method)"))
    }
    let detached = try runXai(["explain", "--model", tinyModel, "--detach", "gelu,layernorm", "not good"])
    XCTAssertTrue(detached.stdout.contains("gradxinput + detach layernorm,gelu"), detached.stdout)
  }

  func testBadOptionsAreUsageErrorsAndBadInputIsExit65() throws {
    XCTAssertEqual(try runXai(["explain", "--method", "magic", "x"]).status, 64)
    XCTAssertEqual(try runXai(["explain", "--detach", "softmax", "x"]).status, 64)
    XCTAssertEqual(try runXai(["explain", "--method", "gradient", "--detach", "gelu", "x"]).status, 64)
    let empty = try runXai(["explain", "--model", tinyModel, "  "])
    XCTAssertEqual(empty.status, 65)
    XCTAssertEqual(empty.stderr.split(separator: "\n").count, 1)
    let badTarget = try runXai(["explain", "--model", tinyModel, "--target", "9", "good"])
    XCTAssertEqual(badTarget.status, 65)
    XCTAssertTrue(badTarget.stderr.contains("Target class 9"))
    let missing = try runXai(["explain", "--model", "/no/model", "good"])
    XCTAssertEqual(missing.status, 66)
  }

  func testAModelOfAnotherKindIsNamedAndTheCommandThatReadsItAdvised() throws {
    let graphs = checkout.appendingPathComponent("samples/data/ba_graphs.jsonl").path
    let cases: [([String], String, String)] = [
      (
        ["explain", "--model", "graphnet-ba", "good"],
        "holds a graph network (graphnet), not a text classifier", "xai graph"
      ),
      (
        ["graph", "--model", "minilm-rt-sentiment", "--graph", graphs],
        "holds a text classifier (distilbert), not a graph network", "xai explain"
      ),
    ]
    for (arguments, fact, advice) in cases {
      let result = try runXai(arguments)
      XCTAssertEqual(result.status, 65, result.stderr)
      XCTAssertTrue(result.stderr.contains(fact), result.stderr)
      XCTAssertTrue(result.stderr.contains(advice), result.stderr)
      XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, result.stderr)
    }
  }

  func testAnOutputThatCannotBeCreatedIsExit73() throws {
    let result = try runXai(["report", "--model", tinyModel, "-o", "/proc/xai-report.html", "good"])
    XCTAssertEqual(result.status, 73, result.stderr)
    XCTAssertTrue(result.stderr.contains("/proc/xai-report.html"), result.stderr)
  }

  func testInvalidUTF8OnStdinIsExit65NamingTheLine() throws {
    let process = Process()
    process.executableURL = xaiBinary()
    process.arguments = ["explain", "--model", tinyModel, "--format", "json", "-"]
    let input = Pipe()
    let err = Pipe()
    process.standardInput = input
    process.standardError = err
    process.standardOutput = Pipe()
    try process.run()
    input.fileHandleForWriting.write(Data([0x67, 0x6F, 0x6F, 0x64, 0x0A, 0xFF, 0xFE, 0x0A]))
    try input.fileHandleForWriting.close()
    let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    XCTAssertEqual(process.terminationStatus, 65)
    XCTAssertTrue(message.contains("line 2"), message)
  }

  func testOverlongTextIsTruncatedWithAWarning() throws {
    let text = String(repeating: "good ", count: 60)
    let result = try runXai(["explain", "--model", tinyModel, "--format", "json", text])
    XCTAssertEqual(result.status, 0, result.stderr)
    XCTAssertTrue(result.stderr.contains("truncated"))
    XCTAssertTrue(result.stdout.contains("\"truncated\": true"))
  }
}

final class GraphCommandTests: XCTestCase {
  private let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()

  private func sample(_ name: String) -> String {
    repository.appendingPathComponent("samples/data/\(name)").path
  }

  func testGraphExplainsABarabasiAlbertGraphInTheTerminal() throws {
    let result = try runXai(["graph", "--graph", sample("ba_graphs.jsonl"), "--index", "1", "--top", "5"])
    XCTAssertEqual(result.status, 0, result.stderr)
    XCTAssertTrue(result.stdout.contains("graphnet-ba · graph"))
    XCTAssertTrue(result.stdout.contains("top 5 of"))
    XCTAssertTrue(result.stdout.contains("conservation: Σ walks ="))
    XCTAssertEqual(result.stdout.split(separator: "\n").filter { $0.contains("█") }.count, 5)
  }

  func testGraphExplainsAMoleculeAsJSONWithAtomLabels() throws {
    let result = try runXai([
      "graph", "--model", "gcn-solubility", "--graph", sample("solubility_test.sdf"), "--index", "2",
      "--gamma", "0.1", "--top", "4", "--format", "json",
    ])
    XCTAssertEqual(result.status, 0, result.stderr)
    let root = try JSONDocument.parse(result.stdout, source: "stdout").rootNode
    XCTAssertEqual(root["method"]?.string, "gnn-lrp")
    XCTAssertEqual(root["walks"]?.count, 4)
    XCTAssertEqual(root["walks"]?.elements.first?["nodes"]?.count, 4, "3 layers: 4 nodes per walk")
    XCTAssertEqual(root["node_relevance"]?.count, root["num_nodes"]?.int)
    let terminal = try runXai([
      "graph", "--model", "gcn-solubility", "--graph", sample("solubility_test.sdf"),
    ])
    XCTAssertTrue(terminal.stdout.contains(":C"), terminal.stdout)
  }

  func testBadGraphsAndGammasGiveClearErrors() throws {
    let bad = FileManager.default.temporaryDirectory.appendingPathComponent("xai-bad-graph.json").path
    try "{\"num_nodes\": 25, \"edges\": [[0, 30]]}".write(toFile: bad, atomically: true, encoding: .utf8)
    let result = try runXai(["graph", "--graph", bad])
    XCTAssertEqual(result.status, 65)
    XCTAssertTrue(result.stderr.contains("edge 0"), result.stderr)
    XCTAssertEqual(try runXai(["graph", "--graph", "/no/graph.json"]).status, 66)
    XCTAssertEqual(try runXai(["graph", "--graph", sample("ba_graphs.jsonl"), "--gamma", "x"]).status, 64)
    let count = try runXai(["graph", "--graph", sample("ba_graphs.jsonl"), "--gamma", "0,1"])
    XCTAssertEqual(count.status, 64, "an option that does not fit the model is a usage error")
    XCTAssertTrue(count.stderr.contains("one value or 4"), count.stderr)
    XCTAssertEqual(try runXai(["graph", "--graph", sample("ba_graphs.jsonl"), "--index", "99"]).status, 65)
    let narrow = FileManager.default.temporaryDirectory.appendingPathComponent("xai-narrow-graph.json").path
    try "{\"num_nodes\": 2, \"edges\": [[0, 1]], \"features\": [[1, 0], [0, 1]]}"
      .write(toFile: narrow, atomically: true, encoding: .utf8)
    let width = try runXai(["graph", "--model", "gcn-solubility", "--graph", narrow])
    XCTAssertEqual(width.status, 65)
    XCTAssertTrue(width.stderr.contains("width 2; the model expects 10"), width.stderr)
    let identity = try runXai(["graph", "--graph", narrow])
    XCTAssertEqual(identity.status, 65)
    XCTAssertTrue(identity.stderr.contains("25 nodes; the graph has 2"), identity.stderr)
  }
}

final class ReportCommandTests: XCTestCase {
  private let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()

  private func temporary(_ name: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("xai-\(UUID().uuidString)-\(name)").path
  }

  func testReportWritesASentencePageWithEveryRequestedMethod() throws {
    let output = temporary("sentence.html")
    let model = repository.appendingPathComponent("Tests/ModelsTests/Fixtures/tiny-bert.json").path
    let result = try runXai([
      "report", "--model", model, "--method", "lrp", "--method", "gradient", "-o", output, "the <b>movie</b>",
    ])
    XCTAssertEqual(result.status, 0, result.stderr)
    let html = try String(contentsOfFile: output, encoding: .utf8)
    XCTAssertTrue(html.hasPrefix("<!DOCTYPE html>"))
    XCTAssertTrue(html.contains(">lrp<br>"))
    XCTAssertTrue(html.contains(">gradient<br>"))
    XCTAssertTrue(html.contains("the &lt;b&gt;movie&lt;/b&gt;"))
  }

  func testGraphAndExplainWriteHTMLNextToTheirNormalOutput() throws {
    let graphPage = temporary("graph.html")
    let graph = try runXai([
      "graph", "--graph", repository.appendingPathComponent("samples/data/ba_graphs.jsonl").path, "--html",
      graphPage,
    ])
    XCTAssertEqual(graph.status, 0, graph.stderr)
    XCTAssertTrue(graph.stdout.contains("conservation"))
    XCTAssertTrue(try String(contentsOfFile: graphPage, encoding: .utf8).contains("<path class=\"walk\""))
    let textPage = temporary("text.html")
    let model = repository.appendingPathComponent("Tests/ModelsTests/Fixtures/tiny-distilbert.json").path
    let explain = try runXai(["explain", "--model", model, "--html", textPage, "great film"])
    XCTAssertEqual(explain.status, 0, explain.stderr)
    XCTAssertTrue(FileManager.default.fileExists(atPath: textPage))
  }

  func testDatasetReportFromJSONLAndCSV() throws {
    let model = repository.appendingPathComponent("Tests/ModelsTests/Fixtures/tiny-distilbert.json").path
    let csv = temporary("data.csv")
    try
      "id,text,label\n1,\"the movie, was good\",positive\n2,a bad film,negative\n3,\"it is \"\"boring\"\"\",negative\n"
      .write(toFile: csv, atomically: true, encoding: .utf8)
    let output = temporary("data.html")
    let result = try runXai([
      "report", "--model", model, "--method", "gradxinput", "--input", csv, "-o", output,
    ])
    XCTAssertEqual(result.status, 0, result.stderr)
    let html = try String(contentsOfFile: output, encoding: .utf8)
    XCTAssertTrue(html.contains("(3 examples)"))
    XCTAssertTrue(html.contains("accuracy"))
    let jsonl = try runXai([
      "report", "--model", model, "--input",
      repository.appendingPathComponent("samples/data/rotten_tomatoes_test.jsonl").path,
      "--limit", "5", "--method", "lrp", "-o", output,
    ])
    XCTAssertEqual(jsonl.status, 0, jsonl.stderr)
  }

  func testReportNeedsExactlyOneInput() throws {
    XCTAssertEqual(try runXai(["report", "-o", temporary("x.html")]).status, 64)
    XCTAssertEqual(try runXai(["report", "--graph", "g.json", "-o", temporary("x.html"), "text"]).status, 64)
  }
}
