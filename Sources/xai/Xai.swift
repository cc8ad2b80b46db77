import ArgumentParser
import Foundation

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
      EvalCommand.self, GenerateCommand.self, SimilarityCommand.self,
      ModelsCommand.self,
    ])

  /// Refuses a command line that is not valid UTF-8 (Swift would repair it silently),
  /// then parses and runs it.
  static func main() {
    for index in 1..<Int(CommandLine.argc) {
      guard let argument = CommandLine.unsafeArgv[index] else { continue }
      let bytes = UnsafeBufferPointer(start: argument, count: strlen(argument)).map { UInt8(bitPattern: $0) }
      if String(validating: bytes, as: UTF8.self) == nil {
        printError(
          "xai: command-line argument \(index) is not valid UTF-8; give text as UTF-8 (or through a file).")
        Foundation.exit(ExitStatus.badData)
      }
    }
    // ArgumentParser's own `main` prints errors raw; a ValidationError may quote a file.
    do {
      var command = try parseAsRoot()
      try command.run()
    } catch {
      let message = fullMessage(for: error)
      let code = exitCode(for: error)
      if !message.isEmpty {
        if code == .success { print(message) } else { printError(message) }
      }
      Foundation.exit(code.rawValue)
    }
    Foundation.exit(0)
  }

  /// `xai` alone: the overview on stderr and a usage error, not a silent success.
  func run() throws {
    printError(Xai.helpMessage())
    throw ExitCode(ExitStatus.usage)
  }
}

/// The version `xai --version` prints.
enum XaiVersion {
  static let string = "0.1.0"
}
