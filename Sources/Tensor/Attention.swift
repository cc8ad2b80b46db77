import CBLAS
import Foundation

/// Multi-head scaled dot-product attention on [B, T, D] projections. Head h reads
/// columns h·d…(h+1)·d in place through the BLAS leading dimension, so heads are never
/// split into copies.
///
/// S = scale·Q_h K_hᵀ, P = softmax(S) over kept keys, C_h = P V_h.
/// ∂V_h = Pᵀ G_h;  ∂P = G_h V_hᵀ;  ∂S = P ⊙ (∂P − rowsum(∂P ⊙ P));
/// ∂Q_h = scale·∂S K_h;  ∂K_h = scale·∂Sᵀ Q_h.
/// The backward can follow one of three rules (`AttentionGradient`): the full gradient,
/// P held constant (only ∂V flows), or the uniform rule on both bilinear products
/// (S = QKᵀ and C = PV each pass half of the gradient to each operand: ∂V and ∂P are
/// halved, and ∂Q, ∂K are halved again after the softmax).

/// Which vector–Jacobian product the fused attention op uses.
public enum AttentionGradient: Sendable, Hashable {
  /// The exact gradient.
  case full
  /// The probabilities are constants: gradient reaches the values only.
  case valuesOnly
  /// Each bilinear product splits its gradient evenly between its two operands.
  case uniformSplit
}

extension Tensor {
  /// Attention of `query`, `key`, `value` [B, T, D] over `heads` heads; `keep` holds
  /// B·T flags (1 = real token, 0 = padding, any shape with that many scalars).
  public static func attention(
    query: Tensor, key: Tensor, value: Tensor, heads: Int, keep: Tensor, scale: Float,
    gradient rule: AttentionGradient = .full
  ) -> Tensor {
    precondition(
      query.rank == 3 && key.shape == query.shape && value.shape == query.shape,
      "attention needs equal [B, T, D] projections, got \(query.shape), \(key.shape), \(value.shape)")
    let (batch, length, width) = (query.shape[0], query.shape[1], query.shape[2])
    precondition(width % heads == 0, "\(heads) heads do not divide width \(width)")
    precondition(keep.count == batch * length, "keep has \(keep.count) flags for \(batch)×\(length)")
    let headWidth = width / heads
    let probabilities = Tensor.uninitialized([batch, heads, length, length])
    let output = Tensor.uninitialized([batch, length, width])
    let (pq, pk, pv) = (query.storage.base, key.storage.base, value.storage.base)
    let (pp, po, flags) = (probabilities.storage.base, output.storage.base, keep.storage.base)
    for b in 0..<batch {
      for h in 0..<heads {
        let offset = b * length * width + h * headWidth
        let scores = pp + (b * heads + h) * length * length
        BLAS.sgemm(
          transposeA: false, transposeB: true, m: length, n: length, k: headWidth, alpha: scale,
          a: pq + offset, lda: width, b: pk + offset, ldb: width, c: scores, ldc: length)
        softmaxRows(scores, rows: length, columns: length, keep: flags + b * length)
        BLAS.sgemm(
          transposeA: false, transposeB: false, m: length, n: headWidth, k: length,
          a: scores, lda: length, b: pv + offset, ldb: width, c: po + offset, ldc: width)
      }
    }
    guard let needs = gradientNeeds(query, key, value) else { return output }
    let (cq, ck, cv) = (query.detach(), key.detach(), value.detach())
    return output.recorded(from: [query, key, value]) { g in
      let pg = g.storage.base
      let wantScores = rule != .valuesOnly && (needs[0] || needs[1])
      let half: Float = rule == .uniformSplit ? 0.5 : 1
      let gradQ = wantScores && needs[0] ? Tensor.zeros(cq.shape) : nil
      let gradK = wantScores && needs[1] ? Tensor.zeros(ck.shape) : nil
      let gradV = needs[2] ? Tensor.uninitialized(cv.shape) : nil
      let scratch = wantScores ? Tensor.uninitialized([length, length]) : nil
      for b in 0..<batch {
        for h in 0..<heads {
          let offset = b * length * width + h * headWidth
          let p = probabilities.storage.base + (b * heads + h) * length * length
          if let gradV {
            BLAS.sgemm(
              transposeA: true, transposeB: false, m: length, n: headWidth, k: length, alpha: half,
              a: p, lda: length, b: pg + offset, ldb: width, c: gradV.storage.base + offset, ldc: width)
          }
          guard let scratch else { continue }
          let ds = scratch.storage.base
          BLAS.sgemm(
            transposeA: false, transposeB: true, m: length, n: length, k: headWidth, alpha: half,
            a: pg + offset, lda: width, b: cv.storage.base + offset, ldb: width, c: ds, ldc: length)
          softmaxBackwardRows(ds, probabilities: p, rows: length, columns: length)
          if let gradQ {
            BLAS.sgemm(
              transposeA: false, transposeB: false, m: length, n: headWidth, k: length, alpha: half * scale,
              a: ds, lda: length, b: ck.storage.base + offset, ldb: width, c: gradQ.storage.base + offset,
              ldc: width)
          }
          if let gradK {
            BLAS.sgemm(
              transposeA: true, transposeB: false, m: length, n: headWidth, k: length, alpha: half * scale,
              a: ds, lda: length, b: cq.storage.base + offset, ldb: width, c: gradK.storage.base + offset,
              ldc: width)
          }
        }
      }
      return [gradQ, gradK, gradV]
    }
  }

  /// ∂S = P ⊙ (∂P − rowsum(∂P ⊙ P)) in place of ∂P, row by row.
  static func softmaxBackwardRows(
    _ gradient: UnsafeMutablePointer<Float>, probabilities: UnsafePointer<Float>, rows: Int, columns: Int
  ) {
    for row in 0..<rows {
      let (dRow, pRow) = (gradient + row * columns, probabilities + row * columns)
      var dot: Float = 0
      for column in 0..<columns { dot += dRow[column] * pRow[column] }
      for column in 0..<columns { dRow[column] = pRow[column] * (dRow[column] - dot) }
    }
  }

  /// Row-wise softmax in place over kept columns (dropped columns get 0; a row with
  /// nothing kept is all zeros).
  static func softmaxRows(
    _ values: UnsafeMutablePointer<Float>, rows: Int, columns: Int, keep: UnsafePointer<Float>
  ) {
    for row in 0..<rows {
      let x = values + row * columns
      var largest = -Float.infinity
      for column in 0..<columns where keep[column] != 0 { largest = Swift.max(largest, x[column]) }
      for column in 0..<columns {
        let e = fastExp(x[column] - largest)
        x[column] = keep[column] != 0 ? e : 0
      }
      var total: Float = 0
      for column in 0..<columns { total += x[column] }
      let inverse: Float = total > 0 ? 1 / total : 0
      for column in 0..<columns { x[column] *= inverse }
    }
  }
}
