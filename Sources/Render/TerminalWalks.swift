import Attribution
import Foundation
import Models

/// Terminal view of relevant walks: prediction, top walks with signed bars, node relevance.
public struct TerminalWalks: Sendable {
  /// Colour depth.
  public let mode: ColorMode
  /// Characters of the longest bar.
  public let barWidth: Int

  /// A view for `mode` with bars up to `barWidth` characters.
  public init(mode: ColorMode, barWidth: Int = 24) {
    self.mode = mode
    self.barWidth = barWidth
  }

  /// The whole view as text (ends with a newline).
  public func render(_ report: GraphReport) -> String {
    let e = report.explanation
    let predicted = e.predictedIndex
    var lines: [String] = []
    let name = report.graph.name.map { " \(terminalSafe($0))" } ?? ""
    let labels = report.labels.map { terminalSafe($0) }
    let nodeName = { (node: Int) in terminalSafe(report.nodeName(node)) }
    lines.append(
      "\(terminalSafe(report.modelName)) · graph\(name) (\(report.graph.nodeCount) nodes, \(report.graph.edges.count) edges)"
        + " · predicted \(labels[predicted]) · target \(labels[e.target]) [\(e.target)]"
        + " · GNN-LRP γ = \(e.gammas.map { formatNumber($0, digits: 3) }.joined(separator: ","))"
        + (e.epsilon > 0 ? " ε = \(formatNumber(e.epsilon, digits: 3))" : ""))
    lines.append(
      "logits: " + zip(labels, e.outputs).map { "\($0) \(formatNumber($1))" }.joined(separator: ", "))
    let scale = e.walks.map { abs($0.relevance) }.max() ?? 0
    lines.append("top \(e.walks.count) of \(e.walkCount) walks (input node → … → last layer):")
    let paths = e.walks.map { $0.nodes.map(nodeName).joined(separator: " → ") }
    let pathWidth = paths.map(\.count).max() ?? 0
    for (walk, path) in zip(e.walks, paths) {
      lines.append(
        "  " + path.padding(toLength: pathWidth, withPad: " ", startingAt: 0) + "  "
          + bar(walk.relevance, scale: scale) + "  " + formatNumber(walk.relevance))
    }
    let ranked = e.nodeRelevance.indices.sorted { abs(e.nodeRelevance[$0]) > abs(e.nodeRelevance[$1]) }
    lines.append("node relevance (walks by start node), largest first:")
    var line = " "
    for node in ranked.prefix(12) {
      let entry = "\(nodeName(node)) \(formatNumber(e.nodeRelevance[node], digits: 3))"
      if line.count + entry.count > 90 {
        lines.append(line)
        line = " "
      }
      line += " " + entry
    }
    lines.append(line)
    lines.append(
      "conservation: Σ walks = \(formatNumber(e.sumOverWalks)), target logit = \(formatNumber(e.targetOutput))"
        + (e.bias != 0 ? ", bias = \(formatNumber(e.bias))" : "") + ", residual = \(formatNumber(e.residual))"
        + (report.epsilonShare.map { " " + $0 } ?? ""))
    if let warning = e.stability.warning { lines.append("warning: " + warning) }
    return lines.joined(separator: "\n") + "\n"
  }

  func bar(_ value: Float, scale: Float) -> String {
    let filled = scale > 0 ? Int((Float(barWidth) * abs(value) / scale).rounded()) : 0
    let body = String(repeating: "█", count: filled) + String(repeating: " ", count: barWidth - filled)
    let colour = RGB.diverging(value >= 0 ? scale : -scale, scale: scale)
    switch mode {
    case .plain: return (value >= 0 ? "+" : "-") + body
    case .trueColor: return "\u{1B}[38;2;\(colour.red);\(colour.green);\(colour.blue)m\(body)\u{1B}[0m"
    case .palette256: return "\u{1B}[38;5;\(colour.xterm256)m\(body)\u{1B}[0m"
    }
  }
}
