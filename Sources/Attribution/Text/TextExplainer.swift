import Models

/// Text classifiers as an `Explainer`: word pieces are the units, `[UNK]` removes one.
public struct TextExplainer: Explainer {
  /// The model.
  public let model: TextModel

  /// The explainer of `model`.
  public init(model: TextModel) { self.model = model }

  public var labels: [String] { model.config.labels }
  public var units: UnitKind { .tokens }
  public func name(of method: any AttributionMethod) -> String { method.name }
  public func prepare(_ record: String) throws -> EncodedText { try model.prepare(record) }

  public func batches(_ inputs: [EncodedText], method: any AttributionMethod) -> [[Int]] {
    BatchPlan.explaining(with: method).batches(lengths: inputs.map(\.ids.count))
  }

  public func explain(_ inputs: [EncodedText], method: any AttributionMethod, targets: [ClassTarget]) throws
    -> [TextExplanation]
  {
    try model.explain(encoded: inputs, method: method, targets: targets)
  }

  public func outputs(of explanation: TextExplanation) -> [Float] { explanation.logits }
  public func unitRelevance(of explanation: TextExplanation) -> [Float] { explanation.relevance }

  public func units(of input: EncodedText) -> [Int] {
    guard let tokenizer = model.tokenizer else { return [] }
    let special: Set<Int> = [tokenizer.classifierId, tokenizer.separatorId, tokenizer.padId]
    return input.ids.indices.filter { !special.contains(input.ids[$0]) }
  }

  public func perturb(_ input: EncodedText, removing positions: [Int]) throws -> EncodedText {
    guard let tokenizer = model.tokenizer else {
      throw ModelError.badInput("\(model.path): the model has no vocabulary, so it has no [UNK] token.")
    }
    return input.replacing(positions, with: "[UNK]", id: tokenizer.unknownId)
  }
}

extension TextModel {
  /// Explains every text of `texts` with `method` for `target` in one batched pass
  /// (Integrated Gradients: through the batched path runner). A text that cannot be
  /// explained (empty, no vocabulary) fails alone; a failure that concerns the
  /// model or the method fails the call.
  public func explain(_ texts: [String], method: any AttributionMethod, target: ClassTarget = .predicted)
    throws -> [Result<TextExplanation, ModelError>]
  {
    try explain(texts, method: method, targets: Array(repeating: target, count: texts.count))
  }

  /// Explains `texts[i]` for `targets[i]`, all in one batched pass.
  public func explain(_ texts: [String], method: any AttributionMethod, targets: [ClassTarget])
    throws -> [Result<TextExplanation, ModelError>]
  {
    precondition(targets.count == texts.count, "one target per text")
    var results = [Result<TextExplanation, ModelError>?](repeating: nil, count: texts.count)
    var encodedTexts: [(index: Int, encoded: EncodedText)] = []
    for (index, text) in texts.enumerated() {
      do {
        encodedTexts.append((index, try prepare(text)))
      } catch let error as ModelError {
        results[index] = .failure(error)
      }
    }
    if !encodedTexts.isEmpty {
      let explanations = try explain(
        encoded: encodedTexts.map(\.encoded), method: method, targets: encodedTexts.map { targets[$0.index] })
      for (item, explanation) in zip(encodedTexts, explanations) {
        results[item.index] = .success(explanation)
      }
    }
    return results.map { $0! }
  }

  /// Explains `text` with `method` for `target`; with `audit`, also the sum of relevance
  /// at every sublayer input and the bias share, from the same backward pass.
  public func explain(
    _ text: String, method: any AttributionMethod, target: ClassTarget = .predicted, audit: Bool = false
  ) throws -> TextExplanation {
    guard audit else { return try explain([text], method: method, target: target)[0].get() }
    guard method is GradientTimesInput else { throw AuditUnavailableError(method: method.name) }
    return try explain(encoded: [prepare(text)], method: method, targets: [target], audit: true)[0]
  }

  /// The units a perturbation method removes from `text`: every token but `[CLS]` and
  /// `[SEP]` (those the baseline keeps), alone or with the other pieces of its word.
  public static func units(of text: EncodedText, grouping: UnitGrouping) -> UnitLayout {
    let tokens = text.tokens
    let special = { (position: Int) in tokens[position].word == nil }
    switch grouping {
    case .tokens:
      return UnitLayout(groups: tokens.indices.filter { !special($0) }.map { [$0] })
    case .words:
      return UnitLayout(
        groups: WordPieceTokenizer.wordRanges(tokens.map(\.piece), isSpecial: special)
          .filter { !special($0.lowerBound) }.map(Array.init))
    }
  }

  /// `text` tokenized and checked for this model: not empty, ids inside the vocabulary.
  public func prepare(_ text: String) throws -> EncodedText {
    guard !text.unicodeScalars.allSatisfy({ $0.properties.isWhitespace }) else {
      throw ModelError.badInput("The text is empty; give a sentence to explain.")
    }
    let encoded = try encode(text)
    try validate(ids: encoded.ids)
    return encoded
  }

  /// One batched pass over texts already prepared (`prepare`), `texts[i]` for `targets[i]`.
  public func explain(
    encoded texts: [EncodedText], method: any AttributionMethod, targets: [ClassTarget], audit: Bool = false
  ) throws -> [TextExplanation] {
    guard network.hasClassifier else {
      throw ModelError.badInput("\(path): the model has no classification head to explain.")
    }
    let missing = method.missingOperations(in: network.body.ruleOperations)
    guard missing.isEmpty else { throw MissingOperationError(method: method.name, operations: missing) }
    let batch = embedded(texts, withBaseline: method.needsBaseline)
    let probe = audit ? RelevanceProbe() : nil
    let input = AttributionInput(
      embeddings: batch.embeddings, keep: batch.keep, baseline: batch.baseline, probe: probe,
      units: texts.map { Self.units(of: $0, grouping: method.unitGrouping) },
      unitName: method.unitGrouping.rawValue)
    let rows = try method.attribute(network: network.body, input: input, targets: targets)
    for row in rows where !(row.logits + row.relevance + [row.baselineLogit ?? 0]).allSatisfy(\.isFinite) {
      throw ModelError.badInput(
        "\(path): the model's logits or relevance are not finite numbers (NaN or infinity) for this text; its weights overflow float32."
      )
    }
    let labels = config.labels
    let summary = MethodSummary(
      kind: method.kind, detached: method.rules.detached.filter(network.body.ruleOperations.contains))
    let audits: [RelevanceAudit?] = rows.map { row in
      probe.map { probe in
        RelevanceAudit(
          entries: probe.sums.map { RelevanceAudit.Entry(layer: $0.name, sumRelevance: $0.sum) },
          biasShare: probe.biasShare, sumTokens: row.relevance.reduce(0, +),
          targetLogit: row.logits[row.target])
      }
    }
    return zip(texts, rows).enumerated().map { index, item in
      let (encoded, row) = item
      let conservation = Conservation(
        sumRelevance: row.relevance.reduce(0, +), targetLogit: row.logits[row.target],
        baselineLogit: row.baselineLogit)
      return TextExplanation(
        modelName: name, method: summary, encoded: encoded, targetIndex: row.target,
        targetLabel: labels[row.target], labels: labels, logits: row.logits,
        probabilities: softmax(row.logits), relevance: row.relevance, conservation: conservation,
        audit: audits[index], perturbation: row.perturbation)
    }
  }
}
