import Tensor
// Dequantisation of ggml's block formats to float32. Each quantised type stores a run of
// consecutive row elements (a block) as small integers with one or two float16 factors;
// the layouts below follow ggml's `block_*` structures (all fields little-endian):
//
// | type | elements | bytes | layout | element i |
// |---|---|---|---|---|
// | Q4_0 | 32 | 18 | d: f16, qs: 16 B | low nibbles hold i < 16, high nibbles i ≥ 16; d·(q − 8) |
// | Q4_1 | 32 | 20 | d, m: f16, qs: 16 B | as Q4_0; d·q + m |
// | Q5_0 | 32 | 22 | d, qh: u32, qs: 16 B | q = nibble | bit i of qh << 4; d·(q − 16) |
// | Q5_1 | 32 | 24 | d, m, qh: u32, qs: 16 B | as Q5_0; d·q + m |
// | Q8_0 | 32 | 34 | d, qs: 32 × i8 | d·q |
// | Q4_K | 256 | 144 | d, dmin: f16, scales: 12 B, qs: 128 B | 8 sub-blocks of 32 with 6-bit scale s and min m; d·s·q − dmin·m |
// | Q5_K | 256 | 176 | d, dmin, scales: 12 B, qh: 32 B, qs: 128 B | as Q4_K with a fifth bit from qh |
// | Q6_K | 256 | 210 | ql: 128 B, qh: 64 B, scales: 16 × i8, d: f16 | 16 sub-blocks of 16; d·s·(q − 32) |
//
// The arithmetic is the reference's, in its order (a product of the float16 factors
// first, then the integer), so the results are the same floats as ggml's and gguf-py's.

/// binary32 values of all 65,536 binary16 bit patterns (built on first use, 256 KB), for
/// the scales inside quantised blocks.
let halfTable: [Float] = {
  let patterns = (0...UInt16.max).map { $0.littleEndian }
  var table = [Float](repeating: 0, count: patterns.count)
  patterns.withUnsafeBytes { source in
    table.withUnsafeMutableBufferPointer {
      _ = ScalarConversion.halfToFloat(source.baseAddress!, count: patterns.count, into: $0.baseAddress!)
    }
  }
  return table
}()

/// binary32 of a little-endian binary16 at `offset`, through the 65,536-entry table.
@inline(__always)
private func half(_ base: UnsafeRawPointer, _ offset: Int, _ table: UnsafeBufferPointer<Float>) -> Float {
  table[Int(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))]
}

@inline(__always)
private func byte(_ base: UnsafeRawPointer, _ offset: Int) -> UInt8 {
  base.load(fromByteOffset: offset, as: UInt8.self)
}

extension GGMLType {
  /// Converts whole blocks of this type to float32: `source` holds the blocks as stored
  /// (`output.count / blockSize` of them, `typeSize` bytes each) and `output` receives
  /// every element in row order.
  ///
  /// Requires `canDequantize` and matching sizes (the file reader checks both before it
  /// calls this); anything else is a programming error.
  public func dequantize(_ source: UnsafeRawBufferPointer, into output: UnsafeMutableBufferPointer<Float>) {
    precondition(canDequantize, "\(name) cannot be dequantised")
    precondition(
      output.count % blockSize == 0 && source.count == output.count / blockSize * typeSize,
      "\(source.count) bytes of \(name) for \(output.count) elements")
    guard let from = source.baseAddress, let to = output.baseAddress else { return }
    dequantizeBlocks(from, count: output.count / blockSize, into: to)
  }

