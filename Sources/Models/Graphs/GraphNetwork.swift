import Foundation
import Tensor

/// A message-passing graph classifier in the form GNN-LRP explains:
///
///     H₀ = input(X)                       (GraphNet: relu(X U); GCN: X)
///     H_l = relu(Âᵀ H_{l−1} W_l),  l = 1…L
///     out = mean over nodes of [relu](H_L V) + b
///
/// GraphNet stores `U`, `W1…WL`, `V`; the GCN stores `layers.N.theta` and
/// `classifier.weight` [c, h] (so V = classifier.weightᵀ) with `classifier.bias`.
public struct GraphNetwork: Sendable {
  /// How node features are made.
  public enum NodeFeatures: String, Sendable {
    /// One-hot node index (in_dim = number of nodes).
    case identity
    /// A single 1 per node (in_dim = 1).
    case constant
    /// The graph file's `features` (or one-hot elements for molecules).
    case given
  }

  /// The two graph architectures (`model_type` of their JSON weight files).
  public enum Architecture: String, Sendable, CaseIterable {
    /// GraphNet (Schnake et al.): input projection U, layers W_l, readout V, no bias.
    case graphnet
    /// GCN (Kipf and Welling): layers θ_l, a linear classifier with bias.
    case gcn
  }

  /// GraphNet or GCN.
  public let architecture: Architecture
  /// Class names by index.
  public let labels: [String]
  /// How node features are made.
  public let nodeFeatures: NodeFeatures
  /// How Â is normalised.
  public let normalization: NormalizedAdjacency.Normalization
  /// Element symbols for one-hot atom features, in feature order (molecule models).
  public let elements: [String]?
  /// Input projection U [in, h₀] (GraphNet), applied as relu(X U).
  public let inputProjection: Tensor?
  /// Message-passing weights W_l [h_{l−1}, h_l].
  public let layerWeights: [Tensor]
  /// Output projection V [h_L, classes].
  public let outputWeight: Tensor
  /// Bias added after the mean (GCN classifier), or nil.
  public let outputBias: Tensor?
  /// Whether relu is applied to H_L V before the mean.
  public let finalReLU: Bool
  /// Width of the input features.
  public let inputWidth: Int

  /// Number of message-passing layers L.
  public var layerCount: Int { layerWeights.count }

  /// Loads a GraphNet or GCN from the JSON weight format of docs/formats.md ("Graph models") (a file, or a
  /// model folder holding `model.json`).
  public static func load(path: String) throws -> GraphNetwork {
    let config = (path as NSString).appendingPathComponent("config.json")
    if FileManager.default.fileExists(atPath: config) {
      let type = try JSONDocument.read(config).rootNode["model_type"]?.string ?? ""
      guard let kind = ModelKind(modelType: type) else {
        throw ModelError.unknownModelType(file: config, modelType: type)
      }
      guard kind != .graphNetwork else {
        throw ModelError.badConfig(
          file: config, key: "model_type", reason: "names a graph network, which xai reads from model.json")
      }
      throw ModelError.wrongModelKind(file: path, found: kind, modelType: type, expected: .graphNetwork)
    }
    let weights = try JSONWeights(path: ModelZoo.weightFile(path))
    return try GraphNetwork(config: weights.config, store: weights)
  }

