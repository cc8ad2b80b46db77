import Models
import Tensor

/// GNN-LRP relevant walks (Schnake et al.), computed by a suffix dynamic programme.
///
/// Rewritten forward: every layer computes Zp·(Z/Zp).detach() with
/// Zp from W + γ·max(W, 0) (γ per layer; the input projection U is left as is),
/// relu gates kept. With only node j_l carrying gradient at layer l, the relevance of
/// walk (j₀, j₁, …, j_L) is the Gradient×Input at H₀[j₀]:
///
///     b_L   = s_out[j_L, t]/n · Ṽ[:, t]
///     b_l−1 = Â[j_l−1, j_l] · W̃_l (s_l[j_l] ⊙ b_l)
///     R     = H₀[j₀] · b₀
///
/// with s = relu gate ⊙ Z/Zp (Zp + ε·sign Zp with the LRP-ε stabiliser). Suffixes are extended only along entries of Â, one
/// h×h matrix–vector product per suffix, depth first (memory O(L·h) plus the top-K heap).
public struct RelevantWalks: Sendable {
  /// γ for W₁…W_L and the output projection (L + 1 values).
  public let gammas: [Float]
  /// How many walks to keep, largest |R| first (nil: all).
  public let keep: Int?
  /// LRP-ε stabiliser added to every denominator z⁺, keeping its sign (0: plain LRP-γ).
  /// What it absorbs shows as the conservation residual.
  public let epsilon: Float

  /// Told (walks done, walks in all) as the enumeration goes, for a progress display.
  public let progress: (@Sendable (_ done: Int, _ total: Int) -> Void)?
  /// Most walks this explanation may enumerate; more is refused before any work.
  public let walkLimit: Int

  /// `gammas` may hold one value (used everywhere) or L + 1 values; `epsilon` stabilises
  /// every denominator; `progress` hears how far the enumeration is; graphs with more
  /// than `walkLimit` walks are refused.
  public init(
    gammas: [Float] = [0], epsilon: Float = 0, keep: Int? = 10,
    walkLimit: Int = RelevantWalks.defaultWalkLimit,
    progress: (@Sendable (_ done: Int, _ total: Int) -> Void)? = nil
  ) {
    self.gammas = gammas
    self.epsilon = epsilon
    self.keep = keep
    self.walkLimit = walkLimit
    self.progress = progress
  }

  /// The default walk limit: about 20 s of enumeration at width 64 on the development
  /// machine (B5: 86,576 walks in 7.4 ms).
  public static let defaultWalkLimit = 200_000_000

  /// Largest γ accepted: W + γ·max(W, 0) stays far inside float32 for any sane weight.
  public static let largestGamma: Float = 1_000_000

  /// Largest ε accepted (a stabiliser larger than any pre-activation only hides the walks).
  public static let largestEpsilon: Float = 1_000_000

  /// Most walks one explanation enumerates (about a minute of work).
  public static let maximumWalks = 2_000_000_000

  /// The γ of each of the L + 1 projections, or an error naming the expected count.
  public func expandedGammas(layers: Int) throws -> [Float] {
    guard epsilon >= 0, epsilon <= RelevantWalks.largestEpsilon else {
      throw GammaError(
        "ε must lie between 0 and \(Int(RelevantWalks.largestEpsilon)); got \(epsilon).")
    }
    guard gammas.allSatisfy({ $0 >= 0 && $0 <= RelevantWalks.largestGamma }) else {
      throw GammaError(
        "γ values must lie between 0 and \(Int(RelevantWalks.largestGamma)) (larger ones overflow the lifted weights); got \(gammas.map { "\($0)" }.joined(separator: ", "))."
      )
    }
    if gammas.count == 1 { return Array(repeating: gammas[0], count: layers + 1) }
    guard gammas.count == layers + 1 else {
      throw GammaError(
        "γ takes one value or \(layers + 1) (one per layer and one for the output); got \(gammas.count)."
      )
    }
    return gammas
  }

