import Foundation
import Models

/// How far a float32 result may lie from a float64 PyTorch reference, derived from the case.
///
/// Every fixture written by `make reference` holds the float64 result and, under
/// `float32_deviation`, how far PyTorch's own float32 run of the same computation lands
/// from it (the max over the compared values; the graph reference takes the largest over
/// 8 summation orders of the same function). Rounding error depends on the summation
/// order, which differs between PyTorch, xai and each BLAS kernel; its size is set by the
/// input's conditioning, which that deviation measures. The bound is
///
///     allowed = floor · scale + multiple · deviation
///
/// `floor` is the bound a well-conditioned case always had (its deviation is ~1e-7 of
/// scale and adds nothing visible); `multiple` = 4 lets xai's order lose up to two bits
/// more than PyTorch's on the same input before a test fails. An ill-conditioned case
/// (a near-zero LRP-γ denominator, a LayerNorm over almost equal values) has a large
/// deviation and is allowed proportionally more; a real bug is not hidden by it unless
/// it is smaller than PyTorch's own float32 error on that very input.
public struct DerivedTolerance: Sendable {
  /// How many times PyTorch's float32 deviation xai may reach.
  public static let multiple: Float = 4

  /// The relative bound of a well-conditioned case (times the scale).
  public let floor: Float
  /// The absolute bound of a well-conditioned case (for comparisons that always had one,
  /// such as logits within 1e-4).
  public let absoluteFloor: Float
  /// PyTorch float32's max deviation from float64 on this case.
  public let deviation: Float

  /// A bound with relative `floor` and measured float32 `deviation`.
  public init(floor: Float, deviation: Float) {
    self.floor = floor
    self.absoluteFloor = 0
    self.deviation = deviation
  }

  /// A bound with an absolute floor and measured float32 `deviation`.
  public init(absoluteFloor: Float, deviation: Float) {
    self.floor = 0
    self.absoluteFloor = absoluteFloor
    self.deviation = deviation
  }

  /// The bound for values of magnitude `scale` (the max |reference value|).
  public func allowed(scale: Float) -> Float { floor * scale + absoluteFloor + Self.multiple * deviation }

  /// Whether the measured deviation, not the floor, sets the bound at `scale`: the case
  /// is ill-conditioned enough that the fixed bound alone would be too tight.
  public func isSetByConditioning(scale: Float) -> Bool {
    Self.multiple * deviation > floor * scale + absoluteFloor
  }

  /// How much of the bound `actual` uses, and how it compares with PyTorch's float32:
  /// one line for the test log.
  public func margin(_ actual: [Float], _ expected: [Float]) -> String {
    let scale = expected.map(abs).max() ?? 0
    let worst = zip(actual, expected).map { abs($0 - $1) }.max() ?? 0
    let bound = allowed(scale: scale)
    let used = bound > 0 ? worst / bound : 0
    let ratio = deviation > 0 ? String(format: "%.2f", Double(worst / deviation)) : "n/a"
    return String(
      format: "off by %.3g of allowed %.3g (%.1f %%; PyTorch float32 %.3g, xai/PyTorch %@)%@",
      Double(worst), Double(bound), Double(used * 100), Double(deviation), ratio,
      isSetByConditioning(scale: scale) ? ", bound set by conditioning" : "")
  }

  /// Compares `actual` with `expected`; nil when within the bound, else the failure sentence.
  public func failure(_ actual: [Float], _ expected: [Float], what: String) -> String? {
    guard actual.count == expected.count else {
      return "\(what): \(actual.count) values, the reference has \(expected.count)"
    }
    if let bad = actual.firstIndex(where: { !$0.isFinite }) {
      return "\(what): value \(bad) is \(actual[bad]), not a finite number"
    }
    let scale = expected.map(abs).max() ?? 0
    let worst = zip(actual, expected).map { abs($0 - $1) }.max() ?? 0
    let bound = allowed(scale: scale)
    guard !(worst <= bound) else { return nil }
    return
      "\(what): off by \(worst) at scale \(scale); allowed \(bound) = \(floor)·scale + \(absoluteFloor) + \(Self.multiple)·\(deviation) (PyTorch float32's own deviation)"
  }
}

/// What a fixture case records about PyTorch's float32 run.
public enum FixtureDeviation {
  /// `case["float32_deviation"][path…]`, or an error naming the missing key: a fixture
  /// without it was not written by the current `make reference`.
  public static func of(_ node: JSONNode, _ path: String...) throws -> Float {
    var current = node["float32_deviation"]
    for key in path { current = current?[key] }
    guard let value = current?.double, value.isFinite, value >= 0 else {
      throw MissingDeviation(path: ([node.path, "float32_deviation"] + path).joined(separator: "."))
    }
    return Float(value)
  }
}

/// A fixture case without the float32 deviation a comparison needs.
public struct MissingDeviation: Error, CustomStringConvertible {
  /// Where it was looked for.
  public let path: String
  public var description: String { "fixture lacks \(path); run make reference" }
}

extension DerivedTolerance {
  /// float32's unit roundoff u = 2⁻²⁴: the largest relative error of one rounding.
  public static let float32Roundoff = Float(1) / Float(1 << 24)

  /// How far two float32 computations of the same sum of products may lie apart when no
  /// float64 reference measures it (the decoder audit's identities, which are exact in
  /// real arithmetic): a dot product of length K rounds to within about √K·u of the
  /// magnitude of its terms (rounding errors of random sign add like a random walk), a
  /// backward pass through `stages` sequential sublayers compounds that once per stage,
  /// and the final sum over `terms` products adds √terms·u. With `magnitude` the largest
  /// |value| involved, the bound is
  ///
  ///     multiple · u · magnitude · (stages · √contraction + √terms)
  ///
  /// (`multiple` as for the measured bounds: two bits of slack over the estimate).
  public static func float32Rounding(magnitude: Float, stages: Int, contraction: Int, terms: Int) -> Float {
    multiple * float32Roundoff * magnitude
      * (Float(stages) * Float(contraction).squareRoot() + Float(terms).squareRoot())
  }
}
