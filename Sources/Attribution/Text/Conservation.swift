// Conservation: Σ_t R_t against the explained logit f(x); the residual f(x) − Σ_t R_t
// is what biases, eps and non-conservative rules absorbed. For path methods also
// completeness: (f(x) − f(b)) − Σ_t R_t.

/// Σ_t R_t against the explained logit.
public struct Conservation: Sendable, Equatable {
  /// Σ_t R_t.
  public let sumRelevance: Float
  /// The explained logit f(x).
  public let targetLogit: Float
  /// target logit − Σ R.
  public var residual: Float { targetLogit - sumRelevance }
  /// For path methods: the target logit at the baseline.
  public let baselineLogit: Float?
  /// For path methods: (f(x) − f(baseline)) − Σ R (completeness).
  public var completenessResidual: Float? {
    baselineLogit.map { targetLogit - $0 - sumRelevance }
  }
}

/// Where relevance is created or lost on its way from the logit to the tokens: the
/// sum Σ h·∂f/∂h at the input of every sublayer, from the same backward pass, and the
/// share the biases absorb (Σ b·∂f/∂b). For a conservative rule set every row equals
/// the logit minus the biases above it, and Σ_t R_t + bias share = logit.
public struct RelevanceAudit: Sendable, Equatable {
  /// One sublayer input.
  public struct Entry: Sendable, Equatable {
    /// `layer.N.attention`, `layer.N.attention_norm`, `layer.N.ffn`, `layer.N.output_norm`, `head`, `classifier`.
    public let layer: String
    /// Σ h·∂f/∂h there.
    public let sumRelevance: Float

    public init(layer: String, sumRelevance: Float) {
      self.layer = layer
      self.sumRelevance = sumRelevance
    }
  }

  /// Sublayer inputs in forward order (the first is the embedding-block output).
  public let entries: [Entry]
  /// Σ over the biases after the embedding block of b·∂f/∂b.
  public let biasShare: Float
  /// Σ_t R_t.
  public let sumTokens: Float
  /// The explained logit.
  public let targetLogit: Float

  public init(entries: [Entry], biasShare: Float, sumTokens: Float, targetLogit: Float) {
    self.entries = entries
    self.biasShare = biasShare
    self.sumTokens = sumTokens
    self.targetLogit = targetLogit
  }

  /// What neither the tokens nor the biases account for: the share of rules that are
  /// not conservative (0 up to rounding for lrp).
  public var ruleShare: Float { targetLogit - sumTokens - biasShare }
}
