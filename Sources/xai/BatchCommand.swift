import ArgumentParser
import Attribution
import Foundation
import Models
import Pipeline
import Render
import Tensor

/// `xai batch`: attribution over a whole data set, written as JSON Lines.
struct BatchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "batch",
    abstract: "Explain every example of a data set (texts, images, graphs or prompts) into a JSON Lines file.",
    discussion: """
      Reads the data set as a stream (JSON Lines or CSV with a header for text models; \
      JSON Lines or SDF for graph models), explains each example with every --method \
      and writes one line per example and method, in input order: the object of \
      'xai explain --format json' (or 'xai graph') with the example's index, id, \
      label and whether the prediction is correct. Examples are grouped by length \
      into padded batches (one forward and one backward pass per batch) and run on \
      --workers threads. Every line is complete on disk before the next is \
      written: after a crash or a kill, --resume repairs a cut-off last line and \
      continues where the file ends. --shard I/N does the I-th of N parts (whole \
      windows of \(DatasetPass.windowSize) examples) for a cluster's array job; \
      'xai merge' puts the parts back into one file identical to a single run.

      Examples:
        xai batch --input samples/data/rotten_tomatoes_test.jsonl --method lrp --method gradxinput \\
          --output out.jsonl --report reports/batch.html
        xai batch --input reviews.csv --text-field review --label-field sentiment --output out.jsonl --resume
        xai batch --input data.jsonl --output part-$SLURM_ARRAY_TASK_ID.jsonl \\
          --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT --quiet
        xai batch --model graphnet-ba --input samples/data/ba_graphs.jsonl --output walks.jsonl
        xai batch --model vit-digits --input samples/data/digits_test.jsonl --output digits.jsonl
        xai batch --model smollm2-135m-instruct --input samples/data/next_token_prompts.jsonl \
          --method lrp --method attnlrp --output next.jsonl

      Language models read JSON Lines of {"prompt": "…", "target": " Paris", \
      "contrast": "…", "id": …} (target and contrast optional: one token's text, or \
      #id; without a target the model's greedy next token is explained) and write, per \
      prompt and method, the object of 'xai explain --format json' for the next token. \
      Each prompt is explained alone; --chat (and --system) put every prompt into the \
      model's chat template.
      """)

  @OptionGroup var modelOptions: ModelOptions
  @OptionGroup var methodOptions: MethodOptions
  @OptionGroup var targetOption: TargetOption
  @OptionGroup var dataOptions: DataOptions

  @OptionGroup(title: "Graph models") var walks: WalkOptions

  @OptionGroup(title: "Language models") var chatOptions: ChatOptions
  @OptionGroup(title: "Perturbation methods") var perturbation: PerturbationOptions

  @OptionGroup(title: "Sentence encoders") var pairOptions: PairOptions

  @Option(name: [.short, .long], help: "The JSON Lines file to write.")
  var output: String

  @Flag(
    name: .long,
    help: "Continue an interrupted run: keep the output, redo a cut-off last line, skip what is done.")
  var resume = false

  @Option(
    name: .long, help: ArgumentHelp("Do the I-th of N parts of the data set (0 ≤ I < N).", valueName: "I/N"))
  var shard: ShardSpec = .all

  @Option(
    name: .long, parsing: .unconditional,
    help:
      "Worker threads (default: --threads, else one per core); every product runs on one BLAS thread, so the output does not depend on the number of workers."
  )
  var workers: Int?

  @Flag(
    name: .long,
    help: "Report unreadable input lines on stderr (and in --errors) and go on, instead of stopping.")
  var skipInvalid = false

  @Option(
    name: .long,
    help: "Also write each failed example as {\"line\": N, \"error\": \"…\"} to this JSON Lines file.")
  var errors: String?

  @Option(name: .long, help: "Write the data-set HTML page from the output when the run ends.")
  var report: String?

  @Flag(name: .long, help: "No progress bar and no summary (errors are still printed).")
  var quiet = false

  /// One worker per core, each with one BLAS thread (`DatasetPass.blasThreadsPerProduct`):
  /// the output must not depend on the layout, and on the 2-core AMD EPYC development
  /// machine this was also faster than one worker with both cores in BLAS (B4 in
  /// `make bench`): the products of a batch are too small to split well and the rest of a
  /// pass is serial.
  static var defaultWorkers: Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }

  /// Most worker threads a data-set run starts.
  static let maximumWorkers = 256

  func validate() throws {
    guard dataOptions.input != nil else { throw ValidationError("Give the data set with --input FILE.") }
    if let workers, workers < 1 || workers > BatchCommand.maximumWorkers {
      throw ValidationError("--workers must be between 1 and \(BatchCommand.maximumWorkers); got \(workers).")
    }
    // A folder given as a file is refused by checkWritable when the run starts.
    for path in [output, errors].compactMap({ $0 }) where !resume {
      if let attributes = try? FileManager.default.attributesOfItem(atPath: path),
        attributes[.type] as? FileAttributeType != .typeDirectory,
        let size = attributes[.size] as? NSNumber, size.intValue > 0
      {
        throw ValidationError("\(path) already holds results; add --resume to continue it, or remove it.")
      }
    }
    try perturbation.check(methods: methodOptions.method.isEmpty ? [.lrp] : methodOptions.method.compactMap(\.kind))
    let files = [dataOptions.input, output, errors, report].compactMap { $0 }.filter { $0 != "-" }
    let resolved = files.map { URL(fileURLWithPath: $0).standardizedFileURL.resolvingSymlinksInPath().path }
    if Set(resolved).count < resolved.count {
      throw ValidationError("--input, --output, --errors and --report must be four different files.")
    }
  }

  func run() throws {
    var failedRows = 0
    try reportingErrors {
      let input = dataOptions.input!
      for path in [output] + [errors, report].compactMap({ $0 }) {
        try checkWritable(path, inputs: [modelOptions.inputPath])
      }
      guard FileManager.default.fileExists(atPath: input) || input == "-" else {
        throw ModelError.missingFile(path: input)
      }
      let (name, _, loaded) = try modelOptions.load()
      try chatOptions.check(loaded)
      let workerCount = workers ?? min(modelOptions.threads ?? Self.defaultWorkers, Self.maximumWorkers)
      // The model and methods first, then the outputs: a resumed file is checked against
      // them before anything in it (or in --errors) is cut.
      let job: Job
      if perturbation.units != .tokens, loaded.kind != .textClassifier {
        throw ValidationError(
          "--units words groups a text classifier's word pieces; \(loaded.architecture) has no words to group.")
      }
      if pairOptions.isUsed && !loaded.isSentenceEncoder {
        throw ValidationError("--rank and --explain apply to sentence encoders; \(loaded.architecture) is not one.")
      }
      switch loaded {
      case .graph(let network):
        if report != nil {
          throw ValidationError("--report draws text data sets; graph outputs have no page yet.")
        }
        if methodOptions.method.count == 1, let kind = methodOptions.method[0].kind, kind.isPerturbation {
          job = .graphPerturbation(network, GraphPerturbation(kind: kind, settings: perturbation.settings))
        } else {
          let asked = methodOptions.method.map(\.graphMethod)
          guard asked.count <= 1, let chosen = asked.first ?? .gnnLRP else {
            throw ValidationError(
              "A graph model takes one --method: gnn-lrp, gradxinput, or a perturbation method (occlusion, feature-ablation, shapley, kernel-shap, lime).")
          }
          job = .graphs(network, chosen)
        }
      case .image(let model):
        if report != nil {
          throw ValidationError("--report draws text data sets; image outputs have no page yet.")
        }
        job = .images(model, try methodOptions.methods(perturbation: perturbation.settings))
      case .text(let model) where !model.network.hasClassifier:
        let explainer = SimilarityExplainer(encoder: try SentenceEncoder(model))
        try explainer.check(rank: pairOptions.rank)
        job = .pairs(
          try PairRecordReader(path: input, idField: dataOptions.fields.id),
          PairExplainer(similarity: explainer, score: pairOptions.explain ?? .cosine, rank: pairOptions.rank),
          try pairOptions.methods(methodOptions.method))
      case .text(let model):
        job = .texts(model, try methodOptions.methods(perturbation: perturbation.settings))
      case .language(let model):
        if report != nil {
          throw ValidationError("--report draws text data sets; language-model outputs have no page yet.")
        }
        if targetOption.target != nil {
          throw ValidationError(
            "A language model's data set gives each prompt's next token in its 'target' field; leave out --target.")
        }
        job = .prompts(
          try dataOptions.promptReader(input, model: model),
          PromptExplainer(
            model: model, chat: chatOptions.format, integratedGradients: methodOptions.integratedGradients,
            perturbation: perturbation.settings),
          try methodOptions.languageMethods())
      }
      BLAS.threads = DatasetPass.blasThreadsPerProduct
      let outputFile = try AppendOnlyLines.inspect(output, keep: resume, kind: .results)
      let errorsFile = try errors.map { try AppendOnlyLines.inspect($0, keep: resume, kind: .errors) }
      let point = outputFile.point
      try point.check(model: job.modelName(graphName: name), methods: job.methodNames)
      try point.check(shard: shard)
      let out = try AppendOnlyLines.open(outputFile)
      let errorLines = try errorsFile.map(AppendOnlyLines.open)
      for file in [out] + [errorLines].compactMap({ $0 }) where file.cutPartialLine {
        printError(
          "xai: \(file.path) ended in a partial line (a killed run); it was cut off and will be redone.")
      }
      // Failures a resumed run already reported (their lines carry the record's index).
      let reportedThrough = try errors.map(BatchLineReader.lastIndex(ofErrors:)) ?? -1
      if resume && point.lines > 0 && !quiet {
        printError("xai: \(output) holds \(point.lines) lines up to example \(point.lastIndex); continuing.")
      }
      let pass = DatasetPass(
        workers: workerCount, shard: shard, limit: dataOptions.limit, resume: point,
        stopAtInvalid: !skipInvalid)
      let progress = ProgressDisplay(
        total: expectedExamples(input, alreadyDone: point), unit: "examples",
        enabled: !quiet && isatty(STDERR_FILENO) != 0)
      var tally = Tally()
      let record: (ExampleOutcome) throws -> Void = { outcome in
        switch outcome.result {
        case .success(let lines):
          for line in lines { try out.append(line.json) }
          if !lines.isEmpty { tally.count(outcome) }
        case .failure(let error):
          guard outcome.index > max(point.lastIndex, reportedThrough) else { break }
          tally.errors += 1
          progress.message("xai: \(error.description)")
          try errorLines?.append(
            JSONOutput.object([
              ("line", .int(outcome.line)), ("index", .int(outcome.index)),
              ("error", .string(error.description)),
            ]).text)
        }
        progress.advance()
      }
      switch job {
      case .graphs(let network, let method):
        try pass.run(
          graphs: GraphRecordReader(path: input), name: name, network: network, method: method,
          walks: walks.relevantWalks(), target: targetOption.classTarget, emit: record)
      case .graphPerturbation(let network, let method):
        try pass.run(
          graphs: GraphRecordReader(path: input), name: name, network: network, perturbation: method,
          target: targetOption.classTarget, emit: record)
      case .images(let model, let methods):
        var fields = dataOptions.fields
        if fields.text == "text" { fields.text = "image" }
        try pass.run(
          images: ImageRecordReader(path: input, fields: fields), model: model, methods: methods,
          target: targetOption.classTarget, emit: record)
      case .texts(let model, let methods):
        try pass.run(
          texts: DataRecordReader(path: input, fields: dataOptions.fields), model: model, methods: methods,
          target: targetOption.classTarget, emit: record)
      case .prompts(let reader, let explainer, let methods):
        try pass.run(prompts: reader, explainer: explainer, methods: methods, emit: record)
      case .pairs(let reader, let explainer, let methods):
        try pass.run(pairs: reader, explainer: explainer, methods: methods, emit: record)
      }
      progress.finish()
      failedRows = tally.errors
      if !quiet { printError("xai: " + tally.summary(seconds: progress.elapsed, output: output)) }
      if let warning = tally.unknownLabelWarning { printError("xai: warning: \(warning)") }
      if let report, case .pairs = job {
        let rows = try SimilarityDatasetRow.read(output)
        let title = "\(name): similarity of the pairs of \(URL(fileURLWithPath: input).lastPathComponent)"
        try writeReport(SimilarityDatasetPage(title: title, rows: rows).html, to: report)
        if !quiet { printError("xai: wrote \(report)") }
      } else if let report {
        let rows = try BatchLineReader.rows(output)
        let title =
          "\(name) on \(URL(fileURLWithPath: input).lastPathComponent) (\(Set(rows.map(\.index)).count) examples)"
        try writeReport(DatasetReport(title: title, rows: rows).html, to: report)
        if !quiet { printError("xai: wrote \(report)") }
      }
    }
    if failedRows > 0 && !skipInvalid { throw ExitCode(ExitStatus.badData) }
  }

  /// Examples this run will see, from a quick line count (nil for standard input).
  func expectedExamples(_ input: String, alreadyDone: ResumePoint) -> Int? {
    guard var lines = LineReader.countLines(input) else { return nil }
    let lowered = input.lowercased()
    if lowered.hasSuffix(".sdf") || lowered.hasSuffix(".sd") { return nil }
    if lowered.hasSuffix(".csv") { lines = max(0, lines - 1) }
    if let limit = dataOptions.limit { lines = min(lines, limit) }
    let size = DatasetPass.windowSize
    func owned(below count: Int) -> Int {
      (0..<((count + size - 1) / size)).filter(shard.owns).reduce(0) { $0 + min(size, count - $1 * size) }
    }
    return max(0, owned(below: lines) - owned(below: min(lines, alreadyDone.lastIndex + 1)))
  }
}

