import Attribution
import Foundation
import Models
import ReferenceSupport
import Tensor
import XCTest

/// The relevance audit of decoder targets (`xai explain --audit` with a language model) on
/// the tiny decoders of Tests/ModelsTests/Fixtures/decoders: what it must satisfy exactly in
/// real arithmetic, checked to a float32 rounding bound derived from the sums' magnitude and
/// the depth of the backward pass (`DerivedTolerance.float32Rounding`).
final class DecoderAuditTests: XCTestCase {
  let ids = [0, 12, 40, 7, 33, 21, 5, 60, 18, 2]
  let families = ["gpt2", "llama-gqa", "qwen2"]

  func rules(_ kind: MethodKind) -> PropagationRules { DecoderExplainer.rules(for: kind)! }

  /// The float32 bound for identities of `audit`, a target over `length` positions of `network`.
  func bound(_ audit: RelevanceAudit, _ result: DecoderAttribution, network: DecoderNetwork) -> Float {
    let magnitude = max(
      abs(audit.targetLogit), abs(audit.biasShare), result.relevance.map(abs).reduce(0, +),
      audit.entries.map { abs($0.sumRelevance) }.max() ?? 0)
    return DerivedTolerance.float32Rounding(
      magnitude: magnitude, stages: audit.entries.count, contraction: network.config.intermediateSize,
      terms: result.relevance.count * network.config.hiddenSize)
  }

  func testLRPAuditBalancesWithTheBiasesAsTheOnlyShareAndStartsAtTheTokensAndEndsAtF() throws {
    for name in families {
      let network = try DecoderAttributionTests.model(name).network
      let explainer = DecoderExplainer(network: network)
      let targets: [DecoderTarget] = [
        .logit(position: ids.count - 1, token: 17), .contrast(position: 6, token: 3, contrast: 30),
      ]
      for result in explainer.attribute(ids: ids, targets: targets, rules: rules(.lrp), audit: true) {
        let audit = try XCTUnwrap(result.audit, name)
        let allowed = bound(audit, result, network: network)
        let layers = (0..<network.config.layers).flatMap { ["layer.\($0).attention_norm", "layer.\($0).mlp_norm"] }
        XCTAssertEqual(audit.entries.map(\.layer), layers + ["final_norm", "head"], name)
        XCTAssertEqual(audit.targetLogit, result.value, name)
        XCTAssertEqual(audit.sumTokens, result.relevance.reduce(0, +), name)
        // The first entry is e, the tokens' relevance summed another way; the head is f
        // (a logit or a logit difference: linear in the head's input, no bias).
        XCTAssertEqual(audit.entries[0].sumRelevance, audit.sumTokens, accuracy: allowed, "\(name) first entry")
        XCTAssertEqual(audit.entries.last!.sumRelevance, result.value, accuracy: allowed, "\(name) head")
        // CP-LRP: the rule-modified network is affine in e and the biases.
        XCTAssertEqual(audit.ruleShare, 0, accuracy: allowed, "\(name) \(result.target): Σ R + bias share = f")
        XCTAssertLessThan(allowed, 1e-3 * max(1, abs(result.value)), "\(name): the bound stays tight")
        switch name {
        case "llama-gqa":
          // No bias anywhere: nothing is absorbed, every entry is f.
          XCTAssertEqual(audit.biasShare, 0, name)
          for entry in audit.entries {
            XCTAssertEqual(entry.sumRelevance, result.value, accuracy: allowed, "\(name) \(entry.layer)")
          }
        case "gpt2":
          // Biases on every linear layer and LayerNorm β: a share far above rounding.
          XCTAssertGreaterThan(abs(audit.biasShare), 100 * allowed, "\(name) bias share \(audit.biasShare)")
        default:
          // Qwen2: q, k, v biases; k's has no gradient under CP-LRP, v's does.
          XCTAssertNotEqual(audit.biasShare, 0, name)
        }
      }
    }
  }

  func testEachTargetReadsOnlyItsOwnBackwardPass() throws {
    for name in ["gpt2", "qwen2"] {
      let network = try DecoderAttributionTests.model(name).network
      let explainer = DecoderExplainer(network: network)
      let targets: [DecoderTarget] = [
        .logit(position: 4, token: 9), .logit(position: ids.count - 1, token: 17),
        .contrast(position: 8, token: 3, contrast: 30),
      ]
      for kind in [MethodKind.lrp, .attnlrp, .gradxinput] {
        let together = explainer.attribute(ids: ids, targets: targets, rules: rules(kind), audit: true)
        let audits = try together.map { try XCTUnwrap($0.audit) }
        XCTAssertNotEqual(
          audits[0].entries.map(\.sumRelevance), audits[1].entries.map(\.sumRelevance), "\(name) \(kind)")
        for (index, target) in targets.enumerated() {
          let single = explainer.attribute(ids: ids, targets: [target], rules: rules(kind), audit: true)[0]
          let alone = try XCTUnwrap(single.audit)
          // Alone, the last block runs fewer rows and the head gathers one: other GEMM
          // shapes, so the two agree to float32 rounding of the audit's magnitude and depth.
          let allowed = bound(alone, single, network: network)
          XCTAssertEqual(alone.entries.map(\.layer), audits[index].entries.map(\.layer))
          for (a, b) in zip(alone.entries, audits[index].entries) {
            XCTAssertEqual(a.sumRelevance, b.sumRelevance, accuracy: allowed, "\(name) \(kind) \(index) \(a.layer)")
          }
          XCTAssertEqual(alone.biasShare, audits[index].biasShare, accuracy: allowed, "\(name) \(kind) \(index)")
          XCTAssertEqual(alone.targetLogit, audits[index].targetLogit, accuracy: allowed, "\(name) \(kind) \(index)")
        }
      }
    }
  }

