// Saliency:        R_t = ‖∂f/∂e_t‖₂
// Gradient×Input:  R_t = Σ_d e_{t,d}·∂f/∂e_{t,d}  (with detachment rules: LRP by detachment)
// Both from one forward pass under the method's rules and one backward pass per batch.
import Models
import Tensor

/// Saliency: R_t = ‖∂f/∂e_t‖₂ (L2 norm over the hidden dimension), plain gradients.
public struct GradientSaliency: AttributionMethod {
  public let kind = MethodKind.gradient
  public let rules = PropagationRules.gradient
  public let needsBaseline = false

  /// The method (it has no settings).
  public init() {}

  public func attribute(network: any EncoderClassifier, input: AttributionInput, targets: [ClassTarget])
    throws -> [PositionAttribution]
  {
    let pass = try TargetGradientPass(network: network, input: input, targets: targets, rules: rules)
    let norms = positionDot(pass.gradient, pass.gradient).sqrt()
    return pass.attributions(relevance: rowsByLength(norms, keep: input.keep), input: input)
  }
}

/// Gradient×Input at the embedding-block output: R_t = Σ_d e_{t,d}·∂f/∂e_{t,d}.
///
/// With detachment rules this is LRP by detachment ("conservative propagation"):
/// `lrp` is this method with every rule the network has (LayerNorm σ, attention
/// probabilities, GELU's Φ, the pooler's tanh ratio held constant).
public struct GradientTimesInput: AttributionMethod {
  public let kind: MethodKind
  public let rules: PropagationRules
  public let needsBaseline = false

  /// Plain Gradient×Input, or with the detachment rule on `operations`.
  public init(detaching operations: Set<RuleOperation> = []) {
    kind = .gradxinput
    rules = PropagationRules(detaching: operations)
  }

  /// LRP by detachment: every detachment rule the network has.
  public static let lrp = GradientTimesInput(kind: .lrp, rules: .detachingAll)

  /// AttnLRP (Achtibat et al. 2024, LXT's efficient mode): σ, Φ and the tanh ratio
  /// constant, the softmax differentiated as is, and S = q·kᵀ and O = P·v each passing
  /// half of the gradient to each operand.
  public static let attnLRP = GradientTimesInput(
    kind: .attnlrp,
    rules: PropagationRules(
      attention: .uniformSplit, layerNorm: .constantSigma, gelu: .constantPhi, tanh: .constantRatio))

  /// Gradient×Input under any `rules` (AttnLRP and the audit build on this).
  init(kind: MethodKind, rules: PropagationRules) {
    self.kind = kind
    self.rules = rules
  }

  public func missingOperations(in present: Set<RuleOperation>) -> [RuleOperation] {
    kind.takesDetachments ? rules.modified.subtracting(present).sorted() : []
  }

  public func attribute(network: any EncoderClassifier, input: AttributionInput, targets: [ClassTarget])
    throws -> [PositionAttribution]
  {
    let pass = try TargetGradientPass(network: network, input: input, targets: targets, rules: rules)
    return pass.attributions(
      relevance: rowsByLength(positionDot(input.embeddings, pass.gradient), keep: input.keep), input: input)
  }
}

/// One forward pass under `rules` with gradients kept at the embeddings, each row's
/// target chosen from its logits, and one backward pass seeded with the one-hot targets.
struct TargetGradientPass {
  /// ∂ logit_{target(b)} / ∂ e_b for every row b, [B, T, D].
  let gradient: Tensor
  /// Logits of each row.
  let logits: [[Float]]
  /// The class explained in each row.
  let targets: [Int]

  init(
    network: any EncoderClassifier, input: AttributionInput, targets: [ClassTarget], rules: PropagationRules
  )
    throws
  {
    precondition(targets.count == input.keep.batchSize, "one target per row")
    let leaf = input.embeddings.detach().requiringGrad()
    let output = network.logits(
      embeddings: leaf, keep: input.keep, pass: ForwardPass(rules: rules, probe: input.probe))
    logits = rows(output.detach())
    self.targets = try zip(targets, logits).map { try $0.index(labels: network.labels, logits: $1) }
    let classes = output.shape[1]
    var seed = [Float](repeating: 0, count: output.count)
    for (row, target) in self.targets.enumerated() { seed[row * classes + target] = 1 }
    output.backward(seed: Tensor(shape: output.shape, scalars: seed))
    gradient = leaf.grad ?? Tensor.zeros(input.embeddings.shape)
  }

  /// One result per row with these relevances (and the gradient, when `input` asks).
  func attributions(relevance: [[Float]], input: AttributionInput) -> [PositionAttribution] {
    let gradients = gradientRows(gradient, keep: input.keep, wanted: input.keepsGradient)
    return relevance.indices.map {
      PositionAttribution(
        relevance: relevance[$0], logits: logits[$0], target: targets[$0], baselineLogit: nil,
        gradient: gradients[$0])
    }
  }
}
