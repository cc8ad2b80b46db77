/// A JSON value with ordered object keys, written compactly on one line.
public indirect enum JSONOutput: Sendable {
  case null
  case bool(Bool)
  case int(Int)
  case float(Float)
  case string(String)
  case array([JSONOutput])
  case object([(String, JSONOutput)])

  /// A list of floats.
  public static func floats(_ values: [Float]) -> JSONOutput { .array(values.map(JSONOutput.float)) }
  /// A list of strings.
  public static func strings(_ values: [String]) -> JSONOutput { .array(values.map(JSONOutput.string)) }
  /// A list of integers.
  public static func ints(_ values: [Int]) -> JSONOutput { .array(values.map(JSONOutput.int)) }

  /// Compact JSON text (non-finite floats become null).
  public var text: String {
    var out = ""
    write(to: &out)
    return out
  }

  func write(to out: inout String) {
    switch self {
    case .null: out += "null"
    case .bool(let value): out += value ? "true" : "false"
    case .int(let value): out += String(value)
    case .float(let value): out += value.isFinite ? "\(value)" : "null"
    case .string(let value): JSONOutput.escape(value, into: &out)
    case .array(let values):
      out += "["
      for (index, value) in values.enumerated() {
        if index > 0 { out += ", " }
        value.write(to: &out)
      }
      out += "]"
    case .object(let members):
      out += "{"
      for (index, (key, value)) in members.enumerated() {
        if index > 0 { out += ", " }
        JSONOutput.escape(key, into: &out)
        out += ": "
        value.write(to: &out)
      }
      out += "}"
    }
  }

  static func escape(_ text: String, into out: inout String) {
    out += "\""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      case "\u{2028}": out += "\\u2028"
      case "\u{2029}": out += "\\u2029"
      default:
        // C0, DEL and C1 escaped, so that a line printed to a terminal cannot control it.
        if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) {
          let hex = String(scalar.value, radix: 16)
          out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        } else {
          out.unicodeScalars.append(scalar)
        }
      }
    }
    out += "\""
  }
}
