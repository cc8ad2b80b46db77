import Models

/// The faithfulness evaluation of one kind of model: the rankings it compares, and the
/// curves of a group of prepared inputs (their explanations and perturbed variants run
/// in shared batches).
public protocol FaithfulnessEvaluator: Sendable {
  /// The prepared input, as the model's `Explainer` makes it.
  associatedtype Input: Sendable
  /// Methods and baselines, in table order.
  var rankings: [Ranking] { get }
  /// How many inputs are evaluated together.
  var examplesPerGroup: Int { get }
  /// The curves of `inputs[i]` (example `indices[i]`, which seeds the random baseline),
  /// tracking `labels[i]` when given, else the prediction.
  func evaluate(_ inputs: [Input], indices: [Int], labels: [Int?]) throws -> [ExampleFaithfulness]
  /// Throws the `PerturbationLimitError` a perturbation method's settings meet on `input`
  /// (a window larger than it, more units than exact Shapley values take), before
  /// anything runs: one setting for every example, so the run stops instead of leaving
  /// some examples out of one method's scores.
  func check(_ input: Input) throws
}

extension FaithfulnessEvaluator {
  public func check(_ input: Input) throws {}
}

extension TextFaithfulness: FaithfulnessEvaluator {
  /// Texts of similar length share batches.
  public var examplesPerGroup: Int { 32 }

  public func check(_ text: EncodedText) throws {
    for method in methods.values.compactMap({ $0 as? PerturbationAttribution }) {
      try CoalitionPlan.check(
        kind: method.kind, settings: method.settings, layout: TextModel.units(of: text, grouping: method.unitGrouping))
    }
  }
}

extension ImageFaithfulness: FaithfulnessEvaluator {
  /// Images share batches.
  public var examplesPerGroup: Int { 32 }

  public func check(_ image: PreparedImage) throws {
    let side = model.config.patchesPerSide
    let grid = UnitLayout(groups: (1...model.config.patchCount).map { [$0] }, shape: [side, side])
    for method in methods.values.compactMap({ $0 as? PerturbationAttribution }) {
      try CoalitionPlan.check(kind: method.kind, settings: method.settings, layout: grid)
    }
  }
}

/// Graph faithfulness on one network as a `FaithfulnessEvaluator`: each graph alone.
public struct NetworkFaithfulness: FaithfulnessEvaluator {
  /// The network evaluated.
  public let network: GraphNetwork
  /// The rankings and protocols.
  public let evaluation: GraphFaithfulness

  /// `evaluation` of `network`.
  public init(network: GraphNetwork, evaluation: GraphFaithfulness) {
    self.network = network
    self.evaluation = evaluation
  }

  public var rankings: [Ranking] { evaluation.rankings }
  public var examplesPerGroup: Int { 1 }

  public func check(_ input: GraphInput) throws { try evaluation.check(input) }

  public func evaluate(_ inputs: [GraphInput], indices: [Int], labels: [Int?]) throws -> [ExampleFaithfulness]
  {
    try zip(zip(inputs, indices), labels).map { item, label in
      try evaluation.evaluate(network: network, input: item.0, index: item.1, label: label)
    }
  }
}

/// `method` with each example's draws keyed by its index (`PerturbationSettings.inputKeys`):
/// examples of equal size then draw their own Shapley orders, KernelSHAP coalitions and LIME
/// samples, whatever the grouping. Other methods are returned as they are.
func keyedByExample(_ method: any AttributionMethod, indices: [Int]) -> any AttributionMethod {
  guard let perturbation = method as? PerturbationAttribution else { return method }
  return PerturbationAttribution(
    kind: perturbation.kind, settings: perturbation.settings.keyed(by: indices.map { UInt64($0) }),
    runner: perturbation.runner)
}
