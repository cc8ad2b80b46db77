// Forward-mode propagation of the encoder under propagation rules.
//
// Every rule of `PropagationRules` makes the backward pass a linear map B of the output
// gradient (a factor held constant, a product split in halves, the softmax differentiated
// as is). Its adjoint Bᵀ is a forward map of input directions: pushing a direction t of
// the embedding-block output through the network gives Bᵀt, and for every output seed u,
// ⟨u, Bᵀt⟩ = ⟨B u, t⟩. With t = e ⊙ 1_t (token t's row of e, every other row 0) this is
// token t's Gradient×Input relevance for every output coordinate at once: N directions
// cost N rows of every product instead of one backward pass per output coordinate.
//
// Per operation, with the primal values of the same pass (x, P, σ, Φ):
//   linear         t ↦ t·Wᵀ (no bias)
//   LayerNorm      σ constant: γ ⊙ (t − mean t)/σ;  exact: γ ⊙ (t̄ − x̂·mean(x̂ ⊙ t̄))/σ, t̄ = t − mean t
//   GELU           Φ constant: Φ(x) ⊙ t;  exact: (Φ(x) + x·φ(x)) ⊙ t
//   attention      P constant: P·t_v
//                  exact: t_S = s(t_q Kᵀ + Q t_kᵀ), t_P = P ⊙ (t_S − rowsum(P ⊙ t_S)), t_C = t_P V + P t_v
//                  uniform (AttnLRP): t_S and t_C each get half of both terms
//   residuals      added
import Foundation
import Tensor

/// N directions through one sequence: row-major [N, T, width] values.
struct TangentRows {
  var values: [Float]
  let count: Int
  let length: Int
  var width: Int { values.count / max(count * length, 1) }
  var rows: Int { count * length }
}

extension TransformerClassifier {
  /// The encoder output [1, T, D] of one unpadded sequence (`embeddings` [1, T, D]) and the
  /// derivative of that output along each of `count` directions `tangents` ([count, T, D]
  /// row-major) under `rules`: the adjoint of the backward pass those rules define.
  /// Directions are pushed in groups so that no intermediate exceeds `rowBudget` rows of
  /// the widest layer. No history.
  public func encodeWithTangents(
    embeddings: Tensor, tangents: [Float], count: Int, rules: PropagationRules, rowBudget: Int = 8192
  ) -> (hidden: Tensor, tangents: [Float]) {
    precondition(embeddings.rank == 3 && embeddings.shape[0] == 1, "one sequence at a time")
    let (length, width) = (embeddings.shape[1], embeddings.shape[2])
    precondition(tangents.count == count * length * width, "tangents must be [\(count), \(length), \(width)]")
    return withoutGrad {
      let keep = KeepMask(lengths: [length])
      // The primal pass once, keeping each block's input.
      var inputs: [Tensor] = []
      var x = embeddings
      for block in blocks {
        inputs.append(x)
        x = block(x, keep: keep, pass: .plain, name: "")
      }
      let group = max(1, rowBudget / max(length, 1))
      var result = [Float](repeating: 0, count: tangents.count)
      var start = 0
      while start < count {
        let end = min(count, start + group)
        let slice = Array(tangents[(start * length * width)..<(end * length * width)])
        var t = TangentRows(values: slice, count: end - start, length: length)
        for (block, input) in zip(blocks, inputs) {
          block.pushTangents(&t, at: input, rules: rules)
        }
        result.replaceSubrange((start * length * width)..<(end * length * width), with: t.values)
        start = end
      }
      return (x, result)
    }
  }
}

extension PostNormBlock {
  func pushTangents(_ t: inout TangentRows, at x: Tensor, rules: PropagationRules) {
    let input = t.values
    let context = attention.tangent(t, at: x, rule: rules.attention)
    let summed = attention(x, keep: KeepMask(lengths: [x.shape[1]]), pass: .plain) + x
    var moved = attention.output.tangent(context)
    add(&moved.values, input)
    let normed = attentionNorm.tangent(moved, at: summed, rule: rules.layerNorm)
    let attended = attentionNorm(summed)
    var added = feedForward.tangent(normed, at: attended, rule: rules.gelu)
    add(&added.values, normed.values)
    let addedPrimal = feedForward(attended, pass: .plain) + attended
    t = outputNorm.tangent(added, at: addedPrimal, rule: rules.layerNorm)
  }
}

