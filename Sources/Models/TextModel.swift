import Foundation
import Tensor

/// A transformer classifier ready to run: weights, architecture and tokenizer.
public struct TextModel: Sendable {
  /// Display name (zoo name or file name).
  public let name: String
  /// Folder or JSON file it was loaded from.
  public let path: String
  /// The network.
  public let network: TextClassifier
  /// The tokenizer (nil for a JSON model that ships no vocabulary).
  public let tokenizer: WordPieceTokenizer?
  /// Tensors in the weight file that the architecture never reads (a wrong checkpoint
  /// or a missing prefix when not empty), sorted.
  public let unusedWeights: [String]

  /// The architecture.
  public var config: TransformerConfig { network.config }

  /// Loads a Hugging Face folder (`config.json`, `model.safetensors`, `vocab.txt` or
  /// `tokenizer.json`) or a JSON weight file.
  public static func load(path: String, name: String? = nil) throws -> TextModel {
    var isFolder: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
      throw ModelError.missingFile(path: path)
    }
    let displayName = name ?? URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
    if isFolder.boolValue {
      return try loadFolder(path, name: displayName)
    }
    return try loadJSON(path, name: displayName)
  }

  static func loadFolder(_ folder: String, name: String) throws -> TextModel {
    func file(_ name: String) -> String { (folder as NSString).appendingPathComponent(name) }
    guard FileManager.default.fileExists(atPath: file("config.json")) else {
      if FileManager.default.fileExists(atPath: file("model.json")) {
        return try loadJSON(file("model.json"), name: name)
      }
      throw ModelError.missingInFolder(folder: folder, file: "config.json")
    }
    let configDocument = try JSONDocument.read(file("config.json"))
    let config = try TransformerConfig(json: configDocument.rootNode, file: file("config.json"))
    guard FileManager.default.fileExists(atPath: file("model.safetensors")) else {
      throw ModelError.missingInFolder(folder: folder, file: "model.safetensors")
    }
    let store = try SafetensorsFile(path: file("model.safetensors"))
    let tokenizer = try folderTokenizer(folder)
    return try assemble(name: name, path: folder, config: config, store: store, tokenizer: tokenizer)
  }

  static func folderTokenizer(_ folder: String) throws -> WordPieceTokenizer {
    func file(_ name: String) -> String { (folder as NSString).appendingPathComponent(name) }
    var lowercase = true
    var stripAccents: Bool?
    if FileManager.default.fileExists(atPath: file("tokenizer_config.json")) {
      let settings = try JSONDocument.read(file("tokenizer_config.json")).rootNode
      lowercase = settings["do_lower_case"]?.bool ?? true
      stripAccents = settings["strip_accents"]?.bool
    }
    if FileManager.default.fileExists(atPath: file("vocab.txt")) {
      return try WordPieceTokenizer(
        vocabFile: file("vocab.txt"), lowercase: lowercase, stripAccents: stripAccents)
    }
    if FileManager.default.fileExists(atPath: file("tokenizer.json")) {
      return try WordPieceTokenizer(tokenizerJSON: file("tokenizer.json"))
    }
    throw ModelError.missingInFolder(folder: folder, file: "vocab.txt (or tokenizer.json)")
  }

  static func loadJSON(_ path: String, name: String) throws -> TextModel {
    try loadJSON(JSONWeights(path: path), name: name)
  }

  /// Builds the model from an already parsed JSON weight file.
  static func loadJSON(_ weights: JSONWeights, name: String) throws -> TextModel {
    let path = weights.path
    let config = try TransformerConfig(json: weights.config, file: path)
    var tokenizer: WordPieceTokenizer?
    if let vocab = weights.root["vocab"], vocab.isArray {
      let pieces = vocab.elements.compactMap(\.string)
      guard pieces.count == vocab.count else {
        throw ModelError.badConfig(file: path, key: "vocab", reason: "is not a list of strings")
      }
      tokenizer = try WordPieceTokenizer(
        vocabulary: pieces, lowercase: weights.config["do_lower_case"]?.bool ?? true, source: path)
    }
    return try assemble(name: name, path: path, config: config, store: weights, tokenizer: tokenizer)
  }

  static func assemble(
    name: String, path: String, config: TransformerConfig, store: WeightStore,
    tokenizer: WordPieceTokenizer?
  ) throws -> TextModel {
    if let tokenizer, tokenizer.vocabularySize > config.vocabSize {
      throw ModelError.badConfig(
        file: path, key: "vocab_size",
        reason: "is \(config.vocabSize) but the vocabulary has \(tokenizer.vocabularySize) pieces")
    }
    let root = WeightScope(store)
    let network =
      switch config.family {
      case .distilbert: try DistilBert.classifier(config: config, root: root)
      case .bert: try Bert.classifier(config: config, root: root)
      }
    store.keepConversions()
    // Buffers that Hugging Face itself skips on load, and the pooler of a bare encoder
    // (sentence-transformers pools the token states instead).
    let unused = root.unreadKeys { key in
      key.hasSuffix("position_ids") || key.hasSuffix("token_type_ids")
        || (!network.hasClassifier && key.split(separator: ".").contains("pooler"))
    }
    return TextModel(name: name, path: path, network: network, tokenizer: tokenizer, unusedWeights: unused)
  }

  /// Tokenizes `text` for this model (truncated to its positions).
  public func encode(_ text: String) throws -> EncodedText {
    guard let tokenizer else {
      throw ModelError.badInput("\(path): the model has no vocabulary, so it cannot read text.")
    }
    return tokenizer.encode(text, maxTokens: config.maxPositions)
  }

  /// Checks that every id is inside the embedding table.
  public func validate(ids: [Int]) throws {
    if let bad = ids.first(where: { $0 < 0 || $0 >= config.vocabSize }) {
      throw ModelError.badInput("token id \(bad) is outside the vocabulary of \(config.vocabSize).")
    }
    if ids.count > config.maxPositions {
      throw ModelError.badInput(
        "\(ids.count) tokens exceed the model's \(config.maxPositions) positions.")
    }
  }

  /// The embedding-block outputs of tokenized texts as one padded batch (no history),
  /// with the keep mask and, when asked, the baseline of path methods: `[PAD]` at every
  /// position except the special tokens (`[CLS]`, `[SEP]`).
  public func embedded(_ texts: [EncodedText], withBaseline: Bool) -> (
    embeddings: Tensor, keep: KeepMask, baseline: Tensor?
  ) {
    let padId = tokenizer?.padId ?? config.padTokenId
    let batch = TokenBatch(texts.map(\.ids), padId: padId)
    return withoutGrad {
      let baseline =
        withBaseline
        ? network.embed(
          TokenBatch(
            texts.map { text in zip(text.ids, text.tokens).map { $1.word == nil ? $0 : padId } }, padId: padId
          ))
        : nil
      return (network.embed(batch), batch.keep, baseline)
    }
  }
}
