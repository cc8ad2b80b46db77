import Foundation
import Models

/// `xai-bench bpe TOKENIZER_JSON`: loading a BPE tokenizer.json, and encoding and decoding
/// 100 KB of mixed text (movie reviews, code, CJK, emoji, numbers) with it, median of 11 runs.
func benchBPE(_ path: String) throws {
  var loaded: BPETokenizer?
  let load = medianSeconds(runs: 5, warmup: 1) { loaded = try? BPETokenizer(tokenizerJSON: path) }
  guard let tokenizer = loaded else {
    _ = try BPETokenizer(tokenizerJSON: path)
    return
  }
  let parse = medianSeconds(runs: 5, warmup: 1) { _ = try? JSONDocument.read(path) }
  print("bpe_json_parse_ms \(String(format: "%.1f", parse * 1000))")
  print("bpe_load_ms \(String(format: "%.1f", load * 1000)) (\(tokenizer.vocabulary.count) tokens, \(tokenizer.mergeCount) merges)")
  let reviews = (try? String(contentsOfFile: "samples/data/rotten_tomatoes_test.jsonl", encoding: .utf8)) ?? ""
  let mixed = [
    "def f(x):\n    return x**2 + 1  # square\n", "if (a >= b && c != d) { x++; }\n",
    "你好，世界！東京タワーは333メートルです。\n", "family 👨‍👩‍👧‍👦 and 🏳️‍🌈 😀👍🏽\n",
    "3.14159 2.71828 1,000,000 $1,234.56 (approx.) 2024-05-17T12:34:56Z\n",
    "I'm sure they'll say we've done what you'd expect.\r\n\t\tIndented.\n",
    "Привет, мир! café naïve résumé\n", "<|im_start|>user\nHi there<|im_end|>\n",
  ].joined()
  var text = ""
  var reviewLines = reviews.split(separator: "\n").makeIterator()
  while text.utf8.count < 100_000 {
    if let line = reviewLines.next() { text += line + "\n" } else { reviewLines = reviews.split(separator: "\n").makeIterator() }
    text += mixed
  }
  var ids: [Int] = []
  let encode = medianSeconds(runs: 11, warmup: 2) { ids = tokenizer.encode(text, addSpecialTokens: false) }
  let decode = medianSeconds(runs: 11, warmup: 2) { _ = tokenizer.decode(ids) }
  print("bpe_encode_100KB_ms \(String(format: "%.1f", encode * 1000)) (\(text.utf8.count) bytes → \(ids.count) tokens)")
  print("bpe_decode_ms \(String(format: "%.1f", decode * 1000))")
  print("bpe_round_trip \(tokenizer.decode(ids) == text ? "exact" : "differs")")
}
