import Foundation

/// A small, fast, seeded generator (SplitMix64) so that tests and benchmarks repeat exactly.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
  private var state: UInt64

  /// A generator whose sequence is fixed by `seed`.
  public init(seed: UInt64) { state = seed }

  /// The next 64 random bits.
  public mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// A uniform sample in [low, high).
  public mutating func uniform(_ low: Float, _ high: Float) -> Float {
    low + (high - low) * Float(next() >> 40) / Float(1 << 24)
  }

  /// A standard normal sample (Box–Muller).
  public mutating func normal() -> Float {
    let u1 = max(Double(next() >> 11) / Double(1 << 53), 1e-300)
    let u2 = Double(next() >> 11) / Double(1 << 53)
    return Float((-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2))
  }
}

extension Tensor {
  /// Uniform samples in [low, high) from `generator`.
  public static func uniform(
    _ shape: [Int], low: Float = 0, high: Float = 1, using generator: inout SeededGenerator
  ) -> Tensor {
    let value = uninitialized(shape)
    for i in 0..<value.count { value.storage.base[i] = generator.uniform(low, high) }
    return value
  }

  /// Normal samples with the given standard deviation from `generator`.
  public static func normal(
    _ shape: [Int], std: Float = 1, using generator: inout SeededGenerator
  ) -> Tensor {
    let value = uninitialized(shape)
    for i in 0..<value.count { value.storage.base[i] = std * generator.normal() }
    return value
  }
}
