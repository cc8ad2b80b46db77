import Models

/// A prompt ready for a language model: its tokens, the units (the prompt's own
/// tokens), and the next token to explain.
public struct PreparedPrompt: Sendable, Equatable {
  /// Token ids of the prompt (after the chat template, special tokens included).
  public let ids: [Int]
  /// Positions of the prompt's own tokens (no BOS or template text).
  public let units: [Int]
  /// The next token to explain, nil for the model's greedy choice.
  public let target: Int?
  /// The contrast token (explain target − contrast), or nil.
  public let contrast: Int?

  /// A prepared prompt from its parts.
  public init(ids: [Int], units: [Int], target: Int?, contrast: Int?) {
    self.ids = ids
    self.units = units
    self.target = target
    self.contrast = contrast
  }
}

/// Next-token explanations of a language model over a data set of prompts, as an
/// `Explainer`: each prompt is explained alone (one forward and one backward pass, or the
/// Integrated Gradients path), the prompt's own tokens are the units, and a removed unit
/// becomes the model's neutral token (`LanguageModel.neutralToken`), so that positions stay.
public struct PromptExplainer: Explainer {
  /// The model.
  public let model: LanguageModel
  /// The chat template format every prompt is put in, or nil for the plain prompt.
  public let chat: ChatFormat?
  /// Integrated Gradients' path.
  public let integratedGradients: IntegratedGradients
  /// The perturbation methods' window, stride, samples and seed.
  public let perturbation: PerturbationSettings

  /// The explainer of `model`, prompts formatted with `chat`.
  public init(
    model: LanguageModel, chat: ChatFormat? = nil, integratedGradients: IntegratedGradients = IntegratedGradients(),
    perturbation: PerturbationSettings = PerturbationSettings()
  ) {
    self.model = model
    self.chat = chat
    self.integratedGradients = integratedGradients
    self.perturbation = perturbation
  }

  /// The gradient methods a language model explains with (the default set).
  public static let methods: [MethodKind] = [.lrp, .attnlrp, .gradxinput, .integratedGradients]
  /// Every method a language model's next token takes: the gradient methods and the
  /// perturbation methods over the prompt's tokens.
  public static let allMethods: [MethodKind] = methods + MethodKind.perturbationMethods

  /// No classes: the explained token is each prompt's own.
  public var labels: [String] { [] }
  public var units: UnitKind { .promptTokens }
  public func name(of method: MethodKind) -> String { method.rawValue }

  /// Tokenizes the prompt (a prompt of only spaces is empty) and reads its target and
  /// contrast as single tokens.
  public func prepare(_ record: PromptRecord) throws -> PreparedPrompt {
    guard !record.prompt.unicodeScalars.allSatisfy({ $0.properties.isWhitespace }) else {
      throw ModelError.badInput("the prompt is empty; give text whose next token is explained.")
    }
    let tokens = try model.promptTokens(record.prompt, chat: chat)
    try model.validate(ids: tokens.ids)
    let target = try record.target.map { try model.tokenId($0, what: "the target") }
    let contrast = try record.contrast.map { try model.tokenId($0, what: "the contrast") }
    return PreparedPrompt(ids: tokens.ids, units: tokens.units, target: target, contrast: contrast)
  }

  /// Each prompt alone.
  public func batches(_ inputs: [PreparedPrompt], method: MethodKind) -> [[Int]] { inputs.indices.map { [$0] } }

  /// The next-token explanation of each prompt (class targets do not apply: a prompt
  /// names its own target).
  public func explain(_ inputs: [PreparedPrompt], method: MethodKind, targets: [ClassTarget]) throws
    -> [LanguageExplanation]
  {
    try inputs.map { input in
      // Perturbation methods replace the prompt's own tokens (never a BOS or the chat
      // template's text), the units `xai eval` ranks.
      let explanation =
        method.isPerturbation
        ? try model.explainByPerturbation(
          promptIds: input.ids, target: input.target, contrast: input.contrast, method: method,
          settings: perturbation, units: input.units)
        : try model.explain(
          promptIds: input.ids, request: .nextToken(target: input.target, contrast: input.contrast), method: method,
          integratedGradients: integratedGradients)
      for step in explanation.steps
      where !(step.relevance + step.probabilities + [step.value, step.baselineValue ?? 0]).allSatisfy(\.isFinite) {
        throw ModelError.badInput(
          "the model's logits or relevance are not finite numbers (NaN or infinity) for this prompt; its weights overflow float32.")
      }
      return explanation
    }
  }

  /// No class outputs.
  public func outputs(of explanation: LanguageExplanation) -> [Float] { [] }
  public func units(of input: PreparedPrompt) -> [Int] { input.units }

  /// The relevance of every position for the (single) explained step.
  public func unitRelevance(of explanation: LanguageExplanation) -> [Float] {
    explanation.steps.first?.relevance ?? []
  }

  /// `input` with the tokens at `positions` replaced by the neutral token.
  public func perturb(_ input: PreparedPrompt, removing positions: [Int]) throws -> PreparedPrompt {
    var ids = input.ids
    for position in positions { ids[position] = model.neutralToken }
    return PreparedPrompt(ids: ids, units: input.units, target: input.target, contrast: input.contrast)
  }

  /// A language model has no labels.
  public func classIndex(ofLabel label: String) -> Int? { nil }
}
