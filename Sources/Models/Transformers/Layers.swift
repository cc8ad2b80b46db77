import Foundation
import Tensor

/// y = x·Wᵀ + b with `weight` stored [out, in], as HF's `nn.Linear`.
public struct Linear: Sendable {
  /// The learned weights.
  public let weight: Tensor
  /// The bias [out], if the layer has one.
  public let bias: Tensor?

  /// Reads `weight` [out, in] and `bias` [out] from `scope`.
  public init(_ scope: WeightScope, in inFeatures: Int, out outFeatures: Int, bias hasBias: Bool = true)
    throws
  {
    weight = try scope.parameter("weight", shape: [outFeatures, inFeatures])
    bias = hasBias ? try scope.parameter("bias", shape: [outFeatures]) : nil
  }

  /// A layer from its weight [out, in] and bias [out].
  init(weight: Tensor, bias: Tensor?) {
    self.weight = weight
    self.bias = bias
  }

  public func callAsFunction(_ x: Tensor, pass: ForwardPass = .plain) -> Tensor {
    Tensor.linear(x, weight: weight, bias: bias.map(pass.bias))
  }
}

/// Layer normalisation over the last axis with `weight` (γ) and `bias` (β).
public struct LayerNorm: Sendable {
  /// The learned weights.
  public let weight: Tensor
  /// β.
  public let bias: Tensor
  /// Added to the variance before the square root.
  public let eps: Float

  /// Reads `weight` and `bias` of width `width` from `scope`.
  public init(_ scope: WeightScope, width: Int, eps: Float) throws {
    weight = try scope.parameter("weight", shape: [width])
    bias = try scope.parameter("bias", shape: [width])
    self.eps = eps
  }

  public func callAsFunction(_ x: Tensor, pass: ForwardPass = .plain) -> Tensor {
    x.layerNorm(
      gamma: weight, beta: pass.bias(bias), eps: eps, constantSigma: pass.rules.layerNorm == .constantSigma)
  }
}

/// A lookup table of `weight` [count, width].
public struct Embedding: Sendable {
  /// The learned rows (16-bit tables of a mapped file stay there and are converted row by
  /// row as they are read).
  public let table: RowTable
  /// Values per row.
  public let width: Int

  /// Reads `weight` [count, width] from `scope`.
  public init(_ scope: WeightScope, count: Int, width: Int) throws {
    table = try scope.rowTable("weight", shape: [count, width])
    self.width = width
  }

  /// The whole table as float32.
  public var weight: Tensor { table.tensor }

  /// Rows for `ids` laid out as `shape` + [width].
  public func callAsFunction(_ ids: [Int], shape: [Int]) -> Tensor {
    table.gather(ids).reshaped(shape + [width])
  }
}

/// Multi-head self-attention: query, key, value and output projections.
struct SelfAttention: Sendable {
  let query, key, value, output: Linear
  let heads: Int

  func callAsFunction(_ x: Tensor, keep: KeepMask, pass: ForwardPass) -> Tensor {
    let context = Tensor.attention(
      query: query(x, pass: pass), key: key(x, pass: pass), value: value(x, pass: pass), heads: heads,
      keep: keep.flags, scale: 1 / Float(x.shape[2] / heads).squareRoot(),
      gradient: pass.rules.attention.tensorGradient)
    return output(context, pass: pass)
  }

  /// The attention probabilities of the first position's query over every position,
  /// averaged over heads, [batch][length] (padding gets 0). No history.
  func firstQueryProbabilities(_ x: Tensor, keep: KeepMask) -> [[Float]] {
    let (batch, length, width) = (x.shape[0], x.shape[1], x.shape[2])
    let headWidth = width / heads
    let scale = 1 / Float(headWidth).squareRoot()
    let queries = query(x.select(axis: 1, 0)).scalars
    let keys = key(x).scalars
    return (0..<batch).map { row in
      var mean = [Float](repeating: 0, count: length)
      let count = keep.lengths[row]
      for head in 0..<heads {
        let q = row * width + head * headWidth
        let scores = (0..<count).map { position in
          let k = (row * length + position) * width + head * headWidth
          return (0..<headWidth).reduce(Float(0)) { $0 + queries[q + $1] * keys[k + $1] } * scale
        }
        let largest = scores.max() ?? 0
        let exps = scores.map { Foundation.exp($0 - largest) }
        let total = exps.reduce(0, +)
        for position in 0..<count { mean[position] += exps[position] / total / Float(heads) }
      }
      return mean
    }
  }
}

