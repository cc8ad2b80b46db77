import CKernels
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
    xai_rms_norm(
      storage.base, weight.storage.base, value.storage.base, normalized.storage.base, scales.storage.base, rows, n,
      eps, Int32(BLAS.elementwiseThreads))
    guard let needs = Tensor.gradientNeeds(self, weight) else { return value }
    let w = weight.detach()
    return value.recorded(from: [self, weight]) { g in
      var gradX: Tensor?
      if needs[0] {
        let dx = Tensor.uninitialized(g.shape)
        xai_rms_norm_backward(
          g.storage.base, w.storage.base, normalized.storage.base, scales.storage.base, dx.storage.base, rows, n,
          constantScale ? 1 : 0, Int32(BLAS.elementwiseThreads))
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
    xai_silu(
      storage.base, value.storage.base, saved?.storage.base, count, saved == nil ? 0 : (constantRatio ? 1 : 2),
      Int32(BLAS.elementwiseThreads))
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

  /// Query rows per tile of causal attention: a tile's scores are computed only against the
  /// keys its last row sees, so the masked half of the score matrix is mostly skipped
  /// (and not kept for the backward pass) once a sequence spans several tiles.
  public static let attentionTileRows = 64

  /// Most probabilities (scalars) one causal attention keeps for its backward pass; beyond
  /// it (long sequences: 2 M scalars are ~700 positions of 9 heads), the backward pass
  /// recomputes each tile's probabilities from the queries and keys — the same products and
  /// kernel, so the same bits — and memory stays linear in the sequence length.
  nonisolated(unsafe) public static var attentionKeptScalars = 2 << 20

  /// Causal attention of one sequence: `query` [T, H·d] over `key`, `value` [S, G·d]
  /// (S ≥ T: the last T keys are the queries' own positions, earlier ones a cache), G key/
  /// value heads each shared by H/G query heads. Query t sees keys 0 … S − T + t.
  ///
  /// Query rows run in tiles of `attentionTileRows`: tile [r0, r1) multiplies its queries
  /// with keys 0 ..< S − T + r1 only, the masked softmax of all heads' rows runs as one
  /// threaded row kernel, and the probabilities are kept tile by tile (about half of
  /// H·T·S) for the backward pass — not at all when no gradient is needed.
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
    let tiles = AttentionTiles(length: length, past: past, heads: heads, tileRows: attentionTileRows)
    let needs = gradientNeeds(query, key, value)
    // Kept for the backward pass: every tile's probabilities; else one tile's scratch.
    let keeps = needs != nil && tiles.total <= attentionKeptScalars
    let probabilities = Tensor.uninitialized([keeps ? tiles.total : tiles.largestBlock])
    let output = Tensor.uninitialized([length, width])
    let (pq, pk, pv) = (query.storage.base, key.storage.base, value.storage.base)
    let po = output.storage.base
    let threads = Int32(BLAS.elementwiseThreads)
    attentionForward(
      query: pq, key: pk, value: pv, output: po, width: width, keyWidth: keyWidth, heads: heads, group: group,
      scale: scale, past: past, tiles: tiles, probabilities: probabilities.storage.base, keepsEveryTile: keeps)
    guard let needs else { return output }
    let (cq, ck, cv) = (query.detach(), key.detach(), value.detach())
    return output.recorded(from: [query, key, value]) { g in
      let pg = g.storage.base
      let wantScores = rule != .valuesOnly && (needs[0] || needs[1])
      let half: Float = rule == .uniformSplit ? 0.5 : 1
      let gradQ = wantScores && needs[0] ? Tensor.zeros(cq.shape) : nil
      let gradK = wantScores && needs[1] ? Tensor.zeros(ck.shape) : nil
      let gradV = needs[2] ? Tensor.zeros(cv.shape) : nil
      let scratch = wantScores ? Tensor.uninitialized([tiles.largestBlock]) : nil
      for tile in tiles.all {
        let (rows, seen) = (tile.rows, tile.keys)
        let block: UnsafeMutablePointer<Float>
        if keeps {
          block = probabilities.storage.base + tile.offset
        } else {
          block = probabilities.storage.base
          tileProbabilities(
            tile, query: cq.storage.base, key: ck.storage.base, into: block, width: width, keyWidth: keyWidth,
            heads: heads, group: group, scale: scale, past: past)
        }
        let gradientRows = pg + tile.first * width
        if let gradV {
          for h in 0..<heads {
            BLAS.sgemm(
              transposeA: true, transposeB: false, m: seen, n: headWidth, k: rows, alpha: half,
              a: block + h * rows * seen, lda: seen, b: gradientRows + h * headWidth, ldb: width, beta: 1,
              c: gradV.storage.base + (h / group) * headWidth, ldc: keyWidth)
          }
        }
        guard let scratch else { continue }
        let ds = scratch.storage.base
        for h in 0..<heads {
          BLAS.sgemm(
            transposeA: false, transposeB: true, m: rows, n: seen, k: headWidth, alpha: half,
            a: gradientRows + h * headWidth, lda: width, b: cv.storage.base + (h / group) * headWidth,
            ldb: keyWidth, c: ds + h * rows * seen, ldc: seen)
        }
        xai_causal_softmax_backward(ds, block, heads * rows, seen, rows, past + tile.first + 1, threads)
        for h in 0..<heads {
          let kvOffset = (h / group) * headWidth
          if let gradQ {
            BLAS.sgemm(
              transposeA: false, transposeB: false, m: rows, n: headWidth, k: seen, alpha: half * scale,
              a: ds + h * rows * seen, lda: seen, b: ck.storage.base + kvOffset, ldb: keyWidth,
              c: gradQ.storage.base + tile.first * width + h * headWidth, ldc: width)
          }
          if let gradK {
            BLAS.sgemm(
              transposeA: true, transposeB: false, m: seen, n: headWidth, k: rows, alpha: half * scale,
              a: ds + h * rows * seen, lda: seen, b: cq.storage.base + tile.first * width + h * headWidth,
              ldb: width, beta: 1, c: gradK.storage.base + kvOffset, ldc: keyWidth)
          }
        }
      }
      return [gradQ, gradK, gradV]
    }
  }
}

