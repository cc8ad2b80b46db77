import CKernels
import Foundation

/// Elementwise nonlinearities and the softmax.
///
/// exp: ∂ = g·y;  sqrt: ∂ = g/(2y);  relu: ∂ = g·[x > 0];
/// tanh: ∂ = g·(1 − y²), or g·y/x with the ratio held constant;
/// gelu(x) = x·Φ(x): ∂ = g·(Φ(x) + x·φ(x)), or g·Φ(x) with Φ held constant;
/// softmax (last axis): ∂ = y ⊙ (g − Σ g⊙y).

extension Tensor {
  /// e^x elementwise.
  public func exp() -> Tensor {
    let value = map { Foundation.exp($0) }
    guard Tensor.gradientNeeds(self) != nil else { return value }
    let y = value.detach()
    return value.recorded(from: [self]) { g in [Tensor.zipBroadcast(g, y, *)] }
  }

  /// √x elementwise.
  public func sqrt() -> Tensor {
    let value = map { $0.squareRoot() }
    guard Tensor.gradientNeeds(self) != nil else { return value }
    let y = value.detach()
    return value.recorded(from: [self]) { g in [Tensor.zipBroadcast(g, y) { $0 / (2 * $1) }] }
  }

  /// max(x, 0) elementwise.
  public func relu() -> Tensor {
    let value = map { Swift.max($0, 0) }
    guard Tensor.gradientNeeds(self) != nil else { return value }
    let x = detach()
    return value.recorded(from: [self]) { g in [Tensor.zipBroadcast(g, x) { $1 > 0 ? $0 : 0 }] }
  }

  /// tanh elementwise; with `constantRatio` the backward treats tanh(x) = x·(tanh(x)/x)
  /// with the ratio held constant (1 at x = 0).
  public func tanh(constantRatio: Bool = false) -> Tensor {
    let value = map { Foundation.tanh($0) }
    guard Tensor.gradientNeeds(self) != nil else { return value }
    let y = value.detach()
    let x = detach()
    return value.recorded(from: [self]) { g in
      if constantRatio {
        let ratio = Tensor.zipBroadcast(y, x) { $1 == 0 ? 1 : $0 / $1 }
        return [Tensor.zipBroadcast(g, ratio, *)]
      }
      return [Tensor.zipBroadcast(g, y) { $0 * (1 - $1 * $1) }]
    }
  }

  /// The exact (erf) GELU, x·Φ(x); with `constantPhi` the backward holds Φ(x) constant.
  /// The forward keeps what the backward multiplies by (Φ(x), or the slope Φ(x) + x·φ(x)
  /// from the same e^{−x²/2} as Φ), so the backward is one product.
  public func gelu(constantPhi: Bool = false) -> Tensor {
    let value = Tensor.uninitialized(shape)
    let recording = Tensor.gradientNeeds(self) != nil
    let saved = recording ? Tensor.uninitialized(shape) : nil
    xai_gelu(
      storage.base, value.storage.base, saved?.storage.base, count, recording ? (constantPhi ? 1 : 2) : 0,
      Int32(BLAS.elementwiseThreads))
    guard let saved else { return value }
    return value.recorded(from: [self]) { g in [Tensor.product(g, saved)] }
  }

  /// Softmax over the last axis. Where `mask` (broadcastable, 1 = keep, 0 = drop)
  /// is 0 the probability is exactly 0; a row with nothing kept is all zeros.
  public func softmax(mask: Tensor? = nil) -> Tensor {
    precondition(rank >= 1, "softmax of a scalar")
    let n = shape[rank - 1]
    let rows = count / Swift.max(n, 1)
    let keep = (mask?.detach() ?? Tensor.ones([n])).broadcasted(to: shape)
    let value = Tensor.uninitialized(shape)
    value.storage.base.update(from: storage.base, count: count)
    for r in 0..<rows {
      Tensor.softmaxRows(
        value.storage.base + r * n, rows: 1, columns: n, keep: keep.storage.base + r * n)
    }
    guard Tensor.gradientNeeds(self) != nil else { return value }
    let probabilities = value.detach()
    return value.recorded(from: [self]) { g in
      let grad = Tensor.uninitialized(probabilities.shape)
      let pg = g.storage.base
      let py = probabilities.storage.base
      let po = grad.storage.base
      for r in 0..<rows {
        var dot: Float = 0
        for i in 0..<n { dot += pg[r * n + i] * py[r * n + i] }
        for i in 0..<n { po[r * n + i] = py[r * n + i] * (pg[r * n + i] - dot) }
      }
      return [grad]
    }
  }
}
