import Foundation

/// Architecture of a decoder language model (GPT-2, Llama, Qwen2), read from a Hugging
/// Face `config.json` or from a GGUF file's metadata. Every field that changes the
/// computation is read; one xai does not implement is refused by name.
public struct DecoderConfig: Sendable, Equatable {
  /// The decoder families xai runs.
  public enum Family: String, Sendable, CaseIterable {
    case gpt2, llama, qwen2
  }

  /// The feed-forward nonlinearity.
  public enum Activation: String, Sendable, Equatable {
    /// x·σ(x) inside SwiGLU (Llama, Qwen2).
    case silu
    /// The tanh form of GELU (GPT-2's `gelu_new`).
    case geluTanh = "gelu_tanh"
    /// The exact erf GELU.
    case gelu
  }

  /// Llama 3's frequency-dependent stretching of RoPE (`rope_scaling.rope_type = llama3`).
  public struct Llama3Scaling: Sendable, Equatable {
    public var factor: Double
    public var lowFrequencyFactor: Double
    public var highFrequencyFactor: Double
    public var originalContext: Double
  }

  public var family: Family
  public var vocabSize: Int
  public var hiddenSize: Int
  public var layers: Int
  public var heads: Int
  /// Key/value heads (grouped-query attention when fewer than `heads`).
  public var keyValueHeads: Int
  /// Width of one head.
  public var headWidth: Int
  public var intermediateSize: Int
  /// Longest sequence (prompt and continuation) in tokens.
  public var maxPositions: Int
  public var normEps: Float
  public var activation: Activation
  /// RoPE base (Llama, Qwen2; unused by GPT-2).
  public var ropeTheta: Double
  public var ropeScaling: Llama3Scaling?
  /// Whether the output head is the token embedding.
  public var tiedHead: Bool
  /// Biases on the query, key and value projections.
  public var qkvBias: Bool
  /// Bias on the attention output projection.
  public var outputBias: Bool
  /// Biases in the feed-forward projections.
  public var mlpBias: Bool
  public var bosTokenId: Int?
  public var eosTokenIds: [Int]

  /// Most blocks, heads and extents a configuration may ask for (checked before use).
  public static let largestLayerCount = 1024
  public static let largestExtent = 1 << 24

  /// A configuration given in code (tests).
  public init(
    family: Family, vocabSize: Int, hiddenSize: Int, layers: Int, heads: Int, keyValueHeads: Int,
    intermediateSize: Int, maxPositions: Int, normEps: Float = 1e-5, ropeTheta: Double = 10_000,
    tiedHead: Bool = true, qkvBias: Bool = false
  ) {
    self.family = family
    self.vocabSize = vocabSize
    self.hiddenSize = hiddenSize
    self.layers = layers
    self.heads = heads
    self.keyValueHeads = keyValueHeads
    self.headWidth = hiddenSize / heads
    self.intermediateSize = intermediateSize
    self.maxPositions = maxPositions
    self.normEps = normEps
    self.activation = family == .gpt2 ? .geluTanh : .silu
    self.ropeTheta = ropeTheta
    self.tiedHead = tiedHead
    self.qkvBias = qkvBias || family == .gpt2
    self.outputBias = family == .gpt2
    self.mlpBias = family == .gpt2
    self.eosTokenIds = []
  }

  /// The d/2 inverse frequencies of RoPE, computed in float32 as Hugging Face computes
  /// them (`1 / θ^(2i/d)`), then stretched by the Llama 3 scaling when configured.
  public var ropeFrequencies: [Float] {
    let half = headWidth / 2
    var frequencies = (0..<half).map { i -> Float in
      1 / Foundation.pow(Float(ropeTheta), Float(2 * i) / Float(headWidth))
    }
    guard let scaling = ropeScaling else { return frequencies }
    let factor = Float(scaling.factor)
    let (low, high) = (Float(scaling.lowFrequencyFactor), Float(scaling.highFrequencyFactor))
    let context = Float(scaling.originalContext)
    let lowWavelength = context / low
    let highWavelength = context / high
    for i in frequencies.indices {
      let frequency = frequencies[i]
      let wavelength = 2 * Float.pi / frequency
      if wavelength > lowWavelength {
        frequencies[i] = frequency / factor
      } else if wavelength >= highWavelength {
        let smooth = (context / wavelength - low) / (high - low)
        frequencies[i] = (1 - smooth) * frequency / factor + smooth * frequency
      }
    }
    return frequencies
  }

