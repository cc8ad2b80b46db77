/// The architecture of a Hugging Face `ViTForImageClassification` (`config.json` with
/// `model_type: "vit"`).
public struct VisionConfig: Sendable, Equatable {
  /// Side of the (square) input image in pixels.
  public let imageSize: Int
  /// Side of a patch in pixels.
  public let patchSize: Int
  /// Colour channels of the input (1 gray, 3 RGB).
  public let channels: Int
  /// Width of an embedding.
  public let hiddenSize: Int
  /// Transformer blocks.
  public let layers: Int
  /// Attention heads.
  public let heads: Int
  /// Width of the feed-forward layer.
  public let intermediateSize: Int
  /// LayerNorm epsilon.
  public let layerNormEps: Float
  /// Whether query, key and value have biases.
  public let qkvBias: Bool
  /// Class names by index.
  public let labels: [String]

  /// Patches per side.
  public var patchesPerSide: Int { imageSize / patchSize }
  /// Patches of an image (positions besides [CLS]).
  public var patchCount: Int { patchesPerSide * patchesPerSide }
  /// Values of one flattened patch: channels × patch × patch.
  public var patchValues: Int { channels * patchSize * patchSize }

  /// Largest image side xai accepts in a config (the positions table grows with its square).
  public static let largestImageSize = 4096

  /// Reads a `config.json` object; `file` names it in errors.
  public init(json: JSONNode, file: String) throws {
    guard json.isObject else {
      throw ModelError.badConfig(file: file, key: "config", reason: "is not a JSON object")
    }
    guard let type = json["model_type"]?.string else {
      throw ModelError.badConfig(file: file, key: "model_type", reason: "is missing or not a string")
    }
    guard let kind = ModelKind(modelType: type) else {
      throw ModelError.unknownModelType(file: file, modelType: type)
    }
    guard kind == .imageClassifier else {
      throw ModelError.wrongModelKind(file: file, found: kind, modelType: type, expected: .imageClassifier)
    }
    func integer(_ key: String, default fallback: Int? = nil, limit: Int = TransformerConfig.largestExtent)
      throws
      -> Int
    {
      try json.positiveInteger([key], file: file, default: fallback, limit: limit)
    }
    imageSize = try integer("image_size", default: 224, limit: Self.largestImageSize)
    patchSize = try integer("patch_size", default: 16, limit: Self.largestImageSize)
    channels = try integer("num_channels", default: 3, limit: 3)
    guard channels != 2 else {
      throw ModelError.badConfig(
        file: file, key: "num_channels", reason: "is 2; xai reads gray (1) or RGB (3) models")
    }
    hiddenSize = try integer("hidden_size", default: 768)
    layers = try integer("num_hidden_layers", default: 12, limit: TransformerConfig.largestLayerCount)
    heads = try integer("num_attention_heads", default: 12, limit: 4096)
    intermediateSize = try integer("intermediate_size", default: 3072)
    guard imageSize % patchSize == 0 else {
      throw ModelError.badConfig(
        file: file, key: "patch_size", reason: "(\(patchSize)) does not divide image_size \(imageSize)")
    }
    guard hiddenSize % heads == 0 else {
      throw ModelError.badConfig(
        file: file, key: "num_attention_heads",
        reason: "(\(heads)) does not divide the hidden size \(hiddenSize)")
    }
    if let eps = json["layer_norm_eps"] {
      guard let value = eps.double, value > 0, value.isFinite else {
        throw ModelError.badConfig(file: file, key: "layer_norm_eps", reason: "must be a positive number")
      }
      layerNormEps = Float(value)
    } else {
      layerNormEps = 1e-12
    }
    let activation = json["hidden_act"]?.string ?? "gelu"
    guard activation == "gelu" else {
      throw ModelError.badConfig(
        file: file, key: "hidden_act",
        reason: "is '\(activation)'; xai implements the exact erf GELU ('gelu')")
    }
    qkvBias = json["qkv_bias"]?.bool ?? true
    labels = try TransformerConfig.labels(json: json, file: file)
  }
}

