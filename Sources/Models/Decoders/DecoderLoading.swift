import Foundation
import Tensor

/// The safetensors files of a sharded checkpoint (`model.safetensors.index.json`) as one store.
final class ShardedSafetensors: WeightStore, @unchecked Sendable {
  let path: String
  private let shards: [String: SafetensorsFile]
  private let fileOf: [String: String]

  /// Reads the index at `indexPath` and opens every shard it names (each once).
  init(indexPath: String) throws {
    path = indexPath
    let root = try JSONDocument.read(indexPath).rootNode
    guard let map = root["weight_map"], map.isObject else {
      throw ModelError.badConfig(file: indexPath, key: "weight_map", reason: "is missing or not an object")
    }
    let folder = (indexPath as NSString).deletingLastPathComponent
    var fileOf: [String: String] = [:]
    var shards: [String: SafetensorsFile] = [:]
    for name in map.keys {
      guard let file = map[name]?.string, !file.contains("/"), !file.hasPrefix(".") else {
        throw ModelError.badConfig(
          file: indexPath, key: "weight_map.\(name)", reason: "is not a file name in the model folder")
      }
      fileOf[name] = file
      if shards[file] == nil {
        shards[file] = try SafetensorsFile(path: (folder as NSString).appendingPathComponent(file))
      }
      guard shards[file]!.entries[name] != nil else {
        throw ModelError.badConfig(
          file: indexPath, key: "weight_map.\(name)", reason: "names \(file), which has no such tensor")
      }
    }
    self.shards = shards
    self.fileOf = fileOf
  }

  var names: [String] { fileOf.keys.sorted() }

  func tensor(_ name: String) throws -> Tensor? {
    guard let file = fileOf[name] else { return nil }
    return try shards[file]!.tensor(name)
  }

  func finiteTensor(_ name: String) throws -> Tensor? {
    guard let file = fileOf[name] else { return nil }
    return try shards[file]!.finiteTensor(name)
  }

  func keepConversions() {
    for shard in shards.values { shard.keepConversions() }
  }
}

