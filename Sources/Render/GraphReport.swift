import Attribution
import Foundation
import Models

/// Node coordinates for drawing: the graph's own (molfile or given positions), or a
/// deterministic force-directed layout (same graph → same picture).
public enum GraphLayout {
  /// Positions in the unit square [0, 1]².
  public static func positions(for graph: Graph) -> [(x: Double, y: Double)] {
    let raw: [(x: Double, y: Double)]
    if let given = graph.positions {
      raw = given.map { ($0[0], -$0[1]) }
    } else {
      raw = forceDirected(graph)
    }
    return normalized(raw)
  }

  static func normalized(_ points: [(x: Double, y: Double)]) -> [(x: Double, y: Double)] {
    guard let minX = points.map(\.x).min(), let maxX = points.map(\.x).max(),
      let minY = points.map(\.y).min(), let maxY = points.map(\.y).max()
    else { return points }
    let span = max(maxX - minX, maxY - minY, 1e-9)
    let offsetX = (span - (maxX - minX)) / 2
    let offsetY = (span - (maxY - minY)) / 2
    return points.map { ((($0.x - minX) + offsetX) / span, (($0.y - minY) + offsetY) / span) }
  }

  /// Fruchterman–Reingold from nodes on a circle, a fixed number of cooling steps
  /// (quadratic per step, so graphs above 3,000 nodes are laid on a spiral instead).
  static func forceDirected(_ graph: Graph) -> [(x: Double, y: Double)] {
    let n = graph.nodeCount
    if n == 1 { return [(0.5, 0.5)] }
    if n > 3000 {
      return (0..<n).map { index in
        let radius = Double(index).squareRoot()
        let angle = Double(index) * 2.399963229728653
        return (radius * cos(angle), radius * sin(angle))
      }
    }
    var x = (0..<n).map { cos(2 * Double.pi * Double($0) / Double(n)) }
    var y = (0..<n).map { sin(2 * Double.pi * Double($0) / Double(n)) }
    let k = (4.0 / Double(n)).squareRoot()
    let iterations = n > 400 ? 60 : 300
    var temperature = 0.2
    for _ in 0..<iterations {
      var dx = [Double](repeating: 0, count: n)
      var dy = [Double](repeating: 0, count: n)
      for i in 0..<n {
        for j in (i + 1)..<n {
          let ex = x[i] - x[j]
          let ey = y[i] - y[j]
          let distance = max((ex * ex + ey * ey).squareRoot(), 1e-6)
          let force = k * k / distance
          dx[i] += ex / distance * force
          dy[i] += ey / distance * force
          dx[j] -= ex / distance * force
          dy[j] -= ey / distance * force
        }
      }
      for edge in graph.edges {
        let ex = x[edge.u] - x[edge.v]
        let ey = y[edge.u] - y[edge.v]
        let distance = max((ex * ex + ey * ey).squareRoot(), 1e-6)
        let force = distance * distance / k
        dx[edge.u] -= ex / distance * force
        dy[edge.u] -= ey / distance * force
        dx[edge.v] += ex / distance * force
        dy[edge.v] += ey / distance * force
      }
      for i in 0..<n {
        let length = max((dx[i] * dx[i] + dy[i] * dy[i]).squareRoot(), 1e-9)
        let step = min(length, temperature)
        x[i] += dx[i] / length * step
        y[i] += dy[i] / length * step
      }
      temperature *= 0.985
    }
    return zip(x, y).map { ($0, $1) }
  }
}

extension GraphReport {
  /// The HTML page: prediction, the SVG drawing with the top walks, node and walk tables.
  public var html: String {
    let e = explanation
    let predicted = e.outputs.indices.max { e.outputs[$0] < e.outputs[$1] } ?? 0
    var page = HTMLPage(title: "xai · \(modelName) · \(graph.name ?? "graph")")
    page.append("<h1>Relevant walks of a graph classifier (GNN-LRP)</h1>")
    page.append(
      "<p class=\"sub\">model <b>\(escapeHTML(modelName))</b> · graph <b>\(escapeHTML(graph.name ?? "unnamed"))</b> · "
        + "\(graph.nodeCount) nodes, \(graph.edges.count) edges · γ = \(e.gammas.map { formatNumber($0, digits: 3) }.joined(separator: ", "))</p>"
    )
    var prediction = "<section><table class=\"data\"><tr><th>class</th><th>logit</th></tr>"
    for (index, label) in labels.enumerated() {
      prediction +=
        "<tr><td>\(escapeHTML(label))\(index == predicted ? " <b>(predicted)</b>" : "")\(index == e.target ? " · explained" : "")</td>"
        + "<td class=\"num\">\(formatNumber(e.outputs[index]))</td></tr>"
    }
    prediction +=
      "</table><p class=\"sub\">Σ over all \(e.walkCount) walks = \(formatNumber(e.sumOverWalks)); "
    prediction += "target logit = \(formatNumber(e.targetOutput))"
    prediction += e.bias != 0 ? ", of which bias \(formatNumber(e.bias))" : ""
    prediction += "; residual \(formatNumber(e.residual)).</p></section>"
    page.append(prediction)
    page.append("<h2>Top \(e.walks.count) walks</h2>")
    page.append("<section>\(svg)</section>")
    page.append(
      "<div class=\"legend\"><span>nodes: relevance of walks starting there (blue − … red +); curves: walks, red for the target, blue against, width ∝ |R|</span></div>"
    )
    var table =
      "<section><table class=\"data\"><tr><th>#</th><th>walk (input → … → last layer)</th><th>relevance</th></tr>"
    for (rank, walk) in e.walks.enumerated() {
      table +=
        "<tr><td>\(rank + 1)</td><td>\(escapeHTML(walk.nodes.map(nodeName).joined(separator: " → ")))</td>"
        + "<td class=\"num \(walk.relevance >= 0 ? "pos" : "neg")\">\(formatNumber(walk.relevance))</td></tr>"
    }
    page.append(table + "</table></section>")
    page.append("<h2>Node relevance</h2>")
    var nodes = "<section><table class=\"data\"><tr><th>node</th><th>Σ R of walks starting here</th></tr>"
    let ranked = e.nodeRelevance.indices.sorted { abs(e.nodeRelevance[$0]) > abs(e.nodeRelevance[$1]) }
    for node in ranked.prefix(30) {
      nodes +=
        "<tr><td>\(escapeHTML(nodeName(node)))</td><td class=\"num \(e.nodeRelevance[node] >= 0 ? "pos" : "neg")\">"
        + "\(formatNumber(e.nodeRelevance[node]))</td></tr>"
    }
    page.append(nodes + "</table></section>")
    return page.text
  }

