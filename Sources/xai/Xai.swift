import ArgumentParser

/// The `xai` command: explanations for transformer and graph classifiers.
@main
struct Xai: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "xai",
    abstract: "Explain transformer and graph neural network classifiers.",
    discussion: """
      xai loads a model (a Hugging Face folder or a JSON weight file), runs it on its own \
      tensor core and attributes its prediction to the input: Gradient, Gradient×Input, \
      LRP by detachment, Integrated Gradients and GNN-LRP relevant walks.
      """,
    version: XaiVersion.string,
    subcommands: [
      ExplainCommand.self, GraphCommand.self, ReportCommand.self, BatchCommand.self, MergeCommand.self,
      ModelsCommand.self,
    ])
}

/// The version `xai --version` prints.
enum XaiVersion {
  static let string = "0.1.0"
}
