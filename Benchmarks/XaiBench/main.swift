import Attribution
import CBLAS
import Foundation
import Models
import Tensor

/// Median wall time (seconds) of `runs` calls after `warmup` unmeasured ones.
func medianSeconds(runs: Int = 21, warmup: Int = 3, _ body: () -> Void) -> Double {
  for _ in 0..<warmup { body() }
  var times: [Double] = []
  for _ in 0..<runs {
    let start = DispatchTime.now().uptimeNanoseconds
    body()
    times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
  }
  return times.sorted()[runs / 2]
}

/// Every product shape the models use, through `BLAS.sgemm` with each backend forced:
/// (m, n, k, op(A) transposed, op(B) transposed, what it is). Linear layers run x·Wᵀ
/// forward (NT), ∂x = G·W backward (NN); the sample model is 384/1536 wide, the base
/// shape 768/3072; 14 and 32 rows are one sentence, 448 and 1024 IG-32 or a batch.
let gemmShapes: [(Int, Int, Int, Bool, Bool, String)] = [
  (14, 1536, 384, false, true, "sample FFN up, 1 sentence"),
  (14, 384, 1536, false, true, "sample FFN down, 1 sentence"),
  (14, 384, 384, false, true, "sample q/k/v/out, 1 sentence"),
  (14, 384, 1536, false, false, "sample ∂x of FFN up"),
  (14, 1536, 384, false, false, "sample ∂x of FFN down"),
  (448, 1536, 384, false, true, "sample FFN up, IG-32"),
  (448, 384, 1536, false, true, "sample FFN down, IG-32"),
  (1024, 1536, 384, false, true, "sample FFN up, batch"),
  (1024, 384, 1536, false, true, "sample FFN down, batch"),
  (32, 3072, 768, false, true, "base FFN up, 32 tok"),
  (32, 768, 3072, false, true, "base FFN down, 32 tok"),
  (32, 768, 768, false, true, "base q/k/v/out, 32 tok"),
  (32, 768, 3072, false, false, "base ∂x of FFN up"),
  (32, 3072, 768, false, false, "base ∂x of FFN down"),
  (1024, 3072, 768, false, true, "base FFN up, IG-32"),
  (1024, 768, 3072, false, true, "base FFN down, IG-32"),
  (64, 576, 576, false, true, "SmolLM2 q/out, 64 tok"),
  (64, 192, 576, false, true, "SmolLM2 k/v, 64 tok"),
  (64, 960, 576, false, true, "SmolLM2 q+k+v stacked, 64 tok"),
  (64, 1536, 576, false, true, "SmolLM2 gate/up, 64 tok"),
  (64, 3072, 576, false, true, "SmolLM2 gate+up stacked, 64 tok"),
  (64, 576, 1536, false, true, "SmolLM2 down, 64 tok"),
  (64, 576, 576, false, false, "SmolLM2 ∂x of q/out"),
  (64, 576, 192, false, false, "SmolLM2 ∂x of k/v"),
  (64, 576, 960, false, false, "SmolLM2 ∂x of q+k+v stacked"),
  (64, 576, 1536, false, false, "SmolLM2 ∂x of gate/up"),
  (64, 576, 3072, false, false, "SmolLM2 ∂x of gate+up stacked"),
  (64, 1536, 576, false, false, "SmolLM2 ∂x of down"),
  (14, 14, 32, false, true, "attention scores, 1 head"),
  (14, 32, 14, false, false, "attention P·V, 1 head"),
]