  /// The drawing: edges, the top walks as smooth curves, nodes coloured by relevance.
  var svg: String {
    let (width, height, margin) = (720.0, 520.0, 36.0)
    let unit = GraphLayout.positions(for: graph)
    let scale = min(width, height) - 2 * margin
    let originX = (width - scale) / 2
    let points = unit.map { (originX + $0.x * scale, margin + $0.y * scale) }
    let e = explanation
    var svg =
      "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"100%\" role=\"img\" aria-label=\"graph with relevant walks\">"
    svg += "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>"
    svg += "<g stroke=\"#c3c8d2\" stroke-width=\"1.2\">"
    for edge in graph.edges {
      let (a, b) = (points[edge.u], points[edge.v])
      svg += "<line x1=\"\(f(a.0))\" y1=\"\(f(a.1))\" x2=\"\(f(b.0))\" y2=\"\(f(b.1))\"/>"
    }
    svg += "</g><g fill=\"none\" stroke-linecap=\"round\" stroke-linejoin=\"round\">"
    let largest = e.walks.map { abs($0.relevance) }.max() ?? 0
    for (rank, walk) in e.walks.enumerated().reversed() {
      let strength = largest > 0 ? Double(abs(walk.relevance) / largest) : 0
      let colour = walk.relevance >= 0 ? "#c0392b" : "#2e4db3"
      let offset = (Double(rank % 5) - 2) * 2.2
      svg +=
        "<path class=\"walk\" d=\"\(walkPath(walk.nodes, points: points, offset: offset))\" stroke=\"\(colour)\" "
        + "stroke-width=\(quoted(f(1 + 6 * strength))) stroke-opacity=\(quoted(f(0.3 + 0.6 * strength)))>"
        + "<title>\(escapeHTML(walk.nodes.map(nodeName).joined(separator: " → "))): R = \(formatNumber(walk.relevance, digits: 7))</title></path>"
    }
    svg += "</g>"
    let nodeScale = e.nodeRelevance.map(abs).max() ?? 0
    let radius = graph.nodeCount > 200 ? 4.0 : (graph.nodeCount > 60 ? 7.0 : 11.0)
    for node in 0..<graph.nodeCount {
      let point = points[node]
      let fill = RGB.diverging(e.nodeRelevance[node], scale: nodeScale)
      svg +=
        "<g><circle cx=\"\(f(point.0))\" cy=\"\(f(point.1))\" r=\"\(f(radius))\" fill=\"\(fill.hex)\" stroke=\"#4a5160\" stroke-width=\"1\"/>"
      if radius >= 7 {
        let label = graph.nodeLabels?[node] ?? "\(node)"
        svg +=
          "<text x=\"\(f(point.0))\" y=\"\(f(point.1 + 3.5))\" text-anchor=\"middle\" font-size=\"\(radius >= 11 ? 10 : 8)\" fill=\"\(fill.contrastingText.hex)\">\(escapeHTML(label))</text>"
      }
      svg +=
        "<title>\(escapeHTML(nodeName(node))): node relevance \(formatNumber(e.nodeRelevance[node], digits: 7))</title></g>"
    }
    return svg + "</svg>"
  }

  /// A smooth curve through the walk's nodes (a loop where the walk stays put).
  func walkPath(_ nodes: [Int], points: [(Double, Double)], offset: Double) -> String {
    var stops: [(Double, Double)] = []
    for node in nodes where stops.last.map({ $0 != points[node] }) ?? true {
      stops.append(points[node])
    }
    let shifted = stops.map { ($0.0 + offset, $0.1 + offset) }
    guard shifted.count > 1 else {
      let (x, y) = shifted[0]
      return "M \(f(x)) \(f(y)) c 14 -22 30 -2 0 0"
    }
    // Catmull–Rom through every stop, as cubic Bézier segments.
    var d = "M \(f(shifted[0].0)) \(f(shifted[0].1))"
    for index in 0..<(shifted.count - 1) {
      let previous = shifted[max(index - 1, 0)]
      let (start, end) = (shifted[index], shifted[index + 1])
      let next = shifted[min(index + 2, shifted.count - 1)]
      let first = (start.0 + (end.0 - previous.0) / 6, start.1 + (end.1 - previous.1) / 6)
      let second = (end.0 - (next.0 - start.0) / 6, end.1 - (next.1 - start.1) / 6)
      d += " C \(f(first.0)) \(f(first.1)) \(f(second.0)) \(f(second.1)) \(f(end.0)) \(f(end.1))"
    }
    return d
  }
}

private func f(_ value: Double) -> String { String(format: "%.1f", value) }
private func quoted(_ text: String) -> String { "\"\(text)\"" }
