import Attribution

extension PerturbationOutcome {
  /// The `perturbation` object of a JSON explanation (docs/json-output.md).
  public var json: JSONOutput {
    var window: (Int?, Int?, Int?) = (nil, nil, nil)
    var sampling: (Int?, UInt64?) = (nil, nil)
    let scheme: String
    switch self.scheme {
    case .windows(let size, let stride, let count):
      scheme = "windows"
      window = (size, stride, count)
    case .eachUnit: scheme = "each_unit"
    case .allCoalitions: scheme = "all_coalitions"
    case .sampled(let samples, let seed):
      scheme = "sampled"
      sampling = (samples, seed)
    }
    func optional(_ value: Int?) -> JSONOutput { value.map(JSONOutput.int) ?? .null }
    return .object([
      ("units", .string(units)),
      ("unit_positions", .array(layout.groups.map(JSONOutput.ints))),
      ("unit_relevance", .floats(unitRelevance)),
      ("evaluations", .int(evaluations)),
      ("scheme", .string(scheme)),
      ("window", optional(window.0)),
      ("stride", optional(window.1)),
      ("windows", optional(window.2)),
      ("samples", optional(sampling.0)),
      ("seed", sampling.1.map { .int(Int(truncatingIfNeeded: $0)) } ?? .null),
    ])
  }

  /// One sentence: how many model evaluations, over which units, chosen how.
  public var sentence: String {
    let unitCount = "\(layout.count) \(layout.count == 1 ? String(units.dropLast()) : units)"
    let how: String
    switch scheme {
    case .windows(let window, let stride, let count):
      let side = layout.shape.count == 2 ? "\(window)×\(window)" : "\(window)"
      how = "\(count) windows of \(side) every \(stride) over \(unitCount)"
    case .eachUnit: how = "each of \(unitCount) alone"
    case .allCoalitions: how = "every coalition of \(unitCount)"
    case .sampled(let samples, let seed): how = "\(samples) samples over \(unitCount), seed \(seed)"
    }
    return "\(groupedDigits(evaluations)) model evaluations (\(how), the input and the baseline included)"
  }
}

/// 1234567 → "1,234,567".
func groupedDigits(_ value: Int) -> String {
  let digits = String(value.magnitude)
  var out = ""
  for (index, digit) in digits.enumerated() {
    if index > 0 && (digits.count - index) % 3 == 0 { out += "," }
    out.append(digit)
  }
  return (value < 0 ? "-" : "") + out
}