  /// Checks the relations between the sizes (`file` names the source in messages).
  func validated(file: String, key: (String) -> String) throws -> DecoderConfig {
    func refuse(_ field: String, _ reason: String) -> ModelError {
      .badConfig(file: file, key: key(field), reason: reason)
    }
    guard heads % keyValueHeads == 0 else {
      throw refuse("num_key_value_heads", "(\(keyValueHeads)) does not divide the \(heads) attention heads")
    }
    guard family == .gpt2 || headWidth % 2 == 0 else {
      throw refuse("head_dim", "(\(headWidth)) must be even for rotary embeddings")
    }
    guard family != .gpt2 || headWidth * heads == hiddenSize else {
      throw refuse("n_head", "(\(heads)) does not divide the width \(hiddenSize)")
    }
    guard headWidth > 0, headWidth * heads <= Self.largestExtent else {
      throw refuse("head_dim", "(\(headWidth)) with \(heads) heads is out of range")
    }
    if let bad = eosTokenIds.first(where: { $0 < 0 || $0 >= vocabSize }) {
      throw refuse("eos_token_id", "(\(bad)) is outside the vocabulary of \(vocabSize)")
    }
    if let bos = bosTokenId, bos < 0 || bos >= vocabSize {
      throw refuse("bos_token_id", "(\(bos)) is outside the vocabulary of \(vocabSize)")
    }
    return self
  }
}

// MARK: - Hugging Face config.json

extension DecoderConfig {
  /// Reads a Hugging Face `config.json` of a GPT-2, Llama or Qwen2 causal language model.
  public init(json: JSONNode, file: String) throws {
    guard json.isObject else {
      throw ModelError.badConfig(file: file, key: "config", reason: "is not a JSON object")
    }
    guard let type = json["model_type"]?.string else {
      throw ModelError.badConfig(file: file, key: "model_type", reason: "is missing or not a string")
    }
    guard let family = Family(rawValue: type) else {
      if let kind = ModelKind(modelType: type) {
        throw ModelError.wrongModelKind(file: file, found: kind, modelType: type, expected: .languageModel)
      }
      throw ModelError.unknownModelType(file: file, modelType: type)
    }
    func refuse(_ key: String, _ reason: String) -> ModelError { .badConfig(file: file, key: key, reason: reason) }
    func integer(_ keys: String..., default fallback: Int? = nil, limit: Int = Self.largestExtent) throws -> Int {
      try json.positiveInteger(keys, file: file, default: fallback, limit: limit)
    }
    func present(_ key: String) -> JSONNode? {
      guard let node = json[key], !node.isNull else { return nil }
      return node
    }
    func flag(_ key: String, default fallback: Bool) throws -> Bool {
      guard let node = present(key) else { return fallback }
      guard let value = node.bool else { throw refuse(key, "must be true or false") }
      return value
    }
    func number(_ node: JSONNode?, _ key: String, default fallback: Double) throws -> Double {
      guard let node, !node.isNull else { return fallback }
      guard let value = node.double, value.isFinite, value > 0 else { throw refuse(key, "must be a positive number") }
      return value
    }
    func ids(_ key: String) throws -> [Int] {
      guard let node = present(key) else { return [] }
      if let single = node.int { return [single] }
      guard node.isArray else { throw refuse(key, "must be a token id or a list of ids") }
      return try node.elements.map {
        guard let id = $0.int else { throw refuse(key, "must be a token id or a list of ids") }
        return id
      }
    }

    self.family = family
    vocabSize = try integer("vocab_size")
    switch family {
    case .gpt2:
      hiddenSize = try integer("n_embd", "hidden_size")
      layers = try integer("n_layer", "num_hidden_layers", limit: Self.largestLayerCount)
      heads = try integer("n_head", "num_attention_heads", limit: 4096)
      keyValueHeads = heads
      headWidth = hiddenSize / heads
      intermediateSize = present("n_inner") == nil ? 4 * hiddenSize : try integer("n_inner")
      maxPositions = try integer("n_positions", "max_position_embeddings", default: 1024)
      normEps = Float(try number(json["layer_norm_epsilon"], "layer_norm_epsilon", default: 1e-5))
      let name = present("activation_function")?.string ?? "gelu_new"
      switch name {
      case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": activation = .geluTanh
      case "gelu": activation = .gelu
      default: throw refuse("activation_function", "is '\(name)'; xai implements gelu_new and gelu")
      }
      ropeTheta = 0
      ropeScaling = nil
      qkvBias = true
      outputBias = true
      mlpBias = true
      guard try flag("scale_attn_weights", default: true) else {
        throw refuse("scale_attn_weights", "is false; xai scales attention by 1/√d as GPT-2 does")
      }
      if try flag("scale_attn_by_inverse_layer_idx", default: false) {
        throw refuse("scale_attn_by_inverse_layer_idx", "is true; xai does not implement it")
      }
      tiedHead = try flag("tie_word_embeddings", default: true)
    case .llama, .qwen2:
      hiddenSize = try integer("hidden_size")
      layers = try integer("num_hidden_layers", limit: Self.largestLayerCount)
      heads = try integer("num_attention_heads", limit: 4096)
      keyValueHeads = try integer("num_key_value_heads", default: heads, limit: 4096)
      headWidth = present("head_dim") == nil ? hiddenSize / heads : try integer("head_dim", limit: 65536)
      if present("head_dim") == nil, hiddenSize % heads != 0 {
        throw refuse("num_attention_heads", "(\(heads)) does not divide the hidden size \(hiddenSize)")
      }
      intermediateSize = try integer("intermediate_size")
      maxPositions = try integer("max_position_embeddings", default: 2048)
      normEps = Float(try number(json["rms_norm_eps"], "rms_norm_eps", default: 1e-6))
      let name = present("hidden_act")?.string ?? "silu"
      guard name == "silu" else { throw refuse("hidden_act", "is '\(name)'; xai implements SwiGLU with silu") }
      activation = .silu
      if let tp = present("pretraining_tp"), tp.int != 1 {
        throw refuse("pretraining_tp", "is \(tp.literal); xai reads models with 1")
      }
      let rope = try Self.rope(json: json, file: file)
      ropeTheta = rope.theta
      ropeScaling = rope.scaling
      if family == .llama {
        let bias = try flag("attention_bias", default: false)
        qkvBias = bias
        outputBias = bias
        mlpBias = try flag("mlp_bias", default: false)
      } else {
        qkvBias = true
        outputBias = false
        mlpBias = false
        if try flag("use_sliding_window", default: false) {
          throw refuse("use_sliding_window", "is true; xai does not implement sliding-window attention")
        }
        if let types = present("layer_types"), types.isArray,
          let other = types.elements.compactMap(\.string).first(where: { $0 != "full_attention" })
        {
          throw refuse("layer_types", "has '\(other)' layers; xai implements full attention only")
        }
      }
      tiedHead = try flag("tie_word_embeddings", default: family == .qwen2)
    }
    for key in ["attn_logit_softcapping", "final_logit_softcapping"] where present(key) != nil {
      throw refuse(key, "is set; xai does not implement logit soft-capping")
    }
    if let factor = present("partial_rotary_factor"), factor.double != 1 {
      throw refuse("partial_rotary_factor", "is \(factor.literal); xai rotates whole heads")
    }
    bosTokenId = try ids("bos_token_id").first
    eosTokenIds = try ids("eos_token_id")
    self = try validated(file: file) { $0 }
  }

