import ArgumentParser
import Attribution
import Foundation
import Models
import Pipeline
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
        xai report --model graphnet-ba --graph samples/data/ba_graphs.jsonl --method shapley --samples 64 -o ba.html
        xai report --input samples/data/rotten_tomatoes_test.jsonl --limit 200 -o dataset.html
        xai report --model vit-digits --image samples/data/digits/3-0045.png -o digit.html
      """)

  @OptionGroup var modelOptions: ModelOptions
  @OptionGroup var methodOptions: MethodOptions
  @OptionGroup var targetOption: TargetOption
  @OptionGroup var graphOptions: GraphOptions

  @OptionGroup var dataOptions: DataOptions

  @Option(name: .long, help: "Draw the data-set page from the output of 'xai batch' instead of computing.")
  var from: String?

  @Option(name: [.short, .customLong("output")], help: "The HTML file to write.")
  var output: String

  @Flag(
    name: .long,
    help: "Text: add the relevance audit of every Gradient×Input method (lrp, attnlrp, gradxinput).")
  var audit = false

  @OptionGroup var images: ImageOptions

  @OptionGroup(title: "Perturbation methods") var perturbation: PerturbationOptions

  @Argument(help: "The text to explain.")
  var text: String?

  func validate() throws {
    try images.check()
    let sources = [
      text != nil, graphOptions.graph != nil, dataOptions.input != nil, from != nil, !images.files.isEmpty,
    ]
    .filter { $0 }.count
    if sources != 1 {
      throw ValidationError(
        "Give exactly one of: a text, --image FILE, --graph FILE, --input FILE or --from OUTPUT.jsonl.")
    }
    if graphOptions.graph != nil {
      _ = try graphMethod()
      if perturbation.units != .tokens {
        throw ValidationError("--units applies to texts; a graph's units are its nodes.")
      }
    }
    if !methodOptions.method.isEmpty {
      try perturbation.check(
        methods: methodOptions.method.compactMap(\.kind),
        shown: methodOptions.method.map { $0.kind?.rawValue ?? GraphMethodKind.gnnLRP.rawValue }.joined(
          separator: ", "))
    } else if perturbation.window != nil || perturbation.stride != nil || perturbation.samples != nil
      || perturbation.units != .tokens
    {
      throw ValidationError(
        "--window, --stride, --samples and --units apply to perturbation methods; name them with --method.")
    }
  }

  /// The one method a graph report shows: GNN-LRP walks (default), node Gradient×Input,
  /// or a perturbation method over the nodes.
  func graphMethod() throws -> GraphMethodChoice {
    guard methodOptions.method.count <= 1 else {
      throw ValidationError(
        "A graph report shows one --method: gnn-lrp (walks), gradxinput or a perturbation method (occlusion, feature-ablation, shapley, kernel-shap, lime).")
    }
    guard let name = methodOptions.method.first else { return .graph(.gnnLRP) }
    if let graph = name.graphMethod { return .graph(graph) }
    if let kind = name.kind, kind.isPerturbation { return .perturbation(kind) }
    throw ValidationError(
      "A graph model takes --method gnn-lrp, gradxinput or a perturbation method (occlusion, feature-ablation, shapley, kernel-shap, lime); \(name.kind?.rawValue ?? "") explains transformers.")
  }

  func run() throws {
    try reportingErrors {
      try checkWritable(
        output,
        inputs: [graphOptions.graph, from, dataOptions.input, modelOptions.inputPath] + images.files)
      if graphOptions.graph != nil {
        let result = try explainGraph(
          model: modelOptions, options: graphOptions, method: try graphMethod(), target: targetOption.classTarget,
          perturbation: perturbation.settings)
        switch result {
        case .walks(let report):
          try writeReport(report.html, to: output)
          printError("xai: wrote \(output)")
          adviseOnStability(report)
        case .nodes(let view):
          try writeReport(view.html, to: output)
          printError("xai: wrote \(output)")
        }
        return
      }
      if let from {
        let rows = try BatchLineReader.rows(from)
        let title =
          "\(URL(fileURLWithPath: from).lastPathComponent) (\(Set(rows.map(\.index)).count) examples)"
        try writeReport(DatasetReport(title: title, rows: rows).html, to: output)
        printError("xai: wrote \(output)")
        return
      }
      if !images.files.isEmpty {
        let model = try modelOptions.loadImageModel()
        let methods = try methodOptions.methods(
          defaults: [.lrp, .attnlrp, .gradxinput, .integratedGradients], perturbation: perturbation.settings)
        let (prepared, failure) = prepareImages(images.files, model: model)
        let results = try explainImages(
          prepared, model: model, methods: methods, target: targetOption.classTarget,
          baseline: images.baseline ?? .black)
        if !results.isEmpty {
          try writeReport(
            ImageViews().page(results, title: "\(model.name): \(results.count) image(s)"), to: output)
          printError("xai: wrote \(output)")
        }
        if let failure { throw ExitCode(failure) }
        return
      }
      let model = try modelOptions.loadTextModel()
      let methods = try methodOptions.methods(
        defaults: [.lrp, .gradxinput, .integratedGradients], perturbation: perturbation.settings)
      let target = targetOption.classTarget
      if let input = dataOptions.input {
        let reader = try DataRecordReader(path: input, fields: dataOptions.fields)
        let pass = DatasetPass(workers: 1, limit: dataOptions.limit, stopAtInvalid: true, keepsRows: true)
        let progress = ProgressDisplay(total: nil, unit: "examples")
        var rows: [DatasetRow] = []
        var tally = Tally()
        try pass.run(texts: reader, model: model, methods: methods, target: target) { outcome in
          switch outcome.result {
          case .success(let lines):
            rows += lines.compactMap(\.row)
            tally.count(outcome)
          case .failure(let error):
            progress.message("xai: \(error.description)")
          }
          progress.advance()
        }
        progress.finish()
        if let warning = tally.unknownLabelWarning { printError("xai: warning: \(warning)") }
        let title =
          "\(model.name) on \(URL(fileURLWithPath: input).lastPathComponent) (\(tally.examples) examples)"
        try writeReport(DatasetReport(title: title, rows: rows).html, to: output)
      } else if let text {
        let explanations = try methods.map {
          try model.explain(text, method: $0, target: target, audit: audit && $0 is GradientTimesInput)
        }
        try writeReport(SentenceReport(explanations: explanations).html, to: output)
      }
      printError("xai: wrote \(output)")
    }
  }
}
