import Models
import Tensor

/// Node-level Gradient×Input at H₀: R_i = Σ_d H₀[i, d]·∂f_t/∂H₀[i, d] (plain gradients).
/// With γ = 0 it equals the GNN-LRP walk relevance summed by start node.
public struct NodeGradientTimesInput: Sendable {
  /// The method (it has no settings).
  public init() {}

  /// One relevance per node for output `target`.
  public func explain(network: GraphNetwork, graph: Graph, target: Int) throws -> [Float] {
    let adjacency = NormalizedAdjacency(graph, normalization: network.normalization)
    let x = try network.features(of: graph)
    let h0 = withoutGrad { network.input(x) }.requiringGrad()
    network.outputs(h0: h0, adjacency: adjacency).select(axis: 0, target).backward()
    return (h0 * h0.grad!).sum(axis: 1).scalars
  }
}
