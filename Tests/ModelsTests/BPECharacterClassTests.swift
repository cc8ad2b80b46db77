import Foundation
import XCTest

@testable import Models

/// The split patterns' character classes against Oniguruma's, as Hugging Face's tokenizers
/// sees them. The full comparison needs a dump of every code point's class (one letter each:
/// L, N, S for \s, O; `scripts/reference_bpe.py --classes-dump FILE`) named by
/// `XAI_ONIGURUMA_CLASSES`; without it, spot checks of the boundaries that matter.
final class BPECharacterClassTests: XCTestCase {
  func testSpotChecks() {
    let cases: [(UInt32, CharacterClass)] = [
      (0x41, .letter), (0x30, .number), (0x20, .space), (0x09, .space), (0x0B, .space), (0x1C, .other),
      (0x85, .space), (0xA0, .space), (0x1680, .space), (0x180E, .other), (0x200B, .other), (0x2028, .space),
      (0x202F, .space), (0x3000, .space), (0xFEFF, .other), (0x0301, .other), (0x00B2, .number),
      (0x216B, .number), (0x0663, .number), (0x4E16, .letter), (0x1F600, .other), (0x02B0, .letter),
      (0x5F, .other), (0x27, .other), (0x088F, .other),  // U+088F: Unicode 17, unassigned in 16
    ]
    for (value, expected) in cases {
      XCTAssertEqual(CharacterClass.of(value), expected, String(value, radix: 16))
    }
  }

  func testEveryCodePointAgainstADump() throws {
    guard let path = ProcessInfo.processInfo.environment["XAI_ONIGURUMA_CLASSES"] else {
      throw XCTSkip("XAI_ONIGURUMA_CLASSES names no class dump")
    }
    let dump = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
    var index = 0
    var differences: [String] = []
    for value in UInt32(0)..<0x110000 where !(0xD800...0xDFFF).contains(value) {
      let expected: CharacterClass =
        switch dump[index] {
        case UInt8(ascii: "L"): .letter
        case UInt8(ascii: "N"): .number
        case UInt8(ascii: "S"): .space
        default: .other
        }
      index += 1
      let found = CharacterClass.of(value)
      if found != expected { differences.append("U+\(String(value, radix: 16, uppercase: true)) \(expected)→\(found)") }
    }
    XCTAssertEqual(index, dump.count)
    XCTAssertTrue(differences.isEmpty, "\(differences.count) differ: \(differences.prefix(40))")
  }
}

/// Pre-tokenizer configurations the fixtures do not use (ByteLevel with `add_prefix_space`
/// and without its split, contiguous Digits, Metaspace's prepend schemes, Qwen2's pattern on
/// its own), piece by piece against tokenizers' `pre_tokenize_str`.
final class BPEPreTokenizerTests: XCTestCase {
  func testPiecesMatchHuggingFace() throws {
    let expected = try Fixtures.json("bpe/expected.json")
    let corpus = expected["corpus"]!.elements.map { $0.string! }
    let cases = expected["pre_tokenizers"]!
    XCTAssertGreaterThanOrEqual(cases.keys.count, 8)
    for name in cases.keys {
      let spec = cases[name]!["spec"]!.literal
      let json = #"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": "# + spec + "}"
      let tokenizer = try BPETokenizer(tokenizerJSON: JSONDocument.parse(json, source: name).rootNode, source: name)
      let expectedPieces = cases[name]!["pieces"]!.elements.map { $0.elements.map { $0.string! } }
      XCTAssertEqual(expectedPieces.count, corpus.count)
      for (text, pieces) in zip(corpus, expectedPieces) {
        var current = [BPEPreTokenizer.Piece(scalars: text.unicodeScalars.map(\.value), atTextStart: true)]
        for step in tokenizer.configuration.preTokenizers {
          var next: [BPEPreTokenizer.Piece] = []
          for piece in current where !piece.scalars.isEmpty { step.apply(piece, into: &next) }
          current = next
        }
        let found = current.filter { !$0.scalars.isEmpty }.map { String(scalarValues: $0.scalars) }
        XCTAssertEqual(found, pieces, "\(name): \(text.debugDescription)")
      }
    }
  }
}
