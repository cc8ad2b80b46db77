// Coverage-guided fuzz targets for every reader of user files (`make fuzz`). The target
// is chosen by XAI_FUZZ_TARGET; each input is written to a file and read the way the
// CLI reads it. Any trap, abort or sanitizer report is a crash; thrown errors are fine.
// Built normally, the same binary replays files given as arguments (`xai-fuzz FILE…`).
import Attribution
import Foundation
import Models
import Pipeline
import Render
import Tensor

enum FuzzTarget: String, CaseIterable {
  case safetensors
  case jsonWeights = "json-weights"
  case config, tokenizer, vocabulary
  case graphJSON = "graph-jsonl"
  case sdf, records, image
  case savedOutput = "saved-output"
  case gguf
  case bpe
}

/// The BPE fixtures (byte-level and SentencePiece-style), read once: arbitrary text goes
/// through each.
let bpeTokenizers: [BPETokenizer] = ["gpt2", "llama3", "qwen2", "smollm", "sentencepiece", "metaspace"].compactMap {
  try? BPETokenizer(tokenizerJSON: "Tests/ModelsTests/Fixtures/bpe/\($0).json")
}

/// Encodes and decodes `text` with `tokenizer`, and decodes and shows arbitrary ids.
func exercise(_ tokenizer: BPETokenizer, _ text: String, ids arbitrary: [Int]) {
  let ids = tokenizer.encode(text)
  _ = tokenizer.decode(ids)
  _ = tokenizer.decode(ids, skipSpecialTokens: true)
  _ = tokenizer.decode(arbitrary)
  _ = tokenizer.displayTexts(ids + arbitrary)
}

/// The `bpe` target: a tokenizer.json (input starting with `{"` or `{` and a line break) is
/// loaded and run; anything else is text for the fixtures, ids (its bytes in pairs), a chat
/// template, and the lines of a GGUF-style vocabulary with merges built from it.
func fuzzBPE(_ data: Data) {
  let bytes = [UInt8](data)
  if bytes.count > 1 && bytes[0] == UInt8(ascii: "{") && bytes[1] != UInt8(ascii: "%") && bytes[1] != UInt8(ascii: "{") {
    let path = scratch.appendingPathComponent("tokenizer.json")
    try? data.write(to: path)
    if let tokenizer = try? BPETokenizer(tokenizerJSON: path.path) {
      exercise(tokenizer, "Hello world, <|im_start|> 123 café 😀\n\t x", ids: Array(0..<64) + [-1, Int.max])
    }
    return
  }
  let text = String(decoding: data, as: UTF8.self)
  var ids: [Int] = []
  var index = 0
  while index + 1 < bytes.count && ids.count < 512 {
    ids.append(Int(bytes[index]) << 8 | Int(bytes[index + 1]) - 256)
    index += 2
  }
  for tokenizer in bpeTokenizers { exercise(tokenizer, text, ids: ids) }
  if let template = try? ChatTemplate(template: text, source: "fuzz") {
    _ = template.render([ChatMessage(role: "user", content: text)], addGenerationPrompt: true)
  }
  // A GGUF-style vocabulary: the text's distinct lines, merges of neighbouring lines.
  var tokens: [String] = []
  var seen = Set<[UInt8]>()
  for line in text.unicodeScalars.split(separator: "\n").prefix(300) where seen.insert(Array(String(line).utf8)).inserted {
    tokens.append(String(line))
  }
  guard !tokens.isEmpty else { return }
  var metadata = GGUFTokenizerMetadata(model: bytes[0] & 1 == 0 ? "gpt2" : "llama", tokens: tokens)
  metadata.pre = ["smollm", "llama-bpe", "qwen2", "gpt-2"][Int(bytes[0] >> 1) & 3]
  metadata.merges = zip(tokens, tokens.dropFirst()).map { "\($0) \($1)" }
  metadata.tokenTypes = tokens.indices.map { 1 + Int(bytes[$0 % bytes.count]) % 6 }
  metadata.scores = tokens.indices.map { Float(bytes[$0 % bytes.count]) }
  if bytes[0] & 4 != 0 { metadata.merges = nil }
  metadata.bosTokenId = Int(bytes.last!) % (tokens.count + 2)
  if let tokenizer = try? BPETokenizer(gguf: metadata, source: "fuzz") { exercise(tokenizer, text, ids: ids) }
}

/// The shipped model's vocabulary, read once: arbitrary text goes through `encode`.
let fixedTokenizer: WordPieceTokenizer? = try? WordPieceTokenizer(
  vocabFile: "samples/models/minilm-rt-sentiment/vocab.txt", lowercase: true, stripAccents: nil)

