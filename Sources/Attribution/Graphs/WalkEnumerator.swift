import Models
import Tensor

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
  /// `progress` hears the number of walks done after each last-layer node.
  func run(walksEndingAt: [Int], progress: ((Int) -> Void)? = nil) {
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
      progress?(counters.pointee)
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
