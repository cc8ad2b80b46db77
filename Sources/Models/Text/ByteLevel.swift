/// GPT-2's byte-to-unicode table (`bytes_to_unicode`), used by every byte-level BPE: each
/// byte of the UTF-8 text becomes one printable character, so that a vocabulary of strings
/// can hold any byte sequence. Printable Latin-1 bytes (`!`…`~`, `¡`…`¬`, `®`…`ÿ`) stand for
/// themselves; the other 68 bytes (controls, space, DEL, NBSP, soft hyphen) take U+0100…U+0143
/// in byte order, so that a space is `Ġ` (U+0120) and a line feed `Ċ` (U+010A).
enum ByteLevel {
  /// The character standing for each byte.
  static let scalarOfByte: [UInt32] = {
    var table = [UInt32](repeating: 0, count: 256)
    var extra: UInt32 = 0
    for byte in 0..<256 {
      if (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte) {
        table[byte] = UInt32(byte)
      } else {
        table[byte] = 256 + extra
        extra += 1
      }
    }
    return table
  }()

  /// The byte each table character stands for (index: scalar value < 0x144), -1 elsewhere.
  static let byteOfScalar: [Int16] = {
    var table = [Int16](repeating: -1, count: 0x144)
    for (byte, scalar) in scalarOfByte.enumerated() { table[Int(scalar)] = Int16(byte) }
    return table
  }()

  /// The byte a character stands for, or nil when it is not one of the 256.
  @inline(__always)
  static func byte(of scalar: UInt32) -> UInt8? {
    guard scalar < 0x144 else { return nil }
    let byte = byteOfScalar[Int(scalar)]
    return byte < 0 ? nil : UInt8(byte)
  }

  /// The UTF-8 bytes of `scalars`, each written as its table character.
  static func mapped(_ scalars: some Collection<UInt32>) -> [UInt32] {
    var result: [UInt32] = []
    result.reserveCapacity(scalars.count)
    for value in scalars {
      forEachUTF8Byte(of: value) { result.append(scalarOfByte[Int($0)]) }
    }
    return result
  }

  /// The bytes a token's characters stand for, or nil when one of them is not a table
  /// character (Hugging Face's ByteLevel decoder then takes the token's own UTF-8).
  static func bytes(of token: String) -> [UInt8]? {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(token.utf8.count)
    for scalar in token.unicodeScalars {
      guard let byte = byte(of: scalar.value) else { return nil }
      bytes.append(byte)
    }
    return bytes
  }
}

/// Calls `body` with each UTF-8 byte of the scalar `value` (which must be a valid scalar).
@inline(__always)
func forEachUTF8Byte(of value: UInt32, _ body: (UInt8) -> Void) {
  switch value {
  case 0..<0x80:
    body(UInt8(value))
  case 0x80..<0x800:
    body(UInt8(0xC0 | (value >> 6)))
    body(UInt8(0x80 | (value & 0x3F)))
  case 0x800..<0x10000:
    body(UInt8(0xE0 | (value >> 12)))
    body(UInt8(0x80 | ((value >> 6) & 0x3F)))
    body(UInt8(0x80 | (value & 0x3F)))
  default:
    body(UInt8(0xF0 | ((value >> 18) & 0x07)))
    body(UInt8(0x80 | ((value >> 12) & 0x3F)))
    body(UInt8(0x80 | ((value >> 6) & 0x3F)))
    body(UInt8(0x80 | (value & 0x3F)))
  }
}

extension String {
  /// The string of Unicode scalar values (each must be a valid scalar; others are skipped).
  init(scalarValues: some Sequence<UInt32>) {
    var view = String.UnicodeScalarView()
    for value in scalarValues {
      if let scalar = Unicode.Scalar(value) { view.append(scalar) }
    }
    self = String(view)
  }

  /// The string's Unicode scalar values.
  var scalarValues: [UInt32] { unicodeScalars.map(\.value) }
}
