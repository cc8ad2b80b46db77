import Attribution
import Foundation

// The relevance audit as every view shows it (classifier and language-model pages and
// terminal views): the explained value f, then Σ h·∂f/∂h at each sublayer input from the
// output down to the tokens, then the bias share and the rules' share.

extension RelevanceAudit {
  /// Rows from f down to the tokens, then the two shares; `valueName` names f
  /// (`logit`, `logit difference`, `log-probability`).
  func rows(valueName: String) -> [(name: String, value: Float)] {
    [(valueName, targetLogit)] + entries.reversed().map { ($0.layer, $0.sumRelevance) }
      + [("bias share", biasShare), ("rules' share", ruleShare)]
  }

  /// The audit's JSON members: `bias_share` and `rule_share` (for the `conservation` object)
  /// and the `audit` array of `{"layer", "sum_relevance"}` in forward order.
  var jsonShares: [(String, JSONOutput)] {
    [("bias_share", .float(biasShare)), ("rule_share", .float(ruleShare))]
  }

  var jsonEntries: JSONOutput {
    .array(entries.map { .object([("layer", .string($0.layer)), ("sum_relevance", .float($0.sumRelevance))]) })
  }
}

/// The HTML table of one audit: a bar per row, red for positive, blue for negative,
/// scaled to the row of largest magnitude.
func auditTableHTML(_ audit: RelevanceAudit, valueName: String) -> String {
  let rows = audit.rows(valueName: valueName)
  let scale = max(rows.map { abs($0.value) }.filter(\.isFinite).max() ?? 0, 1e-12)
  var html = "<table class=\"data\"><tr><th>sublayer input</th><th>Σ h·∂f/∂h</th><th></th></tr>"
  for (index, (name, value)) in rows.enumerated() {
    let width = value.isFinite ? Int((200 * Double(abs(value) / scale)).rounded()) : 0
    let colour = value >= 0 ? "#b92626" : "#3b3b9a"
    // The value and the two shares are not sublayer inputs: set apart by a rule.
    let style = index == 1 || index == rows.count - 2 ? " style=\"border-top:2px solid #d9dde5\"" : ""
    html +=
      "<tr\(style)><td>\(escapeHTML(name))</td><td class=\"num\">\(formatNumber(value))</td>"
      + "<td><div style=\"width:\(width)px;height:10px;background:\(colour)\" title=\"\(formatNumber(value, digits: 7))\"></div></td></tr>"
  }
  return html + "</table>"
}

/// The audit as a profile along the depth (inline SVG, for deep models where the table runs
/// to dozens of rows): one bar per sublayer input in forward order, from the tokens' sum on
/// the left to the head, then f in grey; a dashed line at f, a solid one at 0. Each bar's
/// title gives its name and value.
func auditChartSVG(_ audit: RelevanceAudit, valueName: String) -> String {
  let bars = audit.entries.map { ($0.layer, $0.sumRelevance) } + [(valueName, audit.targetLogit)]
  let finite = bars.map(\.1).filter(\.isFinite) + [0]
  let (low, high) = (finite.min()!, finite.max()!)
  let span = max(high - low, 1e-12)
  let (left, top, plotHeight) = (56.0, 10.0, 150.0)
  let step = max(6.0, min(28.0, 860.0 / Double(bars.count)))
  let width = left + step * Double(bars.count) + 12
  func y(_ value: Float) -> Double { top + plotHeight * Double((high - value) / span) }
  let zero = y(0)
  var svg =
    "<svg viewBox=\"0 0 \(Int(width)) \(Int(top + plotHeight + 34))\" width=\"\(Int(width))\" role=\"img\" aria-label=\"relevance audit by sublayer\" style=\"font:11px system-ui,sans-serif\">"
  for value in Set([high, low, 0]) {
    svg += "<text x=\"\(Int(left - 6))\" y=\"\(String(format: "%.1f", y(value) + 4))\" text-anchor=\"end\" fill=\"#5b6475\">\(formatNumber(value, digits: 3))</text>"
  }
  for (index, (name, value)) in bars.enumerated() where value.isFinite {
    let x = left + step * Double(index)
    let (a, b) = (y(value), zero)
    let colour = index == bars.count - 1 ? "#8a93a6" : value >= 0 ? "#b92626" : "#3b3b9a"
    svg +=
      "<rect x=\"\(String(format: "%.1f", x + 1))\" y=\"\(String(format: "%.1f", min(a, b)))\" width=\"\(String(format: "%.1f", step - 2))\" height=\"\(String(format: "%.1f", max(abs(a - b), 0.5)))\" fill=\"\(colour)\"><title>\(escapeHTML(name)): \(formatNumber(value, digits: 7))</title></rect>"
  }
  let right = left + step * Double(bars.count)
  svg += "<line x1=\"\(Int(left))\" x2=\"\(Int(right))\" y1=\"\(String(format: "%.1f", zero))\" y2=\"\(String(format: "%.1f", zero))\" stroke=\"#5b6475\"/>"
  if audit.targetLogit.isFinite {
    let f = String(format: "%.1f", y(audit.targetLogit))
    svg += "<line x1=\"\(Int(left))\" x2=\"\(Int(right))\" y1=\"\(f)\" y2=\"\(f)\" stroke=\"#8a93a6\" stroke-dasharray=\"4 3\"/>"
  }
  let base = Int(top + plotHeight + 16)
  svg += "<text x=\"\(Int(left))\" y=\"\(base)\" fill=\"#5b6475\">tokens (layer.0 input)</text>"
  svg += "<text x=\"\(Int(right))\" y=\"\(base)\" text-anchor=\"end\" fill=\"#5b6475\">head · \(escapeHTML(valueName))</text>"
  svg += "<text x=\"\(Int((left + right) / 2))\" y=\"\(base + 14)\" text-anchor=\"middle\" fill=\"#5b6475\">sublayer inputs in forward order →</text>"
  return svg + "</svg>"
}