/// The machine, the GEMM plan in force (where it came from, and what each class measured),
/// then both backends and the plan's choice for every shape the models use, GFLOP/s at the
/// current thread count.
func benchGemm() {
  let machine = GEMMMachine.current(threads: BLAS.threads)
  print("machine: \(machine.summary)")
  var plan: GEMMPlan?
  if let forced = BLAS.planner.forcedBackend {
    print("GEMM plan: none; XAI_GEMM=\(forced.rawValue) forces every product (nothing measured)")
  } else {
    // Before any product runs with a forced backend: forcing OpenBLAS starts its whole pool.
    let resolved = BLAS.plan
    plan = resolved
    print("GEMM plan: \(resolved.origin)")
    print(
      "  class                     representative             OpenBLAS   oneDNN   chosen   "
        + "(OpenBLAS on 1 thread, oneDNN on \(BLAS.threads): as the plan runs them)")
    for shapeClass in GEMMShapeClass.allCases {
      let entry = resolved.entry(shapeClass)
      let shapes = shapeClass.representatives.map(\.description).joined(separator: " + ")
      func rate(_ value: Double?) -> String { value.map { String(format: "%8.1f", $0) } ?? "       –" }
      print(
        "  \(shapeClass.rawValue.padding(toLength: 25, withPad: " ", startingAt: 0)) "
          + "\(shapes.padding(toLength: 25, withPad: " ", startingAt: 0)) \(rate(entry.openBLAS)) "
          + "\(rate(entry.oneDNN))   \(entry.backend.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)) "
          + shapeClass.summary)
    }
  }
  var generator = SeededGenerator(seed: 1)
  print(
    "gemm through BLAS.sgemm, \(BLAS.threads) threads, median of 41 (GFLOP/s; each backend forced, "
      + "OpenBLAS then on \(BLAS.threads) threads)")
  print("  shape (m×n×k, op)        OpenBLAS   oneDNN     auto   chosen    what; why")
  for (m, n, k, ta, tb, what) in gemmShapes {
    let a = Tensor.normal([m * k], using: &generator).scalars
    let b = Tensor.normal([k * n], using: &generator).scalars
    var c = [Float](repeating: 0, count: m * n)
    var rates: [GEMMBackend: Double] = [:]
    let initial = BLAS.backend
    for backend in GEMMBackend.allCases {
      BLAS.backend = backend
      let time = medianSeconds(runs: 41, warmup: 5) {
        BLAS.sgemm(transposeA: ta, transposeB: tb, m: m, n: n, k: k, a: a, b: b, c: &c)
      }
      rates[backend] = 2 * Double(m * n * k) / time / 1e9
    }
    BLAS.backend = initial
    let auto = medianSeconds(runs: 41, warmup: 5) {
      BLAS.sgemm(transposeA: ta, transposeB: tb, m: m, n: n, k: k, a: a, b: b, c: &c)
    }
    let shape = "\(m)×\(n)×\(k) \(ta ? "T" : "N")\(tb ? "T" : "N")".padding(
      toLength: 24, withPad: " ", startingAt: 0)
    let chosen = initial ?? plan?.backend(m: m, n: n, k: k, transposeB: tb) ?? .oneDNN
    let why =
      initial != nil
      ? "forced by XAI_GEMM" : plan!.reason(GEMMShapeClass(m: m, n: n, k: k, transposeB: tb))
    print(
      "  \(shape) "
        + String(
          format: "%8.1f %8.1f %8.1f", rates[.openBLAS]!, rates[.oneDNN]!, 2 * Double(m * n * k) / auto / 1e9)
        + "   " + chosen.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0) + " \(what); \(why)")
  }
}

/// Load time of a model folder and the forward time of one sentence (warm).
func benchModelLoad(_ paths: [String]) throws {
  for path in paths {
    let start = DispatchTime.now().uptimeNanoseconds
    let model = try TextModel.load(path: path)
    let loadMs = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
    let encoded = try model.encode("This was one of the best movies I have ever seen.")
    let batch = TokenBatch([encoded.ids], padId: model.tokenizer?.padId ?? 0)
    let forward = medianSeconds {
      _ = withoutGrad {
        model.network.body.encode(embeddings: model.network.embed(batch), keep: batch.keep, rules: .gradient)
      }
    }
    print(
      String(
        format: "%@: load %.1f ms, forward of one %d-token sentence %.2f ms (median of 21)",
        model.name, loadMs, encoded.ids.count, forward * 1e3))
  }
}

