import ArgumentParser
import Attribution
import Foundation
import Models
import Tensor

/// `--model` and `--threads`, shared by every command that runs a model.
struct ModelOptions: ParsableArguments {
  @Option(
    name: .long,
    help: ArgumentHelp(
      "A model name from 'xai models' or a path (Hugging Face folder or JSON weights).",
      valueName: "name|path"))
  var model: String?

  @Option(name: .long, help: "BLAS threads (default: all cores).")
  var threads: Int?

  func validate() throws {
    if let threads, threads < 1 { throw ValidationError("--threads must be at least 1.") }
  }

  /// Applies `--threads` and loads the text model.
  func loadTextModel() throws -> TextModel {
    if let threads { BLAS.threads = threads }
    let (name, path) = try ModelZoo.resolve(model)
    return try TextModel.load(path: path, name: name)
  }
}

/// `--method`, `--detach`, `--target`, `--steps`: what to attribute and how.
struct MethodOptions: ParsableArguments {
  @Option(
    name: .long,
    help: ArgumentHelp(
      "Attribution method: lrp (Gradient×Input with every detachment hook), gradxinput, gradient (saliency) or integrated-gradients.",
      valueName: "method"))
  var method: String?

  @Option(
    name: .long,
    help: ArgumentHelp(
      "Detachment hooks on top of gradxinput, comma-separated: layernorm, attention, gelu, tanh.",
      valueName: "list"))
  var detach: String?

  @Option(
    name: .long,
    help: ArgumentHelp(
      "Class to explain, by index or label (default: the predicted class).", valueName: "class"))
  var target: String?

  @Option(name: .long, help: "Integrated Gradients: points on the path.")
  var steps: Int = 32

  @Option(name: .long, help: "Integrated Gradients: gauss-legendre or riemann-middle.")
  var integration: String = IntegratedGradients.Rule.gaussLegendre.rawValue

  /// The hooks named by `--detach`.
  func hooks() throws -> DetachmentHooks {
    guard let detach else { return .none }
    var hooks: DetachmentHooks = []
    for name in detach.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces).lowercased() })
    where !name.isEmpty {
      guard let hook = DetachmentHooks.names.first(where: { $0.0 == name })?.1 else {
        throw ValidationError(
          "Unknown hook '\(name)' in --detach; use \(DetachmentHooks.names.map(\.0).joined(separator: ", "))."
        )
      }
      hooks.insert(hook)
    }
    return hooks
  }

  /// The method: `--method`, or gradxinput when only `--detach` is given, or lrp.
  func resolvedMethod(named override: String? = nil) throws -> any TextAttributionMethod {
    let name = override ?? method ?? (detach == nil ? "lrp" : "gradxinput")
    let hooks = try hooks()
    if !hooks.isEmpty && name != "gradxinput" && name != "lrp" {
      throw ValidationError(
        "--detach applies to gradxinput (lrp already detaches everything), not to \(name).")
    }
    guard let rule = IntegratedGradients.Rule(rawValue: integration) else {
      throw ValidationError("--integration must be gauss-legendre or riemann-middle.")
    }
    guard TextMethods.names.contains(name) else {
      throw ValidationError(
        "Unknown method '\(name)'; choose one of \(TextMethods.names.joined(separator: ", ")).")
    }
    return try TextMethods.make(name, hooks: hooks, steps: steps, rule: rule)
  }

  /// The class target.
  var classTarget: ClassTarget { target.map(ClassTarget.init) ?? .predicted }

  func validate() throws {
    if steps < 1 || steps > 4096 { throw ValidationError("--steps must be between 1 and 4096.") }
    _ = try resolvedMethod()
  }
}

/// Output format for text explanations.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
  case terminal, json
}

/// Reads the texts of a command: the argument, or lines of standard input for "-".
func readTexts(argument: String?) throws -> [(line: Int?, text: String)] {
  guard let argument else {
    throw ValidationError("Give a text to explain, or - to read one text per line from standard input.")
  }
  guard argument == "-" else { return [(nil, argument)] }
  let data = FileHandle.standardInput.readDataToEndOfFile()
  var texts: [(line: Int?, text: String)] = []
  for (index, line) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
    .enumerated()
  {
    guard let text = String(validating: line, as: UTF8.self) else {
      throw ModelError.badInput("standard input line \(index + 1) is not valid UTF-8.")
    }
    let trimmed = text.hasSuffix("\r") ? String(text.dropLast()) : text
    if !trimmed.trimmingCharacters(in: .whitespaces).isEmpty { texts.append((index + 1, trimmed)) }
  }
  return texts
}
