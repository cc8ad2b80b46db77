import Models
import Tensor

/// One way of attributing a class logit to the tokens of a text.
///
/// A method receives the embedding-block output e [1, T, D] of one text and
/// returns one relevance per token; it never reaches into the model's layers
/// (the detachment hooks are a value it hands to the forward pass).
public protocol TextAttributionMethod: Sendable {
  /// Name as the command line and the JSON output spell it.
  var name: String { get }
  /// Detachment hooks active in the forward pass this method differentiates.
  var hooks: DetachmentHooks { get }
  /// Relevance of each token of `input` for the logit of `target`.
  func attribute(model: any TextClassifier, input: TextInput, target: Int) -> TokenAttribution
}

/// One tokenized text as the methods see it.
public struct TextInput: Sendable {
  /// The tokens as a batch of one.
  public let batch: TokenBatch
  /// Embedding-block output e [1, T, D] (no history).
  public let embeddings: Tensor
  /// Id of `[PAD]`, for baselines.
  public let padId: Int
  /// Positions of `[CLS]`/`[SEP]`, kept in baselines.
  public let isSpecial: [Bool]

  /// Embeds `ids` once (no history) for the methods to differentiate from.
  public init(model: any TextClassifier, ids: [Int], padId: Int, isSpecial: [Bool]) {
    let batch = TokenBatch([ids], padId: padId)
    self.batch = batch
    embeddings = withoutGrad { model.embed(batch) }
    self.padId = padId
    self.isSpecial = isSpecial
  }
}

/// What a method computed for one text.
public struct TokenAttribution: Sendable {
  /// One relevance per token.
  public var relevance: [Float]
  /// For path methods: the target logit at the baseline.
  public var baselineLogit: Float?

  /// A result with an optional baseline logit (path methods).
  public init(relevance: [Float], baselineLogit: Float? = nil) {
    self.relevance = relevance
    self.baselineLogit = baselineLogit
  }
}

/// ∂ logit_target / ∂ e for a batch of embeddings [B, T, D] (same target in every row),
/// with the given hooks; returns the gradient and the logits.
func targetGradient(
  model: any TextClassifier, embeddings: Tensor, batch: TokenBatch, target: Int,
  hooks: DetachmentHooks
) -> (gradient: Tensor, logits: Tensor) {
  let leaf = embeddings.detach().requiringGrad()
  let logits = model.logits(embeddings: leaf, batch: batch, hooks: hooks)
  let classes = logits.shape[1]
  var seed = [Float](repeating: 0, count: logits.count)
  for row in 0..<logits.shape[0] { seed[row * classes + target] = 1 }
  logits.backward(seed: Tensor(shape: logits.shape, scalars: seed))
  return (leaf.grad ?? Tensor.zeros(embeddings.shape), logits.detach())
}

/// Σ_d a_{t,d}·b_{t,d} for each token t of [1, T, D] tensors.
func tokenDot(_ a: Tensor, _ b: Tensor) -> [Float] {
  (a * b).sum(axis: -1).scalars
}
