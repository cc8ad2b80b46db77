import Foundation
import Models
import XCTest

/// `xai batch` and `xai merge` end to end through the built binary.
final class BatchCommandTests: XCTestCase {
  private var scratch: ScratchFolder!

  override func setUpWithError() throws { scratch = try ScratchFolder(prefix: "xai-batch") }

  override func tearDown() { scratch.remove() }

  /// `count` JSONL examples of very different lengths, labelled by name and by index.
  private func dataset(_ count: Int) throws -> String {
    let words = ["the", "movie", "was", "good", "bad", "great", "not", "boring", "film", "is", "best"]
    var lines: [String] = []
    for index in 0..<count {
      let length = 1 + (index * 7) % 23
      let text = (0..<length).map { words[($0 * 3 + index) % words.count] }.joined(separator: " ")
      let label = index % 3 == 0 ? "\"positive\"" : (index % 3 == 1 ? "0" : "\"1\"")
      lines.append("{\"text\": \"\(text)\", \"label\": \(label)}")
    }
    return try scratch.write(lines.joined(separator: "\n") + "\n", to: "data.jsonl")
  }

  private func lines(_ path: String) throws -> [String] {
    try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
  }

  func testEveryExampleAndMethodGivesOneLineInInputOrderWithLabels() throws {
    let data = try dataset(40)
    let output = scratch.file("out.jsonl")
    let result = try runXai([
      "batch", "--model", tinyDistilBert, "--input", data, "--method", "lrp", "--method", "gradient",
      "--output",
      output,
    ])
    XCTAssertEqual(result.status, 0, result.stderr)
    let rows = try lines(output).map { try JSONDocument.parse($0, source: "out").rootNode }
    XCTAssertEqual(rows.count, 80)
    XCTAssertEqual(rows.map { $0["index"]!.int! }, (0..<40).flatMap { [$0, $0] })
    XCTAssertEqual(rows.prefix(2).map { $0["method"]!.string! }, ["lrp", "gradient"])
    XCTAssertEqual(rows[0]["id"]?.string, "0", "no id field: the 0-based record index")
    XCTAssertEqual(rows[0]["label"]?["index"]?.int, 2, "a class name")
    XCTAssertEqual(rows[2]["label"]?["index"]?.int, 0, "a class index as a number")
    XCTAssertEqual(rows[4]["label"]?["index"]?.int, 1, "a class index as a string of digits")
    for row in rows {
      let predicted = row["logits"]!.numericArray()!.values.enumerated().max { $0.element < $1.element }!
        .offset
      XCTAssertEqual(row["correct"]?.bool, predicted == row["label"]!["index"]!.int!)
    }
    XCTAssertTrue(result.stderr.contains("40 examples, 0 errors skipped, accuracy"), result.stderr)
  }

