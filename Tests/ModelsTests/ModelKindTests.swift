import Foundation
import Models
import XCTest

/// The zoo decides a model's kind once from its configuration, and a loader asked for
/// another kind says what the file holds instead of guessing.
final class ModelKindTests: XCTestCase {
  func testEveryKnownModelTypeNamesOneKindAndItsUnits() {
    XCTAssertEqual(ModelKind(modelType: "distilbert"), .textClassifier)
    XCTAssertEqual(ModelKind(modelType: "bert"), .textClassifier)
    XCTAssertEqual(ModelKind(modelType: "vit"), .imageClassifier)
    XCTAssertEqual(ModelKind(modelType: "graphnet"), .graphNetwork)
    XCTAssertEqual(ModelKind(modelType: "gcn"), .graphNetwork)
    for type in ["gpt2", "llama", "qwen2"] { XCTAssertEqual(ModelKind(modelType: type), .languageModel) }
    XCTAssertNil(ModelKind(modelType: "gpt7"))
    XCTAssertEqual(ModelKind.knownModelTypes.compactMap(ModelKind.init(modelType:)).count, 8)
    XCTAssertEqual(ModelKind.allCases.map(\.units), [.tokens, .patches, .nodes, .promptTokens])
  }

  func testTheZooLoadsEachShippedModelAsTheKindItsConfigurationNames() throws {
    let expected: [(String, ModelKind, String)] = [
      ("minilm-rt-sentiment", .textClassifier, "distilbert"), ("vit-digits", .imageClassifier, "ViT"),
      ("graphnet-ba", .graphNetwork, "graphnet"), ("gcn-solubility", .graphNetwork, "gcn"),
    ]
    for (name, kind, architecture) in expected {
      let path = Fixtures.repository.appendingPathComponent("samples/models/\(name)").path
      let loaded = try ModelZoo.load(path)
      XCTAssertEqual(loaded.model.kind, kind, name)
      XCTAssertEqual(loaded.model.architecture, architecture, name)
      XCTAssertFalse(loaded.model.labels.isEmpty, name)
    }
    let tiny = try ModelZoo.load(Fixtures.path("tiny-bert.json"))
    XCTAssertEqual(tiny.model.kind, .textClassifier, "a JSON weight file of a text model")
  }

  func testALoaderAskedForAnotherKindNamesWhatTheFileHolds() throws {
    let graph = Fixtures.repository.appendingPathComponent("samples/models/graphnet-ba").path
    XCTAssertThrowsError(try TextModel.load(path: graph)) { error in
      XCTAssertEqual(
        error as? ModelError,
        .wrongModelKind(
          file: graph + "/model.json", found: .graphNetwork, modelType: "graphnet", expected: .textClassifier)
      )
      XCTAssertFalse("\(error)".contains("xai "), "a lower layer states the fact; the CLI gives advice")
    }
    let text = Fixtures.repository.appendingPathComponent("samples/models/minilm-rt-sentiment").path
    XCTAssertThrowsError(try GraphNetwork.load(path: text)) { error in
      guard case .wrongModelKind(_, .textClassifier, "distilbert", .graphNetwork) = error as? ModelError
      else {
        return XCTFail("\(error)")
      }
    }
    XCTAssertThrowsError(try ImageModel.load(path: text)) { error in
      guard case .wrongModelKind(_, .textClassifier, "distilbert", .imageClassifier) = error as? ModelError
      else {
        return XCTFail("\(error)")
      }
    }
  }

  func testAnUnknownModelTypeListsEveryTypeXaiReads() {
    let message = ModelError.unknownModelType(file: "f", modelType: "gpt7").description
    for type in ["distilbert", "bert", "vit", "graphnet", "gcn"] {
      XCTAssertTrue(message.contains(type), message)
    }
  }
}
