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
