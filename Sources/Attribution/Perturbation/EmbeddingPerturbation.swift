// Perturbation at the embedding-block output of a transformer (texts, images): a unit's
// rows come from the input e or, when the unit is removed, from the baseline b (text:
// the embedding-block output of [PAD] at that position; image: of the baseline image's
// patch), are zeroed, or are left out. The embedding block works row by row, so swapping
// rows there is the same as swapping the tokens or patches before it.
import Models
import Tensor

/// Padded no-grad batches of perturbed embedding rows through one transformer body.
public struct EmbeddingRowBackend: PerturbationBackend {
  /// What happens to a removed unit's rows.
  public enum Removal: Hashable, Sendable {
    /// Taken from the baseline.
    case baseline
    /// Set to zero.
    case zero
    /// Left out of the sequence (the other rows keep their position embeddings).
    case deletion
  }

  /// Input `input` with the units outside `present` removed by `removal`.
  public struct Variant: Hashable, Sendable {
    public let input: Int
    public let present: Coalition
    public let removal: Removal

    public init(input: Int, present: Coalition, removal: Removal = .baseline) {
      self.input = input
      self.present = present
      self.removal = removal
    }
  }

  /// The encoder and head.
  public let network: any EncoderClassifier
  /// Embedding-block outputs [B, T, D] (no history).
  public let embeddings: Tensor
  /// Rows that replace removed units [B, T, D] (nil when only zeroing or deletion is asked).
  public let baseline: Tensor?
  /// Real rows of each input.
  public let lengths: [Int]
  /// The units of each input.
  public let layouts: [UnitLayout]

  /// A backend over a padded batch of inputs and their units.
  public init(
    network: any EncoderClassifier, embeddings: Tensor, baseline: Tensor?, lengths: [Int], layouts: [UnitLayout]
  ) {
    precondition(embeddings.rank == 3 && embeddings.shape[0] == lengths.count && layouts.count == lengths.count)
    precondition(baseline == nil || baseline!.shape == embeddings.shape)
    self.network = network
    self.embeddings = embeddings
    self.baseline = baseline
    self.lengths = lengths
    self.layouts = layouts
  }

  public func length(of variant: Variant) -> Int {
    guard variant.removal == .deletion else { return lengths[variant.input] }
    let layout = layouts[variant.input]
    let removed = (0..<layout.count).reduce(0) { $0 + (variant.present.contains($1) ? 0 : layout.groups[$1].count) }
    return lengths[variant.input] - removed
  }

  public func logits(of batch: [Variant]) throws -> [[Float]] {
    let (stride, width) = (embeddings.shape[1], embeddings.shape[2])
    let batchLengths = batch.map(length(of:))
    let padded = batchLengths.max() ?? 0
    var values = Tensor(repeating: 0, shape: [batch.count, padded, width])
    // Per position of an input: 0 from the input, 1 removed.
    var removed = [UInt8](repeating: 0, count: stride)
    embeddings.withUnsafeBufferPointer { source in
      (baseline ?? embeddings).withUnsafeBufferPointer { replacement in
        values.withUnsafeMutableBufferPointer { target in
          for (row, variant) in batch.enumerated() {
            let layout = layouts[variant.input]
            for i in 0..<stride { removed[i] = 0 }
            for unit in 0..<layout.count where !variant.present.contains(unit) {
              for position in layout.groups[unit] { removed[position] = 1 }
            }
            var out = row * padded * width
            let base = variant.input * stride * width
            for position in 0..<lengths[variant.input] {
              let from = base + position * width
              if removed[position] == 0 {
                (target.baseAddress! + out).update(from: source.baseAddress! + from, count: width)
              } else {
                switch variant.removal {
                case .baseline:
                  (target.baseAddress! + out).update(from: replacement.baseAddress! + from, count: width)
                case .zero: break  // already zero
                case .deletion: continue
                }
              }
              out += width
            }
          }
        }
      }
    }
    let logits = withoutGrad { network.logits(embeddings: values, keep: KeepMask(lengths: batchLengths)) }
    return rows(logits)
  }

