@testable import Attribution
import Foundation
import Models
import ReferenceSupport
import Tensor
import XCTest

/// Properties of the perturbation methods that hold whatever the reference: Shapley
/// efficiency, sampled estimates converging to the exact values at the rate of a mean,
/// the same draws whatever the batching, each distinct input evaluated once, and one
/// sentence naming the limit for settings that cannot work.
final class PerturbationTests: XCTestCase {
  private static let tiny = AttributionFixtures.modelPath("tiny-distilbert")
  /// 14 units on the tiny model: 16,384 coalitions, more than the largest sample count below.
  private static let longText = "movie was not good, it was boring! the best film is great"

  private func explain(
    _ model: TextModel, _ text: String, _ kind: MethodKind, _ settings: PerturbationSettings = PerturbationSettings()
  ) throws -> TextExplanation {
    try model.explain(text, method: PerturbationAttribution(kind: kind, settings: settings))
  }

  /// float32 rounding of Σ φ against f(x) − f(b): n + 2 float32 roundings of numbers no
  /// larger than `magnitude`, with the usual two bits of slack.
  private func efficiencyBound(units n: Int, magnitude: Float) -> Float {
    DerivedTolerance.multiple * DerivedTolerance.float32Roundoff * Float(n + 2) * magnitude
  }

  func testShapleyMethodsAreEfficientAndOthersReportTheirGap() throws {
    let model = try TextModel.load(path: Self.tiny)
    for (kind, settings) in [
      (MethodKind.shapley, PerturbationSettings()), (.shapley, PerturbationSettings(samples: 3, seed: 5)),
      (.kernelShap, PerturbationSettings()), (.kernelShap, PerturbationSettings(samples: 40, seed: 2)),
    ] {
      let explanation = try explain(model, "the movie was not good", kind, settings)
      let c = explanation.conservation
      let baseline = try XCTUnwrap(c.baselineLogit)
      let magnitude = max(abs(c.targetLogit), abs(baseline), explanation.relevance.map(abs).reduce(0, +))
      let n = try XCTUnwrap(explanation.perturbation).layout.count
      XCTAssertLessThanOrEqual(
        abs(try XCTUnwrap(c.completenessResidual)), efficiencyBound(units: n, magnitude: magnitude),
        "\(kind.rawValue) \(settings): Σφ = \(c.sumRelevance), f(x) − f(b) = \(c.targetLogit - baseline)")
      XCTAssertEqual(explanation.method.completenessName, "efficiency")
    }
    // Feature ablation is not efficient: on this text its sum misses f(x) − f(b) clearly.
    let ablation = try explain(model, "the movie was not good", .featureAblation)
    XCTAssertEqual(ablation.method.completenessName, "completeness")
    XCTAssertGreaterThan(abs(try XCTUnwrap(ablation.conservation.completenessResidual)), 1e-3)
  }

  /// Sampled Shapley values (random orders) and KernelSHAP (coalitions drawn from the Shapley
  /// kernel) approach the exact values like a mean of independent draws: the RMS error over
  /// seeds falls as samples^(−1/2). Fitted over three sample counts 64× apart, the log–log
  /// slope must lie in [−0.8, −0.3] and the error at the most samples be under a quarter of
  /// that at the fewest (1/√64 = 1/8 expected).
  func testSampledEstimatesApproachExactShapleyAsOneOverRootSamples() throws {
    let model = try TextModel.load(path: Self.tiny)
    let exact = try explain(model, Self.longText, .shapley).perturbation!
    XCTAssertEqual(exact.layout.count, 14)
    XCTAssertEqual(exact.evaluations, 1 << 14)
    let truth = exact.unitRelevance.map(Double.init)
    let seeds: [UInt64] = Array(1...4)
    for (kind, counts) in [(MethodKind.shapley, [4, 32, 256]), (.kernelShap, [32, 256, 2048])] {
      var errors: [Double] = []
      for samples in counts {
        var squares = 0.0
        for seed in seeds {
          let sampled = try explain(model, Self.longText, kind, PerturbationSettings(samples: samples, seed: seed))
          XCTAssertEqual(sampled.perturbation?.scheme, .sampled(samples: samples, seed: seed))
          squares += zip(sampled.perturbation!.unitRelevance, truth).reduce(0) {
            $0 + (Double($1.0) - $1.1) * (Double($1.0) - $1.1)
          }
        }
        errors.append((squares / Double(seeds.count * truth.count)).squareRoot())
      }
      let x = counts.map { Foundation.log(Double($0)) }
      let y = errors.map { Foundation.log($0) }
      let (mx, my) = (x.reduce(0, +) / 3, y.reduce(0, +) / 3)
      let slope =
        zip(x, y).reduce(0) { $0 + ($1.0 - mx) * ($1.1 - my) } / x.reduce(0) { $0 + ($1 - mx) * ($1 - mx) }
      print("perturbation convergence: \(kind.rawValue) RMS error \(errors) at \(counts) samples, slope \(slope)")
      XCTAssertTrue((-0.8)...(-0.3) ~= slope, "\(kind.rawValue): log-log slope \(slope), errors \(errors)")
      XCTAssertLessThan(errors[2], errors[0] / 4, "\(kind.rawValue): errors \(errors)")
    }
  }

