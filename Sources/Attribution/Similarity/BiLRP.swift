// BiLRP (Eberle et al. 2020): the similarity of two texts' embeddings explained by pairs
// of tokens.
//
// Text A has the pooled embedding e_A = (1/T_A) Σ_t h_t ∈ ℝ^D (mean over its tokens of the
// encoder output); for the cosine, ê = e/‖e‖ with ‖e‖ held constant (as LRP holds σ). Each
// coordinate m of the embedding gets a Gradient×Input relevance per token under the
// method's rules, R_t^m(A) = Σ_d x_{t,d}·∂e_A^m/∂x_{t,d} at the embedding-block output x.
// The similarity s = Σ_m e_A^m e_B^m is a sum of products, so
//
//     R_ij = Σ_m R_i^m(A) · R_j^m(B)        (/(‖e_A‖‖e_B‖) for the cosine)
//
// and Σ_ij R_ij = Σ_m (Σ_i R_i^m(A))(Σ_j R_j^m(B)), which equals s when every coordinate's
// relevance is conserved (Σ_t R_t^m = e^m); the biases after the embedding block (and a
// non-conservative rule) make up the residual.
//
// Σ_m over any orthonormal basis {u_k} gives the same matrix (Σ_k u_k u_kᵀ = I), and R^u is
// linear in u. Two computations give R^u for a set of directions:
//   forward mode  one direction per token, t = x ⊙ 1_t, pushed through the encoder
//                 (TangentPass.swift): token t's relevance for every coordinate at once,
//                 T_A·T_A rows of every product;
//   backward      one backward pass per direction u_k, the K directions as K identical rows
//                 of one batch seeded with u_k: K·T_A rows, forward included.
// The cheaper one runs (forward mode when T ≤ K). With `rank` K ≤ D the directions are the
// top-K eigenvectors of Ĥ_Aᵀ Ĥ_A + Ĥ_Bᵀ Ĥ_B, Ĥ the rows h_t/(T·‖e‖) (each token's share of
// the normalised embedding): at the encoder output, where the BiLRP matrix is exactly
// Ĥ_A Ĥ_Bᵀ, the part the other directions carry is bounded by half the sum of their
// eigenvalues, and that truncation error is reported (and the exact error, whenever the
// full relevance was computed anyway).
import Foundation
import Models
import Tensor

/// What the relevance matrix explains.
public enum SimilarityScore: String, CaseIterable, Sendable {
  /// ê_A·ê_B, the normalised embeddings' dot product (what sentence-transformers reports).
  case cosine
  /// e_A·e_B of the pooled embeddings.
  case dot
}

/// How the per-coordinate relevances are computed (the answer is the same up to rounding).
public enum SimilarityComputation: String, Sendable {
  /// Forward mode when a text has at most as many tokens as directions, else backward.
  case automatic
  /// One tangent per token (forward mode).
  case forwardMode = "forward-mode"
  /// One batch row per direction, one backward pass.
  case backward
}

/// A setting BiLRP cannot take (a method without a Gradient×Input form, a rank out of range).
public struct SimilaritySettingError: Error, Equatable, CustomStringConvertible {
  public let description: String
}

/// BiLRP over a sentence encoder.
public struct SimilarityExplainer: Sendable {
  /// The encoder.
  public let encoder: SentenceEncoder

  /// The methods BiLRP takes: Gradient×Input forms, whose relevance is linear in the seed.
  public static let methods: [MethodKind] = [.lrp, .attnlrp, .gradxinput]

  /// Rows of the widest layer one group of directions may use (memory: rows × FFN width × 4 bytes).
  public static let rowBudget = 8192

  public init(encoder: SentenceEncoder) {
    self.encoder = encoder
  }

  /// The rules `method` propagates with, or a usage error for a method without them.
  public static func rules(of method: MethodKind) throws -> PropagationRules {
    switch method {
    case .lrp: GradientTimesInput.lrp.rules
    case .attnlrp: GradientTimesInput.attnLRP.rules
    case .gradxinput: PropagationRules.gradient
    default:
      throw SimilaritySettingError(
        description:
          "BiLRP needs a relevance that is linear in the explained output: --method lrp, attnlrp or gradxinput, not \(method.rawValue)."
      )
    }
  }

  /// Checks a rank against the embedding width.
  public func check(rank: Int?) throws {
    if let rank, rank < 1 || rank > encoder.width {
      throw SimilaritySettingError(
        description: "--rank must be between 1 and \(encoder.width) (the embedding width of \(encoder.name)); got \(rank).")
    }
  }

  /// Explains the similarity of texts `a` and `b`.
  public func explain(
    _ a: String, _ b: String, method: MethodKind, score: SimilarityScore = .cosine, rank: Int? = nil,
    computation: SimilarityComputation = .automatic
  ) throws -> SimilarityExplanation {
    let encodedA: EncodedText
    let encodedB: EncodedText
    do { encodedA = try encoder.encode(a) } catch let error as ModelError { throw ModelError.badInput("text A: \(error)") }
    do { encodedB = try encoder.encode(b) } catch let error as ModelError { throw ModelError.badInput("text B: \(error)") }
    return try explain(encodedA, encodedB, method: method, score: score, rank: rank, computation: computation)
  }

