import Tensor

/// Named tensors read from a weight file.
public protocol WeightStore: Sendable {
  /// Where the weights came from, for messages.
  var path: String { get }
  /// Every tensor name.
  var names: [String] { get }
  /// The tensor `name` as float32, or nil when absent.
  func tensor(_ name: String) throws -> Tensor?
  /// The tensor `name` as float32, or nil when absent; throws `nonFiniteWeights` when a
  /// value is infinite or NaN (a store that converts can check in the same pass).
  func finiteTensor(_ name: String) throws -> Tensor?
  /// The 2-D table `name` as rows converted to float32 only when gathered, values checked
  /// finite; nil when the store keeps it as float32 already (or has no such table), so
  /// that the caller reads it whole.
  func finiteRows(_ name: String) throws -> StoredRows?
  /// Called once the model is assembled: a store that converted tensors may keep the
  /// conversions for the next process.
  func keepConversions()
}

extension WeightStore {
  public func finiteRows(_ name: String) throws -> StoredRows? { nil }

  public func keepConversions() {}

  /// `tensor(name)`, then every value checked.
  public func finiteTensor(_ name: String) throws -> Tensor? {
    guard let tensor = try tensor(name) else { return nil }
    guard tensor.allFinite else { throw ModelError.nonFiniteWeights(file: path, key: name) }
    return tensor
  }
}

/// A view of a `WeightStore` under a key prefix, as the model's module tree sees it:
/// `scope.child("attention").child("q_lin").parameter("weight", shape: [d, d])`
/// reads `…attention.q_lin.weight` and checks its shape and values.
public struct WeightScope: Sendable {
  let store: WeightStore
  /// Dotted key prefix (empty at the root).
  public let prefix: String
  /// Every key read through this scope or any scope derived from it.
  let readKeys: KeyLedger

  /// The root scope of `store`.
  public init(_ store: WeightStore) {
    self.init(store, prefix: "", readKeys: KeyLedger())
  }

  init(_ store: WeightStore, prefix: String, readKeys: KeyLedger) {
    self.store = store
    self.prefix = prefix
    self.readKeys = readKeys
  }

  /// The scope one level down.
  public func child(_ name: String) -> WeightScope {
    WeightScope(store, prefix: key(name), readKeys: readKeys)
  }

  /// Tensors of the store that no scope of this tree has read, sorted, leaving out
  /// those for which `ignored` is true (buffers such as `position_ids`).
  public func unreadKeys(ignoring ignored: (String) -> Bool = { _ in false }) -> [String] {
    let read = readKeys.keys
    return store.names.filter { !read.contains($0) && !ignored($0) }.sorted()
  }

  /// Full key of `name` in this scope.
  public func key(_ name: String) -> String { prefix.isEmpty ? name : "\(prefix).\(name)" }

  /// The table `name` [rows, width] as rows converted when gathered (`StoredRows`), else
  /// as one float32 tensor; verified to have `shape` and finite values either way.
  public func rowTable(_ name: String, shape: [Int]) throws -> RowTable {
    precondition(shape.count == 2, "a row table has two axes")
    let full = key(name)
    guard let rows = try store.finiteRows(full) else {
      return .dense(try parameter(name, shape: shape))
    }
    readKeys.insert(full)
    guard [rows.rows, rows.width] == shape else {
      throw ModelError.wrongShape(file: store.path, key: full, expected: shape, found: [rows.rows, rows.width])
    }
    return .stored(rows)
  }

  /// The tensor `name`, verified to have `shape` and finite values.
  public func parameter(_ name: String, shape: [Int]) throws -> Tensor {
    let full = key(name)
    readKeys.insert(full)
    guard let tensor = try store.finiteTensor(full) else {
      throw ModelError.missingTensor(file: store.path, key: full)
    }
    guard tensor.shape == shape else {
      throw ModelError.wrongShape(file: store.path, key: full, expected: shape, found: tensor.shape)
    }
    return tensor
  }
}

/// The keys a tree of scopes has read (loading runs on one thread).
final class KeyLedger: @unchecked Sendable {
  private(set) var keys = Set<String>()
  func insert(_ key: String) { keys.insert(key) }
}

/// Weights from the JSON weight format (docs/formats.md, "JSON weight files"):
/// `{"config": {...}, "tensors": {"name": {"shape": [...], "data": [...]}}}`.
public struct JSONWeights: WeightStore, @unchecked Sendable {
  public let path: String
  /// The `config` object.
  public let config: JSONNode
  /// The whole document (for optional extras such as `vocab`).
  public let root: JSONNode
  private let tensors: JSONNode

  /// Parses `path`.
  public init(path: String) throws {
    let document = try JSONDocument.read(path)
    try self.init(document: document)
  }

  /// Uses an already parsed document.
  public init(document: JSONDocument) throws {
    try self.init(root: document.rootNode, path: document.source)
  }

