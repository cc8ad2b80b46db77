import Attribution
import Foundation

/// One explained example of a data set.
public struct DatasetExample: Sendable {
  /// The example's id.
  public let id: String
  /// The true label, when the data set has one.
  public let label: String?
  /// One explanation per method (same text).
  public let explanations: [TextExplanation]

  /// An example with its explanations.
  public init(id: String, label: String?, explanations: [TextExplanation]) {
    self.id = id
    self.label = label
    self.explanations = explanations
  }
}

/// The HTML page for a data set: summary (size, accuracy, class balance), words with
/// the largest mean relevance in each direction, a relevance histogram per method,
/// and the per-example heatmaps in collapsed pages of 100.
public struct DatasetReport: Sendable {
  /// The page heading.
  public let title: String
  /// Every explained example.
  public let examples: [DatasetExample]
  /// At most this many examples get a heatmap (the summary uses all).
  public let shownExamples: Int

  /// A page for `examples`, with heatmaps for the first `shownExamples`.
  public init(title: String, examples: [DatasetExample], shownExamples: Int = 2000) {
    self.title = title
    self.examples = examples
    self.shownExamples = shownExamples
  }

  /// The whole page.
  public var html: String {
    var page = HTMLPage(title: "xai · \(title)")
    page.append("<h1>Explanations over a data set</h1>")
    page.append("<p class=\"sub\">\(escapeHTML(title))</p>")
    page.append(summary)
    let methods = examples.first?.explanations.map(\.method.title) ?? []
    let targets = Set(examples.compactMap { $0.explanations.first?.targetLabel }).sorted()
    for (index, method) in methods.enumerated() {
      for target in targets {
        page.append("<h2>\(escapeHTML(method)): words for and against <i>\(escapeHTML(target))</i></h2>")
        page.append(topWords(method: index, target: target))
      }
      page.append("<h2>\(escapeHTML(method)): distribution of token relevance</h2>")
      page.append(histogram(method: index))
    }
    page.append("<h2>Examples</h2>")
    page.append(exampleList)
    return page.text
  }

  var summary: String {
    let n = examples.count
    let labelled = examples.filter { $0.label != nil }
    var html = "<section><table class=\"data\"><tr><th>examples</th><td class=\"num\">\(n)</td></tr>"
    if !labelled.isEmpty {
      let correct = labelled.filter { example in
        guard let first = example.explanations.first else { return false }
        return first.labels[first.predictedIndex].lowercased() == example.label!.lowercased()
      }.count
      html +=
        "<tr><th>accuracy</th><td class=\"num\">\(formatNumber(Float(correct) / Float(labelled.count), digits: 4)) "
        + "(\(correct) of \(labelled.count) labelled)</td></tr>"
    }
    var predicted: [String: Int] = [:]
    var truth: [String: Int] = [:]
    for example in examples {
      if let first = example.explanations.first {
        predicted[first.labels[first.predictedIndex], default: 0] += 1
      }
      if let label = example.label { truth[label, default: 0] += 1 }
    }
    func balance(_ counts: [String: Int]) -> String {
      counts.sorted { $0.key < $1.key }.map { "\(escapeHTML($0.key)) \($0.value)" }.joined(separator: " · ")
    }
    html += "<tr><th>predicted classes</th><td>\(balance(predicted))</td></tr>"
    if !truth.isEmpty { html += "<tr><th>true classes</th><td>\(balance(truth))</td></tr>" }
    return html + "</table></section>"
  }

  /// Words (pieces merged, lower-cased) seen at least 3 times in examples explained for
  /// `target`, ranked by mean relevance.
  func topWords(method: Int, target: String, count: Int = 15) -> String {
    var totals: [String: (sum: Float, count: Int)] = [:]
    for example in examples
    where method < example.explanations.count && example.explanations[method].targetLabel == target {
      for word in example.explanations[method].words() where !word.text.hasPrefix("[") {
        let key = word.text.lowercased()
        let entry = totals[key] ?? (0, 0)
        totals[key] = (entry.sum + word.relevance, entry.count + 1)
      }
    }
    let frequent = totals.filter { $0.value.count >= 3 }.map {
      (word: $0.key, mean: $0.value.sum / Float($0.value.count), count: $0.value.count)
    }
    let positive = frequent.filter { $0.mean > 0 }.sorted { $0.mean > $1.mean }.prefix(count)
    let negative = frequent.filter { $0.mean < 0 }.sorted { $0.mean < $1.mean }.prefix(count)
    let scale = frequent.map { abs($0.mean) }.max() ?? 0
    func column(_ title: String, _ rows: ArraySlice<(word: String, mean: Float, count: Int)>) -> String {
      var html =
        "<td style=\"vertical-align:top\"><table class=\"data\"><tr><th>\(title)</th><th>mean R</th><th>n</th></tr>"
      for row in rows {
        html +=
          "<tr><td><span class=\"tok\" style=\"\(tokenStyle(row.mean, scale: scale))\">\(escapeHTML(row.word))</span></td>"
          + "<td class=\"num\">\(formatNumber(row.mean, digits: 3))</td><td class=\"num\">\(row.count)</td></tr>"
      }
      return html + "</table></td>"
    }
    return "<section><table><tr>" + column("for \(escapeHTML(target))", positive)
      + column("against \(escapeHTML(target))", negative) + "</tr></table>"
      + "<p class=\"sub\">words seen at least 3 times in examples explained for this class</p></section>"
  }

