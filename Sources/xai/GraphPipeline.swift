import ArgumentParser
import Attribution
import Models
import Render

/// The graph methods.
enum GraphMethod: String, ExpressibleByArgument, CaseIterable {
  /// Relevant walks (LRP-γ).
  case gnnLRP = "gnn-lrp"
  /// Node Gradient×Input at H₀.
  case gradxinput
}

/// A graph explanation as the views take it.
enum GraphResult {
  /// Relevant walks.
  case walks(GraphReport)
  /// Node relevance.
  case nodes(NodeRelevanceView)
}

/// The one graph pipeline of `xai graph` and `xai report --graph`: load the model,
/// read the graph, prepare it once (adjacency and features), explain.
func explainGraph(
  model: ModelOptions, options: GraphOptions, method: GraphMethod, target: ClassTarget
) throws -> GraphResult {
  guard let file = options.graph else { throw ValidationError("Give a graph file with --graph FILE.") }
  let (name, network) = try model.loadGraphModel()
  let graphs = try GraphFile.read(file)
  guard options.index < graphs.count else {
    throw ModelError.badInput(
      "\(file) holds \(graphs.count) graph(s); graph \(options.index) is out of range.")
  }
  let graph = graphs[options.index]
  let input = try network.prepare(graph)
  switch method {
  case .gradxinput:
    let relevance = try NodeGradientTimesInput().explain(network: network, input: input, target: target)
    return .nodes(
      NodeRelevanceView(modelName: name, graph: graph, labels: network.labels, explanation: relevance))
  case .gnnLRP:
    let walks = try RelevantWalks(gammas: options.gamma.values, keep: options.top).explain(
      network: network, input: input, target: target)
    return .walks(GraphReport(modelName: name, graph: graph, labels: network.labels, explanation: walks))
  }
}