  /// Builds the network from a config object and named tensors.
  public init(config: JSONNode, store: WeightStore) throws {
    let file = store.path
    guard let typeNode = config["model_type"] else {
      throw ModelError.badConfig(file: file, key: "model_type", reason: "is missing")
    }
    guard let type = typeNode.string else {
      throw ModelError.badConfig(
        file: file, key: "model_type", reason: "is not a string (it names the architecture)")
    }
    guard let architecture = Architecture(rawValue: type) else {
      if let kind = ModelKind(modelType: type) {
        throw ModelError.wrongModelKind(file: file, found: kind, modelType: type, expected: .graphNetwork)
      }
      throw ModelError.unknownModelType(file: file, modelType: type)
    }
    self.architecture = architecture
    func integer(_ key: String) throws -> Int {
      guard let value = config[key]?.int, value > 0 else {
        throw ModelError.badConfig(file: file, key: key, reason: "must be a positive integer")
      }
      let limit = key == "num_layers" ? 64 : 1 << 20
      guard value <= limit else {
        throw ModelError.badConfig(
          file: file, key: key,
          reason: "is \(config[key]!.literal); xai reads graph models with at most \(limit)")
      }
      return value
    }
    let inputWidth = try integer("in_dim")
    let hidden = try integer("hidden")
    let classes = try integer("num_classes")
    let layers = try integer("num_layers")
    self.inputWidth = inputWidth
    let features = config["node_features"]?.string ?? (architecture == .gcn ? "given" : "constant")
    guard let kind = NodeFeatures(rawValue: features) else {
      throw ModelError.badConfig(
        file: file, key: "node_features", reason: "must be identity, constant or given")
    }
    nodeFeatures = kind
    let normalize = config["normalize"]?.string ?? "sym"
    guard let normalization = NormalizedAdjacency.Normalization(rawValue: normalize) else {
      throw ModelError.badConfig(file: file, key: "normalize", reason: "must be sym or none")
    }
    self.normalization = normalization
    if let list = config["elements"], list.isArray {
      elements = list.elements.compactMap(\.string)
    } else {
      elements = nil
    }
    let scope = WeightScope(store)
    if architecture == .graphnet {
      inputProjection = try scope.parameter("U", shape: [inputWidth, hidden])
      layerWeights = try (1...layers).map { try scope.parameter("W\($0)", shape: [hidden, hidden]) }
      outputWeight = try scope.parameter("V", shape: [hidden, classes])
      outputBias = nil
      finalReLU = config["final_relu"]?.bool ?? true
    } else {
      inputProjection = nil
      layerWeights = try (0..<layers).map {
        try scope.parameter("layers.\($0).theta", shape: [$0 == 0 ? inputWidth : hidden, hidden])
      }
      outputWeight = try scope.parameter("classifier.weight", shape: [classes, hidden]).transposed(0, 1)
      outputBias = try scope.parameter("classifier.bias", shape: [classes])
      finalReLU = false
    }
    var names = (0..<classes).map { "class \($0)" }
    if let table = config["id2label"], table.isObject {
      for key in table.keys {
        if let index = Int(key), names.indices.contains(index), let name = table[key]?.string {
          names[index] = name
        }
      }
    }
    labels = names
  }

  /// The input features X [n, in] of `graph` for this model.
  public func features(of graph: Graph) throws -> Tensor {
    let n = graph.nodeCount
    switch nodeFeatures {
    case .constant:
      return Tensor.ones([n, inputWidth])
    case .identity:
      guard n == inputWidth else {
        throw ModelError.badInput(
          "The model uses one-hot node identities for \(inputWidth) nodes; the graph has \(n).")
      }
      var values = [Float](repeating: 0, count: n * n)
      for i in 0..<n { values[i * n + i] = 1 }
      return Tensor(shape: [n, n], scalars: values)
    case .given:
      if let rows = graph.features {
        guard rows.first?.count == inputWidth else {
          throw ModelError.badInput(
            "The graph's features have width \(rows.first?.count ?? 0); the model expects \(inputWidth).")
        }
        return Tensor(shape: [n, inputWidth], scalars: rows.flatMap { $0 })
      }
      guard let symbols = graph.nodeLabels else {
        throw ModelError.badInput(
          "The model needs node features; the graph file gives neither features nor node labels.")
      }
      guard let elements else {
        throw ModelError.badInput(
          "The graph gives atoms (node labels) but the model's config has no 'elements' list to turn them into features."
        )
      }
      guard elements.count == inputWidth else {
        throw ModelError.badInput("The model lists \(elements.count) elements for input width \(inputWidth).")
      }
      let other = elements.firstIndex(of: "other")
      var values = [Float](repeating: 0, count: n * inputWidth)
      for (node, symbol) in symbols.enumerated() {
        guard let column = elements.firstIndex(of: symbol) ?? other else {
          throw ModelError.badInput(
            "Atom \(node + 1) is \(symbol), which the model's element list (\(elements.joined(separator: ", "))) lacks."
          )
        }
        values[node * inputWidth + column] = 1
      }
      return Tensor(shape: [n, inputWidth], scalars: values)
    }
  }

  /// H₀ from X (differentiable).
  public func input(_ x: Tensor) -> Tensor {
    guard let inputProjection else { return x }
    return Tensor.matmul(x, inputProjection).relu()
  }

  /// Class outputs [classes] for a graph (plain forward, differentiable in `h0`).
  public func outputs(h0: Tensor, adjacency: NormalizedAdjacency) -> Tensor {
    var h = h0
    for weight in layerWeights {
      h = adjacency.aggregate(Tensor.matmul(h, weight)).relu()
    }
    var projected = Tensor.matmul(h, outputWeight)
    if finalReLU { projected = projected.relu() }
    let mean = projected.mean(axis: 0)
    guard let outputBias else { return mean }
    return mean + outputBias
  }

