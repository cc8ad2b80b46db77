/// Reads the little-endian fields of a GGUF header one after another from mapped memory,
/// never past `end`: every length and count is checked against the bytes left before it
/// is used, so a hostile file ends in a `ModelError`, not a trap or a huge allocation.
struct GGUFCursor {
  let base: UnsafeRawPointer
  let end: Int
  let file: String
  /// The byte read next.
  private(set) var position = 0
  /// How many more metadata values (keys and array elements included) may be read; a
  /// budget for memory, since a value of a few bytes in the file becomes a `GGUFValue` of 24.
  var valueBudget = GGUFFile.maximumMetadataValues

  init(base: UnsafeRawPointer, size: Int, file: String) {
    self.base = base
    end = size
    self.file = file
  }

  var remaining: Int { end - position }

  func failure(_ reason: String) -> ModelError { .malformedGGUF(file: file, reason: reason) }

  /// One fixed-width integer; `what` names the field for the message.
  mutating func integer<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws -> T {
    let size = MemoryLayout<T>.size
    guard remaining >= size else {
      throw failure("the file ends at byte \(end), inside \(what()) (\(size) bytes at byte \(position))")
    }
    let value = T(littleEndian: base.loadUnaligned(fromByteOffset: position, as: T.self))
    position += size
    return value
  }

  /// A 64-bit unsigned count or offset that must fit `Int`.
  mutating func size(_ what: @autoclosure () -> String) throws -> Int {
    let start = position
    let value = try integer(UInt64.self, what())
    guard let result = Int(exactly: value) else {
      throw failure("\(what()) at byte \(start) is \(value), beyond 2^63")
    }
    return result
  }

  /// A count of items each taking at least `minimumBytes`, checked against the bytes left.
  mutating func count(_ what: @autoclosure () -> String, minimumBytes: Int) throws -> Int {
    let start = position
    let value = try integer(UInt64.self, what())
    guard value <= UInt64(remaining / minimumBytes) else {
      throw failure(
        "\(what()) at byte \(start) is \(value), more than the \(remaining) bytes left could hold")
    }
    return Int(value)
  }

  /// A GGUF string: a 64-bit byte length, then that many bytes of UTF-8.
  mutating func string(_ what: @autoclosure () -> String) throws -> String {
    let start = position
    let length = try integer(UInt64.self, "the length of \(what())")
    guard length <= UInt64(remaining) else {
      throw failure(
        "\(what()) at byte \(start) declares \(length) bytes, past the end of the file (\(remaining) bytes left)"
      )
    }
    let bytes = UnsafeRawBufferPointer(start: base + position, count: Int(length))
    guard let text = String(validating: bytes, as: UTF8.self) else {
      throw failure("\(what()) at byte \(start) is not UTF-8")
    }
    position += Int(length)
    return text
  }

  /// A value type tag.
  mutating func valueType(_ what: @autoclosure () -> String) throws -> GGUFValueType {
    let start = position
    let raw = try integer(UInt32.self, "the value type of \(what())")
    guard let type = GGUFValueType(rawValue: raw) else {
      throw failure("\(what()) has unknown value type \(raw) (at byte \(start))")
    }
    return type
  }

  /// Deepest nesting of arrays accepted (real files nest at most once).
  static let maximumArrayDepth = 8

  /// One metadata value of `type`; `what` names it (`key 'general.name'`, `element 3 of
  /// key 'x'`) and `depth` counts the arrays around it.
  mutating func value(
    _ type: GGUFValueType, _ what: @autoclosure () -> String, depth: Int = 0
  ) throws -> GGUFValue {
    switch type {
    case .uint8: return .uint8(try integer(UInt8.self, "the value of \(what())"))
    case .int8: return .int8(try integer(Int8.self, "the value of \(what())"))
    case .uint16: return .uint16(try integer(UInt16.self, "the value of \(what())"))
    case .int16: return .int16(try integer(Int16.self, "the value of \(what())"))
    case .uint32: return .uint32(try integer(UInt32.self, "the value of \(what())"))
    case .int32: return .int32(try integer(Int32.self, "the value of \(what())"))
    case .uint64: return .uint64(try integer(UInt64.self, "the value of \(what())"))
    case .int64: return .int64(try integer(Int64.self, "the value of \(what())"))
    case .float32:
      return .float32(Float(bitPattern: try integer(UInt32.self, "the value of \(what())")))
    case .float64:
      return .float64(Double(bitPattern: try integer(UInt64.self, "the value of \(what())")))
    case .bool:
      let start = position
      let byte = try integer(UInt8.self, "the value of \(what())")
      guard byte <= 1 else {
        throw failure("\(what()) is a bool of value \(byte) (at byte \(start)), not 0 or 1")
      }
      return .bool(byte == 1)
    case .string:
      return .string(try string("the string of \(what())"))
    case .array:
      guard depth < Self.maximumArrayDepth else {
        throw failure("\(what()) nests arrays more than \(Self.maximumArrayDepth) deep")
      }
      let elementType = try valueType("the elements of \(what())")
      let count = try count("the array length of \(what())", minimumBytes: elementType.minimumBytes)
      guard count <= valueBudget else {
        throw failure(
          "\(what()) holds \(count) values, past the limit of \(GGUFFile.maximumMetadataValues) metadata values in a file"
        )
      }
      valueBudget -= count
      var elements: [GGUFValue] = []
      elements.reserveCapacity(count)
      for index in 0..<count {
        elements.append(try value(elementType, "element \(index) of \(what())", depth: depth + 1))
      }
      return .array(elementType, elements)
    }
  }

  /// The first multiple of `alignment` (a power of two) at or after the position; nil
  /// when that is past `Int.max`.
  func aligned(to alignment: Int) -> Int? {
    let (padded, overflow) = position.addingReportingOverflow(alignment - 1)
    guard !overflow else { return nil }
    return padded & ~(alignment - 1)
  }
}
