import Foundation

/// A model of any kind, loaded once by the zoo from its configuration, with what it can do.
public enum LoadedModel: Sendable {
  /// A transformer classifier or sentence encoder reading text.
  case text(TextModel)
  /// A Vision Transformer reading images.
  case image(ImageModel)
  /// A graph neural network reading graphs.
  case graph(GraphNetwork)
  /// A decoder language model generating text.
  case language(LanguageModel)

  /// Which kind it is.
  public var kind: ModelKind {
    switch self {
    case .text: .textClassifier
    case .image: .imageClassifier
    case .graph: .graphNetwork
    case .language: .languageModel
    }
  }

  /// What relevance is reported over.
  public var units: UnitKind { kind.units }

  /// A text model without a classification head (it embeds text; BiLRP explains pairs).
  public var isSentenceEncoder: Bool {
    if case .text(let model) = self { return !model.network.hasClassifier }
    return false
  }

  /// Class names by index (empty for an encoder without a classifier).
  public var labels: [String] {
    switch self {
    case .text(let model): model.config.labels
    case .image(let model): model.labels
    case .graph(let network): network.labels
    case .language: []
    }
  }

  /// Tensors of the weight file the architecture never reads, sorted.
  public var unusedWeights: [String] {
    switch self {
    case .text(let model): model.unusedWeights
    case .image(let model): model.unusedWeights
    case .graph: []
    case .language(let model): model.unusedWeights
    }
  }

  /// `wrongModelKind` for a command that needs `expected`, naming `path`.
  public func wrongKind(path: String, expected: ModelKind) -> ModelError {
    .wrongModelKind(file: path, found: kind, modelType: architecture, expected: expected)
  }

  /// The architecture's name in messages: `distilbert`, `bert`, `ViT`, `graphnet`, `gcn`.
  public var architecture: String {
    switch self {
    case .text(let model): model.config.family.rawValue
    case .image: "ViT"
    case .graph(let network): network.architecture.rawValue
    case .language(let model): model.config.family.rawValue
    }
  }
}

extension ModelZoo {
  /// Resolves `nameOrPath` (nil: `defaultName`) and loads it as the kind its configuration
  /// names, reading each file once (a JSON weight file is parsed once for its type and its
  /// tensors). Returns the zoo name and path with the model.
  public static func load(_ nameOrPath: String?, defaultName: String = ModelZoo.defaultModel) throws -> (
    name: String, path: String, model: LoadedModel
  ) {
    let (name, path) = try resolve(nameOrPath ?? defaultName)
    var isFolder: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
      throw ModelError.missingFile(path: path)
    }
    if !isFolder.boolValue && path.lowercased().hasSuffix(".gguf") {
      return (name, path, .language(try LanguageModel.load(path: path, name: name)))
    }
    let configFile = (path as NSString).appendingPathComponent("config.json")
    if isFolder.boolValue && FileManager.default.fileExists(atPath: configFile) {
      let config = try JSONDocument.read(configFile).rootNode
      switch try kind(of: config, file: configFile) {
      case .textClassifier: return (name, path, .text(try TextModel.load(path: path, name: name)))
      case .imageClassifier: return (name, path, .image(try ImageModel.load(path: path, name: name)))
      case .languageModel: return (name, path, .language(try LanguageModel.load(path: path, name: name)))
      case .graphNetwork:
        throw ModelError.badConfig(
          file: configFile, key: "model_type",
          reason: "names a graph network, which xai reads from model.json")
      }
    }
    let file = weightFile(path)
    guard FileManager.default.fileExists(atPath: file) else {
      throw ModelError.missingInFolder(folder: path, file: "config.json (or model.json)")
    }
    let weights = try JSONWeights(document: JSONDocument.read(file))
    switch try kind(of: weights.config, file: file) {
    case .textClassifier: return (name, path, .text(try TextModel.loadJSON(weights, name: name)))
    case .graphNetwork: return (name, path, .graph(try GraphNetwork(config: weights.config, store: weights)))
    case let other:
      throw ModelError.badInput(
        "\(file): \(other.withArticle) is read from a Hugging Face folder (config.json, model.safetensors).")
    }
  }

  /// The kind a configuration's `model_type` names.
  static func kind(of config: JSONNode, file: String) throws -> ModelKind {
    guard let type = config["model_type"]?.string else {
      throw ModelError.badConfig(file: file, key: "model_type", reason: "is missing or not a string")
    }
    guard let kind = ModelKind(modelType: type) else {
      throw ModelError.unknownModelType(file: file, modelType: type)
    }
    return kind
  }
}
