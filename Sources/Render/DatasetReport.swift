import Attribution
import Foundation
import Models

/// One example of a data set with its explanation by every method.
public struct DatasetExample: Sendable {
  /// One row per method, same example.
  public let rows: [DatasetRow]

  /// The first row's facts (every row of an example shares them).
  var first: DatasetRow { rows[0] }
  /// The predicted class.
  var predicted: Int { first.predicted }
  /// Whether the prediction equals the true class (nil without a usable label).
  var correct: Bool? { first.label.map { $0.index == predicted } }
}

/// The HTML page for a data set, built from `xai batch` output rows (so a run, its
/// resumption and its merged shards give the same page): summary with accuracy, class
/// balance and a confusion table; words with the largest mean relevance in each
/// direction; a relevance histogram per method; the per-example heatmaps, which a
/// few lines of inline script let the reader order by confidence, error or length
/// (the page reads in input order without it).
public struct DatasetReport: Sendable {
  /// The page heading.
  public let title: String
  /// Every explained example, in input order.
  public let examples: [DatasetExample]
  /// At most this many examples get a heatmap (the summary uses all).
  public let shownExamples: Int

  /// A page for `rows` (lines of batch output; several methods per example are grouped
  /// by input index), with heatmaps for the first `shownExamples` examples.
  public init(title: String, rows: [DatasetRow], shownExamples: Int = 2000) {
    var byIndex: [Int: [DatasetRow]] = [:]
    for row in rows { byIndex[row.index, default: []].append(row) }
    self.title = title
    examples = byIndex.keys.sorted().map { DatasetExample(rows: byIndex[$0]!) }
    self.shownExamples = shownExamples
  }

  /// Class names by index, as the rows name them.
  var classNames: [Int: String] {
    var names: [Int: String] = [:]
    for example in examples {
      for row in example.rows {
        names[row.target.index] = row.target.label
        if let label = row.label { names[label.index] = label.label }
      }
    }
    return names
  }

  func className(_ index: Int) -> String { classNames[index] ?? "class \(index)" }

  /// The whole page.
  public var html: String {
    var page = HTMLPage(title: "xai · \(title)")
    page.append("<h1>Explanations over a data set</h1>")
    page.append("<p class=\"sub\">\(escapeHTML(title))</p>")
    page.append(summary)
    if let confusion = confusionTable { page.append("<h2>Confusion table</h2>" + confusion) }
    let methods = examples.first?.rows.map(\.methodTitle) ?? []
    let targets = Set(examples.compactMap { $0.rows.first?.target.label }).sorted()
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
    page.append(DatasetReport.orderingScript)
    return page.text
  }

  var summary: String {
    let n = examples.count
    var html = "<section><table class=\"data\"><tr><th>examples</th><td class=\"num\">\(n)</td></tr>"
    let judged = examples.compactMap(\.correct)
    if !judged.isEmpty {
      let correct = judged.filter { $0 }.count
      html +=
        "<tr><th>accuracy</th><td class=\"num\">\(formatNumber(Float(correct) / Float(judged.count), digits: 4)) "
        + "(\(correct) of \(judged.count) labelled)</td></tr>"
    }
    let unknown = examples.filter { $0.first.unknownLabel != nil }.count
    if unknown > 0 {
      html +=
        "<tr><th>labels naming no class</th><td class=\"num\">\(unknown) (left out of the accuracy)</td></tr>"
    }
    var predicted: [String: Int] = [:]
    var truth: [String: Int] = [:]
    for example in examples {
      predicted[className(example.predicted), default: 0] += 1
      if let label = example.first.label { truth[label.label, default: 0] += 1 }
    }
    func balance(_ counts: [String: Int]) -> String {
      counts.sorted { $0.key < $1.key }.map { "\(escapeHTML($0.key)) \($0.value)" }.joined(separator: " · ")
    }
    html += "<tr><th>predicted classes</th><td>\(balance(predicted))</td></tr>"
    if !truth.isEmpty { html += "<tr><th>true classes</th><td>\(balance(truth))</td></tr>" }
    return html + "</table></section>"
  }

