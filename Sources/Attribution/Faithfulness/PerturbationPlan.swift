import Foundation

// Faithfulness by perturbation. Units u (tokens without [CLS]/[SEP], or graph nodes) are
// ranked by their relevance R_u and removed or restored in that order; a faithful
// explanation moves the model's output most with its most relevant units.
//   activation  (Ali et al. 2022, "generate"): all units [UNK], restore the top ⌊fn⌉ by R; p(y).
//   pruning     (Ali et al. 2022): set the ⌊fn⌉ least-|R| units to [UNK]; p(y) and Σ_c (z⁰_c − z_c)².
//   MoRF / LeRF (AttnLRP, Table 1): zero the embeddings of the ⌊fn⌉ most / least relevant
//               units; the target logit z_y. ΔA = A(LeRF) − A(MoRF).
//   AOPC        (DeYoung et al. 2020, ferret): delete the top ⌈kn⌉ units (comprehensiveness)
//               or all others (sufficiency), k = 10…50 %; mean of p⁰(y) − p(y).
// f runs over 0, 0.1, …, 1 and areas are trapezoids on [0, 1].

/// How a perturbation removes a unit.
public enum Removal: Hashable, Sendable {
  /// The unit's token becomes `[UNK]` (a graph node: removed).
  case unknownToken
  /// The unit's embedding-block output becomes zero (a graph node: removed).
  case zeroEmbedding
  /// The unit is deleted from the sequence (a graph node: removed).
  case deletion
}

/// One perturbed variant of an input: which units are removed, and how.
public struct Perturbation: Hashable, Sendable {
  /// How the units are removed.
  public let removal: Removal
  /// Removed units, ascending.
  public let removed: [Int]

  /// Removes `units` by `removal`.
  public init(_ removal: Removal, removing units: some Sequence<Int>) {
    self.removal = removal
    removed = units.sorted()
  }

  /// Whether the input stays as it is.
  public var isIdentity: Bool { removed.isEmpty }
}

/// The perturbation protocols, their fractions and their metrics.
public enum Faithfulness {
  /// Fractions of the units restored or removed along a curve.
  public static let fractions: [Double] = (0...10).map { Double($0) / 10 }
  /// Fractions k of the most relevant units deleted or kept for AOPC.
  public static let aopcFractions: [Double] = [0.1, 0.2, 0.3, 0.4, 0.5]

  /// Units moved at fraction `f` of `n` units along a curve (rounded half up).
  public static func count(_ f: Double, of n: Int) -> Int { Int((f * Double(n)).rounded()) }

  /// Units deleted or kept at AOPC fraction `k` of `n` units (rounded up, at least one).
  public static func aopcCount(_ k: Double, of n: Int) -> Int {
    min(n, max(1, Int((k * Double(n) - 1e-9).rounded(.up))))
  }

  /// Area under `values` sampled at equal steps on [0, 1] (trapezoid rule).
  public static func area(_ values: [Float]) -> Double {
    guard values.count > 1 else { return 0 }
    let step = 1 / Double(values.count - 1)
    return zip(values, values.dropFirst()).reduce(0) { $0 + (Double($1.0) + Double($1.1)) / 2 * step }
  }
}

/// The perturbations of one input under one relevance ordering, in a fixed layout, and
/// the curves read back from the model's logits on them.
public struct PerturbationPlan: Sendable {
  /// Number of units.
  public let unitCount: Int
  /// Every perturbation, in layout order: activation, pruning, MoRF, LeRF (11 each),
  /// comprehensiveness, sufficiency (5 each).
  public let perturbations: [Perturbation]

