import Foundation
import Models
import Tensor

/// Integrated Gradients at the embedding-block output:
/// R_t = Σ_d (e − b)_{t,d} · ∫₀¹ ∂f/∂e_{t,d}(b + α(e − b)) dα,
/// the integral by Gauss–Legendre (default) or the midpoint rule, the steps evaluated
/// as one batched forward/backward pass (up to 64 at a time). Completeness: Σ_t R_t ≈ f(e) − f(b).
/// The baseline b is the embedding of `[PAD]` at every position except `[CLS]`/`[SEP]`.
public struct IntegratedGradients: TextAttributionMethod {
  /// How the path integral is discretised.
  public enum Rule: String, Sendable, CaseIterable {
    case gaussLegendre = "gauss-legendre"
    case riemannMiddle = "riemann-middle"
  }

  public let name = "integrated-gradients"
  public let hooks = DetachmentHooks.none
  /// Number of points on the path.
  public let steps: Int
  /// Most path points in one batched pass (more steps run as several passes, so that
  /// memory stays bounded; the default 32 steps are one pass).
  public let maximumBatch = 64
  /// How the integral is discretised.
  public let rule: Rule

  /// `steps` points on the path (at least 1), placed by `rule`.
  public init(steps: Int = 32, rule: Rule = .gaussLegendre) {
    self.steps = max(1, steps)
    self.rule = rule
  }

  /// Points α in (0, 1) and weights summing to 1.
  public var nodes: [(alpha: Double, weight: Double)] {
    switch rule {
    case .riemannMiddle:
      return (0..<steps).map { ((Double($0) + 0.5) / Double(steps), 1 / Double(steps)) }
    case .gaussLegendre:
      return gaussLegendre(steps).map { ((1 + $0.x) / 2, $0.w / 2) }
    }
  }

  public func attribute(model: any TextClassifier, input: TextInput, target: Int)
    -> TokenAttribution
  {
    let ids = input.batch.ids
    let baselineIds = zip(ids, input.isSpecial).map { $1 ? $0 : input.padId }
    let baselineBatch = TokenBatch([baselineIds], padId: input.padId)
    let baseline = withoutGrad { model.embed(baselineBatch) }
    let difference = input.embeddings - baseline
    var averageGradient = Tensor.zeros(difference.shape)
    for chunk in stride(from: 0, to: nodes.count, by: maximumBatch) {
      let points = nodes[chunk..<min(chunk + maximumBatch, nodes.count)]
      let alphas = Tensor(shape: [points.count, 1, 1], scalars: points.map { Float($0.alpha) })
      let leaf = (baseline + alphas * difference).requiringGrad()
      let pathBatch = TokenBatch(Array(repeating: ids, count: points.count), padId: input.padId)
      let logits = model.logits(embeddings: leaf, batch: pathBatch, hooks: hooks)
      let classes = logits.shape[1]
      var seed = [Float](repeating: 0, count: logits.count)
      for (row, point) in points.enumerated() { seed[row * classes + target] = Float(point.weight) }
      logits.backward(seed: Tensor(shape: logits.shape, scalars: seed))
      if let gradient = leaf.grad { averageGradient.addInPlace(gradient.sum(axis: 0, keepingAxis: true)) }
    }
    let baselineLogit = withoutGrad {
      model.logits(embeddings: baseline, batch: baselineBatch, hooks: .none)
    }.scalars[target]
    return TokenAttribution(
      relevance: tokenDot(difference, averageGradient), baselineLogit: baselineLogit)
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
