import Attribution
import Foundation

/// The HTML page for one text explained by one or more methods: prediction with
/// every class's logit, one heatmap row per method (token columns aligned), the
/// same at word level, conservation per method and a colour legend.
public struct SentenceReport: Sendable {
  /// One explanation per method, same text.
  public let explanations: [TextExplanation]

  /// `explanations` must all explain the same text with the same model.
  public init(explanations: [TextExplanation]) {
    precondition(!explanations.isEmpty, "a report needs at least one explanation")
    self.explanations = explanations
  }

  /// The whole page.
  public var html: String {
    let first = explanations[0]
    var page = HTMLPage(title: "xai · \(first.modelName) · \(first.text)")
    page.append("<h1>Explanation of a text classifier</h1>")
    page.append(
      "<p class=\"sub\">model <b>\(escapeHTML(first.modelName))</b> · \(explanations.count) method\(explanations.count == 1 ? "" : "s")</p>"
    )
    page.append("<section><div class=\"sentence\">\(escapeHTML(first.text))</div></section>")
    page.append(predictionSection(first))
    page.append("<h2>Token relevance</h2>")
    page.append(
      heatmapTable(
        header: first.tokens,
        rows: explanations.map { ($0, $0.relevance) }))
    page.append(legend)
    page.append("<h2>Word relevance (word pieces merged)</h2>")
    page.append(
      heatmapTable(
        header: first.words().map(\.text),
        rows: explanations.map { explanation in (explanation, explanation.words().map(\.relevance)) }))
    page.append("<h2>Conservation</h2>")
    page.append(conservationTable)
    page.append(auditSection)
    return page.text
  }

  func predictionSection(_ explanation: TextExplanation) -> String {
    let predicted = explanation.predictedIndex
    let largest = explanation.logits.map(abs).max() ?? 1
    var rows = ""
    for (index, label) in explanation.labels.enumerated() {
      let logit = explanation.logits[index]
      let width = largest > 0 ? Int((80 * abs(logit) / largest).rounded()) : 0
      let bar =
        "<span class=\"bar\(index == predicted ? " best" : "")\" style=\"width:\(width)px\" "
        + "title=\"logit \(formatNumber(logit, digits: 7))\"></span>"
      rows += """
        <tr><td>\(escapeHTML(label))\(index == predicted ? " <b>(predicted)</b>" : "")</td>\
        <td class="num">\(formatNumber(explanation.probabilities[index], digits: 3))</td>\
        <td class="num">\(formatNumber(logit))</td>\
        <td class="axis"><span class="half neg-side">\(logit < 0 ? bar : "")</span>\
        <span class="half">\(logit >= 0 ? bar : "")</span></td></tr>
        """
    }
    return """
      <section><h2 style="margin-top:0">Prediction</h2>
      <table class="data"><tr><th>class</th><th>probability</th><th>logit</th><th></th></tr>\(rows)</table>
      <p class="sub">Explained: the logit of <b>\(escapeHTML(explanation.targetLabel))</b> (class \(explanation.targetIndex)).\
      \(explanation.encoded.truncated ? " The text was truncated to the model's positions." : "")</p></section>
      """
  }

  /// One row per method; every cell is one token so that methods line up.
  /// One row per method; every cell is one token so that methods line up. Long texts
  /// wrap into blocks of columns (about 80 characters each), each block repeating the
  /// method rows, so the page never scrolls sideways.
  func heatmapTable(header: [String], rows: [(TextExplanation, [Float])]) -> String {
    var blocks: [Range<Int>] = []
    var start = 0
    var width = 0
    for (index, token) in header.enumerated() {
      let cells = token.count + 2
      if width > 0 && width + cells > 80 {
        blocks.append(start..<index)
        start = index
        width = 0
      }
      width += cells
    }
    blocks.append(start..<header.count)
    var html = "<section>"
    for block in blocks where !block.isEmpty || header.isEmpty {
      html += "<table class=\"heat\">"
      for (explanation, values) in rows {
        let scale = values.map(abs).max() ?? 0
        html +=
          "<tr><th title=\"max |R| = \(formatNumber(scale, digits: 7))\">\(escapeHTML(explanation.method.title))"
        html += "<br><span class=\"sub num\">max |R| \(formatNumber(scale, digits: 3))</span></th>"
        for index in block {
          let (token, value) = (header[index], values[index])
          html +=
            "<td class=\"tokcell\"><span class=\"tok\" style=\"\(tokenStyle(value, scale: scale))\" "
            + "title=\"\(escapeHTML(token)): R = \(formatNumber(value, digits: 7))\">\(escapeHTML(token))</span></td>"
        }
        html += "</tr>"
      }
      html += "</table>"
    }
    return html + "</section>"
  }

  var legend: String {
    "<div class=\"legend\"><span>−max |R|</span><span class=\"scale\"></span><span>+max |R|</span>"
      + "<span>each row is scaled by its own largest |R| (shown under the method)</span></div>"
  }

  var conservationTable: String {
    var html =
      "<section><table class=\"data\"><tr><th>method</th><th>Σ R</th><th>target logit</th><th>residual</th>"
      + "<th>f(x) − f(baseline)</th><th>completeness / efficiency residual</th><th>model evaluations</th>"
      + "<th>what the residual is</th></tr>"
    for explanation in explanations {
      let c = explanation.conservation
      html += "<tr><td>\(escapeHTML(explanation.method.title))</td>"
      html +=
        "<td class=\"num\">\(formatNumber(c.sumRelevance))</td><td class=\"num\">\(formatNumber(c.targetLogit))</td>"
      html += "<td class=\"num\">\(formatNumber(c.residual))</td>"
      if let baseline = c.baselineLogit, let completeness = c.completenessResidual {
        html +=
          "<td class=\"num\">\(formatNumber(c.targetLogit - baseline))</td><td class=\"num\">\(formatNumber(completeness))</td>"
      } else {
        html += "<td>–</td><td>–</td>"
      }
      if let perturbation = explanation.perturbation {
        html +=
          "<td class=\"num\" title=\"\(escapeHTML(perturbation.sentence))\">\(groupedDigits(perturbation.evaluations))</td>"
      } else {
        html += "<td>–</td>"
      }
      html += "<td class=\"sub\">\(escapeHTML(explanation.method.residualMeaning))</td></tr>"
    }
    return html + "</table></section>"
  }

  /// Per audited method: a bar per sublayer input, from the logit down to the tokens.
  var auditSection: String {
    var html = ""
    for explanation in explanations {
      guard let audit = explanation.audit else { continue }
      html +=
        "<h2>Relevance audit: \(escapeHTML(explanation.method.title))</h2><section>"
        + auditTableHTML(audit, valueName: "logit")
      html +=
        "<p class=\"sub\">Σ tokens + bias share + rules' share = logit; the input of layer.0.attention is the tokens' sum. "
        + "A drop between two rows is relevance absorbed by the biases or by a rule that is not conservative in between.</p></section>"
    }
    return html
  }
}
