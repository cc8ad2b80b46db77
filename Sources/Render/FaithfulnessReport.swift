import Attribution
import Foundation
import Models

/// The faithfulness of every method on a data set as JSON, a terminal table and an
/// HTML page with the mean curves.
public struct FaithfulnessReport: Sendable {
  /// Model name.
  public let modelName: String
  /// Data-set file.
  public let dataName: String
  /// What a unit is: tokens, patches or nodes.
  public let units: UnitKind
  /// The results.
  public let summary: FaithfulnessSummary
  /// Examples that could not be evaluated.
  public let failedCount: Int
  /// Wall time of the evaluation.
  public let seconds: Double
  /// Seed of the random baseline.
  public let seed: UInt64
  /// A language model's neutral token that replaces a removed prompt token, as a reader
  /// sees it (nil for other models).
  public let replacementToken: String?

  public init(
    modelName: String, dataName: String, units: UnitKind, summary: FaithfulnessSummary, failedCount: Int,
    seconds: Double, seed: UInt64, replacementToken: String? = nil
  ) {
    self.replacementToken = replacementToken
    self.modelName = modelName
    self.dataName = dataName
    self.units = units
    self.summary = summary
    self.failedCount = failedCount
    self.seconds = seconds
    self.seed = seed
  }

  /// The units' name in sentences: tokens, patches, nodes.
  var unitName: String { units.rawValue }

  /// What the activation and pruning protocols do to a unit.
  var replacement: String {
    switch units {
    case .tokens: "replaced by [UNK]"
    case .patches: "set to black"
    case .nodes: "removed"
    case .promptTokens: "replaced by \(replacementToken.map { "“\($0)”" } ?? "the end token")"
    }
  }

  /// Whether the curves are a language model's (next token, log p(y) for MoRF/LeRF).
  var isLanguage: Bool { units == .promptTokens }

  /// What MoRF and LeRF track, in words.
  var trackedQuantity: String { isLanguage ? "log p(y)" : "target logit" }

  /// What MoRF and LeRF do to a unit, in words.
  var morfRemoval: String {
    switch units {
    case .nodes: "removing"
    case .promptTokens: "replacing"
    case .tokens, .patches: "zeroing"
    }
  }

  /// Columns in display order.
  static let metrics: [FaithfulnessMetric] = [
    .auac, .aupc, .auMSE, .areaBetween, .areaMoRF, .areaLeRF, .comprehensiveness, .sufficiency,
  ]

  /// Which class the curves track, in words.
  var trackedClass: String {
    let labelled = summary.labelledCount
    let total = summary.examples.count
    if isLanguage {
      if labelled == total { return "the given target token" }
      if labelled == 0 { return "the model's greedy next token (no targets given)" }
      return "the given target (\(labelled) prompts) or, without one, the greedy next token (\(total - labelled))"
    }
    if labelled == total { return "the label" }
    if labelled == 0 { return "the model's prediction (no labels)" }
    return "the label (\(labelled) examples) or, without one, the prediction (\(total - labelled))"
  }

  // MARK: JSON

