import Foundation
import Tensor

/// A weight matrix [out, in] applied as x·Wᵀ + b, kept as the file stores it: float32,
/// or GGML blocks multiplied from without dequantising the model.
public struct Projection: Sendable {
  /// The matrix.
  public let weight: WeightMatrix
  /// The bias [out], if any.
  public let bias: Tensor?

  public init(weight: WeightMatrix, bias: Tensor?) {
    self.weight = weight
    self.bias = bias
  }

  /// x [T, in] → [T, out]; records the product when `x` needs a gradient.
  func callAsFunction(_ x: Tensor, pass: ForwardPass) -> Tensor {
    weight.apply(x, bias: bias.map(pass.bias))
  }
}

/// The normalisation before each sublayer: RMSNorm (Llama, Qwen2) or LayerNorm (GPT-2).
enum DecoderNorm: Sendable {
  case rms(weight: Tensor, eps: Float)
  case layer(LayerNorm)

  func callAsFunction(_ x: Tensor, pass: ForwardPass) -> Tensor {
    switch self {
    case .rms(let weight, let eps):
      x.rmsNorm(weight: weight, eps: eps, constantScale: pass.rules.layerNorm == .constantSigma)
    case .layer(let norm): norm(x, pass: pass)
    }
  }
}

/// One pre-norm decoder block: norm → causal attention → residual → norm → MLP → residual.
struct DecoderBlock: Sendable {
  let attentionNorm: DecoderNorm
  let query, key, value, output: Projection
  let mlpNorm: DecoderNorm
  /// The gate of SwiGLU (nil for GPT-2's plain MLP).
  let gate: Projection?
  let up, down: Projection
}

/// Keys and values of the positions already run, per block, so that generating one more
/// token costs one position's work. Capacity is fixed when created.
public final class KeyValueCache: @unchecked Sendable {
  private let keys: [RowBuffer]
  private let values: [RowBuffer]

  /// Positions stored.
  public private(set) var count = 0
  /// Most positions it can hold.
  public let capacity: Int

  /// A cache for `layers` blocks of `capacity` positions of `width` (key/value heads × head width).
  public init(layers: Int, capacity: Int, width: Int) {
    self.capacity = capacity
    keys = (0..<layers).map { _ in RowBuffer(capacity: capacity, width: width) }
    values = (0..<layers).map { _ in RowBuffer(capacity: capacity, width: width) }
  }

  /// Appends `key` and `value` [T, width] of block `layer` and returns every position's
  /// keys and values [count + T, width].
  func append(layer: Int, key: Tensor, value: Tensor) -> (Tensor, Tensor) {
    (keys[layer].append(key), values[layer].append(value))
  }

  /// Records that `length` more positions were appended by every block.
  func advance(by length: Int) { count += length }

  /// Forgets every position (the buffers are kept).
  public func reset() {
    count = 0
    for buffer in keys + values { buffer.reset() }
  }
}

/// A decoder-only language model: token (and, for GPT-2, position) embeddings, pre-norm
/// blocks of causal attention and an MLP, a final norm and the output head.
public struct DecoderNetwork: Sendable {
  public internal(set) var config: DecoderConfig
  /// Token embedding [vocab, hidden] (also the head when tied).
  public let embedding: WeightMatrix
  /// GPT-2's learned positions [positions, hidden].
  let positions: Tensor?
  let blocks: [DecoderBlock]
  let finalNorm: DecoderNorm
  /// The output head (the embedding when tied).
  let head: WeightMatrix
  /// RoPE's inverse frequencies (Llama, Qwen2).
  public let ropeFrequencies: [Float]

  /// The embedding rows of `ids` [T, hidden] (GPT-2 adds the positions from `firstPosition`).
  public func embed(_ ids: [Int], firstPosition: Int = 0) -> Tensor {
    let rows = embedding.rows(ids)
    guard let positions else { return rows }
    return rows + positions.gatherRows(Array(firstPosition..<(firstPosition + ids.count)))
  }