let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("xai-fuzz-\(getpid())")

/// Reads `data` as the target's file format; returns normally whatever the outcome.
func run(_ target: FuzzTarget, _ data: Data) {
  try? FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
  switch target {
  case .safetensors:
    let folder = scratch.appendingPathComponent("model")
    try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    try? data.write(to: folder.appendingPathComponent("model.safetensors"))
    try?
      #"{"model_type": "distilbert", "dim": 8, "n_layers": 1, "n_heads": 2, "hidden_dim": 8, "vocab_size": 6, "max_position_embeddings": 8}"#
      .write(to: folder.appendingPathComponent("config.json"), atomically: false, encoding: .utf8)
    try? "[PAD]\n[UNK]\n[CLS]\n[SEP]\na\nb".write(
      to: folder.appendingPathComponent("vocab.txt"), atomically: false, encoding: .utf8)
    if let model = try? TextModel.load(path: folder.path) {
      _ = try? model.explain("a b", method: GradientTimesInput.lrp)
    }
  case .jsonWeights, .config:
    let path = scratch.appendingPathComponent("model.json")
    try? data.write(to: path)
    if target == .config {
      if let document = try? JSONDocument.read(path.path) {
        _ = try? TransformerConfig(json: document.rootNode, file: path.path)
        if let config = try? DecoderConfig(json: document.rootNode, file: path.path) { _ = config.ropeFrequencies }
        _ = try? GraphNetwork(config: document.rootNode, store: MemoryWeights([:]))
      }
    } else if let model = try? TextModel.load(path: path.path) {
      _ = try? model.explain("a b", method: GradientTimesInput.lrp)
    }
  case .tokenizer:
    _ = fixedTokenizer?.encode(String(decoding: data, as: UTF8.self), maxTokens: 512)
  case .vocabulary:
    let text = String(decoding: data, as: UTF8.self)
    let parts = text.split(separator: "\u{0}", maxSplits: 1, omittingEmptySubsequences: false)
    let vocabulary =
      ["[PAD]", "[UNK]", "[CLS]", "[SEP]"] + (parts.first ?? "").split(separator: "\n").map(String.init)
    if let tokenizer = try? WordPieceTokenizer(
      vocabulary: vocabulary, lowercase: data.first.map { $0 & 1 == 0 } ?? true, source: "fuzz")
    {
      _ = tokenizer.encode(parts.count > 1 ? String(parts[1]) : text, maxTokens: 64)
    }
  case .graphJSON, .sdf:
    let path = scratch.appendingPathComponent(target == .sdf ? "graphs.sdf" : "graphs.jsonl")
    try? data.write(to: path)
    if let reader = try? GraphRecordReader(path: path.path) {
      var count = 0
      while count < 100, let record = try? reader.next() {
        count += 1
        if let graph = try? record.result.get(), let network = fuzzGraphModel {
          _ = try? RelevantWalks(keep: 3, walkLimit: 100_000).explain(
            network: network, graph: graph.graph, target: 0)
        }
      }
    }
  case .image:
    // Decoded, converted to gray and RGB, resized down and up, as the ViT processor does.
    if let image = try? DecodedImage.decode(data, source: "fuzz") {
      for (channels, side) in [(1, 8), (3, 16)] {
        let prepared = fuzzPreprocessing.converted(image, channels: channels)
        _ = ImagePreprocessing.resized(prepared, height: side, width: side)
      }
    }
  case .bpe:
    fuzzBPE(data)
  case .savedOutput:
    // What `xai report --from`, `xai batch --report` and `xai eval --from` read back.
    let path = scratch.appendingPathComponent("saved.jsonl")
    try? data.write(to: path)
    if let rows = try? BatchLineReader.rows(path.path) {
      _ = DatasetReport(title: "fuzz", rows: rows).html
    }
    if let document = try? JSONDocument.read(path.path),
      let report = try? FaithfulnessReport.read(document.rootNode, source: "fuzz")
    {
      _ = report.html
      _ = report.table(color: true)
    }
  case .gguf:
    // Opened, every metadata value looked up, every tensor dequantised and its raw bytes read.
    let path = scratch.appendingPathComponent("model.gguf")
    try? data.write(to: path)
    if let file = try? GGUFFile(path: path.path) {
      for key in file.metadataKeys {
        _ = file.value(key)?.description
        _ = (file.string(key), file.int(key), file.float(key), file.bool(key))
        _ = (file.stringArray(key), file.intArray(key), file.floatArray(key))
      }
      for info in file.tensorInfos {
        _ = try? file.tensor(info.name)?.withUnsafeBufferPointer { $0.reduce(0, +) }
        _ = try? file.withRawBytes(of: info.name) { $0.reduce(0) { $0 &+ Int($1) } }
      }
    }
    // Loaded as a language model; a small one (as the fixtures are) also generates.
    if let model = try? LanguageModel.load(path: path.path),
      model.config.layers * model.config.hiddenSize * model.config.vocabSize <= 1 << 22
    {
      let prompt = (try? model.encode("a b")) ?? [0]
      if (try? model.validate(ids: prompt, reserving: 1)) != nil {
        _ = model.network.generate(prompt: prompt, maxNewTokens: 2, stopTokens: [])
      }
    }
  case .records:
    for name in ["data.jsonl", "data.csv"] {
      let path = scratch.appendingPathComponent(name)
      try? data.write(to: path)
      if let reader = try? DataRecordReader(path: path.path) {
        var count = 0
        while count < 1000, let record = try? reader.next() {
          count += 1
          _ = record.result
        }
      }
    }
    // The same bytes as a language model's prompt data set, each record prepared for the
    // tiny Llama (tokenized, its target and contrast read as single tokens).
    if let reader = try? PromptRecordReader(path: scratch.appendingPathComponent("data.jsonl").path) {
      var count = 0
      while count < 1000, let read = try? reader.next() {
        count += 1
        if case .success(let record) = read.result, let model = fuzzLanguageModel {
          _ = try? PromptExplainer(model: model).prepare(record)
        }
      }
    }
  }
}