  /// Every mean curve, every score (mean, standard error, per example) per ranking.
  public var json: JSONOutput {
    let fractions = JSONOutput.array(Faithfulness.fractions.map { .float(Float($0)) })
    let examples = summary.examples
    let given = isLanguage ? "target" : "label"
    return .object([
      ("model", .string(modelName)), ("data", .string(dataName)), ("units", .string(units.rawValue)),
    ] + (isLanguage ? [("replacement_token", replacementToken.map(JSONOutput.string) ?? .null)] : []) + [
      ("examples", .int(examples.count)), ("failed", .int(failedCount)),
      (
        "tracked_class",
        .string(
          summary.labelledCount == examples.count
            ? given : summary.labelledCount == 0 ? "prediction" : "\(given) or prediction")
      ),
      ("labelled_examples", .int(summary.labelledCount)),
      ("seed", .int(Int(truncatingIfNeeded: seed))), ("seconds", .float(Float(seconds))),
      ("fractions", fractions),
      ("aopc_fractions", .array(Faithfulness.aopcFractions.map { .float(Float($0)) })),
      ("example_index", .ints(examples.map(\.index))),
      ("example_class", .ints(examples.map(\.trueClass))),
      ("example_units", .ints(examples.map(\.unitCount))),
      (
        "rankings",
        .array(
          summary.rows.map { row in
            let curves = row.meanCurves
            return .object([
              ("name", .string(row.ranking.name)), ("display", .string(row.ranking.displayName(units: units))),
              ("baseline", .bool(row.ranking.isBaseline)),
              ("orders", .int({ if case .random(let orders) = row.ranking { orders } else { 1 } }())),
              ("cost", row.cost.map(Self.costJSON) ?? .null),
              (
                "curves",
                .object([
                  ("activation", .floats(curves.activation)), ("pruning", .floats(curves.pruning)),
                  ("pruning_mse", .floats(curves.pruningError)),
                  ("most_relevant_first", .floats(curves.mostRelevantFirst)),
                  ("least_relevant_first", .floats(curves.leastRelevantFirst)),
                  ("comprehensiveness", .floats(curves.comprehensiveness)),
                  ("sufficiency", .floats(curves.sufficiency)),
                ])
              ),
              (
                "scores",
                .object(
                  FaithfulnessMetric.allCases.map { metric in
                    (
                      metric.key,
                      .object([
                        ("mean", .float(Float(row.mean(metric)))),
                        ("standard_error", .float(Float(row.standardError(metric)))),
                        ("higher_is_better", .bool(metric.higherIsBetter)),
                      ])
                    )
                  })
              ),
              (
                "per_example",
                .object(
                  FaithfulnessMetric.allCases.map { metric in
                    (metric.key, .floats(row.perExample[metric]!.map { Float($0) }))
                  })
              ),
            ])
          })
      ),
    ])
  }

  /// Reads the JSON that `json` wrote (`xai eval --output`), to draw its table and page
  /// again without recomputing; `source` names it in errors.
  public static func read(_ root: JSONNode, source: String) throws -> FaithfulnessReport {
    func fail(_ what: String) -> ModelError {
      .badInput("\(source) is not an xai eval output: \(what).")
    }
    guard let unitsName = root["units"]?.string, let rankings = root["rankings"], rankings.isArray,
      let indices = root["example_index"]?.elements.compactMap(\.int),
      let classes = root["example_class"]?.elements.compactMap(\.int),
      let unitCounts = root["example_units"]?.elements.compactMap(\.int),
      let labelled = root["labelled_examples"]?.int,
      indices.count == classes.count, indices.count == unitCounts.count
    else { throw fail("the keys units, rankings and example_* are missing or malformed") }
    guard let units = UnitKind(rawValue: unitsName) else { throw fail("unknown units '\(unitsName)'") }
    // Every number must survive the float32 page and table.
    func finite(_ values: [Double], _ what: String) throws -> [Double] {
      guard values.allSatisfy({ Float($0).isFinite }) else {
        throw fail("\(what) holds a number beyond the float32 range")
      }
      return values
    }
    func floats(_ node: JSONNode?, _ what: String) throws -> [Float] {
      try finite(node?.elements.compactMap(\.double) ?? [], what).map { Float($0) }
    }
    let rows = try rankings.elements.map { node -> FaithfulnessSummary.Row in
      guard let name = node["name"]?.string else { throw fail("a ranking has no name") }
      guard let ranking = Ranking(name: name, orders: node["orders"]?.int ?? 5, units: units) else {
        throw fail("unknown ranking '\(name)'")
      }
      func curve(_ key: String) throws -> [Float] {
        try floats(node["curves"]?[key], "\(name)'s \(key) curve")
      }
      var perExample: [FaithfulnessMetric: [Double]] = [:]
      for metric in FaithfulnessMetric.allCases {
        let values = try finite(
          node["per_example"]?[metric.key]?.elements.compactMap(\.double) ?? [], "\(name)'s \(metric.key)")
        guard values.count == indices.count else { throw fail("\(name) lacks per-example \(metric.key)") }
        perExample[metric] = values
      }
      var cost: MethodCost?
      if let node = node["cost"], !node.isNull {
        guard let forward = node["model_evaluations"]?.double, let backward = node["backward_passes"]?.double,
          let milliseconds = node["ms_per_explanation"]?.double,
          try finite([forward, backward, milliseconds], "\(name)'s cost").allSatisfy({ $0 >= 0 })
        else { throw fail("\(name)'s cost is malformed") }
        // Counts and times a run can have: whole numbers the table prints, and times the
        // log-scale chart can place (none, or at least a nanosecond).
        guard [forward, backward, milliseconds].allSatisfy({ $0 <= MethodCost.largestValue }),
          milliseconds == 0 || milliseconds >= 1e-6
        else {
          throw fail(
            "\(name)'s cost is out of range (model passes and ms must be at most \(Int(MethodCost.largestValue)), ms 0 or at least 1e-6)"
          )
        }
        cost = MethodCost(forward: forward, backward: backward, milliseconds: milliseconds)
      }
      return FaithfulnessSummary.Row(
        ranking: ranking,
        meanCurves: FaithfulnessCurves(
          activation: try curve("activation"), pruning: try curve("pruning"),
          pruningError: try curve("pruning_mse"),
          mostRelevantFirst: try curve("most_relevant_first"),
          leastRelevantFirst: try curve("least_relevant_first"),
          comprehensiveness: try curve("comprehensiveness"), sufficiency: try curve("sufficiency")
        ),
        perExample: perExample, cost: cost)
    }
    let examples = indices.indices.map {
      ExampleFaithfulness(
        index: indices[$0], trueClass: classes[$0], fromLabel: $0 < labelled, unitCount: unitCounts[$0],
        curves: [])
    }
    return FaithfulnessReport(
      modelName: terminalSafe(root["model"]?.string ?? "?"),
      dataName: terminalSafe(root["data"]?.string ?? "?"),
      units: units,
      summary: FaithfulnessSummary(rows: rows, examples: examples), failedCount: root["failed"]?.int ?? 0,
      seconds: root["seconds"]?.double ?? 0, seed: UInt64(max(0, root["seed"]?.int ?? 0)),
      replacementToken: root["replacement_token"]?.string.map { terminalSafe($0) })
  }

