// Integrated Gradients at the embedding-block output:
//   R_t = Σ_d (e − b)_{t,d} · ∫₀¹ ∂f/∂e_{t,d}(b + α(e − b)) dα
// with the integral by Gauss–Legendre (default) or the midpoint rule.
// Completeness: Σ_t R_t ≈ f(e) − f(b).
import Foundation
import Models
import Tensor

/// Integrated Gradients from a baseline (text: `[PAD]` at every position except
/// `[CLS]`/`[SEP]`); the path points of the whole batch run through `PathIntegral`.
public struct IntegratedGradients: AttributionMethod {
  /// How the path integral is discretised.
  public enum Rule: String, Sendable, CaseIterable {
    case gaussLegendre = "gauss-legendre"
    case riemannMiddle = "riemann-middle"
  }

  public let kind = MethodKind.integratedGradients
  public let rules = PropagationRules.gradient
  public let needsBaseline = true
  /// Number of points on the path.
  public let steps: Int
  /// Every point of the path is a forward row.
  public var rowsPerInput: Int { steps }
  /// f(e) and f(b) without gradients, then every path point forward and backward.
  public var passesPerInput: ModelPasses { ModelPasses(forward: steps + 2, backward: steps) }
  /// How the integral is discretised.
  public let rule: Rule

  /// `steps` points on the path (at least 1), placed by `rule`.
  public init(steps: Int = 32, rule: Rule = .gaussLegendre) {
    self.steps = max(1, steps)
    self.rule = rule
  }

  /// Points α in (0, 1) and weights summing to 1.
  public var nodes: [PathIntegral.Node] {
    switch rule {
    case .riemannMiddle:
      return (0..<steps).map {
        PathIntegral.Node(alpha: (Double($0) + 0.5) / Double(steps), weight: 1 / Double(steps))
      }
    case .gaussLegendre:
      return gaussLegendre(steps).map { PathIntegral.Node(alpha: (1 + $0.x) / 2, weight: $0.w / 2) }
    }
  }

  public func attribute(network: any EncoderClassifier, input: AttributionInput, targets: [ClassTarget])
    throws -> [PositionAttribution]
  {
    guard let baseline = input.baseline else {
      preconditionFailure("Integrated Gradients needs a baseline in its input")
    }
    let batch = input.keep.batchSize
    // f(e) and f(b) of every row in one forward pass without gradients.
    let ends = withoutGrad {
      network.logits(
        embeddings: Tensor.concat([input.embeddings, baseline], axis: 0),
        keep: input.keep.rows(Array(0..<batch) + Array(0..<batch)), rules: .gradient)
    }
    let endLogits = rows(ends)
    let chosen = try (0..<batch).map { try targets[$0].index(labels: network.labels, logits: endLogits[$0]) }
    let average = PathIntegral(nodes: nodes).averageGradient(
      network: network, input: input.embeddings, baseline: baseline, keep: input.keep, targets: chosen,
      rules: rules)
    let relevance = rowsByLength(positionDot(input.embeddings - baseline, average), keep: input.keep)
    let gradients = gradientRows(average, keep: input.keep, wanted: input.keepsGradient)
    return (0..<batch).map {
      PositionAttribution(
        relevance: relevance[$0], logits: endLogits[$0], target: chosen[$0],
        baselineLogit: endLogits[batch + $0][chosen[$0]], gradient: gradients[$0])
    }
  }
}

/// Gauss–Legendre nodes and weights on [−1, 1] (Newton's method on Pₙ).
func gaussLegendre(_ n: Int) -> [(x: Double, w: Double)] {
  var result: [(x: Double, w: Double)] = []
  for i in 1...n {
    var x = cos(Double.pi * (Double(i) - 0.25) / (Double(n) + 0.5))
    var derivative = 0.0
    for _ in 0..<100 {
      var p0 = 1.0
      var p1 = x
      for k in stride(from: 2, through: n, by: 1) {
        let p2 = (Double(2 * k - 1) * x * p1 - Double(k - 1) * p0) / Double(k)
        p0 = p1
        p1 = p2
      }
      derivative = Double(n) * (x * p1 - p0) / (x * x - 1)
      let step = p1 / derivative
      x -= step
      if abs(step) < 1e-15 { break }
    }
    result.append((x, 2 / ((1 - x * x) * derivative * derivative)))
  }
  return result.sorted { $0.x < $1.x }
}
