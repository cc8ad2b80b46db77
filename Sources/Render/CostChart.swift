import Attribution
import Foundation

/// Milliseconds as the table and charts print them: three significant digits below
/// 1,000 (0.0123, 4.56, 789), whole and grouped above (12,345).
func formatMilliseconds(_ value: Double) -> String {
  value >= 999.5 ? groupedDigits(Int(value.rounded())) : String(format: "%.3g", value)
}

/// The faithful-for-its-cost frontier of a set of methods.
enum ParetoFrontier {
  /// The points no other point dominates (at most the cost and at least the score, one of
  /// them strictly), ordered by cost: each is strictly more faithful than every cheaper
  /// point. `higherIsBetter` gives the score's direction.
  static func indices(costs: [Double], scores: [Double], higherIsBetter: Bool) -> [Int] {
    precondition(costs.count == scores.count, "one score per cost")
    let signed = scores.map { higherIsBetter ? $0 : -$0 }
    // Cheapest first; among equal costs the best first, so the others are dominated.
    let order = costs.indices.sorted { (costs[$0], -signed[$0], $0) < (costs[$1], -signed[$1], $1) }
    var frontier: [Int] = []
    for index in order where frontier.last.map({ signed[index] > signed[$0] }) ?? true {
      frontier.append(index)
    }
    return frontier
  }
}

/// Where the labels of a scatter go: beside their point, else farther out with a leader
/// line, never over another label or point when a free place exists.
struct LabelPlacer {
  /// An axis-aligned box.
  struct Box {
    var x0, y0, x1, y1: Double

    func overlap(_ other: Box) -> Double {
      max(0, min(x1, other.x1) - max(x0, other.x0)) * max(0, min(y1, other.y1) - max(y0, other.y0))
    }
  }

  /// A placed label: its text anchor point, SVG text-anchor and whether it needs a leader.
  struct Placement {
    let x: Double
    let y: Double
    let anchor: String
    let leader: Bool
  }

  /// The plot area labels must stay in.
  let bounds: Box
  /// Width of one character at the label's font size (an estimate for a sans-serif face).
  var characterWidth = 6.4
  /// Boxes already taken: points, placed labels, other marks.
  var taken: [Box] = []

  init(bounds: Box) { self.bounds = bounds }

  /// The box of `text` drawn at (x, y) with `anchor` (font size 11: ascent 9, descent 3).
  func box(_ text: String, x: Double, y: Double, anchor: String) -> Box {
    let width = Double(text.count) * characterWidth
    let left = anchor == "start" ? x : anchor == "end" ? x - width : x - width / 2
    return Box(x0: left - 1, y0: y - 10, x1: left + width + 1, y1: y + 3)
  }

  /// Places `text` for the point (px, py): the first free candidate position, else the
  /// one that overlaps least.
  mutating func place(_ text: String, px: Double, py: Double) -> Placement {
    var best: (placement: Placement, overlap: Double)?
    for (distance, leader) in [(7.0, false), (20.0, true), (34.0, true), (50.0, true)] {
      let d = distance
      let diagonal = d * 0.75
      let candidates: [(Double, Double, String)] = [
        (px + d, py + 4, "start"), (px - d, py + 4, "end"), (px, py - d, "middle"), (px, py + d + 9, "middle"),
        (px + diagonal, py - diagonal, "start"), (px + diagonal, py + diagonal + 8, "start"),
        (px - diagonal, py - diagonal, "end"), (px - diagonal, py + diagonal + 8, "end"),
      ]
      for (x, y, anchor) in candidates {
        let candidate = box(text, x: x, y: y, anchor: anchor)
        var overlap = taken.reduce(0) { $0 + candidate.overlap($1) }
        // Outside the plot counts as overlap with a wall.
        let inside = candidate.overlap(bounds)
        overlap += (candidate.x1 - candidate.x0) * (candidate.y1 - candidate.y0) - inside
        let placement = Placement(x: x, y: y, anchor: anchor, leader: leader)
        if overlap <= 0 {
          taken.append(candidate)
          return placement
        }
        if best.map({ overlap < $0.overlap }) ?? true { best = (placement, overlap) }
      }
    }
    let chosen = best!.placement
    taken.append(box(text, x: chosen.x, y: chosen.y, anchor: chosen.anchor))
    return chosen
  }
}

