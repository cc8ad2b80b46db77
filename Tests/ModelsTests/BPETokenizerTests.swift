import Foundation
import Models
import XCTest

/// Fixtures and expected values written by scripts/reference_bpe.py (`make reference`) from
/// Hugging Face `tokenizers`.
enum BPEFixtures {
  static let names = ["gpt2", "llama3", "qwen2", "smollm", "sentencepiece", "metaspace"]

  static func path(_ name: String) -> String { Fixtures.path("bpe/\(name).json") }

  static func tokenizer(_ name: String) throws -> BPETokenizer {
    try BPETokenizer(tokenizerJSON: path(name))
  }

  static let expected: JSONNode = try! Fixtures.json("bpe/expected.json")

  static var corpus: [String] { expected["corpus"]!.elements.map { $0.string! } }

  /// The real SmolLM2-135M-Instruct tokenizer folder (tokenizer.json, tokenizer_config.json):
  /// `XAI_SMOLLM2_TOKENIZER`, else `.build/models/smollm2-135m-instruct` where
  /// scripts/reference_bpe.py puts it; nil when neither is there (CI: the test is skipped).
  static var smolLM2Folder: String? {
    let folder =
      ProcessInfo.processInfo.environment["XAI_SMOLLM2_TOKENIZER"]
      ?? Fixtures.repository.appendingPathComponent(".build/models/smollm2-135m-instruct").path
    return FileManager.default.fileExists(atPath: folder + "/tokenizer.json") ? folder : nil
  }

  /// GPT-2's vocab.json and merges.txt: `XAI_GPT2_TOKENIZER`, else `.build/models/gpt2`.
  static var gpt2Folder: String? {
    let folder =
      ProcessInfo.processInfo.environment["XAI_GPT2_TOKENIZER"]
      ?? Fixtures.repository.appendingPathComponent(".build/models/gpt2").path
    return FileManager.default.fileExists(atPath: folder + "/merges.txt") ? folder : nil
  }

  /// The GGUF metadata a converter writes for the tokenizer.json at `path`.
  static func ggufMetadata(_ path: String, model: String, pre: String?) throws -> GGUFTokenizerMetadata {
    let root = try JSONDocument.read(path).rootNode
    let vocab = root["model"]!["vocab"]!
    var tokens = [String](repeating: "", count: vocab.keys.count)
    for name in vocab.keys { tokens[vocab[name]!.int!] = name }
    var types = [Int](repeating: 1, count: tokens.count)
    for item in root["added_tokens"]!.elements { types[item["id"]!.int!] = item["special"]!.bool! ? 3 : 4 }
    for (id, token) in tokens.enumerated() where token.count == 6 && token.hasPrefix("<0x") { types[id] = 6 }
    if let unknown = root["model"]!["unk_token"]?.string, let id = tokens.firstIndex(of: unknown) { types[id] = 2 }
    var metadata = GGUFTokenizerMetadata(model: model, tokens: tokens)
    metadata.tokenTypes = types
    metadata.merges = root["model"]!["merges"]!.elements.map { pair in
      pair.string ?? pair.elements.map { $0.string! }.joined(separator: " ")
    }
    metadata.pre = pre
    return metadata
  }
}

final class BPETokenizerTests: XCTestCase {
  /// Every fixture, every corpus string: ids with and without special tokens, decoded text
  /// with and without special tokens, equal to Hugging Face's.
  func testEveryFixtureMatchesHuggingFaceOnTheCorpus() throws {
    let corpus = BPEFixtures.corpus
    XCTAssertGreaterThan(corpus.count, 60)
    var compared = 0
    for name in BPEFixtures.names {
      let tokenizer = try BPEFixtures.tokenizer(name)
      let cases = BPEFixtures.expected["tokenizers"]![name]!["cases"]!.elements
      XCTAssertEqual(cases.count, corpus.count)
      for (text, item) in zip(corpus, cases) {
        let ids = item["ids"]!.ints
        let message = "\(name): \(text.debugDescription)"
        XCTAssertEqual(tokenizer.encode(text, addSpecialTokens: false), ids, message)
        XCTAssertEqual(
          tokenizer.encode(text, addSpecialTokens: true), item["ids_with_specials"]?.ints ?? ids, message)
        let decoded = item["decoded"]?.string ?? text
        XCTAssertEqual(tokenizer.decode(ids), decoded, message)
        XCTAssertEqual(
          tokenizer.decode(ids, skipSpecialTokens: true), item["decoded_skipping_specials"]?.string ?? decoded, message)
        compared += 1
      }
    }
    XCTAssertEqual(compared, corpus.count * BPEFixtures.names.count)
  }

