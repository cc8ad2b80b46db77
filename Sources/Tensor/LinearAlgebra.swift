import CBLAS

/// Matrix products through `cblas_sgemm`; transposes travel as flags, never as copies.
///
/// C = op(A)·op(B):  ∂A = G·op(B)ᵀ (laid out as A), ∂B = op(A)ᵀ·G (laid out as B).
/// linear: y = x·Wᵀ + b with W stored [out, in]; ∂x = G·W, ∂W = Gᵀ·x, ∂b = Σ_rows G.

/// The OpenBLAS thread pool.
public enum BLAS {
  /// Number of threads OpenBLAS uses for one product.
  public static var threads: Int {
    get { Int(openblas_get_num_threads()) }
    set { openblas_set_num_threads(Int32(Swift.max(1, newValue))) }
  }

  /// C[m×n] = alpha·op(A)·op(B) + beta·C, all row-major.
  @inline(__always)
  public static func sgemm(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
    a: UnsafePointer<Float>, b: UnsafePointer<Float>, beta: Float = 0,
    c: UnsafeMutablePointer<Float>
  ) {
    guard m > 0, n > 0 else { return }
    guard k > 0 else {
      if beta == 0 { c.update(repeating: 0, count: m * n) }
      return
    }
    cblas_sgemm(
      CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
      Int32(m), Int32(n), Int32(k), alpha, a, Int32(transposeA ? m : k), b,
      Int32(transposeB ? k : n), beta, c, Int32(n))
  }
}

extension BLAS {
  /// y[m] = A[m×n]·x[n] (row-major A), through `cblas_sgemv`.
  @inline(__always)
  public static func sgemv(
    m: Int, n: Int, a: UnsafePointer<Float>, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>
  ) {
    guard m > 0 else { return }
    guard n > 0 else {
      y.update(repeating: 0, count: m)
      return
    }
    cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(m), Int32(n), 1, a, Int32(n), x, 1, 0, y, 1)
  }
}

extension Tensor {
  /// The product without recording: batch axes must agree, or `b` is a plain matrix.
  static func product(_ a: Tensor, _ b: Tensor, transposeA: Bool, transposeB: Bool) -> Tensor {
    precondition(a.rank >= 2 && b.rank >= 2, "matmul needs matrices, got \(a.shape) and \(b.shape)")
    let batchA = Array(a.shape.dropLast(2))
    let batchB = Array(b.shape.dropLast(2))
    precondition(
      batchB.isEmpty || batchA == batchB, "matmul batch axes \(batchA) and \(batchB) differ")
    let (ra, ca) = (a.shape[a.rank - 2], a.shape[a.rank - 1])
    let (rb, cb) = (b.shape[b.rank - 2], b.shape[b.rank - 1])
    let (m, k) = transposeA ? (ca, ra) : (ra, ca)
    let (kb, n) = transposeB ? (cb, rb) : (rb, cb)
    precondition(k == kb, "matmul inner extents \(k) and \(kb) differ (\(a.shape)·\(b.shape))")
    let out = Tensor.uninitialized(batchA + [m, n])
    let batches = batchA.reduce(1, *)
    if batchB.isEmpty, !transposeA {
      BLAS.sgemm(
        transposeA: false, transposeB: transposeB, m: batches * m, n: n, k: k,
        a: a.storage.base, b: b.storage.base, c: out.storage.base)
      return out
    }
    let strideB = batchB.isEmpty ? 0 : rb * cb
    for batch in 0..<batches {
      BLAS.sgemm(
        transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
        a: a.storage.base + batch * ra * ca, b: b.storage.base + batch * strideB,
        c: out.storage.base + batch * m * n)
    }
    return out
  }

  /// Matrix product op(a)·op(b) over the last two axes; leading axes are batch axes
  /// (a rank-2 `b` is shared by every batch).
  public static func matmul(
    _ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false
  ) -> Tensor {
    precondition(
      !(transposeA && b.rank == 2 && a.rank > 2), "a transposed batch against a shared matrix")
    let value = product(a, b, transposeA: transposeA, transposeB: transposeB)
    guard let needs = gradientNeeds(a, b) else { return value }
    let (ca, cb) = (a.detach(), b.detach())
    return value.recorded(from: [a, b]) { g in
      var gradA: Tensor?
      var gradB: Tensor?
      if needs[0] {
        gradA =
          transposeA
          ? product(cb, g, transposeA: transposeB, transposeB: true)
          : product(g, cb, transposeA: false, transposeB: !transposeB)
      }
      if needs[1] {
        if cb.rank == 2 && ca.rank > 2 {
          let rows = ca.count / ca.shape[ca.rank - 1]
          let flatA = Tensor(shape: [rows, ca.shape[ca.rank - 1]], storage: ca.storage)
          let flatG = Tensor(shape: [rows, g.shape[g.rank - 1]], storage: g.storage)
          gradB =
            transposeB
            ? product(flatG, flatA, transposeA: true, transposeB: false)
            : product(flatA, flatG, transposeA: true, transposeB: false)
        } else {
          gradB =
            transposeB
            ? product(g, ca, transposeA: true, transposeB: transposeA)
            : product(ca, g, transposeA: !transposeA, transposeB: false)
        }
      }
      return [gradA, gradB]
    }
  }

  /// Affine map y = x·Wᵀ + b over the last axis of `x`, with `weight` stored [out, in].
  public static func linear(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
    precondition(weight.rank == 2, "linear weight must be [out, in], got \(weight.shape)")
    let (outFeatures, inFeatures) = (weight.shape[0], weight.shape[1])
    precondition(
      x.shape.last == inFeatures, "linear input \(x.shape) for weight \(weight.shape)")
    let rows = x.count / Swift.max(inFeatures, 1)
    let value = Tensor.uninitialized(Array(x.shape.dropLast()) + [outFeatures])
    let po = value.storage.base
    if let bias {
      precondition(bias.shape == [outFeatures], "linear bias \(bias.shape) for \(outFeatures) outputs")
      for row in 0..<rows { (po + row * outFeatures).update(from: bias.storage.base, count: outFeatures) }
    }
    BLAS.sgemm(
      transposeA: false, transposeB: true, m: rows, n: outFeatures, k: inFeatures,
      a: x.storage.base, b: weight.storage.base, beta: bias == nil ? 0 : 1, c: po)
    let biasTensor = bias ?? Tensor.zeros([0])
    guard let needs = gradientNeeds(x, weight, biasTensor) else { return value }
    let (cx, cw) = (x.detach(), weight.detach())
    let hasBias = bias != nil
    return value.recorded(from: [x, weight, biasTensor]) { g in
      var gradX: Tensor?
      var gradW: Tensor?
      var gradB: Tensor?
      if needs[0] {
        let flat = Tensor.uninitialized(cx.shape)
        BLAS.sgemm(
          transposeA: false, transposeB: false, m: rows, n: inFeatures, k: outFeatures,
          a: g.storage.base, b: cw.storage.base, c: flat.storage.base)
        gradX = flat
      }
      if needs[1] {
        let w = Tensor.uninitialized(cw.shape)
        BLAS.sgemm(
          transposeA: true, transposeB: false, m: outFeatures, n: inFeatures, k: rows,
          a: g.storage.base, b: cx.storage.base, c: w.storage.base)
        gradW = w
      }
      if needs[2] && hasBias {
        gradB = Tensor(shape: [rows, outFeatures], storage: g.storage).sum(axis: 0)
      }
      return [gradX, gradW, gradB]
    }
  }
}
