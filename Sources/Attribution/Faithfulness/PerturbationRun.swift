/// What every modality's evaluation shares: the units' relevance under each ranking,
/// then each distinct perturbation of each example evaluated once, and the curves.
enum PerturbationRun {
  /// Relevance [example][ranking][order][unit]: one order per ranking, except random
  /// (its seeded orders), and what each example's explanation cost [example][ranking].
  /// `method` gives a method's unit relevance of every example and the passes each took,
  /// `attention` the [CLS] attention on every unit; each call's wall time is shared
  /// equally by the examples it explained.
  static func relevance(
    rankings: [Ranking], indices: [Int], unitCounts: [Int], seed: UInt64,
    method: (MethodKind) throws -> [(relevance: [Float], passes: ModelPasses)], attention: () -> [[Float]]
  ) throws -> (relevance: [[[[Float]]]], costs: [[ExplanationCost]]) {
    var relevance = [[[[Float]]]](repeating: [], count: indices.count)
    var costs = [[ExplanationCost]](repeating: [], count: indices.count)
    for ranking in rankings {
      let (byExample, seconds): ([(orders: [[Float]], passes: ModelPasses)], Double) = try timed {
        switch ranking {
        case .method(let kind): return try method(kind).map { ([$0.relevance], $0.passes) }
        case .attention: return attention().map { ([$0], ModelPasses(forward: 1, backward: 0)) }
        case .random(let orders):
          return zip(indices, unitCounts).map { index, count in
            (
              (0..<orders).map { Ranking.randomRelevance(units: count, seed: seed, example: index, order: $0) },
              ModelPasses.none
            )
          }
        case .graphMethod: preconditionFailure("a graph ranking outside a graph evaluation")
        }
      }
      for e in indices.indices {
        relevance[e].append(byExample[e].orders)
        costs[e].append(
          ExplanationCost(passes: byExample[e].passes, seconds: seconds / Double(max(indices.count, 1))))
      }
    }
    return (relevance, costs)
  }

  /// The curves of every example under every ranking. `logits` evaluates a list of
  /// (example, perturbation) requests; each distinct one is asked for once, and the
  /// unperturbed input is `original`.
  static func curves(
    indices: [Int], labels: [Int?], trueClasses: [Int], original: [[Float]], unitCounts: [Int],
    relevance: [[[[Float]]]], costs: [[ExplanationCost]], canonical: (Perturbation) -> Perturbation = { $0 },
    logits: ([(example: Int, perturbation: Perturbation)]) throws -> [[Float]]
  ) throws -> [ExampleFaithfulness] {
    try curves(
      indices: indices, labels: labels, trueClasses: trueClasses,
      original: indices.indices.map {
        Readout(logits: original[$0], original: original[$0], trueClass: trueClasses[$0])
      }, unitCounts: unitCounts, relevance: relevance, costs: costs, canonical: canonical
    ) { requests in
      try zip(requests, logits(requests)).map { request, values in
        Readout(logits: values, original: original[request.example], trueClass: trueClasses[request.example])
      }
    }
  }

  /// The curves of every example under every ranking from readouts: `readouts` evaluates a
  /// list of (example, perturbation) requests, each distinct one (after `canonical`, which
  /// maps perturbations that change the input alike to one) asked for once; the
  /// unperturbed input reads `original`.
  static func curves(
    indices: [Int], labels: [Int?], trueClasses: [Int], original: [Readout], unitCounts: [Int],
    relevance: [[[[Float]]]], costs: [[ExplanationCost]], canonical: (Perturbation) -> Perturbation = { $0 },
    readouts: ([(example: Int, perturbation: Perturbation)]) throws -> [Readout]
  ) throws -> [ExampleFaithfulness] {
    var requests: [(example: Int, perturbation: Perturbation)] = []
    var slots: [[Perturbation: Int]] = Array(repeating: [:], count: indices.count)
    let plans = relevance.map { rankings in rankings.map { orders in orders.map(PerturbationPlan.init) } }
    for e in indices.indices {
      for plan in plans[e].flatMap({ $0 }) {
        for perturbation in plan.perturbations.map(canonical)
        where !perturbation.isIdentity && slots[e][perturbation] == nil {
          slots[e][perturbation] = requests.count
          requests.append((e, perturbation))
        }
      }
    }
    let answers = try readouts(requests)
    precondition(answers.count == requests.count, "one readout per request")
    return indices.indices.map { e in
      let curves = plans[e].map { orders in
        FaithfulnessCurves.mean(
          orders.map { plan in
            plan.curves(
              original: original[e],
              readouts: plan.perturbations.map(canonical).map {
                $0.isIdentity ? original[e] : answers[slots[e][$0]!]
              })
          })!
      }
      return ExampleFaithfulness(
        index: indices[e], trueClass: trueClasses[e], fromLabel: labels[e] != nil,
        unitCount: unitCounts[e], curves: curves, costs: costs[e])
    }
  }
}