extension DecoderNetwork {
  /// The network of a Hugging Face checkpoint (`transformer.h.N…` for GPT-2,
  /// `model.layers.N…` for Llama and Qwen2); returns the tensors it never read.
  static func huggingFace(config: DecoderConfig, store: WeightStore) throws -> (DecoderNetwork, unused: [String]) {
    let root = WeightScope(store)
    let d = config.hiddenSize
    let attentionWidth = config.heads * config.headWidth
    let keyWidth = config.keyValueHeads * config.headWidth
    func dense(_ scope: WeightScope, _ name: String, rows: Int, columns: Int) throws -> WeightMatrix {
      WeightMatrix(dense: try scope.parameter(name, shape: [rows, columns]))
    }
    var blocks: [DecoderBlock] = []
    let network: DecoderNetwork
    switch config.family {
    case .gpt2:
      let base = store.names.contains("transformer.wte.weight") ? root.child("transformer") : root
      for index in 0..<config.layers {
        let layer = base.child("h").child(String(index))
        let attention = layer.child("attn")
        let fused = try attention.child("c_attn").parameter("weight", shape: [d, 3 * d]).transposed(0, 1)
        let fusedBias = try attention.child("c_attn").parameter("bias", shape: [3 * d])
        func part(_ i: Int) -> Projection {
          Projection(
            weight: WeightMatrix(dense: fused.slice(axis: 0, (i * d)..<((i + 1) * d))),
            bias: fusedBias.slice(axis: 0, (i * d)..<((i + 1) * d)))
        }
        func conv(_ scope: WeightScope, in inputs: Int, out outputs: Int) throws -> Projection {
          Projection(
            weight: WeightMatrix(dense: try scope.parameter("weight", shape: [inputs, outputs]).transposed(0, 1)),
            bias: try scope.parameter("bias", shape: [outputs]))
        }
        blocks.append(
          DecoderBlock(
            attentionNorm: .layer(try LayerNorm(layer.child("ln_1"), width: d, eps: config.normEps)),
            query: part(0), key: part(1), value: part(2),
            output: try conv(attention.child("c_proj"), in: d, out: d),
            mlpNorm: .layer(try LayerNorm(layer.child("ln_2"), width: d, eps: config.normEps)),
            gate: nil, up: try conv(layer.child("mlp").child("c_fc"), in: d, out: config.intermediateSize),
            down: try conv(layer.child("mlp").child("c_proj"), in: config.intermediateSize, out: d)))
      }
      let embedding = try dense(base.child("wte"), "weight", rows: config.vocabSize, columns: d)
      network = DecoderNetwork(
        config: config, embedding: embedding,
        positions: try base.child("wpe").parameter("weight", shape: [config.maxPositions, d]), blocks: blocks,
        finalNorm: .layer(try LayerNorm(base.child("ln_f"), width: d, eps: config.normEps)),
        head: config.tiedHead ? embedding : try dense(root.child("lm_head"), "weight", rows: config.vocabSize, columns: d),
        ropeFrequencies: [])
    case .llama, .qwen2:
      let model = root.child("model")
      func projection(_ scope: WeightScope, rows: Int, columns: Int, bias: Bool) throws -> Projection {
        Projection(
          weight: try dense(scope, "weight", rows: rows, columns: columns),
          bias: bias ? try scope.parameter("bias", shape: [rows]) : nil)
      }
      for index in 0..<config.layers {
        let layer = model.child("layers").child(String(index))
        let attention = layer.child("self_attn")
        let mlp = layer.child("mlp")
        blocks.append(
          DecoderBlock(
            attentionNorm: .rms(
              weight: try layer.child("input_layernorm").parameter("weight", shape: [d]), eps: config.normEps),
            query: try projection(attention.child("q_proj"), rows: attentionWidth, columns: d, bias: config.qkvBias),
            key: try projection(attention.child("k_proj"), rows: keyWidth, columns: d, bias: config.qkvBias),
            value: try projection(attention.child("v_proj"), rows: keyWidth, columns: d, bias: config.qkvBias),
            output: try projection(attention.child("o_proj"), rows: d, columns: attentionWidth, bias: config.outputBias),
            mlpNorm: .rms(
              weight: try layer.child("post_attention_layernorm").parameter("weight", shape: [d]), eps: config.normEps),
            gate: try projection(mlp.child("gate_proj"), rows: config.intermediateSize, columns: d, bias: config.mlpBias),
            up: try projection(mlp.child("up_proj"), rows: config.intermediateSize, columns: d, bias: config.mlpBias),
            down: try projection(mlp.child("down_proj"), rows: d, columns: config.intermediateSize, bias: config.mlpBias)))
      }
      let embedding = try dense(model.child("embed_tokens"), "weight", rows: config.vocabSize, columns: d)
      let untiedHead = store.names.contains("lm_head.weight") && !config.tiedHead
      network = DecoderNetwork(
        config: config, embedding: embedding, positions: nil, blocks: blocks,
        finalNorm: .rms(weight: try model.child("norm").parameter("weight", shape: [d]), eps: config.normEps),
        head: untiedHead || !config.tiedHead
          ? try dense(root.child("lm_head"), "weight", rows: config.vocabSize, columns: d) : embedding,
        ropeFrequencies: config.ropeFrequencies)
    }
    // Buffers Hugging Face itself skips (GPT-2's causal-mask buffers, rotary caches) and
    // the copy of a tied head some checkpoints keep.
    let unused = root.unreadKeys { key in
      key.hasSuffix(".attn.bias") || key.hasSuffix(".attn.masked_bias") || key.hasSuffix("rotary_emb.inv_freq")
        || (config.tiedHead && key == "lm_head.weight")
    }
    return (network, unused)
  }
}

