import Attribution
import Foundation

/// How much colour the terminal can show.
public enum ColorMode: Sendable, Equatable {
  /// 24-bit escape codes.
  case trueColor
  /// xterm 256-colour escape codes.
  case palette256
  /// No escape codes; numbers in brackets.
  case plain

  /// What the environment asks for: plain under `NO_COLOR` or when stdout is not a
  /// terminal, 24-bit when `COLORTERM` says so, 256 colours otherwise.
  public static func detect(
    environment: [String: String] = ProcessInfo.processInfo.environment,
    isTerminal: Bool = isatty(STDOUT_FILENO) != 0
  ) -> ColorMode {
    if environment["NO_COLOR"].map({ !$0.isEmpty }) == true || !isTerminal { return .plain }
    let colorTerm = environment["COLORTERM"]?.lowercased() ?? ""
    return colorTerm == "truecolor" || colorTerm == "24bit" ? .trueColor : .palette256
  }
}

/// The terminal view of a text explanation: header, heatmap wrapped to the width,
/// colour scale and conservation.
public struct TerminalHeatmap: Sendable {
  /// Colour depth.
  public let mode: ColorMode
  /// Columns to wrap at.
  public let width: Int
  /// Merge word pieces into words.
  public let mergeWords: Bool

  /// A view for `mode`, wrapped at `width`, with word pieces merged when asked.
  public init(mode: ColorMode, width: Int = TerminalHeatmap.terminalWidth(), mergeWords: Bool = false) {
    self.mode = mode
    self.width = max(20, width)
    self.mergeWords = mergeWords
  }

  /// Columns of the terminal (`COLUMNS`, the tty, or 80).
  public static func terminalWidth() -> Int {
    if let columns = ProcessInfo.processInfo.environment["COLUMNS"].flatMap(Int.init), columns > 0 {
      return columns
    }
    var size = winsize()
    if ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
    return 80
  }

  /// The whole view as text (ends with a newline).
  public func render(_ explanation: TextExplanation) -> String {
    let predicted = explanation.predictedIndex
    let labels = explanation.labels
    var lines: [String] = []
    lines.append(
      "\(terminalSafe(explanation.modelName)) · predicted \(terminalSafe(labels[predicted])) (p = \(formatNumber(explanation.probabilities[predicted], digits: 3)))"
        + " · method \(explanation.method.title) · target \(terminalSafe(explanation.targetLabel)) [\(explanation.targetIndex)]"
    )
    if explanation.encoded.truncated {
      lines.append("(the text was truncated to the model's positions)")
    }
    let units: [(text: String, relevance: Float)] =
      mergeWords ? explanation.words() : Array(zip(explanation.tokens, explanation.relevance))
    let scale = units.map { abs($0.relevance) }.max() ?? 0
    lines += heatmapLines(units, scale: scale)
    lines.append(legend(scale: scale))
    lines += conservationLines(explanation.conservation, method: explanation.method)
    if let perturbation = explanation.perturbation { lines.append("cost: \(perturbation.sentence)") }
    if let audit = explanation.audit { lines += auditLines(audit) }
    return lines.joined(separator: "\n") + "\n"
  }

  /// The audit from f (`valueName`: the logit, a logit difference…) down to the tokens,
  /// one line per sublayer input with a bar. With `collapsingRuns`, a run of four or more
  /// sublayer inputs that print the same number shows its first and last row and a line
  /// saying how many lie between (a conservative deep model is flat for dozens of rows).
  func auditLines(_ audit: RelevanceAudit, valueName: String = "logit", collapsingRuns: Bool = false) -> [String] {
    let rows = audit.rows(valueName: valueName)
    let scale = rows.map { abs($0.1) }.filter(\.isFinite).max() ?? 0
    let nameWidth = rows.map(\.0.count).max() ?? 0
    var lines = ["audit: Σ h·∂f/∂h at the input of each sublayer, from the \(valueName) down to the tokens:"]
    func line(_ name: String, _ value: Float) -> String {
      "  " + name.padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "  " + auditBar(value, scale: scale) + "  "
        + formatNumber(value)
    }
    lines.append(line(rows[0].name, rows[0].value))
    // The sublayer inputs: rows 1 ..< count − 2.
    var index = 1
    while index < rows.count - 2 {
      var end = index + 1
      while collapsingRuns && end < rows.count - 2 && formatNumber(rows[end].value) == formatNumber(rows[index].value) {
        end += 1
      }
      if end - index >= 4 {
        lines.append(line(rows[index].name, rows[index].value))
        lines.append(
          "  ⋮ \(rows[index + 1].name) … \(rows[end - 2].name): \(end - index - 2) more, all \(formatNumber(rows[index].value))")
        lines.append(line(rows[end - 1].name, rows[end - 1].value))
      } else {
        for row in rows[index..<end] { lines.append(line(row.name, row.value)) }
      }
      index = end
    }
    lines.append("")
    for row in rows.suffix(2) { lines.append(line(row.name, row.value)) }
    lines.append(
      "  (Σ tokens + bias share + rules' share = \(valueName); the first layer's input is the tokens' sum)")
    return lines
  }