  /// Σ‖x‖², Σ‖b‖², Σ x·b over each unit's rows of input `input` (LIME's distance).
  public func geometry(of input: Int) -> UnitGeometry {
    let (stride, width) = (embeddings.shape[1], embeddings.shape[2])
    let layout = layouts[input]
    var sums = (input: [Double](), baseline: [Double](), cross: [Double]())
    embeddings.withUnsafeBufferPointer { x in
      (baseline ?? embeddings).withUnsafeBufferPointer { b in
        for group in layout.groups {
          var totals = (0.0, 0.0, 0.0)
          for position in group {
            let start = (input * stride + position) * width
            for d in start..<(start + width) {
              let (u, v) = (Double(x[d]), Double(b[d]))
              totals.0 += u * u
              totals.1 += v * v
              totals.2 += u * v
            }
          }
          sums.input.append(totals.0)
          sums.baseline.append(totals.1)
          sums.cross.append(totals.2)
        }
      }
    }
    return UnitGeometry(input: sums.input, baseline: sums.baseline, cross: sums.cross)
  }
}

/// A perturbation method as an `AttributionMethod` of transformers: the units of each row
/// (`AttributionInput.units`; default every real position) replaced by the baseline rows,
/// every coalition evaluated once by `PerturbationRunner` in padded no-grad batches.
public struct PerturbationAttribution: AttributionMethod {
  public let kind: MethodKind
  /// Window, stride, samples, seed, units.
  public let settings: PerturbationSettings
  public let rules = PropagationRules.gradient
  public let needsBaseline = true
  /// Batches of perturbed inputs.
  public let runner: PerturbationRunner

  /// `kind` (a perturbation method) with `settings`.
  public init(kind: MethodKind, settings: PerturbationSettings = PerturbationSettings(), runner: PerturbationRunner = PerturbationRunner()) {
    precondition(kind.isPerturbation, "\(kind.rawValue) is not a perturbation method")
    self.kind = kind
    self.settings = settings
    self.runner = runner
  }

  public var unitGrouping: UnitGrouping { settings.units }

  /// Not fixed: each input's outcome counts the evaluations its coalitions took.
  public var passesPerInput: ModelPasses { .none }

  public func attribute(network: any EncoderClassifier, input: AttributionInput, targets: [ClassTarget]) throws
    -> [PositionAttribution]
  {
    guard let baseline = input.baseline else {
      preconditionFailure("\(kind.rawValue) needs the baseline embeddings")
    }
    let lengths = input.keep.lengths
    let layouts = input.units ?? lengths.map { UnitLayout(groups: (0..<$0).map { [$0] }) }
    let backend = EmbeddingRowBackend(
      network: network, embeddings: input.embeddings, baseline: baseline, lengths: lengths, layouts: layouts)
    let results = try CoalitionRun.run(
      inputs: lengths.count, targets: targets, labels: network.labels,
      backend: backend, runner: runner, variant: { EmbeddingRowBackend.Variant(input: $0, present: $1) },
      plan: { i in
        try CoalitionPlan.make(
          kind: kind, settings: settings.forInput(i), layout: layouts[i],
          geometry: kind == .lime ? backend.geometry(of: i) : nil)
      })
    return results.enumerated().map { i, item in
      let outcome = PerturbationOutcome(
        units: input.unitName, layout: layouts[i], unitRelevance: item.result.phi.map { Float($0) },
        evaluations: item.result.evaluations, scheme: item.result.scheme)
      return PositionAttribution(
        relevance: outcome.positionRelevance(length: lengths[i]), logits: item.result.logits,
        target: item.target, baselineLogit: item.result.baselineLogits[item.target], perturbation: outcome)
    }
  }
}