/// Counts of a run for its summary line.
struct Tally {
  var examples = 0
  var errors = 0
  var judged = 0
  var correct = 0
  var unknownLabels = 0
  var firstUnknown: String?

  mutating func count(_ outcome: ExampleOutcome) {
    examples += 1
    if let right = outcome.correct {
      judged += 1
      if right { correct += 1 }
    }
    if let unknown = outcome.unknownLabel {
      unknownLabels += 1
      firstUnknown = firstUnknown ?? unknown
    }
  }

  /// `500 examples, 0 errors skipped, accuracy 0.830 (415 of 500), 12.3 s, 40.6 examples/s → out.jsonl`.
  func summary(seconds: Double, output: String) -> String {
    var parts = [
      "\(examples) example\(examples == 1 ? "" : "s")", "\(errors) error\(errors == 1 ? "" : "s") skipped",
    ]
    if judged > 0 {
      parts.append(
        String(format: "accuracy %.3f (%d of %d labelled)", Double(correct) / Double(judged), correct, judged)
      )
    }
    parts.append(String(format: "%.1f s", seconds))
    parts.append(String(format: "%.1f examples/s", Double(examples) / max(seconds, 1e-9)))
    return parts.joined(separator: ", ") + " → \(output)"
  }

  /// The one warning about labels that name no class, if any.
  var unknownLabelWarning: String? {
    guard unknownLabels > 0, let firstUnknown else { return nil }
    return
      "\(unknownLabels) label(s) name no class of the model (the first: '\(terminalSafe(firstUnknown))'); they are left out of the accuracy."
  }
}

