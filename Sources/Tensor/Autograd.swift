/// Reverse-mode automatic differentiation over a recorded graph.
///
/// An operation whose inputs require gradients records a `GradNode` holding
/// its vector–Jacobian product; `backward()` visits the nodes in reverse
/// topological order and accumulates gradients into the leaves that asked
/// for them.

/// Whether operations record the graph (on by default; see `withoutGrad`).
public enum GradMode {
  @TaskLocal public static var isEnabled = true
}

/// Runs `body` without recording any graph.
public func withoutGrad<R>(_ body: () throws -> R) rethrows -> R {
  try GradMode.$isEnabled.withValue(false) { try body() }
}

/// One recorded operation (or a leaf) in the autograd graph.
final class GradNode {
  let inputs: [GradNode?]
  let vectorJacobianProduct: ((Tensor) -> [Tensor?])?
  let shape: [Int]
  var grad: Tensor?

  var isLeaf: Bool { vectorJacobianProduct == nil }

  init(shape: [Int], inputs: [GradNode?] = [], vectorJacobianProduct: ((Tensor) -> [Tensor?])? = nil) {
    self.shape = shape
    self.inputs = inputs
    self.vectorJacobianProduct = vectorJacobianProduct
  }
}

extension Tensor {
  /// Whether gradients flow back through this tensor.
  public var requiresGrad: Bool { node != nil }

  /// The accumulated gradient of a leaf that requires gradients.
  public var grad: Tensor? { node?.grad }

  /// The same values as a new leaf that accumulates gradients.
  public func requiringGrad() -> Tensor {
    Tensor(shape: shape, storage: storage, node: GradNode(shape: shape))
  }

  /// The same values with the history cut: no gradient flows through the result.
  public func detach() -> Tensor { Tensor(shape: shape, storage: storage) }

  /// Clears the accumulated gradient of this leaf.
  public func zeroGrad() { node?.grad = nil }

  /// Which of `inputs` need a gradient, or nil when nothing must be recorded.
  static func gradientNeeds(_ inputs: Tensor...) -> [Bool]? {
    guard GradMode.isEnabled else { return nil }
    let needs = inputs.map(\.requiresGrad)
    return needs.contains(true) ? needs : nil
  }

  /// This value as the output of an operation on `inputs` with the given vector–Jacobian product.
  ///
  /// The closure receives the output's gradient and returns one gradient per
  /// input (nil for those that need none); it runs without graph recording.
  func recorded(from inputs: [Tensor], _ vectorJacobianProduct: @escaping (Tensor) -> [Tensor?])
    -> Tensor
  {
    let node = GradNode(
      shape: shape, inputs: inputs.map(\.node), vectorJacobianProduct: vectorJacobianProduct)
    return Tensor(shape: shape, storage: storage, node: node)
  }

  /// Back-propagates from this tensor; `seed` defaults to ones (a scalar output's 1).
  public func backward(seed: Tensor? = nil) {
    guard let root = node else { return }
    let start = seed ?? Tensor.ones(shape)
    precondition(start.shape == shape, "seed shape \(start.shape) for output \(shape)")
    withoutGrad {
      let order = Tensor.topologicalOrder(from: root)
      Tensor.accumulate(start, into: root)
      for node in order.reversed() {
        guard let product = node.vectorJacobianProduct, let outputGrad = node.grad else { continue }
        node.grad = nil
        let inputGrads = product(outputGrad)
        for (input, inputGrad) in zip(node.inputs, inputGrads) {
          guard let input, let inputGrad else { continue }
          Tensor.accumulate(inputGrad, into: input)
        }
      }
    }
  }

  private static func accumulate(_ gradient: Tensor, into node: GradNode) {
    precondition(gradient.shape == node.shape, "gradient \(gradient.shape) for node \(node.shape)")
    if var existing = node.grad {
      node.grad = nil
      existing.addInPlace(gradient)
      node.grad = existing
    } else {
      node.grad = gradient.detach()
    }
  }

  private static func topologicalOrder(from root: GradNode) -> [GradNode] {
    var order: [GradNode] = []
    var visited = Set<ObjectIdentifier>()
    var stack: [(GradNode, Int)] = [(root, 0)]
    visited.insert(ObjectIdentifier(root))
    while let (node, next) = stack.popLast() {
      if next < node.inputs.count {
        stack.append((node, next + 1))
        if let child = node.inputs[next], visited.insert(ObjectIdentifier(child)).inserted {
          stack.append((child, 0))
        }
      } else {
        order.append(node)
      }
    }
    return order
  }
}

/// Keeps the gradient that reaches a tapped tensor in the backward pass (see `tapped(by:)`).
public final class GradientTap: @unchecked Sendable {
  /// ∂f/∂x of the tapped x after `backward`, nil before (or when nothing reached it).
  public private(set) var gradient: Tensor?

  /// An empty tap.
  public init() {}

  /// Forgets the gradient received so far (gradients of later backward passes over the
  /// same graph add up otherwise).
  public func reset() { gradient = nil }

  fileprivate func receive(_ g: Tensor) {
    if var existing = gradient {
      existing.addInPlace(g)
      gradient = existing
    } else {
      gradient = g.detach()
    }
  }
}

extension Tensor {
  /// The identity, whose backward hands the incoming gradient on unchanged and keeps a
  /// copy in `tap`: ∂f/∂x at an intermediate activation, without making it a leaf.
  public func tapped(by tap: GradientTap) -> Tensor {
    guard Tensor.gradientNeeds(self) != nil else { return self }
    return recorded(from: [self]) { g in
      tap.receive(g)
      return [g]
    }
  }
}
