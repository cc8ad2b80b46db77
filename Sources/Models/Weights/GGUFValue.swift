/// The type tag of a GGUF metadata value (`gguf_metadata_value_type`).
public enum GGUFValueType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
  case uint8 = 0
  case int8 = 1
  case uint16 = 2
  case int16 = 3
  case uint32 = 4
  case int32 = 5
  case float32 = 6
  case bool = 7
  case string = 8
  case array = 9
  case uint64 = 10
  case int64 = 11
  case float64 = 12

  public var description: String {
    switch self {
    case .uint8: "uint8"
    case .int8: "int8"
    case .uint16: "uint16"
    case .int16: "int16"
    case .uint32: "uint32"
    case .int32: "int32"
    case .float32: "float32"
    case .bool: "bool"
    case .string: "string"
    case .array: "array"
    case .uint64: "uint64"
    case .int64: "int64"
    case .float64: "float64"
    }
  }

  /// The fewest bytes one value of this type takes in a file: its size for the fixed-size
  /// types, the length field of a string, the element type and count of an array. An array
  /// of `n` elements needs at least `n` times this, which bounds `n` before anything is
  /// allocated.
  var minimumBytes: Int {
    switch self {
    case .uint8, .int8, .bool: 1
    case .uint16, .int16: 2
    case .uint32, .int32, .float32: 4
    case .uint64, .int64, .float64, .string: 8
    case .array: 12
    }
  }
}

/// One GGUF metadata value. Arrays keep their element type (an empty array has one too)
/// and may nest.
public enum GGUFValue: Sendable, Equatable, CustomStringConvertible {
  case uint8(UInt8)
  case int8(Int8)
  case uint16(UInt16)
  case int16(Int16)
  case uint32(UInt32)
  case int32(Int32)
  case float32(Float)
  case bool(Bool)
  case string(String)
  case array(GGUFValueType, [GGUFValue])
  case uint64(UInt64)
  case int64(Int64)
  case float64(Double)

  /// The value's type tag.
  public var type: GGUFValueType {
    switch self {
    case .uint8: .uint8
    case .int8: .int8
    case .uint16: .uint16
    case .int16: .int16
    case .uint32: .uint32
    case .int32: .int32
    case .float32: .float32
    case .bool: .bool
    case .string: .string
    case .array: .array
    case .uint64: .uint64
    case .int64: .int64
    case .float64: .float64
    }
  }

  /// An integer of any width and signedness that fits `Int`; nil otherwise.
  public var int: Int? {
    switch self {
    case .uint8(let v): Int(v)
    case .int8(let v): Int(v)
    case .uint16(let v): Int(v)
    case .int16(let v): Int(v)
    case .uint32(let v): Int(v)
    case .int32(let v): Int(v)
    case .uint64(let v): Int(exactly: v)
    case .int64(let v): Int(v)
    default: nil
    }
  }

  /// A float32 or float64 (float32 widened exactly), or an integer converted to the
  /// nearest double; nil for the other types.
  public var double: Double? {
    switch self {
    case .float32(let v): Double(v)
    case .float64(let v): v
    case .uint64(let v): Double(v)
    default: int.map(Double.init)
    }
  }

  /// A bool value; nil for the other types.
  public var bool: Bool? {
    if case .bool(let v) = self { return v }
    return nil
  }

  /// A string value; nil for the other types.
  public var string: String? {
    if case .string(let v) = self { return v }
    return nil
  }

  /// The elements of an array; nil for the other types.
  public var elements: [GGUFValue]? {
    if case .array(_, let v) = self { return v }
    return nil
  }

  /// Short text for messages and listings (long arrays abridged).
  public var description: String {
    switch self {
    case .string(let v): "\"\(v)\""
    case .bool(let v): String(v)
    case .float32(let v): String(v)
    case .float64(let v): String(v)
    case .array(let type, let values):
      "[\(type) × \(values.count)"
        + (values.isEmpty
          ? "]"
          : ": "
            + values.prefix(4).map(\.description).joined(separator: ", ") + (values.count > 4 ? ", …]" : "]"))
    case .uint64(let v): String(v)
    default: int.map(String.init) ?? ""  // every remaining case is an integer that fits Int
    }
  }
}
