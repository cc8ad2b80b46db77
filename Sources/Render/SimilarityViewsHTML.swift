import Attribution
import Foundation
import Models

/// The HTML page of one or more BiLRP explanations: scores, the two texts coloured by
/// their tokens' share, the strongest pairs drawn as links between the texts, and the
/// matrix with both texts on its axes (inline SVG, no script, no external resource).
public struct SimilarityPage: Sendable {
  public let explanations: [SimilarityExplanation]
  /// Links drawn between the texts.
  public let links: Int

  public init(explanations: [SimilarityExplanation], links: Int = 12) {
    self.explanations = explanations
    self.links = links
  }

  public var html: String {
    var page = HTMLPage(title: explanations.first.map { "\($0.modelName): similarity explained (BiLRP)" } ?? "xai")
    page.footer =
      "Made by xai. BiLRP: R_ij = Σ_m R_i^m(A)·R_j^m(B), the relevance of token i of A and token j of B for the similarity. Red raises the similarity, blue lowers it, white is zero; intensity is |R| relative to the largest |R| of that view. Hover a cell, token or link for its value."
    page.append("<h1>Why are these texts similar?</h1>")
    if let first = explanations.first {
      page.append("<p class=\"sub\">\(escapeHTML(first.modelName)) · BiLRP with \(escapeHTML(first.method.displayName))</p>")
    }
    for (index, e) in explanations.enumerated() { page.append(section(e, index: index)) }
    return page.text
  }

  func section(_ e: SimilarityExplanation, index: Int) -> String {
    let name = e.score == .cosine ? "cosine" : "dot product"
    var html = "<section>\n"
    if explanations.count > 1 { html += "<h2>Pair \(index + 1): \(escapeHTML(e.method.displayName))</h2>\n" }
    html += """
      <table class="data"><tr><th>cosine</th><th>dot product</th><th>explained</th><th>Σ R<sub>ij</sub></th><th>residual</th><th>[CLS]/[SEP] pairs</th></tr>
      <tr><td class="num">\(formatNumber(Float(e.cosine)))</td><td class="num">\(formatNumber(Float(e.dot)))</td><td>\(name)</td><td class="num">\(formatNumber(Float(e.sumRelevance)))</td><td class="num">\(formatNumber(Float(e.residual)))</td><td class="num">\(formatNumber(Float(e.specialShare)))</td></tr></table>
      <p class="sub">\(escapeHTML(e.residualMeaning))\(e.lowRank.map { " " + escapeHTML(SimilarityViews.lowRankSentence($0, score: e.score)) } ?? "")</p>

      """
    let rowScale = Float(max(e.relevanceA.map(abs).max() ?? 0, e.relevanceB.map(abs).max() ?? 0))
    for (label, side, relevance) in [("A", e.a, e.relevanceA), ("B", e.b, e.relevanceB)] {
      html += "<p class=\"sentence\"><b>\(label)</b> "
      for (token, value) in zip(side.tokens, relevance) {
        html +=
          "<span class=\"tok\" style=\"\(tokenStyle(Float(value), scale: rowScale))\" title=\"\(escapeHTML(token)): Σ = \(formatNumber(Float(value)))\">\(escapeHTML(token))</span>"
      }
      html += "</p>\n"
    }
    html += "<h2>Strongest pairs</h2>\n" + linkDiagram(e) + "\n"
    html += "<h2>Token × token relevance</h2>\n" + matrix(e) + "\n"
    html += "</section>"
    return html
  }

  /// Estimated width of a token in the 13 px monospace of the diagrams.
  static func tokenWidth(_ token: String) -> Double { Double(max(1, displayWidth(token))) * 7.9 + 10 }