  /// The plan for units ranked by `relevance` (ties: the earlier unit first).
  public init(relevance: [Float]) {
    let n = relevance.count
    unitCount = n
    let units = Array(0..<n)
    let mostFirst = units.sorted { (relevance[$0], -$0) > (relevance[$1], -$1) }
    let leastFirst = units.sorted { (relevance[$0], $0) < (relevance[$1], $1) }
    let smallestMagnitudeFirst = units.sorted { (abs(relevance[$0]), $0) < (abs(relevance[$1]), $1) }
    func curve(_ body: (Int) -> Perturbation) -> [Perturbation] {
      Faithfulness.fractions.map { body(Faithfulness.count($0, of: n)) }
    }
    func aopc(_ body: (Int) -> Perturbation) -> [Perturbation] {
      Faithfulness.aopcFractions.map { body(Faithfulness.aopcCount($0, of: n)) }
    }
    perturbations =
      curve { k in Perturbation(.unknownToken, removing: mostFirst.dropFirst(k)) }
      + curve { k in Perturbation(.unknownToken, removing: smallestMagnitudeFirst.prefix(k)) }
      + curve { k in Perturbation(.zeroEmbedding, removing: mostFirst.prefix(k)) }
      + curve { k in Perturbation(.zeroEmbedding, removing: leastFirst.prefix(k)) }
      + aopc { k in Perturbation(.deletion, removing: mostFirst.prefix(k)) }
      + aopc { k in Perturbation(.deletion, removing: mostFirst.dropFirst(k)) }
  }

  /// The curves, given the logits of the unperturbed input and of each perturbation
  /// (in layout order), tracking class `trueClass`.
  public func curves(original: [Float], logits: [[Float]], trueClass: Int) -> FaithfulnessCurves {
    curves(
      original: Readout(logits: original, original: original, trueClass: trueClass),
      readouts: logits.map { Readout(logits: $0, original: original, trueClass: trueClass) })
  }

  /// The curves, given what the unperturbed input and each perturbation (in layout order)
  /// read out.
  public func curves(original: Readout, readouts: [Readout]) -> FaithfulnessCurves {
    precondition(readouts.count == perturbations.count, "one readout per perturbation")
    let points = Faithfulness.fractions.count
    let aopcPoints = Faithfulness.aopcFractions.count
    func slice(_ start: Int, _ count: Int) -> ArraySlice<Readout> { readouts[start..<(start + count)] }
    let fullProbability = original.probability
    return FaithfulnessCurves(
      activation: slice(0, points).map(\.probability),
      pruning: slice(points, points).map(\.probability),
      pruningError: slice(points, points).map(\.squaredChange),
      mostRelevantFirst: slice(2 * points, points).map(\.tracked),
      leastRelevantFirst: slice(3 * points, points).map(\.tracked),
      comprehensiveness: slice(4 * points, aopcPoints).map { fullProbability - $0.probability },
      sufficiency: slice(4 * points + aopcPoints, aopcPoints).map { fullProbability - $0.probability })
  }
}

/// What the curves read from the model's output on one (perturbed) input: p(y), the
/// quantity MoRF and LeRF track (a classifier's target logit z_y; a language model's
/// log p(y), since its logits move together under a shift that the softmax ignores), and
/// Σ_c (z⁰_c − z_c)², the squared change of every output from the unperturbed input's.
public struct Readout: Sendable, Equatable {
  /// p(y).
  public var probability: Float
  /// z_y, or log p(y) for a language model.
  public var tracked: Float
  /// Σ_c (z⁰_c − z_c)² over every output c.
  public var squaredChange: Float

  /// A readout from its values.
  public init(probability: Float, tracked: Float, squaredChange: Float) {
    self.probability = probability
    self.tracked = tracked
    self.squaredChange = squaredChange
  }

  /// A classifier's readout of `logits` for class `trueClass`, against the unperturbed
  /// input's `original` logits.
  public init(logits: [Float], original: [Float], trueClass: Int) {
    probability = softmax(logits)[trueClass]
    tracked = logits[trueClass]
    squaredChange = zip(original, logits).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
  }
}

/// Softmax of a logit vector.
func softmax(_ logits: [Float]) -> [Float] {
  let largest = logits.max() ?? 0
  let exps = logits.map { Foundation.exp($0 - largest) }
  let total = exps.reduce(0, +)
  return exps.map { $0 / total }
}