  func testSameSeedSameResultWhateverTheBatching() throws {
    let model = try TextModel.load(path: Self.tiny)
    let texts = ["the movie was not good", "it was boring, not great", "great film!"]
    for (kind, settings) in [
      (MethodKind.lime, PerturbationSettings(samples: 60, seed: 3)),
      (.kernelShap, PerturbationSettings(samples: 30, seed: 3)),
      (.shapley, PerturbationSettings(samples: 4, seed: 3)),
    ] {
      let method = PerturbationAttribution(kind: kind, settings: settings)
      let together = try model.explain(texts, method: method).map { try $0.get() }
      let small = PerturbationAttribution(
        kind: kind, settings: settings, runner: PerturbationRunner(maximumRows: 3, maximumTokens: 64))
      for (index, text) in texts.enumerated() {
        let alone = try model.explain(text, method: small)
        let (a, b) = (together[index].perturbation!, alone.perturbation!)
        XCTAssertEqual(a.evaluations, b.evaluations, "\(kind.rawValue): the same coalitions")
        let scale = a.unitRelevance.map(abs).max() ?? 0
        // Only the company of each perturbed input in its batch differs: float32 rounding.
        let bound = 64 * DerivedTolerance.float32Roundoff * max(scale, abs(together[index].conservation.targetLogit))
        XCTAssertLessThanOrEqual(
          zip(a.unitRelevance, b.unitRelevance).map { abs($0 - $1) }.max() ?? 0, bound,
          "\(kind.rawValue) '\(text)'")
        XCTAssertEqual(try model.explain(text, method: small).perturbation, alone.perturbation, "repeatable")
      }
      var other = settings
      other.seed = 4
      XCTAssertNotEqual(
        try explain(model, texts[0], kind, other).perturbation?.unitRelevance, together[0].perturbation?.unitRelevance,
        "\(kind.rawValue): another seed draws other coalitions")
    }
  }

  /// A backend that counts what it is asked: every distinct variant once, batches within
  /// the limits.
  private final class CountingBackend: PerturbationBackend, @unchecked Sendable {
    var asked: [Int] = []
    var batches: [[Int]] = []
    func length(of variant: Int) -> Int { variant % 5 + 1 }
    func logits(of batch: [Int]) throws -> [[Float]] {
      asked += batch
      batches.append(batch)
      return batch.map { [Float($0), -Float($0)] }
    }
  }

  func testRunnerEvaluatesEachDistinctVariantOnceWithinTheBatchLimits() throws {
    let backend = CountingBackend()
    let requests = (0..<200).map { ($0 * 7) % 37 }
    let runner = PerturbationRunner(maximumRows: 8, maximumTokens: 20)
    let (logits, evaluations) = try runner.logits(of: requests, backend: backend)
    XCTAssertEqual(evaluations, 37)
    XCTAssertEqual(backend.asked.sorted(), Array(0..<37))
    XCTAssertEqual(logits.map { Int($0[0]) }, requests)
    for batch in backend.batches {
      XCTAssertLessThanOrEqual(batch.count, 8)
      XCTAssertLessThanOrEqual(batch.count * (batch.map { $0 % 5 + 1 }.max() ?? 0), 20)
    }
  }

  func testSettingsThatCannotWorkNameTheirLimit() throws {
    let model = try TextModel.load(path: Self.tiny)
    func message(_ kind: MethodKind, _ settings: PerturbationSettings, _ text: String = "great film!") -> String {
      do {
        _ = try explain(model, text, kind, settings)
        return "no error"
      } catch let error as PerturbationLimitError {
        return error.message
      } catch {
        return "another error: \(error)"
      }
    }
    XCTAssertTrue(message(.occlusion, PerturbationSettings(window: 4)).contains("larger than this input's 3 units"))
    XCTAssertTrue(message(.occlusion, PerturbationSettings(window: 2, stride: 3)).contains("--stride 3"))
    let long = Array(repeating: "good", count: 17).joined(separator: " ")
    let exact = message(.shapley, PerturbationSettings(), long)
    XCTAssertTrue(exact.contains("at most 16 units") && exact.contains("17 units"), exact)
    XCTAssertEqual(message(.shapley, PerturbationSettings(samples: 2), long), "no error")
  }