  func testTheAuditLeavesRelevanceAloneAndIsAbsentUnlessAsked() throws {
    let network = try DecoderAttributionTests.model("gpt2").network
    let explainer = DecoderExplainer(network: network)
    let target = DecoderTarget.logit(position: ids.count - 1, token: 17)
    for kind in [MethodKind.lrp, .attnlrp] {
      let plain = explainer.attribute(ids: ids, targets: [target], rules: rules(kind))[0]
      let audited = explainer.attribute(ids: ids, targets: [target], rules: rules(kind), audit: true)[0]
      XCTAssertNil(plain.audit)
      XCTAssertNotNil(audited.audit)
      XCTAssertEqual(plain.relevance, audited.relevance, "\(kind)")
      XCTAssertEqual(plain.value, audited.value)
    }
  }

  func testAttnLRPLosesRelevanceInAttentionOnlyWhileItsMLPsConserve() throws {
    // llama-gqa has no biases, so everything that is not conserved is the rules'. AttnLRP's
    // SwiGLU rule halves the gradient of a product of two functions linear in x (the norm's
    // scale and SiLU's ratio held constant), which conserves (Euler: degree 2); attention's
    // softmax, differentiated as is, does not.
    let network = try DecoderAttributionTests.model("llama-gqa").network
    let explainer = DecoderExplainer(network: network)
    let result = explainer.attribute(
      ids: ids, targets: [.logit(position: ids.count - 1, token: 17)], rules: rules(.attnlrp), audit: true)[0]
    let audit = try XCTUnwrap(result.audit)
    let allowed = bound(audit, result, network: network)
    XCTAssertGreaterThan(abs(audit.ruleShare), 100 * allowed, "attnlrp is not conservative: \(audit.ruleShare)")
    XCTAssertEqual(audit.ruleShare, result.value - result.relevance.reduce(0, +), accuracy: allowed)
    let sums = audit.entries.map(\.sumRelevance)
    for layer in 0..<network.config.layers {
      // entries: attention_norm (block input), mlp_norm (after attention), then the next block or final_norm.
      let (input, afterAttention, output) = (sums[2 * layer], sums[2 * layer + 1], sums[2 * layer + 2])
      XCTAssertEqual(afterAttention, output, accuracy: allowed, "layer \(layer): the MLP conserves")
      XCTAssertGreaterThan(abs(afterAttention - input), 10 * allowed, "layer \(layer): attention does not")
    }
    let gradient = explainer.attribute(
      ids: ids, targets: [.logit(position: ids.count - 1, token: 17)], rules: rules(.gradxinput), audit: true)[0]
    let plainAudit = try XCTUnwrap(gradient.audit)
    XCTAssertGreaterThan(abs(plainAudit.ruleShare), 100 * bound(plainAudit, gradient, network: network))
    // AttnLRP holds the final norm's scale constant: final_norm equals the head.
    XCTAssertEqual(sums[sums.count - 2], sums[sums.count - 1], accuracy: allowed, "the final norm conserves")
  }

  func testASpanAuditsItsLogProbabilityWithTheLogSoftmaxInTheRulesShare() throws {
    // f = Σ_k log p_k; the head entry is Σ_k z_k·(onehot − p_k) = f + Σ_k H(p_k), so on a
    // bias-free model under lrp the rules' share is exactly the log-softmax's −Σ_k H(p_k).
    let network = try DecoderAttributionTests.model("llama-gqa").network
    let pairs = [(position: 5, token: 21), (position: 6, token: 5), (position: 7, token: 60)]
    let result = DecoderExplainer(network: network).attribute(
      ids: ids, targets: [.logProbability(pairs)], rules: rules(.lrp), audit: true)[0]
    let audit = try XCTUnwrap(result.audit)
    let logits = withoutGrad { network.logits(embedded: network.embed(ids)) }.scalars
    let vocabulary = network.config.vocabSize
    let entropy = pairs.reduce(0.0) { total, pair in
      let row = logits[(pair.position * vocabulary)..<((pair.position + 1) * vocabulary)].map(Double.init)
      let largest = row.max()!
      let normalizer = row.reduce(0.0) { $0 + exp($1 - largest) }
      return total - row.reduce(0.0) { sum, z in
        let p = exp(z - largest) / normalizer
        return sum + p * log(p)
      }
    }
    let allowed = bound(audit, result, network: network)
    XCTAssertEqual(audit.targetLogit, result.value)
    XCTAssertEqual(Double(audit.entries.last!.sumRelevance), Double(result.value) + entropy, accuracy: Double(allowed))
    XCTAssertEqual(Double(audit.ruleShare), -entropy, accuracy: Double(allowed))
    for entry in audit.entries {
      XCTAssertEqual(entry.sumRelevance, audit.entries.last!.sumRelevance, accuracy: allowed, entry.layer)
    }
  }

