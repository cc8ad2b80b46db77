import CKernels
/// Elementwise arithmetic with broadcasting, each with its vector–Jacobian product.
///
/// add: ∂/∂a = g, ∂/∂b = g; sub: g, −g; mul: g·b, g·a; div: g/b, −g·a/b²
/// (each summed back over broadcast axes).

extension Tensor {
  /// Applies `op` elementwise over the broadcast of `a` and `b`.
  @inline(__always)
  static func zipBroadcast(_ a: Tensor, _ b: Tensor, _ op: (Float, Float) -> Float) -> Tensor {
    if a.shape == b.shape {
      let out = Tensor.uninitialized(a.shape)
      let pa = a.storage.base
      let pb = b.storage.base
      let po = out.storage.base
      for i in 0..<a.count { po[i] = op(pa[i], pb[i]) }
      return out
    }
    let shape = Broadcast.shape(a.shape, b.shape)
    let out = Tensor.uninitialized(shape)
    let pa = a.storage.base
    let pb = b.storage.base
    let po = out.storage.base
    if shape == a.shape, b.count == 1 {
      let scalar = pb[0]
      for i in 0..<a.count { po[i] = op(pa[i], scalar) }
    } else if shape == a.shape, a.shape.suffix(b.rank) == b.shape[...] {
      let inner = b.count
      var offset = 0
      while offset < a.count {
        for j in 0..<inner { po[offset + j] = op(pa[offset + j], pb[j]) }
        offset += inner
      }
    } else if shape == a.shape, b.rank == a.rank, b.shape.last == 1,
      b.shape.dropLast() == a.shape.dropLast()
    {
      let inner = a.shape.last ?? 1
      for row in 0..<b.count {
        let scalar = pb[row]
        let offset = row * inner
        for j in 0..<inner { po[offset + j] = op(pa[offset + j], scalar) }
      }
    } else {
      let sa = Broadcast.strides(of: a.shape, in: shape)
      let sb = Broadcast.strides(of: b.shape, in: shape)
      Broadcast.forEach(target: shape, aStrides: sa, bStrides: sb) { o, i, j in
        po[o] = op(pa[i], pb[j])
      }
    }
    return out
  }

  /// Applies `op` to every scalar.
  @inline(__always)
  func map(_ op: (Float) -> Float) -> Tensor {
    let out = Tensor.uninitialized(shape)
    let source = storage.base
    let target = out.storage.base
    for i in 0..<count { target[i] = op(source[i]) }
    return out
  }

  /// Adds `other` (same shape) into this tensor in place.
  public mutating func addInPlace(_ other: Tensor) {
    precondition(shape == other.shape, "addInPlace \(other.shape) into \(shape)")
    let source = other.storage.base
    withUnsafeMutableBufferPointer { target in
      xai_add_in_place(target.baseAddress!, source, target.count, Int32(BLAS.elementwiseThreads))
    }
  }

  /// a ⊙ b of equal shapes, without recording (a backward pass's product).
  static func product(_ a: Tensor, _ b: Tensor) -> Tensor {
    precondition(a.shape == b.shape, "product of \(a.shape) and \(b.shape)")
    let out = Tensor.uninitialized(a.shape)
    xai_multiply(a.storage.base, b.storage.base, out.storage.base, a.count, Int32(BLAS.elementwiseThreads))
    return out
  }

  /// Elementwise sum with broadcasting.
  public static func + (a: Tensor, b: Tensor) -> Tensor {
    let value = zipBroadcast(a, b, +)
    guard let needs = gradientNeeds(a, b) else { return value }
    let (sa, sb) = (a.shape, b.shape)
    return value.recorded(from: [a, b]) { g in
      [needs[0] ? g.reduced(toShape: sa) : nil, needs[1] ? g.reduced(toShape: sb) : nil]
    }
  }

