import Foundation
import Tensor

/// An image given to a model: its file, the model input and what it looked like.
public struct PreparedImage: Sendable {
  /// Where it came from (for messages and reports).
  public let source: String
  /// The model input [C, H, W] (normalised).
  public let pixelValues: [Float]
  /// The converted and resized 8-bit image the input was computed from.
  public let shown: DecodedImage

  /// An image prepared elsewhere (values [C, H, W] for the model's size).
  public init(source: String, pixelValues: [Float], shown: DecodedImage) {
    self.source = source
    self.pixelValues = pixelValues
    self.shown = shown
  }
}

/// A Vision Transformer classifier ready to run: architecture, preprocessing, weights.
public struct ImageModel: Sendable {
  /// Display name (zoo name or folder name).
  public let name: String
  /// Folder it was loaded from.
  public let path: String
  /// The architecture.
  public let config: VisionConfig
  /// How images become pixel values.
  public let preprocessing: ImagePreprocessing
  /// Pixels → embedding-block output.
  public let frontEnd: PatchEmbedder
  /// Embedding-block output → logits.
  public let body: TransformerClassifier
  /// Tensors in the weight file that the architecture never reads, sorted.
  public let unusedWeights: [String]

  /// Class names by index.
  public var labels: [String] { body.labels }

  /// Loads an unmodified Hugging Face folder: `config.json` (`model_type: "vit"`),
  /// `model.safetensors` and, when present, `preprocessor_config.json`.
  public static func load(path: String, name: String? = nil) throws -> ImageModel {
    var isFolder: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
      throw ModelError.missingFile(path: path)
    }
    guard isFolder.boolValue else {
      throw ModelError.badInput(
        "\(path): an image model is a Hugging Face folder (config.json, model.safetensors).")
    }
    func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }
    for required in ["config.json", "model.safetensors"]
    where !FileManager.default.fileExists(atPath: file(required)) {
      throw ModelError.missingInFolder(folder: path, file: required)
    }
    let config = try VisionConfig(
      json: JSONDocument.read(file("config.json")).rootNode, file: file("config.json"))
    let preprocessing =
      FileManager.default.fileExists(atPath: file("preprocessor_config.json"))
      ? try ImagePreprocessing(
        json: JSONDocument.read(file("preprocessor_config.json")).rootNode,
        file: file("preprocessor_config.json"),
        config: config)
      : ImagePreprocessing(defaultFor: config)
    let root = WeightScope(try SafetensorsFile(path: file("model.safetensors")))
    let (frontEnd, body) = try VisionTransformer.network(config: config, root: root)
    return ImageModel(
      name: name ?? URL(fileURLWithPath: path).lastPathComponent, path: path, config: config,
      preprocessing: preprocessing, frontEnd: frontEnd, body: body, unusedWeights: root.unreadKeys())
  }

  /// Reads, converts, resizes and normalises the image file at `path`.
  public func prepare(file path: String) throws -> PreparedImage {
    try prepare(DecodedImage.read(path), source: path)
  }

  /// Converts, resizes and normalises a decoded image.
  public func prepare(_ image: DecodedImage, source: String) throws -> PreparedImage {
    let (values, shown) = preprocessing.pixelValues(image, channels: config.channels)
    guard shown.width == config.imageSize && shown.height == config.imageSize else {
      throw ModelError.badInput(
        "\(source) is \(shown.width)×\(shown.height) pixels and the model's preprocessor does not resize; the model reads \(config.imageSize)×\(config.imageSize)."
      )
    }
    return PreparedImage(source: source, pixelValues: values, shown: shown)
  }

  /// The model input of a black image (every sample 0 before normalisation) [C, H, W]:
  /// the baseline of path methods.
  public var blackImage: [Float] {
    let count = config.imageSize * config.imageSize
    return (0..<config.channels).flatMap {
      Array(repeating: preprocessing.blackValue(channel: $0), count: count)
    }
  }

  /// Pixel values [B, C, H, W] of images.
  public func pixelTensor(_ images: [[Float]]) -> Tensor {
    let size = config.imageSize
    return Tensor(shape: [images.count, config.channels, size, size], scalars: images.flatMap { $0 })
  }

  /// Embedding-block outputs [B, N + 1, D] of images (no history), their keep mask
  /// (every position real) and, when asked, the baseline of path methods: the
  /// embedding of a black image.
  public func embedded(_ images: [PreparedImage], withBaseline: Bool) -> (
    embeddings: Tensor, keep: KeepMask, baseline: Tensor?
  ) {
    withoutGrad {
      let embeddings = frontEnd.embed(pixelTensor(images.map(\.pixelValues)))
      let baseline =
        withBaseline ? frontEnd.embed(pixelTensor(Array(repeating: blackImage, count: images.count))) : nil
      return (
        embeddings, KeepMask(lengths: Array(repeating: config.patchCount + 1, count: images.count)), baseline
      )
    }
  }

  /// Logits [B, classes] of images.
  public func logits(_ images: [PreparedImage]) -> Tensor {
    let batch = embedded(images, withBaseline: false)
    return withoutGrad { body.logits(embeddings: batch.embeddings, keep: batch.keep) }
  }
}