  func testLanguageExplanationStepsCarryTheAuditAndIntegratedGradientsRefusesIt() throws {
    let model = try DecoderAttributionTests.model("gpt2")
    let explanation = try model.explain(
      promptIds: Array(ids.prefix(6)), request: .generated(count: 3, only: nil), method: .lrp, audit: true)
    XCTAssertEqual(explanation.steps.count, 3)
    for step in explanation.steps {
      let audit = try XCTUnwrap(step.audit)
      XCTAssertEqual(audit.targetLogit, step.value)
      XCTAssertEqual(audit.sumTokens, step.relevance.reduce(0, +), accuracy: 1e-6 * max(1, abs(step.value)))
    }
    let plain = try model.explain(promptIds: Array(ids.prefix(6)), request: .nextToken(target: nil, contrast: nil), method: .lrp)
    XCTAssertNil(plain.steps[0].audit)
    XCTAssertThrowsError(
      try model.explain(
        promptIds: Array(ids.prefix(6)), request: .nextToken(target: nil, contrast: nil), method: .integratedGradients,
        audit: true)
    ) { XCTAssertTrue($0 is AuditUnavailableError, "\($0)") }
  }

  /// SmolLM2-135M-Instruct (`make models`; skipped when absent): 30 bias-free blocks, so
  /// CP-LRP's audit is flat at f through 61 sublayer inputs while AttnLRP's is not.
  func testSmolLM2LRPAuditIsFlatAndAttnLRPLeavesARuleShare() throws {
    let path =
      ProcessInfo.processInfo.environment["XAI_SMOLLM2_GGUF"]
      ?? AttributionFixtures.repository.appendingPathComponent("models/smollm2-135m-instruct.gguf").path
    guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("\(path) is absent; `make models`") }
    let model = try LanguageModel.load(path: path)
    let tokenizer = try XCTUnwrap(model.tokenizer)
    let prompt = tokenizer.encode("The capital of France is", addSpecialTokens: true)
    let lrp = try model.explain(promptIds: prompt, request: .nextToken(target: nil, contrast: nil), method: .lrp, audit: true)
    XCTAssertEqual(lrp.steps[0].tokenTexts, [" Paris"])
    let audit = try XCTUnwrap(lrp.steps[0].audit)
    XCTAssertEqual(audit.entries.count, 2 * 30 + 2)
    XCTAssertEqual(audit.biasShare, 0)
    let magnitude = max(abs(audit.targetLogit), lrp.steps[0].relevance.map(abs).reduce(0, +))
    let allowed = DerivedTolerance.float32Rounding(
      magnitude: magnitude, stages: audit.entries.count, contraction: model.config.intermediateSize,
      terms: prompt.count * model.config.hiddenSize)
    for entry in audit.entries {
      XCTAssertEqual(entry.sumRelevance, audit.targetLogit, accuracy: allowed, entry.layer)
    }
    XCTAssertEqual(audit.ruleShare, 0, accuracy: allowed)
    let attn = try model.explain(
      promptIds: prompt, request: .nextToken(target: nil, contrast: nil), method: .attnlrp, audit: true)
    let attnAudit = try XCTUnwrap(attn.steps[0].audit)
    XCTAssertGreaterThan(attnAudit.ruleShare, 0.2 * attnAudit.targetLogit, "AttnLRP keeps 30–75 % of f")
    // Plain gradients through the final RMSNorm: x/√(mean x² + eps) is scale-invariant up to
    // eps, so Σ x·∂f/∂x at its input is f·eps/(mean x² + eps) ≈ 1.5e-8·f here: rounding only.
    let plain = try model.explain(
      promptIds: prompt, request: .nextToken(target: nil, contrast: nil), method: .gradxinput, audit: true)
    let plainAudit = try XCTUnwrap(plain.steps[0].audit)
    let finalNorm = try XCTUnwrap(plainAudit.entries.first { $0.layer == "final_norm" })
    XCTAssertEqual(plainAudit.entries.last!.sumRelevance, plainAudit.targetLogit, accuracy: allowed)
    XCTAssertEqual(finalNorm.sumRelevance, 0, accuracy: allowed, "the final norm's plain gradient is orthogonal to x")
  }
}
