import Foundation
import Tensor

/// How far the LRP-γ rewrite amplifies relevance, per projection.
///
/// A rewritten projection passes relevance on with the scale s = z/z⁺ (z⁺ from the lifted
/// weights W + γ·max(W, 0), plus ε·sign z⁺ with `--epsilon`). Behind a ReLU with γ ≥ 0
/// and non-negative inputs, z⁺ ≥ z > 0 and |s| ≤ 1; where the gate is open to negative z
/// (an output layer without ReLU, inputs of either sign), z⁺ can come close to zero while
/// z does not, and |s| grows without bound. Relevance through that entry is then
/// multiplied by |s|, and so is every rounding error of z⁺: a ratio of 147 costs about
/// two of float32's seven digits. `threshold` is where xai says so.
public struct WalkStability: Sendable, Equatable {
  /// One projection: `layer.1` … `layer.L`, then `output`.
  public struct Projection: Sendable, Equatable {
    /// `layer.l` (message-passing layer l, 1-based) or `output`.
    public let name: String
    /// Largest |z/z⁺| over the entries whose ratio is used (0 when none is).
    public let amplification: Float
    /// Entries with an open gate whose denominator is exactly 0: their relevance is dropped.
    public let zeroDenominators: Int
    /// Whether this is the output projection (else a message-passing layer).
    public var isOutput: Bool { name == Self.outputName }
    /// The output projection's name.
    public static let outputName = "output"

    /// Amplification and zero denominators of one rewritten projection.
    public init(name: String, amplification: Float, zeroDenominators: Int) {
      self.name = name
      self.amplification = amplification
      self.zeroDenominators = zeroDenominators
    }
  }

  /// |z/z⁺| above which a projection is reported as unstable: relevance through it is
  /// magnified more than tenfold over the plain product, and one decimal digit of the
  /// result is lost to rounding of z⁺ on top of float32's usual error.
  public static let threshold: Float = 10

  /// Every projection, input side first.
  public let projections: [Projection]
  /// The ε added to every denominator (0: plain LRP-γ).
  public let epsilon: Float

  /// The stability of these projections, computed with stabiliser `epsilon`.
  public init(projections: [Projection], epsilon: Float) {
    self.projections = projections
    self.epsilon = epsilon
  }

  /// Projections above `threshold`, or with relevance dropped at a zero denominator.
  public var unstable: [Projection] {
    projections.filter { $0.amplification > WalkStability.threshold || $0.zeroDenominators > 0 }
  }

  /// One sentence naming the unstable projections, or nil when every one is stable.
  public var warning: String? {
    let bad = unstable
    guard !bad.isEmpty else { return nil }
    let parts = bad.map { projection -> String in
      let place =
        projection.isOutput
        ? "the output projection"
        : "message-passing \(projection.name.replacingOccurrences(of: ".", with: " "))"
      var part = "\(place) (|z/z⁺| up to \(Self.format(projection.amplification))"
      if projection.zeroDenominators > 0 {
        part +=
          ", \(projection.zeroDenominators) zero denominator\(projection.zeroDenominators == 1 ? "" : "s") dropping relevance"
      }
      return part + ")"
    }
    return
      "Unstable LRP-γ denominators in \(parts.joined(separator: " and ")): relevance through \(bad.count == 1 ? "it" : "them") is magnified beyond \(Self.format(Self.threshold))× and sensitive to rounding."
  }

  /// Measures one rewritten projection from its plain and lifted pre-activations.
  static func measure(name: String, z: Tensor, lifted: Tensor, gated: Bool, epsilon: Float) -> Projection {
    var largest: Float = 0
    var zeros = 0
    z.withUnsafeBufferPointer { a in
      lifted.withUnsafeBufferPointer { b in
        for i in 0..<a.count where !(gated && a[i] <= 0) {
          let denominator = b[i].lrpStabilized(epsilon)
          if denominator == 0 {
            if a[i] != 0 { zeros += 1 }
          } else {
            largest = max(largest, abs(a[i] / denominator))
          }
        }
      }
    }
    return Projection(name: name, amplification: largest, zeroDenominators: zeros)
  }

  private static func format(_ value: Float) -> String {
    String(format: "%.3g", Double(value))
  }
}