  func auditBar(_ value: Float, scale: Float, width: Int = 24) -> String {
    // A value that is not a finite number (a model whose weights overflow) draws no bar.
    let fraction = scale > 0 && scale.isFinite && value.isFinite ? min(1, abs(value) / scale) : 0
    let filled = Int((Float(width) * fraction).rounded())
    let body = String(repeating: "█", count: filled) + String(repeating: " ", count: width - filled)
    guard mode != .plain else { return (value < 0 ? "-" : "+") + body }
    return paint(
      String(repeating: "█", count: filled), foreground: RGB.diverging(value >= 0 ? 1 : -1, scale: 1))
      + String(repeating: " ", count: width - filled)
  }

  func paint(_ text: String, foreground: RGB) -> String {
    switch mode {
    case .plain: return text
    case .trueColor:
      return "\u{1B}[38;2;\(foreground.red);\(foreground.green);\(foreground.blue)m\(text)\u{1B}[0m"
    case .palette256: return "\u{1B}[38;5;\(foreground.xterm256)m\(text)\u{1B}[0m"
    }
  }

  func heatmapLines(_ units: [(text: String, relevance: Float)], scale: Float) -> [String] {
    var lines: [String] = []
    var line = ""
    var used = 0
    for unit in units {
      // A merged word is a span of the original text, control characters and all.
      let text = terminalSafe(unit.text)
      let label = mode == .plain ? "\(text)(\(formatNumber(unit.relevance)))" : " \(text) "
      let cells = displayWidth(label)
      if used > 0 && used + 1 + cells > width {
        lines.append(line)
        line = ""
        used = 0
      }
      if used > 0 {
        line += " "
        used += 1
      }
      line += paint(label, background: RGB.diverging(unit.relevance, scale: scale))
      used += cells
    }
    if !line.isEmpty { lines.append(line) }
    return lines
  }

  func legend(scale: Float) -> String {
    guard mode != .plain else { return "scale: relevance in brackets, max |R| = \(formatNumber(scale))" }
    let steps: [Float] = [-1, -0.75, -0.5, -0.25, 0, 0.25, 0.5, 0.75, 1]
    let bar = steps.map { paint("  ", background: RGB.diverging($0, scale: 1)) }.joined()
    return "−\(formatNumber(scale)) \(bar) +\(formatNumber(scale))   (blue: against the target, red: for it)"
  }

  func paint(_ text: String, background: RGB) -> String {
    let foreground = background.contrastingText
    switch mode {
    case .plain: return text
    case .trueColor:
      return "\u{1B}[48;2;\(background.red);\(background.green);\(background.blue)m"
        + "\u{1B}[38;2;\(foreground.red);\(foreground.green);\(foreground.blue)m\(text)\u{1B}[0m"
    case .palette256:
      return "\u{1B}[48;5;\(background.xterm256)m\u{1B}[38;5;\(foreground.xterm256)m\(text)\u{1B}[0m"
    }
  }
}

/// The conservation line (Σ R against the target logit, `summed` naming what was
/// summed, `extra` appended), the completeness line of path methods and one sentence
/// on what the residual is for the method.
func conservationLines(
  _ c: Conservation, method: MethodSummary, summed: String = "Σ R", extra: String = ""
) -> [String] {
  var lines = [
    "conservation: \(summed) = \(formatNumber(c.sumRelevance)), target logit = \(formatNumber(c.targetLogit)), residual = \(formatNumber(c.residual))\(extra)"
  ]
  if let baseline = c.baselineLogit, let completeness = c.completenessResidual {
    lines.append(
      "\(method.completenessName): f(x) − f(baseline) = \(formatNumber(c.targetLogit - baseline)), residual = \(formatNumber(completeness))"
    )
  }
  lines.append(method.residualMeaning)
  return lines
}

/// Terminal cells a string occupies (wide East Asian characters and emoji take two).
func displayWidth(_ text: String) -> Int {
  text.unicodeScalars.reduce(0) { total, scalar in
    let value = scalar.value
    if scalar.properties.generalCategory == .nonspacingMark || scalar.properties.generalCategory == .format {
      return total
    }
    let wide =
      (0x1100...0x115F).contains(value) || (0x2E80...0xA4CF).contains(value)
      || (0xAC00...0xD7A3).contains(value) || (0xF900...0xFAFF).contains(value)
      || (0xFE30...0xFE4F).contains(value) || (0xFF00...0xFF60).contains(value)
      || (0xFFE0...0xFFE6).contains(value) || (0x1F300...0x1FAFF).contains(value)
      || (0x20000...0x3FFFD).contains(value)
    return total + (wide ? 2 : 1)
  }
}
