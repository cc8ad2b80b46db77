import Attribution
import Foundation
import Models
import Render

/// The I-th of N parts of a data set (whole windows of examples, so that every example is
/// computed in the same batch as in an unsharded run).
public struct ShardSpec: Equatable, Sendable {
  /// Which part, 0-based.
  public let index: Int
  /// How many parts.
  public let count: Int

  /// The whole data set.
  public static let all = ShardSpec(index: 0, count: 1)

  /// Part `index` of `count`.
  public init(index: Int, count: Int) {
    self.index = index
    self.count = count
  }

  /// Parses `I/N` (0 ≤ I < N ≤ 1,000,000), or nil.
  public init?(_ text: String) {
    let parts = text.split(separator: "/", omittingEmptySubsequences: false)
    guard parts.count == 2, let index = Int(parts[0]), let count = Int(parts[1]), count >= 1,
      count <= 1_000_000,
      (0..<count).contains(index)
    else { return nil }
    self.init(index: index, count: count)
  }

  /// Whether window `window` belongs to this shard.
  public func owns(window: Int) -> Bool { window % count == index }
}

/// One computed line of an example: its method, the JSON text, and (for text models when
/// the pass keeps rows) the data-set page's row built from the same explanation.
public struct ExampleLine: Sendable {
  /// The method's name.
  public let method: String
  /// The line, without its line break.
  public let json: String
  /// The page's row of a text explanation, when the pass keeps rows.
  public let row: DatasetRow?
}

/// One example's outcome, handed to the writer in input order.
public struct ExampleOutcome: Sendable {
  /// Input position.
  public let index: Int
  /// Line where the example starts.
  public let line: Int
  /// One line per method not yet in the output, or the failure.
  public let result: Result<[ExampleLine], ModelError>
  /// Whether the prediction matches the label (nil: no usable label).
  public let correct: Bool?
  /// A label that names no class of the model.
  public let unknownLabel: String?

  /// The outcome of a record that could not be read or explained.
  static func failure<Record>(_ read: RecordRead<Record>, _ error: ModelError) -> ExampleOutcome {
    ExampleOutcome(
      index: read.index, line: read.line, result: .failure(error), correct: nil, unknownLabel: nil)
  }
}

/// The batched, multi-threaded pass over a data set shared by `xai batch` and `xai report
/// --input`. Records are read as a stream in windows of `windowSize`; a window's
/// examples are sorted by length into padded batches (a fixed plan, so that a resumed
/// run and every shard compute each example in the same batch as an uninterrupted run
/// and print the same numbers); batches run on `workers` threads; outcomes are handed
/// on in input order as soon as they and all before them are done.
public struct DatasetPass: Sendable {
  /// Examples per window (the unit of sharding and of length sorting).
  public static let windowSize = 128

  /// BLAS threads of every product in a data-set run (`batch`, `eval`): one, whatever
  /// --workers and --threads say. A product's summation order depends on how its library
  /// splits the work over threads (seen with OpenBLAS's Haswell kernels: one worker with
  /// two BLAS threads and two workers with one each wrote files 23 bytes apart), so only a
  /// fixed thread count per product makes the output independent of the worker layout,
  /// which resume and shard merging rely on.
  public static let blasThreadsPerProduct = 1

  /// Worker threads.
  public let workers: Int
  /// Which windows to compute.
  public let shard: ShardSpec
  /// Most records to read (nil: all).
  public let limit: Int?
  /// What an output being resumed already holds.
  public let resume: ResumePoint
  /// Stop at the first record that cannot be read (else hand it on as a failure).
  public let stopAtInvalid: Bool
  /// Build the data-set page's row of every text line too (`report --input`).
  public let keepsRows: Bool

  /// A pass over windows of `shard`, resuming after `resume`.
  public init(
    workers: Int, shard: ShardSpec = .all, limit: Int? = nil, resume: ResumePoint = .start,
    stopAtInvalid: Bool, keepsRows: Bool = false
  ) {
    self.workers = workers
    self.shard = shard
    self.limit = limit
    self.resume = resume
    self.stopAtInvalid = stopAtInvalid
    self.keepsRows = keepsRows
  }

  /// Explains every text record of `reader` with each of `methods`.
  public func run(
    texts reader: DataRecordReader, model: TextModel, methods: [any AttributionMethod], target: ClassTarget,
    emit: (ExampleOutcome) throws -> Void
  ) throws {
    try run(
      TextExplainer(model: model), records: { try reader.next() }, path: reader.path, methods: methods,
      target: target, describe: { ($0.text, $0.id, $0.label) },
      line: { explanation, _, example in
        (
          DatasetLine.json(
            index: example.index, id: example.id, label: example.label, explanation: explanation),
          keepsRows
            ? DatasetRow(index: example.index, id: example.id, label: example.label, explanation: explanation)
            : nil
        )
      }, emit: emit)
  }

