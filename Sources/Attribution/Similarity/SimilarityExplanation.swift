import Models

/// The BiLRP explanation of one pair of texts: the scores and the token × token matrix.
public struct SimilarityExplanation: Sendable {
  /// One text of the pair.
  public struct Side: Sendable {
    /// Its tokens (with `[CLS]` and `[SEP]`).
    public let encoded: EncodedText
    /// The mean-pooled embedding (not normalised), float64.
    public let embedding: [Double]
    /// ‖embedding‖.
    public let norm: Double

    /// Token strings.
    public var tokens: [String] { encoded.pieces }
    /// Whether a token is `[CLS]`/`[SEP]` (no word of the text).
    public var isSpecial: [Bool] { encoded.tokens.map { $0.word == nil } }
  }

  /// The low-rank approximation's settings and error.
  public struct LowRank: Sendable {
    /// K, the directions kept.
    public let rank: Int
    /// Σ_k (u_k·ê_A)(u_k·ê_B): the cosine the K directions carry.
    public let carriedCosine: Double
    /// max |exact − rank-K| / max |exact| of the BiLRP matrix at the encoder output (where it
    /// is Ĥ_A Ĥ_Bᵀ): the truncation measured before propagation through the encoder.
    public let encoderOutputError: Double
    /// Σ of the eigenvalues left out (twice the bound on the encoder-output error).
    public let discardedEigenvalues: Double
    /// max |exact − rank-K| / max |exact| of the explained matrix itself, when the full
    /// relevance of both texts was computed anyway (forward mode); else nil.
    public let exactError: Double?
  }

  /// The encoder's name.
  public let modelName: String
  /// lrp, attnlrp or gradxinput.
  public let method: MethodKind
  /// What the matrix explains.
  public let score: SimilarityScore
  /// Text A (rows).
  public let a: Side
  /// Text B (columns).
  public let b: Side
  /// e_A·e_B.
  public let dot: Double
  /// ê_A·ê_B.
  public let cosine: Double
  /// R_ij, [T_A × T_B] row-major, explaining `score`.
  public let matrix: [Double]
  /// Set when the relevance was computed in K principal directions.
  public let lowRank: LowRank?
  /// forward-mode or backward (or a mix, named).
  public let computation: String
  /// Whether the model normalises its embeddings (sentence-transformers' Normalize).
  public let normalizes: Bool

  /// The explained score's value.
  public var scoreValue: Double { score == .cosine ? cosine : dot }
  /// Σ_ij R_ij.
  public var sumRelevance: Double { matrix.reduce(0, +) }
  /// score − Σ_ij R_ij.
  public var residual: Double { scoreValue - sumRelevance }
  /// R_ij.
  public func value(_ i: Int, _ j: Int) -> Double { matrix[i * b.tokens.count + j] }
  /// Σ_j R_ij per token of A.
  public var relevanceA: [Double] {
    (0..<a.tokens.count).map { i in (0..<b.tokens.count).reduce(0) { $0 + value(i, $1) } }
  }
  /// Σ_i R_ij per token of B.
  public var relevanceB: [Double] {
    (0..<b.tokens.count).map { j in (0..<a.tokens.count).reduce(0) { $0 + value($1, j) } }
  }
  /// max |R_ij|.
  public var largestMagnitude: Double { matrix.map(abs).max() ?? 0 }

  /// One pair of tokens.
  public struct Pair: Sendable, Equatable {
    public let i: Int
    public let j: Int
    public let value: Double
  }

  /// The `count` pairs of word pieces (no `[CLS]`/`[SEP]`) with the largest |R_ij|.
  public func strongestPairs(_ count: Int) -> [Pair] {
    let (specialA, specialB) = (a.isSpecial, b.isSpecial)
    var pairs: [Pair] = []
    for i in 0..<a.tokens.count where !specialA[i] {
      for j in 0..<b.tokens.count where !specialB[j] { pairs.append(Pair(i: i, j: j, value: value(i, j))) }
    }
    pairs.sort { abs($0.value) != abs($1.value) ? abs($0.value) > abs($1.value) : ($0.i, $0.j) < ($1.i, $1.j) }
    return Array(pairs.prefix(count))
  }

  /// Σ R_ij over the pairs that involve `[CLS]` or `[SEP]` on either side.
  public var specialShare: Double {
    let (specialA, specialB) = (a.isSpecial, b.isSpecial)
    var total = 0.0
    for i in 0..<a.tokens.count {
      for j in 0..<b.tokens.count where specialA[i] || specialB[j] { total += value(i, j) }
    }
    return total
  }

  /// What the residual is, in one sentence.
  public var residualMeaning: String {
    switch method {
    case .lrp:
      "With every factor held constant each embedding coordinate is affine in the token rows, e^m = Σ_t R_t^m + b^m; the residual is what the biases after the embedding block carry, in either text and in their products with the other text's tokens."
    case .attnlrp:
      "The biases after the embedding block, plus what AttnLRP's softmax rule does not conserve in each embedding coordinate, multiplied across the two texts."
    default:
      "The biases after the embedding block, plus what plain gradients through LayerNorm, softmax and GELU do not conserve, multiplied across the two texts."
    }
  }
}
