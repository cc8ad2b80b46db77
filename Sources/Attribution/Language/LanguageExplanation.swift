import Foundation
import Models
import Tensor

/// What to explain about a language model's text.
public enum LanguageRequest: Sendable, Equatable {
  /// The next token after the prompt: the model's choice, or `target`; with `contrast`, the
  /// logit difference target − contrast.
  case nextToken(target: Int?, contrast: Int?)
  /// Generate `count` tokens (greedy), then explain each generated token over every earlier
  /// position; `only` limits which (0-based indices into the generated tokens).
  case generated(count: Int, only: [Int]?)
  /// Generate `count` tokens, then explain the summed log-probability of generated tokens
  /// `span` (0-based, half-open) in one backward pass.
  case span(count: Int, span: Range<Int>)
}

/// Relevance of the earlier positions of a sequence for one or more of its tokens.
public struct LanguageExplanation: Sendable {
  /// One explained target.
  public struct Step: Sendable, Equatable {
    /// Index into the generated tokens (nil for the next token of the prompt).
    public let generatedIndex: Int?
    /// Positions whose logits are read: the prediction at position p is token p + 1.
    public let positions: [Int]
    /// The explained token(s), and the contrast token.
    public let tokens: [Int]
    public let contrast: Int?
    /// Their text as a reader sees it.
    public let tokenTexts: [String]
    public let contrastText: String?
    /// f: a logit, a logit difference or a summed log-probability.
    public let value: Float
    /// For Integrated Gradients and perturbation methods: f at the baseline (the end token's
    /// embedding at every position).
    public let baselineValue: Float?
    /// p(token | earlier) of each explained token (the model's softmax).
    public let probabilities: [Float]
    /// R_s for s = 0 … the last position read (later positions are 0 by causality).
    public let relevance: [Float]
    /// What f is, for reports: `logit`, `logit difference`, `log-probability`.
    public let quantity: String
    /// With `audit`: Σ h·∂f/∂h at every sublayer input and the bias share, from this step's
    /// own backward pass.
    public let audit: RelevanceAudit?
    /// Perturbation methods: the units, their relevance and the evaluations used.
    public let perturbation: PerturbationOutcome?

    public init(
      generatedIndex: Int?, positions: [Int], tokens: [Int], contrast: Int?, tokenTexts: [String],
      contrastText: String?, value: Float, baselineValue: Float? = nil, probabilities: [Float], relevance: [Float],
      quantity: String, audit: RelevanceAudit? = nil, perturbation: PerturbationOutcome? = nil
    ) {
      self.audit = audit
      self.perturbation = perturbation
      self.baselineValue = baselineValue
      self.generatedIndex = generatedIndex
      self.positions = positions
      self.tokens = tokens
      self.contrast = contrast
      self.tokenTexts = tokenTexts
      self.contrastText = contrastText
      self.value = value
      self.probabilities = probabilities
      self.relevance = relevance
      self.quantity = quantity
    }
  }

  public init(modelName: String, method: MethodKind, ids: [Int], tokens: [String], promptCount: Int, steps: [Step]) {
    self.modelName = modelName
    self.method = method
    self.ids = ids
    self.tokens = tokens
    self.promptCount = promptCount
    self.steps = steps
  }

  public let modelName: String
  public let method: MethodKind
  /// Every token id of the explained sequence (prompt, then generated tokens).
  public let ids: [Int]
  /// Their text as a reader sees it (byte-level tokens decoded).
  public let tokens: [String]
  /// How many of `ids` are the prompt.
  public let promptCount: Int
  /// Generated token ids after the prompt (empty for a next-token explanation).
  public var generated: [Int] { Array(ids[promptCount...]) }
  public let steps: [Step]

  /// Σ over steps of each source's relevance (Captum's `seq_attr` for a matrix).
  public var sourceTotals: [Float] {
    var totals = [Float](repeating: 0, count: ids.count)
    for step in steps { for (s, r) in step.relevance.enumerated() { totals[s] += r } }
    return totals
  }
}

extension LanguageModel {
  /// The token whose embedding is Integrated Gradients' baseline: the model's first end
  /// token (SmolLM2's `<|im_end|>`, GPT-2's `<|endoftext|>`), else id 0.
  public var neutralToken: Int { config.eosTokenIds.first ?? 0 }

