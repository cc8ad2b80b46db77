import Foundation
import Models
import XCTest

/// `xai batch` and `xai eval` with a language model (the tiny Llama GGUF of the fixtures,
/// which carries a byte-level tokenizer with a BOS) through the built binary.
final class LanguageDataCommandTests: XCTestCase {
  static let llama = GenerateCommandTests.llama
  private var scratch: ScratchFolder!

  override func setUpWithError() throws { scratch = try ScratchFolder(prefix: "xai-lm-data") }

  override func tearDown() { scratch.remove() }

  /// `count` prompts of different lengths; ids as text, as numbers or absent; some targets.
  private func prompts(_ count: Int) throws -> String {
    let words = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran", "to"]
    var lines: [String] = []
    for index in 0..<count {
      let length = 1 + (index * 5) % 11
      let prompt = (0..<length).map { words[($0 * 4 + index) % words.count] }.joined(separator: " ")
      var fields = ["\"prompt\": \"\(prompt)\""]
      switch index % 4 {
      case 0: fields.append("\"id\": \"p\(index)\"")
      case 1: fields += ["\"id\": \(1000 + index)", "\"target\": \" a\""]
      case 2: fields.append("\"target\": \"#\(index % 64)\"")
      default: break
      }
      lines.append("{" + fields.joined(separator: ", ") + "}")
    }
    return try scratch.write(lines.joined(separator: "\n") + "\n", to: "prompts.jsonl")
  }

  private func lines(_ path: String) throws -> [String] {
    try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
  }

  private func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

  func testEveryPromptAndMethodGivesExplainsObjectWithIndexAndId() throws {
    let data = try prompts(12)
    let output = scratch.file("out.jsonl")
    let result = try runXai([
      "batch", "--model", Self.llama, "--input", data, "--method", "lrp", "--method", "gradxinput", "--output",
      output,
    ])
    XCTAssertEqual(result.status, 0, result.stderr)
    XCTAssertTrue(result.stderr.contains("12 examples, 0 errors skipped"), result.stderr)
    let written = try lines(output)
    XCTAssertEqual(written.count, 24)
    let records = try lines(data).map { try JSONDocument.parse($0, source: "data").rootNode }
    for (number, line) in written.enumerated() {
      let row = try JSONDocument.parse(line, source: "out").rootNode
      let index = number / 2
      let method = number % 2 == 0 ? "lrp" : "gradxinput"
      XCTAssertEqual(row["index"]?.int, index)
      XCTAssertEqual(row["method"]?.string, method)
      let record = records[index]
      let id = record["id"]?.string ?? record["id"]?.int.map(String.init) ?? "\(index)"
      XCTAssertEqual(row["id"]?.string, id)
      // The line is `xai explain --format json`'s object, byte for byte, after index and id,
      // for explain on batch's thread layout: batch runs every product on one BLAS thread,
      // and the GEMM backend of a shape is measured per thread count (a fresh cache on a
      // loaded machine can choose differently for one and two threads).
      var arguments = ["explain", "--model", Self.llama, "--threads", "1", "--format", "json", "--method", method]
      if let target = record["target"]?.string { arguments += ["--target", target] }
      let alone = try runXai(arguments + [record["prompt"]!.string!])
      XCTAssertEqual(alone.status, 0, alone.stderr)
      let prefix = "{\"index\": \(index), \"id\": \(JSONOutputText.quoted(id)), "
      XCTAssertTrue(line.hasPrefix(prefix), line)
      XCTAssertEqual("{" + line.dropFirst(prefix.count), alone.stdout.trimmingCharacters(in: .newlines), "line \(number)")
      if let target = record["target"]?.string, target.hasPrefix("#") {
        XCTAssertEqual(row["steps"]?.elements.first?["token_ids"]?.elements.first?.int, Int(target.dropFirst()))
      }
    }
  }

  func testOneAndTwoWorkersWriteIdenticalFilesAndShardsMergeIntoOneRun() throws {
    let data = try prompts(300)
    let arguments = ["batch", "--model", Self.llama, "--input", data, "--method", "lrp", "--method", "attnlrp", "--quiet"]
    for workers in ["1", "2"] {
      let result = try runXai(
        arguments + ["--workers", workers, "--threads", "2", "--output", scratch.file("w\(workers).jsonl")])
      XCTAssertEqual(result.status, 0, result.stderr)
    }
    let whole = try bytes(scratch.file("w1.jsonl"))
    XCTAssertEqual(try lines(scratch.file("w1.jsonl")).count, 600)
    XCTAssertEqual(try bytes(scratch.file("w2.jsonl")), whole)
    var shards: [String] = []
    for index in 0..<3 {
      let shard = scratch.file("shard-\(index).jsonl")
      let result = try runXai(arguments + ["--output", shard, "--shard", "\(index)/3"])
      XCTAssertEqual(result.status, 0, result.stderr)
      shards.append(shard)
    }
    XCTAssertEqual(try lines(shards[2]).count, 2 * (300 - 2 * 128), "shard 2 holds the third window")
    let merged = scratch.file("merged.jsonl")
    let merge = try runXai(["merge", merged] + shards.reversed())
    XCTAssertEqual(merge.status, 0, merge.stderr)
    XCTAssertEqual(try bytes(merged), whole)
  }

