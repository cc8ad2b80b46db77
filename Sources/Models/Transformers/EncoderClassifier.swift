import Tensor

/// Which positions of a padded batch hold real inputs (tokens, patches): each row's
/// first `lengths[row]` positions, the rest padding.
public struct KeepMask: Sendable {
  /// Real positions of each row.
  public let lengths: [Int]
  /// Padded length.
  public let length: Int
  /// 1 for a real position, 0 for padding, [batch, length].
  public let flags: Tensor

  /// The mask of rows with these real lengths, padded to `length` (default: the longest).
  public init(lengths: [Int], length: Int? = nil) {
    let padded = length ?? lengths.max() ?? 0
    precondition(lengths.allSatisfy { $0 <= padded }, "a row is longer than the padded length \(padded)")
    self.lengths = lengths
    self.length = padded
    var flags = [Float](repeating: 0, count: lengths.count * padded)
    for (row, count) in lengths.enumerated() {
      for column in 0..<count { flags[row * padded + column] = 1 }
    }
    self.flags = Tensor(shape: [lengths.count, padded], scalars: flags)
  }

  /// Number of rows.
  public var batchSize: Int { lengths.count }

  /// The rows `rows` (in that order, repeats allowed) as a new mask of the same length.
  public func rows(_ rows: [Int]) -> KeepMask {
    KeepMask(lengths: rows.map { lengths[$0] }, length: length)
  }
}

/// The part of a transformer classifier that every modality shares: an encoder of
/// embedding-block outputs and a classification head. Attribution methods see only
/// this; the front end (tokenizer and embeddings, or image patches) stays outside.
public protocol EncoderClassifier: Sendable {
  /// Class names by index (empty without a head).
  var labels: [String] { get }
  /// Width of an embedding.
  var hiddenSize: Int { get }
  /// The operations present in this network whose backward a rule can change.
  var ruleOperations: Set<RuleOperation> { get }
  /// Encoder output [batch, length, hidden] from embedding-block output under `pass`
  /// (its rules; its probe records every sublayer input and bias for the audit).
  func encode(embeddings: Tensor, keep: KeepMask, pass: ForwardPass) -> Tensor
  /// Class logits [batch, classes] from encoder output; nil for an encoder without a head.
  func classify(hidden: Tensor, pass: ForwardPass) -> Tensor?
}

extension EncoderClassifier {
  /// Whether the network has a classification head.
  public var hasClassifier: Bool { !labels.isEmpty }

  /// Logits [batch, classes] from embedding-block output (requires a head).
  public func logits(embeddings: Tensor, keep: KeepMask, pass: ForwardPass = .plain) -> Tensor {
    let hidden = encode(embeddings: embeddings, keep: keep, pass: pass)
    guard let logits = classify(hidden: hidden, pass: pass) else {
      preconditionFailure("logits of a network without a classification head")
    }
    return logits
  }

  /// Encoder output [batch, length, hidden] under `rules`, not audited.
  public func encode(embeddings: Tensor, keep: KeepMask, rules: PropagationRules) -> Tensor {
    encode(embeddings: embeddings, keep: keep, pass: ForwardPass(rules: rules))
  }

  /// Logits [batch, classes] under `rules`, not audited.
  public func logits(embeddings: Tensor, keep: KeepMask, rules: PropagationRules) -> Tensor {
    logits(embeddings: embeddings, keep: keep, pass: ForwardPass(rules: rules))
  }
}

/// How the head reads the encoder output.
enum ClassificationHead: Sendable {
  /// DistilBERT: first position → pre_classifier → ReLU → classifier.
  case preClassifier(Linear, classifier: Linear)
  /// BERT: first position → pooler dense → tanh → classifier.
  case pooler(Linear, classifier: Linear)
  /// ViT: final LayerNorm of the first position → classifier.
  case normalizedFirst(LayerNorm, classifier: Linear)
  /// No head: an encoder.
  case none
}

/// A stack of transformer blocks and a classification head.
public struct TransformerClassifier: EncoderClassifier {
  public let labels: [String]
  public let hiddenSize: Int
  let blocks: [any TransformerBlock]
  let head: ClassificationHead

  init(labels: [String], hiddenSize: Int, blocks: [any TransformerBlock], head: ClassificationHead) {
    self.labels = labels
    self.hiddenSize = hiddenSize
    self.blocks = blocks
    self.head = head
  }

  public var ruleOperations: Set<RuleOperation> {
    var operations: Set<RuleOperation> = [.layerNorm, .attention, .gelu]
    if case .pooler = head { operations.insert(.tanh) }
    return operations
  }

  public func encode(embeddings: Tensor, keep: KeepMask, pass: ForwardPass) -> Tensor {
    blocks.enumerated().reduce(embeddings) { x, item in
      item.element(x, keep: keep, pass: pass, name: "layer.\(item.offset)")
    }
  }

  /// The last layer's attention of the first position ([CLS]) over every position,
  /// averaged over heads, [batch][length] (a cheap non-gradient relevance). No history.
  public func lastLayerFirstPositionAttention(embeddings: Tensor, keep: KeepMask) -> [[Float]] {
    withoutGrad {
      guard let last = blocks.last else {
        return keep.lengths.map { Array(repeating: 1 / Float(max($0, 1)), count: keep.length) }
      }
      let input = blocks.dropLast().reduce(embeddings) { x, block in block(x, keep: keep, rules: .gradient) }
      return last.firstPositionAttention(input, keep: keep)
    }
  }

  public func classify(hidden: Tensor, pass: ForwardPass) -> Tensor? {
    let first = { pass.observe("head", hidden.select(axis: 1, 0)) }
    switch head {
    case .preClassifier(let preClassifier, let classifier):
      return classifier(pass.observe("classifier", preClassifier(first(), pass: pass).relu()), pass: pass)
    case .pooler(let dense, let classifier):
      let pooled = dense(first(), pass: pass).tanh(constantRatio: pass.rules.tanh == .constantRatio)
      return classifier(pass.observe("classifier", pooled), pass: pass)
    case .normalizedFirst(let norm, let classifier):
      return classifier(pass.observe("classifier", norm(first(), pass: pass)), pass: pass)
    case .none:
      return nil
    }
  }
}
