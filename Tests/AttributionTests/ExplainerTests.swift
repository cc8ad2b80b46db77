import Attribution
import Foundation
import Models
import XCTest

/// The one explainer protocol for texts, images and graphs: what each calls a unit, how
/// it removes units, and that explaining through it is explaining the model directly.
final class ExplainerTests: XCTestCase {
  private let repository = AttributionFixtures.repository

  func testTextUnitsAreTheWordPiecesAndRemovingOneMakesItUnknown() throws {
    let explainer = TextExplainer(
      model: try TextModel.load(path: AttributionFixtures.modelPath("tiny-distilbert")))
    XCTAssertEqual(explainer.units, .tokens)
    let input = try explainer.prepare("the movie was not good")
    XCTAssertEqual(explainer.units(of: input), Array(1..<(input.ids.count - 1)), "not [CLS] or [SEP]")
    let perturbed = try explainer.perturb(input, removing: [2, 99])
    let unknown = explainer.model.tokenizer!.unknownId
    XCTAssertEqual(perturbed.ids, input.ids.enumerated().map { $0.offset == 2 ? unknown : $0.element })
    XCTAssertEqual(perturbed.pieces[2], "[UNK]")
    XCTAssertEqual(perturbed.text, input.text)
    let through = try explainer.explain([input], method: GradientTimesInput.lrp, targets: [.predicted])[0]
    let direct = try explainer.model.explain("the movie was not good", method: GradientTimesInput.lrp)
    XCTAssertEqual(explainer.unitRelevance(of: through), direct.relevance)
    XCTAssertEqual(explainer.outputs(of: through), direct.logits)
  }

  func testImageUnitsArePatchesAndRemovingOnePaintsItBlack() throws {
    let model = try ImageModel.load(path: repository.appendingPathComponent("samples/models/vit-digits").path)
    let explainer = ImageExplainer(model: model)
    let image = try explainer.prepare(
      repository.appendingPathComponent("samples/data/digits/3-0045.png").path)
    let config = model.config
    XCTAssertEqual(explainer.units(of: image), Array(0..<config.patchCount))
    let black = model.baselineValues(for: image, kind: .black)
    let patch = config.patchesPerSide + 1  // second row, second column
    let perturbed = try explainer.perturb(image, removing: [patch])
    let (side, size) = (config.imageSize, config.patchSize)
    for channel in 0..<config.channels {
      for row in 0..<side {
        for column in 0..<side {
          let at = (channel * side + row) * side + column
          let inside = row / size == 1 && column / size == 1
          XCTAssertEqual(perturbed.pixelValues[at], inside ? black[at] : image.pixelValues[at])
        }
      }
    }
    let explanation = try explainer.explain([image], method: GradientTimesInput(), targets: [.predicted])[0]
    XCTAssertEqual(explainer.unitRelevance(of: explanation).count, config.patchCount)
  }

  func testGraphUnitsAreNodesAndRemovingOneCutsItOff() throws {
    let network = try GraphNetwork.load(
      path: repository.appendingPathComponent("samples/models/graphnet-ba").path)
    let graph = try GraphFile.read(repository.appendingPathComponent("samples/data/ba_graphs.jsonl").path)[1]
    let explainer = GraphExplainer(network: network, walks: RelevantWalks(keep: 3))
    let input = try explainer.prepare(graph)
    XCTAssertEqual(explainer.units(of: input).count, graph.nodeCount)
    let perturbed = try explainer.perturb(input, removing: [0])
    XCTAssertFalse(perturbed.graph.edges.contains { $0.u == 0 || $0.v == 0 })
    XCTAssertEqual(perturbed.graph.nodeCount, graph.nodeCount)
    let width = input.features.shape[1]
    XCTAssertEqual(Array(perturbed.features.scalars[0..<width]), Array(repeating: 0, count: width))
    XCTAssertNotEqual(network.outputs(perturbed), network.outputs(input))
    for method in GraphMethodKind.allCases {
      let explanation = try explainer.explain([input], method: method, targets: [.index(1)])[0]
      XCTAssertEqual(explainer.unitRelevance(of: explanation).count, graph.nodeCount, method.rawValue)
    }
    let walks = try explainer.explain([input], method: .gnnLRP, targets: [.index(1)])[0]
    let direct = try RelevantWalks(keep: 3).explain(network: network, graph: graph, target: 1)
    XCTAssertEqual(explainer.unitRelevance(of: walks), direct.nodeRelevance)
  }

  func testEachGraphIsItsOwnBatchAndTextsAreBatchedByTheirPlan() throws {
    let network = try GraphNetwork.load(
      path: repository.appendingPathComponent("samples/models/graphnet-ba").path)
    let graphs = try GraphFile.read(repository.appendingPathComponent("samples/data/ba_graphs.jsonl").path)
    let explainer = GraphExplainer(network: network)
    let inputs = try graphs.prefix(3).map(explainer.prepare)
    XCTAssertEqual(explainer.batches(inputs, method: .gnnLRP), [[0], [1], [2]])
    let text = TextExplainer(model: try TextModel.load(path: AttributionFixtures.modelPath("tiny-bert")))
    let texts = try ["good", "a very long and boring film", "bad"].map(text.prepare)
    XCTAssertEqual(
      text.batches(texts, method: IntegratedGradients(steps: 32)), [[0, 2], [1]],
      "two inputs of 32 rows fill a pass")
    XCTAssertEqual(text.batches(texts, method: GradientTimesInput()), [[0, 2, 1]])
  }
}