  /// θ and the scaling from `rope_theta`/`rope_scaling` (transformers 4) or
  /// `rope_parameters` (transformers 5).
  static func rope(json: JSONNode, file: String) throws -> (theta: Double, scaling: Llama3Scaling?) {
    func refuse(_ key: String, _ reason: String) -> ModelError { .badConfig(file: file, key: key, reason: reason) }
    let parameters = json["rope_parameters"].flatMap { $0.isObject ? $0 : nil }
    let scalingNode = json["rope_scaling"].flatMap { $0.isObject ? $0 : nil } ?? parameters
    let prefix = json["rope_scaling"]?.isObject == true ? "rope_scaling" : "rope_parameters"
    let thetaNode = json["rope_theta"].flatMap { $0.isNull ? nil : $0 } ?? parameters?["rope_theta"]
    var theta = 10_000.0
    if let thetaNode {
      guard let value = thetaNode.double, value.isFinite, value > 1 else {
        throw refuse("rope_theta", "must be a number above 1")
      }
      theta = value
    }
    guard let scalingNode else { return (theta, nil) }
    let type = scalingNode["rope_type"]?.string ?? scalingNode["type"]?.string ?? "default"
    switch type {
    case "default": return (theta, nil)
    case "llama3":
      func value(_ key: String) throws -> Double {
        guard let number = scalingNode[key]?.double, number.isFinite, number > 0 else {
          throw refuse("\(prefix).\(key)", "must be a positive number for llama3 scaling")
        }
        return number
      }
      let scaling = Llama3Scaling(
        factor: try value("factor"), lowFrequencyFactor: try value("low_freq_factor"),
        highFrequencyFactor: try value("high_freq_factor"),
        originalContext: try value("original_max_position_embeddings"))
      guard scaling.highFrequencyFactor > scaling.lowFrequencyFactor else {
        throw refuse("\(prefix).high_freq_factor", "must exceed low_freq_factor")
      }
      return (theta, scaling)
    default:
      throw refuse("\(prefix).rope_type", "is '\(type)'; xai implements default and llama3 RoPE")
    }
  }
}

