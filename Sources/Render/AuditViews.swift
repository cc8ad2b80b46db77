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
