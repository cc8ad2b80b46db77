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

      Examples:
        xai eval --input samples/data/rotten_tomatoes_test.jsonl --method lrp --method attnlrp \\
          --method gradxinput --html reports/eval.html
        xai eval --model graphnet-ba --input samples/data/ba_graphs.jsonl --output ba-eval.json
        xai eval --model vit-digits --input samples/data/digits_test.jsonl --html digits-eval.html
        xai eval --from curves.json --html page.html          # redraw a saved run
      """)

  @OptionGroup var modelOptions: ModelOptions
  @OptionGroup var methodOptions: MethodOptions
  @OptionGroup var dataOptions: DataOptions

  @OptionGroup(title: "Graph models") var walks: WalkOptions

  @Option(
    name: .long,
    help: ArgumentHelp(
      "Baselines next to the methods: random (always included) and attention (text models). Default: both.",
      valueName: "name"))
  var baseline: [BaselineName] = []

  @Option(name: .long, parsing: .unconditional, help: "Random baseline: orders averaged per example.")
  var randomOrders: Int = 5

  @Option(name: .long, parsing: .unconditional, help: "Random baseline: the seed (same seed, same orders).")
  var seed: Int = 0

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
      let workerCount =
        workers ?? min(modelOptions.threads ?? BatchCommand.defaultWorkers, BatchCommand.maximumWorkers)
      let started = Date()
      let summary: FaithfulnessSummary
      switch loaded {
      case .graph(let network):
        (summary, failures) = try evaluateGraphs(network, input: input, workers: workerCount)
      case .image(let model):
        (summary, failures) = try evaluateImages(model, input: input, workers: workerCount)
      case .text(let model):
        (summary, failures) = try evaluateTexts(model, input: input, workers: workerCount)
      }
      let report = FaithfulnessReport(
        modelName: name, dataName: URL(fileURLWithPath: input).lastPathComponent,
        units: loaded.units,
        summary: summary, failedCount: failures, seconds: Date().timeIntervalSince(started),
        seed: UInt64(seed))
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

  /// Reads the records of a data set (stopping at an unreadable one unless
  /// --skip-invalid), reporting the unreadable ones.
  func records<Record>(_ next: () throws -> RecordRead<Record>?) throws -> (records: [Record], failed: Int) {
    var records: [Record] = []
    var failed = 0
    while dataOptions.limit.map({ records.count + failed < $0 }) ?? true, let read = try next() {
      switch read.result {
      case .success(let record): records.append(record)
      case .failure(let error):
        if !skipInvalid { throw error }
        printError("xai: \(error.description)")
        failed += 1
      }
    }
    return (records, failed)
  }

  /// The methods (default: every transformer method) and baselines of a transformer.
  func transformerRankings() throws -> (methods: [any AttributionMethod], baselines: [Ranking]) {
    let methods = try methodOptions.methods(
      defaults: [.lrp, .attnlrp, .gradxinput, .gradient, .integratedGradients])
    let chosen = baseline.isEmpty ? BaselineName.allCases : baseline
    return (methods, [.random(orders: randomOrders)] + (chosen.contains(.attention) ? [.attention] : []))
  }

  func evaluateTexts(_ model: TextModel, input: String, workers: Int) throws -> (FaithfulnessSummary, Int) {
    BLAS.threads = DatasetPass.blasThreadsPerProduct
    let (methods, baselines) = try transformerRankings()
    let evaluator = TextFaithfulness(model: model, methods: methods, baselines: baselines, seed: UInt64(seed))
    let reader = try DataRecordReader(path: input, fields: dataOptions.fields)
    var (records, failed) = try records { try reader.next() }
    let labels = model.config.labels
    var collected: [(record: DataRecord, encoded: EncodedText, label: Int?)] = []
    var unknownLabels = 0
    for record in records {
      do {
        let encoded = try model.prepare(record.text)
        guard !evaluator.units(of: encoded).isEmpty else {
          throw ModelError.badInput("the text has no tokens besides [CLS] and [SEP].")
        }
        let label = record.label.flatMap { classIndex(ofLabel: $0, labels: labels) }
        if record.label != nil && label == nil { unknownLabels += 1 }
        collected.append((record, encoded, label))
      } catch let error as ModelError {
        printError("xai: \(reader.path) line \(record.line): \(error.description)")
        failed += 1
      }
    }
    let examples = collected
    records = []
    if unknownLabels > 0 {
      printError(
        "xai: warning: \(unknownLabels) label(s) name no class of the model; those examples track the prediction."
      )
    }
    // Groups of similar length, so that batches carry little padding.
    let order = examples.indices.sorted {
      (examples[$0].encoded.ids.count, $0) < (examples[$1].encoded.ids.count, $1)
    }
    let groups = stride(from: 0, to: order.count, by: Self.examplesPerGroup).map {
      Array(order[$0..<min($0 + Self.examplesPerGroup, order.count)])
    }
    let results = try runGroups(groups, examples: examples.count, workers: workers) { group in
      try evaluator.evaluate(
        group.map { examples[$0].encoded }, indices: group.map { examples[$0].record.index },
        labels: group.map { examples[$0].label })
    }
    return (FaithfulnessSummary(rankings: evaluator.rankings, examples: results), failed)
  }

  func evaluateImages(_ model: ImageModel, input: String, workers: Int) throws -> (FaithfulnessSummary, Int) {
    BLAS.threads = DatasetPass.blasThreadsPerProduct
    let (methods, baselines) = try transformerRankings()
    let evaluator = ImageFaithfulness(
      model: model, methods: methods, baselines: baselines, seed: UInt64(seed))
    var fields = dataOptions.fields
    if fields.text == "text" { fields.text = "image" }
    let reader = try ImageRecordReader(path: input, fields: fields)
    var (records, failed) = try records { try reader.next() }
    var collected: [(record: DataRecord, image: PreparedImage, label: Int?)] = []
    var unknownLabels = 0
    for record in records {
      do {
        let label = record.label.flatMap { classIndex(ofLabel: $0, labels: model.labels) }
        if record.label != nil && label == nil { unknownLabels += 1 }
        collected.append((record, try model.prepare(file: record.text), label))
      } catch let error as ModelError {
        printError("xai: \(reader.path) line \(record.line): \(error.description)")
        failed += 1
      }
    }
    records = []
    if unknownLabels > 0 {
      printError(
        "xai: warning: \(unknownLabels) label(s) name no class of the model; those examples track the prediction."
      )
    }
    let examples = collected
    let groups = stride(from: 0, to: examples.count, by: Self.examplesPerGroup).map {
      Array($0..<min($0 + Self.examplesPerGroup, examples.count))
    }
    let results = try runGroups(groups, examples: examples.count, workers: workers) { group in
      try evaluator.evaluate(
        group.map { examples[$0].image }, indices: group.map { examples[$0].record.index },
        labels: group.map { examples[$0].label })
    }
    return (FaithfulnessSummary(rankings: evaluator.rankings, examples: results), failed)
  }

  func evaluateGraphs(_ network: GraphNetwork, input: String, workers: Int) throws -> (
    FaithfulnessSummary, Int
  ) {
    BLAS.threads = DatasetPass.blasThreadsPerProduct
    let asked =
      methodOptions.method.isEmpty ? GraphMethodKind.allCases : methodOptions.method.compactMap(\.graphMethod)
    let useWalks = asked.contains(.gnnLRP)
    let useGradient = asked.contains(.gradxinput)
    if let other = methodOptions.method.first(where: { $0.graphMethod == nil }) {
      throw ValidationError(
        "A graph model takes --method gnn-lrp and/or gradxinput; got \(other.kind?.rawValue ?? "gnn-lrp").")
    }
    if baseline.contains(.attention) {
      throw ValidationError("--baseline attention needs a transformer; graph models take random only.")
    }
    let evaluator = GraphFaithfulness(
      walks: useWalks ? walks.relevantWalks() : nil, nodeGradientTimesInput: useGradient,
      randomOrders: randomOrders, seed: UInt64(seed))
    let reader = try GraphRecordReader(path: input)
    var (records, failed) = try records { try reader.next() }
    var collected: [(record: GraphRecord, input: GraphInput)] = []
    for record in records {
      do {
        collected.append((record, try network.prepare(record.graph)))
      } catch let error as ModelError {
        printError("xai: \(reader.path) line \(record.line): \(error.description)")
        failed += 1
      }
    }
    records = []
    let prepared = collected
    let source = reader.path
    let labels = network.labels
    let failures = FailureCount()
    let groups = prepared.indices.map { [$0] }
    let results = try runGroups(groups, examples: prepared.count, workers: workers) { group in
      let item = prepared[group[0]]
      do {
        return [
          try evaluator.evaluate(
            network: network, input: item.input, index: item.record.index,
            label: item.record.graph.label.flatMap { labels.indices.contains($0) ? $0 : nil })
        ]
      } catch let error as WalkLimitError {
        failures.report("xai: \(source) line \(item.record.line): \(error.description)")
        return []
      } catch let error as ModelError {
        failures.report("xai: \(source) line \(item.record.line): \(error.description)")
        return []
      }
    }
    return (FaithfulnessSummary(rankings: evaluator.rankings, examples: results), failed + failures.count)
  }

  /// Evaluates `groups` on `workers` threads with a progress bar counting examples.
  func runGroups(
    _ groups: [[Int]], examples: Int, workers: Int,
    body: @escaping @Sendable ([Int]) throws -> [ExampleFaithfulness]
  ) throws -> [ExampleFaithfulness] {
    let progress = ProgressDisplay(
      total: examples, unit: "examples", enabled: !quiet && isatty(STDERR_FILENO) != 0)
    let state = GroupResults(groups: groups)
    DispatchQueue.concurrentPerform(iterations: max(1, min(workers, groups.count))) { _ in
      while let group = state.take() {
        do {
          let results = try body(group)
          state.add(results)
          progress.advance(by: group.count)
        } catch {
          state.fail(error)
        }
      }
    }
    progress.finish()
    if let failure = state.failure { throw failure }
    return state.results
  }
}

/// Groups still to evaluate, results so far and the first failure, behind one lock.
private final class GroupResults: @unchecked Sendable {
  private let groups: [[Int]]
  private let lock = NSLock()
  private var next = 0
  private(set) var results: [ExampleFaithfulness] = []
  private(set) var failure: Error?

  init(groups: [[Int]]) { self.groups = groups }

  func take() -> [Int]? {
    lock.lock()
    defer { lock.unlock() }
    guard failure == nil, next < groups.count else { return nil }
    next += 1
    return groups[next - 1]
  }

  func add(_ items: [ExampleFaithfulness]) {
    lock.lock()
    results += items
    lock.unlock()
  }

  func fail(_ error: Error) {
    lock.lock()
    failure = failure ?? error
    lock.unlock()
  }
}

/// Examples that failed on a worker, reported on stderr as they happen.
private final class FailureCount: @unchecked Sendable {
  private let lock = NSLock()
  private(set) var count = 0

  func report(_ message: String) {
    lock.lock()
    count += 1
    printError(message)
    lock.unlock()
  }
}