  /// Both texts on two lines, the strongest pairs as curves between them.
  func linkDiagram(_ e: SimilarityExplanation) -> String {
    let gap = 6.0
    func positions(_ tokens: [String]) -> [(x: Double, width: Double)] {
      var x = 40.0
      return tokens.map { token in
        let w = Self.tokenWidth(token)
        defer { x += w + gap }
        return (x, w)
      }
    }
    let (pa, pb) = (positions(e.a.tokens), positions(e.b.tokens))
    let width = max((pa.last.map { $0.x + $0.width } ?? 0), (pb.last.map { $0.x + $0.width } ?? 0)) + 40
    let (topY, bottomY) = (24.0, 196.0)
    let pairs = e.strongestPairs(links)
    let scale = pairs.map { abs($0.value) }.max() ?? 0
    var svg =
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"230\" role=\"img\" aria-label=\"strongest token pairs\">"
    svg += "<text x=\"4\" y=\"\(topY + 15)\" font-weight=\"600\" fill=\"#5b6475\">A</text>"
    svg += "<text x=\"4\" y=\"\(bottomY + 15)\" font-weight=\"600\" fill=\"#5b6475\">B</text>"
    // Weakest first, so that the strongest lie on top.
    for pair in pairs.reversed() {
      let (a, b) = (pa[pair.i], pb[pair.j])
      let (x1, x2) = (a.x + a.width / 2, b.x + b.width / 2)
      let strength = scale > 0 ? abs(pair.value) / scale : 0
      let colour = RGB.diverging(pair.value >= 0 ? 1 : -1, scale: 1).hex
      let path = String(
        format: "M%.1f %.1f C%.1f %.1f, %.1f %.1f, %.1f %.1f", x1, topY + 22, x1, topY + 90, x2, bottomY - 68, x2,
        bottomY - 2)
      svg +=
        "<path d=\"\(path)\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\(String(format: "\"%.1f\"", 1 + 6 * strength)) stroke-opacity=\(String(format: "\"%.2f\"", 0.35 + 0.55 * strength))><title>\(escapeHTML(e.a.tokens[pair.i])) ↔ \(escapeHTML(e.b.tokens[pair.j])): \(formatNumber(Float(pair.value)))</title></path>"
    }
    let rowScale = Float(max(e.relevanceA.map(abs).max() ?? 0, e.relevanceB.map(abs).max() ?? 0))
    for (tokens, places, relevance, y) in [(e.a.tokens, pa, e.relevanceA, topY), (e.b.tokens, pb, e.relevanceB, bottomY)] {
      for (k, token) in tokens.enumerated() {
        let background = RGB.diverging(Float(relevance[k]), scale: rowScale)
        svg +=
          "<g><title>\(escapeHTML(token)): Σ = \(formatNumber(Float(relevance[k])))</title><rect x=\(String(format: "\"%.1f\"", places[k].x)) y=\"\(y)\" width=\(String(format: "\"%.1f\"", places[k].width)) height=\"21\" rx=\"4\" fill=\"\(background.hex)\" stroke=\"#d9dde5\"/>"
          + "<text x=\(String(format: "\"%.1f\"", places[k].x + 5)) y=\"\(y + 15)\" font-family=\"ui-monospace, Menlo, monospace\" font-size=\"13\" fill=\"\(background.contrastingText.hex)\">\(escapeHTML(token))</text></g>"
      }
    }
    svg += "</svg>"
    return "<p class=\"sub\">The \(pairs.count) pairs of word pieces with the largest |R<sub>ij</sub>| ([CLS] and [SEP] left out); line width and opacity grow with |R|.</p>" + svg
  }

  /// The matrix as SVG: rows the tokens of A, columns the tokens of B (labels slanted).
  func matrix(_ e: SimilarityExplanation) -> String {
    let (rows, columns) = (e.a.tokens.count, e.b.tokens.count)
    let cell = Double(max(10, min(26, 720 / max(rows, columns, 1))))
    let labelWidth = min(160, (e.a.tokens.map { Self.tokenWidth($0) }.max() ?? 40) + 8)
    let headerHeight = min(150, (e.b.tokens.map { Self.tokenWidth($0) }.max() ?? 40) * 0.8 + 16)
    let width = labelWidth + Double(columns) * cell + 30 + headerHeight * 0.6
    let height = headerHeight + Double(rows) * cell + 50
    let scale = Float(e.largestMagnitude)
    var svg =
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" role=\"img\" aria-label=\"relevance matrix\">"
    let fontSize = cell >= 16 ? 12 : 10
    for (j, token) in e.b.tokens.enumerated() {
      let x = labelWidth + (Double(j) + 0.5) * cell + 3
      svg +=
        "<text transform=\"translate(\(String(format: "%.1f", x)),\(String(format: "%.1f", headerHeight - 6))) rotate(-65)\" font-size=\"\(fontSize)\" font-family=\"ui-monospace, Menlo, monospace\">\(escapeHTML(token))</text>"
    }
    for (i, token) in e.a.tokens.enumerated() {
      let y = headerHeight + (Double(i) + 0.5) * cell + 4
      svg +=
        "<text x=\"\(String(format: "%.1f", labelWidth - 6))\" y=\"\(String(format: "%.1f", y))\" text-anchor=\"end\" font-size=\"\(fontSize)\" font-family=\"ui-monospace, Menlo, monospace\">\(escapeHTML(token))</text>"
      for j in 0..<columns {
        let value = Float(e.value(i, j))
        svg +=
          "<rect x=\"\(String(format: "%.1f", labelWidth + Double(j) * cell))\" y=\"\(String(format: "%.1f", headerHeight + Double(i) * cell))\" width=\"\(String(format: "%.1f", cell - 1))\" height=\"\(String(format: "%.1f", cell - 1))\" fill=\"\(RGB.diverging(value, scale: scale).hex)\"><title>\(escapeHTML(token)) ↔ \(escapeHTML(e.b.tokens[j])): \(formatNumber(value))</title></rect>"
      }
    }
    let legendY = headerHeight + Double(rows) * cell + 18
    svg += "<text x=\"\(String(format: "%.1f", labelWidth))\" y=\"\(String(format: "%.1f", legendY + 10))\" font-size=\"12\" fill=\"#5b6475\">rows: A · columns: B · scale ±\(formatNumber(scale))</text>"
    svg += "</svg>"
    return svg
      + "<div class=\"legend\">−\(formatNumber(scale)) <span class=\"scale\"></span> +\(formatNumber(scale)) (blue lowers the similarity, red raises it)</div>"
  }
}

