import Attribution
import Foundation

/// The self-contained HTML page of a language-model explanation: the text, the source ×
/// generated matrix (rows generated tokens, columns every position) and, per explained token,
/// the heatmap of its sources in a `<details>` block (the last one open). A short inline
/// script opens the block of the matrix row under the pointer; without it every block can
/// still be opened by hand.
public struct LanguageReport: Sendable {
  public let explanation: LanguageExplanation

  public init(explanation: LanguageExplanation) { self.explanation = explanation }

  /// A token's text in a cell: line breaks and tabs drawn as ↵ and ⇥, escaped.
  func cellText(_ text: String) -> String {
    escapeHTML(text.replacingOccurrences(of: "\n", with: "↵").replacingOccurrences(of: "\t", with: "⇥"))
  }

  func quoted(_ texts: [String]) -> String { "“" + cellText(texts.joined()) + "”" }

  public var html: String {
    let e = explanation
    var page = HTMLPage(title: "\(e.modelName): \(e.method.displayName)")
    page.footer =
      "Made by xai. Relevance colours: red supports the explained token, blue speaks against it, white is zero; intensity is |R| relative to the row's largest |R|. Hover a cell or token for its exact value."
    page.append("<h1>\(escapeHTML(e.modelName)) · \(escapeHTML(e.method.displayName))</h1>")
    let kind = e.generated.isEmpty ? "next-token explanation" : "\(e.generated.count) generated tokens, \(e.steps.count) explained"
    page.append("<p class=\"sub\">\(e.promptCount) prompt tokens · \(kind) · relevance at the token-embedding output</p>")
    // The text: prompt tokens, then generated ones.
    var text = "<section><h2>Text</h2><div class=\"sentence\">"
    for (index, token) in e.tokens.enumerated() {
      let style = index < e.promptCount ? "background:#eef0f4;color:#1d2330" : "background:#fdf2e9;color:#1d2330"
      text += "<span class=\"tok\" style=\"\(style)\" title=\"position \(index)\">\(cellText(token))</span>"
    }
    text += "</div><p class=\"sub\">grey: prompt · beige: generated</p></section>"
    page.append(text)
    if e.steps.count > 1 { page.append(matrix) }
    if e.steps.count > 1, e.steps.contains(where: { $0.audit != nil }) { page.append(auditSummary) }
    var details = "<section><h2>Heatmaps</h2>"
    for (index, step) in e.steps.enumerated() {
      let open = index == e.steps.count - 1 ? " open" : ""
      let scale = step.relevance.map(abs).max() ?? 0
      let sum = step.relevance.reduce(0, +)
      var label = step.generatedIndex.map { "generated token \($0 + 1)" } ?? "next token"
      if step.tokens.count > 1, let first = step.generatedIndex { label = "generated tokens \(first + 1)–\(first + step.tokens.count)" }
      let contrast = step.contrastText.map { " rather than \(quoted([$0]))" } ?? ""
      let probability = step.probabilities.count == 1 ? " · p = \(formatNumber(step.probabilities[0], digits: 3))" : ""
      details += "<details id=\"step-\(index)\"\(open)><summary>\(label) \(quoted(step.tokenTexts))\(contrast)\(probability) · \(escapeHTML(step.quantity)) \(formatNumber(step.value)) · Σ R \(formatNumber(sum))</summary><div class=\"sentence\">"
      for (position, relevance) in step.relevance.enumerated() {
        details += "<span class=\"tok\" style=\"\(tokenStyle(relevance, scale: scale))\" title=\"\(escapeHTML(e.tokens[position])): \(formatNumber(relevance))\">\(cellText(e.tokens[position]))</span>"
      }
      details += "</div>"
      if let perturbation = step.perturbation, let baseline = step.baselineValue {
        let summary = MethodSummary(kind: e.method, detached: [])
        details +=
          "<p class=\"sub\">\(summary.completenessName): \(escapeHTML(step.quantity)) − baseline = \(formatNumber(step.value - baseline)), "
          + "residual \(formatNumber(step.value - baseline - sum)) (baseline: the end token at every perturbed position) · "
          + "\(escapeHTML(perturbation.sentence))</p>"
      }
      if let audit = step.audit {
        details +=
          "<h3 style=\"font-size:15px;margin:14px 0 6px\">Relevance audit</h3><p class=\"sub\" style=\"margin-bottom:6px\">"
          + "\(escapeHTML(step.quantity)) \(formatNumber(audit.targetLogit)) = Σ tokens \(formatNumber(audit.sumTokens))"
          + " + bias share \(formatNumber(audit.biasShare)) + rules' share \(formatNumber(audit.ruleShare)). "
          + "Each bar is Σ h·∂f/∂h at the input of a sublayer (the residual stream before each norm), "
          + "from the tokens' sum on the left to the head and f (grey, dashed line) on the right; "
          + "a step between bars is relevance the biases or the rules absorbed (down) or created (up) in between.</p>"
          + auditChartSVG(audit, valueName: step.quantity)
          + "<details><summary>values by sublayer input</summary>"
          + auditTableHTML(audit, valueName: step.quantity) + "</details>"
          + "<p class=\"sub\" style=\"margin-top:6px\">\(escapeHTML(LanguageViews.auditMeaning(e.method, quantity: step.quantity)))</p>"
      }
      details += "</details>"
    }
    details += "<div class=\"legend\"><span>against</span><span class=\"scale\"></span><span>for</span></div></section>"
    page.append(details)
    if e.method == .attnlrp {
      page.append("<p class=\"sub\">AttnLRP differentiates the softmax as is (as LXT's efficient mode does), so Σ R is not the explained value.</p>")
    }
    page.append(Self.script)
    return page.text
  }

