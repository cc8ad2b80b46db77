import Tensor

/// Which nonlinearities the forward pass treats as constants in the backward
/// ("conservative propagation", LRP by detachment). The model asks; the method decides.
/// No hook changes a forward value.
public struct DetachmentHooks: OptionSet, Sendable, Hashable {
  public let rawValue: Int
  public init(rawValue: Int) { self.rawValue = rawValue }

  /// LayerNorm's σ = √(var + eps) is constant (the mean stays differentiable).
  public static let layerNorm = DetachmentHooks(rawValue: 1 << 0)
  /// Attention probabilities are constant; gradient flows through the values only.
  public static let attention = DetachmentHooks(rawValue: 1 << 1)
  /// GELU(x) = x·Φ(x) with Φ(x) constant.
  public static let gelu = DetachmentHooks(rawValue: 1 << 2)
  /// tanh(x) = x·(tanh(x)/x) with the ratio constant (BERT pooler).
  public static let tanh = DetachmentHooks(rawValue: 1 << 3)

  /// No hook: plain gradients.
  public static let none: DetachmentHooks = []
  /// Every hook: the LRP configuration.
  public static let all: DetachmentHooks = [.layerNorm, .attention, .gelu, .tanh]

  /// Names as the command line spells them, in a fixed order.
  public static let names: [(String, DetachmentHooks)] = [
    ("layernorm", .layerNorm), ("attention", .attention), ("gelu", .gelu), ("tanh", .tanh),
  ]

  /// The hooks' names in a fixed order.
  public var names: [String] { Self.names.filter { contains($0.1) }.map(\.0) }
}

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

  public func callAsFunction(_ x: Tensor, hooks: DetachmentHooks) -> Tensor {
    x.layerNorm(gamma: weight, beta: bias, eps: eps, constantSigma: hooks.contains(.layerNorm))
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

/// The post-LN transformer block both families share:
/// attention → residual → LayerNorm → FFN (GELU) → residual → LayerNorm.
/// Each family builds it from its own checkpoint names.
struct PostNormBlock: Sendable {
  let query, key, value, attentionOutput: Linear
  let attentionNorm: LayerNorm
  let expand, contract: Linear
  let outputNorm: LayerNorm
  let heads: Int

  func callAsFunction(_ x: Tensor, keep: Tensor, hooks: DetachmentHooks) -> Tensor {
    let context = Tensor.attention(
      query: query(x), key: key(x), value: value(x), heads: heads, keep: keep,
      scale: 1 / Float(x.shape[2] / heads).squareRoot(),
      constantProbabilities: hooks.contains(.attention))
    let attended = attentionNorm(attentionOutput(context) + x, hooks: hooks)
    let expanded = expand(attended).gelu(constantPhi: hooks.contains(.gelu))
    return outputNorm(contract(expanded) + attended, hooks: hooks)
  }
}
