import Foundation
import Models
import XCTest

/// `xai similarity` and `xai batch` over pairs, on the tiny sentence-transformer fixture.
final class SimilarityCommandTests: XCTestCase {
  private let encoder = checkout.appendingPathComponent("Tests/ModelsTests/Fixtures/tiny-sentence-transformer").path

  private func json(_ text: String) throws -> JSONNode {
    try JSONDocument.parse(text, source: "stdout").rootNode
  }

  func testJSONCarriesBothTextsTheMatrixTheScoresAndConservation() throws {
    let result = try runXai([
      "similarity", "--model", encoder, "--format", "json", "the movie was good.", "the film is great!",
    ])
    XCTAssertEqual(result.status, 0, result.stderr)
    let object = try json(result.stdout)
    let tokensA = try XCTUnwrap(object["a"]?["tokens"]).elements.compactMap(\.string)
    let tokensB = try XCTUnwrap(object["b"]?["tokens"]).elements.compactMap(\.string)
    XCTAssertEqual(tokensA.first, "[CLS]")
    XCTAssertEqual(tokensA.last, "[SEP]")
    let matrix = try XCTUnwrap(object["matrix"]).elements.map { $0.elements.compactMap(\.double) }
    XCTAssertEqual(matrix.count, tokensA.count)
    XCTAssertTrue(matrix.allSatisfy { $0.count == tokensB.count })
    let cosine = try XCTUnwrap(object["cosine"]?.double)
    XCTAssertEqual(cosine, 0.9287, accuracy: 1e-3, "the PyTorch reference's cosine")
    let conservation = try XCTUnwrap(object["conservation"])
    let sum = try XCTUnwrap(conservation["sum_relevance"]?.double)
    XCTAssertEqual(sum, matrix.joined().reduce(0, +), accuracy: 1e-5)
    XCTAssertEqual(try XCTUnwrap(conservation["residual"]?.double), cosine - sum, accuracy: 1e-5)
    XCTAssertNotNil(conservation["residual_is"]?.string)
    let pairs = try XCTUnwrap(object["strongest_pairs"]).elements
    XCTAssertEqual(pairs.count, 8)
    let first = try XCTUnwrap(pairs.first)
    let (i, j) = (try XCTUnwrap(first["a"]?.int), try XCTUnwrap(first["b"]?.int))
    XCTAssertEqual(first["relevance"]?.double ?? 0, matrix[i][j], accuracy: 1e-6)
    XCTAssertNil(object["low_rank"])
  }

  func testTerminalViewListsPairsMatrixAndConservation() throws {
    let result = try runXai(
      ["similarity", "--model", encoder, "--pairs", "3", "the movie was not good", "a boring film."],
      environment: ["NO_COLOR": "1", "COLUMNS": "80"])
    XCTAssertEqual(result.status, 0, result.stderr)
    XCTAssertTrue(result.stdout.contains("strongest token pairs"), result.stdout)
    XCTAssertTrue(result.stdout.contains("matrix R (rows: A, columns: B"), result.stdout)
    XCTAssertTrue(result.stdout.contains("conservation: Σ R_ij = "), result.stdout)
    XCTAssertFalse(result.stdout.contains("\u{1B}["), "plain output has no escape codes")
    for line in result.stdout.split(separator: "\n") {
      XCTAssertLessThanOrEqual(line.count, 80, "wider than COLUMNS: \(line)")
    }
  }

  func testRankReportsItsError() throws {
    let result = try runXai([
      "similarity", "--model", encoder, "--rank", "4", "--format", "json", "the movie was not good", "a boring film.",
    ])
    XCTAssertEqual(result.status, 0, result.stderr)
    let low = try XCTUnwrap(try json(result.stdout)["low_rank"])
    XCTAssertEqual(low["rank"]?.int, 4)
    XCTAssertNotNil(low["encoder_output_error"]?.double)
  }