/// DistilBERT-base shape (6 layers, dim 768, 12 heads, FFN 3072, vocab 30522), random weights.
func randomDistilBertBase(seed: UInt64 = 1) throws -> TextClassifier {
  let config = TransformerConfig(
    family: .distilbert, vocabSize: 30522, hiddenSize: 768, layers: 6, heads: 12,
    intermediateSize: 3072)
  var generator = SeededGenerator(seed: seed)
  var tensors: [String: Tensor] = [:]
  func linear(_ name: String, _ inputs: Int, _ outputs: Int) {
    tensors[name + ".weight"] = Tensor.normal([outputs, inputs], std: 0.02, using: &generator)
    tensors[name + ".bias"] = Tensor.zeros([outputs])
  }
  func norm(_ name: String, _ width: Int) {
    tensors[name + ".weight"] = Tensor.ones([width])
    tensors[name + ".bias"] = Tensor.zeros([width])
  }
  let d = config.hiddenSize
  tensors["distilbert.embeddings.word_embeddings.weight"] = Tensor.normal(
    [config.vocabSize, d], std: 0.02, using: &generator)
  tensors["distilbert.embeddings.position_embeddings.weight"] = Tensor.normal(
    [512, d], std: 0.02, using: &generator)
  norm("distilbert.embeddings.LayerNorm", d)
  for layer in 0..<config.layers {
    let prefix = "distilbert.transformer.layer.\(layer)."
    for name in ["q_lin", "k_lin", "v_lin", "out_lin"] { linear(prefix + "attention." + name, d, d) }
    norm(prefix + "sa_layer_norm", d)
    linear(prefix + "ffn.lin1", d, config.intermediateSize)
    linear(prefix + "ffn.lin2", config.intermediateSize, d)
    norm(prefix + "output_layer_norm", d)
  }
  linear("pre_classifier", d, d)
  linear("classifier", d, 2)
  return try DistilBert.classifier(config: config, store: MemoryWeights(tensors))
}

/// Peak resident set size of this process in MB (VmHWM).
func peakResidentMegabytes() -> Double {
  guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
    let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
  else { return 0 }
  return Double(line.split(separator: " ").dropFirst().first.flatMap { Double($0) } ?? 0) / 1024
}

/// Matrix-product FLOPs of one forward pass (the input-gradient backward costs about as much again) of a DistilBERT-shaped model over `tokens` tokens.
func forwardFlops(_ config: TransformerConfig, tokens: Int) -> Double {
  let (d, f, t) = (Double(config.hiddenSize), Double(config.intermediateSize), Double(tokens))
  let perLayer = 2 * t * (4 * d * d + 2 * d * f) + 2 * 2 * t * t * d
  return Double(config.layers) * perLayer
}

