import Foundation

/// The operations decoder language models add: RMS normalisation, SiLU, the tanh form of
/// GELU, rotary position embeddings and causal attention with grouped key/value heads.
///
/// rmsNorm: y = w ⊙ x·r, r = (mean(x²) + eps)^(−½), x̂ = x·r, ĝ = g ⊙ w;
///   ∂x = r·(ĝ − x̂·mean(ĝ ⊙ x̂)), or r·ĝ with r held constant; ∂w = Σ_rows g ⊙ x̂.
/// silu: y = x·σ(x); ∂ = g·σ(x)·(1 + x·(1 − σ(x))), or g·σ(x) with the ratio y/x constant.
/// geluTanh: y = ½x(1 + tanh u), u = √(2/π)(x + 0.044715x³);
///   ∂ = g·(½(1 + t) + ½x(1 − t²)·√(2/π)(1 + 3·0.044715x²)), or g·½(1 + t) with y/x constant.
/// rotary (rotate-half pairs i, i + d/2 at angle θ = p·f_i):
///   y₁ = x₁cos θ − x₂ sin θ, y₂ = x₂ cos θ + x₁ sin θ; the backward rotates g by −θ.

extension Tensor {
  /// RMS normalisation over the last axis scaled by `weight`; `constantScale` holds r
  /// constant in the backward (the forward is the same either way).
  public func rmsNorm(weight: Tensor, eps: Float, constantScale: Bool = false) -> Tensor {
    let n = shape[rank - 1]
    precondition(weight.shape == [n], "rms norm weight \(weight.shape) for width \(n)")
    let rows = count / Swift.max(n, 1)
    let value = Tensor.uninitialized(shape)
    let normalized = Tensor.uninitialized(shape)
    let scales = Tensor.uninitialized([rows])
    let (px, pw, py, pn, ps) = (
      storage.base, weight.storage.base, value.storage.base, normalized.storage.base, scales.storage.base
    )
    for row in 0..<rows {
      let x = px + row * n
      var squares: Float = 0
      for i in 0..<n { squares += x[i] * x[i] }
      let r = 1 / (squares / Float(n) + eps).squareRoot()
      ps[row] = r
      for i in 0..<n {
        let normal = x[i] * r
        pn[row * n + i] = normal
        py[row * n + i] = pw[i] * normal
      }
    }
    guard let needs = Tensor.gradientNeeds(self, weight) else { return value }
    let w = weight.detach()
    return value.recorded(from: [self, weight]) { g in
      let (pg, pn, ps) = (g.storage.base, normalized.storage.base, scales.storage.base)
      var gradX: Tensor?
      if needs[0] {
        let dx = Tensor.uninitialized(g.shape)
        let pd = dx.storage.base
        for row in 0..<rows {
          let (gRow, nRow, dRow, r) = (pg + row * n, pn + row * n, pd + row * n, ps[row])
          var projection: Float = 0
          if !constantScale {
            for i in 0..<n { projection += gRow[i] * w.storage.base[i] * nRow[i] }
            projection /= Float(n)
          }
          for i in 0..<n { dRow[i] = r * (gRow[i] * w.storage.base[i] - nRow[i] * projection) }
        }
        gradX = dx
      }
      let gradW =
        needs[1]
        ? Tensor.product(g, normalized).reshaped([rows, n]).sum(axis: 0) : nil
      return [gradX, gradW]
    }
  }

  /// SiLU x·σ(x); with `constantRatio` the backward holds σ(x) = y/x constant.
  public func silu(constantRatio: Bool = false) -> Tensor {
    let value = Tensor.uninitialized(shape)
    let recording = Tensor.gradientNeeds(self) != nil
    let saved = recording ? Tensor.uninitialized(shape) : nil
    let (px, py, pv) = (storage.base, value.storage.base, saved?.storage.base)
    for i in 0..<count {
      let x = px[i]
      let sigma = 1 / (1 + Foundation.exp(-x))
      py[i] = x * sigma
      if let pv { pv[i] = constantRatio ? sigma : sigma * (1 + x * (1 - sigma)) }
    }
    guard let saved else { return value }
    return value.recorded(from: [self]) { g in [Tensor.product(g, saved)] }
  }