extension FaithfulnessReport {
  /// The scores the cost charts plot, each against the milliseconds per explanation.
  static let costMetrics: [FaithfulnessMetric] = [.areaBetween, .auac]

  /// The page's "score against cost" section: one scatter per score in `costMetrics`
  /// (empty when fewer than one method has a measured cost, as in an evaluation saved
  /// before costs were recorded).
  var costSection: String {
    let measured = summary.rows.indices.filter {
      !summary.rows[$0].ranking.isRandom && (summary.rows[$0].cost?.milliseconds ?? 0) > 0
    }
    guard !measured.isEmpty, !summary.examples.isEmpty else { return "" }
    var html = "<h2>Faithfulness against cost</h2><section class=\"charts\">"
    for metric in Self.costMetrics { html += costChart(metric, rows: measured) }
    return html + "</section>"
  }

  /// A scatter of `metric` (y) against milliseconds per explanation (x, log scale) for
  /// the rankings `rows`: one labelled point each, the Pareto frontier as a step line and
  /// the random baseline as a dashed line.
  func costChart(_ metric: FaithfulnessMetric, rows: [Int]) -> String {
    let (width, height) = (496.0, 390.0)
    let (left, right, top, bottom) = (64.0, 36.0, 34.0, 50.0)
    let milliseconds = rows.map { Double(Float(summary.rows[$0].cost!.milliseconds)) }
    let scores = rows.map { Double(Float(summary.rows[$0].mean(metric))) }
    let random = summary.rows.first(where: \.ranking.isRandom).map { Double(Float($0.mean(metric))) }
    // x: whole decades around the times.
    var lowDecade = (log10(milliseconds.min()!) - 0.05).rounded(.down)
    var highDecade = (log10(milliseconds.max()!) + 0.05).rounded(.up)
    if highDecade - lowDecade < 1 { (lowDecade, highDecade) = (lowDecade - 0.5, highDecade + 0.5) }
    let plot = (x0: left, x1: width - right, y0: top, y1: height - bottom)
    func px(_ ms: Double) -> Double {
      plot.x0 + (log10(ms) - lowDecade) / (highDecade - lowDecade) * (plot.x1 - plot.x0)
    }
    // y: every score and the random line, with a margin.
    let values = scores + (random.map { [$0] } ?? [])
    var (low, high) = (values.min()!, values.max()!)
    if high - low < 1e-9 { (low, high) = (low - 0.5, high + 0.5) }
    let pad = (high - low) * 0.1
    (low, high) = (low - pad, high + pad)
    func py(_ value: Double) -> Double { plot.y1 - (value - low) / (high - low) * (plot.y1 - plot.y0) }
    let title = "\(metric.rawValue) \(metric.higherIsBetter ? "↑" : "↓") against time per explanation"
    var svg =
      "<svg viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"\(Int(width))\" height=\"\(Int(height))\" role=\"img\" aria-label=\"\(escapeHTML(title))\">"
    svg += "<text x=\"\(f(left))\" y=\"20\" font-size=\"14\" font-weight=\"600\">\(escapeHTML(title))</text>"
    // Grid and ticks.
    for k in 0...4 {
      let value = low + (high - low) * Double(k) / 4
      let y = py(value)
      svg +=
        "<line x1=\"\(f(plot.x0))\" x2=\"\(f(plot.x1))\" y1=\"\(f(y))\" y2=\"\(f(y))\" stroke=\"#e5e8ee\"/>"
        + "<text x=\"\(f(plot.x0 - 6))\" y=\"\(f(y + 4))\" font-size=\"11\" text-anchor=\"end\" fill=\"#5b6475\">\(String(format: "%.3g", value))</text>"
    }
    let decades = Int(lowDecade.rounded(.up))...Int(highDecade.rounded(.down))
    for decade in decades {
      let x = px(pow(10, Double(decade)))
      svg +=
        "<line x1=\"\(f(x))\" x2=\"\(f(x))\" y1=\"\(f(plot.y0))\" y2=\"\(f(plot.y1))\" stroke=\"#e5e8ee\"/>"
        + "<text x=\"\(f(x))\" y=\"\(f(plot.y1 + 16))\" font-size=\"11\" text-anchor=\"middle\" fill=\"#5b6475\">\(formatMilliseconds(pow(10, Double(decade))))</text>"
      for minor in [2.0, 5.0] where Double(decade) + log10(minor) < highDecade {
        let xm = px(minor * pow(10, Double(decade)))
        svg += "<line x1=\"\(f(xm))\" x2=\"\(f(xm))\" y1=\"\(f(plot.y1))\" y2=\"\(f(plot.y1 + 4))\" stroke=\"#9aa3ad\"/>"
      }
    }
    svg +=
      "<line x1=\"\(f(plot.x0))\" x2=\"\(f(plot.x1))\" y1=\"\(f(plot.y1))\" y2=\"\(f(plot.y1))\" stroke=\"#5b6475\"/>"
      + "<line x1=\"\(f(plot.x0))\" x2=\"\(f(plot.x0))\" y1=\"\(f(plot.y0))\" y2=\"\(f(plot.y1))\" stroke=\"#5b6475\"/>"
      + "<text x=\"\(f((plot.x0 + plot.x1) / 2))\" y=\"\(f(height - 12))\" font-size=\"12\" text-anchor=\"middle\">ms per explanation (log scale, this machine)</text>"
      + "<text transform=\"translate(16 \(f((plot.y0 + plot.y1) / 2))) rotate(-90)\" font-size=\"12\" text-anchor=\"middle\">\(escapeHTML("\(metric.rawValue) (mean over the examples)"))</text>"
    var placer = LabelPlacer(bounds: LabelPlacer.Box(x0: plot.x0, y0: plot.y0, x1: plot.x1, y1: plot.y1))
    // The random baseline: a dashed line, labelled at its right end.
    if let random {
      let y = py(random)
      svg +=
        "<line x1=\"\(f(plot.x0))\" x2=\"\(f(plot.x1))\" y1=\"\(f(y))\" y2=\"\(f(y))\" stroke=\"#9aa3ad\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"><title>random: \(String(format: "%.4g", random))</title></line>"
      let labelY = y - 5 < plot.y0 + 12 ? y + 14 : y - 5
      svg +=
        "<text x=\"\(f(plot.x1 - 4))\" y=\"\(f(labelY))\" font-size=\"11\" text-anchor=\"end\" fill=\"#5b6475\">random</text>"
      placer.taken.append(placer.box("random", x: plot.x1 - 4, y: labelY, anchor: "end"))
      placer.taken.append(LabelPlacer.Box(x0: plot.x0, y0: y - 1, x1: plot.x1, y1: y + 1))
    }
    // The frontier as a step line, over the methods (baselines are drawn for reference):
    // the best score available for at most each cost.
    let methods = rows.indices.filter { !summary.rows[rows[$0]].ranking.isBaseline }
    let frontier = ParetoFrontier.indices(
      costs: methods.map { milliseconds[$0] }, scores: methods.map { scores[$0] },
      higherIsBetter: metric.higherIsBetter
    ).map { methods[$0] }
    var steps: [(Double, Double)] = []
    for (k, index) in frontier.enumerated() {
      let point = (px(milliseconds[index]), py(scores[index]))
      if k > 0 { steps.append((point.0, steps.last!.1)) }
      steps.append(point)
    }
    for (a, b) in zip(steps, steps.dropFirst()) {
      placer.taken.append(
        LabelPlacer.Box(x0: min(a.0, b.0) - 2, y0: min(a.1, b.1) - 2, x1: max(a.0, b.0) + 2, y1: max(a.1, b.1) + 2))
    }
    if steps.count > 1 {
      svg +=
        "<polyline fill=\"none\" stroke=\"#1d2330\" stroke-opacity=\"0.55\" stroke-width=\"1.6\" points=\"\(steps.map { "\(f($0.0)),\(f($0.1))" }.joined(separator: " "))\"/>"
    }
    let points = rows.indices.map { (px(milliseconds[$0]), py(scores[$0])) }
    for point in points {
      placer.taken.append(LabelPlacer.Box(x0: point.0 - 5, y0: point.1 - 5, x1: point.0 + 5, y1: point.1 + 5))
    }
    // Labels first (leaders under the points), placed left to right.
    var marks = ""
    var labels = ""
    for k in rows.indices.sorted(by: { (points[$0].0, $0) < (points[$1].0, $1) }) {
      let row = summary.rows[rows[k]]
      let name = row.ranking.name
      let placement = placer.place(name, px: points[k].0, py: points[k].1)
      if placement.leader {
        let box = placer.box(name, x: placement.x, y: placement.y, anchor: placement.anchor)
        let target = (min(max(points[k].0, box.x0), box.x1), min(max(points[k].1, box.y0), box.y1))
        labels +=
          "<line x1=\"\(f(points[k].0))\" y1=\"\(f(points[k].1))\" x2=\"\(f(target.0))\" y2=\"\(f(target.1))\" stroke=\"#9aa3ad\" stroke-width=\"0.8\"/>"
      }
      labels +=
        "<text x=\"\(f(placement.x))\" y=\"\(f(placement.y))\" font-size=\"11\" text-anchor=\"\(placement.anchor)\">\(escapeHTML(name))</text>"
      let onFrontier = frontier.contains(k)
      marks +=
        "<circle cx=\"\(f(points[k].0))\" cy=\"\(f(points[k].1))\" r=\"\(onFrontier ? "5.5" : "4.5")\" fill=\"\(color(rows[k]))\" stroke=\"\(onFrontier ? "#1d2330" : "#ffffff")\" stroke-width=\"1.5\">"
        + "<title>\(escapeHTML(row.ranking.displayName(units: units))): \(metric.rawValue) \(String(format: "%.4g", scores[k])), \(formatMilliseconds(milliseconds[k])) ms, \(Self.passesText(row.cost))\(onFrontier ? ", on the frontier" : "")</title></circle>"
    }
    svg += labels + marks + "</svg>"
    return "<figure class=\"chart\">\(svg)<figcaption class=\"sub\" style=\"max-width:\(Int(width))px\">\(escapeHTML(costCaption(metric, rows: rows, milliseconds: milliseconds, scores: scores, random: random, frontier: frontier)))</figcaption></figure>"
  }

