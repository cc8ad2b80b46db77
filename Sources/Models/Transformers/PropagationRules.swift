import Tensor

/// An operation of a transformer whose backward an attribution rule may change.
public enum RuleOperation: String, CaseIterable, Sendable, Hashable, Comparable {
  case layerNorm = "layernorm"
  case attention
  case gelu
  case tanh

  public static func < (a: RuleOperation, b: RuleOperation) -> Bool {
    allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
  }
}

/// The backward of attention.
public enum AttentionRule: Sendable, Hashable {
  /// The exact gradient.
  case gradient
  /// Probabilities held constant; gradient flows through the values only (CP-LRP).
  case constantProbabilities
  /// S = q·kᵀ and O = P·v each pass half of the gradient to each operand (AttnLRP).
  case uniformSplit
}

/// The backward of LayerNorm.
public enum LayerNormRule: Sendable, Hashable {
  /// The exact gradient.
  case gradient
  /// σ = √(var + eps) held constant; the mean stays differentiable.
  case constantSigma
}

/// The backward of GELU(x) = x·Φ(x).
public enum GELURule: Sendable, Hashable {
  /// The exact gradient.
  case gradient
  /// Φ(x) held constant.
  case constantPhi
}

/// The backward of the BERT pooler's tanh(x) = x·(tanh(x)/x).
/// The rule of the elementwise product of a gated MLP (SwiGLU: silu(gate) ⊙ up).
public enum GatedProductRule: Sendable, Hashable {
  /// The exact gradient of the product.
  case gradient
  /// The gate is a constant: gradient reaches `up` only (CP-LRP).
  case constantGate
  /// Each factor receives half of the product rule's gradient (AttnLRP's uniform rule).
  case uniformSplit
}

public enum TanhRule: Sendable, Hashable {
  /// The exact gradient.
  case gradient
  /// The ratio tanh(x)/x held constant (1 at x = 0).
  case constantRatio
}

/// One rule per operation, handed to the forward pass: each layer asks for its own
/// and never knows which method is running. No rule changes a forward value.
public struct PropagationRules: Sendable, Hashable {
  /// Attention's rule.
  public var attention: AttentionRule
  /// LayerNorm's rule (every LayerNorm after the embedding block).
  public var layerNorm: LayerNormRule
  /// GELU's rule.
  public var gelu: GELURule
  /// The pooler tanh's rule.
  public var tanh: TanhRule
  /// The rule of SwiGLU's product silu(gate)·up in decoder MLPs.
  public var gatedProduct: GatedProductRule = .gradient

  /// Rules given one by one (plain gradients where not given).
  public init(
    attention: AttentionRule = .gradient, layerNorm: LayerNormRule = .gradient, gelu: GELURule = .gradient,
    tanh: TanhRule = .gradient
  ) {
    self.attention = attention
    self.layerNorm = layerNorm
    self.gelu = gelu
    self.tanh = tanh
  }

  /// Plain gradients everywhere.
  public static let gradient = PropagationRules()

  /// Every operation held constant where LRP by detachment (CP-LRP) holds it.
  public static let detachingAll = PropagationRules(detaching: Set(RuleOperation.allCases))

  /// The detachment (constant-factor) rule on `operations`, plain gradients elsewhere.
  public init(detaching operations: Set<RuleOperation>) {
    self.init(
      attention: operations.contains(.attention) ? .constantProbabilities : .gradient,
      layerNorm: operations.contains(.layerNorm) ? .constantSigma : .gradient,
      gelu: operations.contains(.gelu) ? .constantPhi : .gradient,
      tanh: operations.contains(.tanh) ? .constantRatio : .gradient)
  }

  /// The operations whose rule is a detachment (a factor held constant), in a fixed order.
  public var detached: [RuleOperation] {
    var result: [RuleOperation] = []
    if layerNorm == .constantSigma { result.append(.layerNorm) }
    if attention == .constantProbabilities { result.append(.attention) }
    if gelu == .constantPhi { result.append(.gelu) }
    if tanh == .constantRatio { result.append(.tanh) }
    return result
  }

  /// The operations whose rule is anything but the plain gradient.
  public var modified: Set<RuleOperation> {
    var result = Set(detached)
    if attention == .uniformSplit { result.insert(.attention) }
    return result
  }
}

extension AttentionRule {
  /// The fused attention op's gradient for this rule.
  var tensorGradient: AttentionGradient {
    switch self {
    case .gradient: .full
    case .constantProbabilities: .valuesOnly
    case .uniformSplit: .uniformSplit
    }
  }
}