  // MARK: Terminal

  /// The table of methods × scores: arrows give the better direction, `*` marks the best
  /// per column and `~` a value within one standard error of it.
  public func table(color: Bool) -> String {
    let nameWidth = max(12, summary.rows.map { $0.ranking.displayName(units: units).count }.max() ?? 0) + 1
    let columnWidth = 12
    func pad(_ text: String, _ width: Int, left: Bool = false) -> String {
      let gap = String(repeating: " ", count: max(0, width - text.count))
      return left ? text + gap : gap + text
    }
    var lines: [String] = []
    lines.append(
      "Faithfulness of \(terminalSafe(modelName)) on \(terminalSafe(dataName)): \(summary.examples.count) examples"
        + (failedCount > 0 ? " (\(failedCount) failed)" : "") + ", curves track \(trackedClass)")
    let passesWidth = max(14, (summary.rows.map { Self.passesText($0.cost).count }.max() ?? 0) + 2)
    lines.append(
      pad("", nameWidth, left: true)
        + Self.metrics.map { pad($0.rawValue + ($0.higherIsBetter ? " ↑" : " ↓"), columnWidth) }.joined()
        + pad("model passes", passesWidth) + pad("ms", 10))
    for (r, row) in summary.rows.enumerated() {
      var line = pad(row.ranking.displayName(units: units), nameWidth, left: true)
      for metric in Self.metrics {
        let isBest = summary.best(metric) == r
        let mark = isBest ? "*" : summary.isTiedWithBest(r, metric) ? "~" : " "
        let cell = pad(String(format: "%.4g", row.mean(metric)) + mark, columnWidth)
        line += color && isBest ? "\u{1B}[1m" + cell + "\u{1B}[0m" : cell
      }
      line += pad(Self.passesText(row.cost), passesWidth) + pad(Self.millisecondsText(row.cost), 10)
      lines.append(line)
    }
    lines.append(
      "* best per column   ~ within one standard error of the best   ↑/↓ higher/lower is better")
    lines.append(
      "model passes: forward evaluations (fwd) and backward passes (bwd) per explanation; ms: wall time per explanation on this machine (machine-dependent)."
    )
    lines.append(
      "AUAC: p(y) restoring the most relevant \(unitName) first; AUPC/AU-MSE: pruning the least |R| first; ΔA = A(LeRF) − A(MoRF) of the \(trackedQuantity) \(morfRemoval) \(unitName); AOPC over k = 10…50 %."
        + (isLanguage
          ? " y: the next token at the last position; a removed prompt token is \(replacement), so positions stay."
          : "")
    )
    return lines.joined(separator: "\n")
  }

  // MARK: HTML