  /// Random strings over an alphabet of class boundaries (contractions, CR/LF, NBSP, marks,
  /// digits of other scripts, emoji joiners, added tokens).
  func testEveryFixtureMatchesHuggingFaceOnRandomStrings() throws {
    for name in BPEFixtures.names {
      let tokenizer = try BPEFixtures.tokenizer(name)
      let entry = BPEFixtures.expected["tokenizers"]![name]!
      let texts = entry["random_texts"]!.elements.map { $0.string! }
      let cases = entry["random"]!.elements
      XCTAssertEqual(texts.count, cases.count)
      XCTAssertGreaterThan(texts.count, 100)
      for (text, item) in zip(texts, cases) {
        XCTAssertEqual(tokenizer.encode(text, addSpecialTokens: false), item["ids"]!.ints, "\(name): \(text.debugDescription)")
      }
    }
  }

  /// Id lists no text encodes to: characters cut between tokens, stray continuation bytes,
  /// surrogates, ids of no token.
  func testDecodingArbitraryIdsMatchesHuggingFace() throws {
    for name in ["gpt2", "sentencepiece"] {
      let tokenizer = try BPEFixtures.tokenizer(name)
      let cases = BPEFixtures.expected["tokenizers"]![name]!["decode"]!.elements
      XCTAssertGreaterThan(cases.count, 10)
      for item in cases {
        let ids = item["ids"]!.ints
        XCTAssertEqual(tokenizer.decode(ids), item["decoded"]!.string!, "\(name): \(ids)")
        XCTAssertEqual(
          tokenizer.decode(ids, skipSpecialTokens: true), item["decoded_skipping_specials"]!.string!, "\(name): \(ids)")
      }
    }
  }

  func testDisplayTextShowsEachTokenAsAUserReadsIt() throws {
    let gpt2 = try BPEFixtures.tokenizer("gpt2")
    let plain = gpt2.displayTexts(gpt2.encode("Hello world\n", addSpecialTokens: false))
    XCTAssertEqual(plain.joined(), "Hello world\n", "whole characters read as the text: \(plain)")
    XCTAssertEqual(plain.last, "\n", "Ċ reads as a line break")
    XCTAssertTrue(plain.contains { $0.hasPrefix(" w") }, "Ġ reads as a space: \(plain)")
    let shown = gpt2.displayTexts(gpt2.encode("Hello world\n\u{1F600}", addSpecialTokens: false))
    // The emoji's four bytes are single-byte tokens in the tiny vocabulary.
    XCTAssertEqual(shown.suffix(4), ["<0xF0>", "<0x9F>", "<0x98>", "<0x80>"])
    XCTAssertEqual(gpt2.displayText(of: gpt2.id(of: "<|endoftext|>")!), "<|endoftext|>")
    XCTAssertEqual(gpt2.displayText(of: 1_000_000), "")

    let spm = try BPEFixtures.tokenizer("sentencepiece")
    XCTAssertEqual(spm.displayText(of: spm.id(of: "<0x0A>")!), "\n")
    XCTAssertEqual(spm.displayText(of: spm.id(of: "<0xE4>")!), "<0xE4>")
    let words = spm.encode("Hello world", addSpecialTokens: false)
    XCTAssertEqual(spm.displayTexts(words).joined(), " Hello world")
    XCTAssertEqual(spm.displayText(of: 1), "<s>")
  }

