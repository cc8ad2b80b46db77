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
/// with s = relu gate ⊙ Z/Zp. Suffixes are extended only along entries of Â, one
/// h×h matrix–vector product per suffix, depth first (memory O(L·h) plus the top-K heap).
public struct RelevantWalks: Sendable {
  /// γ for W₁…W_L and the output projection (L + 1 values).
  public let gammas: [Float]
  /// How many walks to keep, largest |R| first (nil: all).
  public let keep: Int?

  /// `gammas` may hold one value (used everywhere) or L + 1 values.
  public init(gammas: [Float] = [0], keep: Int? = 10) {
    self.gammas = gammas
    self.keep = keep
  }

  /// Most walks one explanation enumerates (about a minute of work).
  public static let maximumWalks = 2_000_000_000

  /// The γ of each of the L + 1 projections, or an error naming the expected count.
  public func expandedGammas(layers: Int) throws -> [Float] {
    if gammas.count == 1 { return Array(repeating: gammas[0], count: layers + 1) }
    guard gammas.count == layers + 1 else {
      throw ModelError.badInput(
        "--gamma takes one value or \(layers + 1) (one per layer and one for the output); got \(gammas.count)."
      )
    }
    guard gammas.allSatisfy({ $0 >= 0 && $0.isFinite }) else {
      throw ModelError.badInput("--gamma values must be finite and non-negative.")
    }
    return gammas
  }

  /// Explains `target` of `graph`.
  public func explain(network: GraphNetwork, graph: Graph, target: Int) throws -> WalkExplanation {
    let layers = network.layerCount
    let gamma = try expandedGammas(layers: layers)
    let adjacency = NormalizedAdjacency(graph, normalization: network.normalization)
    let x = try network.features(of: graph)
    let n = graph.nodeCount
    let classes = network.outputWeight.shape[1]
    guard (0..<classes).contains(target) else {
      throw ModelError.badInput(
        "Target class \(target) does not exist; the model has classes 0…\(classes - 1).")
    }
    let walksEndingAt = WalkEnumerator.walksEnding(adjacency: adjacency, layers: layers)
    let count = walksEndingAt.reduce(0, saturatingAdd)
    guard count <= RelevantWalks.maximumWalks else {
      throw ModelError.badInput(
        "The graph has \(count) walks of length \(layers), more than the \(RelevantWalks.maximumWalks) xai enumerates."
      )
    }
    let forward = withoutGrad {
      RewrittenForward(network: network, x: x, adjacency: adjacency, gammas: gamma)
    }
    let walker = WalkEnumerator(
      forward: forward, adjacency: adjacency, target: target, nodeCount: n, layers: layers, keep: keep)
    walker.run(walksEndingAt: walksEndingAt)
    let outputs = forward.outputs
    var edgeRelevance: [Graph.Edge: Float] = [:]
    for (entry, value) in walker.entryRelevance.enumerated() where value != 0 {
      let (s, t) = (adjacency.sources[entry], adjacency.targets[entry])
      if s != t { edgeRelevance[Graph.Edge(s, t), default: 0] += value }
    }
    return WalkExplanation(
      gammas: gamma, target: target, outputs: outputs, bias: network.outputBias?.scalars[target] ?? 0,
      walks: walker.heap.sortedByMagnitude(), walkCount: walker.walkCount, sumOverWalks: walker.total,
      nodeRelevance: walker.layerNodeRelevance[0], layerNodeRelevance: walker.layerNodeRelevance,
      edgeRelevance: edgeRelevance)
  }
}

/// One walk j₀ → j₁ → … → j_L and its relevance.
public struct WalkRelevance: Sendable, Equatable {
  /// Node at the input, then the node at each layer.
  public let nodes: [Int]
  /// Its relevance R.
  public let relevance: Float
}