  /// A self-contained page: the table (mean ± standard error) and one chart per protocol.
  public var html: String {
    var page = HTMLPage(title: "Faithfulness: \(modelName) on \(dataName)")
    page.footer =
      "Made by xai. Curves are means over the examples; areas use the trapezoid rule on fractions 0…1. Random is averaged over its seeded orders (seed \(seed))."
    page.append("<h1>Faithfulness of \(escapeHTML(modelName))</h1>")
    page.append(
      "<p class=\"sub\">\(escapeHTML(dataName)): \(summary.examples.count) examples"
        + (failedCount > 0 ? " (\(failedCount) failed)" : "")
        + "; curves track \(escapeHTML(trackedClass)); \(String(format: "%.1f", seconds)) s.</p>")
    page.append(tableHTML)
    page.append(costSection)
    let fractions = Faithfulness.fractions
    let aopc = Faithfulness.aopcFractions
    let unitName = escapeHTML(self.unitName)
    page.append("<section class=\"charts\">")
    page.append(
      chart(
        title: "Activation: restore the most relevant \(unitName) first",
        x: "fraction of \(unitName) restored",
        y: "p(y)", xs: fractions, series: { [($0.activation, false)] }))
    page.append(
      chart(
        title: "Pruning: remove the least |R| \(unitName) first", x: "fraction of \(unitName) removed",
        y: "p(y)", xs: fractions, series: { [($0.pruning, false)] }))
    page.append(
      chart(
        title: isLanguage ? "Pruning: squared change of the vocabulary's logits" : "Pruning: squared change of the logits",
        x: "fraction of \(unitName) removed", y: "Σ (z⁰ − z)²", xs: fractions, series: { [($0.pruningError, false)] }))
    page.append(
      chart(
        title: "Most (solid) vs least (dashed) relevant first",
        x: "fraction of \(unitName) \(isLanguage ? "replaced" : units == .nodes ? "removed" : "zeroed")",
        y: trackedQuantity, xs: fractions,
        series: { [($0.mostRelevantFirst, false), ($0.leastRelevantFirst, true)] }))
    page.append(
      chart(
        title: "AOPC comprehensiveness: \(isLanguage ? "replace" : "delete") the top k", x: "k (fraction of \(unitName))",
        y: "p⁰(y) − p(y)",
        xs: aopc, series: { [($0.comprehensiveness, false)] }))
    page.append(
      chart(
        title: "AOPC sufficiency: keep only the top k", x: "k (fraction of \(unitName))", y: "p⁰(y) − p(y)",
        xs: aopc, series: { [($0.sufficiency, false)] }))
    page.append("</section>")
    return page.text
  }

