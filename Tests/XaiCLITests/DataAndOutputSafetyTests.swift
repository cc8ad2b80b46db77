import Foundation
import Models
import XCTest

/// Data sets, saved outputs and resumed runs under hostile input, each through
/// the built binary: exit code, one sentence, and nothing already written lost.
final class DataAndOutputSafetyTests: XCTestCase {
  private var scratch: ScratchFolder!

  override func setUpWithError() throws { scratch = try ScratchFolder(prefix: "xai-walk") }

  override func tearDown() { scratch.remove() }

  private func sample(_ name: String) -> String {
    checkout.appendingPathComponent("samples/data/\(name)").path
  }

  private func goodTexts(_ count: Int, name: String = "good.jsonl") throws -> String {
    try scratch.write(
      (0..<count).map { "{\"id\": \"t\($0)\", \"text\": \"a good film \($0)\"}\n" }.joined(), to: name)
  }

  private func batch(_ arguments: [String]) throws -> CommandResult {
    try runXai(["batch", "--model", tinyDistilBert, "--quiet"] + arguments)
  }

  func testARelevanceBeyondFloat32InSavedOutputIsADataErrorNotATrap() throws {
    let output = scratch.file("out.jsonl")
    XCTAssertEqual(try batch(["--input", try goodTexts(2), "--output", output]).status, 0)
    let lines = try String(contentsOfFile: output, encoding: .utf8)
    let broken = lines.replacingOccurrences(of: "\"relevance\": [", with: "\"relevance\": [1e39, ")
      .replacingOccurrences(of: "\"tokens\": [", with: "\"tokens\": [\"x\", ")
    let from = try scratch.write(broken, to: "broken.jsonl")
    let result = try runXai(["report", "--from", from, "-o", scratch.file("page.html")])
    XCTAssertEqual(result.status, 65, result.stderr)
    XCTAssertTrue(result.stderr.contains("beyond the float32 range"), result.stderr)
    XCTAssertFalse(result.stderr.contains("Fatal error"), result.stderr)
  }

