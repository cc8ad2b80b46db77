import Attribution
import Foundation
import Models

/// A graph explanation with what the views need besides the walks.
public struct GraphReport: Sendable {
  /// The model that was explained.
  public let modelName: String
  /// The explained graph.
  public let graph: Graph
  /// Class names by index.
  public let labels: [String]
  /// The walks and aggregates.
  public let explanation: WalkExplanation

  /// Bundles an explanation with what the views show beside it.
  public init(modelName: String, graph: Graph, labels: [String], explanation: WalkExplanation) {
    self.modelName = modelName
    self.graph = graph
    self.labels = labels
    self.explanation = explanation
  }

  /// `3:C` for molecules, `3` otherwise.
  public func nodeName(_ node: Int) -> String { graphNodeName(graph, node) }

  /// The `xai graph --format json` object (docs/json-output.md, "xai graph").
  public var json: JSONOutput {
    let e = explanation
    let edges = e.edgeRelevance.sorted { $0.key < $1.key }.map {
      JSONOutput.object([("edge", .ints([$0.key.u, $0.key.v])), ("relevance", .float($0.value))])
    }
    return .object([
      ("model", .string(modelName)),
      ("method", .string(GraphMethodKind.gnnLRP.rawValue)),
      ("gamma", .floats(e.gammas)),
      ("epsilon", .float(e.epsilon)),
      ("graph", graph.name.map(JSONOutput.string) ?? .null),
      ("num_nodes", .int(graph.nodeCount)),
      ("target", .object([("index", .int(e.target)), ("label", .string(labels[e.target]))])),
      ("logits", .floats(e.outputs)),
      ("walk_count", .int(e.walkCount)),
      (
        "walks",
        .array(e.walks.map { .object([("nodes", .ints($0.nodes)), ("relevance", .float($0.relevance))]) })
      ),
      ("node_relevance", .floats(e.nodeRelevance)),
      ("layer_node_relevance", .array(e.layerNodeRelevance.map(JSONOutput.floats))),
      ("edge_relevance", .array(edges)),
      (
        "conservation",
        .object([
          ("sum_relevance", .float(e.sumOverWalks)),
          ("target_logit", .float(e.targetOutput)),
          ("bias", .float(e.bias)),
          ("residual", .float(e.residual)),
        ])
      ),
      ("stability", stabilityJSON),
    ])
  }

  /// The `stability` object: every projection's largest |z/z⁺|, the threshold, and the
  /// warning sentence (null when every projection is stable).
  var stabilityJSON: JSONOutput {
    let s = explanation.stability
    return .object([
      ("threshold", .float(WalkStability.threshold)),
      ("epsilon", .float(s.epsilon)),
      (
        "projections",
        .array(
          s.projections.map {
            .object([
              ("name", .string($0.name)), ("max_amplification", .float($0.amplification)),
              ("zero_denominators", .int($0.zeroDenominators)),
            ])
          })
      ),
      ("unstable", .array(s.unstable.map { .string($0.name) })),
      ("warning", s.warning.map(JSONOutput.string) ?? .null),
    ])
  }

  /// The conservation sentence's tail for ε > 0: what the stabiliser absorbed.
  var epsilonShare: String? {
    let e = explanation
    guard e.epsilon > 0 else { return nil }
    let share = e.targetOutput == e.bias ? 0 : e.residual / (e.targetOutput - e.bias)
    return "absorbed by ε = \(formatNumber(e.epsilon, digits: 3)) "
      + "(\(formatNumber(share * 100, digits: 3)) % of target − bias)"
  }
}

