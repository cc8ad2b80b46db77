import Foundation
import XCTest

@testable import Models

/// The byte-level vocabulary index behind WordPiece: every piece found under its id, a piece
/// listed twice under its last id (Hugging Face's reading of vocab.txt), empty pieces and
/// line endings as the old String-per-line reader had them, and scalars (not bytes) for the
/// longest-piece bound.
final class PieceTableTests: XCTestCase {
  private func table(_ text: [UInt8]) -> PieceTable? {
    text.withUnsafeBufferPointer { PieceTable(lines: $0) }
  }

  func testLinesEndingsEmptyPiecesAndDuplicates() throws {
    let cases: [(String, [String])] = [
      ("", []), ("a", ["a"]), ("a\n", ["a"]), ("a\nb", ["a", "b"]), ("a\r\nb\r\n", ["a", "b"]),
      ("a\n\nb\n", ["a", "", "b"]), ("a\n\n", ["a", ""]), ("\r\n", [""]), ("x\ry\n", ["x\ry"]),
      ("a\n\r", ["a"]), ("\r", []), ("a\n\rb", ["a", "\rb"]),
    ]
    for (text, pieces) in cases {
      let table = try XCTUnwrap(table(Array(text.utf8)), text.debugDescription)
      XCTAssertEqual((0..<table.count).map { table[$0] }, pieces, text.debugDescription)
    }
    let repeated = try XCTUnwrap(table(Array("[UNK]\nthe\n##s\nthe\n".utf8)))
    XCTAssertEqual(repeated.count, 4)
    XCTAssertEqual(repeated.id(of: "the"), 3, "the last of two equal lines wins")
    XCTAssertEqual(repeated[1], "the")
    XCTAssertNil(repeated.id(of: "th"))
    XCTAssertNil(repeated.id(of: "thee"))
    XCTAssertNil(repeated.id(of: ""))
    XCTAssertNil(table(Array("ok\ncaf".utf8) + [0xE9] + [0x0A]), "a line that is not UTF-8")
  }

  func testEveryPieceOfALargeVocabularyIsFoundAndTheLongestCountsScalars() throws {
    var pieces = (0..<40_000).map { "p\($0)" } + ["##ünïcödé", "naïve", "", "##"]
    pieces.append("日本語テキスト")  // 7 scalars, 21 bytes
    let built = try XCTUnwrap(PieceTable(pieces: pieces))
    XCTAssertEqual(built.count, pieces.count)
    for (id, piece) in pieces.enumerated() {
      XCTAssertEqual(built.id(of: piece), id, piece)
      XCTAssertEqual(built[id], piece)
    }
    XCTAssertEqual(built.longestScalars, 7)
    let fromLines = try XCTUnwrap(table(Array(pieces.joined(separator: "\n").utf8)))
    XCTAssertEqual(fromLines.count, pieces.count)
    XCTAssertEqual(fromLines.id(of: "##ünïcödé"), 40_000)
    XCTAssertEqual(fromLines.longestScalars, 7)
  }

  /// BERT's 30,522-line vocabulary: every line found under its line number.
  func testBERTVocabularyFileIndexesEveryLine() throws {
    let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("bert-uncased-vocab.txt")))
    let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
      .dropLast().map(String.init)
    let read = try XCTUnwrap(data.withUnsafeBytes { PieceTable(lines: $0.bindMemory(to: UInt8.self)) })
    XCTAssertEqual(read.count, 30_522)
    XCTAssertEqual(read.id(of: "[UNK]"), 100)
    var last: [String: Int] = [:]
    for (line, piece) in lines.enumerated() { last[piece] = line }
    for (line, piece) in lines.enumerated() where last[piece] == line {
      XCTAssertEqual(read.id(of: piece), line, piece)
      XCTAssertEqual(read[line], piece)
    }
  }
}