extension DecoderNetwork {
  /// The network of a GGUF file with llama.cpp's tensor names. Llama's query and key rows
  /// are stored permuted for llama.cpp's interleaved RoPE and are put back in Hugging
  /// Face's order; Llama 3 scaling arrives as `rope_freqs.weight`, per-frequency divisors.
  static func gguf(config: DecoderConfig, file: GGUFFile, keepBlocks: Bool = true) throws -> (
    DecoderNetwork, unused: [String]
  ) {
    var read = Set<String>()
    let d = config.hiddenSize
    let attentionWidth = config.heads * config.headWidth
    let keyWidth = config.keyValueHeads * config.headWidth
    func tensor(_ name: String, shape: [Int]) throws -> Tensor {
      read.insert(name)
      guard let info = file.info(name) else { throw ModelError.missingTensor(file: file.path, key: name) }
      guard info.shape == shape else {
        throw ModelError.wrongShape(file: file.path, key: name, expected: shape, found: info.shape)
      }
      guard let value = try file.finiteTensor(name) else { throw ModelError.missingTensor(file: file.path, key: name) }
      return value
    }
    func optional(_ name: String, shape: [Int]) throws -> Tensor? {
      file.info(name) == nil ? nil : try tensor(name, shape: shape)
    }
    func matrix(_ name: String, rows: Int, columns: Int, permutedHeads: Int? = nil) throws -> WeightMatrix {
      guard let info = file.info(name) else { throw ModelError.missingTensor(file: file.path, key: name) }
      // Blocks stay blocks (quantised types, F16, BF16); F32 is used as float32.
      if keepBlocks, info.type != .f32, QuantizedMatrix.supports(type: Int(info.type.rawValue)) {
        read.insert(name)
        guard info.shape == [rows, columns] else {
          throw ModelError.wrongShape(file: file.path, key: name, expected: [rows, columns], found: info.shape)
        }
        let stored = try file.blocks(of: name)
        guard
          var blocks = QuantizedMatrix(
            type: Int(info.type.rawValue), rows: rows, columns: columns, bytes: stored.bytes,
            byteCount: stored.byteCount, owner: stored.owner)
        else {
          throw ModelError.malformedGGUF(
            file: file.path, reason: "tensor '\(name)' does not hold \(rows) whole rows of \(columns) values")
        }
        guard blocks.allFinite() else { throw ModelError.nonFiniteWeights(file: file.path, key: name) }
        if let heads = permutedHeads { blocks = blocks.rowsPermuted(Self.unpermutedRowOrder(rows: rows, heads: heads)) }
        return WeightMatrix(blocks: blocks)
      }
      var value = try tensor(name, shape: [rows, columns])
      if let heads = permutedHeads { value = value.gatherRows(Self.unpermutedRowOrder(rows: rows, heads: heads)) }
      return WeightMatrix(dense: value)
    }
    func projection(_ name: String, rows: Int, columns: Int, bias: Bool, permutedHeads: Int? = nil) throws -> Projection {
      Projection(
        weight: try matrix("\(name).weight", rows: rows, columns: columns, permutedHeads: permutedHeads),
        bias: bias ? try tensor("\(name).bias", shape: [rows]) : nil)
    }
    let permute = config.family == .llama
    var blocks: [DecoderBlock] = []
    for index in 0..<config.layers {
      let prefix = "blk.\(index)"
      switch config.family {
      case .gpt2:
        let fused = try matrix("\(prefix).attn_qkv.weight", rows: 3 * d, columns: d)
        let fusedBias = try tensor("\(prefix).attn_qkv.bias", shape: [3 * d])
        func part(_ i: Int) -> Projection {
          Projection(
            weight: fused.rows((i * d)..<((i + 1) * d)),
            bias: fusedBias.slice(axis: 0, (i * d)..<((i + 1) * d)))
        }
        blocks.append(
          DecoderBlock(
            attentionNorm: .layer(
              LayerNorm(
                weight: try tensor("\(prefix).attn_norm.weight", shape: [d]),
                bias: try tensor("\(prefix).attn_norm.bias", shape: [d]), eps: config.normEps)),
            query: part(0), key: part(1), value: part(2),
            output: try projection("\(prefix).attn_output", rows: d, columns: d, bias: true),
            mlpNorm: .layer(
              LayerNorm(
                weight: try tensor("\(prefix).ffn_norm.weight", shape: [d]),
                bias: try tensor("\(prefix).ffn_norm.bias", shape: [d]), eps: config.normEps)),
            gate: nil, up: try projection("\(prefix).ffn_up", rows: config.intermediateSize, columns: d, bias: true),
            down: try projection("\(prefix).ffn_down", rows: d, columns: config.intermediateSize, bias: true)))
      case .llama, .qwen2:
        blocks.append(
          DecoderBlock(
            attentionNorm: .rms(weight: try tensor("\(prefix).attn_norm.weight", shape: [d]), eps: config.normEps),
            query: try projection(
              "\(prefix).attn_q", rows: attentionWidth, columns: d, bias: config.qkvBias,
              permutedHeads: permute ? config.heads : nil),
            key: try projection(
              "\(prefix).attn_k", rows: keyWidth, columns: d, bias: config.qkvBias,
              permutedHeads: permute ? config.keyValueHeads : nil),
            value: try projection("\(prefix).attn_v", rows: keyWidth, columns: d, bias: config.qkvBias),
            output: try projection("\(prefix).attn_output", rows: d, columns: attentionWidth, bias: config.outputBias),
            mlpNorm: .rms(weight: try tensor("\(prefix).ffn_norm.weight", shape: [d]), eps: config.normEps),
            gate: try projection("\(prefix).ffn_gate", rows: config.intermediateSize, columns: d, bias: config.mlpBias),
            up: try projection("\(prefix).ffn_up", rows: config.intermediateSize, columns: d, bias: config.mlpBias),
            down: try projection("\(prefix).ffn_down", rows: d, columns: config.intermediateSize, bias: config.mlpBias)))
      }
    }
    let embedding = try matrix("token_embd.weight", rows: config.vocabSize, columns: d)
    let finalNorm: DecoderNorm =
      config.family == .gpt2
      ? .layer(
        LayerNorm(
          weight: try tensor("output_norm.weight", shape: [d]), bias: try tensor("output_norm.bias", shape: [d]),
          eps: config.normEps))
      : .rms(weight: try tensor("output_norm.weight", shape: [d]), eps: config.normEps)
    var frequencies = config.family == .gpt2 ? [] : config.ropeFrequencies
    if let factors = try optional("rope_freqs.weight", shape: [config.headWidth / 2]) {
      let divisors = factors.scalars
      guard divisors.allSatisfy({ $0 > 0 }) else {
        throw ModelError.badConfig(file: file.path, key: "rope_freqs.weight", reason: "holds a factor that is not positive")
      }
      frequencies = zip(frequencies, divisors).map { $0 / $1 }
    }
    let network = DecoderNetwork(
      config: config, embedding: embedding,
      positions: config.family == .gpt2 ? try tensor("position_embd.weight", shape: [config.maxPositions, d]) : nil,
      blocks: blocks, finalNorm: finalNorm,
      head: config.tiedHead ? embedding : try matrix("output.weight", rows: config.vocabSize, columns: d),
      ropeFrequencies: frequencies)
    return (network, file.names.filter { !read.contains($0) }.sorted())
  }

