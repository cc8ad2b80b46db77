import ArgumentParser
import Attribution
import Foundation
import Models
import Render

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
  @OptionGroup var methodOptions: MethodOptions
  @OptionGroup var targetOption: TargetOption
  @OptionGroup var graphOptions: GraphOptions

  @Option(name: .long, help: "A data set (JSONL or CSV with a header) to summarise instead of one text.")
  var input: String?

  @Option(name: .long, help: "Data set: the text column.")
  var textField: String = "text"

  @Option(name: .long, help: "Data set: the label column.")
  var labelField: String = "label"

  @Option(name: .long, parsing: .unconditional, help: "Data set: explain at most this many examples.")
  var limit: Int?

  @Option(name: [.short, .customLong("output")], help: "The HTML file to write.")
  var output: String

  @Argument(help: "The text to explain.")
  var text: String?

  func validate() throws {
    let sources = [text != nil, graphOptions.graph != nil, input != nil].filter { $0 }.count
    if sources != 1 { throw ValidationError("Give exactly one of: a text, --graph FILE, or --input FILE.") }
    if graphOptions.graph != nil && !methodOptions.method.isEmpty {
      throw ValidationError("--method chooses text methods; a graph report shows GNN-LRP walks.")
    }
    if let limit, limit < 1 { throw ValidationError("--limit must be at least 1; got \(limit).") }
  }

  func run() throws {
    try reportingErrors {
      try checkWritable(output)
      if graphOptions.graph != nil {
        guard
          case .walks(let report) = try explainGraph(
            model: modelOptions, options: graphOptions, method: .gnnLRP, target: targetOption.classTarget)
        else { return }
        try writeReport(report.html, to: output)
        printError("xai: wrote \(output)")
        return
      }
      let model = try modelOptions.loadTextModel()
      let methods = methodOptions.methods(defaults: [.lrp, .gradxinput, .integratedGradients])
      let target = targetOption.classTarget
      if let input {
        let records = try DataRecords.read(input, textField: textField, labelField: labelField)
        let chosen = limit.map { Array(records.prefix($0)) } ?? records
        var examples: [DatasetExample] = []
        for record in chosen {
          let explanations = try methods.map { try model.explain(record.text, method: $0, target: target) }
          examples.append(DatasetExample(id: record.id, label: record.label, explanations: explanations))
        }
        let title =
          "\(model.name) on \(URL(fileURLWithPath: input).lastPathComponent) (\(examples.count) examples)"
        try writeReport(DatasetReport(title: title, examples: examples).html, to: output)
      } else if let text {
        let explanations = try methods.map { try model.explain(text, method: $0, target: target) }
        try writeReport(SentenceReport(explanations: explanations).html, to: output)
      }
      printError("xai: wrote \(output)")
    }
  }
}
