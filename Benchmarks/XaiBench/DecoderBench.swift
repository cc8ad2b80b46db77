import Attribution
import Foundation
import Models
import Tensor

/// `xai-bench decoder [GGUF] [LENGTH…] [--method lrp|attnlrp]`: where one next-token
/// explanation of a decoder spends its time: the plain forward (logits of the last position
/// only), the forward that records the graph under the method's rules (CP-LRP unless
/// `--method attnlrp`), and the backward from one logit; then the whole
/// `DecoderExplainer.attribute` call. Median of 7 after a warm-up, per prompt length; with
/// the process's CPU time beside the wall time (on one thread, a measure that other work on
/// the machine disturbs less).
func benchDecoder(_ arguments: [String], method: MethodKind = .lrp) throws {
  let path = arguments.first { $0.hasSuffix(".gguf") } ?? "models/smollm2-135m-instruct.gguf"
  let lengths = arguments.compactMap { Int($0) }
  let model = try LanguageModel.load(path: path)
  let network = model.network
  let rules = DecoderExplainer.rules(for: method)!
  print("decoder \(path), \(BLAS.threads) threads")
  for length in lengths.isEmpty ? [64, 256] : lengths {
    let ids = (0..<length).map { 100 + ($0 * 7919) % 20_000 }
    let embedded = withoutGrad { network.embed(ids) }
    let plain = medianSeconds(runs: 7, warmup: 1) {
      _ = withoutGrad { network.logits(embedded: embedded, lastOnly: true) }
    }
    var forward: [Double] = []
    var backward: [Double] = []
    for run in 0..<8 {
      let leaf = embedded.requiringGrad()
      let start = DispatchTime.now().uptimeNanoseconds
      let pass = ForwardPass(rules: rules)
      let hidden = network.hidden(embedded: leaf, pass: pass)
      let logits = network.projectToVocabulary(hidden.gatherRows([length - 1]), pass: pass)
      let middle = DispatchTime.now().uptimeNanoseconds
      var seed = [Float](repeating: 0, count: logits.count)
      seed[0] = 1
      logits.backward(seed: Tensor(shape: logits.shape, scalars: seed))
      _ = leaf.grad?.scalars.count
      let end = DispatchTime.now().uptimeNanoseconds
      if run > 0 {
        forward.append(Double(middle - start) / 1e9)
        backward.append(Double(end - middle) / 1e9)
      }
    }
    let cpuBefore = processSeconds()
    let whole = medianSeconds(runs: 7, warmup: 1) {
      _ = DecoderExplainer(network: network).attribute(
        ids: ids, targets: [.logit(position: length - 1, token: 0)], rules: rules)
    }
    let cpu = (processSeconds() - cpuBefore) / 8
    func ms(_ values: [Double]) -> String { String(format: "%.1f", values.sorted()[values.count / 2] * 1e3) }
    print(
      "T=\(length): plain forward \(ms([plain])) ms, graph forward \(ms(forward)) ms, backward \(ms(backward)) ms, attribute \(ms([whole])) ms (CPU \(ms([cpu])) ms)"
    )
  }
}

/// User + system CPU seconds of the process so far.
func processSeconds() -> Double {
  var usage = rusage()
  getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
  return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
    + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}
