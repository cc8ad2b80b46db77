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

  public func callAsFunction(_ x: Tensor) -> Tensor {
    Tensor.linear(x, weight: weight, bias: bias)
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

  public func callAsFunction(_ x: Tensor, rule: LayerNormRule) -> Tensor {
    x.layerNorm(gamma: weight, beta: bias, eps: eps, constantSigma: rule == .constantSigma)
  }
}

/// A lookup table of `weight` [count, width].
public struct Embedding: Sendable {
  /// The learned weights.
  public let weight: Tensor

  /// Reads `weight` [count, width] from `scope`.
  public init(_ scope: WeightScope, count: Int, width: Int) throws {
    weight = try scope.parameter("weight", shape: [count, width])
  }

  /// Rows for `ids` laid out as `shape` + [width].
  public func callAsFunction(_ ids: [Int], shape: [Int]) -> Tensor {
    weight.gatherRows(ids).reshaped(shape + [weight.shape[1]])
  }
}

/// Multi-head self-attention: query, key, value and output projections.
struct SelfAttention: Sendable {
  let query, key, value, output: Linear
  let heads: Int

  func callAsFunction(_ x: Tensor, keep: KeepMask, rule: AttentionRule) -> Tensor {
    let context = Tensor.attention(
      query: query(x), key: key(x), value: value(x), heads: heads, keep: keep.flags,
      scale: 1 / Float(x.shape[2] / heads).squareRoot(), gradient: rule.tensorGradient)
    return output(context)
  }
}

/// The feed-forward sublayer: expand → GELU → contract.
struct FeedForward: Sendable {
  let expand, contract: Linear

  func callAsFunction(_ x: Tensor, rule: GELURule) -> Tensor {
    contract(expand(x).gelu(constantPhi: rule == .constantPhi))
  }
}

/// One transformer block, asked for its output under the given rules.
protocol TransformerBlock: Sendable {
  func callAsFunction(_ x: Tensor, keep: KeepMask, rules: PropagationRules) -> Tensor
}

/// The post-LN block of BERT and DistilBERT:
/// attention → residual → LayerNorm → FFN (GELU) → residual → LayerNorm.
/// Each family builds it from its own checkpoint names.
struct PostNormBlock: TransformerBlock {
  let attention: SelfAttention
  let attentionNorm: LayerNorm
  let feedForward: FeedForward
  let outputNorm: LayerNorm

  func callAsFunction(_ x: Tensor, keep: KeepMask, rules: PropagationRules) -> Tensor {
    let attended = attentionNorm(attention(x, keep: keep, rule: rules.attention) + x, rule: rules.layerNorm)
    return outputNorm(feedForward(attended, rule: rules.gelu) + attended, rule: rules.layerNorm)
  }
}

/// The pre-LN block of the Vision Transformer:
/// LayerNorm → attention → residual → LayerNorm → FFN (GELU) → residual.
struct PreNormBlock: TransformerBlock {
  let attentionNorm: LayerNorm
  let attention: SelfAttention
  let feedForwardNorm: LayerNorm
  let feedForward: FeedForward

  func callAsFunction(_ x: Tensor, keep: KeepMask, rules: PropagationRules) -> Tensor {
    let attended = attention(attentionNorm(x, rule: rules.layerNorm), keep: keep, rule: rules.attention) + x
    return feedForward(feedForwardNorm(attended, rule: rules.layerNorm), rule: rules.gelu) + attended
  }
}
