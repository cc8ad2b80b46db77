import ArgumentParser
import Attribution
import Foundation
import Models
import Render

/// Writes `text` to `path` atomically (a temporary file renamed into place).
func writeReport(_ text: String, to path: String) throws {
  do {
    try text.write(toFile: path, atomically: true, encoding: .utf8)
  } catch {
    throw ModelError.badInput("Cannot write \(path): \(error.localizedDescription)")
  }
}

/// `xai report`: a self-contained HTML page for a text (several methods side by side),
/// a graph, or a data set.
struct ReportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "report",
    abstract: "Write a self-contained HTML report for a text, a graph or a data set.",
    discussion: """
      The page needs no network and no JavaScript: inline CSS and SVG, every value in a \
      hover title, every user string escaped.

      Examples:
        xai report --method lrp --method gradxinput --method integrated-gradients -o review.html "Not bad at all."
        xai report --model graphnet-ba --graph samples/data/ba_graphs.jsonl --index 1 -o ba.html
        xai report --input samples/data/rotten_tomatoes_test.jsonl --limit 200 -o dataset.html
      """)

  @OptionGroup var modelOptions: ModelOptions

  @Option(
    name: .long, parsing: .singleValue,
    help: "A method to show (repeat for several; default lrp, gradxinput, integrated-gradients).")
  var method: [String] = []

  @Option(name: .long, help: "Class to explain, by index or label (default: the predicted class).")
  var target: String?

  @Option(name: .long, help: "Integrated Gradients: points on the path.")
  var steps: Int = 32

  @Option(name: .long, help: "Explain a graph file instead of a text.")
  var graph: String?

  @Option(name: .long, help: "Which graph of a JSONL or SDF file (0-based).")
  var index: Int = 0

  @Option(name: .long, help: "LRP-γ for graphs.")
  var gamma: String = "0"

  @Option(name: .long, help: "Walks to draw for graphs.")
  var top: Int = 10

  @Option(name: .long, help: "A data set (JSONL or CSV with a header) to summarise instead of one text.")
  var input: String?

  @Option(name: .long, help: "Data set: the text column.")
  var textField: String = "text"

  @Option(name: .long, help: "Data set: the label column.")
  var labelField: String = "label"

  @Option(name: .long, help: "Data set: explain at most this many examples.")
  var limit: Int?

  @Option(name: [.short, .customLong("output")], help: "The HTML file to write.")
  var output: String

  @Argument(help: "The text to explain.")
  var text: String?

  func validate() throws {
    let sources = [text != nil, graph != nil, input != nil].filter { $0 }.count
    if sources != 1 { throw ValidationError("Give exactly one of: a text, --graph FILE, or --input FILE.") }
    for name in method where !TextMethods.names.contains(name) {
      throw ValidationError(
        "Unknown method '\(name)'; choose from \(TextMethods.names.joined(separator: ", ")).")
    }
    if steps < 1 || steps > 4096 { throw ValidationError("--steps must be between 1 and 4096.") }
    if let limit, limit < 1 { throw ValidationError("--limit must be at least 1.") }
  }

  func methods() throws -> [any TextAttributionMethod] {
    let names = method.isEmpty ? ["lrp", "gradxinput", "integrated-gradients"] : method
    return try names.map { try TextMethods.make($0, steps: steps) }
  }

  func run() throws {
    try reportingErrors {
      if let graph {
        var command = try GraphCommand.parse(
          ["--graph", graph, "--index", "\(index)", "--gamma", gamma, "--top", "\(top)"]
            + (modelOptions.model.map { ["--model", $0] } ?? []) + (target.map { ["--target", $0] } ?? []))
        command.html = output
        command.quiet = true
        try command.run()
        return
      }
      let model = try modelOptions.loadTextModel()
      let methods = try methods()
      let classTarget = target.map(ClassTarget.init) ?? .predicted
      if let input {
        let records = try DataRecords.read(input, textField: textField, labelField: labelField)
        let chosen = limit.map { Array(records.prefix($0)) } ?? records
        var examples: [DatasetExample] = []
        for record in chosen {
          let explanations = try methods.map {
            try model.explain(record.text, method: $0, target: classTarget)
          }
          examples.append(DatasetExample(id: record.id, label: record.label, explanations: explanations))
        }
        let title =
          "\(model.name) on \(URL(fileURLWithPath: input).lastPathComponent) (\(examples.count) examples)"
        try writeReport(DatasetReport(title: title, examples: examples).html, to: output)
      } else if let text {
        let explanations = try methods.map { try model.explain(text, method: $0, target: classTarget) }
        try writeReport(SentenceReport(explanations: explanations).html, to: output)
      }
      printError("xai: wrote \(output)")
    }
  }
}