  func testHTMLIsSelfContainedAndEscapesTheTexts() throws {
    let scratch = try ScratchFolder(prefix: "xai-similarity")
    defer { scratch.remove() }
    let page = scratch.file("pair.html")
    let result = try runXai([
      "similarity", "--model", encoder, "--html", page, "<script>alert(1)</script> the movie", "a film & \"it\"",
    ])
    XCTAssertEqual(result.status, 0, result.stderr)
    let html = try String(contentsOfFile: page, encoding: .utf8)
    XCTAssertFalse(html.contains("<script>"), "text is escaped")
    let linked = html.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "")
    XCTAssertFalse(linked.contains("http://") || linked.contains("https://"), "no external resource")
    XCTAssertFalse(html.contains("<link") || html.contains("src="))
    XCTAssertTrue(html.contains("Token × token relevance"))
    XCTAssertTrue(html.contains("<path d=\"M"), "links between the texts")
  }

  func testBadInputExitsWithTheDocumentedCodes() throws {
    let cases: [([String], Int32, String)] = [
      (["similarity", "--model", encoder, "", "a film"], 65, "text A"),
      (["similarity", "--model", encoder, "a film", " "], 65, "text B"),
      (["similarity", "--model", encoder, "--rank", "0", "a", "b"], 64, "--rank"),
      (["similarity", "--model", encoder, "--rank", "33", "a film", "the movie"], 64, "between 1 and 32"),
      (["similarity", "--model", encoder, "--method", "ig", "a", "b"], 64, "BiLRP"),
      (["similarity", "--model", "no-such-encoder", "a", "b"], 66, "no-such-encoder"),
      (["similarity", "--model", tinyDistilBert, "a film", "the movie"], 65, "not a sentence encoder"),
      (["similarity", "--model", encoder, "only one text"], 64, "b"),
    ]
    for (arguments, status, words) in cases {
      let result = try runXai(arguments)
      XCTAssertEqual(result.status, status, "\(arguments): \(result.stderr)")
      XCTAssertTrue(result.stderr.contains(words), "\(arguments): \(result.stderr)")
      XCTAssertFalse(result.stderr.contains("Fatal error"), result.stderr)
      XCTAssertEqual(result.stderr.split(separator: "\n").filter { $0.hasPrefix("xai:") }.count <= 1, true, result.stderr)
    }
  }

  func testBatchOverPairsWritesOneLinePerPairAndMethodAndThePage() throws {
    let scratch = try ScratchFolder(prefix: "xai-pairs")
    defer { scratch.remove() }
    let input = try scratch.write(
      """
      {"a": "the movie was good.", "b": "the film is great!", "id": "p1"}
      {"a": "it is the best", "b": "loved it, best film"}
      {"a": "a boring film.", "b": "the movie was not good"}

      """, to: "pairs.jsonl")
    let output = scratch.file("out.jsonl")
    let page = scratch.file("pairs.html")
    let result = try runXai([
      "batch", "--model", encoder, "--input", input, "--method", "lrp", "--method", "attnlrp", "--output", output,
      "--report", page, "--quiet",
    ])
    XCTAssertEqual(result.status, 0, result.stderr)
    let lines = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n")
    XCTAssertEqual(lines.count, 6)
    let first = try json(String(lines[0]))
    XCTAssertEqual(first["index"]?.int, 0)
    XCTAssertEqual(first["id"]?.string, "p1")
    XCTAssertEqual(first["method"]?.string, "lrp")
    XCTAssertEqual(try json(String(lines[1]))["method"]?.string, "attnlrp")
    // The same pair through `xai similarity` gives the same object.
    let single = try runXai([
      "similarity", "--model", encoder, "--format", "json", "--threads", "1", "the movie was good.",
      "the film is great!",
    ])
    XCTAssertEqual(
      try json(single.stdout)["matrix"]?.elements.count, first["matrix"]?.elements.count)
    XCTAssertEqual(try json(single.stdout)["cosine"]?.double ?? 0, first["cosine"]?.double ?? 1, accuracy: 1e-6)
    let html = try String(contentsOfFile: page, encoding: .utf8)
    XCTAssertTrue(html.contains("3 pairs"), html)
    XCTAssertTrue(html.contains("↔"))
  }

  func testBatchNamesTheLineOfAPairWithoutB() throws {
    let scratch = try ScratchFolder(prefix: "xai-pairs-bad")
    defer { scratch.remove() }
    let input = try scratch.write(
      """
      {"a": "the movie was good.", "b": "the film is great!"}
      {"a": "it is the best"}

      """, to: "pairs.jsonl")
    let result = try runXai([
      "batch", "--model", encoder, "--input", input, "--output", scratch.file("out.jsonl"), "--quiet",
    ])
    XCTAssertEqual(result.status, 65, result.stderr)
    XCTAssertTrue(result.stderr.contains("line 2") && result.stderr.contains("'b'"), result.stderr)
  }
}
