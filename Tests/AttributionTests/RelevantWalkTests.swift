import Attribution
import Foundation
import Models
import Tensor
import XCTest

/// Random GraphNet / GCN models and graphs for the walk tests.
enum RandomGraphModels {
  static func graphNet(layers: Int, hidden: Int = 5, classes: Int = 2, finalReLU: Bool = true, seed: UInt64)
    throws -> GraphNetwork
  {
    var generator = SeededGenerator(seed: seed)
    var tensors: [String: Tensor] = ["U": Tensor.normal([3, hidden], using: &generator)]
    for l in 1...max(layers, 1) where l <= layers {
      tensors["W\(l)"] = Tensor.normal([hidden, hidden], std: 0.6, using: &generator)
    }
    tensors["V"] = Tensor.normal([hidden, classes], using: &generator)
    let config = """
      {"model_type": "graphnet", "in_dim": 3, "hidden": \(hidden), "num_classes": \(classes),
       "num_layers": \(layers), "node_features": "given", "normalize": "sym", "final_relu": \(finalReLU)}
      """
    return try GraphNetwork(
      config: JSONDocument.parse(config, source: "config").rootNode, store: MemoryWeights(tensors))
  }

  static func gcn(layers: Int, hidden: Int = 4, seed: UInt64) throws -> GraphNetwork {
    var generator = SeededGenerator(seed: seed)
    var tensors: [String: Tensor] = [:]
    for l in 0..<layers {
      tensors["layers.\(l).theta"] = Tensor.normal(
        [l == 0 ? 3 : hidden, hidden], std: 0.8, using: &generator)
    }
    tensors["classifier.weight"] = Tensor.normal([3, hidden], using: &generator)
    tensors["classifier.bias"] = Tensor.normal([3], using: &generator)
    let config = """
      {"model_type": "gcn", "in_dim": 3, "hidden": \(hidden), "num_classes": 3, "num_layers": \(layers)}
      """
    return try GraphNetwork(
      config: JSONDocument.parse(config, source: "config").rootNode, store: MemoryWeights(tensors))
  }

  static func graph(nodes: Int, seed: UInt64) throws -> Graph {
    var generator = SeededGenerator(seed: seed)
    var edges: [(Int, Int)] = (1..<nodes).map { ($0, Int(generator.next() % UInt64($0))) }
    edges.append((0, nodes - 1))
    let features = (0..<nodes).map { _ in (0..<3).map { _ in generator.uniform(0, 1) } }
    return try Graph(nodeCount: nodes, edges: edges, features: features)
  }
}

/// The masked definition (docs/methods.md, "GNN-LRP relevant walks"), one backward pass per walk: the oracle.
func maskedWalkRelevance(
  network: GraphNetwork, graph: Graph, walk: [Int], target: Int, gammas: [Float]
) throws -> Float {
  let adjacency = NormalizedAdjacency(graph, normalization: network.normalization)
  let x = try network.features(of: graph)
  let h0 = withoutGrad { network.input(x) }.requiringGrad()
  func lift(_ w: Tensor, _ gamma: Float) -> Tensor { w + w.relu() * gamma }
  func oneHot(_ node: Int, width: Int) -> Tensor {
    var values = [Float](repeating: 0, count: graph.nodeCount * width)
    for i in 0..<width { values[node * width + i] = 1 }
    return Tensor(shape: [graph.nodeCount, width], scalars: values)
  }
  func rewritten(_ z: Tensor, _ zp: Tensor, gated: Bool) -> Tensor {
    let ratio = Tensor(
      shape: z.shape,
      scalars: zip(z.scalars, zp.scalars).map { value, lifted in
        (gated && value <= 0) || lifted == 0 ? 0 : value / lifted
      })
    return zp * ratio
  }
  var h = h0
  for (l, weight) in network.layerWeights.enumerated() {
    let z = adjacency.aggregate(Tensor.matmul(h, weight))
    let zp = adjacency.aggregate(Tensor.matmul(h, lift(weight, gammas[l])))
    let next = rewritten(z, zp, gated: true)
    let mask = oneHot(walk[l + 1], width: next.shape[1])
    h = next * mask + next.detach() * (Tensor.ones(mask.shape) - mask)
  }
  let o = Tensor.matmul(h, network.outputWeight)
  let op = Tensor.matmul(h, lift(network.outputWeight, gammas.last!))
  let y = rewritten(o, op, gated: network.finalReLU).mean(axis: 0).select(axis: 0, target)
  y.backward()
  let grad = h0.grad!.scalars
  let width = h0.shape[1]
  return (0..<width).reduce(Float(0)) { $0 + h0.scalars[walk[0] * width + $1] * grad[walk[0] * width + $1] }
}