  /// A CRC-32 (PNG chunks carry one).
  private func crc32(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
      crc ^= UInt32(byte)
      for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    }
    return ~crc
  }

  func testAPNGThatClaimsTwoBillionColumnsIsRefusedBeforeItsRowsAreAllocated() throws {
    func bigEndian(_ value: UInt32) -> [UInt8] {
      (0..<4).map { UInt8(truncatingIfNeeded: value >> (24 - 8 * $0)) }
    }
    func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
      let body = Array(type.utf8) + data
      return bigEndian(UInt32(data.count)) + body + bigEndian(crc32(body))
    }
    let header = bigEndian(0x7FFF_FFFF) + bigEndian(1) + [8, 6, 0, 0, 0]
    let png =
      [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", header)
      + chunk("IDAT", [0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]) + chunk("IEND", [])
    let path = scratch.file("wide.png")
    try Data(png).write(to: URL(fileURLWithPath: path))
    // Under a 3 GB address-space limit: rows of the declared width (8 GB) cannot be had,
    // so the size check must come first for this message to appear. (Not under
    // AddressSanitizer, whose shadow memory alone is larger.)
    let limit = ProcessInfo.processInfo.environment["ASAN_OPTIONS"] == nil ? "ulimit -v 3000000; " : ""
    let result = try runXaiInShell(
      limit + "exec \"$0\" explain --model vit-digits --image \"$1\"", [path])
    XCTAssertEqual(result.status, 65, result.stderr)
    XCTAssertTrue(result.stderr.contains("2147483647×1 pixels; xai reads images of at most"), result.stderr)
  }

  func testNoOutputMayOverwriteAnInput() throws {
    let graphs = try scratch.write(
      try String(contentsOfFile: sample("ba_graphs.jsonl"), encoding: .utf8), to: "g.jsonl")
    let before = try Data(contentsOf: URL(fileURLWithPath: graphs))
    let graph = try runXai(["graph", "--graph", graphs, "--html", graphs])
    XCTAssertEqual(graph.status, 64, graph.stderr)
    XCTAssertTrue(graph.stderr.contains("it is an input of this command"), graph.stderr)
    XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: graphs)), before, "the input is untouched")
    let texts = try goodTexts(2)
    let report = try runXai(["report", "--model", tinyDistilBert, "--input", texts, "-o", texts])
    XCTAssertEqual(report.status, 64, report.stderr)
    // A file of a model folder, reached through another spelling of its path.
    let model = checkout.appendingPathComponent("samples/models/vit-digits").path
    let config = try runXai([
      "explain", "--model", model, "--image", sample("digits/3-0045.png"), "--html", model + "/./config.json",
    ])
    XCTAssertEqual(config.status, 64, config.stderr)
    XCTAssertTrue(config.stderr.contains("is a file of the input"), config.stderr)
    let merged = try scratch.write("keep me\n", to: "merged.jsonl")
    let merge = try runXai(["merge", merged, texts])
    XCTAssertEqual(merge.status, 64, merge.stderr)
    XCTAssertEqual(try String(contentsOfFile: merged, encoding: .utf8), "keep me\n")
  }

  func testInputFromAPipeIsReadNotCountedAwayAndAnEndlessLineStops() throws {
    let texts = try goodTexts(5)
    let output = scratch.file("piped.jsonl")
    let piped = try runXaiInShell(
      "exec \"$0\" batch --model \"$1\" --quiet --input <(cat \"$2\") --output \"$3\"",
      [tinyDistilBert, texts, output])
    XCTAssertEqual(piped.status, 0, piped.stderr)
    XCTAssertEqual(try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n").count, 5)
    let endless = try batch(["--input", "/dev/zero", "--output", scratch.file("zero.jsonl")])
    XCTAssertEqual(endless.status, 65, endless.stderr)
    XCTAssertTrue(endless.stderr.contains("line 1 is longer than 64 MB"), endless.stderr)
  }

  func testAnExampleWhoseOutputsOverflowFailsAloneNotItsBatch() throws {
    let data = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: tinyDistilBert)))
    var root = try XCTUnwrap(data as? [String: Any])
    let vocabulary = try XCTUnwrap(root["vocab"] as? [String])
    let bad = try XCTUnwrap(vocabulary.firstIndex(of: "bad"))
    var tensors = try XCTUnwrap(root["tensors"] as? [String: Any])
    var embedding = try XCTUnwrap(tensors["distilbert.embeddings.word_embeddings.weight"] as? [String: Any])
    let width = try XCTUnwrap((embedding["shape"] as? [Int])?.last)
    var values = try XCTUnwrap(embedding["data"] as? [Double])
    for column in 0..<width { values[bad * width + column] = 3e38 }
    embedding["data"] = values
    tensors["distilbert.embeddings.word_embeddings.weight"] = embedding
    root["tensors"] = tensors
    let model = scratch.file("overflow.json")
    try JSONSerialization.data(withJSONObject: root).write(to: URL(fileURLWithPath: model))
    let texts = (0..<40).map { "{\"text\": \"\($0 == 30 ? "a bad film" : "a good film \($0)")\"}\n" }.joined()
    let input = try scratch.write(texts, to: "mixed.jsonl")
    let output = scratch.file("out.jsonl")
    let errors = scratch.file("errors.jsonl")
    let result = try runXai(
      // Two methods: two batches fail and are redone on the two workers at once.
      [
        "batch", "--model", model, "--input", input, "--output", output, "--errors", errors, "--quiet",
        "--method", "lrp", "--method", "gradient", "--workers", "2",
      ])
    XCTAssertEqual(result.status, 65, result.stderr)
    XCTAssertTrue(result.stderr.contains("mixed.jsonl line 31 (lrp)"), result.stderr)
    let written = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n")
    XCTAssertEqual(written.count, 2 * 39, "every other example of the batch is kept")
    XCTAssertFalse(written.contains { $0.contains("\"index\": 30,") })
    XCTAssertTrue(try String(contentsOfFile: errors, encoding: .utf8).contains("\"index\": 30"))
  }

  func testResumeRefusesFilesItDidNotWriteAndLeavesThemWhole() throws {
    let texts = try goodTexts(4)
    for notes in ["l1\nl2", "{\"a\": 1}"] {
      let path = try scratch.write(notes, to: "notes.txt")
      let result = try batch(["--input", texts, "--output", path, "--resume"])
      XCTAssertEqual(result.status, 64, result.stderr)
      XCTAssertTrue(result.stderr.contains("not end in a line of xai batch output"), result.stderr)
      XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), notes, "nothing cut")
    }
    let output = scratch.file("g.jsonl")
    XCTAssertEqual(
      try batch(["--input", texts, "--output", output, "--method", "gradxinput", "--limit", "2"]).status, 0)
    let other = try batch(["--input", texts, "--output", output, "--resume"])
    XCTAssertEqual(other.status, 64, other.stderr)
    XCTAssertTrue(other.stderr.contains("holds results of the method gradxinput"), other.stderr)
    let more = try batch([
      "--input", texts, "--output", output, "--resume", "--method", "gradxinput", "--method", "lrp",
    ])
    XCTAssertEqual(more.status, 64, more.stderr)
    XCTAssertTrue(more.stderr.contains("was written without the method lrp"), more.stderr)
    let elsewhere = try scratch.write(
      "{\"text\": \"x\"}\n{\"text\": \"y\"}\n{\"text\": \"z\"}\n", to: "other.jsonl")
    let foreign = try batch(["--input", elsewhere, "--output", output, "--resume", "--method", "gradxinput"])
    XCTAssertEqual(foreign.status, 64, foreign.stderr)
    XCTAssertTrue(foreign.stderr.contains("gives example 1 the id 't1'"), foreign.stderr)
    let resumed = try batch(["--input", texts, "--output", output, "--resume", "--method", "gradxinput"])
    XCTAssertEqual(resumed.status, 0, resumed.stderr)
    XCTAssertEqual(try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n").count, 4)
  }

  func testResumeChecksModelShardAndInputBeforeCuttingEitherFile() throws {
    let texts = try goodTexts(6)
    let output = scratch.file("out.jsonl")
    XCTAssertEqual(try batch(["--input", texts, "--output", output, "--limit", "4"]).status, 0)
    // A run killed mid-line in both files.
    let killed = try String(contentsOfFile: output, encoding: .utf8) + "{\"index\": 4, \"id\": \"t"
    try killed.write(toFile: output, atomically: true, encoding: .utf8)
    let errors = try scratch.write(
      "{\"line\": 9, \"index\": 8, \"error\": \"x\"}\n{\"line\": 1", to: "errors.jsonl")
    let refusals: [([String], String)] = [
      (["--method", "gradient"], "holds results of the method lrp"),
      (["--shard", "1/2"], "which shard 1/2 does not compute"),
      (
        ["--model", checkout.appendingPathComponent("Tests/ModelsTests/Fixtures/tiny-bert.json").path],
        "was written by the model tiny-distilbert, not tiny-bert"
      ),
    ]
    for (arguments, message) in refusals {
      let result = try runXai(
        [
          "batch", "--model", tinyDistilBert, "--quiet", "--input", texts, "--output", output, "--errors",
          errors,
          "--resume",
        ] + arguments)
      XCTAssertEqual(result.status, 64, result.stderr)
      XCTAssertTrue(result.stderr.contains(message), result.stderr)
      XCTAssertEqual(try String(contentsOfFile: output, encoding: .utf8), killed, "nothing cut: \(arguments)")
    }
    let shorter = try batch([
      "--input", try goodTexts(2, name: "short.jsonl"), "--output", output, "--errors", errors, "--resume",
    ])
    XCTAssertEqual(shorter.status, 64, shorter.stderr)
    XCTAssertTrue(shorter.stderr.contains("holds example 3 but the input has 2 record(s)"), shorter.stderr)
    let resumed = try batch(["--input", texts, "--output", output, "--errors", errors, "--resume"])
    XCTAssertEqual(resumed.status, 0, resumed.stderr)
    let lines = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n")
    XCTAssertEqual(lines.count, 6)
    XCTAssertTrue(lines[4].hasPrefix("{\"index\": 4, \"id\": \"t4\""))
    XCTAssertEqual(
      try String(contentsOfFile: errors, encoding: .utf8), "{\"line\": 9, \"index\": 8, \"error\": \"x\"}\n",
      "the errors file's partial line cut")
  }

  func testStderrNeverCarriesControlCharactersFromFiles() throws {
    let folder = scratch.url.appendingPathComponent("evil-model")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    try "{\"model_type\": \"\\u001b[2J\\u001b]0;owned\\u0007gpt\\u009b\"}"
      .write(to: folder.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
    let result = try runXai(["explain", "--model", folder.path, "a"])
    XCTAssertEqual(result.status, 65, result.stderr)
    XCTAssertTrue(result.stderr.contains("unknown model_type"), result.stderr)
    XCTAssertFalse(
      result.stderr.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 || $0.value == 0x9B },
      result.stderr)
    let csv = try scratch.write("te\u{1B}[31mxt,label\nfine,1\n", to: "evil.csv")
    let header = try batch(["--input", csv, "--output", scratch.file("csv.jsonl")])
    XCTAssertNotEqual(header.status, 0)
    XCTAssertFalse(header.stderr.contains("\u{1B}"), header.stderr)
    let words = try runXai(["explain", "--model", tinyDistilBert, "--words", "a good\u{1B}cfilm"])
    XCTAssertEqual(words.status, 0, words.stderr)
    XCTAssertFalse(
      words.stdout.contains("\u{1B}c"), "merged words are spans of the raw text: \(words.stdout)")
    let json = try runXai(["explain", "--model", tinyDistilBert, "--format", "json", "a\u{85}b\u{9B}c"])
    XCTAssertEqual(json.status, 0, json.stderr)
    XCTAssertTrue(json.stdout.contains("a\\u0085b\\u009bc"), "C1 characters are escaped in JSON")
  }

  func testNonFiniteCoordinatesNullLinesAndCRLFFilesAreHandled() throws {
    let molecule = try String(contentsOfFile: sample("solubility_test.sdf"), encoding: .utf8)
    var lines = molecule.components(separatedBy: "\n")
    lines[4] = "       nan    0.0000    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0"
    let broken = try scratch.write(lines.joined(separator: "\n"), to: "nan.sdf")
    let sdf = try runXai(["graph", "--model", "gcn-solubility", "--graph", broken, "--method", "gradxinput"])
    XCTAssertEqual(sdf.status, 65, sdf.stderr)
    XCTAssertTrue(
      sdf.stderr.contains("line 5: atom 1 has a coordinate that is not a finite number"), sdf.stderr)
    let null = try batch([
      "--input", try scratch.write("null\n", to: "null.jsonl"), "--output", scratch.file("n.jsonl"),
    ])
    XCTAssertEqual(null.status, 65, null.stderr)
    XCTAssertTrue(null.stderr.contains("line 1: not a JSON object"), null.stderr)
    let crlf = try String(contentsOfFile: sample("ba_graphs.jsonl"), encoding: .utf8)
      .replacingOccurrences(of: "\n", with: "\r\n")
    let graphs = try runXai(["graph", "--graph", try scratch.write(crlf, to: "crlf.jsonl"), "--index", "3"])
    XCTAssertEqual(graphs.status, 0, graphs.stderr)
    // The shipped model with its vocab.txt written with Windows line ends.
    let shipped = checkout.appendingPathComponent("samples/models/minilm-rt-sentiment")
    let copy = scratch.url.appendingPathComponent("crlf-model")
    try FileManager.default.createDirectory(at: copy, withIntermediateDirectories: true)
    for name in try FileManager.default.contentsOfDirectory(atPath: shipped.path) where name != "vocab.txt" {
      try FileManager.default.createSymbolicLink(
        at: copy.appendingPathComponent(name), withDestinationURL: shipped.appendingPathComponent(name))
    }
    try String(contentsOf: shipped.appendingPathComponent("vocab.txt"), encoding: .utf8)
      .replacingOccurrences(of: "\n", with: "\r\n")
      .write(to: copy.appendingPathComponent("vocab.txt"), atomically: true, encoding: .utf8)
    let original = try runXai(["explain", "--format", "json", "a gripping film"])
    let windows = try runXai(["explain", "--model", copy.path, "--format", "json", "a gripping film"])
    XCTAssertEqual(windows.status, 0, windows.stderr)
    XCTAssertEqual(
      try JSONDocument.parse(windows.stdout, source: "crlf").rootNode["tokens"]?.elements.compactMap(
        \.string),
      try JSONDocument.parse(original.stdout, source: "lf").rootNode["tokens"]?.elements.compactMap(\.string))
  }
}