  /// Most memory a forward pass may need (activations of every layer), checked first.
  public static let largestForwardBytes = 8 << 30

  /// The graph prepared for this network: adjacency and input features, built once.
  /// A graph whose forward pass would need more than `largestForwardBytes` is refused.
  public func prepare(_ graph: Graph) throws -> GraphInput {
    let width = ([inputWidth, outputWeight.shape[0]] + layerWeights.map { $0.shape[1] }).max() ?? 1
    let (perLayer, o1) = graph.nodeCount.multipliedReportingOverflow(by: width * 4 * 4)
    let (bytes, o2) = perLayer.multipliedReportingOverflow(by: layerCount + 3)
    guard !o1, !o2, bytes <= Self.largestForwardBytes else {
      throw ModelError.badInput(
        "The graph's \(graph.nodeCount) nodes need about \(o1 || o2 ? "more than 9 EB" : "\(bytes >> 30) GB") for a forward pass at width \(width); xai stops at \(Self.largestForwardBytes >> 30) GB."
      )
    }
    return GraphInput(
      graph: graph, adjacency: NormalizedAdjacency(graph, normalization: normalization),
      features: try features(of: graph))
  }

  /// `input` with `nodes` removed: their edges dropped and their features zeroed, so that
  /// they add nothing to any other node or to the mean over nodes (the node count stays).
  public func input(_ input: GraphInput, removing nodes: [Int]) throws -> GraphInput {
    let gone = Set(nodes)
    let edges = input.graph.edges.filter { !gone.contains($0.u) && !gone.contains($0.v) }.map { ($0.u, $0.v) }
    let graph = try Graph(nodeCount: input.graph.nodeCount, edges: edges)
    var features = input.features.scalars
    let width = input.features.shape[1]
    for node in nodes where (0..<input.graph.nodeCount).contains(node) {
      features.replaceSubrange((node * width)..<((node + 1) * width), with: repeatElement(0, count: width))
    }
    return GraphInput(
      graph: graph, adjacency: NormalizedAdjacency(graph, normalization: normalization),
      features: Tensor(shape: input.features.shape, scalars: features))
  }

  /// Class outputs of a prepared graph.
  public func outputs(_ input: GraphInput) -> [Float] {
    withoutGrad { outputs(h0: self.input(input.features), adjacency: input.adjacency) }.scalars
  }

  /// Class outputs of several graphs in one no-grad pass over their disjoint union (each
  /// graph's mean over its own nodes); the same function as `outputs(_:)` graph by graph.
  public func outputs(batch inputs: [GraphInput]) throws -> [[Float]] {
    guard inputs.count > 1 else { return inputs.map(outputs) }
    var edges: [(Int, Int)] = []
    var owner: [Int] = []
    var total = 0
    for (index, input) in inputs.enumerated() {
      for edge in input.graph.edges { edges.append((edge.u + total, edge.v + total)) }
      owner += repeatElement(index, count: input.graph.nodeCount)
      total += input.graph.nodeCount
    }
    let union = try Graph(nodeCount: total, edges: edges)
    let width = inputs[0].features.shape[1]
    var features = [Float]()
    features.reserveCapacity(total * width)
    for input in inputs { features += input.features.scalars }
    let adjacency = NormalizedAdjacency(union, normalization: normalization)
    return withoutGrad {
      var h = input(Tensor(shape: [total, width], scalars: features))
      for weight in layerWeights { h = adjacency.aggregate(Tensor.matmul(h, weight)).relu() }
      var projected = Tensor.matmul(h, outputWeight)
      if finalReLU { projected = projected.relu() }
      let sums = projected.scatterAddRows(into: inputs.count, at: owner).scalars
      let classes = outputWeight.shape[1]
      let bias = outputBias?.scalars ?? [Float](repeating: 0, count: classes)
      return inputs.enumerated().map { index, input in
        (0..<classes).map { sums[index * classes + $0] * (1 / Float(input.graph.nodeCount)) + bias[$0] }
      }
    }
  }
}

/// A graph as one network reads it: the normalised adjacency and the input features,
/// built once and shared by the forward pass and every explanation.
public struct GraphInput: Sendable {
  /// The graph.
  public let graph: Graph
  /// Â with self-loops, normalised as the network asks.
  public let adjacency: NormalizedAdjacency
  /// X [n, in].
  public let features: Tensor

  /// A graph with its adjacency and features (built by `GraphNetwork.prepare`, or
  /// changed from such an input).
  public init(graph: Graph, adjacency: NormalizedAdjacency, features: Tensor) {
    self.graph = graph
    self.adjacency = adjacency
    self.features = features
  }
}
