import Foundation
import Tensor

/// A decoder language model ready to run: network, tokenizer and chat template.
public struct LanguageModel: Sendable {
  /// Display name (zoo name or file name).
  public let name: String
  /// Folder or GGUF file it was loaded from.
  public let path: String
  /// The network.
  public let network: DecoderNetwork
  /// The tokenizer (nil when the folder has none: ids only).
  public let tokenizer: BPETokenizer?
  /// The chat template, when the model has one xai renders.
  public let chatTemplate: ChatTemplate?
  /// Why the model's chat template cannot be used, when it has one xai does not render.
  public let chatTemplateProblem: ModelError?
  /// Tensors of the weight file the architecture never reads, sorted.
  public let unusedWeights: [String]
  /// How the weights are stored, for reports: `safetensors F32`, `GGUF Q4_1 (210), F32 (61)`…
  public let storage: String

  /// The architecture.
  public var config: DecoderConfig { network.config }

  /// Loads a Hugging Face folder (`config.json`, `model.safetensors` or a sharded
  /// checkpoint, `tokenizer.json` or `vocab.json` + `merges.txt`, `tokenizer_config.json`)
  /// or a GGUF file.
  /// With `dequantize`, GGUF blocks are converted to float32 at load (the reference path of
  /// the tests); by default they are multiplied from directly.
  public static func load(path: String, name: String? = nil, dequantize: Bool = false) throws -> LanguageModel {
    var isFolder: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
      throw ModelError.missingFile(path: path)
    }
    let displayName = name ?? URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
    return isFolder.boolValue ? try loadFolder(path, name: displayName) : try loadGGUF(path, name: displayName, dequantize: dequantize)
  }

  static func loadFolder(_ folder: String, name: String) throws -> LanguageModel {
    func file(_ name: String) -> String { (folder as NSString).appendingPathComponent(name) }
    let configPath = file("config.json")
    guard FileManager.default.fileExists(atPath: configPath) else {
      throw ModelError.missingInFolder(folder: folder, file: "config.json")
    }
    let config = try DecoderConfig(json: JSONDocument.read(configPath).rootNode, file: configPath)
    let store: WeightStore
    if FileManager.default.fileExists(atPath: file("model.safetensors")) {
      store = try SafetensorsFile(path: file("model.safetensors"))
    } else if FileManager.default.fileExists(atPath: file("model.safetensors.index.json")) {
      store = try ShardedSafetensors(indexPath: file("model.safetensors.index.json"))
    } else {
      throw ModelError.missingInFolder(folder: folder, file: "model.safetensors (or model.safetensors.index.json)")
    }
    let (network, unused) = try DecoderNetwork.huggingFace(config: config, store: store)
    store.keepConversions()
    var tokenizer: BPETokenizer?
    if FileManager.default.fileExists(atPath: file("tokenizer.json")) {
      tokenizer = try BPETokenizer(tokenizerJSON: file("tokenizer.json"))
    } else if FileManager.default.fileExists(atPath: file("vocab.json")),
      FileManager.default.fileExists(atPath: file("merges.txt"))
    {
      tokenizer = try BPETokenizer(vocabJSON: file("vocab.json"), mergesTXT: file("merges.txt"))
    }
    var template: ChatTemplate?
    var problem: ModelError?
    do { template = try ChatTemplate.load(folder: folder) } catch let error as ModelError { problem = error }
    var eos = config.eosTokenIds
    let generationConfig = file("generation_config.json")
    if FileManager.default.fileExists(atPath: generationConfig),
      let node = try JSONDocument.read(generationConfig).rootNode["eos_token_id"]
    {
      let ids = node.int.map { [$0] } ?? node.elements.compactMap(\.int)
      eos = Array(Set(eos + ids.filter { (0..<config.vocabSize).contains($0) })).sorted()
    }
    var adjusted = network
    adjusted.config.eosTokenIds = eos
    let dtypes = Set(store.names.compactMap { (store as? SafetensorsFile)?.entries[$0]?.dtype })
    return try LanguageModel(
      name: name, path: folder, network: adjusted, tokenizer: tokenizer, chatTemplate: template,
      chatTemplateProblem: problem, unusedWeights: unused,
      storage: "safetensors" + (dtypes.isEmpty ? "" : " " + dtypes.sorted().joined(separator: ", "))
    ).checked()
  }

  static func loadGGUF(_ path: String, name: String, dequantize: Bool) throws -> LanguageModel {
    let file = try GGUFFile(path: path)
    let config = try DecoderConfig(gguf: file)
    let (network, unused) = try DecoderNetwork.gguf(config: config, file: file, keepBlocks: !dequantize)
    var tokenizer: BPETokenizer?
    var template: ChatTemplate?
    var problem: ModelError?
    if let metadata = GGUFTokenizerMetadata(file: file) {
      tokenizer = try BPETokenizer(gguf: metadata, source: path)
      if let text = metadata.chatTemplate {
        do { template = try ChatTemplate(template: text, source: path) } catch let error as ModelError { problem = error }
      }
    }
    var counts: [String: Int] = [:]
    for info in file.tensorInfos { counts[GGMLType.dtypeName(info.type.rawValue).replacingOccurrences(of: GGMLType.dtypePrefix, with: ""), default: 0] += 1 }
    let storage = "GGUF " + counts.sorted { $0.value > $1.value }.map { "\($0.key) (\($0.value))" }.joined(separator: ", ")
    return try LanguageModel(
      name: name, path: path, network: network, tokenizer: tokenizer, chatTemplate: template,
      chatTemplateProblem: problem, unusedWeights: unused, storage: storage
    ).checked()
  }

  /// Refuses a tokenizer with more ids than the embedding has rows.
  func checked() throws -> LanguageModel {
    if let tokenizer, tokenizer.idCount > config.vocabSize {
      throw ModelError.badConfig(
        file: path, key: "vocab_size",
        reason: "is \(config.vocabSize) but the tokenizer has \(tokenizer.idCount) ids")
    }
    return self
  }

  /// Token ids of `text` as the model reads it (special tokens the tokenizer adds included).
  public func encode(_ text: String, addSpecialTokens: Bool = true) throws -> [Int] {
    guard let tokenizer else {
      throw ModelError.badInput("\(path): the model has no tokenizer, so it cannot read text.")
    }
    return tokenizer.encode(text, addSpecialTokens: addSpecialTokens)
  }

  /// The prompt of a conversation, formatted with the model's chat template.
  public func chatPrompt(_ messages: [ChatMessage]) throws -> String {
    guard let chatTemplate else {
      if let chatTemplateProblem { throw chatTemplateProblem }
      throw ModelError.badInput("\(path): the model has no chat template; leave out --chat.")
    }
    return chatTemplate.render(messages, addGenerationPrompt: true)
  }

  /// Checks that every id is inside the embedding table and the sequence fits the positions.
  public func validate(ids: [Int], reserving extra: Int = 0) throws {
    if let bad = ids.first(where: { $0 < 0 || $0 >= config.vocabSize }) {
      throw ModelError.badInput("token id \(bad) is outside the vocabulary of \(config.vocabSize).")
    }
    guard !ids.isEmpty else { throw ModelError.badInput("the prompt is empty (no tokens).") }
    if ids.count > config.maxPositions - extra {
      throw ModelError.badInput(
        "the prompt has \(ids.count) tokens; the model reads \(config.maxPositions) positions"
          + (extra > 0 ? ", so a prompt may have at most \(config.maxPositions - extra) (the continuation needs room)." : "."))
    }
  }
}
