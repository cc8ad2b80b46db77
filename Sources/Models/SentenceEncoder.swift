import Foundation
import Tensor

/// A text encoder read as sentence-transformers reads it: the transformer without a
/// classification head, mean pooling over the real tokens, and the L2 normalisation when
/// the folder's `modules.json` lists a `Normalize` module.
public struct SentenceEncoder: Sendable {
  /// The encoder (no classification head) and its tokenizer.
  public let model: TextModel
  /// Whether sentence-transformers normalises the pooled embedding (`Normalize` module).
  public let normalizes: Bool
  /// Most tokens a text keeps (`max_seq_length` of `sentence_bert_config.json`, else the
  /// model's positions); longer texts are cut, as sentence-transformers cuts them.
  public let maxTokens: Int

  /// The encoder of `model`, configured from the sentence-transformers files of its folder
  /// (`modules.json`, `1_Pooling/config.json`, `sentence_bert_config.json`), when present.
  /// A model with a classification head, or a pooling other than the mean, is refused.
  public init(_ model: TextModel) throws {
    guard !model.network.hasClassifier else {
      throw ModelError.badInput(
        "\(model.path): \(model.name) is a \(model.config.family.rawValue) sequence classifier (labels \(model.config.labels.joined(separator: ", "))), not a sentence encoder; give a sentence-transformers folder such as all-minilm-l6-v2."
      )
    }
    self.model = model
    var normalizes = false
    var maxTokens = model.config.maxPositions
    var isFolder: ObjCBool = false
    if FileManager.default.fileExists(atPath: model.path, isDirectory: &isFolder), isFolder.boolValue {
      func file(_ name: String) -> String { (model.path as NSString).appendingPathComponent(name) }
      var poolingFolder = "1_Pooling"
      if FileManager.default.fileExists(atPath: file("modules.json")) {
        let modules = try JSONDocument.read(file("modules.json")).rootNode
        guard modules.isArray else {
          throw ModelError.badConfig(file: file("modules.json"), key: "modules", reason: "is not a list")
        }
        for module in modules.elements {
          let type = module["type"]?.string ?? ""
          if type.hasSuffix(".Normalize") { normalizes = true }
          if type.hasSuffix(".Pooling"), let path = module["path"]?.string { poolingFolder = path }
          let known = [".Transformer", ".Pooling", ".Normalize"]
          if !type.isEmpty && !known.contains(where: type.hasSuffix) {
            throw ModelError.badConfig(
              file: file("modules.json"), key: "type",
              reason: "lists '\(type)'; xai reads Transformer, Pooling (mean) and Normalize modules")
          }
        }
      }
      let pooling = file("\(poolingFolder)/config.json")
      if FileManager.default.fileExists(atPath: pooling) {
        let settings = try JSONDocument.read(pooling).rootNode
        for key in [
          "pooling_mode_cls_token", "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens",
          "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken",
        ] where settings[key]?.bool == true {
          throw ModelError.badConfig(
            file: pooling, key: key, reason: "is true; xai explains mean pooling (pooling_mode_mean_tokens) only")
        }
        if settings["pooling_mode_mean_tokens"]?.bool == false {
          throw ModelError.badConfig(
            file: pooling, key: "pooling_mode_mean_tokens", reason: "is false; xai explains mean pooling only")
        }
      }
      if FileManager.default.fileExists(atPath: file("sentence_bert_config.json")) {
        let settings = try JSONDocument.read(file("sentence_bert_config.json")).rootNode
        if let length = settings["max_seq_length"]?.int {
          guard length >= 2 else {
            throw ModelError.badConfig(
              file: file("sentence_bert_config.json"), key: "max_seq_length", reason: "is \(length); it must be at least 2")
          }
          maxTokens = min(length, maxTokens)
        }
      }
    }
    self.normalizes = normalizes
    self.maxTokens = maxTokens
  }

  /// The model's name.
  public var name: String { model.name }

  /// Width of an embedding.
  public var width: Int { model.config.hiddenSize }

  /// Tokenizes `text` (cut to `maxTokens`); an empty text is refused.
  public func encode(_ text: String) throws -> EncodedText {
    guard let tokenizer = model.tokenizer else {
      throw ModelError.badInput("\(model.path): the model has no vocabulary, so it cannot read text.")
    }
    let encoded = tokenizer.encode(text, maxTokens: maxTokens)
    guard encoded.tokens.contains(where: { $0.word != nil }) else {
      throw ModelError.badInput("the text is empty (no token besides [CLS] and [SEP]).")
    }
    return encoded
  }

  /// Mean-pooled encoder output of each text [batch, hidden], normalised when the model
  /// normalises: what sentence-transformers' `encode` returns. No history.
  public func embeddings(_ texts: [EncodedText]) -> Tensor {
    withoutGrad {
      let pooled = model.network.meanPooled(TokenBatch(texts.map(\.ids), padId: model.tokenizer?.padId ?? 0))
      guard normalizes else { return pooled }
      let width = self.width
      var values = pooled.scalars
      for row in 0..<texts.count {
        let slice = values[(row * width)..<((row + 1) * width)]
        let norm = max(slice.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-12)
        for column in 0..<width { values[row * width + column] /= norm }
      }
      return Tensor(shape: pooled.shape, scalars: values)
    }
  }
}
