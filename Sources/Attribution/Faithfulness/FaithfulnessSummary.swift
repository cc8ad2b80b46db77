import Foundation

/// Faithfulness over a data set: per ranking, the mean curves and each score's mean and
/// standard error over the examples, and which ranking is best per score.
public struct FaithfulnessSummary: Sendable {
  /// One ranking's results.
  public struct Row: Sendable {
    /// The method or baseline.
    public let ranking: Ranking
    /// Point-wise mean of the examples' curves.
    public let meanCurves: FaithfulnessCurves
    /// Each score of each example, in example order.
    public let perExample: [FaithfulnessMetric: [Double]]
    /// The mean cost of one explanation (nil when not measured, as in an evaluation saved
    /// before costs were recorded).
    public let cost: MethodCost?

    /// A row from its parts (as a saved evaluation holds them).
    public init(
      ranking: Ranking, meanCurves: FaithfulnessCurves, perExample: [FaithfulnessMetric: [Double]],
      cost: MethodCost? = nil
    ) {
      self.ranking = ranking
      self.meanCurves = meanCurves
      self.perExample = perExample
      self.cost = cost
    }

    /// Mean of a score over the examples.
    public func mean(_ metric: FaithfulnessMetric) -> Double {
      let values = perExample[metric]!
      return values.reduce(0, +) / Double(max(values.count, 1))
    }

    /// Standard error of that mean (sample standard deviation / √n; 0 for one example).
    public func standardError(_ metric: FaithfulnessMetric) -> Double {
      let values = perExample[metric]!
      guard values.count > 1 else { return 0 }
      let mean = mean(metric)
      let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count - 1)
      return (variance / Double(values.count)).squareRoot()
    }
  }

  /// Rows in the order the rankings were given.
  public let rows: [Row]
  /// Examples evaluated, in data-set order.
  public let examples: [ExampleFaithfulness]

  /// Aggregates `examples` (each with one curve set per ranking of `rankings`).
  public init(rankings: [Ranking], examples: [ExampleFaithfulness]) {
    let examples = examples.sorted { $0.index < $1.index }
    self.examples = examples
    rows = rankings.enumerated().map { r, ranking in
      let curves = examples.map { $0.curves[r] }
      let scores = curves.map(\.scores)
      return Row(
        ranking: ranking,
        meanCurves: FaithfulnessCurves.mean(curves)
          ?? FaithfulnessCurves(
            activation: [], pruning: [], pruningError: [], mostRelevantFirst: [], leastRelevantFirst: [],
            comprehensiveness: [], sufficiency: []),
        perExample: Dictionary(
          uniqueKeysWithValues: FaithfulnessMetric.allCases.map { metric in
            (metric, scores.map { $0[metric]! })
          }),
        cost: examples.allSatisfy { $0.costs.count == rankings.count }
          ? MethodCost(mean: examples.map { $0.costs[r] }) : nil)
    }
  }

  /// A summary saved earlier: its rows and examples (whose curves may be empty).
  public init(rows: [Row], examples: [ExampleFaithfulness]) {
    self.rows = rows
    self.examples = examples
  }

  /// The row with the best mean of `metric` (nil without rows or examples).
  public func best(_ metric: FaithfulnessMetric) -> Int? {
    guard !examples.isEmpty else { return nil }
    return rows.indices.max { a, b in
      metric.higherIsBetter
        ? rows[a].mean(metric) < rows[b].mean(metric) : rows[a].mean(metric) > rows[b].mean(metric)
    }
  }

  /// Whether row `row` is within one standard error (the larger of the two) of the
  /// best row on `metric`, so that the data do not separate them.
  public func isTiedWithBest(_ row: Int, _ metric: FaithfulnessMetric) -> Bool {
    guard let best = best(metric), best != row else { return false }
    let error = max(rows[row].standardError(metric), rows[best].standardError(metric))
    return abs(rows[row].mean(metric) - rows[best].mean(metric)) <= error
  }

  /// How many examples track their label (the rest track the model's prediction).
  public var labelledCount: Int { examples.filter(\.fromLabel).count }
}
