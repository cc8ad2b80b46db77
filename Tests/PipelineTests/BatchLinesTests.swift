import Foundation
import XCTest

@testable import Pipeline

/// Output files: appended whole lines, inspected before anything is cut, resumed only by
/// the run that wrote them, merged from shards byte for byte.
final class BatchLinesTests: XCTestCase {
  private var folder: URL!

  override func setUpWithError() throws {
    folder = FileManager.default.temporaryDirectory.appendingPathComponent(
      "xai-pipeline-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
  }

  override func tearDown() { try? FileManager.default.removeItem(at: folder) }

  private func file(_ name: String, _ text: String? = nil) throws -> String {
    let path = folder.appendingPathComponent(name).path
    if let text { try text.write(toFile: path, atomically: true, encoding: .utf8) }
    return path
  }

  private func line(_ index: Int, _ method: String, id: String? = nil) -> String {
    #"{"index": \#(index), "id": "\#(id ?? "r\(index)")", "model": "m", "method": "\#(method)"}"#
  }

  func testAResumedFileReportsWhereItGotAndItsPartialLineIsCutOnlyWhenOpened() throws {
    let complete = [line(0, "lrp"), line(0, "gradient"), line(1, "lrp")].joined(separator: "\n") + "\n"
    let path = try file("out.jsonl", complete + #"{"index": 1, "id": "r1", "mo"#)
    let inspection = try AppendOnlyLines.inspect(path, keep: true, kind: .results)
    let point = inspection.point
    XCTAssertEqual(point.lastIndex, 1)
    XCTAssertEqual(point.methodsOfLast, ["lrp"])
    XCTAssertEqual(point.methodsOfEveryEarlier, ["lrp", "gradient"])
    XCTAssertEqual(point.lines, 3)
    XCTAssertTrue(point.isDone(index: 0, method: "gradient"))
    XCTAssertFalse(point.isDone(index: 1, method: "gradient"))
    XCTAssertEqual(
      try String(contentsOfFile: path, encoding: .utf8).count, complete.count + 28,
      "inspecting changes nothing")
    let out = try AppendOnlyLines.open(inspection)
    XCTAssertTrue(out.cutPartialLine)
    try out.append(line(1, "gradient"))
    XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), complete + line(1, "gradient") + "\n")
  }

  func testResumeRefusesAnotherModelOtherMethodsAnotherShardOrInput() throws {
    let path = try file(
      "out.jsonl", [line(0, "lrp"), line(1, "lrp", id: "x")].joined(separator: "\n") + "\n")
    let point = try AppendOnlyLines.inspect(path, keep: true, kind: .results).point
    XCTAssertNoThrow(try point.check(model: "m", methods: ["lrp"]))
    for refused in [
      { try point.check(model: "other", methods: ["lrp"]) },
      { try point.check(model: "m", methods: ["gradient"]) },
      { try point.check(model: "m", methods: ["lrp", "gradient"]) },
      { try point.check(shard: ShardSpec(index: 1, count: 2)) }, { try point.check(index: 1, id: "r1") },
    ] as [() throws -> Void] {
      XCTAssertThrowsError(try refused()) { XCTAssertTrue($0 is ResumeRefusal, "\($0)") }
    }
    XCTAssertNoThrow(try point.check(index: 1, id: "x"))
  }

  func testAFileXaiDidNotWriteIsRefusedAndLeftWhole() throws {
    for text in ["notes\nmore", #"{"a": 1}"# + "\n"] {
      let path = try file("notes.txt", text)
      XCTAssertThrowsError(try AppendOnlyLines.inspect(path, keep: true, kind: .results)) {
        XCTAssertTrue($0 is ResumeRefusal, "\($0)")
      }
      XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), text)
    }
  }

  func testShardsMergeIntoTheSingleRunsLinesAndBadShardsAreRefused() throws {
    let lines = (0..<6).flatMap { [line($0, "lrp"), line($0, "gradient")] }
    let even = try file(
      "s0.jsonl",
      lines.filter {
        $0.contains(#""index": 0"#) || $0.contains(#""index": 2"#) || $0.contains(#""index": 4"#)
      }.joined(separator: "\n") + "\n")
    let odd = try file(
      "s1.jsonl",
      lines.filter {
        $0.contains(#""index": 1"#) || $0.contains(#""index": 3"#) || $0.contains(#""index": 5"#)
      }.joined(separator: "\n") + "\n")
    let merged = try file("merged.jsonl")
    XCTAssertEqual(try ShardMerge.merge([odd, even], into: merged), 12)
    XCTAssertEqual(try String(contentsOfFile: merged, encoding: .utf8), lines.joined(separator: "\n") + "\n")
    let cut = try file("cut.jsonl", line(7, "lrp") + "\n" + #"{"index": 8"#)
    let backwards = try file("back.jsonl", line(9, "lrp") + "\n" + line(8, "lrp") + "\n")
    for (shards, message) in [
      ([even, even], "more than one shard"), ([cut], "cut-off line"), ([backwards], "out of order"),
    ] {
      let output = try file("m-\(message.count).jsonl")
      XCTAssertThrowsError(try ShardMerge.merge(shards, into: output)) {
        XCTAssertTrue("\($0)".contains(message), "\($0)")
      }
      XCTAssertFalse(FileManager.default.fileExists(atPath: output), "a failed merge leaves nothing")
    }
  }

  func testTheErrorsIndexIsTheLargestIndexOfTheErrorsFile() throws {
    let path = try file(
      "errors.jsonl",
      #"{"line": 3, "index": 2, "error": "x"}"# + "\n" + #"{"line": 9, "error": "unreadable"}"# + "\n"
        + #"{"line": 12, "index": 11, "error": "y"}"# + "\n")
    XCTAssertEqual(try BatchLineReader.lastIndex(ofErrors: path), 11)
    XCTAssertEqual(try BatchLineReader.lastIndex(ofErrors: folder.appendingPathComponent("none").path), -1)
  }
}