  /// `count` blocks at `source` into `count × blockSize` floats at `output`, unchecked.
  func dequantizeBlocks(_ source: UnsafeRawPointer, count: Int, into output: UnsafeMutablePointer<Float>) {
    halfTable.withUnsafeBufferPointer { table in
      switch self {
      case .f32:
        for i in 0..<count {
          output[i] = Float(
            bitPattern: UInt32(littleEndian: source.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
        }
      case .f16: ScalarConversion.halfToFloat(source, count: count, into: output)
      case .bf16: ScalarConversion.bfloatToFloat(source, count: count, into: output)
      case .q4_0: Self.q4_0(source, count, output, table)
      case .q4_1: Self.q4_1(source, count, output, table)
      case .q5_0: Self.q5_0(source, count, output, table)
      case .q5_1: Self.q5_1(source, count, output, table)
      case .q8_0: Self.q8_0(source, count, output, table)
      case .q4_K: Self.q4_K(source, count, output, table, highBits: false)
      case .q5_K: Self.q4_K(source, count, output, table, highBits: true)
      case .q6_K: Self.q6_K(source, count, output, table)
      default: preconditionFailure("\(name) cannot be dequantised")
      }
    }
  }

  private static func q4_0(
    _ source: UnsafeRawPointer, _ count: Int, _ output: UnsafeMutablePointer<Float>,
    _ table: UnsafeBufferPointer<Float>
  ) {
    for b in 0..<count {
      let block = source + b * 18
      let out = output + b * 32
      let d = half(block, 0, table)
      for j in 0..<16 {
        let q = byte(block, 2 + j)
        out[j] = d * Float(Int32(q & 0x0F) - 8)
        out[j + 16] = d * Float(Int32(q >> 4) - 8)
      }
    }
  }

  private static func q4_1(
    _ source: UnsafeRawPointer, _ count: Int, _ output: UnsafeMutablePointer<Float>,
    _ table: UnsafeBufferPointer<Float>
  ) {
    for b in 0..<count {
      let block = source + b * 20
      let out = output + b * 32
      let d = half(block, 0, table)
      let m = half(block, 2, table)
      for j in 0..<16 {
        let q = byte(block, 4 + j)
        out[j] = d * Float(q & 0x0F) + m
        out[j + 16] = d * Float(q >> 4) + m
      }
    }
  }

  private static func q5_0(
    _ source: UnsafeRawPointer, _ count: Int, _ output: UnsafeMutablePointer<Float>,
    _ table: UnsafeBufferPointer<Float>
  ) {
    for b in 0..<count {
      let block = source + b * 22
      let out = output + b * 32
      let d = half(block, 0, table)
      let high = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
      for j in 0..<16 {
        let q = UInt32(byte(block, 6 + j))
        let low = (q & 0x0F) | ((high >> UInt32(j)) & 1) << 4
        let upper = (q >> 4) | ((high >> UInt32(j + 16)) & 1) << 4
        out[j] = d * Float(Int32(low) - 16)
        out[j + 16] = d * Float(Int32(upper) - 16)
      }
    }
  }

  private static func q5_1(
    _ source: UnsafeRawPointer, _ count: Int, _ output: UnsafeMutablePointer<Float>,
    _ table: UnsafeBufferPointer<Float>
  ) {
    for b in 0..<count {
      let block = source + b * 24
      let out = output + b * 32
      let d = half(block, 0, table)
      let m = half(block, 2, table)
      let high = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
      for j in 0..<16 {
        let q = UInt32(byte(block, 8 + j))
        let low = (q & 0x0F) | ((high >> UInt32(j)) & 1) << 4
        let upper = (q >> 4) | ((high >> UInt32(j + 16)) & 1) << 4
        out[j] = d * Float(low) + m
        out[j + 16] = d * Float(upper) + m
      }
    }
  }

  private static func q8_0(
    _ source: UnsafeRawPointer, _ count: Int, _ output: UnsafeMutablePointer<Float>,
    _ table: UnsafeBufferPointer<Float>
  ) {
    for b in 0..<count {
      let block = source + b * 34
      let out = output + b * 32
      let d = half(block, 0, table)
      for j in 0..<32 {
        out[j] = Float(Int8(bitPattern: byte(block, 2 + j))) * d
      }
    }
  }

  /// The 6-bit scale and min of sub-block `j` (0…7) from Q4_K/Q5_K's 12 packed bytes:
  /// bytes 0–3 hold the scales of 0–3 in their low six bits, bytes 4–7 the mins of 0–3;
  /// sub-blocks 4–7 take their low four bits from bytes 8–11 (scale low nibble, min high
  /// nibble) and their top two from the spare top bits of bytes 0–3 (scales) and 4–7 (mins).
  @inline(__always)
  private static func scaleAndMin(_ scales: UnsafeRawPointer, _ j: Int) -> (UInt8, UInt8) {
    if j < 4 { return (byte(scales, j) & 63, byte(scales, j + 4) & 63) }
    let packed = byte(scales, j + 4)
    return (
      (packed & 0x0F) | (byte(scales, j - 4) >> 6) << 4,
      (packed >> 4) | (byte(scales, j) >> 6) << 4
    )
  }

  /// Q4_K, and Q5_K when `highBits` (its 32 bytes of fifth bits come before the nibbles).
  /// Each 64-element chunk c uses 32 bytes of nibbles: low nibbles are sub-block 2c, high
  /// nibbles sub-block 2c + 1; Q5_K's fifth bit of sub-block s is bit s of qh[l].
  private static func q4_K(
    _ source: UnsafeRawPointer, _ count: Int, _ output: UnsafeMutablePointer<Float>,
    _ table: UnsafeBufferPointer<Float>, highBits: Bool
  ) {
    let blockBytes = highBits ? 176 : 144
    for b in 0..<count {
      let block = source + b * blockBytes
      let out = output + b * 256
      let d = half(block, 0, table)
      let dmin = half(block, 2, table)
      let scales = block + 4
      let fifth = block + 16
      let nibbles = block + (highBits ? 48 : 16)
      for chunk in 0..<4 {
        let (s1, m1) = scaleAndMin(scales, 2 * chunk)
        let (s2, m2) = scaleAndMin(scales, 2 * chunk + 1)
        let d1 = d * Float(s1)
        let min1 = dmin * Float(m1)
        let d2 = d * Float(s2)
        let min2 = dmin * Float(m2)
        let q = nibbles + 32 * chunk
        let o = out + 64 * chunk
        if highBits {
          for l in 0..<32 {
            let qb = byte(q, l)
            let h = byte(fifth, l) >> UInt8(2 * chunk)
            o[l] = d1 * Float((qb & 0x0F) | (h & 1) << 4) - min1
            o[l + 32] = d2 * Float((qb >> 4) | (h & 2) << 3) - min2
          }
        } else {
          for l in 0..<32 {
            let qb = byte(q, l)
            o[l] = d1 * Float(qb & 0x0F) - min1
            o[l + 32] = d2 * Float(qb >> 4) - min2
          }
        }
      }
    }
  }

  /// Q6_K: each half of 128 elements uses 64 bytes of ql and 32 of qh. For l < 32,
  /// elements l, l+32, l+64, l+96 take the low nibble of ql[l], of ql[l+32], the high
  /// nibble of ql[l], of ql[l+32], and bits 0–1, 2–3, 4–5, 6–7 of qh[l] as their top two.
  private static func q6_K(
    _ source: UnsafeRawPointer, _ count: Int, _ output: UnsafeMutablePointer<Float>,
    _ table: UnsafeBufferPointer<Float>
  ) {
    for b in 0..<count {
      let block = source + b * 210
      let out = output + b * 256
      let d = half(block, 208, table)
      var factors = (
        Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0),
        Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0)
      )
      withUnsafeMutableBytes(of: &factors) { raw in
        let f = raw.bindMemory(to: Float.self)
        for s in 0..<16 { f[s] = d * Float(Int8(bitPattern: byte(block, 192 + s))) }
        for h in 0..<2 {
          let ql = block + 64 * h
          let qh = block + 128 + 32 * h
          let o = out + 128 * h
          for l in 0..<32 {
            let a = byte(ql, l)
            let c = byte(ql, l + 32)
            let top = byte(qh, l)
            let s = 8 * h + l / 16
            o[l] = f[s] * Float(Int32((a & 0x0F) | (top & 0x03) << 4) - 32)
            o[l + 32] = f[s + 2] * Float(Int32((c & 0x0F) | ((top >> 2) & 0x03) << 4) - 32)
            o[l + 64] = f[s + 4] * Float(Int32((a >> 4) | ((top >> 4) & 0x03) << 4) - 32)
            o[l + 96] = f[s + 6] * Float(Int32((c >> 4) | (top >> 6) << 4) - 32)
          }
        }
      }
    }
  }
}