  func testTokensAndIdsRoundTrip() throws {
    let tokenizer = try BPEFixtures.tokenizer("llama3")
    let ids = tokenizer.encode("Hello <tool> world", addSpecialTokens: true)
    XCTAssertEqual(ids.first, tokenizer.id(of: "<|begin_of_text|>"))
    XCTAssertTrue(tokenizer.isSpecial(ids[0]))
    XCTAssertFalse(tokenizer.isSpecial(tokenizer.id(of: "<tool>")!), "<tool> is added, not special")
    XCTAssertEqual(tokenizer.tokens(ids).compactMap { tokenizer.id(of: $0) }, ids)
    XCTAssertEqual(tokenizer.idCount, 523)
  }

  /// The GGUF path: the fixtures' vocabularies and merges as a GGUF converter writes them.
  func testGGUFMetadataGivesTheSameIdsAsTokenizerJSON() throws {
    let corpus = BPEFixtures.corpus
    for (name, model, pre) in [
      ("gpt2", "gpt2", "gpt-2"), ("smollm", "gpt2", "smollm"), ("qwen2", "gpt2", "qwen2"),
      ("sentencepiece", "llama", nil),
    ] {
      var metadata = try BPEFixtures.ggufMetadata(BPEFixtures.path(name), model: model, pre: pre)
      metadata.bosTokenId = 1
      let tokenizer = try BPETokenizer(gguf: metadata, source: "\(name).gguf")
      let cases = BPEFixtures.expected["tokenizers"]![name]!["cases"]!.elements
      for (text, item) in zip(corpus, cases) {
        XCTAssertEqual(tokenizer.encode(text, addSpecialTokens: false), item["ids"]!.ints, "\(name): \(text.debugDescription)")
        if model == "llama" {
          XCTAssertEqual(tokenizer.encode(text), item["ids_with_specials"]!.ints, "\(name): \(text.debugDescription)")
          XCTAssertEqual(tokenizer.decode(item["ids"]!.ints), item["decoded"]?.string ?? text)
        }
      }
    }
  }

  /// A SentencePiece GGUF without merges: merges come from the scores (a token's score
  /// ranks every split of it into two tokens).
  func testGGUFMergesDerivedFromScores() throws {
    var metadata = GGUFTokenizerMetadata(
      model: "llama", tokens: ["<unk>", "<s>", "</s>", "▁", "a", "b", "c", "ab", "▁ab", "abc", "bc"])
    metadata.tokenTypes = [2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1]
    metadata.scores = [0, 0, 0, 0, 0, 0, 0, -1, -2, -3, -4]
    metadata.bosTokenId = 1
    let tokenizer = try BPETokenizer(gguf: metadata, source: "spm.gguf")
    XCTAssertEqual(tokenizer.encode("ab abc c"), [1, 8, 8, 6, 3, 6], "▁ab (rank 1) before ab c (rank 3)")
    XCTAssertEqual(tokenizer.decode([1, 8, 8, 6, 3, 6], skipSpecialTokens: true), "ab abc c")
    XCTAssertEqual(tokenizer.encode("d"), [1, 3, 0], "no byte tokens: <unk>")
  }

  func testRealSmolLM2TokenizerMatchesHuggingFace() throws {
    guard let folder = BPEFixtures.smolLM2Folder else {
      throw XCTSkip("SmolLM2's tokenizer is not installed (XAI_SMOLLM2_TOKENIZER or .build/models; scripts/reference_bpe.py)")
    }
    let tokenizer = try BPETokenizer(tokenizerJSON: folder + "/tokenizer.json")
    XCTAssertEqual(tokenizer.vocabulary.count, 49152)
    var metadata = try BPEFixtures.ggufMetadata(folder + "/tokenizer.json", model: "gpt2", pre: "smollm")
    metadata.bosTokenId = 1
    metadata.eosTokenId = 2
    let fromGGUF = try BPETokenizer(gguf: metadata, source: "SmolLM2.gguf")
    let cases = try Fixtures.json("bpe/smollm2-expected.json")["cases"]!.elements
    XCTAssertGreaterThan(cases.count, 60)
    for item in cases {
      let text = item["text"]!.string!
      let ids = item["ids"]!.ints
      XCTAssertEqual(tokenizer.encode(text), ids, text.debugDescription)
      XCTAssertEqual(fromGGUF.encode(text), ids, text.debugDescription)
      XCTAssertEqual(tokenizer.decode(ids), item["decoded"]!.string!, text.debugDescription)
    }
    let template = try XCTUnwrap(ChatTemplate.load(folder: folder))
    XCTAssertEqual(
      template.family, .chatML(defaultSystemPrompt: "You are a helpful AI assistant named SmolLM, trained by Hugging Face"))
  }

