import Tensor

/// Token sequences padded to one length, with their keep mask.
public struct TokenBatch: Sendable {
  /// Token ids, row-major [batch, length], padded with the model's pad id.
  public let ids: [Int]
  /// Segment ids (BERT token types), same layout; zeros unless given.
  public let tokenTypes: [Int]
  /// Which positions are real tokens.
  public let keep: KeepMask

  /// Number of sequences.
  public var batchSize: Int { keep.batchSize }
  /// Padded length.
  public var length: Int { keep.length }
  /// Real length of each sequence.
  public var lengths: [Int] { keep.lengths }

  /// Pads `sequences` with `padId`.
  public init(_ sequences: [[Int]], tokenTypes: [[Int]]? = nil, padId: Int = 0) {
    keep = KeepMask(lengths: sequences.map(\.count))
    var ids: [Int] = []
    var types: [Int] = []
    ids.reserveCapacity(sequences.count * keep.length)
    for (row, sequence) in sequences.enumerated() {
      let padding = keep.length - sequence.count
      ids += sequence + Array(repeating: padId, count: padding)
      types +=
        (tokenTypes?[row] ?? Array(repeating: 0, count: sequence.count))
        + Array(repeating: 0, count: padding)
    }
    self.ids = ids
    self.tokenTypes = types
  }
}

/// A text front end: token ids to the embedding-block output (after its LayerNorm),
/// where token relevance is measured.
public protocol TokenEmbedder: Sendable {
  /// Embedding-block output [batch, length, hidden].
  func embed(_ batch: TokenBatch) -> Tensor
}

/// A transformer sequence classifier split where token relevance is measured:
/// the text front end, then the modality-neutral encoder and head.
public struct TextClassifier: Sendable {
  /// The architecture (labels as the weights have them).
  public let config: TransformerConfig
  /// Tokens → embedding-block output.
  public let frontEnd: any TokenEmbedder
  /// Embedding-block output → logits.
  public let body: TransformerClassifier

  /// Whether the model has a classification head.
  public var hasClassifier: Bool { body.hasClassifier }

  /// Embedding-block output [batch, length, hidden] of a token batch.
  public func embed(_ batch: TokenBatch) -> Tensor { frontEnd.embed(batch) }

  /// Logits [batch, classes] of a token batch.
  public func logits(_ batch: TokenBatch, rules: PropagationRules = .gradient) -> Tensor {
    body.logits(embeddings: embed(batch), keep: batch.keep, rules: rules)
  }

  /// Encoder output averaged over each sequence's real tokens [batch, hidden]
  /// (sentence-transformers' mean pooling).
  public func meanPooled(_ batch: TokenBatch) -> Tensor {
    let hidden = body.encode(embeddings: embed(batch), keep: batch.keep, pass: .plain)
    let keep = batch.keep.flags.reshaped([batch.batchSize, batch.length, 1])
    let summed = (hidden * keep).sum(axis: 1)
    let counts = Tensor(shape: [batch.batchSize, 1], scalars: batch.lengths.map { Float(max($0, 1)) })
    return (summed / counts).reshaped([batch.batchSize, config.hiddenSize])
  }
}

extension TextClassifier {
  /// A classifier from its front end, blocks and head (labels and width from `config`).
  init(
    config: TransformerConfig, frontEnd: any TokenEmbedder, blocks: [any TransformerBlock],
    head: ClassificationHead
  ) {
    self.init(
      config: config, frontEnd: frontEnd,
      body: TransformerClassifier(
        labels: config.labels, hiddenSize: config.hiddenSize, blocks: blocks, head: head))
  }
}

/// A transformer family (DistilBERT, BERT): how its checkpoint names its parts.
public protocol TransformerFamily {
  /// The classifier whose weights are under `root`, verifying every name and shape.
  static func classifier(config: TransformerConfig, root: WeightScope) throws -> TextClassifier
}

extension TransformerFamily {
  /// The classifier of these weights (no tokenizer), verifying every name and shape.
  public static func classifier(config: TransformerConfig, store: WeightStore) throws -> TextClassifier {
    try classifier(config: config, root: WeightScope(store))
  }
}
