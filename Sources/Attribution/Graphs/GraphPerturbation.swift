// Perturbation methods on graph networks: the units are the nodes; a node outside the
// coalition is removed as `xai eval` removes it (its edges dropped, its features zeroed,
// the mean over nodes keeping its count), which is the baseline of every graph method.
// Occlusion windows run over consecutive node ids.
import Models
import Tensor

/// Perturbed graphs, evaluated in no-grad batches of disjoint unions.
public struct GraphNodeBackend: PerturbationBackend {
  /// Graph `input` with the nodes outside `present` removed.
  public struct Variant: Hashable, Sendable {
    public let input: Int
    public let present: Coalition

    public init(input: Int, present: Coalition) {
      self.input = input
      self.present = present
    }
  }

  /// The network.
  public let network: GraphNetwork
  /// The prepared graphs.
  public let inputs: [GraphInput]

  public init(network: GraphNetwork, inputs: [GraphInput]) {
    self.network = network
    self.inputs = inputs
  }

  public func length(of variant: Variant) -> Int { inputs[variant.input].graph.nodeCount }

  public func logits(of batch: [Variant]) throws -> [[Float]] {
    let graphs = try batch.map { variant -> GraphInput in
      let input = inputs[variant.input]
      let removed = (0..<input.graph.nodeCount).filter { !variant.present.contains($0) }
      return removed.isEmpty ? input : try network.input(input, removing: removed)
    }
    return try network.outputs(batch: graphs)
  }

  /// Σ‖x‖² of each node's features, and 0 for the removed node (LIME's distance).
  public func geometry(of input: Int) -> UnitGeometry {
    let features = inputs[input].features
    let width = features.shape[1]
    let norms = features.withUnsafeBufferPointer { x in
      (0..<features.shape[0]).map { node in
        (0..<width).reduce(0.0) { $0 + Double(x[node * width + $1]) * Double(x[node * width + $1]) }
      }
    }
    let zeros = [Double](repeating: 0, count: norms.count)
    return UnitGeometry(input: norms, baseline: zeros, cross: zeros)
  }
}

/// A perturbation method explaining graph networks by their nodes.
public struct GraphPerturbation: Sendable {
  /// Which method (a perturbation method).
  public let kind: MethodKind
  /// Window, stride, samples, seed (units are always nodes).
  public let settings: PerturbationSettings
  /// Batches of perturbed graphs.
  public let runner: PerturbationRunner

  /// Most nodes in one batch of perturbed graphs.
  public static let nodesPerBatch = 8192

  public init(
    kind: MethodKind, settings: PerturbationSettings = PerturbationSettings(),
    runner: PerturbationRunner = PerturbationRunner(maximumRows: 1024, maximumTokens: GraphPerturbation.nodesPerBatch)
  ) {
    precondition(kind.isPerturbation, "\(kind.rawValue) is not a perturbation method")
    self.kind = kind
    self.settings = settings
    self.runner = runner
  }

  /// The relevance of every node of each graph for `targets[i]`.
  public func explain(network: GraphNetwork, inputs: [GraphInput], targets: [ClassTarget]) throws
    -> [NodeRelevance]
  {
    let backend = GraphNodeBackend(network: network, inputs: inputs)
    let layouts = inputs.map { UnitLayout(groups: (0..<$0.graph.nodeCount).map { [$0] }) }
    let results = try CoalitionRun.run(
      inputs: inputs.count, targets: targets, labels: network.labels, backend: backend, runner: runner,
      variant: { GraphNodeBackend.Variant(input: $0, present: $1) },
      plan: { i in
        try CoalitionPlan.make(
          kind: kind, settings: settings.forInput(i), layout: layouts[i], geometry: kind == .lime ? backend.geometry(of: i) : nil)
      })
    return results.enumerated().map { i, item in
      let phi = item.result.phi.map { Float($0) }
      return NodeRelevance(
        outputs: item.result.logits, target: item.target, relevance: phi, method: kind.rawValue,
        baselineOutputs: item.result.baselineLogits,
        perturbation: PerturbationOutcome(
          units: "nodes", layout: layouts[i], unitRelevance: phi, evaluations: item.result.evaluations,
          scheme: item.result.scheme))
    }
  }

  /// One graph.
  public func explain(network: GraphNetwork, input: GraphInput, target: ClassTarget) throws -> NodeRelevance {
    try explain(network: network, inputs: [input], targets: [target])[0]
  }
}

/// Graph networks explained by a perturbation method over the nodes, as an `Explainer`
/// (data sets): graphs are explained in groups whose perturbed variants share batches.
public struct GraphPerturbationExplainer: Explainer {
  /// The network.
  public let network: GraphNetwork

  /// Graphs explained together.
  public static let graphsPerBatch = 16

  public init(network: GraphNetwork) { self.network = network }

  public var labels: [String] { network.labels }
  public var units: UnitKind { .nodes }
  public func name(of method: GraphPerturbation) -> String { method.kind.rawValue }
  public func prepare(_ record: Graph) throws -> GraphInput { try network.prepare(record) }

  public func batches(_ inputs: [GraphInput], method: GraphPerturbation) -> [[Int]] {
    stride(from: 0, to: inputs.count, by: Self.graphsPerBatch).map {
      Array($0..<min($0 + Self.graphsPerBatch, inputs.count))
    }
  }

  public func explain(_ inputs: [GraphInput], method: GraphPerturbation, targets: [ClassTarget]) throws
    -> [NodeRelevance]
  {
    try method.explain(network: network, inputs: inputs, targets: targets)
  }

  public func outputs(of explanation: NodeRelevance) -> [Float] { explanation.outputs }
  public func unitRelevance(of explanation: NodeRelevance) -> [Float] { explanation.relevance }
  public func units(of input: GraphInput) -> [Int] { Array(0..<input.graph.nodeCount) }

  /// A graph's label is a class index (graph files store it as a number).
  public func classIndex(ofLabel label: String) -> Int? {
    Int(label).flatMap { labels.indices.contains($0) ? $0 : nil }
  }

  public func perturb(_ input: GraphInput, removing positions: [Int]) throws -> GraphInput {
    try network.input(input, removing: positions)
  }
}