  /// Explains the similarity of two tokenized texts.
  public func explain(
    _ a: EncodedText, _ b: EncodedText, method: MethodKind, score: SimilarityScore = .cosine, rank: Int? = nil,
    computation: SimilarityComputation = .automatic
  ) throws -> SimilarityExplanation {
    let rules = try Self.rules(of: method)
    try check(rank: rank)
    let width = encoder.width
    let body = encoder.model.network.body
    let sides = [a, b].map { text -> (x: Tensor, hidden: Tensor, pooled: [Double]) in
      let x = withoutGrad { encoder.model.network.embed(TokenBatch([text.ids])) }
      let hidden = withoutGrad { body.encode(embeddings: x, keep: KeepMask(lengths: [text.ids.count]), pass: .plain) }
      let length = text.ids.count
      var pooled = [Double](repeating: 0, count: width)
      hidden.withUnsafeBufferPointer { h in
        for t in 0..<length { for d in 0..<width { pooled[d] += Double(h[t * width + d]) } }
      }
      return (x, hidden, pooled.map { $0 / Double(length) })
    }
    let norms = sides.map { side in max(side.pooled.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-12) }
    let dot = zip(sides[0].pooled, sides[1].pooled).reduce(0) { $0 + $1.0 * $1.1 }
    let cosine = dot / (norms[0] * norms[1])
    let scale = score == .cosine ? 1 / (norms[0] * norms[1]) : 1

    // The directions: the standard basis, or the top-K principal directions.
    var directions: [Double]?  // [K, D] row-major, nil = identity
    var eigenvalues: [Double] = []
    if let rank, rank <= width {
      let shares = zip(sides, norms).map { side, norm in
        side.hidden.scalars.map { Double($0) / (Double(side.hidden.shape[1]) * norm) }
      }
      var moments = [Double](repeating: 0, count: width * width)
      for share in shares {
        let length = share.count / width
        for t in 0..<length {
          for i in 0..<width {
            let value = share[t * width + i]
            if value == 0 { continue }
            for j in 0...i { moments[i * width + j] += value * share[t * width + j] }
          }
        }
      }
      for i in 0..<width { for j in 0..<i { moments[j * width + i] = moments[i * width + j] } }
      guard let (values, vectors) = BLAS.symmetricEigen(moments, n: width) else {
        throw ModelError.badInput("the principal directions of the two texts could not be computed (LAPACK failed).")
      }
      directions = Array(vectors[0..<(rank * width)])
      eigenvalues = values
    }
    let count = directions == nil ? width : rank!

    // Per text: relevance [T, count] of every token for every direction.
    var relevances: [[Double]] = []
    var full: [[Double]?] = []
    var used: [SimilarityComputation] = []
    for (text, side) in zip([a, b], sides) {
      let length = text.ids.count
      let forward =
        switch computation {
        case .automatic: length <= count
        case .forwardMode: true
        case .backward: false
        }
      used.append(forward ? .forwardMode : .backward)
      if forward {
        let perCoordinate = forwardModeRelevance(x: side.x, rules: rules)  // [T, D]
        full.append(perCoordinate)
        relevances.append(directions.map { project(perCoordinate, rows: length, on: $0, count: count) } ?? perCoordinate)
      } else {
        full.append(nil)
        relevances.append(
          try backwardRelevance(x: side.x, rules: rules, directions: directions, count: count))
      }
    }
    let (lengthA, lengthB) = (a.ids.count, b.ids.count)
    func matrix(_ ra: [Double], _ rb: [Double], columns: Int) -> [Double] {
      var result = [Double](repeating: 0, count: lengthA * lengthB)
      for i in 0..<lengthA {
        for j in 0..<lengthB {
          var sum = 0.0
          for k in 0..<columns { sum += ra[i * columns + k] * rb[j * columns + k] }
          result[i * lengthB + j] = sum * scale
        }
      }
      return result
    }
    let values = matrix(relevances[0], relevances[1], columns: count)

    var lowRank: SimilarityExplanation.LowRank?
    if let rank, let directions {
      // The score the K directions carry, and the truncation error at the encoder output.
      let unit = zip(sides, norms).map { side, norm in side.pooled.map { $0 / norm } }
      var carried = 0.0
      for k in 0..<rank {
        let u = directions[(k * width)..<((k + 1) * width)]
        carried += zip(u, unit[0]).reduce(0) { $0 + $1.0 * $1.1 } * zip(u, unit[1]).reduce(0) { $0 + $1.0 * $1.1 }
      }
      let shares = zip(sides, norms).map { side, norm in
        side.hidden.scalars.map { Double($0) / (Double(side.hidden.shape[1]) * norm) }
      }
      let projected = zip(shares, [lengthA, lengthB]).map { project($0, rows: $1, on: directions, count: rank) }
      var largest = 0.0
      var largestError = 0.0
      for i in 0..<lengthA {
        for j in 0..<lengthB {
          var exact = 0.0
          for d in 0..<width { exact += shares[0][i * width + d] * shares[1][j * width + d] }
          var truncated = 0.0
          for k in 0..<rank { truncated += projected[0][i * rank + k] * projected[1][j * rank + k] }
          largest = max(largest, abs(exact))
          largestError = max(largestError, abs(exact - truncated))
        }
      }
      var exactError: Double?
      if let fullA = full[0], let fullB = full[1] {
        let complete = matrix(fullA, fullB, columns: width)
        let top = complete.map(abs).max() ?? 0
        exactError = top > 0 ? zip(complete, values).map { abs($0 - $1) }.max()! / top : 0
      }
      lowRank = SimilarityExplanation.LowRank(
        rank: rank, carriedCosine: carried,
        encoderOutputError: largest > 0 ? largestError / largest : 0,
        discardedEigenvalues: eigenvalues.dropFirst(rank).reduce(0, +),
        exactError: exactError)
    }
    let computationName: SimilarityComputation = used.allSatisfy { $0 == used[0] } ? used[0] : .automatic
    return SimilarityExplanation(
      modelName: encoder.name, method: MethodKind(name: methodName(method))!, score: score,
      a: SimilarityExplanation.Side(encoded: a, embedding: sides[0].pooled, norm: norms[0]),
      b: SimilarityExplanation.Side(encoded: b, embedding: sides[1].pooled, norm: norms[1]),
      dot: dot, cosine: cosine, matrix: values, lowRank: lowRank,
      computation: computationName == .automatic ? "forward mode for one text, backward for the other" : computationName.rawValue,
      normalizes: encoder.normalizes)
  }