  /// Explains `prompt` (token ids) under `method` (gradxinput, lrp, attnlrp) as `request` asks.
  /// Integrated Gradients runs `integratedGradients.steps` forward and backward passes per
  /// target, from `baselineToken`'s embedding at every position. With `audit`, every step
  /// carries its relevance audit (Gradient×Input methods only, as for classifiers).
  public func explain(
    promptIds: [Int], request: LanguageRequest, method: MethodKind,
    integratedGradients: IntegratedGradients = IntegratedGradients(), audit: Bool = false
  ) throws -> LanguageExplanation {
    let baselineToken = neutralToken
    let rules = DecoderExplainer.rules(for: method)
    guard rules != nil || method == .integratedGradients else {
      throw ModelError.badInput(
        "--method \(method.rawValue) is not available for language models yet; use lrp, attnlrp, gradxinput or integrated-gradients.")
    }
    if audit && rules == nil { throw AuditUnavailableError(method: method.rawValue) }
    var ids = promptIds
    let stops = Set(config.eosTokenIds)
    switch request {
    case .nextToken: try validate(ids: ids)
    case .generated(let n, _), .span(let n, _):
      try validate(ids: ids, reserving: 1)
      let generated = network.generate(prompt: ids, maxNewTokens: n, stopTokens: stops).tokens
      ids += generated.map(\.id)
    }
    let promptCount = promptIds.count
    let explainer = DecoderExplainer(network: network)
    var targets: [DecoderTarget] = []
    var meta: [(index: Int?, positions: [Int], tokens: [Int], contrast: Int?, quantity: String)] = []
    switch request {
    case .nextToken(let target, let contrast):
      let position = ids.count - 1
      for id in [target, contrast].compactMap({ $0 }) where id < 0 || id >= config.vocabSize {
        throw ModelError.badInput("token id \(id) is outside the vocabulary of \(config.vocabSize).")
      }
      // Without a target, the model's choice is read off the explained pass itself.
      let chosen = target ?? -1
      if let contrast {
        targets.append(target == nil ? .predicted(position: position, contrast: contrast) : .contrast(position: position, token: chosen, contrast: contrast))
        meta.append((nil, [position], [chosen], contrast, "logit difference"))
      } else {
        targets.append(target == nil ? .predicted(position: position, contrast: nil) : .logit(position: position, token: chosen))
        meta.append((nil, [position], [chosen], nil, "logit"))
      }
    case .generated(_, let only):
      let produced = ids.count - promptCount
      let chosen = only ?? Array(0..<produced)
      if let bad = chosen.first(where: { $0 < 0 || $0 >= produced }) {
        throw ModelError.badInput("--tokens names generated token \(bad + 1), but \(produced) were generated.")
      }
      for index in chosen {
        let position = promptCount + index - 1
        targets.append(.logit(position: position, token: ids[position + 1]))
        meta.append((index, [position], [ids[position + 1]], nil, "logit"))
      }
    case .span(_, let span):
      let produced = ids.count - promptCount
      guard span.lowerBound >= 0, span.upperBound <= produced, !span.isEmpty else {
        throw ModelError.badInput(
          "--span \(span.lowerBound + 1):\(span.upperBound) is outside the \(produced) generated tokens.")
      }
      let pairs = span.map { (position: promptCount + $0 - 1, token: ids[promptCount + $0]) }
      targets.append(.logProbability(pairs))
      meta.append((span.lowerBound, pairs.map(\.position), pairs.map(\.token), nil, "log-probability"))
    }
    let results =
      rules.map { explainer.attribute(ids: ids, targets: targets, rules: $0, audit: audit) }
      ?? explainer.integratedGradients(
        ids: ids, targets: targets, nodes: integratedGradients.nodes, baselineToken: baselineToken)
    func text(_ id: Int) -> String { tokenizer?.displayText(of: id) ?? "#\(id)" }
    let steps = zip(results, meta).map { result, given in
      var info = given
      if case .logit(_, let token) = result.target { info.tokens = [token] }
      if case .contrast(_, let token, _) = result.target { info.tokens = [token] }
      return LanguageExplanation.Step(
        generatedIndex: info.index, positions: info.positions, tokens: info.tokens, contrast: info.contrast,
        tokenTexts: info.tokens.map(text), contrastText: info.contrast.map(text), value: result.value, baselineValue: result.baselineValue,
        probabilities: result.probabilities,
        relevance: Array(result.relevance.prefix((info.positions.max() ?? 0) + 1)), quantity: info.quantity,
        audit: result.audit)
    }
    let texts = ids.map(text)
    return LanguageExplanation(
      modelName: name, method: method, ids: ids, tokens: texts, promptCount: promptCount, steps: steps)
  }
}
