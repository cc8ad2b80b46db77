import CKernels
import XCTest

/// The C products straight from GGML block-quantised weights (Sources/CKernels/quantized.c)
/// against a scalar Swift dequantisation written here from the block layouts and a Double
/// product: random valid blocks of every supported type, one and three vectors, one and two
/// threads, the AVX2 and the portable paths.
final class QuantizedMatvecTests: XCTestCase {
  override func tearDown() {
    xai_quantized_force_portable(0)
  }

  /// GGML type number, values and bytes per block (the plain types: one value).
  private struct Layout {
    let type: Int32, name: String, values: Int, bytes: Int
  }

  private let layouts = [
    Layout(type: 0, name: "F32", values: 1, bytes: 4),
    Layout(type: 1, name: "F16", values: 1, bytes: 2),
    Layout(type: 30, name: "BF16", values: 1, bytes: 2),
    Layout(type: 2, name: "Q4_0", values: 32, bytes: 18),
    Layout(type: 3, name: "Q4_1", values: 32, bytes: 20),
    Layout(type: 6, name: "Q5_0", values: 32, bytes: 22),
    Layout(type: 7, name: "Q5_1", values: 32, bytes: 24),
    Layout(type: 8, name: "Q8_0", values: 32, bytes: 34),
    Layout(type: 12, name: "Q4_K", values: 256, bytes: 144),
    Layout(type: 13, name: "Q5_K", values: 256, bytes: 176),
    Layout(type: 14, name: "Q6_K", values: 256, bytes: 210),
  ]

  private struct Generator {
    var state: UInt64
    mutating func next() -> UInt64 {
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return state >> 16
    }
    mutating func byte() -> UInt8 { UInt8(truncatingIfNeeded: next() >> 8) }
    /// Uniform in [-1, 1).
    mutating func unit() -> Float { Float(next() >> 24) / Float(1 << 24) * 2 - 1 }
    /// A small finite binary16 scale: ±2^[-12, -2] with a random significand, now and then a
    /// subnormal one.
    mutating func scale() -> UInt16 {
      if next() % 16 == 0 { return UInt16(truncatingIfNeeded: next() % 1023 + 1) | UInt16(next() % 2) << 15 }
      let exponent = UInt16(3 + next() % 11)  // biased: 2^-12 … 2^-2
      return UInt16(next() % 2) << 15 | exponent << 10 | UInt16(truncatingIfNeeded: next() % 1024)
    }
  }

  private func put(_ bits: UInt16, _ bytes: inout [UInt8], at offset: Int) {
    bytes[offset] = UInt8(bits & 0xFF)
    bytes[offset + 1] = UInt8(bits >> 8)
  }

  /// `rows` rows of `columns` values: random bytes (valid for every type), with every f16
  /// scale field (and every F16/BF16/F32 value) set to a finite value.
  private func randomWeights(_ layout: Layout, rows: Int, columns: Int, seed: UInt64) -> [UInt8] {
    var generator = Generator(state: seed)
    let blocks = rows * columns / layout.values
    var bytes = (0..<blocks * layout.bytes).map { _ in generator.byte() }
    for block in 0..<blocks {
      let base = block * layout.bytes
      switch layout.name {
      case "F32":
        let value = generator.unit() * 2
        for k in 0..<4 { bytes[base + k] = UInt8(truncatingIfNeeded: value.bitPattern >> (8 * UInt32(k))) }
      case "F16":
        put(Float16(generator.unit() * 2).bitPattern, &bytes, at: base)
      case "BF16":
        put(UInt16((generator.unit() * 2).bitPattern >> 16), &bytes, at: base)
      case "Q4_0", "Q5_0", "Q8_0":
        put(generator.scale(), &bytes, at: base)
      case "Q4_1", "Q5_1", "Q4_K", "Q5_K":
        put(generator.scale(), &bytes, at: base)
        put(generator.scale(), &bytes, at: base + 2)
      case "Q6_K":
        put(generator.scale(), &bytes, at: base + 208)
      default:
        XCTFail("no generator for \(layout.name)")
      }
    }
    return bytes
  }

  // MARK: - The reference dequantisation, one value at a time from the layout