  func testResumeFromAnyCutGivesTheUninterruptedFile() throws {
    let data = try prompts(140)
    let arguments = ["batch", "--model", Self.llama, "--input", data, "--method", "lrp", "--method", "gradxinput"]
    let whole = scratch.file("whole.jsonl")
    XCTAssertEqual(try runXai(arguments + ["--output", whole, "--quiet"]).status, 0)
    let expected = try bytes(whole)
    let wholeLines = expected.split(separator: 10, omittingEmptySubsequences: false)
    for keep in [0, 1, 2, 131, 255, 256, 257, 279] {
      let output = scratch.file("cut-\(keep).jsonl")
      var prefix = Data(wholeLines.prefix(keep).joined(separator: [10]))
      if keep > 0 { prefix.append(10) }
      prefix.append(contentsOf: Array(wholeLines[keep].prefix(23)))
      try prefix.write(to: URL(fileURLWithPath: output))
      let resumed = try runXai(arguments + ["--output", output, "--resume", "--quiet"])
      XCTAssertEqual(resumed.status, 0, resumed.stderr)
      XCTAssertEqual(try bytes(output), expected, "cut after \(keep) lines")
    }
    let otherMethods = try runXai(
      ["batch", "--model", Self.llama, "--input", data, "--method", "attnlrp", "--output", whole, "--resume"])
    XCTAssertEqual(otherMethods.status, 64, otherMethods.stderr)
  }

  func testBadLinesNameFileAndLineAndAreSkippedWithSkipInvalid() throws {
    let data = try scratch.write(
      """
      {"prompt": "the cat sat", "id": "ok"}
      {"id": "no prompt", "text": "the cat"}
      {"prompt": "the cat", "target": "the cat sat"}
      {"prompt": "   "}
      {"prompt": "the dog", "target": 7}
      {"prompt": "on a mat", "target": "#99"}
      {"prompt": "the mat", "id": "last"}

      """, to: "bad.jsonl")
    let output = scratch.file("out.jsonl")
    let stopped = try runXai(["batch", "--model", Self.llama, "--input", data, "--output", output])
    XCTAssertEqual(stopped.status, 65, stopped.stderr)
    XCTAssertTrue(stopped.stderr.contains("bad.jsonl line 2: no field 'prompt'"), stopped.stderr)
    XCTAssertEqual(try lines(output).count, 1, "the line before the unreadable one is written")
    let skipped = try runXai([
      "batch", "--model", Self.llama, "--input", data, "--output", scratch.file("skip.jsonl"), "--skip-invalid",
      "--errors", scratch.file("errors.jsonl"),
    ])
    XCTAssertEqual(skipped.status, 0, skipped.stderr)
    XCTAssertEqual(
      try lines(scratch.file("skip.jsonl")).map { try JSONDocument.parse($0, source: "o").rootNode["id"]!.string! },
      ["ok", "last"])
    for (line, fragment) in [
      (2, "no field 'prompt'"), (3, "is 7 tokens"), (4, "the prompt is empty"), (5, "'target' must be a string"),
      (6, "outside the vocabulary of 64"),
    ] {
      XCTAssertTrue(skipped.stderr.contains("bad.jsonl line \(line)"), "line \(line): \(skipped.stderr)")
      XCTAssertTrue(skipped.stderr.contains(fragment), "\(fragment): \(skipped.stderr)")
    }
    XCTAssertEqual(try lines(scratch.file("errors.jsonl")).count, 5)
    for (arguments, fragment) in [
      (["--method", "gradient"], "not available for language models"),
      (["--target", "a"], "'target' field"),
      (["--detach", "gelu", "--method", "gradxinput"], "--detach"),
      (["--report", scratch.file("r.html")], "--report"),
      (["--label-field", "y"], "--label-field"),
    ] {
      let refused = try runXai(
        ["batch", "--model", Self.llama, "--input", data, "--output", scratch.file("r-\(UUID()).jsonl")] + arguments)
      XCTAssertEqual(refused.status, 64, "\(arguments): \(refused.stderr)")
      XCTAssertTrue(refused.stderr.contains(fragment), "\(arguments): \(refused.stderr)")
    }
    let chat = try runXai(
      ["batch", "--model", Self.llama, "--input", data, "--output", scratch.file("chat.jsonl"), "--chat"])
    XCTAssertEqual(chat.status, 65, chat.stderr)
    XCTAssertTrue(chat.stderr.contains("no chat template"), chat.stderr)
    XCTAssertEqual(chat.stderr.components(separatedBy: "\n").filter { !$0.isEmpty }.count, 1, "said once")
  }