extension GraphReport {
  /// The HTML page: prediction, the SVG drawing with the top walks, node and walk tables.
  public var html: String {
    let e = explanation
    let predicted = e.predictedIndex
    var page = HTMLPage(title: "xai · \(modelName) · \(graph.name ?? "graph")")
    page.append("<h1>Relevant walks of a graph classifier (GNN-LRP)</h1>")
    page.append(
      "<p class=\"sub\">model <b>\(escapeHTML(modelName))</b> · graph <b>\(escapeHTML(graph.name ?? "unnamed"))</b> · "
        + "\(graph.nodeCount) nodes, \(graph.edges.count) edges · γ = \(e.gammas.map { formatNumber($0, digits: 3) }.joined(separator: ", "))"
        + (e.epsilon > 0 ? " · ε = \(formatNumber(e.epsilon, digits: 3))" : "") + "</p>"
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
    prediction += "; residual \(formatNumber(e.residual))"
    prediction += epsilonShare.map { " \(escapeHTML($0))" } ?? ""
    prediction += ".</p></section>"
    if let warning = e.stability.warning {
      page.append("<p class=\"warning\"><b>Read with care.</b> \(escapeHTML(warning))</p>")
    }
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
    page.append(nodeTable(e.nodeRelevance, heading: "Σ R of walks starting here", nodeName: nodeName))
    return page.text
  }

  /// The drawing: edges, the top walks as smooth curves, nodes coloured by relevance.
  var svg: String {
    let e = explanation
    return graphDrawing(
      graph, nodeRelevance: e.nodeRelevance, nodeName: nodeName, what: "graph with relevant walks"
    ) { points in
      var svg = "<g fill=\"none\" stroke-linecap=\"round\" stroke-linejoin=\"round\">"
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
      return svg + "</g>"
    }
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

/// The 30 nodes of largest |R| as a table section, largest first.
func nodeTable(_ relevance: [Float], heading: String, nodeName: (Int) -> String) -> String {
  var nodes = "<section><table class=\"data\"><tr><th>node</th><th>\(escapeHTML(heading))</th></tr>"
  let ranked = relevance.indices.sorted { abs(relevance[$0]) > abs(relevance[$1]) }
  for node in ranked.prefix(30) {
    nodes +=
      "<tr><td>\(escapeHTML(nodeName(node)))</td><td class=\"num \(relevance[node] >= 0 ? "pos" : "neg")\">"
      + "\(formatNumber(relevance[node]))</td></tr>"
  }
  return nodes + "</table></section>"
}

/// `3:C` for molecules, `3` otherwise.
func graphNodeName(_ graph: Graph, _ node: Int) -> String {
  if let labels = graph.nodeLabels { return "\(node):\(labels[node])" }
  return "\(node)"
}

/// A graph drawn as SVG: its edges, `overlay` (given every node's point) above them, and
/// the nodes coloured by `nodeRelevance` (blue − … red +), each with its name and value
/// in a hover title; `what` is the drawing's accessible label.
func graphDrawing(
  _ graph: Graph, nodeRelevance: [Float], nodeName: (Int) -> String, what: String,
  overlay: ([(Double, Double)]) -> String = { _ in "" }
) -> String {
  let (width, height, margin) = (720.0, 520.0, 36.0)
  let unit = GraphLayout.positions(for: graph)
  let scale = min(width, height) - 2 * margin
  let originX = (width - scale) / 2
  let points = unit.map { (originX + $0.x * scale, margin + $0.y * scale) }
  var svg =
    "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"100%\" role=\"img\" aria-label=\"\(escapeHTML(what))\">"
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>"
  svg += "<g stroke=\"#c3c8d2\" stroke-width=\"1.2\">"
  for edge in graph.edges {
    let (a, b) = (points[edge.u], points[edge.v])
    svg += "<line x1=\"\(f(a.0))\" y1=\"\(f(a.1))\" x2=\"\(f(b.0))\" y2=\"\(f(b.1))\"/>"
  }
  svg += "</g>" + overlay(points)
  let nodeScale = nodeRelevance.map(abs).max() ?? 0
  let radius = graph.nodeCount > 200 ? 4.0 : (graph.nodeCount > 60 ? 7.0 : 11.0)
  for node in 0..<graph.nodeCount {
    let point = points[node]
    let fill = RGB.diverging(nodeRelevance[node], scale: nodeScale)
    svg +=
      "<g><circle cx=\"\(f(point.0))\" cy=\"\(f(point.1))\" r=\"\(f(radius))\" fill=\"\(fill.hex)\" stroke=\"#4a5160\" stroke-width=\"1\"/>"
    if radius >= 7 {
      let label = graph.nodeLabels?[node] ?? "\(node)"
      svg +=
        "<text x=\"\(f(point.0))\" y=\"\(f(point.1 + 3.5))\" text-anchor=\"middle\" font-size=\"\(radius >= 11 ? 10 : 8)\" fill=\"\(fill.contrastingText.hex)\">\(escapeHTML(label))</text>"
    }
    svg +=
      "<title>\(escapeHTML(nodeName(node))): node relevance \(formatNumber(nodeRelevance[node], digits: 7))</title></g>"
  }
  return svg + "</svg>"
}

private func f(_ value: Double) -> String { String(format: "%.1f", value) }
private func quoted(_ text: String) -> String { "\"\(text)\"" }