  /// Explains the class `target` names of a prepared graph: one rewritten forward pass
  /// (its outputs choose the target), then the walk programme.
  public func explain(network: GraphNetwork, input: GraphInput, target: ClassTarget) throws -> WalkExplanation
  {
    let layers = network.layerCount
    let gamma = try expandedGammas(layers: layers)
    let adjacency = input.adjacency
    let n = input.graph.nodeCount
    let walksEndingAt = WalkEnumerator.walksEnding(adjacency: adjacency, layers: layers)
    let count = walksEndingAt.reduce(0, saturatingAdd)
    guard count <= min(walkLimit, RelevantWalks.maximumWalks) else {
      let width = network.layerWeights.first?.shape[1] ?? network.outputWeight.shape[0]
      // Measured: about 12 million walks a second at width 64, one h×h product per suffix.
      let seconds = Double(count) / 12e6 * Double(width * width) / 4096
      throw WalkLimitError(
        walks: count, layers: layers, limit: min(walkLimit, RelevantWalks.maximumWalks),
        estimatedSeconds: seconds)
    }
    let forward = withoutGrad {
      RewrittenForward(
        network: network, x: input.features, adjacency: adjacency, gammas: gamma, epsilon: epsilon)
    }
    guard forward.outputs.allSatisfy(\.isFinite) else {
      throw ModelError.badInput("The model's outputs for this graph are not finite numbers.")
    }
    let target = try target.index(labels: network.labels, logits: forward.outputs)
    let walker = WalkEnumerator(
      forward: forward, adjacency: adjacency, target: target, nodeCount: n, layers: layers, keep: keep)
    walker.run(walksEndingAt: walksEndingAt, progress: progress.map { report in { report($0, count) } })
    let outputs = forward.outputs
    var edgeRelevance: [Graph.Edge: Float] = [:]
    for (entry, value) in walker.entryRelevance.enumerated() where value != 0 {
      let (s, t) = (adjacency.sources[entry], adjacency.targets[entry])
      if s != t { edgeRelevance[Graph.Edge(s, t), default: 0] += value }
    }
    guard walker.total.isFinite else {
      throw ModelError.badInput(
        "The walk relevances are not finite numbers (the model or γ overflows float32).")
    }
    return WalkExplanation(
      gammas: gamma, epsilon: epsilon, stability: forward.stability, target: target, outputs: outputs,
      bias: network.outputBias?.scalars[target] ?? 0,
      walks: walker.heap.sortedByMagnitude(), walkCount: walker.walkCount, sumOverWalks: walker.total,
      nodeRelevance: walker.layerNodeRelevance[0], layerNodeRelevance: walker.layerNodeRelevance,
      edgeRelevance: edgeRelevance)
  }

  /// Explains class `target` of `graph` (prepares the graph first).
  public func explain(network: GraphNetwork, graph: Graph, target: Int) throws -> WalkExplanation {
    try explain(network: network, input: network.prepare(graph), target: .index(target))
  }
}

/// γ values the network cannot take (out of range, or a count that is not 1 or L + 1).
public struct GammaError: Error, Equatable, CustomStringConvertible {
  public let description: String
  init(_ description: String) { self.description = description }
}

/// A graph with more walks than an explanation may enumerate, with the estimated time.
public struct WalkLimitError: Error, Equatable, CustomStringConvertible {
  /// Walks of the graph.
  public let walks: Int
  /// Walk length (message-passing layers).
  public let layers: Int
  /// The limit in force.
  public let limit: Int
  /// Estimated enumeration time.
  public let estimatedSeconds: Double

  public var description: String {
    let walks = self.walks == Int.max ? "more than 9·10¹⁸" : "\(self.walks)"
    return
      "The graph has \(walks) walks of length \(layers), more than the limit of \(limit) (about \(Int(estimatedSeconds.rounded())) s of work)."
  }
}