  /// The sentence under a cost chart: how to read it, the frontier and which method
  /// gains most over random per millisecond.
  func costCaption(
    _ metric: FaithfulnessMetric, rows: [Int], milliseconds: [Double], scores: [Double], random: Double?,
    frontier: [Int]
  ) -> String {
    var text =
      "Each point is a method's mean \(metric.rawValue) against its mean wall time per explanation (log scale; this machine, \(summary.examples.count) examples). Ringed points and the step line are the Pareto frontier: each is more faithful than every cheaper method."
    text += " Frontier: " + frontier.map { summary.rows[rows[$0]].ranking.name }.joined(separator: " → ") + "."
    if rows.contains(where: { summary.rows[$0].ranking.isBaseline }) {
      text += " The attention baseline is drawn for reference, off the frontier's count."
    }
    if let random {
      let sign = metric.higherIsBetter ? 1.0 : -1.0
      let methods = rows.indices.filter { !summary.rows[rows[$0]].ranking.isBaseline }
      let gains = methods.map { sign * (scores[$0] - random) / milliseconds[$0] }
      if let best = gains.indices.max(by: { gains[$0] < gains[$1] }), gains[best] > 0 {
        text +=
          " Dashed: random. Most faithful per millisecond (\(metric.rawValue) gained over random per ms): \(summary.rows[rows[methods[best]]].ranking.name), \(String(format: "%.3g", gains[best])) per ms."
      } else {
        text += " Dashed: random; no method beats it here."
      }
    }
    return text
  }

}

private func f(_ value: Double) -> String { String(format: "%.1f", value) }

extension Ranking {
  /// Whether this is the random baseline.
  var isRandom: Bool {
    if case .random = self { return true }
    return false
  }
}
