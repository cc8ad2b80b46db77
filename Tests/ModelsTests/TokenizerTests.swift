import Models
import XCTest

final class TokenizerTests: XCTestCase {
  /// vocab.txt: one piece per line, CRLF endings read as LF, one trailing newline optional,
  /// non-ASCII pieces kept, a file that is not UTF-8 refused naming it.
  func testVocabularyFileLinesCRLFAndInvalidUTF8() throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("xai-vocab-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let pieces = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "café", "##s", "naïve"]
    for (name, text) in [("lf", pieces.joined(separator: "\n") + "\n"), ("crlf", pieces.joined(separator: "\r\n")),
                         ("crlf-end", pieces.joined(separator: "\r\n") + "\r\n")] {
      let path = folder.appendingPathComponent(name).path
      try text.write(toFile: path, atomically: false, encoding: .utf8)
      let tokenizer = try WordPieceTokenizer(vocabFile: path, lowercase: false)
      XCTAssertEqual(tokenizer.vocabulary, pieces, name)
      XCTAssertEqual(tokenizer.padId, 0)
      XCTAssertEqual(tokenizer.separatorId, 3)
    }
    let broken = folder.appendingPathComponent("latin1").path
    try Data("[PAD]\n[UNK]\n[CLS]\n[SEP]\ncaf".utf8 + [0xE9] + Data("\n".utf8)).write(to: URL(fileURLWithPath: broken))
    XCTAssertThrowsError(try WordPieceTokenizer(vocabFile: broken, lowercase: false)) {
      XCTAssertTrue("\($0)".contains("latin1") && "\($0)".contains("UTF-8"), "\($0)")
    }
  }

  func testFullVocabularyMatchesHuggingFaceOnEveryHardCase() throws {
    let tokenizer = try WordPieceTokenizer(
      vocabFile: Fixtures.path("bert-uncased-vocab.txt"), lowercase: true)
    let cases = try Fixtures.json("tokenizer.json")["cases"]!.elements
    XCTAssertGreaterThan(cases.count, 20)
    for item in cases {
      let text = item["text"]!.string!
      let encoded = tokenizer.encode(text)
      XCTAssertEqual(
        encoded.pieces, item["full_pieces"]!.elements.map { $0.string! }, "text \(text.debugDescription)")
      XCTAssertEqual(encoded.ids, item["full_ids"]!.ints, "text \(text.debugDescription)")
    }
  }

  func testShippedVocabularyMatchesHuggingFaceOnEveryHardCase() throws {
    let tokenizer = try WordPieceTokenizer(
      vocabFile: Fixtures.sampleModel + "/vocab.txt", lowercase: true)
    for item in try Fixtures.json("tokenizer.json")["cases"]!.elements {
      let text = item["text"]!.string!
      XCTAssertEqual(tokenizer.encode(text).ids, item["shipped_ids"]!.ints, "text \(text.debugDescription)")
    }
  }

  func testCasedTokenizationWithoutAccentStrippingMatchesHuggingFace() throws {
    let tokenizer = try WordPieceTokenizer(
      vocabFile: Fixtures.path("bert-uncased-vocab.txt"), lowercase: false)
    for item in try Fixtures.json("tokenizer.json")["cases"]!.elements {
      let text = item["text"]!.string!
      XCTAssertEqual(tokenizer.encode(text).ids, item["cased_ids"]!.ints, "text \(text.debugDescription)")
    }
  }

  func testOffsetsPointBackIntoTheOriginalText() throws {
    let tokenizer = try WordPieceTokenizer(
      vocabFile: Fixtures.path("bert-uncased-vocab.txt"), lowercase: true)
    let encoded = tokenizer.encode("Crème brûlée, PLEASE!")
    XCTAssertEqual(encoded.pieces.first, "[CLS]")
    XCTAssertEqual(encoded.pieces.last, "[SEP]")
    let firstWord = encoded.tokens.filter { $0.word == 0 }
    XCTAssertGreaterThan(firstWord.count, 1, "crème splits into word pieces")
    let span = firstWord.first!.offsets.lowerBound..<firstWord.last!.offsets.upperBound
    XCTAssertEqual(encoded.substring(span), "Crème")
    XCTAssertEqual(
      encoded.tokens.last(where: { $0.piece == "," }).map { encoded.substring($0.offsets) }, ",")
    XCTAssertEqual(
      encoded.tokens.first(where: { $0.piece == "please" }).map { encoded.substring($0.offsets) },
      "PLEASE")
    let wordIndices = encoded.tokens.compactMap(\.word)
    XCTAssertEqual(wordIndices, wordIndices.sorted(), "word indices increase along the text")
  }

  func testTruncationKeepsClsAndSepAndSaysSo() throws {
    let tokenizer = try WordPieceTokenizer(
      vocabFile: Fixtures.path("bert-uncased-vocab.txt"), lowercase: true)
    let encoded = tokenizer.encode(String(repeating: "good movie ", count: 20), maxTokens: 10)
    XCTAssertEqual(encoded.tokens.count, 10)
    XCTAssertTrue(encoded.truncated)
    XCTAssertEqual(encoded.pieces.last, "[SEP]")
    XCTAssertFalse(tokenizer.encode("good movie", maxTokens: 10).truncated)
  }
}

final class TokenizerJSONTests: XCTestCase {
  func testTokenizerJSONGivesTheSameIdsAsVocabTxt() throws {
    let vocabPath = Fixtures.path("bert-uncased-vocab.txt")
    let fromVocab = try WordPieceTokenizer(vocabFile: vocabPath, lowercase: true)
    var entries: [String] = []
    for (id, piece) in fromVocab.vocabulary.enumerated() {
      var escaped = ""
      JSONStringEscaper.escape(piece, into: &escaped)
      entries.append("\(escaped): \(id)")
    }
    let json = """
      {"normalizer": {"type": "BertNormalizer", "lowercase": true, "strip_accents": null},
       "model": {"type": "WordPiece", "vocab": {\(entries.joined(separator: ", "))}}}
      """
    let path = FileManager.default.temporaryDirectory.appendingPathComponent(
      "xai-tokenizer-\(UUID().uuidString).json"
    ).path
    try json.write(toFile: path, atomically: true, encoding: .utf8)
    let fromJSON = try WordPieceTokenizer(tokenizerJSON: path)
    XCTAssertEqual(fromJSON.vocabulary.count, fromVocab.vocabulary.count)
    for item in try Fixtures.json("tokenizer.json")["cases"]!.elements {
      let text = item["text"]!.string!
      XCTAssertEqual(fromJSON.encode(text).ids, fromVocab.encode(text).ids, text.debugDescription)
    }
  }
}

/// JSON string literal escaping for building test files.
enum JSONStringEscaper {
  static func escape(_ text: String, into out: inout String) {
    out += "\""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      default:
        if scalar.value < 0x20 {
          out += String(format: "\\u%04x", scalar.value)
        } else {
          out.unicodeScalars.append(scalar)
        }
      }
    }
    out += "\""
  }
}