// MARK: - GGUF metadata

extension DecoderConfig {
  /// Reads the architecture from GGUF metadata (`general.architecture` and its keys).
  public init(gguf: GGUFFile) throws {
    let file = gguf.path
    guard let architecture = gguf.string("general.architecture") else {
      throw ModelError.malformedGGUF(file: file, reason: "metadata key 'general.architecture' is missing")
    }
    guard let family = Family(rawValue: architecture) else {
      throw ModelError.badConfig(
        file: file, key: "general.architecture",
        reason: "is '\(architecture)'; xai runs \(Family.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    func refuse(_ key: String, _ reason: String) -> ModelError { .badConfig(file: file, key: key, reason: reason) }
    func integer(_ key: String, default fallback: Int? = nil, limit: Int = Self.largestExtent) throws -> Int {
      let full = "\(architecture).\(key)"
      guard let value = gguf.value(full) else {
        if let fallback { return fallback }
        throw refuse(full, "is missing")
      }
      guard let number = value.int, number > 0 else { throw refuse(full, "must be a positive integer") }
      guard number <= limit else { throw refuse(full, "is \(number); xai reads models with at most \(limit)") }
      return number
    }
    func real(_ key: String, default fallback: Double) throws -> Double {
      let full = "\(architecture).\(key)"
      guard let value = gguf.value(full) else { return fallback }
      guard let number = value.double, number.isFinite, number > 0 else {
        throw refuse(full, "must be a positive number")
      }
      return number
    }
    self.family = family
    hiddenSize = try integer("embedding_length")
    layers = try integer("block_count", limit: Self.largestLayerCount)
    heads = try integer("attention.head_count", limit: 4096)
    keyValueHeads = try integer("attention.head_count_kv", default: heads, limit: 4096)
    let keyWidth = gguf.value("\(architecture).attention.key_length") == nil ? nil : try integer("attention.key_length")
    headWidth = keyWidth ?? hiddenSize / heads
    if keyWidth == nil, hiddenSize % heads != 0 {
      throw refuse("\(architecture).attention.head_count", "(\(heads)) does not divide the width \(hiddenSize)")
    }
    intermediateSize = try integer("feed_forward_length")
    maxPositions = try integer("context_length", default: 2048)
    let tokens = gguf.tensorInfos.first { $0.name == "token_embd.weight" }
    let vocabularyFromTensor = tokens.flatMap { $0.shape.count == 2 ? $0.shape[0] : nil }
    vocabSize = try integer("vocab_size", default: vocabularyFromTensor ?? 0)
    switch family {
    case .gpt2:
      normEps = Float(try real("attention.layer_norm_epsilon", default: 1e-5))
      activation = .geluTanh
      ropeTheta = 0
      qkvBias = true
      outputBias = true
      mlpBias = true
    case .llama, .qwen2:
      normEps = Float(try real("attention.layer_norm_rms_epsilon", default: 1e-6))
      activation = .silu
      ropeTheta = try real("rope.freq_base", default: 10_000)
      qkvBias = family == .qwen2 || gguf.info("blk.0.attn_q.bias") != nil
      outputBias = gguf.info("blk.0.attn_output.bias") != nil
      mlpBias = gguf.info("blk.0.ffn_up.bias") != nil
      if let dimensions = gguf.value("\(architecture).rope.dimension_count") {
        guard dimensions.int == headWidth else {
          throw refuse("\(architecture).rope.dimension_count", "is \(dimensions.int ?? -1); xai rotates whole heads of \(headWidth)")
        }
      }
      if let type = gguf.string("\(architecture).rope.scaling.type"), type != "none" {
        throw refuse("\(architecture).rope.scaling.type", "is '\(type)'; xai implements unscaled and llama3 RoPE")
      }
      if gguf.value("\(architecture).attention.sliding_window") != nil {
        throw refuse("\(architecture).attention.sliding_window", "is set; xai does not implement sliding-window attention")
      }
    }
    ropeScaling = nil  // Llama 3 scaling arrives as the `rope_freqs.weight` factors (see DecoderLoading).
    tiedHead = gguf.info("output.weight") == nil
    bosTokenId = gguf.int("tokenizer.ggml.bos_token_id")
    eosTokenIds = [gguf.int("tokenizer.ggml.eos_token_id"), gguf.int("tokenizer.ggml.eot_token_id")]
      .compactMap { $0 }
    guard vocabSize > 0 else { throw refuse("\(architecture).vocab_size", "is missing and token_embd.weight is absent") }
    self = try validated(file: file) { "\(architecture).\($0)" }
    eosTokenIds = Array(Set(eosTokenIds)).sorted()
  }
}