/// What a batch run explains: the model and its methods.
private enum Job {
  case texts(TextModel, [any AttributionMethod])
  case images(ImageModel, [any AttributionMethod])
  case graphs(GraphNetwork, GraphMethodKind)
  case prompts(PromptRecordReader, PromptExplainer, [MethodKind])
  case graphPerturbation(GraphNetwork, GraphPerturbation)
  case pairs(PairRecordReader, PairExplainer, [MethodKind])

  /// The model name its lines carry.
  func modelName(graphName: String) -> String {
    switch self {
    case .texts(let model, _): model.name
    case .images(let model, _): model.name
    case .prompts(_, let explainer, _): explainer.model.name
    case .graphs, .graphPerturbation: graphName
    case .pairs(_, let explainer, _): explainer.similarity.encoder.name
    }
  }

  /// The method names its lines carry.
  var methodNames: [String] {
    switch self {
    case .texts(_, let methods), .images(_, let methods): methods.map(\.name)
    case .graphs(_, let method): [method.rawValue]
    case .prompts(_, _, let methods): methods.map(\.rawValue)
    case .graphPerturbation(_, let method): [method.kind.rawValue]
    case .pairs(_, _, let methods): methods.map(\.rawValue)
    }
  }
}

/// `--rank`, `--explain`: BiLRP settings of a data set of pairs (sentence encoders).
struct PairOptions: ParsableArguments {
  @Option(
    name: .long, parsing: .unconditional,
    help: "Sentence encoders: explain in the K principal directions of each pair (see 'xai similarity').")
  var rank: Int?

  @Option(name: .long, help: "Sentence encoders: what the matrix explains, cosine (default) or dot.")
  var explain: SimilarityScore?

  func validate() throws {
    if let rank, rank < 1 { throw ValidationError("--rank must be at least 1; got \(rank).") }
  }

  /// Whether an option of this group was given.
  var isUsed: Bool { rank != nil || explain != nil }

  /// The methods asked for (default lrp), each of which must have a BiLRP form.
  func methods(_ names: [MethodName]) throws -> [MethodKind] {
    let kinds = names.isEmpty ? [MethodKind.lrp] : names.compactMap(\.kind)
    if kinds.count < names.count || kinds.contains(where: { !SimilarityExplainer.methods.contains($0) }) {
      throw ValidationError("A sentence encoder's pairs take --method lrp, attnlrp or gradxinput (BiLRP).")
    }
    return kinds
  }
}
