import Foundation
import Tensor

/// How the next token is chosen.
public struct SamplingOptions: Sendable, Equatable {
  /// 0 picks the most likely token (greedy); above 0 divides the logits before sampling.
  public var temperature: Float
  /// Keep only the k most likely tokens (nil: all).
  public var topK: Int?
  /// Keep the smallest set of most likely tokens whose probability reaches p (nil: all).
  public var topP: Float?
  /// Seed of the sampler's generator (same seed, same continuation on every machine).
  public var seed: UInt64

  public init(temperature: Float = 0, topK: Int? = nil, topP: Float? = nil, seed: UInt64 = 0) {
    self.temperature = temperature
    self.topK = topK
    self.topP = topP
    self.seed = seed
  }

  /// Greedy decoding.
  public static let greedy = SamplingOptions()
}

/// One generated token.
public struct GeneratedToken: Sendable, Equatable {
  /// Its id.
  public let id: Int
  /// log p(token | everything before) under the model (log-softmax of the raw logits,
  /// before temperature, top-k or top-p).
  public let logProbability: Float
}

/// Why generation stopped.
public enum StopReason: String, Sendable, Equatable {
  /// The model produced one of its end tokens (included in the output).
  case endToken = "end_token"
  /// `maxNewTokens` were generated.
  case maxTokens = "max_tokens"
  /// The model's positions are used up.
  case contextFull = "context_full"
  /// The caller asked to stop.
  case stopped
}

/// SplitMix64: a small generator whose sequence is the same on every machine.
struct SplitMix64 {
  var state: UInt64
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
  /// Uniform in [0, 1) with 53 bits.
  mutating func unit() -> Double { Double(next() >> 11) * 0x1.0p-53 }
}

/// Picks tokens from logits as `SamplingOptions` say.
struct TokenSampler {
  let options: SamplingOptions
  var generator: SplitMix64

  init(_ options: SamplingOptions) {
    self.options = options
    generator = SplitMix64(state: options.seed)
  }

  /// The chosen id and its log-probability under the raw logits.
  mutating func choose(_ logits: UnsafeBufferPointer<Float>) -> GeneratedToken {
    var largest = -Float.infinity
    var best = 0
    for (index, value) in logits.enumerated() where value > largest {
      largest = value
      best = index
    }
    var total: Double = 0
    for value in logits { total += Foundation.exp(Double(value - largest)) }
    let logNormalizer = Double(largest) + Foundation.log(total)
    func logProbability(_ id: Int) -> Float { Float(Double(logits[id]) - logNormalizer) }
    guard options.temperature > 0 else { return GeneratedToken(id: best, logProbability: logProbability(best)) }
    // Candidates by decreasing logit (ties by id), cut by top-k, then by top-p.
    var order = Array(0..<logits.count)
    if let k = options.topK, k > 0, k < order.count {
      order.sort { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
      order.removeSubrange(k...)
    } else {
      order.sort { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
    }
    let temperature = Double(options.temperature)
    let top = Double(logits[order[0]])
    var weights = order.map { Foundation.exp((Double(logits[$0]) - top) / temperature) }
    var sum = weights.reduce(0, +)
    if let p = options.topP, p > 0, p < 1 {
      var kept = 0
      var running = 0.0
      while kept < weights.count {
        running += weights[kept] / sum
        kept += 1
        if running >= Double(p) { break }
      }
      weights.removeSubrange(kept...)
      order.removeSubrange(kept...)
      sum = weights.reduce(0, +)
    }
    var target = generator.unit() * sum
    for (index, weight) in weights.enumerated() {
      target -= weight
      if target < 0 { return GeneratedToken(id: order[index], logProbability: logProbability(order[index])) }
    }
    let last = order[order.count - 1]
    return GeneratedToken(id: last, logProbability: logProbability(last))
  }
}

extension DecoderNetwork {
  /// Continues `prompt` by up to `maxNewTokens` tokens with a key/value cache, stopping
  /// after one of `stopTokens`; `onToken` sees each token as it is chosen and returns
  /// false to stop. The prompt must fit the positions (checked by the caller).
  public func generate(
    prompt: [Int], maxNewTokens: Int, sampling: SamplingOptions = .greedy, stopTokens: Set<Int>,
    onToken: (GeneratedToken) -> Bool = { _ in true }
  ) -> (tokens: [GeneratedToken], reason: StopReason) {
    precondition(!prompt.isEmpty && prompt.count <= config.maxPositions, "prompt of \(prompt.count) tokens")
    let room = config.maxPositions - prompt.count
    let budget = min(maxNewTokens, room)
    var sampler = TokenSampler(sampling)
    var generated: [GeneratedToken] = []
    guard budget > 0 else { return ([], maxNewTokens > 0 ? .contextFull : .maxTokens) }
    return withoutGrad {
      let cache = makeCache(capacity: prompt.count + budget)
      var logits = self.logits(embedded: embed(prompt), cache: cache, lastOnly: true)
      while true {
        let token = logits.withUnsafeBufferPointer { sampler.choose($0) }
        generated.append(token)
        guard onToken(token) else { return (generated, .stopped) }
        if stopTokens.contains(token.id) { return (generated, .endToken) }
        if generated.count == budget { return (generated, budget < maxNewTokens ? .contextFull : .maxTokens) }
        logits = self.logits(embedded: embed([token.id], firstPosition: cache.count), cache: cache, lastOnly: true)
      }
    }
  }
}
