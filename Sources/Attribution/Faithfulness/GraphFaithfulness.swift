import Models
import Tensor

/// Faithfulness of node relevance: the text protocols with nodes as units. A removed
/// node loses its edges and its input features (so it adds nothing to the mean over
/// nodes, which keeps its count); every removal kind does the same. The tracked output
/// is the network's output for the class (logit), and p(y) its softmax.
public struct GraphFaithfulness: Sendable {
  /// Node relevance by GNN-LRP walks (summed by start node), for `gammas`.
  public let walks: RelevantWalks?
  /// Node Gradient×Input at H₀.
  public let nodeGradientTimesInput: Bool
  /// What ranks the nodes, in output order.
  public let rankings: [Ranking]
  /// Seed of the random baseline.
  public let seed: UInt64

  /// Evaluates GNN-LRP (when `walks` is given), node Gradient×Input (when asked) and
  /// the random baseline with `randomOrders` orders.
  public init(walks: RelevantWalks?, nodeGradientTimesInput: Bool, randomOrders: Int, seed: UInt64) {
    self.walks = walks.map {
      RelevantWalks(gammas: $0.gammas, epsilon: $0.epsilon, keep: 0, walkLimit: $0.walkLimit)
    }
    self.nodeGradientTimesInput = nodeGradientTimesInput
    self.seed = seed
    rankings =
      (walks == nil ? [] : [.graphMethod(.gnnLRP)])
      + (nodeGradientTimesInput ? [.graphMethod(.gradxinput)] : []) + [.random(orders: randomOrders)]
  }

  /// The curves of one graph (example `index`), tracking `label` when given, else the
  /// predicted class.
  public func evaluate(network: GraphNetwork, input: GraphInput, index: Int, label: Int?) throws
    -> ExampleFaithfulness
  {
    let original = network.outputs(input)
    guard original.allSatisfy(\.isFinite) else {
      throw ModelError.badInput("The model's outputs for this graph are not finite numbers.")
    }
    let trueClass = label ?? predictedClass(original)
    let n = input.graph.nodeCount
    var relevance: [[[Float]]] = []
    for ranking in rankings {
      switch ranking {
      case .graphMethod(.gnnLRP):
        relevance.append(
          [try walks!.explain(network: network, input: input, target: .index(trueClass)).nodeRelevance])
      case .graphMethod:
        relevance.append(
          [
            try NodeGradientTimesInput().explain(network: network, input: input, target: .index(trueClass))
              .relevance
          ])
      case .random(let orders):
        relevance.append(
          (0..<orders).map { Ranking.randomRelevance(units: n, seed: seed, example: index, order: $0) })
      case .method, .attention:
        preconditionFailure("a text ranking for a graph model")
      }
    }
    var cache: [[Int]: [Float]] = [[]: original]
    func outputs(removing removed: [Int]) throws -> [Float] {
      if let known = cache[removed] { return known }
      let values = network.outputs(try network.input(input, removing: removed))
      cache[removed] = values
      return values
    }
    return try PerturbationRun.curves(
      indices: [index], labels: [label], trueClasses: [trueClass], original: [original], unitCounts: [n],
      relevance: [relevance]
    ) { requests in try requests.map { try outputs(removing: $0.perturbation.removed) } }[0]
  }
}
