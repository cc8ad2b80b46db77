import CBLAS
import CDNNL
import Foundation

/// Matrix products through `cblas_sgemm`; transposes travel as flags, never as copies.
///
/// C = op(A)·op(B):  ∂A = G·op(B)ᵀ (laid out as A), ∂B = op(A)ᵀ·G (laid out as B).
/// linear: y = x·Wᵀ + b with W stored [out, in]; ∂x = G·W, ∂W = Gᵀ·x, ∂b = Σ_rows G.

/// Which library computes a matrix product.
public enum GEMMBackend: String, CaseIterable, Sendable {
  /// OpenBLAS's `cblas_sgemm` (its own pthread pool).
  case openBLAS = "openblas"
  /// oneDNN's `dnnl_sgemm` (OpenMP threads): much faster at the few rows of one sentence.
  case oneDNN = "onednn"
}

/// The one bridge to the BLAS libraries: every matrix product of the core goes through
/// `BLAS.sgemm`, which picks the backend per shape class from the plan measured on this
/// machine (`BLAS.planner`, GEMMPlan.swift) unless one is forced (`BLAS.backend`, or
/// `XAI_GEMM=openblas|onednn` in the environment: then nothing is measured).
///
/// Threads: oneDNN gets `threads` OpenMP threads on the calling thread; OpenBLAS's pool is
/// kept at one thread whenever oneDNN may run, so that two spinning pools never compete
/// for the cores (measured: with both pools at two threads oneDNN fell from 135 to 3
/// GFLOP/s at 14 rows).
public enum BLAS {
  nonisolated(unsafe) private static var requestedThreads = Swift.max(
    1, ProcessInfo.processInfo.activeProcessorCount)
  nonisolated(unsafe) private static var forced: GEMMBackend? = planner.forcedBackend
  nonisolated(unsafe) private static var configured = false

  /// Chooses the backend of every product no setting forces (the process environment's
  /// `XAI_GEMM` and cache folder, this machine's facts, the real measurement).
  public static let planner = GEMMPlanner()

  /// The plan for the current thread count (read from the cache or measured now).
  public static var plan: GEMMPlan {
    if !configured { configurePools() }
    return planner.plan(threads: requestedThreads)
  }

  /// Whether OpenBLAS runs generic kernels on this AVX2/AVX-512 CPU (then every product
  /// that is not forced goes to oneDNN, unmeasured).
  public static var openBLASIsGeneric: Bool { GEMMMachine.hostOpenBLASIsGeneric }

  /// Whether oneDNN could be opened (it is loaded on first use, not at start).
  public static var oneDNNAvailable: Bool { xai_dnnl_available() != 0 }

  /// Threads for one product (each worker thread of a batch gets this many).
  public static var threads: Int {
    get { requestedThreads }
    set {
      requestedThreads = Swift.min(Swift.max(1, newValue), 1024)
      configurePools()
    }
  }

  /// A backend forced for every product, or nil to choose per shape.
  public static var backend: GEMMBackend? {
    get { forced }
    set {
      forced = newValue
      configurePools()
    }
  }

  /// Threads for the elementwise kernels (CKernels' elementwise.c), which share oneDNN's
  /// OpenMP team: one while OpenBLAS is forced, whose own spinning pool they would fight.
  public static var elementwiseThreads: Int { forced == .openBLAS ? 1 : requestedThreads }

  private static func configurePools() {
    configured = true
    // OpenBLAS gets every thread when it runs all products: forced, or without oneDNN (then
    // asking opens it; a forced OpenBLAS never does).
    let openBLASOnly = forced == .openBLAS || (forced == nil && !oneDNNAvailable)
    openblas_set_num_threads(Int32(openBLASOnly ? requestedThreads : 1))
  }

  /// C[m×n] = alpha·op(A)·op(B) + beta·C, all row-major, A and B packed.
  @inline(__always)
  public static func sgemm(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
    a: UnsafePointer<Float>, b: UnsafePointer<Float>, beta: Float = 0,
    c: UnsafeMutablePointer<Float>
  ) {
    sgemm(
      transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha, a: a,
      lda: transposeA ? m : k, b: b, ldb: transposeB ? k : n, beta: beta, c: c, ldc: n)
  }

  /// C = alpha·op(A)·op(B) + beta·C with explicit leading dimensions (row-major).
  public static func sgemm(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float = 0,
    c: UnsafeMutablePointer<Float>, ldc: Int
  ) {
    guard m > 0, n > 0 else { return }
    guard k > 0 else {
      if beta == 0 {
        for row in 0..<m { (c + row * ldc).update(repeating: 0, count: n) }
      } else if beta != 1 {
        for row in 0..<m { for column in 0..<n { c[row * ldc + column] *= beta } }
      }
      return
    }
    if !configured { configurePools() }
    let backend =
      forced ?? planner.plannedBackend(m: m, n: n, k: k, transposeB: transposeB, threads: requestedThreads)
    run(
      backend, threads: requestedThreads, transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
      alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
  }

  /// One product on `backend` (oneDNN on `threads` OpenMP threads), no checks.
  @inline(__always)
  static func run(
    _ backend: GEMMBackend, threads: Int, transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
    alpha: Float, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float,
    c: UnsafeMutablePointer<Float>, ldc: Int
  ) {
    switch backend {
    case .openBLAS:
      cblas_sgemm(
        CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
        Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    case .oneDNN:
      if omp_get_max_threads() != Int32(threads) { omp_set_num_threads(Int32(threads)) }
      let status = xai_dnnl_sgemm(
        CChar(UInt8(ascii: transposeA ? "T" : "N")), CChar(UInt8(ascii: transposeB ? "T" : "N")), Int64(m),
        Int64(n), Int64(k), alpha, a, Int64(lda), b, Int64(ldb), beta, c, Int64(ldc))
      if status != 0 {
        // oneDNN could not be opened (or refused the product): OpenBLAS computes it.
        run(
          .openBLAS, threads: threads, transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
          alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
      }
    }
  }
}

extension GEMMBackend {
  /// The choice measured on the development machine (AMD EPYC, `xai-bench gemm`), kept as
  /// each class's default for near ties (`GEMMShapeClass.defaultBackend`): oneDNN
  /// everywhere, except tiny products (one attention head: OpenBLAS's call costs less) and
  /// x·Wᵀ with a long inner dimension at few rows (the base FFN's second layer).
  public static func defaultChoice(m: Int, n: Int, k: Int, transposeB: Bool) -> GEMMBackend {
    GEMMShapeClass(m: m, n: n, k: k, transposeB: transposeB).defaultBackend
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