  /// Histogram of token relevance (each example scaled by its own max |R|), as inline SVG.
  func histogram(method: Int, bins: Int = 41) -> String {
    var counts = [Int](repeating: 0, count: bins)
    for example in examples where method < example.explanations.count {
      let values = example.explanations[method].relevance
      let scale = values.map(abs).max() ?? 0
      guard scale > 0 else { continue }
      for value in values {
        let position = Int(((value / scale + 1) / 2 * Float(bins - 1)).rounded())
        counts[min(max(position, 0), bins - 1)] += 1
      }
    }
    let tallest = max(counts.max() ?? 1, 1)
    let (width, height) = (600.0, 140.0)
    let barWidth = width / Double(bins)
    var svg =
      "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height + 20))\" width=\"600\" role=\"img\" aria-label=\"relevance histogram\">"
    for (index, count) in counts.enumerated() {
      let barHeight = height * Double(count) / Double(tallest)
      let centre = Float(index) / Float(bins - 1) * 2 - 1
      let colour = RGB.diverging(centre == 0 ? 0.0001 : centre, scale: 1)
      svg +=
        "<rect x=\"\(String(format: "%.1f", Double(index) * barWidth))\" y=\"\(String(format: "%.1f", height - barHeight))\" "
        + "width=\"\(String(format: "%.1f", barWidth - 1))\" height=\"\(String(format: "%.1f", barHeight))\" fill=\"\(colour.hex)\" stroke=\"#8a93a3\" stroke-width=\"0.5\">"
        + "<title>R/max|R| ≈ \(String(format: "%.2f", centre)): \(count) tokens</title></rect>"
    }
    svg += "<text x=\"0\" y=\"\(Int(height + 15))\" font-size=\"11\" fill=\"#5b6475\">−1</text>"
    svg +=
      "<text x=\"\(Int(width / 2) - 4)\" y=\"\(Int(height + 15))\" font-size=\"11\" fill=\"#5b6475\">0</text>"
    svg +=
      "<text x=\"\(Int(width) - 16)\" y=\"\(Int(height + 15))\" font-size=\"11\" fill=\"#5b6475\">+1</text>"
    return
      "<section>\(svg)<p class=\"sub\">token relevance divided by its example's largest |R|</p></section>"
  }

  var exampleList: String {
    let shown = examples.prefix(shownExamples)
    var html = "<section>"
    if shown.count < examples.count {
      html += "<p class=\"sub\">Heatmaps of the first \(shown.count) of \(examples.count) examples.</p>"
    }
    for start in stride(from: 0, to: shown.count, by: 100) {
      let end = min(start + 100, shown.count)
      html += "<details\(start == 0 ? " open" : "")><summary>examples \(start + 1)–\(end)</summary>"
      for example in shown[start..<end] {
        guard let first = example.explanations.first else { continue }
        let predicted = first.labels[first.predictedIndex]
        let verdict =
          example.label.map {
            $0.lowercased() == predicted.lowercased() ? "✓" : "✗ (true: \(escapeHTML($0)))"
          } ?? ""
        html +=
          "<div style=\"margin:8px 0\"><div class=\"sub\">\(escapeHTML(example.id)) · predicted \(escapeHTML(predicted)) \(verdict)</div>"
        for explanation in example.explanations {
          let words = explanation.words()
          let scale = words.map { abs($0.relevance) }.max() ?? 0
          html +=
            "<div class=\"sentence\"><span class=\"sub\">\(escapeHTML(explanation.method.title)): </span>"
          for word in words where !(word.text == "[CLS]" || word.text == "[SEP]") {
            html +=
              "<span class=\"tok\" style=\"\(tokenStyle(word.relevance, scale: scale))\" title=\"R = \(formatNumber(word.relevance, digits: 7))\">\(escapeHTML(word.text))</span>"
          }
          html += "</div>"
        }
        html += "</div>"
      }
      html += "</details>"
    }
    return html + "</section>"
  }
}
