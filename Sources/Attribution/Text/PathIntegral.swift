// ∫₀¹ ∂f_t/∂e (b + α(e − b)) dα ≈ Σ_k w_k ∂f_t/∂e (b + α_k(e − b))
// for every row of a batch, the (row, point) pairs run in passes of at most
// `rowsPerPass` path points, one forward and one backward pass each.
import Models
import Tensor

/// The batched runner of path integrals of the gradient (Integrated Gradients; the
/// data-set and evaluation commands call it too). Points of several rows share a pass,
/// so memory stays bounded by `rowsPerPass` whatever the number of steps or rows.
public struct PathIntegral: Sendable {
  /// One quadrature point α on the path and its weight.
  public struct Node: Sendable, Equatable {
    /// Position on the path, 0 = baseline, 1 = input.
    public let alpha: Double
    /// Quadrature weight (the weights of a rule sum to 1).
    public let weight: Double

    /// A point and its weight.
    public init(alpha: Double, weight: Double) {
      self.alpha = alpha
      self.weight = weight
    }
  }

  /// The quadrature.
  public let nodes: [Node]
  /// Most path points in one pass.
  public let rowsPerPass: Int

  /// A runner for `nodes`, at most `rowsPerPass` points per pass.
  public init(nodes: [Node], rowsPerPass: Int = 64) {
    self.nodes = nodes
    self.rowsPerPass = max(1, rowsPerPass)
  }

  /// Σ_k w_k ∂ logit_{targets[b]} / ∂x at b + α_k(x − b), for every row b [B, T, D].
  public func averageGradient(
    network: any EncoderClassifier, input: Tensor, baseline: Tensor, keep: KeepMask, targets: [Int],
    rules: PropagationRules
  ) -> Tensor {
    let batch = keep.batchSize
    let pairs = (0..<batch).flatMap { row in nodes.map { (row: row, node: $0) } }
    let difference = input - baseline
    var total = Tensor.zeros(input.shape)
    for start in stride(from: 0, to: pairs.count, by: rowsPerPass) {
      let chunk = pairs[start..<min(start + rowsPerPass, pairs.count)]
      let rowsOfChunk = chunk.map(\.row)
      let alphas = Tensor(shape: [chunk.count, 1, 1], scalars: chunk.map { Float($0.node.alpha) })
      let points = withoutGrad {
        baseline.gatherRows(rowsOfChunk) + alphas * difference.gatherRows(rowsOfChunk)
      }.requiringGrad()
      let logits = network.logits(embeddings: points, keep: keep.rows(rowsOfChunk), rules: rules)
      let classes = logits.shape[1]
      var seed = [Float](repeating: 0, count: logits.count)
      for (index, pair) in chunk.enumerated() {
        seed[index * classes + targets[pair.row]] = Float(pair.node.weight)
      }
      logits.backward(seed: Tensor(shape: logits.shape, scalars: seed))
      if let gradient = points.grad {
        total.addInPlace(withoutGrad { gradient.scatterAddRows(into: batch, at: rowsOfChunk) })
      }
    }
    return total
  }
}
