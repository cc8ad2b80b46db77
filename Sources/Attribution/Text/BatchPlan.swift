/// How a window of examples is cut into padded batches: sorted by length (stable, so
/// the plan depends only on the lengths), then cut where a batch would exceed
/// `maximumRows` rows or `maximumTokens` padded tokens (rows × longest length).
/// The same window always gives the same batches, so a run, its resumption and its
/// shards compute every example in the same company and print the same numbers.
public struct BatchPlan: Sendable, Equatable {
  /// Most examples in one batch.
  public let maximumRows: Int
  /// Most padded tokens in one batch.
  public let maximumTokens: Int

  /// A plan with these limits (each at least 1).
  public init(maximumRows: Int, maximumTokens: Int) {
    self.maximumRows = max(1, maximumRows)
    self.maximumTokens = max(1, maximumTokens)
  }

  /// Most forward rows in one batch of a gradient method.
  public static let rowsPerPass = 64
  /// Most padded tokens in one batch of a one-row method: B4 in `make bench` ran fastest
  /// at 1024 (activations stay in cache; 4096 was 15–45 % slower).
  public static let tokensPerPass = 1024

  /// The plan for explaining texts with `method`: at most `rowsPerPass` forward rows
  /// (a path method's points included) and, for one-row methods, `tokensPerPass` tokens.
  public static func explaining(with method: any AttributionMethod) -> BatchPlan {
    method.rowsPerInput > 1
      ? BatchPlan(maximumRows: rowsPerPass / method.rowsPerInput, maximumTokens: .max)
      : BatchPlan(maximumRows: rowsPerPass, maximumTokens: tokensPerPass)
  }

  /// Positions of `lengths` grouped into batches, shortest examples first.
  public func batches(lengths: [Int]) -> [[Int]] {
    let order = lengths.indices.sorted { (lengths[$0], $0) < (lengths[$1], $1) }
    var result: [[Int]] = []
    var current: [Int] = []
    for position in order {
      let longest = max(current.last.map { lengths[$0] } ?? 0, lengths[position])
      if !current.isEmpty
        && (current.count + 1 > maximumRows || (current.count + 1) * longest > maximumTokens)
      {
        result.append(current)
        current = []
      }
      current.append(position)
    }
    if !current.isEmpty { result.append(current) }
    return result
  }
}