  func testRealGPT2FilesMatchHuggingFace() throws {
    guard let folder = BPEFixtures.gpt2Folder else {
      throw XCTSkip("GPT-2's vocab.json/merges.txt are not installed (XAI_GPT2_TOKENIZER or .build/models; scripts/reference_bpe.py)")
    }
    let tokenizer = try BPETokenizer(vocabJSON: folder + "/vocab.json", mergesTXT: folder + "/merges.txt")
    XCTAssertEqual(tokenizer.vocabulary.count, 50257)
    let cases = try Fixtures.json("bpe/gpt2-expected.json")["cases"]!.elements
    XCTAssertGreaterThan(cases.count, 60)
    for item in cases {
      let text = item["text"]!.string!
      XCTAssertEqual(tokenizer.encode(text), item["ids"]!.ints, text.debugDescription)
      XCTAssertEqual(tokenizer.decode(item["ids"]!.ints), item["decoded"]!.string!, text.debugDescription)
    }
  }
}

final class BPEChatTemplateTests: XCTestCase {
  func testChatMLTemplatesRenderAsHuggingFace() throws {
    let root = try Fixtures.json("bpe/chat-templates.json")
    var templates: [String: ChatTemplate] = [:]
    for name in root["templates"]!.keys {
      templates[name] = try ChatTemplate(template: root["templates"]![name]!.string!, source: name)
    }
    XCTAssertEqual(templates["qwen2"]?.family, .chatML(defaultSystemPrompt: "You are a helpful assistant."))
    XCTAssertEqual(templates["chatml"]?.family, .chatML(defaultSystemPrompt: nil))
    let cases = root["cases"]!.elements
    XCTAssertGreaterThanOrEqual(cases.count, 20)
    for item in cases {
      let name = item["template"]!.string!
      let messages = item["messages"]!.elements.map {
        ChatMessage(role: $0["role"]!.string!, content: $0["content"]!.string!)
      }
      let rendered = templates[name]!.render(messages, addGenerationPrompt: item["add_generation_prompt"]!.bool!)
      XCTAssertEqual(rendered, item["text"]!.string!, "\(name) \(messages)")
    }
  }

  func testOtherTemplatesAreRefusedByName() throws {
    let root = try Fixtures.json("bpe/chat-templates.json")
    let llama2 = root["refused"]!["llama2"]!.string!
    XCTAssertThrowsError(try ChatTemplate(template: llama2, source: "tokenizer_config.json")) { error in
      XCTAssertTrue("\(error)".contains("[INST]"), "\(error)")
      XCTAssertTrue("\(error)".contains("tokenizer_config.json"), "\(error)")
    }
    // ChatML with extra logic (a condition on the role) is not taken for the plain form.
    let conditional =
      "{% for message in messages %}{% if message['role'] == 'user' %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endif %}{% endfor %}"
    XCTAssertThrowsError(try ChatTemplate(template: conditional, source: "t")) { error in
      XCTAssertTrue("\(error)".contains("ChatML template with logic"), "\(error)")
    }
    XCTAssertThrowsError(try ChatTemplate(template: "{{ 'unterminated }}", source: "t"))
  }