/// The tiny Llama of the decoder fixtures (byte-level tokenizer with a BOS), for prompt records.
let fuzzLanguageModel: LanguageModel? = try? LanguageModel.load(
  path: "Tests/ModelsTests/Fixtures/decoders/llama-gqa.q4_1.gguf")

/// A small GCN with one-hot elements, so that fuzzed graphs run through a forward pass.
let fuzzGraphModel: GraphNetwork? = {
  let config = try? JSONDocument.parse(
    #"{"model_type": "gcn", "in_dim": 3, "hidden": 4, "num_classes": 2, "num_layers": 2, "node_features": "given", "elements": ["C", "O", "other"]}"#,
    source: "fuzz")
  var tensors: [String: Tensor] = [:]
  tensors["layers.0.theta"] = Tensor(shape: [3, 4], scalars: (0..<12).map { Float($0 % 5) * 0.1 - 0.2 })
  tensors["layers.1.theta"] = Tensor(shape: [4, 4], scalars: (0..<16).map { Float($0 % 7) * 0.1 - 0.3 })
  tensors["classifier.weight"] = Tensor(shape: [2, 4], scalars: (0..<8).map { Float($0) * 0.1 - 0.4 })
  tensors["classifier.bias"] = Tensor(shape: [2], scalars: [0.1, -0.1])
  return config.flatMap { try? GraphNetwork(config: $0.rootNode, store: MemoryWeights(tensors)) }
}()

/// RGB conversion with alpha composited over white (do_convert_rgb), as tiny-vit has it.
let fuzzPreprocessing: ImagePreprocessing = {
  let config = try! VisionConfig(
    json: JSONDocument.parse(
      #"{"model_type": "vit", "image_size": 16, "patch_size": 4, "num_channels": 3}"#, source: "fuzz"
    ).rootNode,
    file: "fuzz")
  return try! ImagePreprocessing(
    json: JSONDocument.parse(
      #"{"do_convert_rgb": true, "size": {"height": 16, "width": 16}}"#, source: "fuzz"
    ).rootNode,
    file: "fuzz", config: config)
}()

let selected: FuzzTarget = {
  guard let name = ProcessInfo.processInfo.environment["XAI_FUZZ_TARGET"] else { return .records }
  guard let target = FuzzTarget(rawValue: name) else {
    // A crasher folder named after no target must not pass by replaying as another one.
    FileHandle.standardError.write(Data("xai-fuzz: unknown XAI_FUZZ_TARGET '\(name)'\n".utf8))
    exit(2)
  }
  return target
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> CInt {
  run(selected, Data(bytes: bytes, count: count))
  return 0
}

#if FUZZING
  @_silgen_name("LLVMFuzzerRunDriver")
  func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
  ) -> CInt

  /// The executable's entry under `-sanitize=fuzzer`: libFuzzer's driver with our callback.
  @_cdecl("xai_fuzz_main")
  public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    var count = argc
    var arguments: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = argv
    return runFuzzerDriver(&count, &arguments) { bytes, size in fuzzOne(bytes, size) }
  }
#else
  @main
  struct Replay {
    static func main() {
      for path in CommandLine.arguments.dropFirst() {
        guard let data = FileManager.default.contents(atPath: path) else { continue }
        run(selected, data)
      }
    }
  }
#endif
