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

/// B8 building block: the core's matmul against a raw cblas_sgemm call of the same shape.
func benchGemm() {
  let (m, k, n) = (32, 768, 3072)
  var generator = SeededGenerator(seed: 1)
  let x = Tensor.normal([m, k], using: &generator)
  let w = Tensor.normal([n, k], using: &generator)
  let wt = w.transposed(0, 1)
  let flops = 2.0 * Double(m * n * k)
  var raw = [Float](repeating: 0, count: m * n)
  let xs = x.scalars
  let ws = wt.scalars
  let rawTime = medianSeconds {
    cblas_sgemm(
      CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), 1, xs, Int32(k), ws,
      Int32(n), 0, &raw, Int32(n))
  }
  let matmulTime = medianSeconds { _ = Tensor.matmul(x, wt) }
  let linearTime = medianSeconds { _ = Tensor.linear(x, weight: w, bias: nil) }
  print("gemm \(m)×\(k)·\(k)×\(n), \(BLAS.threads) BLAS threads, median of 21")
  for (name, time) in [
    ("raw cblas_sgemm", rawTime), ("Tensor.matmul", matmulTime),
    ("Tensor.linear (W [out,in])", linearTime),
  ] {
    let label = name.padding(toLength: 28, withPad: " ", startingAt: 0)
    print(
      "  \(label)"
        + String(
          format: "%8.3f ms  %7.1f GFLOP/s  %.2f× raw", time * 1e3, flops / time / 1e9,
          time / rawTime))
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
      _ = withoutGrad { model.network.encode(embeddings: model.network.embed(batch), batch: batch, hooks: .none) }
    }
    print(
      String(
        format: "%@: load %.1f ms, forward of one %d-token sentence %.2f ms (median of 21)",
        model.name, loadMs, encoded.ids.count, forward * 1e3))
  }
}

let arguments = CommandLine.arguments.dropFirst()
if let threads = arguments.firstIndex(of: "--threads").map({ Int(arguments[$0 + 1]) ?? 1 }) {
  BLAS.threads = threads
}
switch arguments.first ?? "gemm" {
case "gemm": benchGemm()
case "load":
  do {
    try benchModelLoad(arguments.dropFirst().filter { !$0.hasPrefix("--") && Int($0) == nil })
  } catch {
    FileHandle.standardError.write("xai-bench: \(error)\n".data(using: .utf8)!)
    exit(65)
  }
default:
  FileHandle.standardError.write("usage: xai-bench gemm|load PATH… [--threads N]\n".data(using: .utf8)!)
  exit(64)
}