  private func methodName(_ method: MethodKind) -> String { method.rawValue }

  /// R[t, m] for every token t and coordinate m of the pooled embedding: forward mode with
  /// one direction x ⊙ 1_t per token.
  func forwardModeRelevance(x: Tensor, rules: PropagationRules) -> [Double] {
    let (length, width) = (x.shape[1], x.shape[2])
    var tangents = [Float](repeating: 0, count: length * length * width)
    x.withUnsafeBufferPointer { px in
      for t in 0..<length {
        for d in 0..<width { tangents[(t * length + t) * width + d] = px[t * width + d] }
      }
    }
    let pushed = encoder.model.network.body.encodeWithTangents(
      embeddings: x, tangents: tangents, count: length, rules: rules, rowBudget: Self.rowBudget
    ).tangents
    var result = [Double](repeating: 0, count: length * width)
    for t in 0..<length {
      for position in 0..<length {
        let base = (t * length + position) * width
        for d in 0..<width { result[t * width + d] += Double(pushed[base + d]) }
      }
    }
    return result.map { $0 / Double(length) }
  }

  /// R[t, k] for every token t and direction k: the directions as identical rows of one
  /// batch (in groups within the row budget), each seeded with its direction, one backward.
  func backwardRelevance(x: Tensor, rules: PropagationRules, directions: [Double]?, count: Int) throws -> [Double] {
    let (length, width) = (x.shape[1], x.shape[2])
    let group = max(1, Self.rowBudget / max(length, 1))
    var result = [Double](repeating: 0, count: length * count)
    let row = x.scalars
    var start = 0
    while start < count {
      let end = min(count, start + group)
      let rows = end - start
      let batch = Tensor(shape: [rows, length, width], scalars: Array([[Float]](repeating: row, count: rows).joined()))
      let leaf = batch.requiringGrad()
      let hidden = encoder.model.network.body.encode(
        embeddings: leaf, keep: KeepMask(lengths: Array(repeating: length, count: rows)), rules: rules)
      let pooled = hidden.mean(axis: 1)  // [rows, D]
      var seed = [Float](repeating: 0, count: rows * width)
      for r in 0..<rows {
        let k = start + r
        for d in 0..<width {
          seed[r * width + d] = directions.map { Float($0[k * width + d]) } ?? (d == k ? 1 : 0)
        }
      }
      pooled.backward(seed: Tensor(shape: pooled.shape, scalars: seed))
      guard let gradient = leaf.grad else { throw ModelError.badInput("the encoder passed no gradient to its input.") }
      gradient.withUnsafeBufferPointer { g in
        for r in 0..<rows {
          for t in 0..<length {
            var sum = 0.0
            for d in 0..<width { sum += Double(row[t * width + d]) * Double(g[(r * length + t) * width + d]) }
            result[t * count + start + r] = sum
          }
        }
      }
      start = end
    }
    return result
  }

  /// values [rows, D] · directionsᵀ → [rows, count].
  func project(_ values: [Double], rows: Int, on directions: [Double], count: Int) -> [Double] {
    let width = values.count / max(rows, 1)
    var result = [Double](repeating: 0, count: rows * count)
    for t in 0..<rows {
      for k in 0..<count {
        var sum = 0.0
        for d in 0..<width { sum += values[t * width + d] * directions[k * width + d] }
        result[t * count + k] = sum
      }
    }
    return result
  }
}
