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