/// The feed-forward sublayer: expand → GELU → contract.
struct FeedForward: Sendable {
  let expand, contract: Linear

  func callAsFunction(_ x: Tensor, pass: ForwardPass) -> Tensor {
    contract(expand(x, pass: pass).gelu(constantPhi: pass.rules.gelu == .constantPhi), pass: pass)
  }
}

/// One transformer block, asked for its output under the given rules.
protocol TransformerBlock: Sendable {
  /// The block's output; `name` prefixes the audit points (`layer.N`).
  func callAsFunction(_ x: Tensor, keep: KeepMask, pass: ForwardPass, name: String) -> Tensor
  /// The attention of the first position ([CLS]) over every position, averaged over
  /// heads, [batch][length].
  func firstPositionAttention(_ x: Tensor, keep: KeepMask) -> [[Float]]
  /// Pushes directions of the block input `x` (one unpadded sequence) to directions of its
  /// output under `rules` (forward mode; TangentPass.swift).
  func pushTangents(_ t: inout TangentRows, at x: Tensor, rules: PropagationRules)
}

extension TransformerBlock {
  func callAsFunction(_ x: Tensor, keep: KeepMask, rules: PropagationRules) -> Tensor {
    self(x, keep: keep, pass: ForwardPass(rules: rules), name: "")
  }
}

/// The post-LN block of BERT and DistilBERT:
/// attention → residual → LayerNorm → FFN (GELU) → residual → LayerNorm.
/// Each family builds it from its own checkpoint names.
struct PostNormBlock: TransformerBlock {
  let attention: SelfAttention
  let attentionNorm: LayerNorm
  let feedForward: FeedForward
  let outputNorm: LayerNorm

  func callAsFunction(_ x: Tensor, keep: KeepMask, pass: ForwardPass, name: String) -> Tensor {
    let x = pass.observe("\(name).attention", x)
    let summed = pass.observe("\(name).attention_norm", attention(x, keep: keep, pass: pass) + x)
    let attended = pass.observe("\(name).ffn", attentionNorm(summed, pass: pass))
    let added = pass.observe("\(name).output_norm", feedForward(attended, pass: pass) + attended)
    return outputNorm(added, pass: pass)
  }

  func firstPositionAttention(_ x: Tensor, keep: KeepMask) -> [[Float]] {
    attention.firstQueryProbabilities(x, keep: keep)
  }
}

/// The pre-LN block of the Vision Transformer:
/// LayerNorm → attention → residual → LayerNorm → FFN (GELU) → residual.
struct PreNormBlock: TransformerBlock {
  let attentionNorm: LayerNorm
  let attention: SelfAttention
  let feedForwardNorm: LayerNorm
  let feedForward: FeedForward

  func callAsFunction(_ x: Tensor, keep: KeepMask, pass: ForwardPass, name: String) -> Tensor {
    let x = pass.observe("\(name).attention_norm", x)
    let normed = pass.observe("\(name).attention", attentionNorm(x, pass: pass))
    let attended = pass.observe("\(name).ffn_norm", attention(normed, keep: keep, pass: pass) + x)
    let ffnInput = pass.observe("\(name).ffn", feedForwardNorm(attended, pass: pass))
    return feedForward(ffnInput, pass: pass) + attended
  }

  func firstPositionAttention(_ x: Tensor, keep: KeepMask) -> [[Float]] {
    attention.firstQueryProbabilities(attentionNorm(x), keep: keep)
  }
}