/// B1–B3, B7, B8: text methods in process; one line per measurement, `name seconds`.
func benchMethods(samplePath: String) throws {
  let base = try randomDistilBertBase()
  var generator = SeededGenerator(seed: 7)
  let ids = [101] + (0..<30).map { _ in Int(generator.next() % 29000) + 1000 } + [102]
  let batch = TokenBatch([ids], padId: 0)
  let embeddings = withoutGrad { base.embed(batch) }
  let baselineIds = ids.indices.map { $0 == 0 || $0 == 31 ? ids[$0] : 0 }
  let input = AttributionInput(
    embeddings: embeddings, keep: batch.keep, baseline: withoutGrad { base.embed(TokenBatch([baselineIds])) })
  let runs = 7
  let lrp = medianSeconds(runs: runs, warmup: 2) {
    _ = try! GradientTimesInput.lrp.attribute(network: base.body, input: input, targets: [.index(1)])
  }
  print("B1_lrp_base_32 \(lrp)")
  let flops = 2 * forwardFlops(base.config, tokens: ids.count)
  print(String(format: "B8_gflops %.1f", flops / lrp / 1e9))
  print(String(format: "B7_peak_rss_mb %.0f", peakResidentMegabytes()))
  let ig = medianSeconds(runs: 5, warmup: 1) {
    _ = try! IntegratedGradients(steps: 32).attribute(network: base.body, input: input, targets: [.index(1)])
  }
  print("B2_ig32_base_32 \(ig)")
  print(String(format: "B2_peak_rss_mb %.0f", peakResidentMegabytes()))
  let threads = BLAS.threads
  let b4Flops = b4Sentences().reduce(0.0) { $0 + 2 * forwardFlops(base.config, tokens: $1.count) }
  let sentences = b4Sentences()
  print(
    "B4_check first=\(sentences[0].map(String.init).joined(separator: ","));last_len=\(sentences[255].count)")
  var best = (seconds: Double.infinity, tokens: 0, workers: 0)
  for workers in [1, 2] where workers <= max(threads, 1) {
    for tokens in [1024, 4096] {
      let seconds = benchBatch(base, tokens: tokens, workers: workers, threads: threads)
      print("B4_lrp_batch_256_w\(workers)_t\(tokens) \(seconds)")
      if seconds < best.seconds { best = (seconds, tokens, workers) }
    }
  }
  print("B4_lrp_batch_256 \(best.seconds)")
  print("B4_best_batch_tokens \(best.tokens)")
  print("B4_best_workers \(best.workers)")
  print(String(format: "B4_gflops %.1f", b4Flops / best.seconds / 1e9))
  try benchSampleMethods(samplePath: samplePath)
}

/// B3: what a user of the library gets for one sentence: tokenize, embed, one pass.
func benchSampleMethods(samplePath: String) throws {
  let sample = try TextModel.load(path: samplePath)
  let sentence = "This was one of the best movies I have ever seen."
  for method in [
    GradientTimesInput.lrp, GradientTimesInput(), GradientSaliency(), IntegratedGradients(steps: 32),
  ] as [any AttributionMethod] {
    let time = medianSeconds(runs: 21, warmup: 3) {
      _ = try! sample.explain(sentence, method: method, target: .index(1))
    }
    print("B3_sample_\(method.name) \(time)")
  }
}

/// The 256 B4 sentences: lengths 8–64 with [CLS] … [SEP], ids from a 64-bit LCG
/// (state 42, Knuth's MMIX constants, top 31 bits), the same recipe as torch_bench.py.
func b4Sentences() -> [[Int]] {
  var state: UInt64 = 42
  func next() -> Int {
    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
    return Int(state >> 33)
  }
  return (0..<256).map { _ in
    let length = 8 + next() % 57
    return [101] + (0..<(length - 2)).map { _ in 1000 + next() % 29000 } + [102]
  }
}

/// B4: lrp over the 256 sentences as `xai batch` runs them: windows of 128 sorted by
/// length, batches of at most `tokens` padded tokens, on `workers` threads with
/// `threads / workers` BLAS threads each.
func benchBatch(_ model: TextClassifier, tokens: Int, workers: Int, threads: Int) -> Double {
  let sentences = b4Sentences()
  var batches: [[Int]] = []
  for window in stride(from: 0, to: sentences.count, by: 128) {
    let members = Array(window..<min(window + 128, sentences.count))
    for batch in BatchPlan(maximumRows: 64, maximumTokens: tokens).batches(
      lengths: members.map { sentences[$0].count })
    {
      batches.append(batch.map { members[$0] })
    }
  }
  let inputs = batches.map { batch -> AttributionInput in
    let tokenBatch = TokenBatch(batch.map { sentences[$0] })
    return AttributionInput(embeddings: withoutGrad { model.embed(tokenBatch) }, keep: tokenBatch.keep)
  }
  BLAS.threads = max(1, threads / workers)
  defer { BLAS.threads = threads }
  return medianSeconds(runs: 3, warmup: 1) {
    let next = Counter()
    DispatchQueue.concurrentPerform(iterations: workers) { _ in
      while let index = next.take(below: inputs.count) {
        _ = try! GradientTimesInput.lrp.attribute(
          network: model.body, input: inputs[index],
          targets: Array(repeating: .index(1), count: inputs[index].keep.batchSize))
      }
    }
  }
}

