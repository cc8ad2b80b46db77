import Foundation
import Models
import XCTest

/// `xai generate` on the tiny GGUF fixtures (each carries a 64-token byte-level tokenizer
/// of lower-case letters, space, newline, '.' and ',').
final class GenerateCommandTests: XCTestCase {
  static let decoders = checkout.appendingPathComponent("Tests/ModelsTests/Fixtures/decoders")
  static let llama = decoders.appendingPathComponent("llama-gqa.q4_1.gguf").path
  static let qwen = decoders.appendingPathComponent("qwen2.q8_0.gguf").path

  func json(_ result: CommandResult) throws -> JSONNode {
    try JSONDocument.parse(result.stdout, source: "stdout").rootNode
  }

  func testGreedyJSONMatchesTheLibraryAndTheStreamedText() throws {
    let result = try runXai(["generate", "--model", Self.llama, "--max-new-tokens", "12", "--format", "json", "the cat sat"])
    XCTAssertEqual(result.status, 0, result.stderr)
    let output = try json(result)
    let model = try LanguageModel.load(path: Self.llama)
    let prompt = try model.encode("the cat sat")
    XCTAssertEqual(output["prompt_ids"]!.ints, prompt)
    let expected = model.network.generate(
      prompt: prompt, maxNewTokens: 12, stopTokens: Set(model.config.eosTokenIds))
    XCTAssertEqual(output["ids"]!.ints, expected.tokens.map(\.id))
    XCTAssertEqual(output["stop_reason"]!.string, expected.reason.rawValue)
    let logProbabilities = output["log_probs"]!.floats
    XCTAssertEqual(logProbabilities.count, expected.tokens.count)
    XCTAssertTrue(logProbabilities.allSatisfy { $0 <= 0 })
    XCTAssertEqual(output["tokens"]!.elements.count, expected.tokens.count)
    // The streamed text is the decoded continuation (end tokens not printed), then a newline.
    let streamed = try runXai(["generate", "--model", Self.llama, "--max-new-tokens", "12", "the cat sat"])
    XCTAssertEqual(streamed.status, 0, streamed.stderr)
    XCTAssertEqual(streamed.stdout, output["text"]!.string! + "\n")
  }

  func testSamplingIsReproducibleWithASeed() throws {
    let arguments = ["generate", "--model", Self.qwen, "--max-new-tokens", "16", "--temperature", "1.2", "--top-k", "8",
      "--top-p", "0.9", "--format", "json"]
    let first = try runXai(arguments + ["--seed", "3", "a b"])
    let again = try runXai(arguments + ["--seed", "3", "a b"])
    let other = try runXai(arguments + ["--seed", "4", "a b"])
    XCTAssertEqual(first.status, 0, first.stderr)
    XCTAssertEqual(try json(first)["ids"]!.ints, try json(again)["ids"]!.ints)
    XCTAssertNotEqual(try json(first)["ids"]!.ints, try json(other)["ids"]!.ints)
  }

  func testBadOptionsAreUsageErrors() throws {
    for (arguments, fragment) in [
      (["--max-new-tokens", "1000000000000"], "--max-new-tokens"),
      (["--max-new-tokens", "0"], "--max-new-tokens"),
      (["--temperature", "-1"], "--temperature"),
      (["--temperature", "nan"], "--temperature"),
      (["--top-p", "2", "--temperature", "1"], "--top-p"),
      (["--top-k", "5"], "--temperature"),
      (["--system", "be brief"], "--chat"),
    ] {
      let result = try runXai(["generate", "--model", Self.llama] + arguments + ["hello"])
      XCTAssertEqual(result.status, 64, "\(arguments): \(result.stderr)")
      XCTAssertTrue(result.stderr.contains(fragment), "\(arguments): \(result.stderr)")
    }
  }

  func testBadInputsGiveOneSentenceAndTheirExitCode() throws {
    let scratch = try ScratchFolder(prefix: "generate")
    defer { scratch.remove() }
    // A prompt longer than the 64 positions.
    let long = try runXai(["generate", "--model", Self.llama, String(repeating: "a ", count: 80)])
    XCTAssertEqual(long.status, 65, long.stderr)
    XCTAssertTrue(long.stderr.contains("64 positions"), long.stderr)
    // No chat template in the fixture.
    let chat = try runXai(["generate", "--model", Self.llama, "--chat", "hello"])
    XCTAssertEqual(chat.status, 65, chat.stderr)
    XCTAssertTrue(chat.stderr.contains("chat template"), chat.stderr)
    // A truncated file.
    let bytes = try Data(contentsOf: URL(fileURLWithPath: Self.llama))
    let truncated = scratch.file("cut.gguf")
    try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: truncated))
    let cut = try runXai(["generate", "--model", truncated, "hello"])
    XCTAssertEqual(cut.status, 65, cut.stderr)
    XCTAssertTrue(cut.stderr.contains("cut.gguf") && cut.stderr.hasPrefix("xai: "), cut.stderr)
    XCTAssertEqual(cut.stderr.split(separator: "\n").count, 1, cut.stderr)
    // Not there, and not a language model.
    XCTAssertEqual(try runXai(["generate", "--model", scratch.file("absent.gguf"), "hello"]).status, 66)
    let classifier = try runXai(["generate", "--model", tinyDistilBert, "hello"])
    XCTAssertEqual(classifier.status, 65, classifier.stderr)
    XCTAssertTrue(classifier.stderr.contains("language model"), classifier.stderr)
    // And a language model where a graph network is needed.
    let graph = try runXai([
      "graph", "--model", Self.llama, "--graph", checkout.appendingPathComponent("samples/data/ba_graphs.jsonl").path,
    ])
    XCTAssertEqual(graph.status, 65, graph.stderr)
    XCTAssertTrue(graph.stderr.contains("xai generate"), graph.stderr)
  }

  func testModelsListsGGUFFilesAndHuggingFaceDecoders() throws {
    let result = try runXai(["models", Self.decoders.path])
    XCTAssertEqual(result.status, 0, result.stderr)
    for name in ["llama-gqa.q4_1", "qwen2.q8_0", "gpt2.q8_0", "llama3-scaled"] {
      XCTAssertTrue(result.stdout.contains(name), result.stdout)
    }
  }
}

extension JSONNode {
  fileprivate var ints: [Int] { elements.compactMap(\.int) }
  fileprivate var floats: [Float] { elements.compactMap(\.double).map(Float.init) }
}
