import Attribution
import Foundation

/// The terminal view and the JSON object of a BiLRP similarity explanation.
public struct SimilarityViews: Sendable {
  /// Colour depth of the terminal view.
  public let mode: ColorMode
  /// Columns of the terminal view.
  public let width: Int
  /// Token pairs listed.
  public let pairs: Int

  public init(mode: ColorMode, width: Int = TerminalHeatmap.terminalWidth(), pairs: Int = 8) {
    self.mode = mode
    self.width = max(40, width)
    self.pairs = max(1, pairs)
  }

  /// The score's name as views print it.
  static func scoreName(_ e: SimilarityExplanation) -> String { e.score == .cosine ? "cosine" : "dot product" }

  /// A token cut to `limit` display cells (terminal-safe).
  static func cut(_ token: String, _ limit: Int) -> String {
    let safe = terminalSafe(token)
    guard displayWidth(safe) > limit else { return safe }
    var out = ""
    for character in safe {
      if displayWidth(out + String(character)) > limit - 1 { break }
      out.append(character)
    }
    return out + "…"
  }

  /// The whole terminal view (ends with a newline): header, both texts coloured by their
  /// tokens' share, the strongest pairs, the matrix and conservation.
  public func terminal(_ e: SimilarityExplanation) -> String {
    let heatmap = TerminalHeatmap(mode: mode, width: width - 3)
    var lines: [String] = []
    let normalised = e.normalizes ? "the model normalises its embeddings" : "the model does not normalise its embeddings"
    lines += wrap(
      "\(terminalSafe(e.modelName)) · BiLRP with \(e.method.displayName) · cosine \(formatNumber(Float(e.cosine))) · dot \(formatNumber(Float(e.dot))) (\(normalised))"
    )
    lines += wrap("explained: the \(Self.scoreName(e)) \(formatNumber(Float(e.scoreValue))); R_ij = Σ_m R_i^m(A)·R_j^m(B)")
    for (name, side, truncated) in [("A", e.a, e.a.encoded.truncated), ("B", e.b, e.b.encoded.truncated)] {
      if truncated { lines.append("(text \(name) was cut to its first \(side.tokens.count) tokens)") }
    }
    let scale = Float(e.largestMagnitude)
    let rowScale = Float(max(e.relevanceA.map(abs).max() ?? 0, e.relevanceB.map(abs).max() ?? 0))
    for (name, side, relevance) in [("A", e.a, e.relevanceA), ("B", e.b, e.relevanceB)] {
      let units = zip(side.tokens, relevance).map { (text: $0, relevance: Float($1)) }
      let body = heatmap.heatmapLines(units, scale: rowScale)
      for (index, line) in body.enumerated() { lines.append((index == 0 ? "\(name): " : "   ") + line) }
    }
    lines.append("   (each token coloured by Σ of its row or column of R; max |Σ| = \(formatNumber(rowScale)))")
    let strongest = e.strongestPairs(pairs)
    if !strongest.isEmpty {
      lines.append("strongest token pairs (A ↔ B; [CLS]/[SEP] left out):")
      let labelWidth = min(18, strongest.map { displayWidth(Self.cut(e.a.tokens[$0.i], 18)) }.max() ?? 0)
      for pair in strongest {
        let left = Self.cut(e.a.tokens[pair.i], 18)
        let padding = String(repeating: " ", count: max(0, labelWidth - displayWidth(left)))
        let value = String(format: "%+9.4g", pair.value)
        let mark = mode == .plain ? value : heatmap.paint(" \(value) ", background: RGB.diverging(Float(pair.value), scale: scale))
        lines.append("  \(mark)  \(padding)\(left) ↔ \(Self.cut(e.b.tokens[pair.j], 18))   (\(pair.i), \(pair.j))")
      }
    }
    lines += matrixLines(e, heatmap: heatmap, scale: scale)
    lines += conservationLines(e)
    return lines.joined(separator: "\n") + "\n"
  }

  /// The matrix, rows = tokens of A, columns = tokens of B numbered (key below), two
  /// cells per entry: a coloured block, or under `plain` the sign and tenths of max |R|.
  func matrixLines(_ e: SimilarityExplanation, heatmap: TerminalHeatmap, scale: Float) -> [String] {
    let (rows, columns) = (e.a.tokens.count, e.b.tokens.count)
    let labels = e.a.tokens.map { Self.cut($0, 12) }
    let labelWidth = labels.map(displayWidth).max() ?? 0
    let perChunk = max(4, (width - labelWidth - 2) / 3)
    var lines = wrap(
      "matrix R (rows: A, columns: B, numbered below; "
        + (mode == .plain
          ? "sign and tenths of max |R| = \(formatNumber(scale)), X the largest, · below a twentieth of it):"
          : "colour scale ±\(formatNumber(scale))):"))
    var start = 0
    while start < columns {
      let end = min(columns, start + perChunk)
      var header = String(repeating: " ", count: labelWidth + 1)
      for j in start..<end { header += String(format: "%3d", j % 1000) }
      lines.append(header)
      for i in 0..<rows {
        var line = labels[i] + String(repeating: " ", count: labelWidth - displayWidth(labels[i]) + 1)
        for j in start..<end {
          let value = Float(e.value(i, j))
          if mode == .plain {
            let tenths = scale > 0 ? Int((abs(value) / scale * 10).rounded()) : 0
            line += tenths == 0 ? "  ·" : " " + (value < 0 ? "-" : "+") + (tenths >= 10 ? "X" : "\(tenths)")
          } else {
            line += " " + heatmap.paint("  ", background: RGB.diverging(value, scale: scale))
          }
        }
        lines.append(line)
      }
      start = end
    }
    var key = "B:"
    var keyLines: [String] = []
    for (j, token) in e.b.tokens.enumerated() {
      let item = " \(j) \(Self.cut(token, 16))"
      if displayWidth(key) + displayWidth(item) > width {
        keyLines.append(key)
        key = "  "
      }
      key += item
    }
    keyLines.append(key)
    return lines + keyLines
  }