extension PreNormBlock {
  func pushTangents(_ t: inout TangentRows, at x: Tensor, rules: PropagationRules) {
    let normedPrimal = attentionNorm(x)
    let normed = attentionNorm.tangent(t, at: x, rule: rules.layerNorm)
    var attended = attention.output.tangent(attention.tangent(normed, at: normedPrimal, rule: rules.attention))
    add(&attended.values, t.values)
    let attendedPrimal = attention(normedPrimal, keep: KeepMask(lengths: [x.shape[1]]), pass: .plain) + x
    let ffnInput = feedForwardNorm.tangent(attended, at: attendedPrimal, rule: rules.layerNorm)
    var output = feedForward.tangent(ffnInput, at: feedForwardNorm(attendedPrimal), rule: rules.gelu)
    add(&output.values, attended.values)
    t = output
  }
}

/// a += b elementwise.
private func add(_ a: inout [Float], _ b: [Float]) {
  precondition(a.count == b.count)
  a.withUnsafeMutableBufferPointer { pa in
    b.withUnsafeBufferPointer { pb in
      for i in 0..<pa.count { pa[i] += pb[i] }
    }
  }
}

extension Linear {
  /// t·Wᵀ: the bias does not move with the input.
  func tangent(_ t: TangentRows) -> TangentRows {
    let (outFeatures, inFeatures) = (weight.shape[0], weight.shape[1])
    precondition(t.width == inFeatures)
    var result = [Float](repeating: 0, count: t.rows * outFeatures)
    t.values.withUnsafeBufferPointer { pt in
      weight.withUnsafeBufferPointer { pw in
        result.withUnsafeMutableBufferPointer { pr in
          BLAS.sgemm(
            transposeA: false, transposeB: true, m: t.rows, n: outFeatures, k: inFeatures,
            a: pt.baseAddress!, b: pw.baseAddress!, c: pr.baseAddress!)
        }
      }
    }
    return TangentRows(values: result, count: t.count, length: t.length)
  }
}

extension LayerNorm {
  /// The tangent of γ ⊙ (x − μ)/σ + β at `x` [1, T, D]: σ constant, or its exact derivative.
  func tangent(_ t: TangentRows, at x: Tensor, rule: LayerNormRule) -> TangentRows {
    let width = t.width
    let length = t.length
    // Per position: x̂ and 1/σ in float64 (σ = √(var + eps), as the forward computes it).
    var normalized = [Float](repeating: 0, count: length * width)
    var inverseSigma = [Float](repeating: 0, count: length)
    x.withUnsafeBufferPointer { px in
      for row in 0..<length {
        let base = row * width
        var mean = 0.0
        for d in 0..<width { mean += Double(px[base + d]) }
        mean /= Double(width)
        var variance = 0.0
        for d in 0..<width {
          let centred = Double(px[base + d]) - mean
          variance += centred * centred
        }
        variance /= Double(width)
        let inverse = 1 / (variance + Double(eps)).squareRoot()
        inverseSigma[row] = Float(inverse)
        for d in 0..<width { normalized[base + d] = Float((Double(px[base + d]) - mean) * inverse) }
      }
    }
    let exact = rule == .gradient
    var result = t.values
    weight.withUnsafeBufferPointer { gamma in
      result.withUnsafeMutableBufferPointer { pr in
        for row in 0..<t.rows {
          let position = row % length
          let base = row * width
          var mean: Float = 0
          for d in 0..<width { mean += pr[base + d] }
          mean /= Float(width)
          var projection: Float = 0
          if exact {
            for d in 0..<width { projection += normalized[position * width + d] * (pr[base + d] - mean) }
            projection /= Float(width)
          }
          let scale = inverseSigma[position]
          for d in 0..<width {
            let centred = pr[base + d] - mean - normalized[position * width + d] * projection
            pr[base + d] = gamma[d] * centred * scale
          }
        }
      }
    }
    return TangentRows(values: result, count: t.count, length: t.length)
  }
}

extension FeedForward {
  /// expand → GELU (Φ constant, or its exact slope) → contract, at the input `x` [1, T, D].
  func tangent(_ t: TangentRows, at x: Tensor, rule: GELURule) -> TangentRows {
    let preactivation = expand(x).scalars
    let slope = preactivation.map { value -> Float in
      let v = Double(value)
      let phi = 0.5 * (1 + erf(v / 2.0.squareRoot()))
      return Float(rule == .constantPhi ? phi : phi + v * exp(-0.5 * v * v) / (2 * Double.pi).squareRoot())
    }
    var hidden = expand.tangent(t)
    let (width, perSequence) = (hidden.width, t.length * hidden.width)
    precondition(slope.count == perSequence && width > 0)
    hidden.values.withUnsafeMutableBufferPointer { ph in
      for n in 0..<t.count {
        for i in 0..<perSequence { ph[n * perSequence + i] *= slope[i] }
      }
    }
    return contract.tangent(hidden)
  }
}