  /// Logits [T, vocab] (or [1, vocab] with `lastOnly`) of the embedded tokens `x` [T, hidden]
  /// at positions `cache.count …`; with a cache the keys and values are appended to it.
  public func logits(
    embedded x: Tensor, cache: KeyValueCache? = nil, pass: ForwardPass = .plain, lastOnly: Bool = false
  ) -> Tensor {
    let hidden = self.hidden(embedded: x, cache: cache, pass: pass, lastRows: lastOnly ? 1 : nil)
    return head.apply(pass.observe("head", hidden), bias: nil)
  }

  /// Logits [T, vocab] of final hidden states [T, hidden] (the output head).
  public func projectToVocabulary(_ hidden: Tensor, pass: ForwardPass = .plain) -> Tensor {
    head.apply(pass.observe("head", hidden), bias: nil)
  }

  /// The final normalised hidden states [T, hidden]; with `lastRows` n, those of the last n
  /// positions only [n, hidden]: the last block then computes its queries, attention output
  /// and MLP for those rows alone (every position's keys and values are still computed
  /// and cached) — the same values, for less work.
  public func hidden(
    embedded input: Tensor, cache: KeyValueCache? = nil, pass: ForwardPass = .plain, lastRows: Int? = nil
  ) -> Tensor {
    let length = input.shape[0]
    let first = cache?.count ?? 0
    precondition(first + length <= config.maxPositions, "sequence beyond the model's positions")
    precondition(lastRows.map { $0 >= 1 && $0 <= length } ?? true, "last \(lastRows ?? 0) of \(length) rows")
    let x = residualStream(input, first: first, cache: cache, pass: pass, segmentLength: nil, lastRows: lastRows)
    cache?.advance(by: length)
    return finalNorm(pass.observe("final_norm", x), pass: pass)
  }

  /// The residual stream after the last block. With `segmentLength`, `input` holds
  /// sequences of that many positions stacked row after row, each run as if alone (its own
  /// positions from 0, attention within itself; no cache, no gradient).
  /// With `lastRows` n (not with segments), the last block runs the rows after its keys and
  /// values for the last n positions only, and the stream returned has n rows.
  /// `lastBlockQueryKey` receives the last block's queries and every position's keys (after
  /// RoPE, with the cache's) just before its attention.
  func residualStream(
    _ input: Tensor, first: Int, cache: KeyValueCache?, pass: ForwardPass, segmentLength: Int?, lastRows: Int? = nil,
    lastBlockQueryKey: ((_ query: Tensor, _ key: Tensor) -> Void)? = nil
  ) -> Tensor {
    var x = input
    let scale = 1 / Float(config.headWidth).squareRoot()
    let length = input.shape[0]
    for (index, block) in blocks.enumerated() {
      let name = "layer.\(index)"
      // Tapped where both the norm and the residual read it: the audit sums the whole ∂f/∂x.
      x = pass.observe("\(name).attention_norm", x)
      let normed = block.attentionNorm(x, pass: pass)
      // The last block's rows past its keys and values: only those of the kept positions.
      var queryFirst = 0
      if index == blocks.count - 1, segmentLength == nil, let lastRows, lastRows < length {
        queryFirst = length - lastRows
      }
      let queryRows = queryFirst == 0 ? normed : normed.slice(axis: 0, queryFirst..<length)
      var q = block.query(queryRows, pass: pass)
      var k = block.key(normed, pass: pass)
      let v = block.value(normed, pass: pass)
      if queryFirst > 0 { x = x.slice(axis: 0, queryFirst..<length) }
      if config.family != .gpt2 {
        q = q.rotary(
          heads: config.heads, firstPosition: first + queryFirst, frequencies: ropeFrequencies, period: segmentLength)
        k = k.rotary(
          heads: config.keyValueHeads, firstPosition: first, frequencies: ropeFrequencies, period: segmentLength)
      }
      let context: Tensor
      if let segmentLength {
        context = Tensor.segmentedCausalAttention(
          query: q, key: k, value: v, heads: config.heads, keyValueHeads: config.keyValueHeads, scale: scale,
          segmentLength: segmentLength)
      } else {
        var (keys, values) = (k, v)
        if let cache { (keys, values) = cache.append(layer: index, key: k, value: v) }
        if index == blocks.count - 1 { lastBlockQueryKey?(q, keys) }
        context = Tensor.causalAttention(
          query: q, key: keys, value: values, heads: config.heads, keyValueHeads: config.keyValueHeads, scale: scale,
          gradient: pass.rules.attention.tensorGradient)
      }
      x = pass.observe("\(name).mlp_norm", block.output(context, pass: pass) + x)
      let mlpInput = block.mlpNorm(x, pass: pass)
      let activated: Tensor
      let up = block.up(mlpInput, pass: pass)
      switch config.activation {
      case .silu:
        let gate = block.gate!(mlpInput, pass: pass).silu(constantRatio: pass.rules.gelu == .constantPhi)
        switch pass.rules.gatedProduct {
        case .gradient: activated = gate * up
        case .constantGate: activated = gate.detach() * up
        case .uniformSplit: activated = (gate * up).gradientScaled(by: 0.5)
        }
      case .geluTanh: activated = up.geluTanh(constantRatio: pass.rules.gelu == .constantPhi)
      case .gelu: activated = up.gelu(constantPhi: pass.rules.gelu == .constantPhi)
      }
      x = block.down(activated, pass: pass) + x
    }
    return x
  }