/// What GNN-LRP found for one graph and target.
public struct WalkExplanation: Sendable {
  /// γ of each projection (L + 1 values).
  public let gammas: [Float]
  /// The explained class.
  public let target: Int
  /// Model outputs (logits) of every class.
  public let outputs: [Float]
  /// The output bias of the target (not carried by any walk).
  public let bias: Float
  /// The kept walks, largest |R| first.
  public let walks: [WalkRelevance]
  /// Number of walks (those ending where the output gate is closed have R = 0 and are
  /// counted without being visited).
  public let walkCount: Int
  /// Σ R over all walks.
  public let sumOverWalks: Float
  /// Σ R of walks by start node j₀.
  public let nodeRelevance: [Float]
  /// Σ R of walks by the node they visit at each position 0…L.
  public let layerNodeRelevance: [[Float]]
  /// Σ R of walk steps along each undirected edge.
  public let edgeRelevance: [Graph.Edge: Float]

  /// The target output.
  public var targetOutput: Float { outputs[target] }
  /// target output − bias − Σ walks (0 up to rounding for the exact rule).
  public var residual: Float { targetOutput - bias - sumOverWalks }
}

/// Forward pass of the rewritten network storing what the walk programme needs.
struct RewrittenForward {
  let h0: Tensor
  /// relu gate ⊙ Z/Zp per layer, [n, h_l].
  let scales: [Tensor]
  /// W̃_l = W_l + γ_l max(W_l, 0), [h_{l−1}, h_l].
  let lifted: [Tensor]
  /// Ṽ = V + γ max(V, 0), [h_L, c].
  let liftedOutput: Tensor
  /// s_out = gate ⊙ (H_L V)/(H_L Ṽ), [n, c].
  let outputScale: Tensor
  /// H₀ W̃₁, or H₀ Ṽ when there is no message-passing layer, [n, ·].
  let firstProjection: Tensor
  /// The model's outputs: mean over nodes of [relu](H_L V), plus the bias (the
  /// rewritten pass leaves every forward value unchanged).
  let outputs: [Float]

  init(network: GraphNetwork, x: Tensor, adjacency: NormalizedAdjacency, gammas: [Float]) {
    func lift(_ w: Tensor, _ gamma: Float) -> Tensor {
      gamma == 0 ? w : w + w.relu() * gamma
    }
    func ratio(_ z: Tensor, _ zp: Tensor, gated: Bool) -> Tensor {
      Tensor.zipRatio(z, zp, gated: gated)
    }
    h0 = network.input(x)
    var h = h0
    var scales: [Tensor] = []
    var lifted: [Tensor] = []
    for (l, weight) in network.layerWeights.enumerated() {
      let wl = lift(weight, gammas[l])
      let z = adjacency.aggregate(Tensor.matmul(h, weight))
      let zp = gammas[l] == 0 ? z : adjacency.aggregate(Tensor.matmul(h, wl))
      scales.append(ratio(z, zp, gated: true))
      lifted.append(wl)
      h = z.relu()
    }
    liftedOutput = lift(network.outputWeight, gammas[network.layerCount])
    let o = Tensor.matmul(h, network.outputWeight)
    let op = gammas[network.layerCount] == 0 ? o : Tensor.matmul(h, liftedOutput)
    outputScale = ratio(o, op, gated: network.finalReLU)
    let mean = (network.finalReLU ? o.relu() : o).mean(axis: 0)
    outputs = (network.outputBias.map { mean + $0 } ?? mean).scalars
    self.scales = scales
    self.lifted = lifted
    firstProjection = Tensor.matmul(h0, lifted.first ?? liftedOutput)
  }
}

extension Tensor {
  /// gate ⊙ z/zp elementwise (0 where zp = 0; gate = [z > 0] when `gated`).
  static func zipRatio(_ z: Tensor, _ zp: Tensor, gated: Bool) -> Tensor {
    let a = z.scalars
    let b = zp.scalars
    return Tensor(
      shape: z.shape,
      scalars: zip(a, b).map { value, lifted in
        if gated && value <= 0 { return 0 }
        return lifted == 0 ? 0 : value / lifted
      })
  }
}

/// Keeps the `capacity` walks of largest |R| (a min-heap on |R|).
struct WalkHeap {
  let capacity: Int
  private(set) var items: [WalkRelevance] = []

  /// Whether a walk of this relevance would enter the heap.
  @inline(__always)
  func accepts(_ relevance: Float) -> Bool {
    capacity > 0 && (items.count < capacity || abs(relevance) > abs(items[0].relevance))
  }

