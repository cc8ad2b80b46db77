import ArgumentParser
import Attribution
import Foundation
import Models
import Render

/// `xai graph`: GNN-LRP relevant walks for a graph classifier.
struct GraphCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "graph",
    abstract: "Explain a graph classifier's prediction by its relevant walks (GNN-LRP).",
    discussion: """
      Loads a GraphNet or GCN (JSON weights), reads a graph (JSON, JSON Lines, or an SDF/molfile \
      for molecules) and computes the relevance of every walk input node → … → last-layer node \
      with LRP-γ, by a suffix dynamic programme (one forward pass, then one small \
      matrix–vector product per walk suffix). Prints the top walks, node relevance and \
      conservation (Σ walks against the output).

      Examples:
        xai graph --model graphnet-ba --graph samples/data/ba_graphs.jsonl --index 3
        xai graph --model gcn-solubility --graph samples/data/solubility_test.sdf --gamma 0.1 --top 15
      """)

  @Option(
    name: .long,
    help: ArgumentHelp("A graph model name from 'xai models' or a JSON weight file.", valueName: "name|path"))
  var model: String = "graphnet-ba"

  @Option(name: .long, help: "Graph file: .json, .jsonl or .sdf/.mol.")
  var graph: String

  @Option(name: .long, help: "Which graph of a JSONL or SDF file (0-based).")
  var index: Int = 0

  @Option(
    name: .long,
    help: ArgumentHelp("LRP-γ: one value, or one per layer plus one for the output.", valueName: "G[,G..]"))
  var gamma: String = "0"

  @Option(name: .long, help: "How many walks to show (largest |R| first).")
  var top: Int = 10

  @Option(
    name: .long,
    help: ArgumentHelp(
      "Class to explain, by index or label (default: the predicted class).", valueName: "class"))
  var target: String?

  @Option(name: .long, help: "gnn-lrp (walks) or gradxinput (node Gradient×Input).")
  var method: String = "gnn-lrp"

  @Option(name: .long, help: "terminal or json.")
  var format: OutputFormat = .terminal

  @Option(name: .long, help: "Also write a self-contained HTML report to this file.")
  var html: String?

  /// Set by `xai report`: write only the HTML.
  var quiet = false

  func validate() throws {
    if top < 0 { throw ValidationError("--top must be 0 or more.") }
    if index < 0 { throw ValidationError("--index must be 0 or more.") }
    if !["gnn-lrp", "gradxinput"].contains(method) {
      throw ValidationError("--method for graphs is gnn-lrp or gradxinput.")
    }
    _ = try gammas()
  }

  func gammas() throws -> [Float] {
    let values = gamma.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
    guard !values.isEmpty, values.allSatisfy({ $0 != nil && $0! >= 0 && $0!.isFinite }) else {
      throw ValidationError(
        "--gamma takes non-negative numbers separated by commas, e.g. 0.1 or 0,0.1,0.1,0.")
    }
    return values.map { $0! }
  }

  func run() throws {
    try reportingErrors {
      let (name, path) = try ModelZoo.resolve(model)
      let network = try GraphNetwork.load(path: path)
      let graphs = try GraphFile.read(self.graph)
      guard index < graphs.count else {
        throw ModelError.badInput(
          "\(self.graph) holds \(graphs.count) graph(s); --index \(index) is out of range.")
      }
      let graph = graphs[index]
      let outputs = try network.outputs(graph)
      let targetIndex = try (target.map(ClassTarget.init) ?? .predicted).index(
        labels: network.labels, logits: outputs)
      if method == "gradxinput" {
        let relevance = try NodeGradientTimesInput().explain(
          network: network, graph: graph, target: targetIndex)
        switch format {
        case .json:
          let object = JSONOutput.object([
            ("model", .string(name)), ("method", .string("gradxinput")), ("num_nodes", .int(graph.nodeCount)),
            (
              "target",
              .object([("index", .int(targetIndex)), ("label", .string(network.labels[targetIndex]))])
            ),
            ("logits", .floats(outputs)), ("node_relevance", .floats(relevance)),
          ])
          print(object.text)
        case .terminal:
          print(
            "\(name) · \(graph.nodeCount) nodes · target \(network.labels[targetIndex]) [\(targetIndex)] · node Gradient×Input"
          )
          let ranked = relevance.indices.sorted { abs(relevance[$0]) > abs(relevance[$1]) }
          for node in ranked.prefix(max(top, 1)) {
            let label = graph.nodeLabels.map { "\(node):\($0[node])" } ?? "\(node)"
            print("  \(label.padding(toLength: 8, withPad: " ", startingAt: 0)) \(relevance[node])")
          }
          print("Σ R = \(relevance.reduce(0, +)), target logit = \(outputs[targetIndex])")
        }
        return
      }
      let explanation = try RelevantWalks(gammas: try gammas(), keep: top).explain(
        network: network, graph: graph, target: targetIndex)
      let report = GraphReport(
        modelName: name, graph: graph, labels: network.labels, explanation: explanation)
      if let html {
        try writeReport(report.html, to: html)
        printError("xai: wrote \(html)")
      }
      if quiet { return }
      switch format {
      case .json: print(report.json.text)
      case .terminal: print(TerminalWalks(mode: ColorMode.detect()).render(report), terminator: "")
      }
    }
  }
}
