import Attribution
import Foundation

/// Terminal and JSON views of a language-model explanation.
public struct LanguageViews: Sendable {
  public let mode: ColorMode
  public let width: Int

  public init(mode: ColorMode, width: Int = TerminalHeatmap.terminalWidth()) {
    self.mode = mode
    self.width = max(20, width)
  }

  func describe(_ tokens: [String]) -> String { "\"" + visible(tokens.joined()) + "\"" }

  /// A token's text for the terminal: line breaks and tabs drawn as ↵ and ⇥ (a token is
  /// often just "\n"), every other control character made harmless.
  func visible(_ text: String) -> String {
    terminalSafe(text.replacingOccurrences(of: "\n", with: "↵").replacingOccurrences(of: "\t", with: "⇥"))
  }

  /// The terminal view: a heading, then for one step the heatmap of its sources, for several
  /// the source × generated matrix and the heatmap of the last step.
  public func terminal(_ explanation: LanguageExplanation) -> String {
    let heatmap = TerminalHeatmap(mode: mode, width: width)
    var lines: [String] = []
    let method = explanation.method.displayName
    let tokens = explanation.tokens
    if explanation.generated.isEmpty == false {
      lines.append(
        "\(terminalSafe(explanation.modelName)) · method \(method) · \(explanation.generated.count) generated tokens: "
          + describe(Array(tokens[explanation.promptCount...])))
    }
    if explanation.steps.count > 1 { lines += matrixLines(explanation) }
    if explanation.steps.count > 1 { lines += auditSummaryLines(explanation) }
    if let step = explanation.steps.last {
      lines.append(heading(step, explanation))
      let units = (0..<step.relevance.count).map { (text: visible(tokens[$0]), relevance: step.relevance[$0]) }
      let scale = units.map { abs($0.relevance) }.max() ?? 0
      lines += heatmap.heatmapLines(units, scale: scale)
      lines.append(heatmap.legend(scale: scale))
      let sum = step.relevance.reduce(0, +)
      if let baseline = step.baselineValue {
        let summary = MethodSummary(kind: explanation.method, detached: [])
        lines.append(
          "\(summary.completenessName): Σ R = \(formatNumber(sum)), \(step.quantity) − baseline = \(formatNumber(step.value)) − \(formatNumber(baseline)) = \(formatNumber(step.value - baseline)), residual \(formatNumber(step.value - baseline - sum)) (baseline: the end token at every \(step.perturbation == nil ? "position" : "perturbed position"))")
        if let perturbation = step.perturbation {
          lines.append(summary.residualMeaning)
          lines.append("cost: \(perturbation.sentence)")
        } else if abs(step.value - baseline - sum) > 0.1 * max(abs(step.value - baseline), 1e-6) {
          lines.append(
            "warning: the path integral has not converged (residual above 10 % of the change); raise --steps and compare.")
        }
      } else {
        lines.append(
          "conservation: Σ R = \(formatNumber(sum)), \(step.quantity) = \(formatNumber(step.value)), residual \(formatNumber(step.value - sum))"
            + (explanation.method == .attnlrp ? " (AttnLRP differentiates the softmax as is: not conservative)" : ""))
      }
      if let audit = step.audit {
        lines += heatmap.auditLines(audit, valueName: step.quantity, collapsingRuns: true)
        lines += wrapped(Self.auditMeaning(explanation.method, quantity: step.quantity), indent: "  ")
      }
    }
    return lines.joined(separator: "\n") + "\n"
  }

  /// `text` broken at spaces into lines of at most `width` cells, each starting with `indent`.
  func wrapped(_ text: String, indent: String) -> [String] {
    var lines: [String] = []
    var line = indent
    for word in text.split(separator: " ") {
      if line.count > indent.count && displayWidth(line) + 1 + displayWidth(String(word)) > width {
        lines.append(line)
        line = indent
      }
      line += (line.count > indent.count ? " " : "") + word
    }
    if line.count > indent.count { lines.append(line) }
    return lines
  }

  /// What the rules' share of an audit is, for `method` and a target of kind `quantity`.
  static func auditMeaning(_ method: MethodKind, quantity: String) -> String {
    let logProbability = quantity == "log-probability"
    func logSoftmax(_ part: String) -> String {
      logProbability
        ? " f is a log-probability: the head entry is Σ z·∂f/∂z over the logits z, and f minus it (−Σ of each prediction's entropy) is the log-softmax's share, \(part) the rules' share."
        : ""
    }
    switch method {
    case .lrp:
      let affine =
        "lrp holds every norm scale, attention probability, activation ratio and SwiGLU gate constant: the network up to the logits is affine in the tokens and biases"
      return logProbability
        ? affine + ", so each entry is the head entry minus the biases after it." + logSoftmax("all of")
        : affine + ", so the rules' share is 0 up to float32 rounding and each entry is f minus the biases after it."
    case .attnlrp:
      return
        "attnlrp differentiates attention's softmax as is and gives each factor of attention's and SwiGLU's products half of the gradient: the rules' share is what that does not conserve (a step between two entries shows where)."
        + logSoftmax("part of")
    default:
      return
        "\(method.rawValue) takes plain gradients through norms, softmax and activations, which do not conserve: the rules' share is what they create or lose."
        + logSoftmax("part of")
    }
  }