  mutating func offer(_ relevance: Float, _ nodes: @autoclosure () -> [Int]) {
    guard capacity > 0 else { return }
    if items.count < capacity {
      items.append(WalkRelevance(nodes: nodes(), relevance: relevance))
      siftUp(items.count - 1)
    } else if abs(relevance) > abs(items[0].relevance) {
      items[0] = WalkRelevance(nodes: nodes(), relevance: relevance)
      siftDown(0)
    }
  }

  private mutating func siftUp(_ start: Int) {
    var child = start
    while child > 0 {
      let parent = (child - 1) / 2
      guard abs(items[child].relevance) < abs(items[parent].relevance) else { return }
      items.swapAt(child, parent)
      child = parent
    }
  }

  private mutating func siftDown(_ start: Int) {
    var parent = start
    while true {
      let left = 2 * parent + 1
      let right = left + 1
      var smallest = parent
      if left < items.count && abs(items[left].relevance) < abs(items[smallest].relevance) { smallest = left }
      if right < items.count && abs(items[right].relevance) < abs(items[smallest].relevance) {
        smallest = right
      }
      if smallest == parent { return }
      items.swapAt(parent, smallest)
      parent = smallest
    }
  }

  func sortedByMagnitude() -> [WalkRelevance] {
    items.sorted {
      abs($0.relevance) > abs($1.relevance)
        || (abs($0.relevance) == abs($1.relevance) && $0.nodes.lexicographicallyPrecedes($1.nodes))
    }
  }
}

/// The depth-first suffix programme over walks. Works on raw buffers: it runs once
/// per walk step, so it must not allocate or check exclusivity in its loops.
final class WalkEnumerator {
  let forward: RewrittenForward
  let adjacency: NormalizedAdjacency
  let target: Int
  let nodeCount: Int
  let layers: Int
  var heap: WalkHeap
  /// Walks counted and Σ R, in raw memory so that the hot loop has no exclusivity checks.
  private let counters: UnsafeMutablePointer<Int>
  private let sum: UnsafeMutablePointer<Float>
  var walkCount: Int { counters.pointee }
  var total: Float { sum.pointee }
  private let nodeSums: UnsafeMutablePointer<Float>
  private let entrySums: UnsafeMutablePointer<Float>
  private let nodes: UnsafeMutablePointer<Int>
  private let entries: UnsafeMutablePointer<Int>
  /// Per level: the suffix's b_l (up to scale) and s_l ⊙ b_l.
  private let vectors: [UnsafeMutablePointer<Float>]
  private let scaled: [UnsafeMutablePointer<Float>]
  private let widths: [Int]
  private let sources: [Int]
  private let weights: [Float]

  init(
    forward: RewrittenForward, adjacency: NormalizedAdjacency, target: Int, nodeCount: Int, layers: Int,
    keep: Int?
  ) {
    self.forward = forward
    self.adjacency = adjacency
    self.target = target
    self.nodeCount = nodeCount
    self.layers = layers
    heap = WalkHeap(capacity: keep ?? Int.max)
    nodeSums = .allocate(capacity: (layers + 1) * nodeCount)
    nodeSums.initialize(repeating: 0, count: (layers + 1) * nodeCount)
    entrySums = .allocate(capacity: max(1, adjacency.sources.count))
    entrySums.initialize(repeating: 0, count: adjacency.sources.count)
    counters = .allocate(capacity: 1)
    counters.initialize(to: 0)
    sum = .allocate(capacity: 1)
    sum.initialize(to: 0)
    nodes = .allocate(capacity: layers + 1)
    nodes.initialize(repeating: 0, count: layers + 1)
    entries = .allocate(capacity: layers + 1)
    entries.initialize(repeating: 0, count: layers + 1)
    widths = [forward.h0.shape[1]] + forward.lifted.map { $0.shape[1] }
    vectors = widths.map { UnsafeMutablePointer<Float>.allocate(capacity: max($0, 1)) }
    scaled = widths.map { UnsafeMutablePointer<Float>.allocate(capacity: max($0, 1)) }
    sources = adjacency.sources
    weights = adjacency.weights
  }

  deinit {
    nodeSums.deallocate()
    entrySums.deallocate()
    entries.deallocate()
    nodes.deallocate()
    counters.deallocate()
    sum.deallocate()
    for pointer in vectors + scaled { pointer.deallocate() }
  }

