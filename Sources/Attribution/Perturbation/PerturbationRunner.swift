import Models

/// The model side of a perturbation run: how long a perturbed input is (its padded-batch
/// cost) and the logits of a batch of them, computed without gradients.
public protocol PerturbationBackend {
  /// One perturbed input (which input, and what is removed from it).
  associatedtype Variant: Hashable
  /// Rows (tokens, patches, nodes) the variant occupies in a batch.
  func length(of variant: Variant) -> Int
  /// The logits of each variant of one batch, in order.
  func logits(of batch: [Variant]) throws -> [[Float]]
}

/// Evaluates perturbed inputs for every perturbation method (and for the faithfulness
/// protocols): each distinct variant once, in batches sorted by length and cut at
/// `maximumRows` variants or `maximumTokens` padded rows. The batches depend only on the
/// variants asked for, never on the threads.
public struct PerturbationRunner: Sendable {
  /// Most variants in one batch.
  public let maximumRows: Int
  /// Most padded rows (variants × longest) in one batch.
  public let maximumTokens: Int

  /// A runner with these batch limits.
  public init(maximumRows: Int = 256, maximumTokens: Int = 4096) {
    self.maximumRows = maximumRows
    self.maximumTokens = maximumTokens
  }

  /// The logits of every request (requests asking for the same variant share one
  /// evaluation) and how many distinct variants were evaluated. Outputs that are not
  /// finite numbers are a `ModelError`.
  public func logits<Backend: PerturbationBackend>(
    of requests: [Backend.Variant], backend: Backend
  ) throws -> (logits: [[Float]], evaluations: Int) {
    var slots: [Backend.Variant: Int] = [:]
    var distinct: [Backend.Variant] = []
    let slotOfRequest = requests.map { variant -> Int in
      if let slot = slots[variant] { return slot }
      slots[variant] = distinct.count
      distinct.append(variant)
      return distinct.count - 1
    }
    var answers = [[Float]](repeating: [], count: distinct.count)
    let plan = BatchPlan(maximumRows: maximumRows, maximumTokens: maximumTokens)
    for batch in plan.batches(lengths: distinct.map(backend.length(of:))) {
      let logits = try backend.logits(of: batch.map { distinct[$0] })
      for (slot, values) in zip(batch, logits) {
        guard values.allSatisfy(\.isFinite) else {
          throw ModelError.badInput(
            "the model's outputs on a perturbed input are not finite numbers (NaN or infinity); its weights overflow float32."
          )
        }
        answers[slot] = values
      }
    }
    return (slotOfRequest.map { answers[$0] }, distinct.count)
  }
}

/// A perturbation method's result for one input.
public struct PerturbationOutcome: Sendable, Equatable {
  /// How the units were formed (`tokens`, `words`, `patches`, `nodes`).
  public let units: String
  /// The positions of each unit.
  public let layout: UnitLayout
  /// φ of each unit.
  public let unitRelevance: [Float]
  /// Distinct perturbed inputs evaluated (the input and the baseline included).
  public let evaluations: Int
  /// How the coalitions were chosen.
  public let scheme: PerturbationScheme

  public init(
    units: String, layout: UnitLayout, unitRelevance: [Float], evaluations: Int, scheme: PerturbationScheme
  ) {
    self.units = units
    self.layout = layout
    self.unitRelevance = unitRelevance
    self.evaluations = evaluations
    self.scheme = scheme
  }

  /// One value per position of an input with `length` positions: each unit's φ shared
  /// equally by its positions (so Σ positions = Σ units), 0 where no unit lies.
  public func positionRelevance(length: Int) -> [Float] {
    var values = [Float](repeating: 0, count: length)
    for (group, phi) in zip(layout.groups, unitRelevance) where !group.isEmpty {
      for position in group { values[position] += phi / Float(group.count) }
    }
    return values
  }
}

/// One perturbation method run on a group of inputs through one backend: the plans of
/// every input, one runner pass over all their coalitions, the attributions.
struct CoalitionRun {
  /// What each input's attribution needs back.
  struct Result {
    let logits: [Float]
    let baselineLogits: [Float]
    let phi: [Double]
    let evaluations: Int
    let scheme: PerturbationScheme
  }

  /// Evaluates every coalition of every input's plan in one runner pass (the plans depend
  /// on the units and settings only), then picks each target from the unperturbed input's
  /// logits (coalition 0) and attributes. `variant(i, coalition)` names input i with the
  /// units outside `coalition` removed; `plan(i)` is input i's plan.
  static func run<Backend: PerturbationBackend>(
    inputs: Int, targets: [ClassTarget], labels: [String], backend: Backend,
    runner: PerturbationRunner, variant: (Int, Coalition) -> Backend.Variant,
    plan: (Int) throws -> CoalitionPlan
  ) throws -> [(target: Int, result: Result)] {
    // A class that does not exist is refused before anything runs.
    for target in targets where target != .predicted { _ = try target.index(labels: labels, logits: []) }
    let plans = try (0..<inputs).map(plan)
    var requests: [Backend.Variant] = []
    var starts: [Int] = []
    for (i, plan) in plans.enumerated() {
      starts.append(requests.count)
      requests += plan.coalitions.map { variant(i, $0) }
    }
    let answers = try runner.logits(of: requests, backend: backend).logits
    return try (0..<inputs).map { i in
      let logits = answers[starts[i]..<(starts[i] + plans[i].coalitions.count)]
      let original = logits[starts[i] + CoalitionSet.full]
      let target = try targets[i].index(labels: labels, logits: original)
      let phi = plans[i].attribute(logits.map { Double($0[target]) })
      return (
        target,
        Result(
          logits: original, baselineLogits: logits[starts[i] + CoalitionSet.empty], phi: phi,
          evaluations: plans[i].coalitions.count, scheme: plans[i].scheme)
      )
    }
  }
}