extension SelfAttention {
  /// The tangent of the attention context (before the output projection) at the block
  /// input `x` [1, T, D], under `rule`.
  func tangent(_ t: TangentRows, at x: Tensor, rule: AttentionRule) -> TangentRows {
    let (length, width) = (t.length, t.width)
    let headWidth = width / heads
    let scale = 1 / Float(headWidth).squareRoot()
    let (q, k, v) = (query(x).scalars, key(x).scalars, value(x).scalars)
    // P per head [heads, T, T], softmax in float64.
    var probabilities = [Float](repeating: 0, count: heads * length * length)
    for h in 0..<heads {
      for i in 0..<length {
        var scores = [Double](repeating: 0, count: length)
        for j in 0..<length {
          var dot: Float = 0
          for c in 0..<headWidth { dot += q[i * width + h * headWidth + c] * k[j * width + h * headWidth + c] }
          scores[j] = Double(dot * scale)
        }
        let largest = scores.max() ?? 0
        let exps = scores.map { exp($0 - largest) }
        let total = exps.reduce(0, +)
        for j in 0..<length { probabilities[(h * length + i) * length + j] = Float(exps[j] / total) }
      }
    }
    let tv = value.tangent(t).values
    let needScores = rule != .constantProbabilities
    let tq = needScores ? query.tangent(t).values : []
    let tk = needScores ? key.tangent(t).values : []
    let half: Float = rule == .uniformSplit ? 0.5 : 1
    let n = t.count
    var context = [Float](repeating: 0, count: n * length * width)
    var gathered = [Float](repeating: 0, count: length * n * headWidth)
    var product = [Float](repeating: 0, count: length * n * headWidth)
    var scores = needScores ? [Float](repeating: 0, count: n * length * length) : []
    var swapped = needScores ? [Float](repeating: 0, count: n * length * length) : []
    for h in 0..<heads {
      let column = h * headWidth
      probabilities.withUnsafeBufferPointer { pp in
        let p = pp.baseAddress! + h * length * length
        // P·t_v for every direction: t_v laid out [T, N·dh], one product.
        for j in 0..<length {
          for d in 0..<n {
            for c in 0..<headWidth {
              gathered[(j * n + d) * headWidth + c] = tv[(d * length + j) * width + column + c]
            }
          }
        }
        gathered.withUnsafeBufferPointer { pg in
          product.withUnsafeMutableBufferPointer { pr in
            BLAS.sgemm(
              transposeA: false, transposeB: false, m: length, n: n * headWidth, k: length, alpha: half,
              a: p, b: pg.baseAddress!, c: pr.baseAddress!)
          }
        }
        for i in 0..<length {
          for d in 0..<n {
            for c in 0..<headWidth {
              context[(d * length + i) * width + column + c] = product[(i * n + d) * headWidth + c]
            }
          }
        }
        guard needScores else { return }
        // t_S = s·(t_q Kᵀ + Q t_kᵀ): the first term as one product over every direction's
        // rows, the second as (t_k Qᵀ) transposed block by block.
        // rows·columnsᵀ over head h's columns, for every direction's rows: [N·T, T].
        func headProduct(_ rows: [Float], _ columns: [Float], into result: inout [Float]) {
          rows.withUnsafeBufferPointer { pr in
            columns.withUnsafeBufferPointer { pc in
              result.withUnsafeMutableBufferPointer { ps in
                BLAS.sgemm(
                  transposeA: false, transposeB: true, m: n * length, n: length, k: headWidth, alpha: half * scale,
                  a: pr.baseAddress! + column, lda: width, b: pc.baseAddress! + column, ldb: width,
                  c: ps.baseAddress!, ldc: length)
              }
            }
          }
        }
        headProduct(tq, k, into: &scores)
        headProduct(tk, q, into: &swapped)
        // t_P = P ⊙ (t_S − rowsum(P ⊙ t_S)), in place of t_S.
        for d in 0..<n {
          let block = d * length * length
          for i in 0..<length {
            var dot: Float = 0
            for j in 0..<length {
              let s = scores[block + i * length + j] + swapped[block + j * length + i]
              scores[block + i * length + j] = s
              dot += pp[h * length * length + i * length + j] * s
            }
            for j in 0..<length {
              let p = pp[h * length * length + i * length + j]
              scores[block + i * length + j] = p * (scores[block + i * length + j] - dot)
            }
          }
        }
        // t_P·V for every direction: one product, added to the context.
        scores.withUnsafeBufferPointer { ps in
          v.withUnsafeBufferPointer { pv in
            context.withUnsafeMutableBufferPointer { pc in
              BLAS.sgemm(
                transposeA: false, transposeB: false, m: n * length, n: headWidth, k: length, alpha: half,
                a: ps.baseAddress!, lda: length, b: pv.baseAddress! + column, ldb: width, beta: 1,
                c: pc.baseAddress! + column, ldc: width)
            }
          }
        }
      }
    }
    return TangentRows(values: context, count: n, length: length)
  }
}