  /// Explains every image that `reader` names with each of `methods`.
  public func run(
    images reader: ImageRecordReader, model: ImageModel, methods: [any AttributionMethod],
    target: ClassTarget, emit: (ExampleOutcome) throws -> Void
  ) throws {
    let views = ImageViews()
    try run(
      ImageExplainer(model: model), records: { try reader.next() }, path: reader.path, methods: methods,
      target: target, describe: { ($0.text, $0.id, $0.label) },
      line: { explanation, _, example in
        (
          DatasetLine.json(
            index: example.index, id: example.id, label: example.label, object: views.json(explanation),
            labels: model.labels, outputs: explanation.logits), nil
        )
      }, emit: emit)
  }

  /// Explains every graph of `reader` with walks (or node Gradient×Input); a graph's id is
  /// its index.
  public func run(
    graphs reader: GraphRecordReader, name: String, network: GraphNetwork, method: GraphMethodKind,
    walks: RelevantWalks, target: ClassTarget, emit: (ExampleOutcome) throws -> Void
  ) throws {
    let labels = network.labels
    try run(
      GraphExplainer(network: network, walks: walks), records: { try reader.next() }, path: reader.path,
      methods: [method], target: target,
      describe: { ($0.graph, "\($0.index)", $0.graph.label.map { "\($0)" }) },
      line: { explanation, graph, example in
        let object =
          switch explanation {
          case .walks(let walks):
            GraphReport(modelName: name, graph: graph, labels: labels, explanation: walks).json
          case .nodes(let nodes):
            NodeRelevanceView(modelName: name, graph: graph, labels: labels, explanation: nodes).json
          }
        return (
          DatasetLine.json(
            index: example.index, id: example.id, label: example.label, object: object, labels: labels,
            outputs: explanation.outputs), nil
        )
      }, emit: emit)
  }

  /// Explains the next token of every prompt of `reader` with each of `methods`, through
  /// `explainer` (the language model, its chat format and Integrated Gradients' path); a
  /// line is `xai explain --format json`'s object with the index and id in front.
  public func run(
    prompts reader: PromptRecordReader, explainer: PromptExplainer, methods: [MethodKind],
    emit: (ExampleOutcome) throws -> Void
  ) throws {
    let views = LanguageViews(mode: .plain, width: 80)
    try run(
      explainer, records: { try reader.next() }, path: reader.path, methods: methods, target: .predicted,
      describe: { ($0, $0.id, nil) },
      line: { explanation, _, example in
        (DatasetLine.json(index: example.index, id: example.id, object: views.json(explanation)), nil)
      }, emit: emit)
  }

  /// Explains the similarity of every pair of `reader` with each of `methods` (BiLRP); a
  /// line is `xai similarity --format json`'s object with the index and id in front.
  public func run(
    pairs reader: PairRecordReader, explainer: PairExplainer, methods: [MethodKind], pairsShown: Int = 8,
    emit: (ExampleOutcome) throws -> Void
  ) throws {
    let views = SimilarityViews(mode: .plain, width: 80, pairs: pairsShown)
    try run(
      explainer, records: { try reader.next() }, path: reader.path, methods: methods, target: .predicted,
      describe: { ($0, $0.id, nil) },
      line: { explanation, _, example in
        (DatasetLine.json(index: example.index, id: example.id, object: views.json(explanation)), nil)
      }, emit: emit)
  }

  /// Explains every graph of `reader` with a perturbation method over its nodes; a graph's
  /// id is its index.
  public func run(
    graphs reader: GraphRecordReader, name: String, network: GraphNetwork, perturbation: GraphPerturbation,
    target: ClassTarget, emit: (ExampleOutcome) throws -> Void
  ) throws {
    let labels = network.labels
    try run(
      GraphPerturbationExplainer(network: network), records: { try reader.next() }, path: reader.path,
      methods: [perturbation], target: target,
      describe: { ($0.graph, "\($0.index)", $0.graph.label.map { "\($0)" }) },
      line: { nodes, graph, example in
        (
          DatasetLine.json(
            index: example.index, id: example.id, label: example.label,
            object: NodeRelevanceView(modelName: name, graph: graph, labels: labels, explanation: nodes).json,
            labels: labels, outputs: nodes.outputs), nil
        )
      }, emit: emit)
  }

  /// Where an example stands in the data set, for its line.
  public struct ExampleContext: Sendable {
    /// Input position.
    public let index: Int
    /// The id field (or the index).
    public let id: String
    /// The given label and the class it names.
    public let label: GivenLabel?
  }

