import Foundation
import Models
import Tensor
import XCTest

/// Tiny random GPT-2, Llama (GQA, untied head, F16), Llama 3-scaled (BF16, sharded) and
/// Qwen2 models as Hugging Face folders, and as GGUF files in every block type, against the
/// logits and greedy continuations of Hugging Face transformers (scripts/reference_decoders.py;
/// where transformers cannot read a GGUF, a torch run of the dequantised weights).
final class DecoderReferenceTests: XCTestCase {
  static let folder = Fixtures.folder.appendingPathComponent("decoders")

  static func cases() throws -> [JSONNode] { try Fixtures.json("decoders/expected.json")["cases"]!.elements }

  static func path(of item: JSONNode) -> String {
    let source = item["source"]!
    return folder.appendingPathComponent(source["folder"]?.string ?? source["gguf"]!.string!).path
  }

  /// Logits at every position within 1e-4 of the largest |logit| (the reference is rounded
  /// to 4 decimals, 5e-5, and float32 summation order adds ~1e-6 of scale here), and the
  /// 32 greedy tokens identical.
  func check(_ model: LanguageModel, against item: JSONNode, label: String) throws {
    let ids = item["input_ids"]!.ints
    let expected = item["logits"]!.elements.map(\.floats)
    let scale = Float(item["scale"]!.double!)
    let logits = withoutGrad { model.network.logits(embedded: model.network.embed(ids)) }
    XCTAssertEqual(logits.shape, [ids.count, model.config.vocabSize], label)
    let values = logits.scalars
    let vocab = model.config.vocabSize
    var worst: Float = 0
    for position in 0..<ids.count {
      let row = Array(values[(position * vocab)..<((position + 1) * vocab)])
      worst = max(worst, maxAbsoluteDifference(row, expected[position]))
    }
    XCTAssertLessThanOrEqual(worst, 1e-4 * scale, "\(label): logits differ by \(worst) (scale \(scale))")
    let (generated, reason) = model.network.generate(
      prompt: item["greedy_prompt"]!.ints, maxNewTokens: 32, stopTokens: [])
    XCTAssertEqual(generated.map(\.id), item["greedy"]!.ints, "\(label): greedy continuation")
    XCTAssertEqual(reason, .maxTokens)
  }

  func testEveryFolderAndGGUFMatchesTheReference() throws {
    let cases = try Self.cases()
    XCTAssertGreaterThanOrEqual(cases.count, 14)
    for item in cases {
      let name = item["name"]!.string!
      let path = Self.path(of: item)
      let model = try LanguageModel.load(path: path)
      XCTAssertEqual(model.config.family.rawValue, item["family"]!.string, name)
      XCTAssertEqual(model.unusedWeights, [], name)
      try check(model, against: item, label: name)
      if item["source"]!["gguf"] != nil {
        // The same file dequantised to float32 at load: the block kernels and the plain
        // path agree with the reference alike.
        try check(try LanguageModel.load(path: path, dequantize: true), against: item, label: "\(name) (float32)")
      }
    }
  }

  func testGGUFTypesAreKeptAsBlocks() throws {
    let model = try LanguageModel.load(path: Self.folder.appendingPathComponent("llama-k.mixed-k.gguf").path)
    XCTAssertTrue(model.storage.contains("Q4_K") && model.storage.contains("Q6_K"), model.storage)
    XCTAssertNotNil(model.network.embedding.blockType)
  }