/// One line of an `xai batch` output over pairs, as the data-set page reads it.
public struct SimilarityDatasetRow: Sendable {
  public let index: Int
  public let id: String
  public let method: String
  public let a: String
  public let b: String
  public let cosine: Double
  public let dot: Double
  public let sumRelevance: Double
  public let score: Double
  /// (token of A, token of B, R).
  public let pairs: [(String, String, Double)]

  /// The row of one output line, or nil when the line is not a similarity line.
  public init?(_ node: JSONNode) {
    guard let index = node["index"]?.int, let a = node["a"]?["text"]?.string, let b = node["b"]?["text"]?.string,
      let cosine = node["cosine"]?.double, let dot = node["dot"]?.double,
      let conservation = node["conservation"], let sum = conservation["sum_relevance"]?.double,
      let score = conservation["score"]?.double
    else { return nil }
    self.index = index
    id = node["id"]?.string ?? node["id"]?.int.map(String.init) ?? "\(index)"
    method = node["method"]?.string ?? ""
    self.a = a
    self.b = b
    self.cosine = cosine
    self.dot = dot
    sumRelevance = sum
    self.score = score
    pairs = (node["strongest_pairs"]?.elements ?? []).compactMap { p in
      guard let ta = p["token_a"]?.string, let tb = p["token_b"]?.string, let r = p["relevance"]?.double else {
        return nil
      }
      return (ta, tb, r)
    }
  }
}

/// The data-set page of a batch over pairs: every pair by score, highest first, with its
/// strongest token pairs.
public struct SimilarityDatasetPage: Sendable {
  public let title: String
  public let rows: [SimilarityDatasetRow]
  /// Token pairs shown per row.
  public let pairsShown: Int

  public init(title: String, rows: [SimilarityDatasetRow], pairsShown: Int = 4) {
    self.title = title
    self.rows = rows
    self.pairsShown = pairsShown
  }

  public var html: String {
    var page = HTMLPage(title: title)
    page.footer =
      "Made by xai. Each row is one pair of the data set, highest score first; its strongest token pairs are the largest |R_ij| of its BiLRP matrix (red raises the similarity, blue lowers it). The full matrices are in the JSON Lines output; 'xai similarity' draws one pair."
    page.append("<h1>\(escapeHTML(title))</h1>")
    let methods = Set(rows.map(\.method)).sorted().joined(separator: ", ")
    let scores = rows.map(\.score)
    let mean = scores.isEmpty ? 0 : scores.reduce(0, +) / Double(scores.count)
    let pairCount = Set(rows.map(\.index)).count
    page.append(
      "<p class=\"sub\">\(pairCount) pair\(pairCount == 1 ? "" : "s") · method\(methods.contains(",") ? "s" : "") \(escapeHTML(methods)) · \(rows.count) explanation\(rows.count == 1 ? "" : "s") · mean score \(formatNumber(Float(mean)))</p>")
    var table =
      "<section><table class=\"data\"><tr><th>#</th><th>id</th><th>method</th><th>score</th><th>Σ R</th><th>A</th><th>B</th><th>strongest token pairs</th></tr>\n"
    let sorted = rows.sorted { $0.score != $1.score ? $0.score > $1.score : ($0.index, $0.method) < ($1.index, $1.method) }
    for row in sorted {
      let scale = row.pairs.map { abs($0.2) }.max() ?? 0
      let pairs = row.pairs.prefix(pairsShown).map { a, b, r in
        "<span class=\"tok\" style=\"\(tokenStyle(Float(r), scale: Float(scale)))\" title=\"\(formatNumber(Float(r)))\">\(escapeHTML(a)) ↔ \(escapeHTML(b))</span>"
      }.joined(separator: " ")
      table +=
        "<tr><td class=\"num\">\(row.index)</td><td>\(escapeHTML(row.id))</td><td>\(escapeHTML(row.method))</td><td class=\"num\">\(formatNumber(Float(row.score)))</td><td class=\"num\">\(formatNumber(Float(row.sumRelevance)))</td><td>\(escapeHTML(row.a))</td><td>\(escapeHTML(row.b))</td><td>\(pairs)</td></tr>\n"
    }
    table += "</table></section>"
    page.append(table)
    return page.text
  }
}

extension SimilarityDatasetRow {
  /// The rows of a batch output over pairs (lines of other kinds are skipped).
  public static func read(_ path: String) throws -> [SimilarityDatasetRow] {
    let lines = try LineReader(path: path)
    var rows: [SimilarityDatasetRow] = []
    while let (_, value) = try lines.nextJSONLine() {
      if let node = try? value.get(), let row = SimilarityDatasetRow(node) { rows.append(row) }
    }
    return rows
  }
}
