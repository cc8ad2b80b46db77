import Attribution
import Foundation
import Models
import ReferenceSupport
import XCTest

/// GNN-LRP walk relevances against the float64 PyTorch masked oracle
/// (scripts/reference_graphs.py), each case within its derived bound (`DerivedTolerance`).
final class GraphReferenceTests: XCTestCase {
  func testWalkProgrammeMatchesThePyTorchMaskedOracleOnSampleAndRandomModels() throws {
    let fixture = try JSONDocument.read(
      AttributionFixtures.here.appendingPathComponent("Fixtures/graph-walks.json").path
    ).rootNode
    let cases = try XCTUnwrap(fixture["cases"]).elements
    XCTAssertGreaterThanOrEqual(cases.count, 8)
    var conditioned: [String] = []
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
      let logitBound = DerivedTolerance(absoluteFloor: 1e-4, deviation: try FixtureDeviation.of(item, "logits"))
      if let failure = logitBound.failure(logits, expectedLogits, what: "\(name) logits") { XCTFail(failure) }
      let gammas = item["gamma"]!.numericArray()!.values
      let epsilon = Float(item["epsilon"]?.double ?? 0)
      let explanation = try RelevantWalks(gammas: gammas, epsilon: epsilon, keep: nil).explain(
        network: network, graph: graph, target: item["target"]!.int!)
      let amplification = try XCTUnwrap(item["amplification"]?.numericArray()?.values, name)
      let measured = explanation.stability.projections.map(\.amplification)
      XCTAssertEqual(measured.count, amplification.count, "\(name) projections")
      for (mine, theirs) in zip(measured, amplification) {
        // The warning prints three digits: the measure must hold two of them.
        XCTAssertEqual(mine, theirs, accuracy: 1e-2 * theirs, "\(name) amplification")
      }
      XCTAssertEqual(
        explanation.stability.unstable.map(\.name),
        zip(explanation.stability.projections, amplification).filter { $0.1 > WalkStability.threshold }.map(
          \.0.name), "\(name): which projections are reported unstable")
      var mine: [[Int]: Float] = [:]
      for walk in explanation.walks { mine[walk.nodes] = walk.relevance }
      let rows = item["walks"]!.elements
      XCTAssertEqual(explanation.walkCount, rows.count, name)
      let expected = rows.map { row -> ([Int], Float) in
        let values = row.elements
        return (values.dropLast().map { $0.int! }, Float(values.last!.double!))
      }
      let walkBound = DerivedTolerance(floor: 1e-4, deviation: try FixtureDeviation.of(item, "walks"))
      if let failure = walkBound.failure(
        expected.map { mine[$0.0] ?? 0 }, expected.map(\.1), what: "\(name) walks")
      {
        XCTFail(failure)
      }
      let margin = walkBound.margin(expected.map { mine[$0.0] ?? 0 }, expected.map(\.1))
      print("reference margin: graph walks \(name): \(margin)")
      if walkBound.isSetByConditioning(scale: expected.map { abs($0.1) }.max() ?? 0) {
        conditioned.append(name)
      }
    }
    XCTAssertFalse(
      conditioned.isEmpty, "no case is ill-conditioned enough to exercise the derived bound")
  }
}
