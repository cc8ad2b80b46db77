import Tensor

/// A set of units taken from the input (the others come from the baseline), as bits.
public struct Coalition: Hashable, Sendable {
  /// Bit u of word u / 64 is set when unit u is present.
  public private(set) var words: [UInt64]
  /// Number of units.
  public let unitCount: Int

  /// Every unit present (`full`) or none.
  public init(units: Int, full: Bool) {
    unitCount = units
    words = [UInt64](repeating: 0, count: (units + 63) / 64)
    if full {
      for unit in 0..<units { words[unit >> 6] |= 1 << UInt64(unit & 63) }
    }
  }

  /// The units whose bits are set in `mask` (at most 64 units).
  public init(units: Int, mask: UInt64) {
    precondition(units <= 64, "a 64-bit mask holds at most 64 units")
    unitCount = units
    words = units == 0 ? [] : [mask]
  }

  /// Whether `unit` is present.
  @inline(__always)
  public func contains(_ unit: Int) -> Bool { words[unit >> 6] & (1 << UInt64(unit & 63)) != 0 }

  /// Adds `unit`.
  public mutating func insert(_ unit: Int) { words[unit >> 6] |= 1 << UInt64(unit & 63) }

  /// Removes `unit`.
  public mutating func remove(_ unit: Int) { words[unit >> 6] &= ~(1 << UInt64(unit & 63)) }

  /// Number of present units.
  public var count: Int { words.reduce(0) { $0 + $1.nonzeroBitCount } }

  /// The present units, ascending.
  public var members: [Int] { (0..<unitCount).filter(contains) }
}

/// Distinct coalitions in the order first asked for; the full coalition is 0 and the
/// empty one 1.
struct CoalitionSet {
  private(set) var coalitions: [Coalition] = []
  private var slots: [Coalition: Int] = [:]

  init(units: Int) {
    _ = index(of: Coalition(units: units, full: true))
    _ = index(of: Coalition(units: units, full: false))
  }

  /// The slot of `coalition`, added when new.
  mutating func index(of coalition: Coalition) -> Int {
    if let known = slots[coalition] { return known }
    slots[coalition] = coalitions.count
    coalitions.append(coalition)
    return coalitions.count - 1
  }

  static let full = 0
  static let empty = 1
}

/// The random draws of the perturbation methods: SplitMix64 from the seed and the method,
/// with integer and real draws that do not depend on the standard library's algorithms,
/// so a seed gives the same draws with every toolchain.
struct PerturbationRandom {
  private var generator: SeededGenerator

  /// The stream of `seed` for the method `stream` names.
  init(seed: UInt64, stream: String) {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in stream.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
    generator = SeededGenerator(seed: seed &* 0x9E37_79B9_7F4A_7C15 ^ hash)
  }

  /// Uniform in 0..<bound (multiply-shift; bias below bound/2⁶⁴).
  mutating func below(_ bound: Int) -> Int {
    Int(generator.next().multipliedFullWidth(by: UInt64(bound)).high)
  }

  /// Uniform in [0, 1) with 53 bits.
  mutating func unit() -> Double { Double(generator.next() >> 11) / Double(1 << 53) }

  /// A fair coin.
  mutating func coin() -> Bool { generator.next() >> 63 == 1 }

  /// A uniformly random order of 0..<n (Fisher–Yates).
  mutating func permutation(_ n: Int) -> [Int] {
    var order = Array(0..<n)
    for i in stride(from: n - 1, to: 0, by: -1) { order.swapAt(i, below(i + 1)) }
    return order
  }
}
