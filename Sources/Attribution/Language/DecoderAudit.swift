import Models

// The relevance audit of a decoder target (`xai explain --audit` with a language model).
//
// DecoderExplainer runs one forward pass and then one backward pass per target over the
// same graph. The probe taps the residual stream at the input of every block
// (`layer.N.attention_norm`, the block's input, N = 0 being the embedding output e), after
// its attention (`layer.N.mlp_norm`), at the final norm's input (`final_norm`, the last
// block's output) and the final normalised hidden states at the positions the target reads
// (`head`), and makes every bias after the embedding (GPT-2's linear biases
// and LayerNorm β, Qwen2's q/k/v biases, Llama's attention_bias / mlp_bias) a leaf. Taps and
// bias leaves add up the gradients of every backward pass, so the probe is reset before each
// target's backward and read right after it: each audit sees its own target only.
//
// For a conservative rule set (`lrp`: every norm scale, attention probability, activation
// ratio and SwiGLU gate held constant) the rule-modified network is affine in e and the
// biases, so f = Σ_s R_s + Σ b·∂f/∂b, and every entry equals f minus the biases after it.
// `attnlrp` and `gradxinput` leave a rule share; so does the log-softmax of a `--span` target
// (f is a log-probability and the head entry is Σ z·∂f/∂z, its linearisation).

extension RelevanceAudit {
  /// The audit of the backward pass that `probe` has just seen, for a target of value
  /// `value` whose token relevance is `relevance`.
  init(reading probe: RelevanceProbe, relevance: [Float], value: Float) {
    self.init(
      entries: probe.sums.map { Entry(layer: $0.name, sumRelevance: $0.sum) }, biasShare: probe.biasShare,
      sumTokens: relevance.reduce(0, +), targetLogit: value)
  }
}
