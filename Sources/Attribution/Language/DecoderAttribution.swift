import Foundation
import Models
import Tensor

/// What one backward pass of a decoder explains: a function of the logits.
public enum DecoderTarget: Sendable, Equatable {
  /// The logit of `token` at `position` (the prediction of position + 1).
  case logit(position: Int, token: Int)
  /// logit(token) − logit(contrast) at `position` ("why this rather than that").
  case contrast(position: Int, token: Int, contrast: Int)
  /// Σ log p(token | earlier) over the (position, token) pairs: a span of generated text.
  case logProbability([(position: Int, token: Int)])
  /// The logit of the model's own choice at `position` (its largest logit), or that minus
  /// the logit of `contrast`: resolved to `.logit` / `.contrast` from the explained forward
  /// pass itself, so that explaining the prediction costs no second forward pass.
  case predicted(position: Int, contrast: Int?)

  public static func == (a: DecoderTarget, b: DecoderTarget) -> Bool {
    switch (a, b) {
    case (.logit(let p, let t), .logit(let q, let u)): p == q && t == u
    case (.contrast(let p, let t, let c), .contrast(let q, let u, let d)): p == q && t == u && c == d
    case (.logProbability(let x), .logProbability(let y)): x.map(\.position) == y.map(\.position) && x.map(\.token) == y.map(\.token)
    case (.predicted(let p, let c), .predicted(let q, let d)): p == q && c == d
    default: false
    }
  }

  /// The (position, token) pairs whose probabilities the target is about.
  var pairs: [(position: Int, token: Int)] {
    switch self {
    case .logit(let position, let token), .contrast(let position, let token, _): [(position, token)]
    case .logProbability(let pairs): pairs
    case .predicted: []
    }
  }

  /// The positions whose logits the target reads.
  var positions: [Int] {
    switch self {
    case .logit(let position, _), .contrast(let position, _, _), .predicted(let position, _): [position]
    case .logProbability(let pairs): pairs.map(\.position)
    }
  }
}

/// Relevance of every earlier position for one target.
public struct DecoderAttribution: Sendable, Equatable {
  /// The target explained (`.predicted` resolved to the token chosen).
  public let target: DecoderTarget
  /// Its value f (a logit, a logit difference or a summed log-probability).
  public let value: Float
  /// R_s = Σ_d e_{s,d}·∂f/∂e_{s,d} for every position s of the sequence (0 after the last
  /// position the target reads: the model is causal).
  public let relevance: [Float]
  /// For Integrated Gradients: f at the baseline (completeness: Σ R = f − f(baseline)).
  public var baselineValue: Float? = nil
  /// p(token | earlier) of each token the target reads, from the same forward pass.
  public var probabilities: [Float] = []
  /// Σ h·∂f/∂h at every sublayer input and the bias share, from this target's backward
  /// pass (when audited; DecoderAudit.swift).
  public var audit: RelevanceAudit? = nil

  /// Σ_s R_s against f.
  public var conservation: Conservation {
    Conservation(sumRelevance: relevance.reduce(0, +), targetLogit: value, baselineLogit: baselineValue)
  }
}

/// Gradient×Input attribution of decoder predictions under a rule set: one forward pass
/// over the whole sequence (teacher-forced, causal), then one backward pass per target.
public struct DecoderExplainer: Sendable {
  public let network: DecoderNetwork

  public init(network: DecoderNetwork) { self.network = network }

  /// The rules of a method for decoders: `lrp` is CP-LRP (attention probabilities, norm
  /// scales and activation ratios constant, SwiGLU's gate constant), `attnlrp` AttnLRP
  /// (scales and activation ratios constant, the uniform rule on attention's two products
  /// and on SwiGLU's product), `gradxinput` the plain gradient.
  public static func rules(for kind: MethodKind) -> PropagationRules? {
    switch kind {
    case .gradxinput:
      return .gradient
    case .lrp:
      var rules = PropagationRules(
        attention: .constantProbabilities, layerNorm: .constantSigma, gelu: .constantPhi, tanh: .constantRatio)
      rules.gatedProduct = .constantGate
      return rules
    case .attnlrp:
      var rules = PropagationRules(
        attention: .uniformSplit, layerNorm: .constantSigma, gelu: .constantPhi, tanh: .constantRatio)
      rules.gatedProduct = .uniformSplit
      return rules
    case .gradient, .integratedGradients, .occlusion, .featureAblation, .shapley, .kernelShap, .lime:
      return nil
    }
  }

  /// Integrated Gradients on the straight path from the embeddings of `baselineToken`
  /// repeated at every position (a neutral token; GPT-2's position embeddings stay on the
  /// path's ends alike) to the sequence's embeddings:
  /// R_s = Σ_d (e − b)_{s,d}·Σ_k w_k ∂f/∂e_{s,d}(b + α_k(e − b)), one forward and one backward
  /// per path point and target. Completeness: Σ R ≈ f(e) − f(b). (The zero embedding is no
  /// baseline for these models: RMSNorm makes f jump within α ≈ √eps/rms(e) of it, where no
  /// quadrature of a few dozen points converges.)
  public func integratedGradients(
    ids: [Int], targets: [DecoderTarget], nodes: [PathIntegral.Node], baselineToken: Int
  ) -> [DecoderAttribution] {
    let embedded = withoutGrad { network.embed(ids) }
    let baseline = withoutGrad { network.embed([Int](repeating: baselineToken, count: ids.count)) }
    let difference = withoutGrad { embedded - baseline }
    let width = network.config.hiddenSize
    let delta = difference.scalars
    let full = attribute(embedded: embedded, targets: targets, rules: .gradient)
    // The prediction at the input is explained along the whole path.
    let targets = full.map(\.attribution.target)
    let base = attribute(embedded: baseline, targets: targets, rules: .gradient)
    var averaged = [[Double]](repeating: [Double](repeating: 0, count: embedded.count), count: targets.count)
    for node in nodes {
      let point = withoutGrad { baseline + difference * Float(node.alpha) }
      for (index, result) in attribute(embedded: point, targets: targets, rules: .gradient, keepGradient: true).enumerated() {
        for (i, g) in result.gradient.enumerated() { averaged[index][i] += node.weight * Double(g) }
      }
    }
    return targets.indices.map { index in
      let relevance = (0..<ids.count).map { s in
        Float((0..<width).reduce(0.0) { $0 + Double(delta[s * width + $1]) * averaged[index][s * width + $1] })
      }
      var result = DecoderAttribution(target: targets[index], value: full[index].attribution.value, relevance: relevance)
      result.baselineValue = base[index].attribution.value
      result.probabilities = full[index].attribution.probabilities
      return result
    }
  }

