import Attribution
import Foundation
import Models
import Tensor

/// B16–B18: perturbation methods on the sample model, in process, one `name seconds` line
/// per measurement (seconds per sentence, the median of `runs` passes over the sentences).
/// The sentences come from the JSON file `make bench` writes for both sides
/// (`{"occlusion": [...], "shapley": [...], "kernel_shap": [...], "shapley_10": [...]}`),
/// so that Captum explains the same ones (Benchmarks/perturbation_bench.py). Each
/// explanation is what `xai explain --method …` runs after tokenizing: the embedding
/// block, the target's forward pass and every coalition through `PerturbationRunner`.
func benchPerturbation(samplePath: String, sentencesPath: String) throws {
  let model = try TextModel.load(path: samplePath)
  let root = try JSONDocument.read(sentencesPath).rootNode
  func sentences(_ key: String) throws -> [EncodedText] {
    try (root[key]?.elements.compactMap(\.string) ?? []).map { try model.prepare($0) }
  }
  let cases: [(name: String, key: String, method: PerturbationAttribution)] = [
    ("B16_occlusion_w3", "occlusion", PerturbationAttribution(kind: .occlusion, settings: PerturbationSettings(window: 3))),
    ("B17_shapley_exact", "shapley", PerturbationAttribution(kind: .shapley)),
    ("B17_shapley_exact_10_units", "shapley_10", PerturbationAttribution(kind: .shapley)),
    (
      "B18_kernel_shap_512", "kernel_shap",
      PerturbationAttribution(kind: .kernelShap, settings: PerturbationSettings(samples: 512))
    ),
  ]
  for (name, key, method) in cases {
    let texts = try sentences(key)
    guard !texts.isEmpty else { continue }
    var evaluations = 0
    let seconds = medianSeconds(runs: 5, warmup: 1) {
      evaluations = 0
      for text in texts {
        let explanation = try! model.explain(encoded: [text], method: method, targets: [.predicted])[0]
        evaluations += explanation.perturbation?.evaluations ?? 0
      }
    }
    print("\(name) \(seconds / Double(texts.count))")
    print("\(name)_evaluations \(Double(evaluations) / Double(texts.count))")
    print("\(name)_units \(Double(texts.reduce(0) { $0 + TextModel.units(of: $1, grouping: .tokens).count }) / Double(texts.count))")
  }
}