final class RelevantWalkTests: XCTestCase {
  private func assertProgrammeEqualsOracle(_ network: GraphNetwork, graph: Graph, gamma: [Float], target: Int)
    throws
  {
    let explanation = try RelevantWalks(gammas: gamma, keep: nil).explain(
      network: network, graph: graph, target: target)
    let gammas = try RelevantWalks(gammas: gamma).expandedGammas(layers: network.layerCount)
    XCTAssertGreaterThan(explanation.walks.count, 0)
    let scale = explanation.walks.map { abs($0.relevance) }.max()!
    for walk in explanation.walks {
      let oracle = try maskedWalkRelevance(
        network: network, graph: graph, walk: walk.nodes, target: target, gammas: gammas)
      XCTAssertEqual(walk.relevance, oracle, accuracy: 1e-4 * scale, "walk \(walk.nodes), γ \(gamma)")
    }
  }

  func testSuffixProgrammeEqualsMaskedOracleForOneTwoAndThreeLayersAndSeveralGammas() throws {
    for layers in 1...3 {
      let graph = try RandomGraphModels.graph(nodes: 6, seed: UInt64(layers))
      let network = try RandomGraphModels.graphNet(
        layers: layers, finalReLU: layers != 2, seed: UInt64(10 + layers))
      let target = network.outputs(try network.prepare(graph))[1] > 0 || layers == 2 ? 1 : 0
      for gamma: [Float] in [[0], [0.25], [Array(repeating: 0.1, count: layers) + [0.5]].flatMap { $0 }] {
        try assertProgrammeEqualsOracle(network, graph: graph, gamma: gamma, target: target)
      }
    }
  }

  func testSuffixProgrammeEqualsMaskedOracleForTheGCN() throws {
    let graph = try RandomGraphModels.graph(nodes: 5, seed: 4)
    for layers in 1...3 {
      let network = try RandomGraphModels.gcn(layers: layers, seed: UInt64(20 + layers))
      try assertProgrammeEqualsOracle(network, graph: graph, gamma: [0], target: 2)
      try assertProgrammeEqualsOracle(network, graph: graph, gamma: [0.3], target: 0)
    }
  }

  func testWalksSumToTheOutputOfABiasFreeModelForAnyGamma() throws {
    let graph = try RandomGraphModels.graph(nodes: 9, seed: 5)
    for finalReLU in [true, false] {
      let network = try RandomGraphModels.graphNet(layers: 3, finalReLU: finalReLU, seed: 6)
      for gamma: Float in [0, 0.5, 2] {
        let explanation = try RelevantWalks(gammas: [gamma], keep: 3).explain(
          network: network, graph: graph, target: 0)
        XCTAssertEqual(
          explanation.sumOverWalks, explanation.targetOutput,
          accuracy: 1e-4 * max(1, abs(explanation.targetOutput)))
        XCTAssertEqual(explanation.nodeRelevance.reduce(0, +), explanation.sumOverWalks, accuracy: 1e-4)
      }
    }
    let gcn = try RandomGraphModels.gcn(layers: 2, seed: 7)
    let explanation = try RelevantWalks(gammas: [0]).explain(network: gcn, graph: graph, target: 1)
    XCTAssertEqual(explanation.sumOverWalks + explanation.bias, explanation.targetOutput, accuracy: 1e-4)
  }