  func testEvalWritesNextTokenCurvesTableAndPage() throws {
    let data = try prompts(6)
    let result = try runXai([
      "eval", "--model", Self.llama, "--input", data, "--method", "lrp", "--method", "attnlrp",
      "--output", scratch.file("curves.json"), "--html", scratch.file("eval.html"), "--quiet", "--workers", "2",
    ])
    XCTAssertEqual(result.status, 0, result.stderr)
    for row in ["LRP (detachment)", "AttnLRP", "Random (mean of 5 orders)", "Attention (last position, last layer)"] {
      XCTAssertTrue(result.stdout.contains(row), "missing \(row) in\n\(result.stdout)")
    }
    XCTAssertTrue(result.stdout.contains("log p(y)") && result.stdout.contains("<|end_of_text|>"), result.stdout)
    let json = try JSONDocument.read(scratch.file("curves.json")).rootNode
    XCTAssertEqual(json["units"]?.string, "prompt tokens")
    XCTAssertEqual(json["replacement_token"]?.string, "<|end_of_text|>")
    XCTAssertEqual(json["examples"]?.int, 6)
    XCTAssertEqual(json["labelled_examples"]?.int, 3, "prompts 1, 2, 5 name a target")
    XCTAssertEqual(json["tracked_class"]?.string, "target or prediction")
    let classes = json["example_class"]!.elements.compactMap(\.int)
    XCTAssertEqual(classes[2], 2, "a target #id is tracked")
    let rankings = try XCTUnwrap(json["rankings"]?.elements)
    XCTAssertEqual(rankings.compactMap { $0["name"]?.string }, ["lrp", "attnlrp", "random", "attention"])
    // Every curve starts at the unperturbed prompt and the MoRF and LeRF curves meet when
    // every prompt token is replaced (means over the same examples).
    let morf = rankings.map { $0["curves"]!["most_relevant_first"]!.elements.compactMap(\.double) }
    let lerf = rankings.map { $0["curves"]!["least_relevant_first"]!.elements.compactMap(\.double) }
    for r in rankings.indices {
      XCTAssertEqual(morf[r][0], morf[0][0], accuracy: 1e-5)
      XCTAssertEqual(lerf[r][0], morf[0][0], accuracy: 1e-5)
      XCTAssertEqual(morf[r][10], lerf[r][10], accuracy: 1e-5)
      XCTAssertEqual(morf[r][10], morf[0][10], accuracy: 1e-5)
    }
    let page = try String(contentsOfFile: scratch.file("eval.html"), encoding: .utf8)
    XCTAssertEqual(page.components(separatedBy: "<svg").count - 1, 6 + 2, "the protocols' and the cost charts")
    XCTAssertTrue(page.contains("log p(y)") && page.contains("&lt;|end_of_text|&gt;"), "escaped replacement token")
    let redrawn = try runXai(["eval", "--from", scratch.file("curves.json"), "--html", scratch.file("again.html"), "--quiet"])
    XCTAssertEqual(redrawn.status, 0, redrawn.stderr)
    XCTAssertEqual(redrawn.stdout, result.stdout, "the saved run draws the same table")
    XCTAssertEqual(try String(contentsOfFile: scratch.file("again.html"), encoding: .utf8), page)
  }

  func testEvalIsTheSameForAnyWorkerCountAndSeedAndTakesAReplacementToken() throws {
    let data = try prompts(5)
    func run(_ extra: [String]) throws -> String {
      let output = scratch.file("eval-\(UUID()).json")
      let result = try runXai(
        ["eval", "--model", Self.llama, "--input", data, "--method", "gradxinput", "--output", output, "--quiet"]
          + extra)
      XCTAssertEqual(result.status, 0, result.stderr)
      // Everything but the wall times (the run's, and each method's per explanation).
      return try String(contentsOfFile: output, encoding: .utf8).replacingOccurrences(
        of: #""seconds": [^,]*,"#, with: "", options: .regularExpression
      ).replacingOccurrences(of: #""ms_per_explanation": [^}]*"#, with: "", options: .regularExpression)
    }
    let one = try run(["--workers", "1", "--seed", "3"])
    XCTAssertEqual(try run(["--workers", "2", "--seed", "3"]), one)
    XCTAssertNotEqual(try run(["--workers", "2", "--seed", "4"]), one)
    let replaced = try run(["--replacement", "#2", "--seed", "3"])
    XCTAssertTrue(replaced.contains("\"replacement_token\": \" \""), replaced)
    XCTAssertNotEqual(replaced, one)
    let bad = try runXai(["eval", "--model", Self.llama, "--input", data, "--replacement", "the cat"])
    XCTAssertEqual(bad.status, 65, bad.stderr)
    XCTAssertTrue(bad.stderr.contains("--replacement 'the cat' is"), bad.stderr)
    let classifier = try runXai(["eval", "--model", tinyDistilBert, "--input", data, "--replacement", "#2"])
    XCTAssertEqual(classifier.status, 64, classifier.stderr)
  }
}

/// JSON string literals as xai writes them (for building expected line prefixes).
enum JSONOutputText {
  static func quoted(_ text: String) -> String {
    "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
  }
}
