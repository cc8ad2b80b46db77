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
      Loads a GraphNet or GCN (JSON weights; default graphnet-ba), reads a graph (JSON, JSON \
      Lines, or an SDF/molfile for molecules) and computes the relevance of every walk input \
      node → … → last-layer node with LRP-γ, by a suffix dynamic programme (one forward \
      pass, then one small matrix–vector product per walk suffix). Prints the top walks, \
      node relevance and conservation (Σ walks against the output).

      Examples:
        xai graph --model graphnet-ba --graph samples/data/ba_graphs.jsonl --index 3
        xai graph --model gcn-solubility --graph samples/data/solubility_test.sdf --gamma 0.1 --top 15
      """)

  @OptionGroup var modelOptions: ModelOptions
  @OptionGroup var graphOptions: GraphOptions
  @OptionGroup var targetOption: TargetOption

  @Option(
    name: .long,
    help:
      "gnn-lrp (walks), gradxinput (node Gradient×Input), or a perturbation method over the nodes: occlusion, feature-ablation, shapley, kernel-shap, lime."
  )
  var method: GraphMethodChoice = .graph(.gnnLRP)

  @OptionGroup var output: OutputOptions

  @OptionGroup(title: "Perturbation methods") var perturbation: PerturbationOptions

  func validate() throws {
    if graphOptions.graph == nil { throw ValidationError("Give a graph file with --graph FILE.") }
    if perturbation.units != .tokens {
      throw ValidationError("--units applies to texts; a graph's units are its nodes.")
    }
    try perturbation.check(
      methods: method.perturbationKind.map { [$0] } ?? [], shown: method.defaultValueDescription)
  }

  func run() throws {
    try reportingErrors {
      if let html = output.html {
        try checkWritable(html, inputs: [graphOptions.graph, modelOptions.inputPath])
      }
      let result = try explainGraph(
        model: modelOptions, options: graphOptions, method: method, target: targetOption.classTarget,
        perturbation: perturbation.settings)
      switch result {
      case .nodes(let view):
        if let html = output.html {
          try writeReport(view.html, to: html)
          printError("xai: wrote \(html)")
        }
        switch output.format {
        case .json: print(view.json.text)
        case .terminal: print(view.terminal(top: graphOptions.walks.top), terminator: "")
        }
      case .walks(let report):
        if let html = output.html {
          try writeReport(report.html, to: html)
          printError("xai: wrote \(html)")
        }
        switch output.format {
        case .json: print(report.json.text)
        case .terminal: print(TerminalWalks(mode: ColorMode.detect()).render(report), terminator: "")
        }
        fflush(nil)
        adviseOnStability(report)
      }
    }
  }
}
