import Foundation

/// The model passes one explanation of one input takes: forward evaluations of the model
/// on one input (a perturbed variant, a path point, the input itself) and backward passes.
/// A batched pass over B inputs counts B of each.
public struct ModelPasses: Sendable, Hashable {
  /// Forward evaluations (perturbation methods: distinct perturbed inputs, the input and
  /// the baseline included).
  public var forward: Int
  /// Backward passes.
  public var backward: Int

  public init(forward: Int, backward: Int) {
    self.forward = forward
    self.backward = backward
  }

  /// One forward pass whose logits pick the target, and one backward pass.
  public static let gradient = ModelPasses(forward: 1, backward: 1)
  /// No model at all (the random baseline).
  public static let none = ModelPasses(forward: 0, backward: 0)

  /// A perturbation method's cost: the evaluations its runner made.
  public init(perturbation outcome: PerturbationOutcome) { self.init(forward: outcome.evaluations, backward: 0) }
}

/// What explaining one example with one ranking cost: its model passes (exact) and the
/// wall time of the explanation phase (the group's time shared equally by its examples;
/// machine-dependent, so never part of a comparison of two runs).
public struct ExplanationCost: Sendable, Equatable {
  public let passes: ModelPasses
  public let seconds: Double

  public init(passes: ModelPasses, seconds: Double) {
    self.passes = passes
    self.seconds = seconds
  }
}

/// A ranking's mean cost per explanation over a data set.
public struct MethodCost: Sendable, Equatable {
  /// Mean forward evaluations per explanation.
  public let forward: Double
  /// Mean backward passes per explanation.
  public let backward: Double
  /// Mean wall time per explanation, in milliseconds (machine-dependent).
  public let milliseconds: Double
  /// Largest count or time a saved evaluation may hold (10¹² evaluations, or ms: 30 years).
  public static let largestValue = 1e12

  public init(forward: Double, backward: Double, milliseconds: Double) {
    self.forward = forward
    self.backward = backward
    self.milliseconds = milliseconds
  }

  /// The mean of `costs` (nil for none).
  public init?(mean costs: [ExplanationCost]) {
    guard !costs.isEmpty else { return nil }
    let count = Double(costs.count)
    forward = Double(costs.reduce(0) { $0 + $1.passes.forward }) / count
    backward = Double(costs.reduce(0) { $0 + $1.passes.backward }) / count
    milliseconds = costs.reduce(0) { $0 + $1.seconds } * 1000 / count
  }
}

extension PerturbationRun {
  /// `body`'s result and its wall time in seconds (a monotonic clock).
  static func timed<Result>(_ body: () throws -> Result) rethrows -> (result: Result, seconds: Double) {
    let start = DispatchTime.now().uptimeNanoseconds
    let result = try body()
    return (result, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
  }
}

extension AttributionMethod {
  /// The passes this method took for one input, given the perturbation outcome it
  /// returned for it (perturbation methods) or its fixed count (the others).
  public func passes(of outcome: PerturbationOutcome?) -> ModelPasses {
    outcome.map(ModelPasses.init(perturbation:)) ?? passesPerInput
  }
}
