import Foundation
import Tensor

/// An undirected graph with optional node features, labels and drawing positions.
public struct Graph: Sendable, Equatable {
  /// Number of nodes.
  public let nodeCount: Int
  /// Undirected edges (u < v), without self-loops or duplicates, sorted.
  public let edges: [Edge]
  /// Node features [n][d], when the file gives them.
  public let features: [[Float]]?
  /// The graph's class label, when known.
  public let label: Int?
  /// A name per node (atom symbols for molecules).
  public let nodeLabels: [String]?
  /// 2-D coordinates per node (molfile coordinates or given positions).
  public let positions: [[Double]]?
  /// Name of the graph (molecule name, JSONL line), for display.
  public let name: String?

  /// One undirected edge.
  public struct Edge: Sendable, Hashable, Comparable {
    /// The smaller end.
    public let u: Int
    /// The larger end.
    public let v: Int

    /// The edge between `a` and `b`, in either order.
    public init(_ a: Int, _ b: Int) {
      u = min(a, b)
      v = max(a, b)
    }

    /// Edges sort by (u, v).
    public static func < (lhs: Edge, rhs: Edge) -> Bool { (lhs.u, lhs.v) < (rhs.u, rhs.v) }
  }

  /// Builds a graph, checking every node id and feature row; `source` names the input in errors.
  public init(
    nodeCount: Int, edges: [(Int, Int)], features: [[Float]]? = nil, label: Int? = nil,
    nodeLabels: [String]? = nil, positions: [[Double]]? = nil, name: String? = nil,
    source: String = "graph"
  ) throws {
    guard nodeCount > 0 else {
      throw ModelError.badInput("\(source): the graph has no nodes (num_nodes must be positive).")
    }
    guard nodeCount <= Graph.maximumNodes else {
      throw ModelError.badInput(
        "\(source): num_nodes \(nodeCount) exceeds the limit of \(Graph.maximumNodes) nodes.")
    }
    var unique = Set<Edge>()
    for (index, (a, b)) in edges.enumerated() {
      guard a >= 0, b >= 0, a < nodeCount, b < nodeCount else {
        throw ModelError.badInput(
          "\(source): edge \(index) [\(a), \(b)] names a node outside 0…\(nodeCount - 1).")
      }
      if a != b { unique.insert(Edge(a, b)) }
    }
    if let features {
      guard features.count == nodeCount else {
        throw ModelError.badInput(
          "\(source): \(features.count) feature rows for \(nodeCount) nodes.")
      }
      let width = features.first?.count ?? 0
      if let bad = features.firstIndex(where: { $0.count != width }) {
        throw ModelError.badInput(
          "\(source): feature row \(bad) has \(features[bad].count) values, row 0 has \(width).")
      }
      if let bad = features.firstIndex(where: { !$0.allSatisfy(\.isFinite) }) {
        throw ModelError.badInput("\(source): feature row \(bad) contains NaN or infinity.")
      }
    }
    if let nodeLabels, nodeLabels.count != nodeCount {
      throw ModelError.badInput("\(source): \(nodeLabels.count) node labels for \(nodeCount) nodes.")
    }
    if let positions, positions.count != nodeCount || positions.contains(where: { $0.count < 2 }) {
      throw ModelError.badInput("\(source): positions must give [x, y] for each of \(nodeCount) nodes.")
    }
    self.nodeCount = nodeCount
    self.edges = unique.sorted()
    self.features = features
    self.label = label
    self.nodeLabels = nodeLabels
    self.positions = positions
    self.name = name
  }

  /// Largest graph accepted (a typo'd num_nodes must not allocate terabytes).
  public static let maximumNodes = 10_000_000

  /// Degree of each node (self-loops not counted).
  public var degrees: [Int] {
    var degree = [Int](repeating: 0, count: nodeCount)
    for edge in edges {
      degree[edge.u] += 1
      degree[edge.v] += 1
    }
    return degree
  }
}

/// Â as a sparse list of directed entries: self-loops plus both directions of every
/// edge, weighted 1 (`none`) or 1/√(dᵢ dⱼ) with degrees of A + I (`sym`).
public struct NormalizedAdjacency: Sendable {
  /// How edges are weighted.
  public enum Normalization: String, Sendable {
    case sym, none
  }

  /// Number of nodes.
  public let nodeCount: Int
  /// Entry e connects `sources[e]` → `targets[e]` with `weights[e]` (Â[source, target]).
  public let sources: [Int]
  /// Target node of each entry.
  public let targets: [Int]
  /// Â[source, target] of each entry.
  public let weights: [Float]
  /// For each target node, the entries arriving at it (indices into the lists).
  public let incoming: [[Int]]

  /// Â of `graph` with self-loops, normalised as asked.
  public init(_ graph: Graph, normalization: Normalization) {
    nodeCount = graph.nodeCount
    var sources = Array(0..<graph.nodeCount)
    var targets = Array(0..<graph.nodeCount)
    for edge in graph.edges {
      sources += [edge.u, edge.v]
      targets += [edge.v, edge.u]
    }
    let degree = graph.degrees.map { Float($0 + 1) }
    weights = zip(sources, targets).map { s, t in
      normalization == .sym ? 1 / (degree[s] * degree[t]).squareRoot() : 1
    }
    var incoming = [[Int]](repeating: [], count: graph.nodeCount)
    for (entry, target) in targets.enumerated() { incoming[target].append(entry) }
    self.sources = sources
    self.targets = targets
    self.incoming = incoming
  }

  /// (Âᵀ H)[j] = Σ_k Â[k, j] H[k] for H [n, d] (differentiable).
  public func aggregate(_ h: Tensor) -> Tensor {
    let messages = h.gatherRows(sources) * Tensor(shape: [weights.count, 1], scalars: weights)
    return messages.scatterAddRows(into: nodeCount, at: targets)
  }
}
