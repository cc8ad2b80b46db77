import ArgumentParser
import Attribution
import Models
import Render

extension GraphMethodKind: ExpressibleByArgument {}

/// `xai graph --method`: GNN-LRP walks, node Gradient×Input, or a perturbation method over
/// the nodes.
enum GraphMethodChoice: ExpressibleByArgument, Equatable {
  case graph(GraphMethodKind)
  case perturbation(MethodKind)

  init?(argument: String) {
    if let kind = GraphMethodKind(name: argument) {
      self = .graph(kind)
    } else if let kind = MethodKind(name: argument), kind.isPerturbation {
      self = .perturbation(kind)
    } else {
      return nil
    }
  }

  static var allValueStrings: [String] {
    GraphMethodKind.allCases.map(\.rawValue) + MethodKind.perturbationMethods.map(\.rawValue)
  }

  var defaultValueDescription: String {
    switch self {
    case .graph(let kind): kind.rawValue
    case .perturbation(let kind): kind.rawValue
    }
  }

  /// The method kind for the perturbation options' checks.
  var perturbationKind: MethodKind? {
    if case .perturbation(let kind) = self { return kind }
    return nil
  }
}

/// A graph explanation as the views take it.
enum GraphResult {
  /// Relevant walks.
  case walks(GraphReport)
  /// Node relevance.
  case nodes(NodeRelevanceView)
}

/// The one graph pipeline of `xai graph` and `xai report --graph`: load the model,
/// read the graph, prepare it once (adjacency and features), explain with `method`.
func explainGraph(
  model: ModelOptions, options: GraphOptions, method: GraphMethodChoice, target: ClassTarget,
  perturbation: PerturbationSettings = PerturbationSettings()
) throws -> GraphResult {
  switch method {
  case .graph(.gnnLRP): .walks(try explainGraphWalks(model: model, options: options, target: target))
  case .perturbation(let kind):
    .nodes(
      try withPreparedGraph(model: model, options: options) { name, network, graph, input in
        let relevance = try GraphPerturbation(kind: kind, settings: perturbation)
          .explain(network: network, input: input, target: target)
        return NodeRelevanceView(modelName: name, graph: graph, labels: network.labels, explanation: relevance)
      })
  case .graph(.gradxinput):
    .nodes(
      try withPreparedGraph(model: model, options: options) { name, network, graph, input in
        let relevance = try NodeGradientTimesInput().explain(network: network, input: input, target: target)
        return NodeRelevanceView(
          modelName: name, graph: graph, labels: network.labels, explanation: relevance)
      })
  }
}

/// GNN-LRP relevant walks of the graph the options name.
func explainGraphWalks(model: ModelOptions, options: GraphOptions, target: ClassTarget) throws -> GraphReport
{
  try withPreparedGraph(model: model, options: options) { name, network, graph, input in
    let display = WalkProgress()
    defer { display.finish() }
    let walks = try options.walks.relevantWalks(progress: display.update)
      .explain(network: network, input: input, target: target)
    return GraphReport(modelName: name, graph: graph, labels: network.labels, explanation: walks)
  }
}

/// Loads the graph model, reads the graph the options name and prepares it; what goes
/// wrong with the graph itself names the file (and which graph of several).
private func withPreparedGraph<Result>(
  model: ModelOptions, options: GraphOptions,
  _ body: (String, GraphNetwork, Graph, GraphInput) throws -> Result
) throws -> Result {
  guard let file = options.graph else { throw ValidationError("Give a graph file with --graph FILE.") }
  let (name, network) = try model.loadGraphModel()
  let graphs = try GraphFile.read(file)
  guard options.index < graphs.count else {
    throw ModelError.badInput(
      "\(file) holds \(graphs.count) graph(s); graph \(options.index) is out of range.")
  }
  let graph = graphs[options.index]
  let source = graphs.count > 1 ? "\(file) graph \(options.index)" : file
  do {
    return try body(name, network, graph, try network.prepare(graph))
  } catch let error as ModelError where !error.isMissingFile {
    throw ModelError.badInput("\(source): \(error.description)")
  }
}

/// Advice after an unstable explanation was shown: the view states the fact, the CLI
/// names the option that helps.
func adviseOnStability(_ report: GraphReport) {
  let walks = report.explanation
  guard walks.stability.warning != nil, walks.epsilon == 0 else { return }
  printError(
    "xai: these walks pass through near-zero LRP-γ denominators; --epsilon E (e.g. 0.01) stabilises them, and the residual then shows what ε absorbs."
  )
}

/// A progress bar for graphs with more than a million walks (nothing for smaller ones).
final class WalkProgress: @unchecked Sendable {
  private var display: ProgressDisplay?
  private var reported = 0

  func update(done: Int, total: Int) {
    guard total > 1_000_000 else { return }
    if display == nil { display = ProgressDisplay(total: total, unit: "walks") }
    display?.advance(by: done - reported)
    reported = done
  }

  func finish() { display?.finish() }
}