  func testBatchedLinesEqualExplainingEachTextAlone() throws {
    let data = try dataset(12)
    let output = scratch.file("out.jsonl")
    XCTAssertEqual(
      try runXai(["batch", "--model", tinyDistilBert, "--input", data, "--output", output]).status, 0)
    for line in try lines(output).prefix(12) {
      let row = try JSONDocument.parse(line, source: "batch").rootNode
      let alone = try runXai(["explain", "--model", tinyDistilBert, "--format", "json", row["text"]!.string!])
      let single = try JSONDocument.parse(alone.stdout, source: "explain").rootNode
      let a = row["relevance"]!.numericArray()!.values
      let b = single["relevance"]!.numericArray()!.values
      XCTAssertEqual(a.count, b.count)
      let scale = b.map(abs).max() ?? 1
      for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: 1e-5 * scale) }
    }
  }

  func testOneAndTwoWorkersWriteIdenticalFiles() throws {
    let data = try dataset(150)
    for workers in ["1", "2"] {
      let result = try runXai([
        "batch", "--model", tinyDistilBert, "--input", data, "--method", "lrp", "--method",
        "integrated-gradients",
        "--steps", "8", "--workers", workers, "--threads", "2", "--output", scratch.file("w\(workers).jsonl"),
      ])
      XCTAssertEqual(result.status, 0, result.stderr)
    }
    XCTAssertEqual(
      try Data(contentsOf: URL(fileURLWithPath: scratch.file("w1.jsonl"))),
      try Data(contentsOf: URL(fileURLWithPath: scratch.file("w2.jsonl"))))
  }

  func testShardsMergedAreByteIdenticalToOneRun() throws {
    let data = try dataset(300)
    let whole = scratch.file("whole.jsonl")
    XCTAssertEqual(
      try runXai(["batch", "--model", tinyDistilBert, "--input", data, "--output", whole]).status, 0)
    var shards: [String] = []
    for index in 0..<3 {
      let shard = scratch.file("shard-\(index).jsonl")
      let result = try runXai([
        "batch", "--model", tinyDistilBert, "--input", data, "--output", shard, "--shard", "\(index)/3",
        "--quiet",
      ])
      XCTAssertEqual(result.status, 0, result.stderr)
      XCTAssertEqual(result.stderr, "", "--quiet")
      XCTAssertGreaterThan(try lines(shard).count, 0)
      shards.append(shard)
    }
    let merged = scratch.file("merged.jsonl")
    let merge = try runXai(["merge", merged] + shards.reversed())
    XCTAssertEqual(merge.status, 0, merge.stderr)
    XCTAssertEqual(
      try Data(contentsOf: URL(fileURLWithPath: merged)), try Data(contentsOf: URL(fileURLWithPath: whole)))
    XCTAssertEqual(try runXai(["merge", scratch.file("twice.jsonl"), shards[0], shards[0]]).status, 65)
    try "{\"index\": 3".write(toFile: scratch.file("cut.jsonl"), atomically: true, encoding: .utf8)
    let cut = try runXai(["merge", scratch.file("m2.jsonl"), shards[1], scratch.file("cut.jsonl")])
    XCTAssertEqual(cut.status, 65)
    XCTAssertTrue(cut.stderr.contains("cut-off line"), cut.stderr)
  }

  func testResumeAfterAKillAtSeveralPointsGivesTheUninterruptedFile() throws {
    let data = try dataset(400)
    let whole = scratch.file("whole.jsonl")
    let arguments = [
      "batch", "--model", tinyDistilBert, "--input", data, "--method", "lrp", "--method", "gradxinput",
    ]
    XCTAssertEqual(try runXai(arguments + ["--output", whole]).status, 0)
    let expected = try Data(contentsOf: URL(fileURLWithPath: whole))
    for (attempt, linesBeforeKill) in [1, 150, 420, 799].enumerated() {
      let output = scratch.file("killed-\(attempt).jsonl")
      let process = Process()
      process.executableURL = xaiBinary()
      process.arguments = arguments + ["--output", output, "--quiet"]
      process.standardError = Pipe()
      try process.run()
      let deadline = Date().addingTimeInterval(60)
      while process.isRunning && Date() < deadline {
        let written = (try? Data(contentsOf: URL(fileURLWithPath: output)))?.filter { $0 == 10 }.count ?? 0
        if written >= linesBeforeKill { break }
        usleep(2000)
      }
      kill(process.processIdentifier, SIGKILL)
      process.waitUntilExit()
      // A cut-off last line, as a kill during a write leaves it.
      if let handle = FileHandle(forWritingAtPath: output) {
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("{\"index\": 9, \"tok".utf8))
        try handle.close()
      }
      let resumed = try runXai(arguments + ["--output", output, "--resume"])
      XCTAssertEqual(resumed.status, 0, resumed.stderr)
      XCTAssertEqual(
        try Data(contentsOf: URL(fileURLWithPath: output)), expected, "killed after \(linesBeforeKill) lines")
    }
    // Every cut point, deterministically: the first n lines of the finished file and a
    // cut-off line, as a kill at that moment leaves it.
    let wholeLines = expected.split(separator: 10, omittingEmptySubsequences: false)
    for keep in [0, 1, 37, 255, 256, 257, 401, 799] {
      let output = scratch.file("cut-\(keep).jsonl")
      var prefix = Data(wholeLines.prefix(keep).joined(separator: [10]))
      if keep > 0 { prefix.append(10) }
      prefix.append(contentsOf: Array(wholeLines[keep].prefix(17)))
      try prefix.write(to: URL(fileURLWithPath: output))
      let resumed = try runXai(arguments + ["--output", output, "--resume", "--quiet"])
      XCTAssertEqual(resumed.status, 0, resumed.stderr)
      XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: output)), expected, "cut after \(keep) lines")
    }
    let again = try runXai(arguments + ["--output", whole])
    XCTAssertEqual(again.status, 64, "an existing output is not overwritten without --resume")
    XCTAssertTrue(again.stderr.contains("--resume"), again.stderr)
  }

  func testCSVWithQuotedCommasQuotesAndLineBreaksAndRenamedFields() throws {
    let csv = try scratch.write(
      "review,sentiment,key\n"
        + "\"the movie, was good\",positive,a\n"
        + "\"it is \"\"boring\"\"\",0,b\n"
        + "\"a film\nwith two lines\",2,c\n"
        + "great,,d\n",
      to: "data.csv")
    let output = scratch.file("out.jsonl")
    let result = try runXai([
      "batch", "--model", tinyDistilBert, "--input", csv, "--text-field", "review", "--label-field",
      "sentiment",
      "--id-field", "key", "--output", output,
    ])
    XCTAssertEqual(result.status, 0, result.stderr)
    let rows = try lines(output).map { try JSONDocument.parse($0, source: "out").rootNode }
    XCTAssertEqual(rows.map { $0["id"]!.string! }, ["a", "b", "c", "d"])
    XCTAssertEqual(
      rows.map { $0["text"]!.string! },
      ["the movie, was good", "it is \"boring\"", "a film\nwith two lines", "great"])
    XCTAssertEqual(rows.map { $0["label"]?["index"]?.int }, [2, 0, 2, nil])
  }

  func testLabelsThatNameNoClassAreReportedOnceAndLeftOutOfTheAccuracy() throws {
    let data = try scratch.write(
      "{\"text\": \"good\", \"label\": \"happy\"}\n{\"text\": \"bad\", \"label\": 7}\n{\"text\": \"great\", \"label\": \"positive\"}\n",
      to: "data.jsonl")
    let result = try runXai([
      "batch", "--model", tinyDistilBert, "--input", data, "--output", scratch.file("out.jsonl"),
    ])
    XCTAssertEqual(result.status, 0, result.stderr)
    XCTAssertTrue(result.stderr.contains("2 label(s) name no class"), result.stderr)
    XCTAssertTrue(result.stderr.contains("of 1 labelled"), result.stderr)
    XCTAssertEqual(result.stderr.components(separatedBy: "name no class").count, 2, "reported once")
  }

  func testAMalformedLineStopsTheRunOrIsSkippedAndAnEmptyTextFailsAlone() throws {
    let data = try scratch.write(
      "{\"text\": \"good\"}\n{\"text\": \"   \"}\n{\"text\": \"bad\"}\n{not json\n{\"text\": \"great\"}\n",
      to: "bad.jsonl")
    let stopped = try runXai([
      "batch", "--model", tinyDistilBert, "--input", data, "--output", scratch.file("a.jsonl"),
    ])
    XCTAssertEqual(stopped.status, 65)
    XCTAssertTrue(stopped.stderr.contains("bad.jsonl line 4"), stopped.stderr)
    XCTAssertTrue(stopped.stderr.contains("line 2"), "the empty text names its line: \(stopped.stderr)")
    XCTAssertEqual(try lines(scratch.file("a.jsonl")).count, 2, "the examples before the bad line are kept")
    let skipped = try runXai([
      "batch", "--model", tinyDistilBert, "--input", data, "--output", scratch.file("b.jsonl"),
      "--skip-invalid",
      "--errors", scratch.file("errors.jsonl"),
    ])
    XCTAssertEqual(skipped.status, 0, skipped.stderr)
    XCTAssertEqual(try lines(scratch.file("b.jsonl")).count, 3)
    let errors = try lines(scratch.file("errors.jsonl")).map {
      try JSONDocument.parse($0, source: "errors").rootNode
    }
    XCTAssertEqual(errors.map { $0["line"]!.int! }, [2, 4])
    XCTAssertTrue(skipped.stderr.contains("2 errors skipped"), skipped.stderr)
  }

  func testAnUnwritableOutputIsRefusedBeforeAnyWork() throws {
    let data = checkout.appendingPathComponent("samples/data/rotten_tomatoes_test.jsonl").path
    let result = try runXai(["batch", "--input", data, "--output", "/nonexistent/out.jsonl"])
    XCTAssertEqual(result.status, 73, "EX_CANTCREAT")
    XCTAssertTrue(result.stderr.contains("/nonexistent"), result.stderr)
    // Before any work, whatever the machine's speed: even before the model is looked up.
    let first = try runXai([
      "batch", "--model", "/no/such/model", "--input", data, "--output", "/nonexistent/out.jsonl",
    ])
    XCTAssertEqual(first.status, 73, first.stderr)
    XCTAssertTrue(first.stderr.contains("/nonexistent/out.jsonl"), first.stderr)
    XCTAssertEqual(
      try runXai(["batch", "--input", "/no/data.jsonl", "--output", scratch.file("o.jsonl")]).status, 66)
  }

  func testReportFromTheOutputShowsAccuracyConfusionAndOrdering() throws {
    let data = try dataset(30)
    let output = scratch.file("out.jsonl")
    let page = scratch.file("batch.html")
    let result = try runXai([
      "batch", "--model", tinyDistilBert, "--input", data, "--output", output, "--report", page,
    ])
    XCTAssertEqual(result.status, 0, result.stderr)
    let html = try String(contentsOfFile: page, encoding: .utf8)
    XCTAssertTrue(html.contains("accuracy"))
    XCTAssertTrue(html.contains("Confusion table"))
    XCTAssertTrue(html.contains("data-confidence="))
    XCTAssertEqual(html.components(separatedBy: "class=\"example\"").count - 1, 30)
    let again = scratch.file("again.html")
    XCTAssertEqual(try runXai(["report", "--from", output, "-o", again]).status, 0)
    XCTAssertTrue(try String(contentsOfFile: again, encoding: .utf8).contains("Confusion table"))
  }

  func testReportOfADataSetScoresIntegerLabels() throws {
    let data = try scratch.write(
      (0..<9).map { "{\"text\": \"\(["good", "bad", "great"][$0 % 3])\", \"label\": \($0 % 3)}" }.joined(
        separator: "\n"),
      to: "ints.jsonl")
    let page = scratch.file("ints.html")
    XCTAssertEqual(
      try runXai(["report", "--model", tinyDistilBert, "--method", "lrp", "--input", data, "-o", page])
        .status, 0)
    let html = try String(contentsOfFile: page, encoding: .utf8)
    XCTAssertTrue(html.contains("of 9 labelled"), "integer labels are scored")
  }

  func testGraphDataSetsRunThroughTheSamePass() throws {
    let output = scratch.file("walks.jsonl")
    let graphs = checkout.appendingPathComponent("samples/data/ba_graphs.jsonl").path
    let result = try runXai([
      "batch", "--model", "graphnet-ba", "--input", graphs, "--limit", "20", "--output", output,
    ])
    XCTAssertEqual(result.status, 0, result.stderr)
    let rows = try lines(output).map { try JSONDocument.parse($0, source: "walks").rootNode }
    XCTAssertEqual(rows.count, 20)
    XCTAssertEqual(rows[3]["method"]?.string, "gnn-lrp")
    XCTAssertNotNil(rows[3]["correct"]?.bool)
    let molecules = checkout.appendingPathComponent("samples/data/solubility_test.sdf").path
    let sdf = try runXai([
      "batch", "--model", "gcn-solubility", "--input", molecules, "--limit", "5", "--method", "gradxinput",
      "--output", scratch.file("mol.jsonl"),
    ])
    XCTAssertEqual(sdf.status, 0, sdf.stderr)
    XCTAssertEqual(try lines(scratch.file("mol.jsonl")).count, 5)
  }

  func testPairOptionsAreRefusedForEveryModelThatIsNotASentenceEncoder() throws {
    let graphs = checkout.appendingPathComponent("samples/data/ba_graphs.jsonl").path
    for (model, input) in [("graphnet-ba", graphs), (tinyDistilBert, try dataset(2))] {
      for option in [["--rank", "2"], ["--explain", "dot"]] {
        let result = try runXai(
          ["batch", "--model", model, "--input", input, "--output", scratch.file("p.jsonl")] + option)
        XCTAssertEqual(result.status, 64, "\(model) \(option): \(result.stderr)")
        XCTAssertTrue(result.stderr.contains("apply to sentence encoders"), result.stderr)
      }
    }
  }

  func testAGraphThatCannotBeExplainedFailsAloneAndNamesItsLine() throws {
    let graphs = checkout.appendingPathComponent("samples/data/ba_graphs.jsonl").path
    let result = try runXai([
      "batch", "--model", "graphnet-ba", "--input", graphs, "--limit", "6", "--max-walks", "4000",
      "--output", scratch.file("g.jsonl"), "--skip-invalid", "--errors", scratch.file("g-errors.jsonl"),
    ])
    XCTAssertEqual(result.status, 0, result.stderr)
    let written = try lines(scratch.file("g.jsonl")).count
    let failed = try lines(scratch.file("g-errors.jsonl")).count
    XCTAssertEqual(written + failed, 6, "every graph is answered: \(written) lines, \(failed) errors")
    XCTAssertGreaterThan(failed, 0)
    XCTAssertTrue(result.stderr.contains("ba_graphs.jsonl line"), result.stderr)
  }

  func testFilesMustDifferAndAnErrorsFileIsNotOverwritten() throws {
    let data = try dataset(5)
    let clash = try runXai([
      "batch", "--model", tinyDistilBert, "--input", data, "--output", scratch.file("o.jsonl"), "--errors",
      data,
    ])
    XCTAssertEqual(clash.status, 64)
    XCTAssertTrue(
      try String(contentsOfFile: data, encoding: .utf8).contains("\"text\""), "the input is intact")
    let errors = try scratch.write("{\"line\": 1, \"index\": 0, \"error\": \"x\"}\n", to: "errors.jsonl")
    let kept = try runXai([
      "batch", "--model", tinyDistilBert, "--input", data, "--output", scratch.file("p.jsonl"), "--errors",
      errors,
    ])
    XCTAssertEqual(kept.status, 64)
    XCTAssertTrue(kept.stderr.contains("--resume"), kept.stderr)
  }

  func testCSVWithAByteOrderMarkAndAnUndecodableLineInsideAQuotedField() throws {
    var bytes: [UInt8] = [0xEF, 0xBB, 0xBF]
    bytes += Array("id,text,label\na,\"good\n".utf8) + [0xFF] + Array("\nbad\",1\nb,great,2\n".utf8)
    let csv = scratch.file("bom.csv")
    try Data(bytes).write(to: URL(fileURLWithPath: csv))
    let result = try runXai([
      "batch", "--model", tinyDistilBert, "--input", csv, "--output", scratch.file("bom.jsonl"),
      "--skip-invalid",
    ])
    XCTAssertEqual(result.status, 0, result.stderr)
    let rows = try lines(scratch.file("bom.jsonl")).map { try JSONDocument.parse($0, source: "bom").rootNode }
    XCTAssertEqual(
      rows.map { $0["id"]?.string }, ["b"], "the id column is found; the broken record fails whole")
    XCTAssertEqual(rows.first?["index"]?.int, 1)
    XCTAssertTrue(result.stderr.contains("line 3 is not valid UTF-8"), result.stderr)
  }
}
