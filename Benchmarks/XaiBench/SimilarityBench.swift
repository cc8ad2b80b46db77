import Attribution
import Foundation
import Models
import Tensor

/// B19: BiLRP of one pair of ~20-token texts on all-MiniLM-L6-v2, in process (the model
/// loaded once): the automatic computation (forward mode) and the backward rows (384 rows
/// per text, the computation PyTorch runs), each the median of `runs`, every run printed.
func benchSimilarity(_ folder: String, runs: Int = 7) throws {
  // As `xai similarity` runs it: one pair cannot pay back oneDNN's just-in-time kernels.
  if ProcessInfo.processInfo.environment["XAI_GEMM"] == nil && !BLAS.openBLASIsGeneric { BLAS.backend = .openBLAS }
  let explainer = SimilarityExplainer(encoder: try SentenceEncoder(TextModel.load(path: folder)))
  let (a, b) = (SimilarityBenchTexts.a, SimilarityBenchTexts.b)
  for (name, computation) in [("forward", SimilarityComputation.automatic), ("backward", .backward)] {
    let first = try explainer.explain(a, b, method: .lrp, computation: computation)
    var times: [Double] = []
    for _ in 0..<(computation == .backward ? max(3, runs / 2) : runs) {
      let start = DispatchTime.now().uptimeNanoseconds
      _ = try explainer.explain(a, b, method: .lrp, computation: computation)
      times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    print("B19_similarity_\(name) \(times.sorted()[times.count / 2])")
    print("B19_similarity_\(name)_runs \(times.map { String(format: "%.4f", $0) }.joined(separator: ","))")
    print("B19_tokens \(first.a.tokens.count + first.b.tokens.count)")
  }
}

/// The pair of B19 (20 and 21 tokens with [CLS] and [SEP]); Benchmarks/compare.py gives
/// PyTorch the same texts.
enum SimilarityBenchTexts {
  static let a = "The quarterly report shows that revenue grew by twelve percent despite rising costs in the second half."
  static let b = "Despite higher expenses later in the year, the company's sales increased by about twelve percent."
}