extension Tensor {
  /// The probabilities of every head for the query rows of `tile` into `block`
  /// ([heads, rows, keys] of the tile): the scaled scores, then the masked softmax.
  static func tileProbabilities(
    _ tile: AttentionTiles.Tile, query pq: UnsafePointer<Float>, key pk: UnsafePointer<Float>,
    into block: UnsafeMutablePointer<Float>, width: Int, keyWidth: Int, heads: Int, group: Int, scale: Float, past: Int
  ) {
    let headWidth = width / heads
    let (rows, seen) = (tile.rows, tile.keys)
    for h in 0..<heads {
      BLAS.sgemm(
        transposeA: false, transposeB: true, m: rows, n: seen, k: headWidth, alpha: scale,
        a: pq + tile.first * width + h * headWidth, lda: width, b: pk + (h / group) * headWidth, ldb: keyWidth,
        c: block + h * rows * seen, ldc: seen)
    }
    xai_causal_softmax(block, heads * rows, seen, rows, past + tile.first + 1, Int32(BLAS.elementwiseThreads))
  }

  /// Causal attention's forward over raw rows: the queries at `query` (rows of `width`,
  /// as many as `tiles` cover) over the keys and values at `key`, `value` (rows of
  /// `keyWidth`, `past` earlier positions first), into `output`; each tile's probabilities
  /// at its offset of `probabilities` when `keepsEveryTile`, else all at its start.
  static func attentionForward(
    query pq: UnsafePointer<Float>, key pk: UnsafePointer<Float>, value pv: UnsafePointer<Float>,
    output po: UnsafeMutablePointer<Float>, width: Int, keyWidth: Int, heads: Int, group: Int, scale: Float,
    past: Int, tiles: AttentionTiles, probabilities: UnsafeMutablePointer<Float>, keepsEveryTile: Bool
  ) {
    let headWidth = width / heads
    for tile in tiles.all {
      let block = probabilities + (keepsEveryTile ? tile.offset : 0)
      let (rows, seen) = (tile.rows, tile.keys)
      tileProbabilities(
        tile, query: pq, key: pk, into: block, width: width, keyWidth: keyWidth, heads: heads, group: group,
        scale: scale, past: past)
      for h in 0..<heads {
        let kvOffset = (h / group) * headWidth
        BLAS.sgemm(
          transposeA: false, transposeB: false, m: rows, n: headWidth, k: seen,
          a: block + h * rows * seen, lda: seen, b: pv + kvOffset, ldb: keyWidth,
          c: po + tile.first * width + h * headWidth, ldc: width)
      }
    }
  }