/// How an image becomes `pixel_values`, from a `preprocessor_config.json` (Hugging
/// Face's `ViTImageProcessor`; defaults as that class has them).
public struct ImagePreprocessing: Sendable {
  /// Resize to height × width (nil: keep the decoded size).
  public let size: (height: Int, width: Int)?
  /// Multiply 8-bit values by this (nil: no rescaling).
  public let rescaleFactor: Double?
  /// Per-channel mean and standard deviation (nil: no normalisation).
  public let mean: [Float]?
  /// Per-channel standard deviation.
  public let std: [Float]?
  /// Whether alpha is composited over white and gray or palette images become RGB
  /// (`do_convert_rgb`); without it, alpha is dropped.
  public let convertsToRGB: Bool

  /// The processor of a model without `preprocessor_config.json`: resize to the model's
  /// size, rescale by 1/255, normalise with mean 0.5 and std 0.5 per channel.
  public init(defaultFor config: VisionConfig) {
    size = (config.imageSize, config.imageSize)
    rescaleFactor = 1 / 255
    mean = Array(repeating: 0.5, count: config.channels)
    std = Array(repeating: 0.5, count: config.channels)
    convertsToRGB = false
  }

  /// Reads a `preprocessor_config.json` object for a model of `config`.
  public init(json: JSONNode, file: String, config: VisionConfig) throws {
    guard json.isObject else {
      throw ModelError.badConfig(file: file, key: "preprocessor", reason: "is not a JSON object")
    }
    if json["do_resize"]?.bool ?? true {
      let height: Int
      let width: Int
      if let node = json["size"], node.isObject {
        if let side = node["shortest_edge"] {
          throw ModelError.badConfig(
            file: file, key: "size.shortest_edge",
            reason: "is \(side.literal); xai resizes to a fixed height × width only")
        }
        height = try node.positiveInteger(["height"], file: file, limit: VisionConfig.largestImageSize)
        width = try node.positiveInteger(["width"], file: file, limit: VisionConfig.largestImageSize)
      } else if json["size"] != nil {
        let side = try json.positiveInteger(["size"], file: file, limit: VisionConfig.largestImageSize)
        (height, width) = (side, side)
      } else {
        (height, width) = (224, 224)
      }
      guard height == config.imageSize && width == config.imageSize else {
        throw ModelError.badConfig(
          file: file, key: "size",
          reason: "is \(height)×\(width) but the model reads \(config.imageSize)×\(config.imageSize) images")
      }
      if let resample = json["resample"], resample.int != 2 {
        throw ModelError.badConfig(
          file: file, key: "resample", reason: "is \(resample.literal); xai resizes with bilinear (2) only")
      }
      size = (height, width)
    } else {
      size = nil
    }
    if json["do_rescale"]?.bool ?? true {
      let factor = json["rescale_factor"].map { $0.double } ?? 1 / 255
      guard let factor, factor.isFinite, factor > 0 else {
        throw ModelError.badConfig(file: file, key: "rescale_factor", reason: "must be a positive number")
      }
      rescaleFactor = factor
    } else {
      rescaleFactor = nil
    }
    if json["do_normalize"]?.bool ?? true {
      func values(_ key: String, fallback: Float) throws -> [Float] {
        guard let node = json[key] else { return Array(repeating: fallback, count: config.channels) }
        let numbers = node.isArray ? node.elements.compactMap(\.double) : node.double.map { [$0] } ?? []
        guard !numbers.isEmpty, numbers.count == (node.isArray ? node.count : 1),
          numbers.allSatisfy({ $0.isFinite })
        else {
          throw ModelError.badConfig(file: file, key: key, reason: "is not a number or a list of numbers")
        }
        let expanded = numbers.count == 1 ? Array(repeating: numbers[0], count: config.channels) : numbers
        guard expanded.count == config.channels else {
          throw ModelError.badConfig(
            file: file, key: key, reason: "has \(numbers.count) values for \(config.channels) channels")
        }
        return expanded.map { Float($0) }
      }
      mean = try values("image_mean", fallback: 0.5)
      let deviations = try values("image_std", fallback: 0.5)
      guard deviations.allSatisfy({ $0 > 0 }) else {
        throw ModelError.badConfig(file: file, key: "image_std", reason: "must be positive")
      }
      std = deviations
    } else {
      (mean, std) = (nil, nil)
    }
    convertsToRGB = json["do_convert_rgb"]?.bool ?? false
  }
}
