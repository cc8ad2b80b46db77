import Models
import Tensor

/// Saliency: R_t = ‖∂f/∂e_t‖₂ (L2 norm over the hidden dimension), plain gradients.
public struct GradientSaliency: TextAttributionMethod {
  public let name = "gradient"
  public let hooks = DetachmentHooks.none

  /// The method (it has no settings).
  public init() {}

  public func attribute(model: any TextClassifier, input: TextInput, target: Int)
    -> TokenAttribution
  {
    let (gradient, _) = targetGradient(
      model: model, embeddings: input.embeddings, batch: input.batch, target: target, hooks: hooks)
    return TokenAttribution(relevance: tokenDot(gradient, gradient).map { $0.squareRoot() })
  }
}

/// Gradient×Input at the embedding-block output: R_t = Σ_d e_{t,d}·∂f/∂e_{t,d}.
///
/// With detachment hooks this is LRP by detachment ("conservative propagation"):
/// `lrp` is this method with every hook on (LayerNorm σ, attention probabilities,
/// GELU's Φ, the pooler's tanh ratio held constant).
public struct GradientTimesInput: TextAttributionMethod {
  public let name: String
  public let hooks: DetachmentHooks

  /// Plain Gradient×Input, or with `hooks` switched on.
  public init(hooks: DetachmentHooks = .none) {
    self.hooks = hooks
    name = "gradxinput"
  }

  /// LRP by detachment: every hook on.
  public static var lrp: GradientTimesInput { GradientTimesInput(hooks: .all, name: "lrp") }

  init(hooks: DetachmentHooks, name: String) {
    self.hooks = hooks
    self.name = name
  }

  public func attribute(model: any TextClassifier, input: TextInput, target: Int)
    -> TokenAttribution
  {
    let (gradient, _) = targetGradient(
      model: model, embeddings: input.embeddings, batch: input.batch, target: target, hooks: hooks)
    return TokenAttribution(relevance: tokenDot(input.embeddings, gradient))
  }
}