/// A shared counter handing out indices to worker threads.
final class Counter: @unchecked Sendable {
  private var value = 0
  private let lock = NSLock()

  func take(below limit: Int) -> Int? {
    lock.lock()
    defer { lock.unlock() }
    guard value < limit else { return nil }
    value += 1
    return value - 1
  }
}

/// A Barabási–Albert graph: each new node attaches to `m` distinct nodes chosen
/// proportionally to their degree.
func barabasiAlbert(nodes: Int, m: Int, seed: UInt64) throws -> Graph {
  var generator = SeededGenerator(seed: seed)
  var edges: [(Int, Int)] = []
  var ends: [Int] = []
  for node in m..<nodes {
    var chosen = Set<Int>()
    while chosen.count < m {
      chosen.insert(ends.isEmpty ? chosen.count : ends[Int(generator.next() % UInt64(ends.count))])
    }
    for target in chosen {
      edges.append((node, target))
      ends += [node, target]
    }
  }
  return try Graph(nodeCount: nodes, edges: edges)
}

/// B5: GNN-LRP over all walks of BA(n = 1000, m = 1), 3 layers, h = 64 (random GraphNet).
func benchWalks() throws {
  let graph = try barabasiAlbert(nodes: 1000, m: 1, seed: 3)
  var generator = SeededGenerator(seed: 5)
  let h = 64
  var tensors: [String: Tensor] = ["U": Tensor.uniform([1, h], low: 0.1, high: 1, using: &generator)]
  for l in 1...3 { tensors["W\(l)"] = Tensor.normal([h, h], std: 0.2, using: &generator) }
  tensors["V"] = Tensor.normal([h, 2], std: 0.2, using: &generator)
  let config = try JSONDocument.parse(
    """
    {"model_type": "graphnet", "in_dim": 1, "hidden": 64, "num_classes": 2, "num_layers": 3,
     "node_features": "constant", "normalize": "sym", "final_relu": false}
    """, source: "bench"
  ).rootNode
  let network = try GraphNetwork(config: config, store: MemoryWeights(tensors))
  var walks = 0
  let time = medianSeconds(runs: 7, warmup: 1) {
    walks =
      (try? RelevantWalks(gammas: [0.1], keep: 10).explain(network: network, graph: graph, target: 0))?
      .walkCount ?? 0
  }
  print("B5_walks_ba1000 \(time)")
  print("B5_walk_count \(walks)")
  let sampleModel = try GraphNetwork.load(path: "samples/models/graphnet-ba")
  let sampleGraph = try GraphFile.read("samples/data/ba_graphs.jsonl")[1]
  let sampleTime = medianSeconds(runs: 21, warmup: 3) {
    _ = try? RelevantWalks(keep: 10).explain(network: sampleModel, graph: sampleGraph, target: 1)
  }
  print("B5_walks_sample_ba25 \(sampleTime)")
}