  var tableHTML: String {
    var html = "<section><table class=\"data wide\"><tr><th>method</th>"
    for metric in Self.metrics {
      html += "<th>\(escapeHTML(metric.rawValue)) \(metric.higherIsBetter ? "↑" : "↓")</th>"
    }
    html += "<th>passes</th><th>ms</th></tr>"
    for (r, row) in summary.rows.enumerated() {
      html +=
        "<tr><td class=\"name\"><span class=\"swatch\" style=\"background:\(color(r))\"></span>\(escapeHTML(row.ranking.displayName(units: units)))</td>"
      for metric in Self.metrics {
        let value = String(format: "%.4g", row.mean(metric))
        let error = String(format: "%.2g", row.standardError(metric))
        let isBest = summary.best(metric) == r
        let tied = summary.isTiedWithBest(r, metric)
        html +=
          "<td class=\"num\(isBest ? " best" : "")\">\(isBest ? "<b>\(value)</b>" : value)\(tied ? " ~" : "")<br><span class=\"se\">± \(error)</span></td>"
      }
      // Forward evaluations, and under them the backward passes, so the column stays narrow.
      let passes = Self.passesText(row.cost).components(separatedBy: " + ")
      html +=
        "<td class=\"num\">\(escapeHTML(passes[0]))\(passes.count > 1 ? "<br><span class=\"se\">+ \(escapeHTML(passes[1]))</span>" : "")</td><td class=\"num\">\(escapeHTML(Self.millisecondsText(row.cost)))</td></tr>"
    }
    html +=
      "</table><p class=\"sub\">" + (isLanguage ? languageNote : classifierNote) + escapeHTML(Self.costNote)
      + "</p></section>"
    return html
  }

  /// The cost note under the table.
  static let costNote =
    " Model passes: forward evaluations (fwd) and backward passes (bwd) of the model per explanation, the mean over the examples (exact counts; a perturbation method's distinct perturbed inputs, the input and its baseline included). ms: wall time of the explanation phase per example on the machine that ran this evaluation, so machine-dependent (it is not part of what two runs must share)."

  /// A row's model passes per explanation: `1 fwd + 1 bwd`, `96.4 fwd`, `–` for none.
  static func passesText(_ cost: MethodCost?) -> String {
    guard let cost else { return "n/a" }
    func count(_ value: Double) -> String {
      let rounded = Float(value)
      return rounded == rounded.rounded() ? groupedDigits(Int(rounded)) : String(format: "%.1f", Double(rounded))
    }
    if cost.forward == 0 && cost.backward == 0 { return "–" }
    return count(cost.forward) + " fwd" + (cost.backward > 0 ? " + \(count(cost.backward)) bwd" : "")
  }

  /// A row's milliseconds per explanation, three significant digits.
  static func millisecondsText(_ cost: MethodCost?) -> String {
    guard let cost else { return "n/a" }
    return formatMilliseconds(Double(Float(cost.milliseconds)))
  }

  /// The `cost` object of a ranking in the JSON output.
  static func costJSON(_ cost: MethodCost) -> JSONOutput {
    .object([
      ("model_evaluations", .float(Float(cost.forward))), ("backward_passes", .float(Float(cost.backward))),
      ("ms_per_explanation", .float(Float(cost.milliseconds))),
    ])
  }

  /// The table's note for classifiers (tokens, patches, nodes).
  var classifierNote: String {
    "Mean ± standard error over the examples. Bold: best per column; ~: within one standard error of the best. AUAC: p(y) as the most relevant \(escapeHTML(unitName)) are restored into an input with all of them \(escapeHTML(replacement)). AUPC and AU-MSE: p(y) and the squared change of the logits as the least |R| are \(escapeHTML(replacement)). ΔA = A(LeRF) − A(MoRF): target logit as \(units == .nodes ? "nodes are removed" : "embeddings are zeroed") least or most relevant first. AOPC: mean drop of p(y) when the top 10…50 % are deleted (comprehensiveness) or are all that is kept (sufficiency)."
  }

  /// The table's note for a language model's next-token curves.
  var languageNote: String {
    "Mean ± standard error over the examples. Bold: best per column; ~: within one standard error of the best. y is the next token after the prompt (its given target, else the greedy choice), read at the last position. Every protocol removes a prompt token by putting \(replacementToken.map { "the token “\(escapeHTML($0))”" } ?? "the model’s end token") in its place, so that no position shifts; BOS and chat-template tokens are never removed. AUAC: p(y) as the most relevant prompt tokens are restored into a prompt with all of them removed. AUPC and AU-MSE: p(y) and Σ over the vocabulary of (z⁰ − z)² as the least |R| are removed. ΔA = A(LeRF) − A(MoRF): log p(y) as the least or most relevant are removed. AOPC: mean drop of p(y) when the top 10…50 % are removed (comprehensiveness) or are all that is kept (sufficiency)."
  }

  /// A colour per ranking: methods from a saturated palette, the baselines in muted
  /// grey and brown so that they read as references.
  func color(_ row: Int) -> String {
    switch summary.rows[row].ranking {
    case .random: return "#9aa3ad"
    case .attention: return "#8d6e63"
    case .method, .graphMethod:
      // Ten colours, so that the ten methods of a text evaluation are told apart.
      let palette = [
        "#c0392b", "#2471a3", "#1e8449", "#8e44ad", "#d68910", "#17a589", "#d4477f", "#7d8c1d", "#22306b",
        "#4d4d4d",
      ]
      let methodIndex = summary.rows[..<row].filter { !$0.ranking.isBaseline }.count
      return palette[methodIndex % palette.count]
    }
  }

  /// An inline SVG line chart of one protocol: one line per ranking, axes and a legend.
  func chart(
    title: String, x: String, y: String, xs: [Double],
    series: (FaithfulnessCurves) -> [(values: [Float], dashed: Bool)]
  ) -> String {
    let legendRows = Double((summary.rows.count + 1) / 2)
    let lines = summary.rows.map { series($0.meanCurves) }
    let all = lines.flatMap { $0.flatMap(\.values) }.map(Double.init).filter(\.isFinite)
    var low = all.min() ?? 0
    var high = all.max() ?? 1
    if high - low < 1e-9 { (low, high) = (low - 0.5, high + 0.5) }
    let pad = (high - low) * 0.06
    // A quantity that is never negative (p, squared change) keeps its axis at 0.
    (low, high) = ((all.min() ?? 0) >= 0 ? max(0, low - pad) : low - pad, high + pad)
    let ticks = (0...4).map { low + (high - low) * Double($0) / 4 }
    let tickLabels = ticks.map { String(format: "%.3g", $0) }
    // Room for the widest tick label (8.68e+06) between the axis and the axis title.
    let margin = 62.0
    let left = max(margin, 26 + 6.4 * Double(tickLabels.map(\.count).max() ?? 0))
    let (right, top, bottom) = (16.0, 34.0, 58.0 + legendRows * 16)
    let (width, height) = (480.0, 250.0 + bottom)
    let (x0, x1) = (xs.first ?? 0, xs.last ?? 1)
    func px(_ value: Double) -> Double { left + (value - x0) / max(x1 - x0, 1e-9) * (width - left - right) }
    func py(_ value: Double) -> Double { top + (high - value) / (high - low) * (height - top - bottom) }
    var svg =
      "<figure class=\"chart\"><svg viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"\(Int(width))\" height=\"\(Int(height))\" role=\"img\" aria-label=\"\(escapeHTML(title))\">"
    svg +=
      "<text x=\"\(Int(margin))\" y=\"18\" font-size=\"14\" font-weight=\"600\">\(escapeHTML(title))</text>"
    for (value, label) in zip(ticks, tickLabels) {
      let yy = py(value)
      svg +=
        "<line x1=\"\(f(left))\" x2=\"\(f(width - right))\" y1=\"\(f(yy))\" y2=\"\(f(yy))\" stroke=\"#e5e8ee\"/>"
        + "<text x=\"\(f(left - 6))\" y=\"\(f(yy + 4))\" font-size=\"11\" text-anchor=\"end\" fill=\"#5b6475\">\(label)</text>"
    }
    for value in xs {
      svg +=
        "<text x=\"\(f(px(value)))\" y=\"\(f(height - bottom + 16))\" font-size=\"11\" text-anchor=\"middle\" fill=\"#5b6475\">\(String(format: "%g", value))</text>"
    }
    svg +=
      "<line x1=\"\(f(left))\" x2=\"\(f(width - right))\" y1=\"\(f(height - bottom))\" y2=\"\(f(height - bottom))\" stroke=\"#5b6475\"/>"
      + "<line x1=\"\(f(left))\" x2=\"\(f(left))\" y1=\"\(f(top))\" y2=\"\(f(height - bottom))\" stroke=\"#5b6475\"/>"
      + "<text x=\"\(f((left + width - right) / 2))\" y=\"\(f(height - bottom + 34))\" font-size=\"12\" text-anchor=\"middle\">\(escapeHTML(x))</text>"
      + "<text transform=\"translate(16 \(f((top + height - bottom) / 2))) rotate(-90)\" font-size=\"12\" text-anchor=\"middle\">\(escapeHTML(y))</text>"
    for (r, curves) in lines.enumerated() {
      for curve in curves where curve.values.count == xs.count {
        let points = zip(xs, curve.values).map { "\(f(px($0))),\(f(py(Double($1))))" }.joined(separator: " ")
        svg +=
          "<polyline fill=\"none\" stroke=\"\(color(r))\" stroke-width=\"2\"\(curve.dashed ? " stroke-dasharray=\"5 4\"" : "") points=\"\(points)\"/>"
      }
    }
    let legendTop = height - bottom + 50
    for (r, row) in summary.rows.enumerated() {
      let column = Double(r % 2)
      let line = Double(r / 2)
      let lx = margin + column * 205
      let ly = legendTop + line * 16
      svg +=
        "<line x1=\"\(f(lx))\" x2=\"\(f(lx + 18))\" y1=\"\(f(ly - 4))\" y2=\"\(f(ly - 4))\" stroke=\"\(color(r))\" stroke-width=\"3\"/>"
        + "<text x=\"\(f(lx + 24))\" y=\"\(f(ly))\" font-size=\"11\">\(escapeHTML(row.ranking.displayName(units: units)))</text>"
    }
    return svg + "</svg></figure>"
  }

  private func f(_ value: Double) -> String { String(format: "%.1f", value) }
}