  /// One row per audited step: f and its three parts.
  var auditSummary: String {
    var html =
      "<section><h2>Relevance audit per step</h2><p class=\"sub\">f = Σ tokens + bias share + rules' share; each step's audit by layer is in its heatmap block below.</p>"
      + "<table class=\"data\"><tr><th>step</th><th>token</th><th>f</th><th>Σ tokens</th><th>bias share</th><th>rules' share</th></tr>"
    for step in explanation.steps {
      guard let audit = step.audit else { continue }
      html +=
        "<tr><td>\(step.generatedIndex.map { String($0 + 1) } ?? "–")</td><td>\(quoted(step.tokenTexts))</td>"
        + [audit.targetLogit, audit.sumTokens, audit.biasShare, audit.ruleShare].map {
          "<td class=\"num\">\(formatNumber($0))</td>"
        }.joined() + "</tr>"
    }
    return html + "</table></section>"
  }

  /// Rows generated tokens, columns every position; each row scaled to its own max |R|.
  var matrix: String {
    let e = explanation
    let width = e.steps.map(\.relevance.count).max() ?? 0
    var html = "<section><h2>Source × generated</h2><p class=\"sub\">One row per explained token, one column per earlier position; hover a row to open its heatmap below.</p><table class=\"heat matrix\"><tr><th></th><th>p</th>"
    for position in 0..<width {
      let mark = position == e.promptCount ? " style=\"border-left:2px solid #5b6475\"" : ""
      html += "<th class=\"col\"\(mark) title=\"position \(position)\"><span class=\"vert\">\(cellText(e.tokens[position]))</span></th>"
    }
    html += "</tr>"
    for (index, step) in e.steps.enumerated() {
      let scale = step.relevance.map(abs).max() ?? 0
      html += "<tr data-step=\"\(index)\"><th>\(step.generatedIndex.map { String($0 + 1) } ?? "–") \(quoted(step.tokenTexts))</th><td class=\"num\">\(formatNumber(step.probabilities.first ?? 0, digits: 2))</td>"
      for position in 0..<width {
        if position < step.relevance.count {
          let value = step.relevance[position]
          html += "<td class=\"cell\" style=\"background:\(RGB.diverging(value, scale: scale).hex)\" title=\"\(escapeHTML(e.tokens[position])): \(formatNumber(value))\"></td>"
        } else {
          html += "<td></td>"
        }
      }
      html += "</tr>"
    }
    return html + "</table></section>"
  }

  static let script = """
    <style>
    table.matrix td.cell { width: 14px; height: 14px; padding: 0; border: 1px solid #eef0f4; }
    table.matrix th.col { vertical-align: bottom; padding: 0 1px; }
    table.matrix .vert { writing-mode: vertical-rl; transform: rotate(180deg); font: 11px ui-monospace, monospace; white-space: pre; }
    table.matrix tr[data-step]:hover th { color: #b92626; }
    </style>
    <script>
    document.querySelectorAll('tr[data-step]').forEach(function (row) {
      row.addEventListener('mouseenter', function () {
        document.querySelectorAll('details[id^="step-"]').forEach(function (d) { d.open = false; });
        var target = document.getElementById('step-' + row.dataset.step);
        if (target) { target.open = true; }
      });
    });
    </script>
    """
}
