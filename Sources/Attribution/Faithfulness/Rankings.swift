import Models
import Tensor

/// What ranks the units of an input for a perturbation curve: an attribution method or
/// a baseline that knows nothing of the gradient.
public enum Ranking: Sendable, Hashable {
  /// An attribution method's relevance (texts, images, prompts; on graphs the
  /// perturbation methods over nodes).
  case method(MethodKind)
  /// A graph attribution method's node relevance.
  case graphMethod(GraphMethodKind)
  /// Uniform random relevance, averaged over `orders` seeded orders.
  case random(orders: Int)
  /// The last layer's [CLS] attention averaged over heads.
  case attention

  /// The ranking `name` spells for a model whose units are `units` (a method of that kind
  /// of model, `random` over `orders` orders, or `attention`), or nil.
  public init?(name: String, orders: Int, units: UnitKind) {
    if name == Ranking.random(orders: orders).name {
      self = .random(orders: orders)
    } else if name == Ranking.attention.name {
      self = .attention
    } else if units == .nodes, let kind = GraphMethodKind(name: name) {
      self = .graphMethod(kind)
    } else if let kind = MethodKind(name: name), units != .nodes || kind.isPerturbation {
      self = .method(kind)
    } else {
      return nil
    }
  }

  /// Name as the command line and JSON spell it.
  public var name: String {
    switch self {
    case .method(let kind): kind.rawValue
    case .graphMethod(let kind): kind.rawValue
    case .random: "random"
    case .attention: "attention"
    }
  }

  /// How a reader sees it.
  public var displayName: String {
    switch self {
    case .method(let kind): kind.displayName
    case .graphMethod(let kind): kind.displayName
    case .random(let orders): "Random (mean of \(orders) orders)"
    case .attention: "Attention ([CLS], last layer)"
    }
  }

  /// How a reader sees it for a model whose units are `units` (a language model's
  /// attention baseline reads the last position's row, not [CLS]'s).
  public func displayName(units: UnitKind) -> String {
    if case .attention = self, units == .promptTokens { return "Attention (last position, last layer)" }
    return displayName
  }

  /// Whether this is a baseline rather than an explanation method.
  public var isBaseline: Bool {
    switch self {
    case .method, .graphMethod: false
    case .random, .attention: true
    }
  }

  /// Random relevance for `units` units of example `example`, order `order`: the same
  /// for a seed whatever the batch, worker or shard the example lands in.
  static func randomRelevance(units: Int, seed: UInt64, example: Int, order: Int) -> [Float] {
    var generator = SeededGenerator(
      seed: seed &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(truncatingIfNeeded: example) &* 0xD1B5_4A32_D192_ED03
        ^ UInt64(truncatingIfNeeded: order) &* 0x8CB9_2BA7_2F3D_8DD7)
    return (0..<units).map { _ in generator.uniform(0, 1) }
  }
}

/// The faithfulness of one example under every ranking.
public struct ExampleFaithfulness: Sendable {
  /// Position of the example in the data set.
  public let index: Int
  /// The class tracked (the label when the example has one, else the prediction).
  public let trueClass: Int
  /// Whether `trueClass` is the example's label (else the model's prediction).
  public let fromLabel: Bool
  /// Number of units (tokens without [CLS]/[SEP], or nodes).
  public let unitCount: Int
  /// Curves under each ranking, in the order the rankings were given.
  public let curves: [FaithfulnessCurves]
  /// What each ranking's explanation of this example cost (empty when not measured).
  public let costs: [ExplanationCost]

  /// An example's results.
  public init(
    index: Int, trueClass: Int, fromLabel: Bool, unitCount: Int, curves: [FaithfulnessCurves],
    costs: [ExplanationCost] = []
  ) {
    self.index = index
    self.trueClass = trueClass
    self.fromLabel = fromLabel
    self.unitCount = unitCount
    self.curves = curves
    self.costs = costs
  }
}
