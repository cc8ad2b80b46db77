import Models

/// What a graph method found: relevant walks, or node Gradient×Input.
public enum GraphExplanation: Sendable {
  /// GNN-LRP relevant walks.
  case walks(WalkExplanation)
  /// Node Gradient×Input.
  case nodes(NodeRelevance)

  /// The model's outputs.
  public var outputs: [Float] {
    switch self {
    case .walks(let walks): walks.outputs
    case .nodes(let nodes): nodes.outputs
    }
  }

  /// One relevance per node (walks: summed by their start node).
  public var nodeRelevance: [Float] {
    switch self {
    case .walks(let walks): walks.nodeRelevance
    case .nodes(let nodes): nodes.relevance
    }
  }
}

/// Graph networks as an `Explainer`: nodes are the units; removing one drops its edges and
/// features. Each graph is its own batch (one forward pass, then the walk programme or one
/// backward pass).
public struct GraphExplainer: Explainer {
  /// The network.
  public let network: GraphNetwork
  /// How walks are computed (γ, ε, how many are kept, the walk limit).
  public let walks: RelevantWalks

  /// The explainer of `network`, with walks computed as `walks` says.
  public init(network: GraphNetwork, walks: RelevantWalks = RelevantWalks()) {
    self.network = network
    self.walks = walks
  }

  public var labels: [String] { network.labels }
  public var units: UnitKind { .nodes }
  public func name(of method: GraphMethodKind) -> String { method.rawValue }
  public func prepare(_ record: Graph) throws -> GraphInput { try network.prepare(record) }
  public func batches(_ inputs: [GraphInput], method: GraphMethodKind) -> [[Int]] {
    inputs.indices.map { [$0] }
  }

  public func explain(_ inputs: [GraphInput], method: GraphMethodKind, targets: [ClassTarget]) throws
    -> [GraphExplanation]
  {
    try zip(inputs, targets).map { input, target in
      switch method {
      case .gnnLRP: .walks(try walks.explain(network: network, input: input, target: target))
      case .gradxinput:
        .nodes(try NodeGradientTimesInput().explain(network: network, input: input, target: target))
      }
    }
  }

  public func outputs(of explanation: GraphExplanation) -> [Float] { explanation.outputs }
  public func unitRelevance(of explanation: GraphExplanation) -> [Float] { explanation.nodeRelevance }
  public func units(of input: GraphInput) -> [Int] { Array(0..<input.graph.nodeCount) }

  /// A graph's label is a class index (graph files store it as a number).
  public func classIndex(ofLabel label: String) -> Int? {
    Int(label).flatMap { labels.indices.contains($0) ? $0 : nil }
  }

  public func perturb(_ input: GraphInput, removing positions: [Int]) throws -> GraphInput {
    try network.input(input, removing: positions)
  }
}
