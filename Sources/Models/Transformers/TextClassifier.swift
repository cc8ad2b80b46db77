import Tensor

/// Token sequences padded to one length, with their attention mask.
public struct TokenBatch: Sendable {
  /// Token ids, row-major [batch, length], padded with the model's pad id.
  public let ids: [Int]
  /// Segment ids (BERT token types), same layout; zeros unless given.
  public let tokenTypes: [Int]
  /// Number of sequences.
  public let batchSize: Int
  /// Padded length.
  public let length: Int
  /// Real length of each sequence.
  public let lengths: [Int]
  /// 1 for real tokens, 0 for padding, laid out [batch, 1, 1, length] for attention.
  public let keep: Tensor

  /// Pads `sequences` with `padId`.
  public init(_ sequences: [[Int]], tokenTypes: [[Int]]? = nil, padId: Int = 0) {
    batchSize = sequences.count
    length = sequences.map(\.count).max() ?? 0
    lengths = sequences.map(\.count)
    var ids: [Int] = []
    var types: [Int] = []
    var keep: [Float] = []
    for (row, sequence) in sequences.enumerated() {
      let padding = length - sequence.count
      ids += sequence + Array(repeating: padId, count: padding)
      types +=
        (tokenTypes?[row] ?? Array(repeating: 0, count: sequence.count))
        + Array(repeating: 0, count: padding)
      keep += Array(repeating: 1, count: sequence.count) + Array(repeating: 0, count: padding)
    }
    self.ids = ids
    self.tokenTypes = types
    self.keep = Tensor(shape: [batchSize, 1, 1, length], scalars: keep)
  }
}

/// A transformer sequence classifier split at the point where token relevance is
/// measured: the output of the embedding block (after its LayerNorm).
public protocol TextClassifier: Sendable {
  /// The architecture.
  var config: TransformerConfig { get }
  /// Embedding-block output [batch, length, hidden].
  func embed(_ batch: TokenBatch) -> Tensor
  /// Encoder output [batch, length, hidden] from embedding-block output.
  func encode(embeddings: Tensor, batch: TokenBatch, hooks: DetachmentHooks) -> Tensor
  /// Class logits [batch, classes] from encoder output; nil for an encoder without a head.
  func classify(hidden: Tensor, hooks: DetachmentHooks) -> Tensor?
}

extension TextClassifier {
  /// Whether the model has a classification head.
  public var hasClassifier: Bool { config.classCount > 0 }

  /// Logits [batch, classes] from embedding-block output.
  public func logits(embeddings: Tensor, batch: TokenBatch, hooks: DetachmentHooks = .none)
    -> Tensor
  {
    guard
      let logits = classify(hidden: encode(embeddings: embeddings, batch: batch, hooks: hooks), hooks: hooks)
    else { preconditionFailure("logits of a model without a classification head") }
    return logits
  }

  /// Logits [batch, classes] of a token batch.
  public func logits(_ batch: TokenBatch, hooks: DetachmentHooks = .none) -> Tensor {
    logits(embeddings: embed(batch), batch: batch, hooks: hooks)
  }

  /// Encoder output averaged over each sequence's real tokens [batch, hidden]
  /// (sentence-transformers' mean pooling).
  public func meanPooled(_ batch: TokenBatch) -> Tensor {
    let hidden = encode(embeddings: embed(batch), batch: batch, hooks: .none)
    let width = config.hiddenSize
    let keep = batch.keep.reshaped([batch.batchSize, batch.length, 1])
    let summed = (hidden * keep).sum(axis: 1)
    let counts = Tensor(shape: [batch.batchSize, 1], scalars: batch.lengths.map { Float(max($0, 1)) })
    return (summed / counts).reshaped([batch.batchSize, width])
  }
}