  func testTopKWalksAreTheKLargestOfTheFullEnumeration() throws {
    let graph = try RandomGraphModels.graph(nodes: 12, seed: 8)
    let network = try RandomGraphModels.graphNet(layers: 2, seed: 9)
    let all = try RelevantWalks(gammas: [0.2], keep: nil).explain(network: network, graph: graph, target: 1)
    let top = try RelevantWalks(gammas: [0.2], keep: 7).explain(network: network, graph: graph, target: 1)
    XCTAssertEqual(top.walkCount, all.walkCount)
    XCTAssertEqual(top.walks.map(\.relevance), Array(all.walks.prefix(7)).map(\.relevance))
    XCTAssertEqual(top.sumOverWalks, all.sumOverWalks, accuracy: 1e-5)
  }

  func testEveryWalkAlongTheAdjacencyWithSelfLoopsIsEnumerated() throws {
    let graph = try Graph(
      nodeCount: 3, edges: [(0, 1), (1, 2)], features: [[1, 0.5, 0.2], [0.3, 1, 0.1], [0.2, 0.4, 1]])
    let network = try RandomGraphModels.graphNet(layers: 2, finalReLU: false, seed: 3)
    let explanation = try RelevantWalks(keep: nil).explain(network: network, graph: graph, target: 0)
    let a: [[Int]] = [[1, 1, 0], [1, 1, 1], [0, 1, 1]]
    var expected: [[Int]] = []
    for i in 0..<3 {
      for j in 0..<3 where a[i][j] == 1 { for k in 0..<3 where a[j][k] == 1 { expected.append([i, j, k]) } }
    }
    XCTAssertEqual(expected.count, 17)
    XCTAssertEqual(explanation.walkCount, 17)
    XCTAssertEqual(Set(explanation.walks.map(\.nodes)), Set(expected))
  }

  func testStartNodeRelevanceWithGammaZeroIsNodeGradientTimesInput() throws {
    let graph = try RandomGraphModels.graph(nodes: 7, seed: 11)
    let network = try RandomGraphModels.graphNet(layers: 2, seed: 12)
    let walks = try RelevantWalks(gammas: [0]).explain(network: network, graph: graph, target: 1)
    let nodes = try NodeGradientTimesInput().explain(
      network: network, input: try network.prepare(graph), target: .index(1))
    XCTAssertEqual(nodes.target, 1)
    XCTAssertEqual(nodes.outputs, walks.outputs)
    XCTAssertEqual(walks.nodeRelevance.count, nodes.relevance.count)
    for (a, b) in zip(walks.nodeRelevance, nodes.relevance) { XCTAssertEqual(a, b, accuracy: 1e-5) }
  }

  func testAGraphWithTooManyWalksIsRefusedBeforeEnumerating() throws {
    let leaves = 100_000
    let star = try Graph(
      nodeCount: leaves + 1, edges: (1...leaves).map { (0, $0) },
      features: Array(repeating: [1, 0.5, 0.25], count: leaves + 1))
    let network = try RandomGraphModels.graphNet(layers: 3, seed: 4)
    XCTAssertThrowsError(try RelevantWalks().explain(network: network, graph: star, target: 0)) { error in
      XCTAssertTrue("\(error)".contains("more than the limit of 200000000"), "\(error)")
      XCTAssertEqual((error as? WalkLimitError)?.limit, RelevantWalks.defaultWalkLimit)
    }
    XCTAssertThrowsError(
      try RelevantWalks(walkLimit: 1000).explain(network: network, graph: star, target: 0)
    ) { XCTAssertEqual(($0 as? WalkLimitError)?.limit, 1000) }
  }

  func testBadGammaCountAndTargetAreClearErrors() throws {
    let graph = try RandomGraphModels.graph(nodes: 4, seed: 1)
    let network = try RandomGraphModels.graphNet(layers: 2, seed: 2)
    XCTAssertThrowsError(
      try RelevantWalks(gammas: [0, 1]).explain(network: network, graph: graph, target: 0))
    XCTAssertThrowsError(try RelevantWalks(gammas: [0]).explain(network: network, graph: graph, target: 5))
  }
}
