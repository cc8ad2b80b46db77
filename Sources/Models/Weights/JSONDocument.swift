import CJSONC
import Foundation

/// A parsed JSON document (json-c); nodes borrow from it and keep it alive.
public final class JSONDocument: @unchecked Sendable {
  let root: OpaquePointer?
  /// Where the text came from, for error messages.
  public let source: String

  private init(root: OpaquePointer?, source: String) {
    self.root = root
    self.source = source
  }

  deinit {
    if let root { json_object_put(root) }
  }

  /// Parses `text`; `source` names it in errors.
  public static func parse(_ text: String, source: String) throws -> JSONDocument {
    let tokener = json_tokener_new_ex(Int32(JSON_TOKENER_DEFAULT_DEPTH))
    defer { json_tokener_free(tokener) }
    // A final line break ends a top-level number or `null`, which json-c would otherwise
    // hold back waiting for more digits or letters.
    let bytes = Array(text.utf8) + [10]
    let parsed: OpaquePointer? = bytes.withUnsafeBufferPointer { buffer in
      buffer.withMemoryRebound(to: CChar.self) { chars in
        json_tokener_parse_ex(tokener, chars.baseAddress, Int32(chars.count))
      }
    }
    let error = json_tokener_get_error(tokener)
    if error != json_tokener_success
      || parsed == nil && text.trimmingCharacters(in: .whitespacesAndNewlines) != "null"
    {
      if let parsed { json_object_put(parsed) }
      let reason =
        error == json_tokener_continue
        ? "unexpected end of input" : String(cString: json_tokener_error_desc(error))
      throw ModelError.malformedJSON(
        file: source, reason: "\(reason) near byte \(min(json_tokener_get_parse_end(tokener), bytes.count - 1))")
    }
    if json_tokener_get_parse_end(tokener) < bytes.count {
      let rest = bytes[json_tokener_get_parse_end(tokener)...]
      if rest.contains(where: { !($0 == 32 || $0 == 9 || $0 == 10 || $0 == 13) }) {
        if let parsed { json_object_put(parsed) }
        throw ModelError.malformedJSON(
          file: source, reason: "trailing data after byte \(json_tokener_get_parse_end(tokener))")
      }
    }
    return JSONDocument(root: parsed, source: source)
  }

  /// Reads and parses a file.
  public static func read(_ path: String) throws -> JSONDocument {
    let data = try readFileContents(path)
    guard let text = String(data: data, encoding: .utf8) else {
      throw ModelError.malformedJSON(file: path, reason: "not UTF-8 text")
    }
    return try parse(text, source: path)
  }

  /// The top-level value.
  public var rootNode: JSONNode { JSONNode(object: root, document: self, path: "") }
}

/// One value inside a `JSONDocument`, with its key path for messages.
public struct JSONNode: @unchecked Sendable {
  let object: OpaquePointer?
  let document: JSONDocument
  /// Dotted key path from the root (`config.dim`, `edges[3]`).
  public let path: String

  /// Whether the value is JSON null (or absent).
  public var isNull: Bool { object == nil || json_object_get_type(object) == json_type_null }
  /// Whether the value is an object.
  public var isObject: Bool { object != nil && json_object_get_type(object) == json_type_object }
  /// Whether the value is an array.
  public var isArray: Bool { object != nil && json_object_get_type(object) == json_type_array }

  /// The member `key` of an object, or nil.
  public subscript(key: String) -> JSONNode? {
    guard isObject else { return nil }
    var child: OpaquePointer?
    guard json_object_object_get_ex(object, key, &child) != 0 else { return nil }
    return JSONNode(object: child, document: document, path: path.isEmpty ? key : "\(path).\(key)")
  }

  /// Member names of an object, in document order.
  public var keys: [String] {
    guard isObject else { return [] }
    var names: [String] = []
    var iterator = json_object_iter_begin(object)
    var end = json_object_iter_end(object)
    while json_object_iter_equal(&iterator, &end) == 0 {
      names.append(String(cString: json_object_iter_peek_name(&iterator)))
      json_object_iter_next(&iterator)
    }
    return names
  }

  /// The members of an object whose values are all integral numbers, in document order
  /// (vocabularies); nil when the value is not an object or a member is not an integer.
  /// Faster than `keys` and lookups for large objects.
  public var integerMembers: [(key: String, value: Int)]? {
    guard isObject else { return nil }
    var members: [(key: String, value: Int)] = []
    members.reserveCapacity(Int(json_object_object_length(object)))
    var iterator = json_object_iter_begin(object)
    var end = json_object_iter_end(object)
    while json_object_iter_equal(&iterator, &end) == 0 {
      let value = JSONNode(object: json_object_iter_peek_value(&iterator), document: document, path: "")
      guard let number = value.int else { return nil }
      members.append((String(cString: json_object_iter_peek_name(&iterator)), number))
      json_object_iter_next(&iterator)
    }
    return members
  }

