import ArgumentParser
import Attribution
import Foundation
import Models
import Pipeline
import Render
import Tensor

/// A baseline ranking `xai eval` can add next to the methods.
enum BaselineName: String, ExpressibleByArgument, CaseIterable {
  case random, attention
}

/// `xai eval`: perturbation curves and faithfulness scores of every method on a data set.
struct EvalCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "eval",
    abstract: "Measure how faithful each method's explanations are over a data set (perturbation curves).",
    discussion: """
      Explains every example with each --method for the class it tracks (the label \
      when the example has one, else the prediction), ranks its tokens (graph models: \
      nodes; [CLS] and [SEP] never change) by relevance and perturbs the input in that \
      order, in padded batches without gradients:
        activation   all tokens [UNK], the most relevant restored first      → AUAC ↑
        pruning      the least |R| tokens replaced by [UNK] first            → AUPC ↑, AU-MSE ↓ (logits)
        MoRF / LeRF  embeddings zeroed most / least relevant first (logit)   → ΔA = A(LeRF) − A(MoRF) ↑
        AOPC         the top 10…50 % deleted (comprehensiveness ↑) or alone kept (sufficiency ↓)
      at fractions 0, 0.1, …, 1 (areas by the trapezoid rule). Baselines: random \
      relevance (always; seeded, averaged over --random-orders orders) and the last \
      layer's [CLS] attention (text models). Prints the table (best per column marked \
      *, ~ within one standard error of it); --output writes every mean curve and \
      per-example score as JSON, --html a page with the curves.

      Every method is timed: the table, JSON and page give each one's model \
      evaluations per explanation (forward passes, and backward passes for gradient \
      methods; exact) and its milliseconds per explanation on this machine, and the \
      page draws each score against that time with the faithful-for-its-cost \
      frontier. The perturbation methods (occlusion, feature-ablation, shapley, \
      kernel-shap, lime) take --window, --stride, --samples and --units as in \
      'xai explain'; --seed seeds their draws and the random baseline. A setting that \
      cannot work on some example (exact Shapley values beyond \
      \(PerturbationSettings.exactShapleyLimit) units, a window larger than the input) \
      stops the run before anything is evaluated (exit 64).

      Language models read prompts as JSON Lines ({"prompt": "…", "target": " Paris"}) \
      and track the next token (the target, else the greedy one) at the last \
      position. Their units are the prompt's own tokens (no BOS, no chat-template \
      text), and every protocol removes a token by putting the model's end token \
      (or --replacement) in its place: deleting it would shift every later \
      position and mix that shift into the curve. MoRF and LeRF track log p(y); the \
      attention baseline is the last position's row of the last layer.

      Examples:
        xai eval --input samples/data/rotten_tomatoes_test.jsonl --method lrp --method attnlrp \\
          --method gradxinput --html reports/eval.html
        xai eval --model graphnet-ba --input samples/data/ba_graphs.jsonl --output ba-eval.json
        xai eval --model vit-digits --input samples/data/digits_test.jsonl --html digits-eval.html
        xai eval --model smollm2-135m-instruct --input samples/data/next_token_prompts.jsonl
        xai eval --input samples/data/rotten_tomatoes_test.jsonl --method lrp --method occlusion \\
          --method shapley --method kernel-shap --samples 16 --html cost.html
        xai eval --from curves.json --html page.html          # redraw a saved run
      """)

  @OptionGroup var modelOptions: ModelOptions
  @OptionGroup var methodOptions: MethodOptions
  @OptionGroup var dataOptions: DataOptions

  @OptionGroup(title: "Graph models") var walks: WalkOptions

  @OptionGroup(title: "Language models") var chatOptions: ChatOptions

  @Option(
    name: .long,
    help: ArgumentHelp(
      "Language models: the token that takes a removed prompt token's place (one token's text, or #id; default: the model's end token).",
      valueName: "token"))
  var replacement: String?

  @Option(
    name: .long,
    help: ArgumentHelp(
      "Baselines next to the methods: random (always included) and attention (transformers). Default: both.",
      valueName: "name"))
  var baseline: [BaselineName] = []

  @Option(name: .long, parsing: .unconditional, help: "Random baseline: orders averaged per example.")
  var randomOrders: Int = 5

  @Option(
    name: .long, parsing: .unconditional,
    help: "Random baseline and perturbation methods: the seed (same seed, same orders and draws).")
  var seed: Int = 0

  @OptionGroup(title: "Perturbation methods") var perturbation: PerturbationShapeOptions

  @Option(name: [.short, .long], help: "Write mean curves and per-example scores to this JSON file.")
  var output: String?

  @Option(name: .long, help: "Write an HTML page with the curves and the table.")
  var html: String?

  @Option(
    name: .long, help: "Draw the table and --html page of an earlier --output again, without recomputing.")
  var from: String?

  @Option(
    name: .long, parsing: .unconditional,
    help: "Worker threads (default: --threads, else one per core); each product runs on one BLAS thread.")
  var workers: Int?

  @Flag(name: .long, help: "Report unreadable input lines and go on, instead of stopping.")
  var skipInvalid = false

  @Flag(name: .long, help: "No progress bar.")
  var quiet = false

  /// Examples evaluated together: one explanation batch per method, then their variants.
  static let examplesPerGroup = 32

  func validate() throws {
    if from != nil {
      guard dataOptions.input == nil && output == nil else {
        throw ValidationError("--from redraws a saved evaluation; give it without --input or --output.")
      }
      return
    }
    guard dataOptions.input != nil else { throw ValidationError("Give the data set with --input FILE.") }
    if randomOrders < 1 || randomOrders > 100 {
      throw ValidationError("--random-orders must be between 1 and 100; got \(randomOrders).")
    }
    if seed < 0 { throw ValidationError("--seed must be ≥ 0; got \(seed).") }
    if !methodOptions.method.isEmpty {
      try perturbation.check(
        methods: methodOptions.method.compactMap(\.kind),
        shown: methodOptions.method.map { $0.kind?.rawValue ?? GraphMethodKind.gnnLRP.rawValue }.joined(
          separator: ", "))
    } else if perturbation.isUsed {
      throw ValidationError(
        "--window, --stride, --samples and --units apply to perturbation methods; name them with --method.")
    }
    if let workers, workers < 1 || workers > BatchCommand.maximumWorkers {
      throw ValidationError("--workers must be between 1 and \(BatchCommand.maximumWorkers); got \(workers).")
    }
    let files = [dataOptions.input, output, html].compactMap { $0 }.filter { $0 != "-" }
    let resolved = files.map { URL(fileURLWithPath: $0).standardizedFileURL.resolvingSymlinksInPath().path }
    if Set(resolved).count < resolved.count {
      throw ValidationError("--input, --output and --html must be different files.")
    }
  }

  func run() throws {
    var failures = 0
    if let from {
      try reportingErrors {
        if let html { try checkWritable(html, inputs: [from]) }
        let report = try FaithfulnessReport.read(JSONDocument.read(from).rootNode, source: from)
        print(
          report.table(
            color: ColorMode.detect() != .plain))
        if let html {
          try writeReport(report.html, to: html)
          if !quiet { printError("xai: wrote \(html)") }
        }
      }
      return
    }
    try reportingErrors {
      let input = dataOptions.input!
      for path in [output, html].compactMap({ $0 }) {
        try checkWritable(path, inputs: [input, modelOptions.inputPath])
      }
      guard FileManager.default.fileExists(atPath: input) || input == "-" else {
        throw ModelError.missingFile(path: input)
      }
      let (name, _, loaded) = try modelOptions.load()
      try chatOptions.check(loaded)
      let workerCount =
        workers ?? min(modelOptions.threads ?? BatchCommand.defaultWorkers, BatchCommand.maximumWorkers)
      let started = Date()
      let summary: FaithfulnessSummary
      var replacementToken: String?
      if replacement != nil, loaded.kind != .languageModel {
        throw ValidationError(
          "--replacement chooses how a language model's prompt tokens are removed; \(loaded.architecture) is not a language model.")
      }
      switch loaded {
      case .graph(let network):
        (summary, failures) = try evaluateGraphs(network, input: input, workers: workerCount)
      case .image(let model):
        (summary, failures) = try evaluateImages(model, input: input, workers: workerCount)
      case .text(let model):
        (summary, failures) = try evaluateTexts(model, input: input, workers: workerCount)
      case .language(let model):
        let token = try replacement.map { try model.tokenId($0, what: "--replacement") } ?? model.neutralToken
        (summary, failures) = try evaluateLanguage(model, replacement: token, input: input, workers: workerCount)
        replacementToken = terminalSafe(model.tokenizer?.displayText(of: token) ?? "#\(token)")
      }
      let report = FaithfulnessReport(
        modelName: name, dataName: URL(fileURLWithPath: input).lastPathComponent,
        units: loaded.units,
        summary: summary, failedCount: failures, seconds: Date().timeIntervalSince(started),
        seed: UInt64(seed), replacementToken: replacementToken)
      guard !summary.examples.isEmpty else {
        throw ModelError.badInput("\(input): no example could be evaluated.")
      }
      print(
        report.table(
          color: ColorMode.detect() != .plain))
      if let output {
        try writeReport(report.json.text + "\n", to: output)
        if !quiet { printError("xai: wrote \(output)") }
      }
      if let html {
        try writeReport(report.html, to: html)
        if !quiet { printError("xai: wrote \(html)") }
      }
    }
    if failures > 0 && !skipInvalid { throw ExitCode(ExitStatus.badData) }
  }

  /// The perturbation methods' settings (their draws seeded by --seed).
  var settings: PerturbationSettings { perturbation.settings(seed: UInt64(seed)) }

  /// The methods (default: every transformer method) and baselines of a transformer.
  func transformerRankings() throws -> (methods: [any AttributionMethod], baselines: [Ranking]) {
    let methods = try methodOptions.methods(
      defaults: [.lrp, .attnlrp, .gradxinput, .gradient, .integratedGradients], perturbation: settings)
    let chosen = baseline.isEmpty ? BaselineName.allCases : baseline
    return (methods, [.random(orders: randomOrders)] + (chosen.contains(.attention) ? [.attention] : []))
  }

  func evaluateTexts(_ model: TextModel, input: String, workers: Int) throws -> (FaithfulnessSummary, Int) {
    let (methods, baselines) = try transformerRankings()
    let reader = try DataRecordReader(path: input, fields: dataOptions.fields)
    return try evaluate(
      TextExplainer(model: model),
      TextFaithfulness(model: model, methods: methods, baselines: baselines, seed: UInt64(seed)),
      records: { try reader.next() }, path: reader.path, workers: workers, describe: { ($0.text, $0.label) })
  }

  func evaluateImages(_ model: ImageModel, input: String, workers: Int) throws -> (FaithfulnessSummary, Int) {
    if perturbation.units != .tokens {
      throw ValidationError("--units words applies to texts; an image's units are its patches.")
    }
    let (methods, baselines) = try transformerRankings()
    var fields = dataOptions.fields
    if fields.text == "text" { fields.text = "image" }
    let reader = try ImageRecordReader(path: input, fields: fields)
    return try evaluate(
      ImageExplainer(model: model),
      ImageFaithfulness(model: model, methods: methods, baselines: baselines, seed: UInt64(seed)),
      records: { try reader.next() }, path: reader.path, workers: workers, describe: { ($0.text, $0.label) })
  }

  /// Next-token faithfulness of a language model (methods default to all four it has).
  func evaluateLanguage(_ model: LanguageModel, replacement: Int, input: String, workers: Int) throws -> (
    FaithfulnessSummary, Int
  ) {
    if perturbation.units != .tokens {
      throw ValidationError("--units words groups a text classifier's word pieces; a language model's units are its tokens.")
    }
    let methods = try methodOptions.languageMethods(defaults: PromptExplainer.methods)
    let chosen = baseline.isEmpty ? BaselineName.allCases : baseline
    let baselines: [Ranking] = [.random(orders: randomOrders)] + (chosen.contains(.attention) ? [.attention] : [])
    let reader = try dataOptions.promptReader(input, model: model)
    var contrasts = 0
    let result = try evaluate(
      PromptExplainer(
        model: model, chat: chatOptions.format, integratedGradients: methodOptions.integratedGradients,
        perturbation: settings),
      LanguageFaithfulness(
        model: model, methods: methods, baselines: baselines, seed: UInt64(seed),
        integratedGradients: methodOptions.integratedGradients,
        replacement: replacement, perturbation: settings),
      records: { try reader.next() }, path: reader.path, workers: workers,
      describe: { record in
        if record.contrast != nil { contrasts += 1 }
        return (record, nil)
      })
    if contrasts > 0 {
      printError(
        "xai: note: \(contrasts) prompt(s) name a contrast; eval explains and tracks the target token alone, so it is not used.")
    }
    return result
  }

  func evaluateGraphs(_ network: GraphNetwork, input: String, workers: Int) throws -> (
    FaithfulnessSummary, Int
  ) {
    let asked =
      methodOptions.method.isEmpty ? GraphMethodKind.allCases : methodOptions.method.compactMap(\.graphMethod)
    let perturbations = methodOptions.method.compactMap { name -> MethodKind? in
      guard name.graphMethod == nil, let kind = name.kind, kind.isPerturbation else { return nil }
      return kind
    }
    if let other = methodOptions.method.first(where: { $0.graphMethod == nil && !($0.kind?.isPerturbation ?? false) }) {
      throw ValidationError(
        "A graph model takes --method gnn-lrp, gradxinput and the perturbation methods (occlusion, feature-ablation, shapley, kernel-shap, lime); got \(other.kind.map(\.rawValue) ?? "").")
    }
    if perturbation.units != .tokens {
      throw ValidationError("--units applies to texts; a graph's units are its nodes.")
    }
    if baseline.contains(.attention) {
      throw ValidationError("--baseline attention needs a transformer; graph models take random only.")
    }
    var unique: [MethodKind] = []
    for kind in perturbations where !unique.contains(kind) { unique.append(kind) }
    let evaluation = GraphFaithfulness(
      walks: asked.contains(.gnnLRP) ? walks.relevantWalks() : nil,
      nodeGradientTimesInput: asked.contains(.gradxinput),
      perturbations: unique.map { GraphPerturbation(kind: $0, settings: settings) }, randomOrders: randomOrders,
      seed: UInt64(seed))
    let reader = try GraphRecordReader(path: input)
    return try evaluate(
      GraphExplainer(network: network), NetworkFaithfulness(network: network, evaluation: evaluation),
      records: { try reader.next() }, path: reader.path, workers: workers,
      describe: { ($0.graph, $0.graph.label.map { "\($0)" }) })
  }

  /// The evaluation pass with one BLAS thread per product, a progress bar counting
  /// examples, failures on stderr as they are handed on, and the unknown-label warning.
  func evaluate<E: Explainer, F: FaithfulnessEvaluator, R: Sendable>(
    _ explainer: E, _ evaluator: F, records next: () throws -> RecordRead<R>?, path: String, workers: Int,
    describe: (R) -> (record: E.Record, label: String?)
  ) throws -> (FaithfulnessSummary, Int) where F.Input == E.Input {
    BLAS.threads = DatasetPass.blasThreadsPerProduct
    let progress = ProgressDisplay(
      total: path.lowercased().hasSuffix(".jsonl")
        ? LineReader.countLines(path).map { min($0, dataOptions.limit ?? .max) } : nil, unit: "examples",
      enabled: !quiet && isatty(STDERR_FILENO) != 0)
    let outcome = try FaithfulnessPass(
      workers: workers, limit: dataOptions.limit, stopAtInvalid: !skipInvalid
    ).run(
      explainer, evaluator: evaluator, records: next, path: path, describe: describe,
      report: { progress.message("xai: \($0)") }, progress: { progress.advance(by: $0) })
    progress.finish()
    if outcome.unknownLabels > 0 {
      printError(
        "xai: warning: \(outcome.unknownLabels) label(s) name no class of the model; those examples track the prediction."
      )
    }
    return (outcome.summary, outcome.failed)
  }
}
