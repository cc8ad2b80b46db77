import Foundation
import Tensor

/// The baseline image of path methods (Integrated Gradients).
public enum ImageBaseline: String, Sendable, CaseIterable {
  /// Every sample 0 before normalisation.
  case black
  /// Each channel at the image's mean.
  case mean
  /// The image blurred with a Gaussian of σ = side / 4 pixels (the shape is gone).
  case blur
}

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
    let store = try SafetensorsFile(path: file("model.safetensors"))
    let root = WeightScope(store)
    let (frontEnd, body) = try VisionTransformer.network(config: config, root: root)
    store.keepConversions()
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

  /// The baseline of path methods for `image` [C, H, W].
  public func baselineValues(for image: PreparedImage, kind: ImageBaseline) -> [Float] {
    let count = config.imageSize * config.imageSize
    switch kind {
    case .black:
      return blackImage
    case .mean:
      return (0..<config.channels).flatMap { channel in
        let values = image.pixelValues[(channel * count)..<((channel + 1) * count)]
        return Array(repeating: values.reduce(0, +) / Float(count), count: count)
      }
    case .blur:
      return gaussianBlur(image.pixelValues, sigma: max(1, Float(config.imageSize) / 4))
    }
  }

  /// Each channel of `values` [C, H, W] blurred with a Gaussian of `sigma` pixels
  /// (separable, radius 3σ, edges clamped).
  func gaussianBlur(_ values: [Float], sigma: Float) -> [Float] {
    let size = config.imageSize
    let radius = Int((3 * sigma).rounded(.up))
    var kernel = (-radius...radius).map { Foundation.exp(-Float($0 * $0) / (2 * sigma * sigma)) }
    let total = kernel.reduce(0, +)
    kernel = kernel.map { $0 / total }
    var out = values
    var pass = values
    for channel in 0..<config.channels {
      let base = channel * size * size
      for horizontal in [true, false] {
        for y in 0..<size {
          for x in 0..<size {
            var sum: Float = 0
            for (offset, weight) in kernel.enumerated() {
              let shift = offset - radius
              let (sy, sx) =
                horizontal ? (y, min(max(x + shift, 0), size - 1)) : (min(max(y + shift, 0), size - 1), x)
              sum += weight * pass[base + sy * size + sx]
            }
            out[base + y * size + x] = sum
          }
        }
        pass = out
      }
    }
    return out
  }

  /// Embedding-block outputs [B, N + 1, D] of images (no history), their keep mask
  /// (every position real) and, when given, the embeddings of each image's baseline
  /// values [C, H, W] (the input of path methods; see `baselineValues`).
  public func embedded(_ images: [PreparedImage], baselines: [[Float]]?) -> (
    embeddings: Tensor, keep: KeepMask, baseline: Tensor?
  ) {
    withoutGrad {
      (
        frontEnd.embed(pixelTensor(images.map(\.pixelValues))),
        KeepMask(lengths: Array(repeating: config.patchCount + 1, count: images.count)),
        baselines.map { frontEnd.embed(pixelTensor($0)) }
      )
    }
  }

  /// Logits [B, classes] of images.
  public func logits(_ images: [PreparedImage]) -> Tensor {
    let batch = embedded(images, baselines: nil)
    return withoutGrad { body.logits(embeddings: batch.embeddings, keep: batch.keep) }
  }
}
