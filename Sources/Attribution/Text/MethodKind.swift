import Models

/// The attribution methods for transformers, by the name the command line and JSON use.
public enum MethodKind: String, CaseIterable, Sendable, Hashable {
  /// Gradient×Input with every detachment rule the network has (CP-LRP).
  case lrp
  /// Gradient×Input with σ, Φ and the tanh ratio constant and the uniform rule on both
  /// bilinear products of attention (AttnLRP, as LXT's efficient mode).
  case attnlrp
  /// Gradient×Input, optionally with detachment rules chosen one by one.
  case gradxinput
  /// ‖∂f/∂e_t‖₂.
  case gradient
  /// The path integral of the gradient from a baseline.
  case integratedGradients = "integrated-gradients"
  /// A sliding window of units replaced by the baseline: the mean drop of f over the
  /// windows that cover a unit.
  case occlusion
  /// One unit at a time replaced by the baseline: the drop of f.
  case featureAblation = "feature-ablation"
  /// Shapley values over the units (exact over every coalition, or permutation sampling).
  case shapley
  /// KernelSHAP: the Shapley-kernel weighted regression on coalitions.
  case kernelShap = "kernel-shap"
  /// LIME: a Lasso surrogate on random coalitions weighted by an exponential kernel.
  case lime

  /// Other spellings accepted for each method.
  public var aliases: [String] {
    switch self {
    case .lrp: ["cp-lrp"]
    case .attnlrp: ["attn-lrp"]
    case .gradxinput: ["gradient-x-input", "inputxgradient"]
    case .gradient: ["saliency"]
    case .integratedGradients: ["ig"]
    case .occlusion: []
    case .featureAblation: ["ablation"]
    case .shapley: ["shapley-values", "shapley-value-sampling"]
    case .kernelShap: ["kernelshap"]
    case .lime: []
    }
  }

  /// The method named `name` or one of its aliases (case-insensitive).
  public init?(name: String) {
    let lowered = name.lowercased()
    guard let kind = Self.allCases.first(where: { $0.rawValue == lowered || $0.aliases.contains(lowered) })
    else { return nil }
    self = kind
  }

  /// How a reader sees the method named.
  public var displayName: String {
    switch self {
    case .lrp: "LRP (detachment)"
    case .attnlrp: "AttnLRP"
    case .gradxinput: "Gradient×Input"
    case .gradient: "Gradient (saliency)"
    case .integratedGradients: "Integrated Gradients"
    case .occlusion: "Occlusion"
    case .featureAblation: "Feature ablation"
    case .shapley: "Shapley values"
    case .kernelShap: "KernelSHAP"
    case .lime: "LIME"
    }
  }

  /// Whether the method perturbs the input and reads the model's outputs (no gradients).
  public var isPerturbation: Bool {
    switch self {
    case .lrp, .attnlrp, .gradxinput, .gradient, .integratedGradients: false
    case .occlusion, .featureAblation, .shapley, .kernelShap, .lime: true
    }
  }

  /// The perturbation methods.
  public static var perturbationMethods: [MethodKind] { allCases.filter(\.isPerturbation) }

  /// Whether `detaching` may add rules to this method one by one.
  public var takesDetachments: Bool { self == .gradxinput }

  /// The method with its settings: detachments (gradxinput only), the number of path
  /// points and quadrature for Integrated Gradients, and window, stride, samples, seed
  /// and units for perturbation methods.
  public func method(
    detaching: Set<RuleOperation> = [], steps: Int = 32,
    integration: IntegratedGradients.Rule = .gaussLegendre,
    perturbation: PerturbationSettings = PerturbationSettings()
  ) -> any AttributionMethod {
    switch self {
    case .lrp: GradientTimesInput.lrp
    case .attnlrp: GradientTimesInput.attnLRP
    case .gradxinput: GradientTimesInput(detaching: detaching)
    case .gradient: GradientSaliency()
    case .integratedGradients: IntegratedGradients(steps: steps, rule: integration)
    case .occlusion, .featureAblation, .shapley, .kernelShap, .lime:
      PerturbationAttribution(kind: self, settings: perturbation)
    }
  }
}