  /// The tanh approximation of GELU (GPT-2's `gelu_new`); with `constantRatio` the
  /// backward holds ½(1 + tanh u) = y/x constant.
  public func geluTanh(constantRatio: Bool = false) -> Tensor {
    let value = Tensor.uninitialized(shape)
    let recording = Tensor.gradientNeeds(self) != nil
    let saved = recording ? Tensor.uninitialized(shape) : nil
    let (px, py, pv) = (storage.base, value.storage.base, saved?.storage.base)
    let c: Float = 0.7978845608028654
    for i in 0..<count {
      let x = px[i]
      let t = Foundation.tanh(c * (x + 0.044715 * x * x * x))
      py[i] = 0.5 * x * (1 + t)
      if let pv {
        pv[i] =
          constantRatio
          ? 0.5 * (1 + t) : 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x)
      }
    }
    guard let saved else { return value }
    return value.recorded(from: [self]) { g in [Tensor.product(g, saved)] }
  }

  /// Rotary position embedding of `self` [T, heads·d] (rotate-half pairs), positions
  /// `firstPosition` … `firstPosition + T − 1`, `frequencies` the d/2 inverse
  /// frequencies; the angle p·f is formed in float32 as Hugging Face forms it. With
  /// `period`, row t is at position `firstPosition + t mod period` (sequences of `period`
  /// rows stacked one after another), each row rotated exactly as in its own sequence.
  public func rotary(heads: Int, firstPosition: Int, frequencies: [Float], period: Int? = nil) -> Tensor {
    precondition(rank == 2 && shape[1] % heads == 0, "rotary of \(shape) over \(heads) heads")
    let (length, width) = (shape[0], shape[1])
    let headWidth = width / heads
    let half = headWidth / 2
    precondition(frequencies.count == half, "\(frequencies.count) frequencies for head width \(headWidth)")
    let period = Swift.max(1, Swift.min(period ?? length, length))
    let table = Tensor.rotaryTable(length: period, firstPosition: firstPosition, frequencies: frequencies)
    let value = Tensor.uninitialized(shape)
    Tensor.rotate(
      storage.base, into: value.storage.base, table: table, length: length, period: period, heads: heads, half: half,
      sign: 1)
    guard Tensor.gradientNeeds(self) != nil else { return value }
    return value.recorded(from: [self]) { g in
      let grad = Tensor.uninitialized(g.shape)
      Tensor.rotate(
        g.storage.base, into: grad.storage.base, table: table, length: length, period: period, heads: heads,
        half: half, sign: -1)
      return [grad]
    }
  }

  /// cos θ and sin θ for each position and frequency, [T][d/2] each, interleaved.
  static func rotaryTable(length: Int, firstPosition: Int, frequencies: [Float]) -> [Float] {
    var table = [Float](repeating: 0, count: length * frequencies.count * 2)
    for t in 0..<length {
      let position = Float(firstPosition + t)
      for (i, frequency) in frequencies.enumerated() {
        let angle = position * frequency
        table[(t * frequencies.count + i) * 2] = Foundation.cos(angle)
        table[(t * frequencies.count + i) * 2 + 1] = Foundation.sin(angle)
      }
    }
    return table
  }

  /// Rotates `length` rows; row t uses the table's row t mod `period`.
  static func rotate(
    _ source: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>, table: [Float], length: Int,
    period: Int, heads: Int, half: Int, sign: Float
  ) {
    let width = heads * half * 2
    for t in 0..<length {
      let row = t % period
      for h in 0..<heads {
        let base = t * width + h * half * 2
        for i in 0..<half {
          let cosine = table[(row * half + i) * 2]
          let sine = sign * table[(row * half + i) * 2 + 1]
          let (x1, x2) = (source[base + i], source[base + half + i])
          target[base + i] = x1 * cosine - x2 * sine
          target[base + half + i] = x2 * cosine + x1 * sine
        }
      }
    }
  }

  /// Causal attention of one sequence: `query` [T, H·d] over `key`, `value` [S, G·d]
  /// (S ≥ T: the last T keys are the queries' own positions, earlier ones a cache), G key/
  /// value heads each shared by H/G query heads. Query t sees keys 0 … S − T + t.
  public static func causalAttention(
    query: Tensor, key: Tensor, value: Tensor, heads: Int, keyValueHeads: Int, scale: Float,
    gradient rule: AttentionGradient = .full
  ) -> Tensor {
    precondition(query.rank == 2 && key.rank == 2 && value.shape == key.shape, "causal attention shapes")
    let (length, width) = (query.shape[0], query.shape[1])
    let (keys, keyWidth) = (key.shape[0], key.shape[1])
    precondition(heads % keyValueHeads == 0 && width % heads == 0, "\(heads) heads over \(keyValueHeads) groups")
    let headWidth = width / heads
    precondition(keyWidth == keyValueHeads * headWidth && keys >= length, "keys \(key.shape) for queries \(query.shape)")
    let group = heads / keyValueHeads
    let past = keys - length
    let probabilities = Tensor.uninitialized([heads, length, keys])
    let output = Tensor.uninitialized([length, width])
    let (pq, pk, pv) = (query.storage.base, key.storage.base, value.storage.base)
    let (pp, po) = (probabilities.storage.base, output.storage.base)
    for h in 0..<heads {
      let kvOffset = (h / group) * headWidth
      let scores = pp + h * length * keys
      BLAS.sgemm(
        transposeA: false, transposeB: true, m: length, n: keys, k: headWidth, alpha: scale,
        a: pq + h * headWidth, lda: width, b: pk + kvOffset, ldb: keyWidth, c: scores, ldc: keys)
      causalSoftmax(scores, rows: length, columns: keys, past: past)
      BLAS.sgemm(
        transposeA: false, transposeB: false, m: length, n: headWidth, k: keys,
        a: scores, lda: keys, b: pv + kvOffset, ldb: keyWidth, c: po + h * headWidth, ldc: width)
    }
    guard let needs = gradientNeeds(query, key, value) else { return output }
    let (cq, ck, cv) = (query.detach(), key.detach(), value.detach())
    return output.recorded(from: [query, key, value]) { g in
      let pg = g.storage.base
      let wantScores = rule != .valuesOnly && (needs[0] || needs[1])
      let half: Float = rule == .uniformSplit ? 0.5 : 1
      let gradQ = wantScores && needs[0] ? Tensor.zeros(cq.shape) : nil
      let gradK = wantScores && needs[1] ? Tensor.zeros(ck.shape) : nil
      let gradV = needs[2] ? Tensor.zeros(cv.shape) : nil
      let scratch = wantScores ? Tensor.uninitialized([length, keys]) : nil
      for h in 0..<heads {
        let kvOffset = (h / group) * headWidth
        let p = probabilities.storage.base + h * length * keys
        if let gradV {
          BLAS.sgemm(
            transposeA: true, transposeB: false, m: keys, n: headWidth, k: length, alpha: half,
            a: p, lda: keys, b: pg + h * headWidth, ldb: width, beta: 1, c: gradV.storage.base + kvOffset,
            ldc: keyWidth)
        }
        guard let scratch else { continue }
        let ds = scratch.storage.base
        BLAS.sgemm(
          transposeA: false, transposeB: true, m: length, n: keys, k: headWidth, alpha: half,
          a: pg + h * headWidth, lda: width, b: cv.storage.base + kvOffset, ldb: keyWidth, c: ds, ldc: keys)
        softmaxBackwardRows(ds, probabilities: p, rows: length, columns: keys)
        if let gradQ {
          BLAS.sgemm(
            transposeA: false, transposeB: false, m: length, n: headWidth, k: keys, alpha: half * scale,
            a: ds, lda: keys, b: ck.storage.base + kvOffset, ldb: keyWidth, c: gradQ.storage.base + h * headWidth,
            ldc: width)
        }
        if let gradK {
          BLAS.sgemm(
            transposeA: true, transposeB: false, m: keys, n: headWidth, k: length, alpha: half * scale,
            a: ds, lda: keys, b: cq.storage.base + h * headWidth, ldb: width, beta: 1,
            c: gradK.storage.base + kvOffset, ldc: keyWidth)
        }
      }
      return [gradQ, gradK, gradV]
    }
  }

  /// Causal attention of `query.shape[0] / segmentLength` independent sequences of
  /// `segmentLength` positions stacked row after row (`query` [S·T, H·d], `key`, `value`
  /// [S·T, G·d]): each position sees the earlier positions of its own sequence only, and
  /// each sequence is computed with exactly the products and softmax `causalAttention`
  /// computes for it alone. No gradient is recorded (a batch of no-grad forwards).
  public static func segmentedCausalAttention(
    query: Tensor, key: Tensor, value: Tensor, heads: Int, keyValueHeads: Int, scale: Float, segmentLength: Int
  ) -> Tensor {
    precondition(query.rank == 2 && key.rank == 2 && value.shape == key.shape, "causal attention shapes")
    let (rows, width) = (query.shape[0], query.shape[1])
    let keyWidth = key.shape[1]
    precondition(segmentLength > 0 && rows % segmentLength == 0 && key.shape[0] == rows, "segments of \(segmentLength) rows")
    precondition(heads % keyValueHeads == 0 && width % heads == 0, "\(heads) heads over \(keyValueHeads) groups")
    let headWidth = width / heads
    precondition(keyWidth == keyValueHeads * headWidth, "keys \(key.shape) for queries \(query.shape)")
    let group = heads / keyValueHeads
    let length = segmentLength
    let scores = Tensor.uninitialized([length, length])
    let output = Tensor.uninitialized([rows, width])
    let (pq, pk, pv) = (query.storage.base, key.storage.base, value.storage.base)
    let (ps, po) = (scores.storage.base, output.storage.base)
    for segment in 0..<(rows / length) {
      let first = segment * length
      for h in 0..<heads {
        let kvOffset = first * keyWidth + (h / group) * headWidth
        BLAS.sgemm(
          transposeA: false, transposeB: true, m: length, n: length, k: headWidth, alpha: scale,
          a: pq + first * width + h * headWidth, lda: width, b: pk + kvOffset, ldb: keyWidth, c: ps, ldc: length)
        causalSoftmax(ps, rows: length, columns: length, past: 0)
        BLAS.sgemm(
          transposeA: false, transposeB: false, m: length, n: headWidth, k: length,
          a: ps, lda: length, b: pv + kvOffset, ldb: keyWidth, c: po + first * width + h * headWidth, ldc: width)
      }
    }
    return output
  }

  /// Attention probabilities of the last query row over every key, averaged over the heads
  /// (`query` [T, H·d], `key` [T, G·d], causal, scaled by `scale`): what the last position
  /// reads from each position.
  public static func lastRowAttention(
    query: Tensor, key: Tensor, heads: Int, keyValueHeads: Int, scale: Float
  ) -> [Float] {
    let (length, width) = (query.shape[0], query.shape[1])
    let keyWidth = key.shape[1]
    let headWidth = width / heads
    precondition(key.shape[0] == length && keyWidth * heads == keyValueHeads * width, "attention shapes")
    let group = heads / keyValueHeads
    var mean = [Double](repeating: 0, count: length)
    var row = [Float](repeating: 0, count: length)
    let (pq, pk) = (query.storage.base, key.storage.base)
    row.withUnsafeMutableBufferPointer { scores in
      for h in 0..<heads {
        BLAS.sgemm(
          transposeA: false, transposeB: true, m: 1, n: length, k: headWidth, alpha: scale,
          a: pq + (length - 1) * width + h * headWidth, lda: width, b: pk + (h / group) * headWidth, ldb: keyWidth,
          c: scores.baseAddress!, ldc: length)
        causalSoftmax(scores.baseAddress!, rows: 1, columns: length, past: length - 1)
        for t in 0..<length { mean[t] += Double(scores[t]) }
      }
    }
    return mean.map { Float($0 / Double(heads)) }
  }

  /// Row-wise softmax in place where row t keeps columns 0 … past + t (the rest get 0).
  static func causalSoftmax(_ values: UnsafeMutablePointer<Float>, rows: Int, columns: Int, past: Int) {
    for row in 0..<rows {
      let x = values + row * columns
      let visible = Swift.min(columns, past + row + 1)
      var largest = -Float.infinity
      for column in 0..<visible { largest = Swift.max(largest, x[column]) }
      var total: Float = 0
      for column in 0..<visible {
        let e = fastExp(x[column] - largest)
        x[column] = e
        total += e
      }
      let inverse = 1 / total
      for column in 0..<visible { x[column] *= inverse }
      for column in visible..<columns { x[column] = 0 }
    }
  }
}

extension Tensor {
  /// The identity whose backward multiplies the gradient by `factor` (a rule that hands an
  /// operation's inputs only part of its gradient, as the uniform rule on a product does).
  public func gradientScaled(by factor: Float) -> Tensor {
    guard Tensor.gradientNeeds(self) != nil else { return self }
    return Tensor(shape: shape, storage: storage).recorded(from: [self]) { g in [g * factor] }
  }
}