  /// Rows: true class; columns: predicted class; nil without labels.
  var confusionTable: String? {
    let labelled = examples.filter { $0.first.label != nil }
    guard !labelled.isEmpty else { return nil }
    let classes = classNames.keys.sorted()
    var counts: [Int: [Int: Int]] = [:]
    for example in labelled {
      counts[example.first.label!.index, default: [:]][example.predicted, default: 0] += 1
    }
    var html = "<section><table class=\"data\"><tr><th>true \\ predicted</th>"
    for column in classes { html += "<th>\(escapeHTML(className(column)))</th>" }
    html += "</tr>"
    for row in classes {
      html += "<tr><th>\(escapeHTML(className(row)))</th>"
      for column in classes {
        let count = counts[row]?[column] ?? 0
        html +=
          "<td class=\"num\"\(row == column && count > 0 ? " style=\"font-weight:600\"" : "")>\(count)</td>"
      }
      html += "</tr>"
    }
    return html + "</table></section>"
  }

  /// Words (pieces merged, lower-cased) seen at least 3 times in examples explained for
  /// `target`, ranked by mean relevance.
  func topWords(method: Int, target: String, count: Int = 15) -> String {
    var totals: [String: (sum: Float, count: Int)] = [:]
    for example in examples where method < example.rows.count && example.rows[method].target.label == target {
      for word in example.rows[method].words
      where !word.text.hasPrefix("[") && word.text.contains(where: { $0.isLetter || $0.isNumber }) {
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
      + "<p class=\"sub\">words (not punctuation) seen at least 3 times in examples explained for this class</p></section>"
  }

  /// Histogram of token relevance (each example scaled by its own max |R|), as inline SVG.
  func histogram(method: Int, bins: Int = 41) -> String {
    var counts = [Int](repeating: 0, count: bins)
    for example in examples where method < example.rows.count {
      let values = example.rows[method].relevance
      let scale = values.map(abs).max() ?? 0
      guard scale > 0 else { continue }
      for value in values where value.isFinite {
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
    html +=
      "<p class=\"sub order\" hidden>Order: <button data-key=\"index\">input</button> "
      + "<button data-key=\"confidence\">least confident first</button> <button data-key=\"error\">errors first</button> "
      + "<button data-key=\"length\">longest first</button></p><div id=\"examples\">"
    for example in shown {
      let first = example.first
      let probability = first.probabilities[example.predicted]
      let verdict: String
      switch example.correct {
      case .some(true): verdict = " · <span style=\"color:#2a7a2a\">✓ correct</span>"
      case .some(false):
        verdict = " · <span style=\"color:#b92626\">✗ true class \(escapeHTML(first.label!.label))</span>"
      case .none: verdict = first.unknownLabel.map { " · label \(escapeHTML($0)) names no class" } ?? ""
      }
      html +=
        "<div class=\"example\" style=\"margin:8px 0\" data-index=\"\(first.index)\" data-confidence=\"\(probability)\" "
        + "data-error=\"\(example.correct == false ? 1 : 0)\" data-length=\"\(first.tokens.count)\">"
        + "<div class=\"sub\">\(escapeHTML(first.id)) · predicted <b>\(escapeHTML(className(example.predicted)))</b> "
        + "(p = \(formatNumber(probability, digits: 3)))\(verdict) · \(first.tokens.count) tokens</div>"
      for row in example.rows {
        let words = row.words
        let scale = words.map { abs($0.relevance) }.max() ?? 0
        html += "<div class=\"sentence\"><span class=\"sub\">\(escapeHTML(row.methodTitle)): </span>"
        for word in words where !WordPieceTokenizer.isSpecial(word.text) {
          html +=
            "<span class=\"tok\" style=\"\(tokenStyle(word.relevance, scale: scale))\" title=\"R = \(formatNumber(word.relevance, digits: 7))\">\(escapeHTML(word.text))</span>"
        }
        html += "</div>"
      }
      html += "</div>"
    }
    return html + "</div></section>"
  }

  /// Reorders the example heatmaps on demand; the page is complete without it.
  static let orderingScript = """
    <script>
    (function () {
      var list = document.getElementById('examples'), bar = document.querySelector('.order');
      if (!list || !bar) return;
      bar.hidden = false;
      var keys = {
        index: function (e) { return +e.dataset.index; },
        confidence: function (e) { return +e.dataset.confidence; },
        error: function (e) { return -e.dataset.error * 1e9 + +e.dataset.confidence; },
        length: function (e) { return -e.dataset.length; }
      };
      bar.addEventListener('click', function (event) {
        var key = keys[event.target.dataset.key];
        if (!key) return;
        Array.prototype.slice.call(list.children)
          .sort(function (a, b) { return key(a) - key(b) || a.dataset.index - b.dataset.index; })
          .forEach(function (e) { list.appendChild(e); });
      });
    })();
    </script>
    """
}