  /// With several audited steps: one line per step with f and its three parts.
  func auditSummaryLines(_ explanation: LanguageExplanation) -> [String] {
    let audited = explanation.steps.filter { $0.audit != nil }
    guard !audited.isEmpty else { return [] }
    func cell(_ text: String, _ width: Int) -> String { text.padding(toLength: width, withPad: " ", startingAt: 0) }
    var lines = [
      "audit per step: f = Σ tokens + bias share + rules' share (the last step in full below)",
      "  " + cell("step", 5) + cell("token", 15) + cell("f", 11) + cell("Σ tokens", 11) + cell("bias share", 12) + "rules' share",
    ]
    for step in audited {
      guard let audit = step.audit else { continue }
      let index = step.generatedIndex.map { String($0 + 1) } ?? "-"
      let token = String(visible(step.tokenTexts.joined()).prefix(13))
      lines.append(
        "  " + cell(index, 5) + cell("\"" + token + "\"", 15) + cell(formatNumber(audit.targetLogit), 11)
          + cell(formatNumber(audit.sumTokens), 11) + cell(formatNumber(audit.biasShare), 12) + formatNumber(audit.ruleShare))
    }
    return lines
  }

  func heading(_ step: LanguageExplanation.Step, _ explanation: LanguageExplanation) -> String {
    let target = describe(step.tokenTexts)
    let what: String
    if let index = step.generatedIndex, step.tokens.count > 1 {
      what = "generated tokens \(index + 1)…\(index + step.tokens.count) \(target)"
    } else if let index = step.generatedIndex {
      what = "generated token \(index + 1) \(target)"
    } else {
      what = "next token \(target)"
    }
    let probability = step.probabilities.count == 1 ? " (p = \(formatNumber(step.probabilities[0], digits: 3)))" : ""
    let contrast = step.contrastText.map { " rather than \(describe([$0]))" } ?? ""
    return "\(terminalSafe(explanation.modelName)) · method \(explanation.method.displayName) · \(what)\(probability)\(contrast) · \(step.quantity) \(formatNumber(step.value))"
  }

  /// One row per explained step: its token, p, f and a cell per source coloured by R / max|R| of the row.
  func matrixLines(_ explanation: LanguageExplanation) -> [String] {
    var lines = ["source × generated: one row per generated token, one cell per earlier position (prompt │ generated), each row scaled to its own max |R|"]
    let labelWidth = 14
    for step in explanation.steps {
      let label = visible(step.tokenTexts.joined())
      let shown = String(label.prefix(labelWidth)).padding(toLength: labelWidth, withPad: " ", startingAt: 0)
      let scale = step.relevance.map(abs).max() ?? 0
      var cells = ""
      if mode == .plain {
        let top = step.relevance.indices.sorted { abs(step.relevance[$0]) > abs(step.relevance[$1]) }.prefix(3)
        cells = top.map { "\(visible(explanation.tokens[$0]))(\(formatNumber(step.relevance[$0])))" }.joined(separator: " ")
      } else {
        for (s, r) in step.relevance.enumerated() {
          if s == explanation.promptCount { cells += "│" }
          cells += heatmapCell(r, scale: scale)
        }
      }
      let index = step.generatedIndex.map { String($0 + 1) } ?? "-"
      lines.append(
        index.padding(toLength: 4, withPad: " ", startingAt: 0) + shown + " p=" + formatNumber(step.probabilities.first ?? 0, digits: 2)
          + "  " + cells)
    }
    return lines
  }

  func heatmapCell(_ value: Float, scale: Float) -> String {
    let color = RGB.diverging(value, scale: scale)
    switch mode {
    case .plain: return ""
    case .trueColor: return "\u{1B}[48;2;\(color.red);\(color.green);\(color.blue)m \u{1B}[0m"
    case .palette256: return "\u{1B}[48;5;\(color.xterm256)m \u{1B}[0m"
    }
  }

  /// The JSON object (docs/json-output.md, "xai explain with a language model").
  public func json(_ explanation: LanguageExplanation) -> JSONOutput {
    .object([
      ("model", .string(explanation.modelName)),
      ("method", .string(explanation.method.rawValue)),
      ("ids", .ints(explanation.ids)),
      ("tokens", .strings(explanation.tokens)),
      ("prompt_count", .int(explanation.promptCount)),
      ("generated_text", .string(explanation.tokens[explanation.promptCount...].joined())),
      ("steps", .array(explanation.steps.map { step in
        let sum = step.relevance.reduce(0, +)
        var conservation: [(String, JSONOutput)] = [
          ("sum_relevance", .float(sum)), ("value", .float(step.value)), ("residual", .float(step.value - sum)),
        ]
        if let audit = step.audit { conservation += audit.jsonShares }
        var members: [(String, JSONOutput)] = [
          ("generated_index", step.generatedIndex.map(JSONOutput.int) ?? .null),
          ("positions", .ints(step.positions)),
          ("token_ids", .ints(step.tokens)),
          ("tokens", .strings(step.tokenTexts)),
          ("contrast_id", step.contrast.map(JSONOutput.int) ?? .null),
          ("contrast", step.contrastText.map(JSONOutput.string) ?? .null),
          ("quantity", .string(step.quantity)),
          ("value", .float(step.value)),
          ("probabilities", .floats(step.probabilities)),
          ("relevance", .floats(step.relevance)),
          ("conservation", .object(conservation)),
          ("baseline_value", step.baselineValue.map(JSONOutput.float) ?? .null),
        ]
        if let audit = step.audit { members.append(("audit", audit.jsonEntries)) }
        if let perturbation = step.perturbation { members.append(("perturbation", perturbation.json)) }
        return .object(members)
      })),
      ("source_totals", .floats(explanation.sourceTotals)),
    ])
  }
}
