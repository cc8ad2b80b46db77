// Node-level Gradient×Input at H₀: R_i = Σ_d H₀[i, d]·∂f_t/∂H₀[i, d] (plain gradients).
// With γ = 0 it equals the GNN-LRP walk relevance summed by start node.
import Models
import Tensor

/// Node relevance of one graph: outputs, the explained class and one value per node.
public struct NodeRelevance: Sendable {
  /// The model's outputs (logits) of every class.
  public let outputs: [Float]
  /// The explained class.
  public let target: Int
  /// One relevance per node.
  public let relevance: [Float]
  /// The method's name (`gradxinput`, or a perturbation method).
  public let method: String
  /// Perturbation methods: the outputs with every node removed.
  public let baselineOutputs: [Float]?
  /// Perturbation methods: the nodes, their relevance and the evaluations used.
  public let perturbation: PerturbationOutcome?

  public init(
    outputs: [Float], target: Int, relevance: [Float], method: String = GraphMethodKind.gradxinput.rawValue,
    baselineOutputs: [Float]? = nil, perturbation: PerturbationOutcome? = nil
  ) {
    self.outputs = outputs
    self.target = target
    self.relevance = relevance
    self.method = method
    self.baselineOutputs = baselineOutputs
    self.perturbation = perturbation
  }

  /// Σ R against the target output, and against f(x) − f(all nodes removed) for
  /// perturbation methods.
  public var conservation: Conservation {
    Conservation(
      sumRelevance: relevance.reduce(0, +), targetLogit: outputs[target], baselineLogit: baselineOutputs?[target])
  }
}

/// Node-level Gradient×Input from one forward and one backward pass.
public struct NodeGradientTimesInput: Sendable {
  /// The method (it has no settings).
  public init() {}

  /// The relevance of each node for the class `target` names (chosen from this pass's outputs).
  public func explain(network: GraphNetwork, input: GraphInput, target: ClassTarget) throws -> NodeRelevance {
    let h0 = withoutGrad { network.input(input.features) }.requiringGrad()
    let output = network.outputs(h0: h0, adjacency: input.adjacency)
    let outputs = output.detach().scalars
    guard outputs.allSatisfy(\.isFinite) else {
      throw ModelError.badInput("The model's outputs for this graph are not finite numbers.")
    }
    let index = try target.index(labels: network.labels, logits: outputs)
    output.select(axis: 0, index).backward()
    return NodeRelevance(outputs: outputs, target: index, relevance: (h0 * h0.grad!).sum(axis: 1).scalars)
  }
}
