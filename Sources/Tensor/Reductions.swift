/// Reductions over one axis or all scalars.
///
/// sum: ∂/∂x = g broadcast back over the reduced axis; mean: the same divided by n.

/// Sum of `count` contiguous scalars with SIMD accumulators.
@inline(__always)
func contiguousSum(_ p: UnsafePointer<Float>, _ count: Int) -> Float {
  var acc = SIMD8<Float>(repeating: 0)
  var i = 0
  while i + 8 <= count {
    acc += UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
    i += 8
  }
  var total = acc.sum()
  while i < count {
    total += p[i]
    i += 1
  }
  return total
}

extension Tensor {
  /// Normalises a possibly negative axis.
  func axisIndex(_ axis: Int) -> Int {
    let resolved = axis < 0 ? axis + rank : axis
    precondition(resolved >= 0 && resolved < rank, "axis \(axis) out of range for rank \(rank)")
    return resolved
  }

  /// This tensor stretched to `target` by broadcasting.
  public func broadcasted(to target: [Int]) -> Tensor {
    if shape == target { return self }
    precondition(Broadcast.shape(shape, target) == target, "cannot broadcast \(shape) to \(target)")
    let out = Tensor.uninitialized(target)
    let source = storage.base
    let po = out.storage.base
    let strides = Broadcast.strides(of: shape, in: target)
    Broadcast.forEach(target: target, aStrides: strides, bStrides: strides) { o, i, _ in
      po[o] = source[i]
    }
    guard Tensor.gradientNeeds(self) != nil else { return out }
    let original = shape
    return out.recorded(from: [self]) { g in [g.reduced(toShape: original)] }
  }

  /// Sum over `axis`; the axis is kept with extent 1 when `keepingAxis`.
  public func sum(axis: Int, keepingAxis: Bool = false) -> Tensor {
    let axis = axisIndex(axis)
    let outer = shape[..<axis].reduce(1, *)
    let n = shape[axis]
    let inner = shape[(axis + 1)...].reduce(1, *)
    var kept = shape
    kept[axis] = 1
    let out = Tensor.zeros(kept)
    let source = storage.base
    let po = out.storage.base
    for o in 0..<outer {
      if inner == 1 {
        po[o] = contiguousSum(source + o * n, n)
      } else {
        for k in 0..<n {
          let row = source + (o * n + k) * inner
          let target = po + o * inner
          for i in 0..<inner { target[i] += row[i] }
        }
      }
    }
    var resultShape = shape
    if keepingAxis { resultShape[axis] = 1 } else { resultShape.remove(at: axis) }
    let value = Tensor(shape: resultShape, storage: out.storage)
    guard Tensor.gradientNeeds(self) != nil else { return value }
    let original = shape
    return value.recorded(from: [self]) { g in
      [Tensor(shape: kept, storage: g.storage).broadcasted(to: original)]
    }
  }

  /// Mean over `axis`.
  public func mean(axis: Int, keepingAxis: Bool = false) -> Tensor {
    sum(axis: axis, keepingAxis: keepingAxis) * (1 / Float(shape[axisIndex(axis)]))
  }

  /// Sum of all scalars, as a rank-0 tensor.
  public func sum() -> Tensor {
    let value = Tensor(contiguousSum(storage.base, count))
    guard Tensor.gradientNeeds(self) != nil else { return value }
    let original = shape
    return value.recorded(from: [self]) { g in [Tensor(repeating: g.item, shape: original)] }
  }

  /// Mean of all scalars, as a rank-0 tensor.
  public func mean() -> Tensor { sum() * (1 / Float(Swift.max(count, 1))) }

}