  func testWhitespaceControlAndAttributeAccessAreTheSameTemplate() throws {
    let template = """
      {%- for message in messages -%}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' -}}
      {%- endfor -%}
      {%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}
      """
    XCTAssertEqual(try ChatTemplate(template: template, source: "t").family, .chatML(defaultSystemPrompt: nil))
  }
}

/// Hostile or unsupported files: one clear `ModelError` naming file and key, never a trap.
final class BPELoaderErrorTests: XCTestCase {
  private var folder: URL!

  override func setUpWithError() throws {
    folder = FileManager.default.temporaryDirectory.appendingPathComponent("xai-bpe-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
  }

  override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

  /// The fixture `name` changed by `change` (on its JSON objects), loaded; the error's text.
  private func refusal(_ name: String = "gpt2", _ change: (inout [String: Any]) -> Void) throws -> String {
    let data = try Data(contentsOf: URL(fileURLWithPath: BPEFixtures.path(name)))
    var root = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    change(&root)
    let path = folder.appendingPathComponent("tokenizer.json").path
    try JSONSerialization.data(withJSONObject: root).write(to: URL(fileURLWithPath: path))
    do {
      _ = try BPETokenizer(tokenizerJSON: path)
      XCTFail("the change was accepted")
      return ""
    } catch let error as ModelError {
      XCTAssertTrue(error.description.contains(path), error.description)
      return error.description
    }
  }

  /// `root[key][member] = value`.
  private func set(_ root: inout [String: Any], _ key: String, _ member: String, _ value: Any) {
    var object = root[key] as? [String: Any] ?? [:]
    object[member] = value
    root[key] = object
  }

  func testUnsupportedComponentsAreRefusedByName() throws {
    XCTAssertTrue(
      try refusal { $0["pre_tokenizer"] = ["type": "Whitespace"] }.contains("'Whitespace', a pre-tokenizer xai does not run"))
    XCTAssertTrue(try refusal { $0["normalizer"] = ["type": "Lowercase"] }.contains("normalizer.type' is 'Lowercase'"))
    XCTAssertTrue(try refusal { $0["decoder"] = ["type": "WordPiece"] }.contains("'WordPiece', a decoder xai does not run"))
    XCTAssertTrue(try refusal { $0["post_processor"] = ["type": "RobertaProcessing"] }.contains("RobertaProcessing"))
    XCTAssertTrue(try refusal { self.set(&$0, "model", "type", "Unigram") }.contains("'Unigram'"))
    XCTAssertTrue(try refusal { self.set(&$0, "model", "dropout", 0.1) }.contains("model.dropout"))
    XCTAssertTrue(try refusal { self.set(&$0, "model", "end_of_word_suffix", "</w>") }.contains("end_of_word_suffix"))
    func changeSplit(_ member: String, _ value: Any) -> (inout [String: Any]) -> Void {
      { root in
        var pre = root["pre_tokenizer"] as! [String: Any]
        var steps = pre["pretokenizers"] as! [[String: Any]]
        steps[0][member] = value
        pre["pretokenizers"] = steps
        root["pre_tokenizer"] = pre
      }
    }
    XCTAssertTrue(try refusal("llama3", changeSplit("behavior", "Removed")).contains("behavior Isolated only"))
    XCTAssertTrue(try refusal("llama3", changeSplit("invert", true)).contains("invert"))
    XCTAssertTrue(
      try refusal("llama3", changeSplit("pattern", ["Regex": #"\p{N}{1,4}"#]))
        .contains("not GPT-2's, Llama 3's or Qwen2's pattern"))
    XCTAssertTrue(try refusal("llama3", changeSplit("pattern", ["String": " "])).contains("not a regular expression xai knows"))
    XCTAssertTrue(
      try refusal("sentencepiece") { root in
        root["normalizer"] = ["type": "Replace", "pattern": ["Regex": " +"], "content": "▁"]
      }.contains("regular expression"))
    XCTAssertTrue(
      try refusal("metaspace") { root in self.set(&root, "pre_tokenizer", "prepend_scheme", "sometimes") }
        .contains("not always, first or never"))
  }

  func testBrokenVocabulariesAndMergesAreRefused() throws {
    func vocab(_ change: @escaping (inout [String: Any]) -> Void) -> (inout [String: Any]) -> Void {
      { root in
        var model = root["model"] as! [String: Any]
        var vocab = model["vocab"] as! [String: Any]
        change(&vocab)
        model["vocab"] = vocab
        root["model"] = model
      }
    }
    XCTAssertTrue(try refusal("gpt2", vocab { $0["!"] = 0 }).contains("already the id of"))
    XCTAssertTrue(try refusal("gpt2", vocab { $0["!"] = 99999 }).contains("outside 0…"))
    XCTAssertTrue(try refusal("gpt2", vocab { $0["!"] = "one" }).contains("is not an id"))
    XCTAssertTrue(try refusal("gpt2", vocab { $0["!"] = -1 }).contains("outside 0…"))
    XCTAssertTrue(try refusal { self.set(&$0, "model", "merges", [["Ġ", "nope"]]) }.contains("merges[0]"))
    XCTAssertTrue(try refusal { self.set(&$0, "model", "merges", [["Ġ"]]) }.contains("merges[0]"))
    XCTAssertTrue(try refusal { self.set(&$0, "model", "merges", ["Ġt"]) }.contains("not two tokens"))
    XCTAssertTrue(try refusal { self.set(&$0, "model", "merges", 7) }.contains("model.merges"))
    XCTAssertTrue(
      try refusal { root in
        root["added_tokens"] = [["id": 7, "content": "<|endoftext|>", "special": true]]
      }.contains("the vocabulary gives"))
    XCTAssertTrue(try refusal { $0["added_tokens"] = [["content": "x"]] }.contains("added_tokens[0].id"))
  }

  func testPlainDataIsChecked() {
    func refused(_ body: () throws -> BPETokenizer) -> String {
      do {
        _ = try body()
        return "accepted"
      } catch { return "\(error)" }
    }
    let configuration = BPETokenizer.Configuration.byteLevel(.gpt2)
    XCTAssertTrue(
      refused { try BPETokenizer(vocabulary: ["a", "b"], merges: [("a", "b")], configuration: configuration, source: "s") }
        .contains("'ab', which is not in the vocabulary"))
    XCTAssertTrue(
      refused { try BPETokenizer(vocabulary: ["a", "a"], merges: [], configuration: configuration, source: "s") }
        .contains("twice"))
    XCTAssertTrue(refused { try BPETokenizer(vocabulary: [], merges: [], configuration: configuration, source: "s") }.contains("empty"))
    var unknown = configuration
    unknown.unknownToken = "<unk>"
    XCTAssertTrue(refused { try BPETokenizer(vocabulary: ["a"], merges: [], configuration: unknown, source: "s") }.contains("unk_token"))
    XCTAssertTrue(
      refused {
        try BPETokenizer(
          vocabulary: ["a"], merges: [], addedTokens: [BPEAddedToken(content: "<x>", id: 0)],
          configuration: configuration, source: "s")
      }.contains("the id of 'a'"))
    XCTAssertTrue(
      refused {
        try BPETokenizer(
          vocabulary: ["a"], merges: [], addedTokens: [BPEAddedToken(content: "<x>", id: -3)],
          configuration: configuration, source: "s")
      }.contains("not a valid id"))
    var doubled = configuration
    doubled.preTokenizers += doubled.preTokenizers
    XCTAssertTrue(refused { try BPETokenizer(vocabulary: ["a"], merges: [], configuration: doubled, source: "s") }.contains("2 ByteLevel steps"))
    var growing = configuration
    growing.normalizers = Array(repeating: .replace("a", with: "aa"), count: 7)
    XCTAssertTrue(refused { try BPETokenizer(vocabulary: ["a"], merges: [], configuration: growing, source: "s") }.contains("more than 64"))
    growing.normalizers = [.replace("", with: "x")]
    XCTAssertTrue(refused { try BPETokenizer(vocabulary: ["a"], merges: [], configuration: growing, source: "s") }.contains("empty pattern"))
    growing.normalizers = Array(repeating: .nfc, count: 17)
    XCTAssertTrue(refused { try BPETokenizer(vocabulary: ["a"], merges: [], configuration: growing, source: "s") }.contains("at most 16"))
    var prefix = configuration
    prefix.prefix = [5]
    XCTAssertTrue(refused { try BPETokenizer(vocabulary: ["a"], merges: [], configuration: prefix, source: "s") }.contains("id 5"))
  }

  func testBrokenGGUFMetadataIsRefused() throws {
    let good = try BPEFixtures.ggufMetadata(BPEFixtures.path("gpt2"), model: "gpt2", pre: "gpt-2")
    func refused(_ change: (inout GGUFTokenizerMetadata) -> Void) -> String {
      var metadata = good
      change(&metadata)
      do {
        _ = try BPETokenizer(gguf: metadata, source: "model.gguf")
        return "accepted"
      } catch { return "\(error)" }
    }
    XCTAssertEqual(refused { _ in }, "accepted")
    XCTAssertTrue(refused { $0.tokenTypes = [1] }.contains("tokenizer.ggml.token_type"))
    XCTAssertTrue(refused { $0.tokenTypes![3] = 9 }.contains("not a token type"))
    XCTAssertTrue(refused { $0.bosTokenId = 100_000 }.contains("tokenizer.ggml.bos_token_id' is 100000"))
    XCTAssertTrue(refused { $0.eosTokenId = -1 }.contains("eos_token_id"))
    XCTAssertTrue(refused { $0.pre = "default" }.contains("'default', a pre-tokenizer xai does not reproduce"))
    XCTAssertTrue(refused { $0.pre = nil }.contains("tokenizer.ggml.pre' is missing"))
    XCTAssertTrue(refused { $0.model = "bert" }.contains("tokenizer.ggml.model' is 'bert'"))
    XCTAssertTrue(refused { $0.merges![0] = "Ġt" }.contains("entry 0"))
    XCTAssertTrue(refused { $0.merges![0] = "Ġ zz" }.contains("merges[0]"))
    XCTAssertTrue(refused { $0.merges = nil }.contains("merges"))
    XCTAssertTrue(refused { $0.tokens = [] }.contains("tokens"))
    XCTAssertTrue(
      refused {
        $0.model = "llama"
        $0.merges = nil
      }.contains("no scores"))
    XCTAssertTrue(
      refused {
        $0.model = "llama"
        $0.merges = nil
        $0.scores = [Float](repeating: .nan, count: $0.tokens.count)
      }.contains("NaN"))
  }

  func testBrokenMergesTXTIsRefused() throws {
    guard let gpt2 = try? JSONDocument.read(BPEFixtures.path("gpt2")).rootNode["model"]!["vocab"]!.literal else {
      return XCTFail("no fixture")
    }
    let vocab = folder.appendingPathComponent("vocab.json").path
    let merges = folder.appendingPathComponent("merges.txt").path
    try gpt2.write(toFile: vocab, atomically: false, encoding: .utf8)
    try "#version: 0.2\r\nĠ t\r\n".write(toFile: merges, atomically: false, encoding: .utf8)
    XCTAssertEqual(try BPETokenizer(vocabJSON: vocab, mergesTXT: merges).mergeCount, 1, "\\r\\n lines")
    try "#version: 0.2\nĠ t\n\nh e\n".write(toFile: merges, atomically: false, encoding: .utf8)
    XCTAssertThrowsError(try BPETokenizer(vocabJSON: vocab, mergesTXT: merges)) { error in
      XCTAssertTrue("\(error)".contains("line 3"), "\(error)")
    }
    try Data([0xFF, 0xFE]).write(to: URL(fileURLWithPath: merges))
    XCTAssertThrowsError(try BPETokenizer(vocabJSON: vocab, mergesTXT: merges)) { error in
      XCTAssertTrue("\(error)".contains("UTF-8"), "\(error)")
    }
  }
}
