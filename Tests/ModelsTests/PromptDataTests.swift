import Foundation
import Tensor
import XCTest

@testable import Models

/// Prompt data sets of language models: the JSON Lines reader, the prompt's own tokens
/// (units), single-token targets, and the batched next-token forward of perturbed prompts.
final class PromptDataTests: XCTestCase {
  static let decoders = Fixtures.folder.appendingPathComponent("decoders")
  static let llama = decoders.appendingPathComponent("llama-gqa.q4_1.gguf").path

  private func write(_ text: String, name: String = "prompts.jsonl") throws -> String {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("xai-prompts-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    addTeardownBlock { try? FileManager.default.removeItem(at: folder) }
    let path = folder.appendingPathComponent(name).path
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
  }

  private func readAll(_ reader: PromptRecordReader) throws -> [RecordRead<PromptRecord>] {
    var reads: [RecordRead<PromptRecord>] = []
    while let read = try reader.next() { reads.append(read) }
    return reads
  }

  func testRecordsGiveFieldsIdsAndLinesAndBlankLinesAreSkipped() throws {
    let path = try write(
      """
      {"prompt": "The capital of France is", "target": " Paris", "id": "fr"}

      {"prompt": "2 + 2 =", "id": 17, "contrast": "#5"}
      {"prompt": "no id", "target": null}
      """)
    let reads = try readAll(PromptRecordReader(path: path))
    XCTAssertEqual(reads.map(\.index), [0, 1, 2])
    XCTAssertEqual(reads.map(\.line), [1, 3, 4])
    let records = try reads.map { try $0.result.get() }
    XCTAssertEqual(records[0], PromptRecord(index: 0, line: 1, id: "fr", prompt: "The capital of France is", target: " Paris", contrast: nil))
    XCTAssertEqual(records[1].id, "17", "an integer id is written as text")
    XCTAssertEqual(records[1].contrast, "#5")
    XCTAssertEqual(records[2].id, "2", "no id: the 0-based record index")
    XCTAssertNil(records[2].target)
    let renamed = try write(#"{"question": "Who wrote Hamlet?", "key": "h"}"#)
    let record = try XCTUnwrap(try PromptRecordReader(path: renamed, promptField: "question", idField: "key").next()).result.get()
    XCTAssertEqual(record.prompt, "Who wrote Hamlet?")
    XCTAssertEqual(record.id, "h")
  }

  func testBadRecordsFailAloneNamingFileLineAndField() throws {
    let path = try write(
      """
      {"prompt": "fine"}
      {"text": "the text path's field"}
      {"prompt": 3}
      {"prompt": "a", "target": 42}
      {"prompt": "a", "id": [1]}
      {"prompt": "a", "traget": " b"}
      not json
      ["prompt"]
      {"prompt": "a", "target": ""}
      """)
    let reads = try readAll(PromptRecordReader(path: path))
    XCTAssertEqual(reads.count, 9)
    XCTAssertNoThrow(try reads[0].result.get())
    let expected = [
      (2, "no field 'prompt'"), (3, "'prompt' must be a string; got a number"),
      (4, "'target' must be a string"), (5, "'id' must be a string or an integer; got an array"),
      (6, "unknown field 'traget'"), (7, "line 7"), (8, "not a JSON object"), (9, "'target' is empty"),
    ]
    for (line, fragment) in expected {
      let read = reads[line - 1]
      XCTAssertEqual(read.line, line)
      guard case .failure(let error) = read.result else {
        XCTFail("line \(line) should fail")
        continue
      }
      XCTAssertTrue(error.description.contains("\(path) line \(line)"), error.description)
      XCTAssertTrue(error.description.contains(fragment), "\(line): \(error.description)")
    }
    XCTAssertThrowsError(try PromptRecordReader(path: try write("prompt\nhello\n", name: "p.csv"))) {
      XCTAssertTrue("\($0)".contains("JSON Lines"), "\($0)")
    }
  }

  func testUnitsLeaveOutSpecialTokensAndTheChatTemplatesText() throws {
    let plain = try LanguageModel.load(path: Self.llama)
    let tokenizer = try XCTUnwrap(plain.tokenizer)
    let tokens = try plain.promptTokens("the cat sat")
    XCTAssertTrue(tokenizer.isSpecial(tokens.ids[0]), "the fixture's tokenizer adds a BOS")
    XCTAssertEqual(tokens.units, Array(1..<tokens.ids.count), "every token but the BOS")
    // The same network and tokenizer with a ChatML template (a default system prompt).
    let chat = LanguageModel(
      name: plain.name, path: plain.path, network: plain.network, tokenizer: plain.tokenizer,
      chatTemplate: ChatTemplate(family: .chatML(defaultSystemPrompt: "be kind")), chatTemplateProblem: nil,
      unusedWeights: [], storage: plain.storage)
    for system in [nil, "a cat"] {
      let formatted = try chat.promptTokens("the cat sat", chat: ChatFormat(system: system))
      let whole = try chat.chatPrompt(
        (system.map { [ChatMessage(role: "system", content: $0)] } ?? [])
          + [ChatMessage(role: "user", content: "the cat sat")])
      XCTAssertEqual(formatted.ids, tokenizer.encode(whole), "the ids are the rendered template's")
      XCTAssertGreaterThan(formatted.ids.count, tokens.ids.count + 10)
      XCTAssertEqual(
        tokenizer.decode(formatted.units.map { formatted.ids[$0] }), "the cat sat",
        "the units are the user's message, not the template around it")
      XCTAssertEqual(formatted.units, Array(formatted.units.first!...formatted.units.last!), "one run of positions")
    }
    // A prompt whose text also occurs in the template's tail and in the system message.
    for prompt in ["assistant", "sat"] {
      let formatted = try chat.promptTokens(prompt, chat: ChatFormat(system: "the cat sat; assistant"))
      XCTAssertEqual(tokenizer.decode(formatted.units.map { formatted.ids[$0] }), prompt, prompt)
    }
  }

  /// SmolLM2's ChatML template with its default system prompt: the units are exactly the
  /// user's message. Skipped when the model is absent.
  func testSmolLM2ChatUnitsAreTheUsersMessage() throws {
    guard FileManager.default.fileExists(atPath: DecoderRealModelTests.modelPath) else {
      throw XCTSkip("\(DecoderRealModelTests.modelPath) is absent; `make models` downloads it")
    }
    let model = try LanguageModel.load(path: DecoderRealModelTests.modelPath)
    let tokenizer = try XCTUnwrap(model.tokenizer)
    for prompt in ["The capital of France is", "Monday, Tuesday,\nWednesday"] {
      let plain = try model.promptTokens(prompt)
      XCTAssertEqual(plain.units, Array(plain.ids.indices), "SmolLM2 adds no BOS")
      let chat = try model.promptTokens(prompt, chat: ChatFormat())
      XCTAssertEqual(chat.units.map { chat.ids[$0] }, plain.ids, prompt)
      XCTAssertEqual(tokenizer.decode(chat.units.map { chat.ids[$0] }), prompt)
    }
  }

  func testATargetIsOneTokenOrAnIdInsideTheVocabulary() throws {
    let model = try LanguageModel.load(path: Self.llama)
    XCTAssertEqual(try model.tokenId("#5", what: "the target"), 5)
    XCTAssertEqual(try model.tokenId(" a", what: "the target"), model.tokenizer!.encode(" a", addSpecialTokens: false)[0])
    XCTAssertThrowsError(try model.tokenId("#64", what: "the target")) {
      XCTAssertTrue("\($0)".contains("outside the vocabulary of 64"), "\($0)")
    }
    XCTAssertThrowsError(try model.tokenId("the cat", what: "the target")) {
      XCTAssertTrue("\($0)".contains("the target 'the cat' is 5 tokens"), "\($0)")
    }
  }

  /// Each sequence of a batched next-token forward equals its own forward pass; checked on
  /// RoPE with grouped heads (GGUF blocks), learned positions (GPT-2) and q/k/v biases (Qwen2).
  func testBatchedNextTokenLogitsEqualEachSequenceAlone() throws {
    for name in ["llama-gqa.q4_1.gguf", "gpt2.q8_0.gguf", "qwen2.q8_0.gguf", "llama3-scaled"] {
      let model = try LanguageModel.load(path: Self.decoders.appendingPathComponent(name).path)
      let network = model.network
      let vocabulary = model.config.vocabSize
      let base = [3, 17, 42, 8, 9, 11, 30]
      let sequences = [base, base.map { ($0 * 7) % vocabulary }, [1, 2, 3, 4, 5, 6, 7], base.reversed()]
      let batched = network.nextTokenLogits(sequences)
      XCTAssertEqual(batched.shape, [sequences.count, vocabulary])
      for (row, ids) in sequences.enumerated() {
        let alone = withoutGrad { network.logits(embedded: network.embed(ids), lastOnly: true) }.scalars
        let together = Array(batched.scalars[(row * vocabulary)..<((row + 1) * vocabulary)])
        let scale = alone.map(abs).max()!
        XCTAssertLessThanOrEqual(maxAbsoluteDifference(together, alone), 1e-5 * scale, "\(name) row \(row)")
      }
    }
  }

  func testLastPositionAttentionIsADistributionOverThePrompt() throws {
    let model = try LanguageModel.load(path: Self.llama)
    let attention = model.network.lastPositionAttention([0, 25, 32, 2, 8, 41])
    XCTAssertEqual(attention.count, 6)
    XCTAssertTrue(attention.allSatisfy { $0 >= 0 })
    XCTAssertEqual(attention.reduce(0, +), 1, accuracy: 1e-5)
  }
}