  /// Elementwise difference with broadcasting.
  public static func - (a: Tensor, b: Tensor) -> Tensor {
    let value = zipBroadcast(a, b, -)
    guard let needs = gradientNeeds(a, b) else { return value }
    let (sa, sb) = (a.shape, b.shape)
    return value.recorded(from: [a, b]) { g in
      [
        needs[0] ? g.reduced(toShape: sa) : nil,
        needs[1] ? g.reduced(toShape: sb).map { -$0 } : nil,
      ]
    }
  }

  /// Elementwise product with broadcasting.
  public static func * (a: Tensor, b: Tensor) -> Tensor {
    let value = zipBroadcast(a, b, *)
    guard let needs = gradientNeeds(a, b) else { return value }
    let (ca, cb) = (a.detach(), b.detach())
    return value.recorded(from: [a, b]) { g in
      [
        needs[0] ? zipBroadcast(g, cb, *).reduced(toShape: ca.shape) : nil,
        needs[1] ? zipBroadcast(g, ca, *).reduced(toShape: cb.shape) : nil,
      ]
    }
  }

  /// Elementwise quotient with broadcasting.
  public static func / (a: Tensor, b: Tensor) -> Tensor {
    let value = zipBroadcast(a, b, /)
    guard let needs = gradientNeeds(a, b) else { return value }
    let (ca, cb) = (a.detach(), b.detach())
    let quotient = value.detach()
    return value.recorded(from: [a, b]) { g in
      [
        needs[0] ? zipBroadcast(g, cb, /).reduced(toShape: ca.shape) : nil,
        needs[1]
          ? zipBroadcast(zipBroadcast(g, quotient, *), cb, { -$0 / $1 }).reduced(toShape: cb.shape)
          : nil,
      ]
    }
  }

  /// Negation.
  public static prefix func - (a: Tensor) -> Tensor { a * -1 }

  /// Multiplication by a constant.
  public static func * (a: Tensor, scale: Float) -> Tensor {
    let value = a.map { $0 * scale }
    guard gradientNeeds(a) != nil else { return value }
    return value.recorded(from: [a]) { g in [g.map { $0 * scale }] }
  }

  /// Multiplication by a constant.
  public static func * (scale: Float, a: Tensor) -> Tensor { a * scale }

  /// Addition of a constant.
  public static func + (a: Tensor, shift: Float) -> Tensor {
    let value = a.map { $0 + shift }
    guard gradientNeeds(a) != nil else { return value }
    return value.recorded(from: [a]) { g in [g] }
  }

  /// Subtraction of a constant.
  public static func - (a: Tensor, shift: Float) -> Tensor { a + (-shift) }

  /// Division by a constant.
  public static func / (a: Tensor, divisor: Float) -> Tensor { a * (1 / divisor) }
}

extension Float {
  /// The LRP-ε denominator: self + ε·sign(self), with sign(0) = +1.
  @inline(__always)
  public func lrpStabilized(_ epsilon: Float) -> Float { self + (self >= 0 ? epsilon : -epsilon) }
}

extension Tensor {
  /// gate ⊙ z/(zp + ε·sign zp) elementwise (sign 0 = +1), 0 where the denominator is 0
  /// (gate = [z > 0] when `gated`, else 1). The LRP-γ scale of a rewritten layer, with the
  /// LRP-ε stabiliser when `epsilon` > 0; a constant, so it records no gradient.
  public static func gatedRatio(_ z: Tensor, _ zp: Tensor, gated: Bool, epsilon: Float = 0) -> Tensor {
    precondition(z.shape == zp.shape, "gatedRatio needs equal shapes, got \(z.shape) and \(zp.shape)")
    let result = Tensor.uninitialized(z.shape)
    let (a, b, out) = (z.storage.base, zp.storage.base, result.storage.base)
    for i in 0..<z.count {
      let value = a[i]
      let lifted = b[i].lrpStabilized(epsilon)
      out[i] = (gated && value <= 0) || lifted == 0 ? 0 : value / lifted
    }
    return result
  }
}
