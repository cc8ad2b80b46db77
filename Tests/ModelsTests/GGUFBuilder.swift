import Foundation
import Models

/// Builds GGUF files field by field, so that each test can break one thing; the default
/// is a small valid file whose last tensor ends at the end of the file.
struct GGUFBuilder {
  /// One tensor description; `dimensions` are GGUF's (innermost first).
  struct TensorSpec {
    var name: String
    var dimensions: [UInt64]
    var type: UInt32
    var offset: UInt64
    /// The dimension count written, when not that of `dimensions`.
    var rank: UInt32? = nil
  }

  var magic: [UInt8] = Array("GGUF".utf8)
  var version: UInt32 = 3
  /// The counts written, when not those of `keys` and `tensors`.
  var tensorCount: UInt64?
  var keyCount: UInt64?
  /// Each key with the bytes of its value type and value.
  var keys: [(String, [UInt8])] = [
    ("general.architecture", GGUFBuilder.stringValue("llama")),
    ("test.count", GGUFBuilder.u32Value(7)),
  ]
  /// "a": F32 [2, 4] holding 0…7; "b": Q8_0 [32], factor 1 and integers −16…15.
  var tensors: [TensorSpec] = [
    TensorSpec(name: "a", dimensions: [4, 2], type: 0, offset: 0),
    TensorSpec(name: "b", dimensions: [32], type: 8, offset: 32),
  ]
  var alignment = 32
  var data: [UInt8] =
    (0..<8).flatMap { u32(Float($0).bitPattern) } + u16(0x3C00)
    + (-16..<16).map { UInt8(bitPattern: Int8($0)) }

  var bytes: [UInt8] {
    var out = magic + Self.u32(version)
    out += Self.u64(tensorCount ?? UInt64(tensors.count)) + Self.u64(keyCount ?? UInt64(keys.count))
    for (key, value) in keys { out += Self.string(key) + value }
    for tensor in tensors {
      out += Self.string(tensor.name) + Self.u32(tensor.rank ?? UInt32(tensor.dimensions.count))
      out += tensor.dimensions.flatMap(Self.u64) + Self.u32(tensor.type) + Self.u64(tensor.offset)
    }
    while out.count % alignment != 0 { out.append(0) }
    return out + data
  }

  static func u16(_ value: UInt16) -> [UInt8] { withUnsafeBytes(of: value.littleEndian, Array.init) }
  static func u32(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.littleEndian, Array.init) }
  static func u64(_ value: UInt64) -> [UInt8] { withUnsafeBytes(of: value.littleEndian, Array.init) }
  static func string(_ text: String) -> [UInt8] { u64(UInt64(text.utf8.count)) + Array(text.utf8) }
  /// A string value with its type tag (8).
  static func stringValue(_ text: String) -> [UInt8] { u32(8) + string(text) }
  /// A uint32 value with its type tag (4).
  static func u32Value(_ value: UInt32) -> [UInt8] { u32(4) + u32(value) }
}
