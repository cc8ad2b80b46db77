import Foundation
import Models
import Tensor
import XCTest

/// The real SmolLM2-135M-Instruct Q4_1 GGUF (`make models`) against Hugging Face
/// transformers loading the same file (scripts/reference_smollm2.py): tokens, the chat
/// prompt, logits at every position and 32 greedy tokens. Skipped when the file is absent.
final class DecoderRealModelTests: XCTestCase {
  static var modelPath: String {
    ProcessInfo.processInfo.environment["XAI_SMOLLM2_GGUF"]
      ?? Fixtures.repository.appendingPathComponent("models/smollm2-135m-instruct.gguf").path
  }

  func testSmolLM2MatchesTransformersOnTheSameGGUF() throws {
    guard FileManager.default.fileExists(atPath: Self.modelPath) else {
      throw XCTSkip("\(Self.modelPath) is absent; `make models` downloads it")
    }
    let model = try LanguageModel.load(path: Self.modelPath)
    XCTAssertEqual(model.config.family, .llama)
    XCTAssertEqual(model.config.layers, 30)
    XCTAssertEqual(model.config.keyValueHeads, 3)
    XCTAssertTrue(model.config.tiedHead)
    XCTAssertEqual(model.unusedWeights, [])
    let tokenizer = try XCTUnwrap(model.tokenizer)
    let cases = try Fixtures.json("decoders/smollm2-reference.json")["cases"]!.elements
    XCTAssertEqual(cases.count, 3)
    var worst: Float = 0
    for item in cases {
      let name = item["name"]!.string!
      let ids = item["input_ids"]!.ints
      let prompt = item["prompt"]!.string!
      if item["chat"]!.bool! {
        XCTAssertEqual(
          try model.chatPrompt([ChatMessage(role: "user", content: item["text"]!.string!)]), prompt, name)
      }
      XCTAssertEqual(tokenizer.encode(prompt), ids, name)
      let logits = withoutGrad { model.network.logits(embedded: model.network.embed(ids)) }
      let vocab = model.config.vocabSize
      let sample = item["sample_ids"]!.ints
      let expected = item["sampled_logits"]!.elements.map(\.floats)
      let argmax = item["argmax"]!.ints
      let scales = item["scale"]!.floats
      let values = logits.scalars
      for position in 0..<ids.count {
        let row = Array(values[(position * vocab)..<((position + 1) * vocab)])
        let found = zip(sample, expected[position]).map { abs(row[$0.0] - $0.1) }.max()!
        worst = max(worst, found / scales[position])
        XCTAssertLessThanOrEqual(found, 1e-3 * scales[position], "\(name) position \(position)")
        XCTAssertEqual(row.indices.max { row[$0] < row[$1] }, argmax[position], "\(name) argmax at \(position)")
      }
      let (generated, reason) = model.network.generate(
        prompt: ids, maxNewTokens: 32, stopTokens: [])
      XCTAssertEqual(generated.map(\.id), item["greedy"]!.ints, name)
      XCTAssertEqual(reason, .maxTokens)
    }
    print("SmolLM2: largest logit difference from transformers / max |logit|: \(worst)")
  }
}