  /// Uses a `{"config", "tensors"}` object inside a larger document.
  public init(root: JSONNode, path: String) throws {
    self.path = path
    self.root = root
    guard let config = root["config"], config.isObject else {
      throw ModelError.badConfig(file: path, key: "config", reason: "is missing or not an object")
    }
    guard let tensors = root["tensors"], tensors.isObject else {
      throw ModelError.badConfig(file: path, key: "tensors", reason: "is missing or not an object")
    }
    self.config = config
    self.tensors = tensors
  }

  public var names: [String] { tensors.keys }

  public func tensor(_ name: String) throws -> Tensor? {
    guard let entry = tensors[name] else { return nil }
    guard let shapeNode = entry["shape"], shapeNode.isArray else {
      throw ModelError.badConfig(file: path, key: "tensors.\(name).shape", reason: "is missing")
    }
    let shape = shapeNode.elements.compactMap(\.int)
    guard shape.count == shapeNode.count, shape.allSatisfy({ $0 >= 0 }) else {
      throw ModelError.badConfig(
        file: path, key: "tensors.\(name).shape", reason: "is not a list of extents")
    }
    guard let data = entry["data"], let (_, values) = data.numericArray() else {
      throw ModelError.badConfig(
        file: path, key: "tensors.\(name).data", reason: "is missing or not a list of numbers")
    }
    let (count, overflow) = shape.reduce((1, false)) { product, extent in
      let (value, overflowed) = product.0.multipliedReportingOverflow(by: extent)
      return (value, product.1 || overflowed)
    }
    guard !overflow else {
      throw ModelError.badConfig(
        file: path, key: "tensors.\(name).shape", reason: "\(shape) has more elements than any file can hold")
    }
    guard values.count == count else {
      throw ModelError.badConfig(
        file: path, key: "tensors.\(name).data",
        reason: "has \(values.count) numbers for shape \(shape)")
    }
    return Tensor(shape: shape, scalars: values)
  }
}

/// Tensors held in memory by name (built in code, e.g. random models for benchmarks).
public struct MemoryWeights: WeightStore, @unchecked Sendable {
  public let path: String
  /// The tensors by name.
  public let tensors: [String: Tensor]

  /// Wraps `tensors`; `path` names them in errors.
  public init(_ tensors: [String: Tensor], path: String = "(memory)") {
    self.tensors = tensors
    self.path = path
  }

  public var names: [String] { tensors.keys.sorted() }

  public func tensor(_ name: String) throws -> Tensor? { tensors[name] }
}

/// A 2-D table of 16-bit floats kept where the file maps it: gathering rows converts just
/// those rows to float32. An embedding table of which an explanation reads a few dozen rows
/// is then never converted whole (13 MB of fresh float32 pages saved at the sample model's
/// start-up with its 8,694 rows, 47 MB with a BERT-base vocabulary of 30,522).
public struct StoredRows: @unchecked Sendable {
  /// The first row's bytes.
  let base: UnsafeRawPointer
  /// Number of rows.
  public let rows: Int
  /// Values per row.
  public let width: Int
  /// bfloat16 instead of binary16.
  let bfloat: Bool
  /// Keeps the mapping alive.
  let owner: AnyObject

  init(base: UnsafeRawPointer, rows: Int, width: Int, bfloat: Bool, owner: AnyObject) {
    self.base = base
    self.rows = rows
    self.width = width
    self.bfloat = bfloat
    self.owner = owner
  }

  /// Rows `ids` (each in 0..<rows) as float32 [ids.count, width].
  public func gather(_ ids: [Int]) -> Tensor {
    Tensor.filled(shape: [ids.count, width]) { target in
      for (r, id) in ids.enumerated() {
        precondition(id >= 0 && id < rows, "row \(id) out of range 0..<\(rows)")
        let source = base + id * width * 2
        if bfloat {
          ScalarConversion.bfloatToFloat(source, count: width, into: target + r * width)
        } else {
          ScalarConversion.halfToFloat(source, count: width, into: target + r * width)
        }
      }
    }
  }
}

/// A table read row by row: one float32 tensor, or 16-bit rows converted when gathered.
public enum RowTable: Sendable {
  case dense(Tensor)
  case stored(StoredRows)

  /// Number of rows.
  public var rows: Int {
    switch self {
    case .dense(let tensor): return tensor.shape[0]
    case .stored(let rows): return rows.rows
    }
  }

  /// Rows `ids` as [ids.count, width] (a dense table records the gradient of its rows).
  public func gather(_ ids: [Int]) -> Tensor {
    switch self {
    case .dense(let tensor): return tensor.gatherRows(ids)
    case .stored(let rows): return rows.gather(ids)
    }
  }

  /// The whole table as one float32 tensor.
  public var tensor: Tensor {
    switch self {
    case .dense(let tensor): return tensor
    case .stored(let rows): return rows.gather(Array(0..<rows.rows))
    }
  }
}