  func testCachedStepsEqualOneFullPass() throws {
    for name in ["gpt2", "llama-gqa", "qwen2", "llama-gqa.q4_1.gguf"] {
      let model = try LanguageModel.load(path: Self.folder.appendingPathComponent(name).path)
      let ids = Array(try Self.cases()[0]["input_ids"]!.ints.prefix(12)).map { $0 % model.config.vocabSize }
      let network = model.network
      let full = withoutGrad { network.logits(embedded: network.embed(ids)) }
      let cache = network.makeCache(capacity: ids.count)
      var pieces: [Float] = []
      withoutGrad {
        // A prompt of 5, then one token at a time, then a chunk of 3 (positions 5, 6, 7…).
        pieces += network.logits(embedded: network.embed(Array(ids[0..<5])), cache: cache).scalars
        for position in 5..<9 {
          pieces += network.logits(embedded: network.embed([ids[position]], firstPosition: position), cache: cache).scalars
        }
        pieces += network.logits(embedded: network.embed(Array(ids[9..<12]), firstPosition: 9), cache: cache).scalars
      }
      XCTAssertEqual(cache.count, 12)
      let scale = full.scalars.map(abs).max()!
      XCTAssertLessThanOrEqual(maxAbsoluteDifference(pieces, full.scalars), 1e-5 * scale, name)
    }
  }

  func testLastRowsEqualTheFullPassesLastRowsWithAndWithoutACache() throws {
    for name in ["gpt2", "llama-gqa", "qwen2", "llama-gqa.q4_1.gguf"] {
      let model = try LanguageModel.load(path: Self.folder.appendingPathComponent(name).path)
      let ids = Array(try Self.cases()[0]["input_ids"]!.ints.prefix(12)).map { $0 % model.config.vocabSize }
      let network = model.network
      let full = withoutGrad { network.hidden(embedded: network.embed(ids)) }
      let scale = full.scalars.map(abs).max()!
      for kept in [1, 3, 12] {
        let last = withoutGrad { network.hidden(embedded: network.embed(ids), lastRows: kept) }
        XCTAssertEqual(last.shape, [kept, model.config.hiddenSize])
        let expected = Array(full.scalars.suffix(kept * model.config.hiddenSize))
        XCTAssertLessThanOrEqual(maxAbsoluteDifference(last.scalars, expected), 1e-5 * scale, "\(name) last \(kept)")
      }
      // After a cached prompt of 5, a chunk of 7 keeping its last 2 rows.
      let cache = network.makeCache(capacity: ids.count)
      let chunk = withoutGrad {
        _ = network.hidden(embedded: network.embed(Array(ids[0..<5])), cache: cache)
        return network.hidden(embedded: network.embed(Array(ids[5...]), firstPosition: 5), cache: cache, lastRows: 2)
      }
      XCTAssertEqual(cache.count, 12)
      let expected = Array(full.scalars.suffix(2 * model.config.hiddenSize))
      XCTAssertLessThanOrEqual(maxAbsoluteDifference(chunk.scalars, expected), 1e-5 * scale, "\(name) cached")
    }
  }

  func testSamplingIsReproducibleAndHonoursTopK() throws {
    let model = try LanguageModel.load(path: Self.folder.appendingPathComponent("qwen2").path)
    let prompt = [0, 26, 59, 48]
    let options = SamplingOptions(temperature: 1.5, topK: 3, seed: 42)
    let first = model.network.generate(prompt: prompt, maxNewTokens: 20, sampling: options, stopTokens: []).tokens
    let second = model.network.generate(prompt: prompt, maxNewTokens: 20, sampling: options, stopTokens: []).tokens
    XCTAssertEqual(first, second)
    let other = model.network.generate(
      prompt: prompt, maxNewTokens: 20, sampling: SamplingOptions(temperature: 1.5, topK: 3, seed: 43), stopTokens: []
    ).tokens
    XCTAssertNotEqual(first.map(\.id), other.map(\.id))
    // Every sampled token is among the 3 most likely at its step.
    var sequence = prompt
    for token in first {
      let logits = withoutGrad { model.network.logits(embedded: model.network.embed(sequence), lastOnly: true) }.scalars
      let top3 = logits.indices.sorted { logits[$0] > logits[$1] }.prefix(3)
      XCTAssertTrue(top3.contains(token.id))
      let logNormalizer = log(logits.map { exp(Double($0)) }.reduce(0, +))
      XCTAssertEqual(Double(token.logProbability), Double(logits[token.id]) - logNormalizer, accuracy: 1e-4)
      sequence.append(token.id)
    }
  }

