import Models

/// BiLRP over a data set of text pairs, as an `Explainer` for the data-set pass: each pair
/// is its own batch (its two texts run one at a time), the method is the rule set.
public struct PairExplainer: Explainer {
  /// The BiLRP explainer of the encoder.
  public let similarity: SimilarityExplainer
  /// What the matrix explains.
  public let score: SimilarityScore
  /// K principal directions, or nil for all of them.
  public let rank: Int?

  public init(similarity: SimilarityExplainer, score: SimilarityScore = .cosine, rank: Int? = nil) {
    self.similarity = similarity
    self.score = score
    self.rank = rank
  }

  public var labels: [String] { [] }
  public var units: UnitKind { .tokens }
  public func name(of method: MethodKind) -> String { method.rawValue }

  public func prepare(_ record: TextPair) throws -> (a: EncodedText, b: EncodedText) {
    let encoder = similarity.encoder
    let a: EncodedText
    let b: EncodedText
    do { a = try encoder.encode(record.a) } catch let error as ModelError { throw ModelError.badInput("field 'a': \(error)") }
    do { b = try encoder.encode(record.b) } catch let error as ModelError { throw ModelError.badInput("field 'b': \(error)") }
    return (a, b)
  }

  public func batches(_ inputs: [(a: EncodedText, b: EncodedText)], method: MethodKind) -> [[Int]] {
    inputs.indices.map { [$0] }
  }

  public func explain(_ inputs: [(a: EncodedText, b: EncodedText)], method: MethodKind, targets: [ClassTarget])
    throws -> [SimilarityExplanation]
  {
    try inputs.map { try similarity.explain($0.a, $0.b, method: method, score: score, rank: rank) }
  }

  public func outputs(of explanation: SimilarityExplanation) -> [Float] { [Float(explanation.scoreValue)] }

  public func units(of input: (a: EncodedText, b: EncodedText)) -> [Int] {
    input.a.tokens.indices.filter { input.a.tokens[$0].word != nil }
  }

  public func unitRelevance(of explanation: SimilarityExplanation) -> [Float] {
    explanation.relevanceA.map(Float.init)
  }

  public func perturb(_ input: (a: EncodedText, b: EncodedText), removing positions: [Int]) throws -> (
    a: EncodedText, b: EncodedText
  ) {
    throw ModelError.badInput("BiLRP explanations are not perturbed (no faithfulness protocol for pairs yet).")
  }
}
