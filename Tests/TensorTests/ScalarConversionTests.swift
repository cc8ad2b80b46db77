import Tensor
import XCTest

final class ScalarConversionTests: XCTestCase {
  /// Every one of the 65,536 binary16 patterns, at every offset of a vector block and its
  /// scalar tail, against Swift's own Float16 → Float conversion.
  func testEveryHalfPatternConvertsExactly() {
    #if arch(x86_64) || arch(arm64)
      let patterns = (0...UInt16.max).map { $0 }
      for shift in 0..<3 {
        let source = Array(patterns.dropFirst(shift)) + [0x3C00]
        var target = [Float](repeating: .nan, count: source.count)
        let finite = source.withUnsafeBytes { bytes in
          target.withUnsafeMutableBufferPointer {
            ScalarConversion.halfToFloat(bytes.baseAddress!, count: source.count, into: $0.baseAddress!)
          }
        }
        XCTAssertFalse(finite, "the patterns include infinities and NaN")
        for (bits, value) in zip(source, target) {
          let expected = Float(Float16(bitPattern: bits))
          if expected.isNaN {
            XCTAssertTrue(value.isNaN, "pattern \(bits)")
          } else {
            XCTAssertEqual(value.bitPattern, expected.bitPattern, "pattern \(bits)")
          }
        }
      }
    #endif
  }

  /// Finiteness is reported wherever the one infinite or NaN value sits: in a vector block
  /// or in the tail.
  func testFinitenessIsReportedAtEveryPosition() {
    let count = 21
    for position in 0..<count {
      for special: UInt16 in [0x7C00, 0xFC00, 0x7E00, 0x7C01] {
        var half = [UInt16](repeating: 0x3C00, count: count)
        XCTAssertTrue(convertHalf(half).finite)
        half[position] = special
        XCTAssertFalse(convertHalf(half).finite, "half \(special) at \(position)")
      }
      for special: UInt16 in [0x7F80, 0xFF80, 0x7FC0] {
        var brain = [UInt16](repeating: 0x3F80, count: count)
        XCTAssertTrue(convertBrain(brain).finite)
        brain[position] = special
        XCTAssertFalse(convertBrain(brain).finite, "bfloat \(special) at \(position)")
      }
      for special: Float in [.infinity, -.infinity, .nan] {
        var floats = [Float](repeating: 1, count: count)
        XCTAssertTrue(floats.withUnsafeBufferPointer { ScalarConversion.allFinite($0.baseAddress!, count: count) })
        floats[position] = special
        XCTAssertFalse(floats.withUnsafeBufferPointer { ScalarConversion.allFinite($0.baseAddress!, count: count) })
        XCTAssertFalse(Tensor(shape: [count], scalars: floats).allFinite)
      }
    }
    // The largest finite values are finite.
    XCTAssertTrue(convertHalf([0x7BFF, 0xFBFF]).finite)
    XCTAssertEqual(convertHalf([0x7BFF, 0xFBFF]).values, [65504, -65504])
    XCTAssertTrue(convertBrain([0x7F7F]).finite)
  }

  func testBfloatIsTheUpperHalfOfFloat() {
    let values: [Float] = [1, -5, 0.15625, -0.0, 3.0e38, 1.0e-38]
    let brain = values.map { UInt16($0.bitPattern >> 16) }
    XCTAssertEqual(convertBrain(brain).values.map(\.bitPattern), values.map { $0.bitPattern & 0xFFFF_0000 })
  }

  /// Unaligned sources (a safetensors tensor may start at any byte).
  func testUnalignedSource() {
    let half: [UInt16] = (0..<19).map { UInt16(0x3C00 + $0) }
    var bytes: [UInt8] = [0xAA]
    for bits in half { bytes += [UInt8(bits & 0xFF), UInt8(bits >> 8)] }
    var target = [Float](repeating: 0, count: half.count)
    bytes.withUnsafeBytes { raw in
      target.withUnsafeMutableBufferPointer {
        _ = ScalarConversion.halfToFloat(raw.baseAddress! + 1, count: half.count, into: $0.baseAddress!)
      }
    }
    XCTAssertEqual(target, convertHalf(half).values)
  }

  private func convertHalf(_ bits: [UInt16]) -> (values: [Float], finite: Bool) {
    var target = [Float](repeating: 0, count: bits.count)
    let finite = bits.withUnsafeBytes { raw in
      target.withUnsafeMutableBufferPointer {
        ScalarConversion.halfToFloat(raw.baseAddress!, count: bits.count, into: $0.baseAddress!)
      }
    }
    return (target, finite)
  }

  private func convertBrain(_ bits: [UInt16]) -> (values: [Float], finite: Bool) {
    var target = [Float](repeating: 0, count: bits.count)
    let finite = bits.withUnsafeBytes { raw in
      target.withUnsafeMutableBufferPointer {
        ScalarConversion.bfloatToFloat(raw.baseAddress!, count: bits.count, into: $0.baseAddress!)
      }
    }
    return (target, finite)
  }
}