  func testGenerationStopsAtEndTokensAndAtTheLastPosition() throws {
    let model = try LanguageModel.load(path: Self.folder.appendingPathComponent("qwen2").path)
    let item = try Self.cases().first { $0["name"]!.string == "qwen2" }!
    let greedy = item["greedy"]!.ints
    let stop = greedy[4]
    let (tokens, reason) = model.network.generate(
      prompt: item["greedy_prompt"]!.ints, maxNewTokens: 32, stopTokens: [stop])
    XCTAssertEqual(reason, .endToken)
    XCTAssertEqual(tokens.map(\.id), Array(greedy.prefix(through: greedy.firstIndex(of: stop)!)))
    let long = Array(repeating: 3, count: model.config.maxPositions - 2)
    let (last, lastReason) = model.network.generate(prompt: long, maxNewTokens: 10, stopTokens: [])
    XCTAssertEqual(last.count, 2)
    XCTAssertEqual(lastReason, .contextFull)
  }
}

/// Configuration fields that change the computation and that xai does not implement are
/// refused by name; sizes are checked before anything is allocated.
final class DecoderConfigTests: XCTestCase {
  static let llama = """
    {"model_type": "llama", "vocab_size": 96, "hidden_size": 32, "num_hidden_layers": 2,
     "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 64,
     "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "rope_theta": 10000.0 %@}
    """

  func config(_ extra: String, type: String = "llama") throws -> DecoderConfig {
    let text = Self.llama.replacingOccurrences(of: "%@", with: extra.isEmpty ? "" : ", " + extra)
      .replacingOccurrences(of: "\"llama\"", with: "\"\(type)\"")
    return try DecoderConfig(json: JSONDocument.parse(text, source: "config.json").rootNode, file: "config.json")
  }

  func assertRefused(_ extra: String, key: String, type: String = "llama", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertThrowsError(try config(extra, type: type), file: file, line: line) { error in
      guard case .badConfig(_, let named, _) = error as? ModelError else {
        return XCTFail("\(error)", file: file, line: line)
      }
      XCTAssertEqual(named, key, file: file, line: line)
    }
  }

  func testSupportedFieldsAreRead() throws {
    let plain = try config("")
    XCTAssertEqual(plain.keyValueHeads, 2)
    XCTAssertEqual(plain.headWidth, 8)
    XCTAssertFalse(plain.tiedHead)
    XCTAssertNil(plain.ropeScaling)
    let scaled = try config(
      #""rope_scaling": {"rope_type": "llama3", "factor": 8, "low_freq_factor": 1, "high_freq_factor": 4, "original_max_position_embeddings": 16}"#)
    XCTAssertEqual(scaled.ropeScaling?.factor, 8)
    XCTAssertNotEqual(scaled.ropeFrequencies, plain.ropeFrequencies)
    let qwen = try config(#""use_sliding_window": false, "sliding_window": 4096"#, type: "qwen2")
    XCTAssertTrue(qwen.qkvBias && qwen.tiedHead)
  }

  func testUnsupportedFieldsAreRefusedByName() {
    assertRefused(#""rope_scaling": {"rope_type": "yarn", "factor": 4}"#, key: "rope_scaling.rope_type")
    assertRefused(#""rope_parameters": {"rope_type": "dynamic", "factor": 2, "rope_theta": 10000}"#, key: "rope_parameters.rope_type")
    assertRefused(#""use_sliding_window": true"#, key: "use_sliding_window", type: "qwen2")
    assertRefused(#""attn_logit_softcapping": 50.0"#, key: "attn_logit_softcapping")
    assertRefused(#""hidden_act": "gelu""#, key: "hidden_act")
    assertRefused(#""pretraining_tp": 2"#, key: "pretraining_tp")
    assertRefused(#""partial_rotary_factor": 0.5"#, key: "partial_rotary_factor")
    assertRefused(#""num_key_value_heads": 3"#, key: "num_key_value_heads")
    assertRefused(#""eos_token_id": 500"#, key: "eos_token_id")
    assertRefused(#""num_hidden_layers": 1000000"#, key: "num_hidden_layers")
  }
}
