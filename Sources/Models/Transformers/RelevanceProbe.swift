import Tensor

/// What the relevance audit needs from one forward pass: the activations at the input
/// of every sublayer (tapped, so that the backward leaves ∂f/∂h there) and every bias
/// after the embedding block (as leaves, so that it leaves ∂f/∂b). The network hands
/// each to the probe when one is given and is unchanged otherwise.
public final class RelevanceProbe: @unchecked Sendable {
  private var points: [(name: String, value: Tensor, tap: GradientTap)] = []
  private var biases: [Tensor] = []

  /// An empty probe for one pass over a batch of one (several backward passes over that
  /// pass are read one at a time with `reset()` before each).
  public init() {}

  /// `x` tapped and recorded as the input of the sublayer `name`.
  func observe(_ name: String, _ x: Tensor) -> Tensor {
    let tap = GradientTap()
    points.append((name, x, tap))
    return x.tapped(by: tap)
  }

  /// The bias `b` as a leaf that collects ∂f/∂b.
  func bias(_ b: Tensor) -> Tensor {
    let leaf = b.requiringGrad()
    biases.append(leaf)
    return leaf
  }

  /// Clears what an earlier backward pass left at the taps and biases, so that the next
  /// backward pass over the same forward (another target) is read alone.
  public func reset() {
    for point in points { point.tap.reset() }
    for leaf in biases { leaf.zeroGrad() }
  }

  /// After the backward pass: Σ h·∂f/∂h at every recorded sublayer input, in forward order.
  public var sums: [(name: String, sum: Float)] {
    points.map { point in
      let total = point.tap.gradient.map { (point.value.detach() * $0).sum().scalars[0] } ?? 0
      return (point.name, total)
    }
  }

  /// After the backward pass: Σ over the biases of b·∂f/∂b.
  public var biasShare: Float {
    biases.reduce(0) { total, leaf in total + (leaf.grad.map { (leaf.detach() * $0).sum().scalars[0] } ?? 0) }
  }
}