  /// Σ R by the node each walk visits at positions 0…L.
  var layerNodeRelevance: [[Float]] {
    (0...layers).map { Array(UnsafeBufferPointer(start: nodeSums + $0 * nodeCount, count: nodeCount)) }
  }

  /// Σ R of walk steps along each entry of Â.
  var entryRelevance: [Float] { Array(UnsafeBufferPointer(start: entrySums, count: adjacency.sources.count)) }

  /// For each node, the number of walks of `layers` steps along Â ending there
  /// (saturating, so huge graphs do not overflow).
  static func walksEnding(adjacency: NormalizedAdjacency, layers: Int) -> [Int] {
    var ending = [Int](repeating: 1, count: adjacency.nodeCount)
    for _ in 0..<layers {
      var next = [Int](repeating: 0, count: adjacency.nodeCount)
      for node in 0..<adjacency.nodeCount {
        for entry in adjacency.incoming[node] {
          next[node] = saturatingAdd(next[node], ending[adjacency.sources[entry]])
        }
      }
      ending = next
    }
    return ending
  }

  /// Visits every walk; `walksEndingAt` (from `walksEnding`) counts the walks behind a
  /// closed output gate without visiting them.
  func run(walksEndingAt: [Int]) {
    let classes = forward.liftedOutput.shape[1]
    let width = forward.liftedOutput.shape[0]
    let outputScale = forward.outputScale.scalars
    let lifted = forward.liftedOutput.scalars
    for last in 0..<nodeCount {
      let scale = outputScale[last * classes + target] / Float(nodeCount)
      guard scale != 0 else {
        counters.pointee += walksEndingAt[last]
        continue
      }
      nodes[layers] = last
      for i in 0..<width { vectors[layers][i] = lifted[i * classes + target] }
      visit(level: layers, node: last, scale: scale)
    }
  }

  /// b_level = scale · vectors[level] is the suffix's gradient at H_level[node].
  private func visit(level: Int, node: Int, scale: Float) {
    if level == 0 {
      let classes = forward.firstProjection.shape[1]
      record(scale * forward.firstProjection.storage(node * classes + target))
      return
    }
    let width = widths[level]
    let vector = vectors[level]
    let product = scaled[level]
    forward.scales[level - 1].withUnsafeBufferPointer { s in
      let row = s.baseAddress! + node * width
      for i in 0..<width { product[i] = row[i] * vector[i] }
    }
    if level == 1 {
      forward.firstProjection.withUnsafeBufferPointer { p in
        let base = p.baseAddress!
        for entry in adjacency.incoming[node] {
          let source = sources[entry]
          let row = base + source * width
          var sum: Float = 0
          for i in 0..<width { sum += row[i] * product[i] }
          nodes[0] = source
          entries[1] = entry
          record(scale * weights[entry] * sum)
        }
      }
      return
    }
    let inner = widths[level - 1]
    forward.lifted[level - 1].withUnsafeBufferPointer { w in
      BLAS.sgemv(m: inner, n: width, a: w.baseAddress!, x: product, y: vectors[level - 1])
    }
    for entry in adjacency.incoming[node] {
      let source = sources[entry]
      nodes[level - 1] = source
      entries[level] = entry
      visit(level: level - 1, node: source, scale: scale * weights[entry])
    }
  }

  @inline(__always)
  private func record(_ relevance: Float) {
    counters.pointee += 1
    sum.pointee += relevance
    for level in 0...layers { nodeSums[level * nodeCount + nodes[level]] += relevance }
    if layers > 0 { for level in 1...layers { entrySums[entries[level]] += relevance } }
    if heap.accepts(relevance) {
      heap.offer(relevance, Array(UnsafeBufferPointer(start: nodes, count: layers + 1)))
    }
  }
}

extension Tensor {
  /// The scalar at a flat index (no bounds check beyond the storage's).
  fileprivate func storage(_ index: Int) -> Float {
    withUnsafeBufferPointer { $0[index] }
  }
}

/// a + b, or Int.max where the sum would overflow.
func saturatingAdd(_ a: Int, _ b: Int) -> Int {
  let (sum, overflow) = a.addingReportingOverflow(b)
  return overflow ? Int.max : sum
}