/// The perturbation curves of one input (or their mean over a data set).
public struct FaithfulnessCurves: Sendable, Equatable {
  /// p(y) as the most relevant units are restored into an all-`[UNK]` input (11 points).
  public var activation: [Float]
  /// p(y) as the least-|R| units become `[UNK]` (11 points).
  public var pruning: [Float]
  /// Σ_c (z⁰_c − z_c)² along the pruning curve (11 points).
  public var pruningError: [Float]
  /// z_y as the most relevant units' embeddings are zeroed (11 points).
  public var mostRelevantFirst: [Float]
  /// z_y as the least relevant units' embeddings are zeroed (11 points).
  public var leastRelevantFirst: [Float]
  /// p⁰(y) − p(y) with the top k % deleted (k = 10…50).
  public var comprehensiveness: [Float]
  /// p⁰(y) − p(y) with only the top k % kept (k = 10…50).
  public var sufficiency: [Float]

  /// Curves from their points.
  public init(
    activation: [Float], pruning: [Float], pruningError: [Float], mostRelevantFirst: [Float],
    leastRelevantFirst: [Float], comprehensiveness: [Float], sufficiency: [Float]
  ) {
    self.activation = activation
    self.pruning = pruning
    self.pruningError = pruningError
    self.mostRelevantFirst = mostRelevantFirst
    self.leastRelevantFirst = leastRelevantFirst
    self.comprehensiveness = comprehensiveness
    self.sufficiency = sufficiency
  }

  /// The point-wise mean of `curves` (nil for none).
  public static func mean(_ curves: [FaithfulnessCurves]) -> FaithfulnessCurves? {
    guard let first = curves.first else { return nil }
    func average(_ path: KeyPath<FaithfulnessCurves, [Float]>) -> [Float] {
      var total = [Double](repeating: 0, count: first[keyPath: path].count)
      for curve in curves {
        for (i, value) in curve[keyPath: path].enumerated() { total[i] += Double(value) }
      }
      return total.map { Float($0 / Double(curves.count)) }
    }
    return FaithfulnessCurves(
      activation: average(\.activation), pruning: average(\.pruning), pruningError: average(\.pruningError),
      mostRelevantFirst: average(\.mostRelevantFirst), leastRelevantFirst: average(\.leastRelevantFirst),
      comprehensiveness: average(\.comprehensiveness), sufficiency: average(\.sufficiency))
  }

  /// The scores of these curves.
  public var scores: [FaithfulnessMetric: Double] {
    [
      .auac: Faithfulness.area(activation),
      .aupc: Faithfulness.area(pruning),
      .auMSE: Faithfulness.area(pruningError),
      .areaMoRF: Faithfulness.area(mostRelevantFirst),
      .areaLeRF: Faithfulness.area(leastRelevantFirst),
      .areaBetween: Faithfulness.area(leastRelevantFirst) - Faithfulness.area(mostRelevantFirst),
      .comprehensiveness: comprehensiveness.map(Double.init).reduce(0, +) / Double(comprehensiveness.count),
      .sufficiency: sufficiency.map(Double.init).reduce(0, +) / Double(sufficiency.count),
    ]
  }
}

/// A faithfulness score and which direction is better.
public enum FaithfulnessMetric: String, CaseIterable, Sendable, Hashable {
  case auac = "AUAC"
  case aupc = "AUPC"
  case auMSE = "AU-MSE"
  case areaMoRF = "A(MoRF)"
  case areaLeRF = "A(LeRF)"
  case areaBetween = "ΔA"
  case comprehensiveness = "AOPC-comp"
  case sufficiency = "AOPC-suff"

  /// Whether a larger value means a more faithful explanation.
  public var higherIsBetter: Bool {
    switch self {
    case .auac, .aupc, .areaLeRF, .areaBetween, .comprehensiveness: true
    case .auMSE, .areaMoRF, .sufficiency: false
    }
  }

  /// The key in JSON output.
  public var key: String {
    switch self {
    case .auac: "auac"
    case .aupc: "aupc"
    case .auMSE: "au_mse"
    case .areaMoRF: "area_morf"
    case .areaLeRF: "area_lerf"
    case .areaBetween: "area_between"
    case .comprehensiveness: "aopc_comprehensiveness"
    case .sufficiency: "aopc_sufficiency"
    }
  }
}