let arguments = CommandLine.arguments.dropFirst()
if let threads = arguments.firstIndex(of: "--threads").map({ Int(arguments[$0 + 1]) ?? 1 }) {
  BLAS.threads = threads
}
switch arguments.first ?? "gemm" {
case "gemm": benchGemm()
case "machine":
  // For `make bench`'s header: the CPU, OpenBLAS's kernels, the plan's backends, and
  // whether the elementwise and weight-conversion kernels run their vector versions.
  let machine = GEMMMachine.current(threads: BLAS.threads)
  print("machine: \(machine.summary)")
  if let forced = BLAS.planner.forcedBackend {
    print("GEMM backends: XAI_GEMM=\(forced.rawValue) forces every product")
  } else {
    let plan = BLAS.plan
    let chosen = GEMMShapeClass.allCases.map { "\($0.rawValue) \(plan.entry($0).backend.rawValue)" }
    print("GEMM backends: \(chosen.joined(separator: ", "))")
  }
  print(
    "kernels: elementwise \(ScalarConversion.elementwiseIsVectorized ? "AVX2+FMA" : "baseline"), "
      + "F16 weights \(ScalarConversion.halfIsVectorized ? "F16C" : "baseline")")
case "methods":
  do {
    try benchMethods(samplePath: arguments.dropFirst().first ?? "samples/models/minilm-rt-sentiment")
  } catch {
    FileHandle.standardError.write("xai-bench: \(error)\n".data(using: .utf8)!)
    exit(65)
  }
case "b3":
  let path = arguments.dropFirst().first(where: { !$0.hasPrefix("--") && Int($0) == nil })
  do { try benchSampleMethods(samplePath: path ?? "samples/models/minilm-rt-sentiment") } catch {
    FileHandle.standardError.write("xai-bench: \(error)\n".data(using: .utf8)!)
    exit(65)
  }
case "perturbation":
  do {
    let paths = arguments.dropFirst().filter { !$0.hasPrefix("--") && Int($0) == nil }
    try benchPerturbation(
      samplePath: paths.first ?? "samples/models/minilm-rt-sentiment",
      sentencesPath: paths.dropFirst().first ?? ".build/bench-perturbation.json")
  } catch {
    FileHandle.standardError.write("xai-bench: \(error)\n".data(using: .utf8)!)
    exit(65)
  }
case "walks":
  do { try benchWalks() } catch {
    FileHandle.standardError.write("xai-bench: \(error)\n".data(using: .utf8)!)
    exit(65)
  }
case "load":
  do {
    try benchModelLoad(arguments.dropFirst().filter { !$0.hasPrefix("--") && Int($0) == nil })
  } catch {
    FileHandle.standardError.write("xai-bench: \(error)\n".data(using: .utf8)!)
    exit(65)
  }
case "decoder":
  let method: MethodKind? =
    arguments.firstIndex(of: "--method").map { arguments.index(after: $0) < arguments.endIndex ? arguments[arguments.index(after: $0)] : "" }
    .map { $0 == "attnlrp" ? .attnlrp : $0 == "lrp" ? .lrp : nil } ?? .lrp
  guard let method else {
    FileHandle.standardError.write("xai-bench: decoder --method takes lrp or attnlrp\n".data(using: .utf8)!)
    exit(64)
  }
  do { try benchDecoder(Array(arguments.dropFirst().prefix { !$0.hasPrefix("--") }), method: method) } catch {
    FileHandle.standardError.write("xai-bench: \(error)\n".data(using: .utf8)!)
    exit(65)
  }
case "similarity":
  do { try benchSimilarity(arguments.dropFirst().first(where: { !$0.hasPrefix("--") && Int($0) == nil }) ?? "models/all-minilm-l6-v2") } catch {
    FileHandle.standardError.write("xai-bench: \(error)\n".data(using: .utf8)!)
    exit(65)
  }
case "bpe":
  do { try benchBPE(arguments.dropFirst().first ?? ".build/models/smollm2-135m-instruct/tokenizer.json") } catch {
    FileHandle.standardError.write("xai-bench: \(error)\n".data(using: .utf8)!)
    exit(65)
  }
default:
  FileHandle.standardError.write(
    "usage: xai-bench gemm|machine|methods [SAMPLE]|b3 [SAMPLE]|perturbation [SAMPLE] [SENTENCES_JSON]|walks|load PATH…|bpe [TOKENIZER_JSON]|similarity [MINILM_FOLDER]|decoder [GGUF] [LENGTH…] [--threads N] [--method lrp|attnlrp]\n".data(using: .utf8)!)
  exit(64)
}