  private func half(_ bytes: [UInt8], _ offset: Int) -> Float {
    Float(Float16(bitPattern: UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8))
  }

  /// Value `i` (0 ..< values) of the block at `base`, as GGML's dequantisation defines it in
  /// float32: d·q + m and d·(q − k) (with d·q exact, so either is rounded once).
  private func value(_ layout: Layout, _ bytes: [UInt8], block base: Int, index i: Int) -> Float {
    func nibble(_ offset: Int, _ j: Int) -> Int {  // values j < 16: low nibbles, then high
      j < 16 ? Int(bytes[offset + j] & 0x0F) : Int(bytes[offset + j - 16] >> 4)
    }
    func fifthBit(_ offset: Int, _ j: Int) -> Int {  // bit j of a little-endian uint32
      Int(bytes[offset + j / 8] >> UInt8(j % 8)) & 1
    }
    switch layout.name {
    case "F32":
      return Float(bitPattern: (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[base + $1]) << (8 * UInt32($1)) })
    case "F16":
      return half(bytes, base)
    case "BF16":
      return Float(bitPattern: (UInt32(bytes[base]) | UInt32(bytes[base + 1]) << 8) << 16)
    case "Q4_0":
      return half(bytes, base) * Float(nibble(base + 2, i) - 8)
    case "Q4_1":
      return half(bytes, base) * Float(nibble(base + 4, i)) + half(bytes, base + 2)
    case "Q5_0":
      return half(bytes, base) * Float(nibble(base + 6, i) + 16 * fifthBit(base + 2, i) - 16)
    case "Q5_1":
      return half(bytes, base) * Float(nibble(base + 8, i) + 16 * fifthBit(base + 4, i)) + half(bytes, base + 2)
    case "Q8_0":
      return half(bytes, base) * Float(Int8(bitPattern: bytes[base + 2 + i]))
    case "Q4_K", "Q5_K":
      // Eight sub-blocks of 32; 6-bit scales and minimums packed in 12 bytes at base + 4:
      // sub-block j < 4 in the low six bits of bytes j (scale) and j + 4 (min); j ≥ 4 in the
      // nibbles of byte j + 4 (scale low, min high) plus the top two bits of bytes j − 4
      // (scale) and j (min).
      let j = i / 32, l = i % 32
      let s = { (k: Int) in Int(bytes[base + 4 + k]) }
      let scale = j < 4 ? s(j) & 63 : (s(j + 4) & 0x0F) | (s(j - 4) >> 6) << 4
      let minimum = j < 4 ? s(j + 4) & 63 : (s(j + 4) >> 4) | (s(j) >> 6) << 4
      let quants = base + (layout.name == "Q4_K" ? 16 : 48) + (j / 2) * 32  // 32 bytes: j even low, odd high
      var q = j % 2 == 0 ? Int(bytes[quants + l] & 0x0F) : Int(bytes[quants + l] >> 4)
      if layout.name == "Q5_K" { q += 16 * (Int(bytes[base + 16 + l] >> UInt8(j)) & 1) }
      return half(bytes, base) * Float(scale) * Float(q) - half(bytes, base + 2) * Float(minimum)
    case "Q6_K":
      // Two halves of 128 values; value 32k + l of half h (k < 4, l < 32) takes its low four
      // bits from byte 64h + 32(k mod 2) + l (low nibble for k < 2, high for k ≥ 2), its high
      // two bits from bits 2k, 2k + 1 of byte 128 + 32h + l; int8 scales per 16 values at
      // 192; d at 208.
      let h = i / 128, r = i % 128, k = r / 32, l = r % 32
      let lowByte = bytes[base + 64 * h + (k % 2) * 32 + l]
      let low = k < 2 ? Int(lowByte & 0x0F) : Int(lowByte >> 4)
      let high = Int(bytes[base + 128 + 32 * h + l] >> UInt8(2 * k)) & 3
      let scale = Float(Int8(bitPattern: bytes[base + 192 + i / 16]))
      return half(bytes, base + 208) * scale * Float((low | high << 4) - 32)
    default:
      XCTFail("no reference for \(layout.name)")
      return .nan
    }
  }

  private func dequantize(_ layout: Layout, _ bytes: [UInt8], rows: Int, columns: Int) -> [Float] {
    var out = [Float](repeating: 0, count: rows * columns)
    for r in 0..<rows {
      for c in 0..<columns {
        let block = (r * columns + c) / layout.values
        out[r * columns + c] = value(layout, bytes, block: block * layout.bytes, index: c % layout.values)
      }
    }
    return out
  }

  private func product(_ layout: Layout, _ weights: [UInt8], rows: Int, columns: Int, x: [Float], vectors: Int,
                       threads: Int) -> (status: Int32, y: [Float]) {
    var y = [Float](repeating: .nan, count: rows * vectors)
    let status = weights.withUnsafeBytes { w in
      x.withUnsafeBufferPointer { xs in
        y.withUnsafeMutableBufferPointer { ys in
          xai_quantized_matmul(layout.type, w.baseAddress, rows, columns, xs.baseAddress, vectors, ys.baseAddress,
                               Int32(threads))
        }
      }
    }
    return (status, y)
  }

  /// Shapes: 13 × (two blocks), and 67 × 1024 (1000 for the plain types, whose rows need not
  /// fill 32-value groups) — large enough to be split over two threads, and not a multiple of
  /// the four rows the AVX2 path takes at a time.
  private func shapes(_ layout: Layout) -> [(rows: Int, columns: Int)] {
    layout.values == 1 ? [(13, 45), (67, 1000)] : [(13, 2 * max(layout.values, 32)), (67, 1024)]
  }

  func testProductsAgainstDoubleOfTheExactlyDequantisedWeights() {
    for layout in layouts {
      for (index, shape) in shapes(layout).enumerated() {
        let (rows, columns) = shape
        let weights = randomWeights(layout, rows: rows, columns: columns, seed: UInt64(layout.type) * 100 + UInt64(index))
        XCTAssertEqual(xai_quantized_row_bytes(layout.type, columns) * rows, weights.count, layout.name)
        let w = dequantize(layout, weights, rows: rows, columns: columns)
        for vectors in [1, 3] {
          var generator = Generator(state: UInt64(vectors) * 7 + UInt64(columns))
          let x = (0..<vectors * columns).map { _ in generator.unit() * 3 }
          // Each weight is exact in float32, and each product w·x is formed in float32 and
          // summed by a tree of depth at most columns/8 + 5 (the AVX2 path: two 8-lane
          // accumulators, then a 4-step horizontal sum; the portable path: eight partial
          // sums, then 3 steps), counting the rounding of each product (fused or not). So
          // |y − Σ w·x| ≤ γ_depth·Σ|w·x| with γ_n = n·ε/(1 − n·ε), ε = 2⁻²⁴ (Higham, §4.2),
          // and depth ≤ columns for every shape here; 2·columns·ε covers γ_depth with room to
          // spare and for the Double reference's own error (products exact, ≤ 2⁻⁵³ per add).
          let eps = 1.0 / Double(1 << 24)
          var reference = [Double](repeating: 0, count: vectors * rows)
          var bound = [Double](repeating: 0, count: vectors * rows)
          for t in 0..<vectors {
            for r in 0..<rows {
              var sum = 0.0, magnitude = 0.0
              for c in 0..<columns {
                let p = Double(w[r * columns + c]) * Double(x[t * columns + c])
                sum += p
                magnitude += abs(p)
              }
              reference[t * rows + r] = sum
              bound[t * rows + r] = 2 * Double(columns) * eps * magnitude
            }
          }
          for portable in [0, 1] {
            xai_quantized_force_portable(Int32(portable))
            var first: [UInt32]?
            for threads in [1, 2] {
              let (status, y) = product(layout, weights, rows: rows, columns: columns, x: x, vectors: vectors,
                                        threads: threads)
              XCTAssertEqual(status, 1)
              for i in 0..<vectors * rows where !(abs(Double(y[i]) - reference[i]) <= bound[i]) {
                XCTFail("\(layout.name) \(rows)×\(columns) vectors \(vectors) threads \(threads) portable \(portable): "
                  + "y[\(i)] = \(y[i]), reference \(reference[i]) ± \(bound[i])")
                break
              }
              if let first {
                XCTAssertEqual(first, y.map(\.bitPattern), "\(layout.name): one and two threads agree bit for bit")
              } else {
                first = y.map(\.bitPattern)
              }
            }
            // Each vector alone gives the bits it gets in the batch.
            for t in 0..<vectors {
              let alone = product(layout, weights, rows: rows, columns: columns,
                                  x: Array(x[t * columns..<(t + 1) * columns]), vectors: 1, threads: 2).y
              XCTAssertEqual(alone.map(\.bitPattern), Array(first![t * rows..<(t + 1) * rows]),
                             "\(layout.name) vector \(t) alone and in a batch of \(vectors)")
            }
          }
        }
      }
    }
  }

  func testDequantisedRowsAreTheReferenceValuesBitForBit() {
    for layout in layouts {
      let (rows, columns) = shapes(layout)[1]
      let weights = randomWeights(layout, rows: rows, columns: columns, seed: 99 + UInt64(layout.type))
      let expected = dequantize(layout, weights, rows: rows, columns: columns)
      XCTAssertTrue(expected.allSatisfy(\.isFinite), layout.name)
      for portable in [0, 1] {
        xai_quantized_force_portable(Int32(portable))
        for threads in [1, 2] {
          for (first, count) in [(0, rows), (5, 40)] {
            var out = [Float](repeating: .nan, count: count * columns)
            let status = weights.withUnsafeBytes { w in
              out.withUnsafeMutableBufferPointer {
                xai_quantized_dequantize_rows(layout.type, w.baseAddress, first, count, columns, $0.baseAddress,
                                              Int32(threads))
              }
            }
            XCTAssertEqual(status, 1)
            XCTAssertEqual(out.map(\.bitPattern), expected[first * columns..<(first + count) * columns].map(\.bitPattern),
                           "\(layout.name) rows \(first)..<\(first + count) portable \(portable) threads \(threads)")
          }
        }
      }
    }
  }

  func testRowBytesAndRejectedArguments() {
    for layout in layouts {
      XCTAssertEqual(xai_quantized_supported(layout.type), 1, layout.name)
      let columns = 4 * max(layout.values, 32)
      XCTAssertEqual(xai_quantized_row_bytes(layout.type, columns), columns / layout.values * layout.bytes)
      if layout.values > 1 {
        let odd = columns + layout.values / 2
        XCTAssertEqual(xai_quantized_row_bytes(layout.type, odd), 0, layout.name)
        var y = [Float](repeating: 0, count: 2)
        let x = [Float](repeating: 1, count: odd)
        let weights = [UInt8](repeating: 0, count: 2 * (columns / layout.values + 1) * layout.bytes)
        weights.withUnsafeBytes { w in
          XCTAssertEqual(xai_quantized_matmul(layout.type, w.baseAddress, 2, odd, x, 1, &y, 1), 0, layout.name)
          XCTAssertEqual(xai_quantized_dequantize_rows(layout.type, w.baseAddress, 0, 1, odd, &y, 1), 0, layout.name)
        }
      }
    }
    for unsupported: Int32 in [-1, 4, 5, 9, 10, 11, 15, 16, 20, 31, 1000] {
      XCTAssertEqual(xai_quantized_supported(unsupported), 0)
      XCTAssertEqual(xai_quantized_row_bytes(unsupported, 256), 0)
      var y: Float = 0
      let x = [Float](repeating: 1, count: 256)
      let weights = [UInt8](repeating: 0, count: 1024)
      weights.withUnsafeBytes { w in
        XCTAssertEqual(xai_quantized_matmul(unsupported, w.baseAddress, 1, 256, x, 1, &y, 1), 0)
      }
    }
    XCTAssertEqual(xai_quantized_row_bytes(1, 3), 6, "the plain types take any number of columns")
  }

  /// On a machine with AVX2 (the CI and benchmark machines), the vectorised path is the one the
  /// other tests run first; forcing the portable one switches it off.
  func testPathSwitch() {
    let vectorised = xai_quantized_is_vectorized()
    xai_quantized_force_portable(1)
    XCTAssertEqual(xai_quantized_is_vectorized(), 0)
    xai_quantized_force_portable(0)
    XCTAssertEqual(xai_quantized_is_vectorized(), vectorised)
    #if arch(x86_64)
      print("quantized products vectorised: \(vectorised)")
    #endif
  }
}