  /// Σ R against the score, the residual and what it is; the low-rank line.
  func conservationLines(_ e: SimilarityExplanation) -> [String] {
    var lines = wrap(
      "conservation: Σ R_ij = \(formatNumber(Float(e.sumRelevance))), \(Self.scoreName(e)) = \(formatNumber(Float(e.scoreValue))), residual = \(formatNumber(Float(e.residual))) ([CLS]/[SEP] pairs hold \(formatNumber(Float(e.specialShare))) of Σ R)"
    )
    lines += wrap(e.residualMeaning)
    if let low = e.lowRank { lines += wrap(Self.lowRankSentence(low, score: e.score)) }
    return lines
  }

  /// The low-rank settings and error in one sentence.
  static func lowRankSentence(_ low: SimilarityExplanation.LowRank, score: SimilarityScore) -> String {
    var text =
      "rank \(low.rank): the \(low.rank) principal directions carry cosine \(formatNumber(Float(low.carriedCosine))); truncation error at the encoder output \(formatPercent(low.encoderOutputError)) of max |R|"
    if let exact = low.exactError { text += ", of the explained matrix \(formatPercent(exact)) (measured against the full computation)" }
    return text + "."
  }

  /// `text` cut into lines of at most `width` cells at spaces (continuation lines indented).
  func wrap(_ text: String) -> [String] {
    var lines: [String] = []
    var line = ""
    for word in text.split(separator: " ", omittingEmptySubsequences: false) {
      let candidate = line.isEmpty ? String(word) : line + " " + word
      if displayWidth(candidate) > width && !line.isEmpty {
        lines.append(line)
        line = "  " + word
      } else {
        line = candidate
      }
    }
    if !line.isEmpty { lines.append(line) }
    return lines
  }

  /// The JSON object (docs/json-output.md, `xai similarity`).
  public func json(_ e: SimilarityExplanation) -> JSONOutput {
    func side(_ s: SimilarityExplanation.Side, relevance: [Double]) -> JSONOutput {
      .object([
        ("text", .string(s.encoded.text)), ("tokens", .strings(s.tokens)), ("ids", .ints(s.encoded.ids)),
        ("truncated", .bool(s.encoded.truncated)), ("norm", .float(Float(s.norm))),
        ("relevance", .floats(relevance.map(Float.init))),
      ])
    }
    var members: [(String, JSONOutput)] = [
      ("model", .string(e.modelName)), ("method", .string(e.method.rawValue)), ("explained", .string(e.score.rawValue)),
      ("cosine", .float(Float(e.cosine))), ("dot", .float(Float(e.dot))),
      ("normalized_embeddings", .bool(e.normalizes)),
      ("a", side(e.a, relevance: e.relevanceA)), ("b", side(e.b, relevance: e.relevanceB)),
      (
        "matrix",
        .array(
          (0..<e.a.tokens.count).map { i in .floats((0..<e.b.tokens.count).map { Float(e.value(i, $0)) }) })
      ),
      (
        "strongest_pairs",
        .array(
          e.strongestPairs(pairs).map { p in
            .object([
              ("a", .int(p.i)), ("b", .int(p.j)), ("token_a", .string(e.a.tokens[p.i])),
              ("token_b", .string(e.b.tokens[p.j])), ("relevance", .float(Float(p.value))),
            ])
          })
      ),
      (
        "conservation",
        .object([
          ("sum_relevance", .float(Float(e.sumRelevance))), ("score", .float(Float(e.scoreValue))),
          ("residual", .float(Float(e.residual))), ("special_tokens", .float(Float(e.specialShare))),
          ("residual_is", .string(e.residualMeaning)),
        ])
      ),
      ("computation", .string(e.computation)),
    ]
    if let low = e.lowRank {
      members.append(
        (
          "low_rank",
          .object([
            ("rank", .int(low.rank)), ("carried_cosine", .float(Float(low.carriedCosine))),
            ("encoder_output_error", .float(Float(low.encoderOutputError))),
            ("discarded_eigenvalues", .float(Float(low.discardedEigenvalues))),
            ("exact_error", low.exactError.map { .float(Float($0)) } ?? .null),
          ])
        ))
    }
    return .object(members)
  }
}

/// A fraction as a percentage with three significant digits.
func formatPercent(_ value: Double) -> String {
  formatNumber(Float(value * 100), digits: 3) + " %"
}