  /// The elements of an array whose elements are all strings; nil otherwise. Faster than
  /// `elements` for long arrays.
  public var stringElements: [String]? {
    guard isArray else { return nil }
    var strings: [String] = []
    strings.reserveCapacity(count)
    for index in 0..<count {
      guard let text = JSONNode(object: json_object_array_get_idx(object, index), document: document, path: "").string
      else { return nil }
      strings.append(text)
    }
    return strings
  }

  /// The elements of an array whose elements are all arrays of two strings; nil otherwise.
  public var stringPairElements: [(String, String)]? {
    guard isArray else { return nil }
    var pairs: [(String, String)] = []
    pairs.reserveCapacity(count)
    for index in 0..<count {
      let pair = JSONNode(object: json_object_array_get_idx(object, index), document: document, path: "")
      guard pair.count == 2,
        let first = JSONNode(object: json_object_array_get_idx(pair.object, 0), document: document, path: "").string,
        let second = JSONNode(object: json_object_array_get_idx(pair.object, 1), document: document, path: "").string
      else { return nil }
      pairs.append((first, second))
    }
    return pairs
  }

  /// Elements of an array.
  public var elements: [JSONNode] {
    guard isArray else { return [] }
    return (0..<json_object_array_length(object)).map { index in
      JSONNode(
        object: json_object_array_get_idx(object, index), document: document, path: "\(path)[\(index)]")
    }
  }

  /// Number of array elements.
  public var count: Int { isArray ? json_object_array_length(object) : 0 }

  /// A number (integer or floating) as Double.
  public var double: Double? {
    guard let object else { return nil }
    let type = json_object_get_type(object)
    guard type == json_type_double || type == json_type_int else { return nil }
    return json_object_get_double(object)
  }

  /// An integral number.
  public var int: Int? {
    guard let object else { return nil }
    let type = json_object_get_type(object)
    if type == json_type_int { return Int(json_object_get_int64(object)) }
    if type == json_type_double, let value = double, value == value.rounded(), abs(value) < 9e15 {
      return Int(value)
    }
    return nil
  }

  /// The value as JSON text, for messages. json-c clamps integers beyond 64 bits to the
  /// ends of the range and keeps no digits, so such a number is described, not echoed.
  public var literal: String {
    guard let object, let text = json_object_to_json_string_ext(object, JSON_C_TO_STRING_PLAIN) else {
      return "null"
    }
    if json_object_get_type(object) == json_type_int
      && (json_object_get_uint64(object) == UInt64.max || json_object_get_int64(object) == Int64.max
        || json_object_get_int64(object) == Int64.min)
    {
      return "an integer beyond the 64-bit range"
    }
    return String(cString: text)
  }

  /// A boolean.
  public var bool: Bool? {
    guard let object, json_object_get_type(object) == json_type_boolean else { return nil }
    return json_object_get_boolean(object) != 0
  }

  /// A string.
  public var string: String? {
    guard let object, json_object_get_type(object) == json_type_string else { return nil }
    let length = Int(json_object_get_string_len(object))
    let pointer = json_object_get_string(object)!
    return pointer.withMemoryRebound(to: UInt8.self, capacity: length) {
      String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
    }
  }

  /// A (possibly nested) array of numbers flattened in row-major order, with its shape;
  /// nil when any element is not a number or the nesting is ragged.
  public func numericArray() -> (shape: [Int], values: [Float])? {
    var values: [Float] = []
    var shape: [Int] = []
    func visit(_ node: OpaquePointer?, depth: Int) -> Bool {
      guard let node else { return false }
      let type = json_object_get_type(node)
      if type == json_type_array {
        let n = json_object_array_length(node)
        if depth == shape.count { shape.append(n) } else if shape[depth] != n { return false }
        for i in 0..<n where !visit(json_object_array_get_idx(node, i), depth: depth + 1) {
          return false
        }
        return true
      }
      guard type == json_type_double || type == json_type_int, depth == shape.count else {
        return false
      }
      values.append(Float(json_object_get_double(node)))
      return true
    }
    guard visit(object, depth: 0) else { return nil }
    return (shape, values)
  }
}
