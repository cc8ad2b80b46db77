import Attribution
import Foundation
import Models

/// Node Gradient×Input of one graph as the terminal and JSON show it.
public struct NodeRelevanceView: Sendable {
  /// The model that was explained.
  public let modelName: String
  /// The explained graph.
  public let graph: Graph
  /// Class names by index.
  public let labels: [String]
  /// Outputs, target and relevance.
  public let explanation: NodeRelevance

  /// Bundles node relevance with what the views show beside it.
  public init(modelName: String, graph: Graph, labels: [String], explanation: NodeRelevance) {
    self.modelName = modelName
    self.graph = graph
    self.labels = labels
    self.explanation = explanation
  }

  /// The JSON object: model, method, node count, target, logits, node relevance.
  public var json: JSONOutput {
    let e = explanation
    var members: [(String, JSONOutput)] = [
      ("model", .string(modelName)), ("method", .string(e.method)),
      ("num_nodes", .int(graph.nodeCount)),
      ("target", .object([("index", .int(e.target)), ("label", .string(labels[e.target]))])),
      ("logits", .floats(e.outputs)), ("node_relevance", .floats(e.relevance)),
    ]
    if let perturbation = e.perturbation {
      let c = e.conservation
      var balance: [(String, JSONOutput)] = [
        ("sum_relevance", .float(c.sumRelevance)), ("target_logit", .float(c.targetLogit)),
        ("residual", .float(c.residual)),
      ]
      if let baseline = c.baselineLogit, let completeness = c.completenessResidual {
        balance += [("baseline_logit", .float(baseline)), ("completeness_residual", .float(completeness))]
      }
      members += [("conservation", .object(balance)), ("perturbation", perturbation.json)]
    }
    return .object(members)
  }

  /// The `top` nodes of largest |R| and the sum against the target output (ends with a newline).
  public func terminal(top: Int) -> String {
    let e = explanation
    var lines = [
      "\(terminalSafe(modelName)) · \(graph.nodeCount) nodes · target \(terminalSafe(labels[e.target])) [\(e.target)] · \(MethodKind(name: e.method).map { "\($0.displayName) (nodes)" } ?? "node Gradient×Input")"
    ]
    let ranked = e.relevance.indices.sorted { abs(e.relevance[$0]) > abs(e.relevance[$1]) }
    for node in ranked.prefix(max(top, 1)) {
      let label = graph.nodeLabels.map { "\(node):\(terminalSafe($0[node]))" } ?? "\(node)"
      lines.append("  \(label.padding(toLength: 8, withPad: " ", startingAt: 0)) \(e.relevance[node])")
    }
    if let perturbation = e.perturbation, let kind = MethodKind(name: e.method) {
      lines += conservationLines(e.conservation, method: MethodSummary(kind: kind, detached: []))
      lines.append("cost: \(perturbation.sentence)")
    } else {
      lines.append("Σ R = \(e.relevance.reduce(0, +)), target logit = \(e.outputs[e.target])")
    }
    return lines.joined(separator: "\n") + "\n"
  }
}

extension NodeRelevanceView {
  /// `3:C` for molecules, `3` otherwise.
  func nodeName(_ node: Int) -> String { graphNodeName(graph, node) }

  /// What the method is called on the page.
  var methodName: String {
    MethodKind(name: explanation.method).map { "\($0.displayName) over the nodes" } ?? "node Gradient×Input"
  }

  /// The HTML page (`xai report --graph` and `xai graph --html` with a node method): the
  /// prediction, the graph with its nodes coloured by relevance, conservation (and for a
  /// perturbation method its evaluations), and the nodes of largest |R|.
  public var html: String {
    let e = explanation
    var page = HTMLPage(title: "xai · \(modelName) · \(graph.name ?? "graph") · \(e.method)")
    page.footer =
      "Made by xai. Node colours: red supports the target class, blue speaks against it, white is zero; intensity is |R| relative to the largest |R|. Hover a node for its exact value."
    page.append("<h1>Node relevance of a graph classifier</h1>")
    page.append(
      "<p class=\"sub\">model <b>\(escapeHTML(modelName))</b> · graph <b>\(escapeHTML(graph.name ?? "unnamed"))</b> · "
        + "\(graph.nodeCount) nodes, \(graph.edges.count) edges · \(escapeHTML(methodName))</p>")
    let predicted = e.outputs.indices.max { e.outputs[$0] < e.outputs[$1] } ?? 0
    var prediction = "<section><table class=\"data\"><tr><th>class</th><th>logit</th></tr>"
    for (index, label) in labels.enumerated() {
      prediction +=
        "<tr><td>\(escapeHTML(label))\(index == predicted ? " <b>(predicted)</b>" : "")\(index == e.target ? " · explained" : "")</td>"
        + "<td class=\"num\">\(formatNumber(e.outputs[index]))</td></tr>"
    }
    prediction += "</table>"
    if e.perturbation != nil, let kind = MethodKind(name: e.method) {
      for line in conservationLines(e.conservation, method: MethodSummary(kind: kind, detached: [])) {
        prediction += "<p class=\"sub\">\(escapeHTML(line))</p>"
      }
    } else {
      prediction +=
        "<p class=\"sub\">Σ R = \(formatNumber(e.relevance.reduce(0, +))); target logit = \(formatNumber(e.outputs[e.target])).</p>"
    }
    if let perturbation = e.perturbation {
      prediction += "<p class=\"sub\">cost: \(escapeHTML(perturbation.sentence)).</p>"
    }
    page.append(prediction + "</section>")
    page.append("<h2>Nodes</h2>")
    page.append(
      "<section>\(graphDrawing(graph, nodeRelevance: e.relevance, nodeName: nodeName, what: "graph with node relevance"))</section>"
    )
    page.append("<div class=\"legend\"><span>nodes: relevance for the explained class (blue − … red +)</span></div>")
    page.append(nodeTable(e.relevance, heading: "relevance", nodeName: nodeName))
    return page.text
  }
}