  /// Next-token logits [B, vocab] of B token sequences of one length, in one no-grad pass
  /// over all their positions stacked (each weight block is read once for every row), with
  /// the final norm and the output head applied to each sequence's last position only.
  /// Row b equals `logits(embedded: embed(sequences[b]), lastOnly: true)` up to float32
  /// rounding (products over more rows may sum in another order); the same batch gives the
  /// same bits every time.
  public func nextTokenLogits(_ sequences: [[Int]]) -> Tensor {
    let length = sequences.first?.count ?? 0
    precondition(
      length > 0 && length <= config.maxPositions && sequences.allSatisfy { $0.count == length },
      "sequences of one length within the model's positions")
    return withoutGrad {
      var x = embedding.rows(sequences.flatMap { $0 })
      if let positions {
        let rows = Array(repeating: Array(0..<length), count: sequences.count).flatMap { $0 }
        x = x + positions.gatherRows(rows)
      }
      let stream = residualStream(x, first: 0, cache: nil, pass: .plain, segmentLength: length)
      let last = stream.gatherRows(sequences.indices.map { $0 * length + length - 1 })
      return head.apply(finalNorm(last, pass: .plain), bias: nil)
    }
  }

  /// The last layer's attention from the last position of `ids` to every position,
  /// averaged over the heads [T] (no gradient): the attention baseline of a faithfulness
  /// evaluation.
  public func lastPositionAttention(_ ids: [Int]) -> [Float] {
    precondition(!ids.isEmpty && ids.count <= config.maxPositions, "a sequence within the model's positions")
    return withoutGrad {
      var captured: (query: Tensor, key: Tensor)?
      _ = residualStream(
        embed(ids), first: 0, cache: nil, pass: .plain, segmentLength: nil, lastRows: 1,
        lastBlockQueryKey: { captured = ($0, $1) })
      return Tensor.lastRowAttention(
        query: captured!.query, key: captured!.key, heads: config.heads, keyValueHeads: config.keyValueHeads,
        scale: 1 / Float(config.headWidth).squareRoot())
    }
  }

  /// A cache sized for `capacity` positions of this model.
  public func makeCache(capacity: Int) -> KeyValueCache {
    KeyValueCache(
      layers: blocks.count, capacity: min(capacity, config.maxPositions),
      width: config.keyValueHeads * config.headWidth)
  }
}
