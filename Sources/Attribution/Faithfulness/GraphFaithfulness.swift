import Models
import Tensor

/// Faithfulness of node relevance: the text protocols with nodes as units. A removed
/// node loses its edges and its input features (so it adds nothing to the mean over
/// nodes, which keeps its count); every removal kind does the same. The tracked output
/// is the network's output for the class (logit), and p(y) its softmax. The perturbed
/// graphs run through `PerturbationRunner` in batches of disjoint unions, as the
/// perturbation methods' coalitions do.
public struct GraphFaithfulness: Sendable {
  /// Node relevance by GNN-LRP walks (summed by start node), for `gammas`.
  public let walks: RelevantWalks?
  /// Node Gradient×Input at H₀.
  public let nodeGradientTimesInput: Bool
  /// Perturbation methods over the nodes.
  public let perturbations: [GraphPerturbation]
  /// What ranks the nodes, in output order.
  public let rankings: [Ranking]
  /// Seed of the random baseline.
  public let seed: UInt64

  /// Evaluates GNN-LRP (when `walks` is given), node Gradient×Input (when asked), the
  /// perturbation methods `perturbations` and the random baseline with `randomOrders` orders.
  public init(
    walks: RelevantWalks?, nodeGradientTimesInput: Bool, perturbations: [GraphPerturbation] = [],
    randomOrders: Int, seed: UInt64
  ) {
    self.walks = walks.map {
      RelevantWalks(gammas: $0.gammas, epsilon: $0.epsilon, keep: 0, walkLimit: $0.walkLimit)
    }
    self.nodeGradientTimesInput = nodeGradientTimesInput
    self.perturbations = perturbations
    self.seed = seed
    rankings =
      (walks == nil ? [] : [.graphMethod(.gnnLRP)])
      + (nodeGradientTimesInput ? [.graphMethod(.gradxinput)] : []) + perturbations.map { .method($0.kind) }
      + [.random(orders: randomOrders)]
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
    var costs: [ExplanationCost] = []
    for ranking in rankings {
      let ((orders, passes), seconds) = try PerturbationRun.timed { () throws -> ([[Float]], ModelPasses) in
        switch ranking {
        case .graphMethod(.gnnLRP):
          // One forward pass, then the walks' suffix programme (no backward pass).
          let nodes = try walks!.explain(network: network, input: input, target: .index(trueClass)).nodeRelevance
          return ([nodes], ModelPasses(forward: 1, backward: 0))
        case .graphMethod:
          let nodes = try NodeGradientTimesInput().explain(network: network, input: input, target: .index(trueClass))
          return ([nodes.relevance], .gradient)
        case .method(let kind):
          let given = perturbations.first { $0.kind == kind }!
          let method = GraphPerturbation(
            kind: kind, settings: given.settings.keyed(by: [UInt64(index)]), runner: given.runner)
          let nodes = try method.explain(network: network, input: input, target: .index(trueClass))
          return ([nodes.relevance], nodes.perturbation.map(ModelPasses.init(perturbation:)) ?? .none)
        case .random(let orders):
          return (
            (0..<orders).map { Ranking.randomRelevance(units: n, seed: seed, example: index, order: $0) },
            .none
          )
        case .attention:
          preconditionFailure("an attention ranking for a graph model")
        }
      }
      relevance.append(orders)
      costs.append(ExplanationCost(passes: passes, seconds: seconds))
    }
    let backend = GraphNodeBackend(network: network, inputs: [input])
    let runner = PerturbationRunner(maximumRows: 1024, maximumTokens: GraphPerturbation.nodesPerBatch)
    return try PerturbationRun.curves(
      indices: [index], labels: [label], trueClasses: [trueClass], original: [original], unitCounts: [n],
      relevance: [relevance], costs: [costs],
      // Every removal kind removes a node the same way.
      canonical: { Perturbation(.unknownToken, removing: $0.removed) }
    ) { requests in
      try runner.logits(
        of: requests.map { request in
          var present = Coalition(units: n, full: true)
          for node in request.perturbation.removed { present.remove(node) }
          return GraphNodeBackend.Variant(input: 0, present: present)
        }, backend: backend
      ).logits
    }[0]
  }

  /// Refuses perturbation settings that cannot work on this graph (before any is run).
  public func check(_ input: GraphInput) throws {
    let layout = UnitLayout(groups: (0..<input.graph.nodeCount).map { [$0] })
    for method in perturbations {
      try CoalitionPlan.check(kind: method.kind, settings: method.settings, layout: layout)
    }
  }
}