  /// The one pass for every kind of model: each window's records are prepared by the
  /// explainer (a record that cannot be fails alone), the usable ones cut into the
  /// explainer's batches per method, explained on the workers (an `InputFailure` in a
  /// batch is retried input by input, so that only that input fails) and handed on in
  /// input order as lines `line` draws.
  public func run<E: Explainer, R: Sendable>(
    _ explainer: E, records next: () throws -> RecordRead<R>?, path: String, methods: [E.Method],
    target: ClassTarget, describe: (R) -> (record: E.Record, id: String, label: String?),
    line: (E.Explanation, E.Record, ExampleContext) -> (json: JSONOutput, row: DatasetRow?),
    emit: (ExampleOutcome) throws -> Void
  ) throws {
    try windows(next: next) { window in
      let described = window.map { read in (try? read.result.get()).map(describe) }
      for (read, item) in zip(window, described) {
        if let item { try resume.check(index: read.index, id: item.id) }
      }
      let prepared: [Result<E.Input, ModelError>] = zip(window, described).map { read, item in
        read.result.flatMap { _ in
          do { return .success(try explainer.prepare(item!.record)) } catch {
            return .failure(.badInput("\(path) line \(read.line): \(error)"))
          }
        }
      }
      let usable = window.indices.filter { (try? prepared[$0].get()) != nil }
      let inputs = usable.map { try! prepared[$0].get() }
      let names = methods.map(explainer.name(of:))
      var items: [(method: Int, positions: [Int])] = []
      for (m, method) in methods.enumerated() {
        for batch in explainer.batches(inputs, method: method) {
          let positions = batch.map { usable[$0] }
          if positions.contains(where: { !resume.isDone(index: window[$0].index, method: names[m]) }) {
            items.append((m, positions))
          }
        }
      }
      items.sort { ($0.positions.min()!, $0.method) < ($1.positions.min()!, $1.method) }
      let table = ResultTable(rows: window.count, columns: methods.count)
      func label(_ position: Int) -> GivenLabel? {
        described[position]?.label.map {
          GivenLabel(given: $0, classIndex: explainer.classIndex(ofLabel: $0))
        }
      }
      try runItems(
        items, count: window.count,
        perform: { item in
          func run(_ positions: [Int]) throws {
            let explanations = try explainer.explain(
              positions.map { try! prepared[$0].get() }, method: methods[item.method],
              targets: Array(repeating: target, count: positions.count))
            for (position, explanation) in zip(positions, explanations) {
              let given = label(position)
              let context = ExampleContext(
                index: window[position].index, id: described[position]!.id, label: given)
              let (json, row) = line(explanation, described[position]!.record, context)
              let predicted = predictedClass(explainer.outputs(of: explanation))
              table.set(position, item.method, (json.text, given?.classIndex.map { $0 == predicted }, row))
            }
          }
          func fail(_ position: Int, _ error: InputFailure) {
            table.fail(
              position, .badInput("\(path) line \(window[position].line) (\(names[item.method])): \(error)"),
              column: item.method)
          }
          do {
            try run(item.positions)
          } catch let error as InputFailure where item.positions.count == 1 {
            fail(item.positions[0], error)
          } catch is InputFailure {
            for position in item.positions {
              do { try run([position]) } catch let error as InputFailure { fail(position, error) }
            }
          }
        },
        isReady: { position in
          guard (try? prepared[position].get()) != nil, table.failure(position) == nil else { return true }
          return methods.indices.allSatisfy {
            table.get(position, $0) != nil || resume.isDone(index: window[position].index, method: names[$0])
          }
        },
        emit: { position in
          let read = window[position]
          // `prepared` carries the reading failure too.
          if case .failure(let error) = prepared[position] {
            if stopAtInvalid, case .failure = read.result { throw error }
            try emit(.failure(read, error))
            return
          }
          if let error = table.failure(position) {
            try emit(.failure(read, error))
            return
          }
          var lines: [ExampleLine] = []
          var correct: Bool?
          for m in methods.indices {
            // A batch is recomputed whole when a resumed run needs part of it; lines the
            // output already holds are not written again.
            guard let cell = table.get(position, m), !resume.isDone(index: read.index, method: names[m])
            else { continue }
            lines.append(ExampleLine(method: names[m], json: cell.line, row: cell.row))
            correct = correct ?? cell.correct
          }
          let given = label(position)
          try emit(
            ExampleOutcome(
              index: read.index, line: read.line, result: .success(lines), correct: correct,
              unknownLabel: given?.classIndex == nil ? given?.given : nil))
        })
    }
  }

  /// Reads records window by window, skipping windows of other shards and windows that a
  /// resumed output already holds, and hands each remaining window to `body`.
  func windows<Record>(
    next: () throws -> RecordRead<Record>?, body: ([RecordRead<Record>]) throws -> Void
  ) throws {
    var window: [RecordRead<Record>] = []
    var number = 0
    var read = 0
    func flush() throws {
      defer {
        window = []
        number += 1
      }
      guard shard.owns(window: number), let last = window.last, last.index >= resume.lastIndex else { return }
      try body(window)
    }
    while limit.map({ read < $0 }) ?? true, let record = try next() {
      window.append(record)
      read += 1
      if window.count == Self.windowSize { try flush() }
    }
    try flush()
    if resume.lastIndex >= read {
      throw ResumeRefusal(
        "\(resume.file) holds example \(resume.lastIndex) but the input has \(read) record(s)"
          + (limit != nil ? " within the limit" : "") + ".")
    }
  }

  /// Runs `items` on the worker threads and hands positions 0..<count on, in order, as
  /// soon as each and all before it are ready.
  func runItems<Item>(
    _ items: [Item], count: Int, perform: (Item) throws -> Void, isReady: (Int) -> Bool,
    emit: (Int) throws -> Void
  ) throws {
    try WorkerPool(workers: workers).run(items, count: count, perform: perform, isReady: isReady, emit: emit)
  }

}
