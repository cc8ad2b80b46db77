import Attribution
import Foundation
import Models

/// The one evaluation pass of `xai eval` for every kind of model: records are read (an
/// unreadable one stops the pass, or is reported and counted), prepared by the model's
/// explainer (an input without units fails alone) and checked against the perturbation
/// methods' settings (one that cannot work there stops the pass), grouped by size,
/// evaluated on the worker pool (an `InputFailure` in a group is retried input by input)
/// and summarised.
public struct FaithfulnessPass: Sendable {
  /// Worker threads.
  public let workers: Int
  /// Most records to read (nil: all).
  public let limit: Int?
  /// Stop at the first record that cannot be read (else report and count it).
  public let stopAtInvalid: Bool

  /// A pass on `workers` threads.
  public init(workers: Int, limit: Int? = nil, stopAtInvalid: Bool) {
    self.workers = workers
    self.limit = limit
    self.stopAtInvalid = stopAtInvalid
  }

  /// What a pass found.
  public struct Outcome: Sendable {
    /// Curves and scores of every example that could be evaluated.
    public let summary: FaithfulnessSummary
    /// Records that could not be read, prepared or evaluated.
    public let failed: Int
    /// Labels that name no class of the model (those examples track the prediction).
    public let unknownLabels: Int
  }

  /// Evaluates every record `next` gives with `evaluator`; `describe` says what a record
  /// holds for the explainer and its label; `report` hears one sentence per failure and
  /// `progress` the examples done.
  public func run<E: Explainer, F: FaithfulnessEvaluator, R: Sendable>(
    _ explainer: E, evaluator: F, records next: () throws -> RecordRead<R>?, path: String,
    describe: (R) -> (record: E.Record, label: String?), report: (String) -> Void,
    progress: (Int) -> Void
  ) throws -> Outcome where F.Input == E.Input {
    var failed = 0
    var unknownLabels = 0
    var examples: [(index: Int, line: Int, input: E.Input, label: Int?, units: Int)] = []
    var read = 0
    while limit.map({ read < $0 }) ?? true, let record = try next() {
      read += 1
      let item: R
      switch record.result {
      case .success(let value): item = value
      case .failure(let error):
        if stopAtInvalid { throw error }
        report(error.description)
        failed += 1
        continue
      }
      let (raw, given) = describe(item)
      do {
        let input = try explainer.prepare(raw)
        let units = explainer.units(of: input).count
        guard units > 0 else {
          throw ModelError.badInput("it has no \(explainer.units.rawValue) besides special ones.")
        }
        let label = given.flatMap(explainer.classIndex(ofLabel:))
        if given != nil && label == nil { unknownLabels += 1 }
        examples.append((record.index, record.line, input, label, units))
      } catch let error as ModelError {
        report("\(path) line \(record.line): \(error.description)")
        failed += 1
        continue
      }
      // A perturbation setting that cannot work on this example (more units than exact
      // Shapley values take, a window larger than the input) stops the run before any
      // example is evaluated: every method must score the same examples.
      do {
        try evaluator.check(examples[examples.count - 1].input)
      } catch let error as PerturbationLimitError {
        throw PerturbationLimitError("\(path) line \(record.line): \(error.message)")
      }
    }
    // Groups of similar size, so that their batches carry little padding.
    let order = examples.indices.sorted { (examples[$0].units, $0) < (examples[$1].units, $1) }
    let size = max(1, evaluator.examplesPerGroup)
    let groups = stride(from: 0, to: order.count, by: size).map {
      Array(order[$0..<min($0 + size, order.count)])
    }
    let results = GroupResults(count: groups.count)
    try WorkerPool(workers: workers).run(
      Array(groups.indices), count: groups.count,
      perform: { position in
        let group = groups[position]
        func evaluate(_ members: [Int]) throws -> [ExampleFaithfulness] {
          try evaluator.evaluate(
            members.map { examples[$0].input }, indices: members.map { examples[$0].index },
            labels: members.map { examples[$0].label })
        }
        func failure(_ member: Int, _ error: InputFailure) -> String {
          "\(path) line \(examples[member].line): \(error)"
        }
        do {
          results.set(position, try evaluate(group), failures: [])
        } catch let error as InputFailure where group.count == 1 {
          results.set(position, [], failures: [failure(group[0], error)])
        } catch is InputFailure {
          var done: [ExampleFaithfulness] = []
          var failures: [String] = []
          for member in group {
            do { done += try evaluate([member]) } catch let error as InputFailure {
              failures.append(failure(member, error))
            }
          }
          results.set(position, done, failures: failures)
        }
      },
      isReady: { results.isDone($0) },
      emit: { position in
        let failures = results.failures(position)
        failures.forEach(report)
        failed += failures.count
        progress(groups[position].count)
      })
    return Outcome(
      summary: FaithfulnessSummary(rankings: evaluator.rankings, examples: results.all), failed: failed,
      unknownLabels: unknownLabels)
  }
}

/// Results of the evaluated groups, written by the workers.
private final class GroupResults: @unchecked Sendable {
  private var groups: [(examples: [ExampleFaithfulness], failures: [String])?]
  private let lock = NSLock()

  init(count: Int) { groups = Array(repeating: nil, count: count) }

  func set(_ position: Int, _ examples: [ExampleFaithfulness], failures: [String]) {
    lock.lock()
    groups[position] = (examples, failures)
    lock.unlock()
  }

  func isDone(_ position: Int) -> Bool {
    lock.lock()
    defer { lock.unlock() }
    return groups[position] != nil
  }

  func failures(_ position: Int) -> [String] {
    lock.lock()
    defer { lock.unlock() }
    return groups[position]?.failures ?? []
  }

  var all: [ExampleFaithfulness] {
    lock.lock()
    defer { lock.unlock() }
    return groups.flatMap { $0?.examples ?? [] }
  }
}
