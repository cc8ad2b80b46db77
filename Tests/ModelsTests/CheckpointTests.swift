import Foundation
import ReferenceSupport
import Tensor
import XCTest

@testable import Models

/// Checkpoints as users have them: an unmodified sentence-transformers folder, weight
/// files with tensors the model never reads, and the pre-LN block of the ViT family.
final class CheckpointTests: XCTestCase {
  func testUnmodifiedSentenceTransformersFolderLoadsAndMatchesTransformersEmbeddings() throws {
    let folder = Fixtures.path("tiny-sentence-transformer")
    for file in ["modules.json", "1_Pooling/config.json", "tokenizer.json"] {
      XCTAssertTrue(FileManager.default.fileExists(atPath: "\(folder)/\(file)"), file)
    }
    XCTAssertFalse(FileManager.default.fileExists(atPath: "\(folder)/vocab.txt"), "tokenizer.json only")
    let model = try TextModel.load(path: folder)
    XCTAssertEqual(model.config.family, .bert)
    XCTAssertFalse(model.network.hasClassifier)
    XCTAssertEqual(model.unusedWeights, [], "position_ids and the encoder's pooler are not reported")
    let reference = try Fixtures.json("tiny-sentence-transformer-embeddings.json")
    let texts = try XCTUnwrap(reference["texts"]).elements.compactMap(\.string)
    XCTAssertEqual(texts.count, 5)
    let ids = try texts.map { try model.encode($0).ids }
    XCTAssertEqual(ids, try XCTUnwrap(reference["ids"]).elements.map(\.ints))
    let expected = try XCTUnwrap(reference["embeddings"]?.numericArray()?.values)
    XCTAssertEqual(expected.count, texts.count * model.config.hiddenSize)
    let pooled = model.network.meanPooled(TokenBatch(ids))
    let bound = DerivedTolerance(
      absoluteFloor: 1e-4, deviation: try FixtureDeviation.of(reference, "embeddings"))
    if let failure = bound.failure(pooled.scalars, expected, what: "sentence-transformer embeddings") {
      XCTFail(failure)
    }
  }

  func testTensorsTheArchitectureNeverReadsAreListed() throws {
    let original = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("tiny-distilbert.json")))
    var root = try XCTUnwrap(JSONSerialization.jsonObject(with: original) as? [String: Any])
    var tensors = try XCTUnwrap(root["tensors"] as? [String: Any])
    XCTAssertEqual(try TextModel.load(path: Fixtures.path("tiny-distilbert.json")).unusedWeights, [])
    tensors["vision.patch.weight"] = ["shape": [2], "data": [1, 2]]
    tensors["distilbert.transformer.layer.7.ffn.lin1.bias"] = ["shape": [1], "data": [0]]
    root["tensors"] = tensors
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("xai-unused-\(UUID()).json")
    try JSONSerialization.data(withJSONObject: root).write(to: path)
    defer { try? FileManager.default.removeItem(at: path) }
    let model = try TextModel.load(path: path.path)
    XCTAssertEqual(
      model.unusedWeights, ["distilbert.transformer.layer.7.ffn.lin1.bias", "vision.patch.weight"])
  }

  func testPreNormBlockNormalisesBeforeEachSublayerAndAddsTheResidualAfter() throws {
    let (d, f) = (8, 16)
    var generator = SeededGenerator(seed: 5)
    var tensors: [String: Tensor] = [:]
    for name in ["q", "k", "v", "o"] {
      tensors["\(name).weight"] = Tensor.normal([d, d], std: 0.3, using: &generator)
      tensors["\(name).bias"] = Tensor.normal([d], std: 0.1, using: &generator)
    }
    tensors["up.weight"] = Tensor.normal([f, d], std: 0.3, using: &generator)
    tensors["up.bias"] = Tensor.normal([f], std: 0.1, using: &generator)
    tensors["down.weight"] = Tensor.normal([d, f], std: 0.3, using: &generator)
    tensors["down.bias"] = Tensor.normal([d], std: 0.1, using: &generator)
    for name in ["before", "after"] {
      tensors["\(name).weight"] = Tensor.normal([d], std: 0.3, using: &generator) + 1
      tensors["\(name).bias"] = Tensor.normal([d], std: 0.1, using: &generator)
    }
    let root = WeightScope(MemoryWeights(tensors))
    func linear(_ name: String, _ i: Int, _ o: Int) throws -> Linear {
      try Linear(root.child(name), in: i, out: o)
    }
    let block = PreNormBlock(
      attentionNorm: try LayerNorm(root.child("before"), width: d, eps: 1e-6),
      attention: SelfAttention(
        query: try linear("q", d, d), key: try linear("k", d, d), value: try linear("v", d, d),
        output: try linear("o", d, d), heads: 2),
      feedForwardNorm: try LayerNorm(root.child("after"), width: d, eps: 1e-6),
      feedForward: FeedForward(expand: try linear("up", d, f), contract: try linear("down", f, d)))
    let x = Tensor.normal([2, 5, d], std: 1, using: &generator)
    let keep = KeepMask(lengths: [5, 3])
    let output = block(x, keep: keep, rules: .gradient)

    func dense(_ input: Tensor, _ name: String) -> Tensor {
      Tensor.linear(input, weight: tensors["\(name).weight"]!, bias: tensors["\(name).bias"]!)
    }
    func norm(_ input: Tensor, _ name: String) -> Tensor {
      input.layerNorm(gamma: tensors["\(name).weight"]!, beta: tensors["\(name).bias"]!, eps: 1e-6)
    }
    let h = norm(x, "before")
    let context = Tensor.attention(
      query: dense(h, "q"), key: dense(h, "k"), value: dense(h, "v"), heads: 2, keep: keep.flags,
      scale: 1 / Float(d / 2).squareRoot())
    let attended = dense(context, "o") + x
    let expected = dense(dense(norm(attended, "after"), "up").gelu(), "down") + attended
    XCTAssertLessThan(maxAbsoluteDifference(output.scalars, expected.scalars), 1e-5)
    XCTAssertEqual(
      block(x, keep: keep, rules: .detachingAll).scalars, output.scalars, "rules leave the forward")
  }
}