  func testOcclusionWindowsFollowCaptumsPlacement() {
    // ⌈(L − w)/s⌉ + 1 windows at 0, s, 2s, …, the last cut at the end.
    XCTAssertEqual(CoalitionPlan.windowStarts(length: 5, window: 2, stride: 2), [0, 2, 4])
    XCTAssertEqual(CoalitionPlan.windowStarts(length: 5, window: 3, stride: 1), [0, 1, 2])
    XCTAssertEqual(CoalitionPlan.windowStarts(length: 4, window: 4, stride: 1), [0])
    XCTAssertEqual(CoalitionPlan.windowStarts(length: 7, window: 3, stride: 3), [0, 3, 6])
  }

  func testWordUnitsGroupPiecesAndShareTheirRelevance() throws {
    let model = try TextModel.load(path: Self.tiny)
    let explanation = try explain(model, "it was loved, not boring", .shapley, PerturbationSettings(units: .words))
    let outcome = try XCTUnwrap(explanation.perturbation)
    XCTAssertEqual(outcome.units, "words")
    XCTAssertEqual(outcome.layout.groups, [[1], [2], [3, 4], [5], [6], [7]])
    XCTAssertEqual(explanation.relevance[3], outcome.unitRelevance[2] / 2)
    XCTAssertEqual(explanation.relevance[4], outcome.unitRelevance[2] / 2)
    XCTAssertEqual(explanation.relevance[0], 0)
    XCTAssertEqual(outcome.evaluations, 1 << 6)
  }

  /// The row backend the faithfulness protocols can share: a removed unit's rows from the
  /// baseline, zeroed, or left out, evaluated in one batch, equal the body run on rows
  /// assembled by hand.
  func testRowBackendReplacesZeroesAndDeletesUnits() throws {
    let model = try ImageModel.load(path: AttributionFixtures.modelPath("vit-digits"))
    let image = try model.prepare(
      file: AttributionFixtures.repository.appendingPathComponent("samples/data/digits/3-0045.png").path)
    let batch = model.embedded([image], baselines: [model.blackImage])
    let (positions, width) = (batch.embeddings.shape[1], batch.embeddings.shape[2])
    let layout = UnitLayout(groups: (1..<positions).map { [$0] }, shape: [8, 8])
    let backend = EmbeddingRowBackend(
      network: model.body, embeddings: batch.embeddings, baseline: batch.baseline, lengths: [positions],
      layouts: [layout])
    var present = Coalition(units: layout.count, full: true)
    for unit in [0, 5, 63] { present.remove(unit) }
    let removal: [EmbeddingRowBackend.Removal] = [.baseline, .zero, .deletion]
    let variants = removal.map { EmbeddingRowBackend.Variant(input: 0, present: present, removal: $0) }
    let (logits, evaluations) = try PerturbationRunner().logits(of: variants + variants, backend: backend)
    XCTAssertEqual(evaluations, 3)
    let x = batch.embeddings.scalars
    let b = batch.baseline!.scalars
    for (index, kind) in removal.enumerated() {
      var rows: [Float] = []
      for position in 0..<positions {
        let range = (position * width)..<((position + 1) * width)
        guard [1, 6, 64].contains(position) else {
          rows += x[range]
          continue
        }
        switch kind {
        case .baseline: rows += b[range]
        case .zero: rows += repeatElement(0, count: width)
        case .deletion: break
        }
      }
      let length = rows.count / width
      let expected = withoutGrad {
        model.body.logits(
          embeddings: Tensor(shape: [1, length, width], scalars: rows), keep: KeepMask(lengths: [length]))
      }.scalars
      XCTAssertEqual(backend.length(of: variants[index]), length)
      let scale = expected.map(abs).max() ?? 0
      // Batches of three against a batch of one: float32 rounding of the products only.
      XCTAssertLessThanOrEqual(
        zip(logits[index], expected).map { abs($0 - $1) }.max() ?? 0,
        DerivedTolerance.float32Rounding(magnitude: scale, stages: 8, contraction: width, terms: 1), "\(kind)")
      XCTAssertEqual(logits[index], logits[index + 3], "a repeated request shares the evaluation")
    }
  }
}
