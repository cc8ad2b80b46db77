import Tensor

/// What one forward pass carries to every layer: the propagation rules that shape its
/// backward, and the audit probe when relevance is audited. Layers ask it for their rule
/// and hand it each sublayer input and bias; without a probe those calls return their
/// argument unchanged.
public struct ForwardPass: Sendable {
  /// The rule of each operation (gradient, detachment, AttnLRP's splits).
  public let rules: PropagationRules
  /// Records sublayer inputs and biases for `--audit`; nil for a plain pass.
  public let probe: RelevanceProbe?

  /// A pass under `rules`, audited when `probe` is given.
  public init(rules: PropagationRules = .gradient, probe: RelevanceProbe? = nil) {
    self.rules = rules
    self.probe = probe
  }

  /// The plain pass: gradient rules everywhere, no audit.
  public static let plain = ForwardPass()

  /// `x` recorded as the input of the sublayer `name` when auditing, else `x`.
  func observe(_ name: String, _ x: Tensor) -> Tensor { probe?.observe(name, x) ?? x }

  /// The bias `b` as a leaf collecting ∂f/∂b when auditing, else `b`.
  func bias(_ b: Tensor) -> Tensor { probe?.bias(b) ?? b }
}
