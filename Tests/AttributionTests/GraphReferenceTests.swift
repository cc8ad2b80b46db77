import Attribution
import Foundation
import Models
import XCTest

/// GNN-LRP walk relevances against the PyTorch masked oracle (scripts/reference_graphs.py).
final class GraphReferenceTests: XCTestCase {
  func testWalkProgrammeMatchesThePyTorchMaskedOracleOnSampleAndRandomModels() throws {
    let fixture = try JSONDocument.read(
      AttributionFixtures.here.appendingPathComponent("Fixtures/graph-walks.json").path
    ).rootNode
    let cases = try XCTUnwrap(fixture["cases"]).elements
    XCTAssertGreaterThanOrEqual(cases.count, 8)
    for item in cases {
      let name = item["name"]!.string!
      let network: GraphNetwork
      if let file = item["model_file"]?.string {
        network = try GraphNetwork.load(
          path: AttributionFixtures.repository.appendingPathComponent("samples/models/\(file)").path)
      } else {
        let weights = try JSONWeights(root: item["model"]!, path: name)
        network = try GraphNetwork(config: weights.config, store: weights)
      }
      let graph: Graph
      if let index = item["sdf_index"]?.int {
        graph = try GraphFile.read(
          AttributionFixtures.repository.appendingPathComponent("samples/data/solubility_test.sdf").path)[
            index]
      } else {
        graph = try GraphFile.graph(from: item["graph"]!, source: name)
      }
      let logits = network.outputs(try network.prepare(graph))
      let expectedLogits = try XCTUnwrap(item["logits"]?.numericArray()?.values, name)
      XCTAssertEqual(logits.count, expectedLogits.count, "\(name) class count")
      for (a, b) in zip(logits, expectedLogits) { XCTAssertEqual(a, b, accuracy: 1e-4, "\(name) logits") }
      let gammas = item["gamma"]!.numericArray()!.values
      let explanation = try RelevantWalks(gammas: gammas, keep: nil).explain(
        network: network, graph: graph, target: item["target"]!.int!)
      var mine: [[Int]: Float] = [:]
      for walk in explanation.walks { mine[walk.nodes] = walk.relevance }
      let rows = item["walks"]!.elements
      XCTAssertEqual(explanation.walkCount, rows.count, name)
      let expected = rows.map { row -> ([Int], Float) in
        let values = row.elements
        return (values.dropLast().map { $0.int! }, Float(values.last!.double!))
      }
      let scale = expected.map { abs($0.1) }.max() ?? 1
      var worst: Float = 0
      for (nodes, value) in expected { worst = max(worst, abs((mine[nodes] ?? 0) - value)) }
      XCTAssertLessThanOrEqual(worst, 1e-4 * scale, "\(name): off by \(worst) at scale \(scale)")
    }
  }
}