  /// The row order that undoes llama.cpp's permutation of query/key rows: within each head
  /// of width d, the file's row 2j + a holds Hugging Face's row a·d/2 + j (a ∈ {0, 1}, j < d/2).
  static func unpermutedRowOrder(rows: Int, heads: Int) -> [Int] {
    let width = rows / heads
    let half = width / 2
    var order = [Int](repeating: 0, count: rows)
    for h in 0..<heads {
      for a in 0..<2 {
        for j in 0..<half { order[h * width + a * half + j] = h * width + 2 * j + a }
      }
    }
    return order
  }
}

extension LayerNorm {
  /// A layer norm from its parameters.
  init(weight: Tensor, bias: Tensor, eps: Float) {
    self.weight = weight
    self.bias = bias
    self.eps = eps
  }
}

extension GGUFTokenizerMetadata {
  /// The `tokenizer.ggml.*` keys of `file`; nil when it has no `tokenizer.ggml.model`.
  public init?(file: GGUFFile) {
    guard let model = file.string("tokenizer.ggml.model"), let tokens = file.stringArray("tokenizer.ggml.tokens")
    else { return nil }
    self.init(model: model, tokens: tokens)
    tokenTypes = file.intArray("tokenizer.ggml.token_type")
    merges = file.stringArray("tokenizer.ggml.merges")
    scores = file.floatArray("tokenizer.ggml.scores").map { $0.map(Float.init) }
    pre = file.string("tokenizer.ggml.pre")
    bosTokenId = file.int("tokenizer.ggml.bos_token_id")
    eosTokenId = file.int("tokenizer.ggml.eos_token_id")
    unknownTokenId = file.int("tokenizer.ggml.unknown_token_id")
    paddingTokenId = file.int("tokenizer.ggml.padding_token_id")
    addBOS = file.bool("tokenizer.ggml.add_bos_token")
    addEOS = file.bool("tokenizer.ggml.add_eos_token")
    addSpacePrefix = file.bool("tokenizer.ggml.add_space_prefix")
    chatTemplate = file.string("tokenizer.chat_template")
  }
}