  /// Relevance of every position of `ids` for each target, under `rules`; with `audit`,
  /// each target's relevance audit too.
  public func attribute(ids: [Int], targets: [DecoderTarget], rules: PropagationRules, audit: Bool = false)
    -> [DecoderAttribution]
  {
    let embedded = withoutGrad { network.embed(ids) }
    return attribute(embedded: embedded, targets: targets, rules: rules, audit: audit).map(\.attribution)
  }

  /// The attribution of embedded positions [T, hidden], with ∂f/∂e when asked.
  func attribute(
    embedded: Tensor, targets: [DecoderTarget], rules: PropagationRules, keepGradient: Bool = false, audit: Bool = false
  ) -> [(
    attribution: DecoderAttribution, gradient: [Float]
  )] {
    let length = embedded.shape[0]
    precondition(length > 0 && length <= network.config.maxPositions, "sequence of \(length) tokens")
    guard !targets.isEmpty else { return [] }
    let positions = Array(Set(targets.flatMap(\.positions))).sorted()
    precondition(positions.allSatisfy { $0 >= 0 && $0 < length }, "target positions outside the sequence")
    let row = Dictionary(uniqueKeysWithValues: positions.enumerated().map { ($1, $0) })
    let leaf = embedded.requiringGrad()
    let probe = audit ? RelevanceProbe() : nil
    let pass = ForwardPass(rules: rules, probe: probe)
    // Only the rows from the first position read on leave the last block.
    let kept = length - positions[0]
    let hidden = network.hidden(embedded: leaf, pass: pass, lastRows: kept)
    let logits = network.projectToVocabulary(hidden.gatherRows(positions.map { $0 - positions[0] }), pass: pass)
    let vocabulary = network.config.vocabSize
    let values = logits.scalars
    let width = network.config.hiddenSize
    /// log softmax of logits row `row` at `token`, in Double.
    func logProbability(_ row: Int, _ token: Int) -> Double {
      let slice = values[(row * vocabulary)..<((row + 1) * vocabulary)]
      let largest = slice.max() ?? 0
      let total = slice.reduce(0.0) { $0 + Foundation.exp(Double($1 - largest)) }
      return Double(values[row * vocabulary + token] - largest) - Foundation.log(total)
    }
    return targets.map { given in
      var seed = [Float](repeating: 0, count: positions.count * vocabulary)
      var value: Float = 0
      var target = given
      if case .predicted(let position, let contrast) = given {
        let base = row[position]! * vocabulary
        var best = 0
        for offset in 1..<vocabulary where values[base + offset] > values[base + best] { best = offset }
        target = contrast.map { .contrast(position: position, token: best, contrast: $0) } ?? .logit(position: position, token: best)
      }
      switch target {
      case .logit(let position, let token):
        seed[row[position]! * vocabulary + token] = 1
        value = values[row[position]! * vocabulary + token]
      case .contrast(let position, let token, let contrast):
        let base = row[position]! * vocabulary
        seed[base + token] += 1
        seed[base + contrast] -= 1
        value = values[base + token] - values[base + contrast]
      case .logProbability(let pairs):
        // ∂ log softmax(z)_t / ∂z = onehot(t) − softmax(z).
        for (position, token) in pairs {
          let base = row[position]! * vocabulary
          let logP = logProbability(row[position]!, token)
          // log Σ exp z = z_token − log p(token).
          let logNormalizer = Double(values[base + token]) - logP
          for offset in 0..<vocabulary {
            seed[base + offset] -= Float(Foundation.exp(Double(values[base + offset]) - logNormalizer))
          }
          seed[base + token] += 1
          value += Float(logP)
        }
      case .predicted: preconditionFailure("resolved above")
      }
      leaf.zeroGrad()
      probe?.reset()
      logits.backward(seed: Tensor(shape: logits.shape, scalars: seed))
      let gradient = leaf.grad?.scalars ?? [Float](repeating: 0, count: embedded.count)
      let input = embedded.scalars
      let relevance = (0..<length).map { s in
        (0..<width).reduce(Float(0)) { $0 + input[s * width + $1] * gradient[s * width + $1] }
      }
      var attribution = DecoderAttribution(target: target, value: value, relevance: relevance)
      attribution.probabilities = target.pairs.map { Float(Foundation.exp(logProbability(row[$0.position]!, $0.token))) }
      attribution.audit = probe.map { RelevanceAudit(reading: $0, relevance: relevance, value: value) }
      return (attribution, keepGradient ? gradient : [])
    }
  }
}