  /// Causal attention of `query.shape[0] / segmentLength` independent sequences of
  /// `segmentLength` positions stacked row after row (`query` [S·T, H·d], `key`, `value`
  /// [S·T, G·d]): each position sees the earlier positions of its own sequence only, and
  /// each sequence is computed with the products and softmax `causalAttention` computes
  /// for it alone. No gradient is recorded (a batch of no-grad forwards).
  public static func segmentedCausalAttention(
    query: Tensor, key: Tensor, value: Tensor, heads: Int, keyValueHeads: Int, scale: Float, segmentLength: Int
  ) -> Tensor {
    precondition(query.rank == 2 && key.rank == 2 && value.shape == key.shape, "causal attention shapes")
    let (rows, width) = (query.shape[0], query.shape[1])
    let keyWidth = key.shape[1]
    precondition(
      segmentLength > 0 && rows % segmentLength == 0 && key.shape[0] == rows, "segments of \(segmentLength) rows")
    precondition(heads % keyValueHeads == 0 && width % heads == 0, "\(heads) heads over \(keyValueHeads) groups")
    precondition(keyWidth == keyValueHeads * (width / heads), "keys \(key.shape) for queries \(query.shape)")
    let tiles = AttentionTiles(length: segmentLength, past: 0, heads: heads, tileRows: attentionTileRows)
    let scratch = Tensor.uninitialized([tiles.largestBlock])
    let output = Tensor.uninitialized([rows, width])
    let (pq, pk, pv, po) = (query.storage.base, key.storage.base, value.storage.base, output.storage.base)
    for first in stride(from: 0, to: rows, by: segmentLength) {
      attentionForward(
        query: pq + first * width, key: pk + first * keyWidth, value: pv + first * keyWidth,
        output: po + first * width, width: width, keyWidth: keyWidth, heads: heads, group: heads / keyValueHeads,
        scale: scale, past: 0, tiles: tiles, probabilities: scratch.storage.base, keepsEveryTile: false)
    }
    return output
  }

  /// Attention probabilities of the last query row over every key, averaged over the heads
  /// (`query` [n, H·d] whose last row is the sequence's last position, `key` [T, G·d] of
  /// every position, scaled by `scale`): what the last position reads from each position.
  public static func lastRowAttention(
    query: Tensor, key: Tensor, heads: Int, keyValueHeads: Int, scale: Float
  ) -> [Float] {
    let (rows, width) = (query.shape[0], query.shape[1])
    let (length, keyWidth) = (key.shape[0], key.shape[1])
    let headWidth = width / heads
    precondition(rows >= 1 && length >= 1 && keyWidth * heads == keyValueHeads * width, "attention shapes")
    let group = heads / keyValueHeads
    let scores = Tensor.uninitialized([heads, length])
    let (pq, pk, ps) = (query.storage.base, key.storage.base, scores.storage.base)
    for h in 0..<heads {
      BLAS.sgemm(
        transposeA: false, transposeB: true, m: 1, n: length, k: headWidth, alpha: scale,
        a: pq + (rows - 1) * width + h * headWidth, lda: width, b: pk + (h / group) * headWidth, ldb: keyWidth,
        c: ps + h * length, ldc: length)
    }
    // One row per head, each seeing every key.
    xai_causal_softmax(ps, heads, length, 1, length, 1)
    var mean = [Double](repeating: 0, count: length)
    for h in 0..<heads {
      for t in 0..<length { mean[t] += Double(ps[h * length + t]) }
    }
    return mean.map { Float($0 / Double(heads)) }
  }
}

/// The query-row tiles of one causal attention: tile i covers rows [first, first + rows)
/// and sees keys 0 ..< past + first + rows; its probabilities for all heads take
/// heads · rows · keys scalars at `offset` of the kept buffer.
struct AttentionTiles {
  struct Tile {
    let first, rows, keys, offset: Int
  }

  let all: [Tile]
  /// Scalars of every tile's block together, and of the largest one.
  let total: Int
  let largestBlock: Int

  init(length: Int, past: Int, heads: Int, tileRows: Int) {
    var tiles: [Tile] = []
    var offset = 0
    var largest = 0
    for first in stride(from: 0, to: length, by: tileRows) {
      let rows = Swift.min(tileRows, length - first)
      let keys = past + first + rows
      tiles.append(Tile(first: first, rows: rows, keys: keys, offset: offset))
      offset += heads * rows * keys
      largest = Swift.max(largest, heads * rows * keys)
    }
    all = tiles
    total = Swift.max(offset, 1)
    largestBlock = Swift.max(largest, 1)
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
