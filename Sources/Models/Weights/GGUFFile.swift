import Tensor

/// One tensor's entry in a GGUF file's header.
public struct GGUFTensorInfo: Sendable, Equatable {
  /// The tensor's name (`blk.0.attn_q.weight`).
  public let name: String
  /// Extents in row-major (PyTorch) order: the reverse of the file's `ne`, so the last
  /// extent is the row length.
  public let shape: [Int]
  /// The stored element type.
  public let type: GGMLType
  /// Where the tensor's bytes start, counted from the start of the data section.
  public let offset: Int
  /// How many bytes the tensor's blocks take.
  public let byteCount: Int
  /// How many elements the tensor holds (the product of the shape).
  public let elementCount: Int

  /// Extents in GGUF order, innermost first (`ne[0]` is the row length).
  public var dimensions: [Int] { shape.reversed() }
}

/// A GGUF file (versions 2 and 3), as llama.cpp, Ollama and LM Studio keep models: the
/// magic `GGUF`, a version, typed metadata, tensor descriptions, then the tensor data,
/// aligned (docs/formats.md, "GGUF").
///
/// The file is memory-mapped and every count, length, offset and size in it is checked
/// against the file before use, so a broken or hostile file ends in a `ModelError`.
/// Tensors are read as float32 (dequantised; an aligned F32 tensor is used in place); the
/// stored blocks are available as they are through `withRawBytes(of:_:)`.
public final class GGUFFile: WeightStore, @unchecked Sendable {
  /// Most metadata values a file may hold, keys and array elements included
  /// (docs/formats.md); real files hold a few hundred thousand (a vocabulary's tokens,
  /// scores and types). Each value takes a few bytes in the file and about 24 in memory.
  public static let maximumMetadataValues = 1 << 22
  /// Most tensors a file may describe (docs/formats.md); real models have a few thousand.
  public static let maximumTensors = 1 << 20
  /// Most axes a tensor may have (ggml's `GGML_MAX_DIMS`).
  public static let maximumRank = 4
  /// Alignment of the data section and of every tensor when `general.alignment` is absent.
  public static let defaultAlignment = 32

  /// The path the file was read from.
  public let path: String
  /// The format version (2 or 3; they share one layout).
  public let version: Int
  /// The alignment of the data section and of every tensor's offset.
  public let alignment: Int
  /// Where the data section starts in the file.
  public let dataOffset: Int
  /// Metadata keys in file order.
  public let metadataKeys: [String]
  /// Every metadata value by key.
  public let metadata: [String: GGUFValue]
  /// Every tensor, in file order.
  public let tensorInfos: [GGUFTensorInfo]
  private let tensorIndex: [String: Int]
  private let file: MappedFile

  /// Opens and validates `path`: header, every metadata value, every tensor's dimensions,
  /// type and byte range (inside the file, aligned, not overlapping another).
  public init(path: String) throws {
    self.path = path
    file = try MappedFile(path: path)
    var cursor = GGUFCursor(base: file.base, size: file.size, file: path)
    func fail(_ reason: String) -> ModelError { .malformedGGUF(file: path, reason: reason) }

    guard file.size >= 4 else {
      throw fail("the file is \(file.size) bytes, shorter than the 4-byte magic 'GGUF'")
    }
    let magic = UnsafeRawBufferPointer(start: file.base, count: 4)
    guard magic.elementsEqual("GGUF".utf8) else {
      let hex = magic.map { String($0, radix: 16) }.joined(separator: " ")
      throw fail("it does not start with the magic 'GGUF' (its first bytes are \(hex))")
    }
    _ = try cursor.integer(UInt32.self, "the magic")
    let version = try cursor.integer(UInt32.self, "the version")
    switch version {
    case 2, 3: break
    case 1:
      throw fail(
        "GGUF version 1 is not supported (xai reads versions 2 and 3; convert the file with a current llama.cpp)"
      )
    case _ where version & 0xFFFF == 0:
      throw fail("version field \(version) is that of a big-endian file, which xai does not read")
    default: throw fail("GGUF version \(version) is not supported (xai reads versions 2 and 3)")
    }
    self.version = Int(version)
    // The fewest bytes a tensor description (empty name, no axes) and a key-value pair
    // (empty key, one-byte value) take: the counts are bounded by the bytes left.
    let tensorInfoBytes = 8 + 4 + 4 + 8
    let keyValueBytes = 8 + 4 + 1
    let tensorCount = try cursor.count("the tensor count", minimumBytes: tensorInfoBytes)
    let keyCount = try cursor.count("the metadata key count", minimumBytes: keyValueBytes)

    guard keyCount <= cursor.valueBudget else {
      throw fail(
        "the metadata key count \(keyCount) is past the limit of \(Self.maximumMetadataValues) metadata values"
      )
    }
    var metadata: [String: GGUFValue] = [:]
    var keys: [String] = []
    // Reserved up to a modest size only: what grows past it is paid for by bytes read.
    metadata.reserveCapacity(min(keyCount, 4096))
    keys.reserveCapacity(min(keyCount, 4096))
    for index in 0..<keyCount {
      let key = try cursor.string("metadata key \(index)")
      guard !key.isEmpty else { throw fail("metadata key \(index) is empty") }
      guard metadata[key] == nil else { throw fail("key '\(key)' appears twice") }
      guard cursor.valueBudget > 0 else {
        throw fail("key '\(key)' is past the limit of \(Self.maximumMetadataValues) metadata values")
      }
      cursor.valueBudget -= 1
      let type = try cursor.valueType("key '\(key)'")
      metadata[key] = try cursor.value(type, "key '\(key)'")
      keys.append(key)
    }
    self.metadata = metadata
    metadataKeys = keys

    var alignment = Self.defaultAlignment
    if let value = metadata["general.alignment"] {
      guard case .uint32(let raw) = value else {
        throw fail("key 'general.alignment' has type \(value.type), not uint32")
      }
      guard raw != 0, raw & (raw - 1) == 0 else {
        throw fail("key 'general.alignment' is \(raw), not a power of two")
      }
      alignment = Int(raw)
    }
    self.alignment = alignment

    guard tensorCount <= cursor.remaining / tensorInfoBytes else {
      throw fail(
        "the tensor count \(tensorCount) is more than the \(cursor.remaining) bytes after the metadata could describe"
      )
    }
    guard tensorCount <= Self.maximumTensors else {
      throw fail("the tensor count \(tensorCount) is past the limit of \(Self.maximumTensors) tensors")
    }
    var infos: [GGUFTensorInfo] = []
    var index: [String: Int] = [:]
    infos.reserveCapacity(min(tensorCount, 4096))
    index.reserveCapacity(min(tensorCount, 4096))
    for number in 0..<tensorCount {
      let info = try Self.readTensorInfo(&cursor, number: number, alignment: alignment, path: path)
      guard index[info.name] == nil else { throw fail("tensor '\(info.name)' appears twice") }
      index[info.name] = infos.count
      infos.append(info)
    }

    guard let dataOffset = cursor.aligned(to: alignment) else {
      throw fail("the data section would start past 2^63 (alignment \(alignment))")
    }
    self.dataOffset = dataOffset
    let dataSize = max(0, file.size - dataOffset)
    for info in infos {
      let (end, overflow) = info.offset.addingReportingOverflow(info.byteCount)
      guard !overflow, end <= dataSize else {
        throw fail(
          "tensor '\(info.name)' (\(info.byteCount) bytes of \(info.type) at data offset \(info.offset)) runs past the end of the \(dataSize)-byte data section"
        )
      }
    }
    let stored = infos.filter { $0.byteCount > 0 }.sorted { $0.offset < $1.offset }
    for (previous, next) in zip(stored, stored.dropFirst())
    where previous.offset + previous.byteCount > next.offset {
      throw fail("tensors '\(previous.name)' and '\(next.name)' overlap")
    }
    tensorInfos = infos
    tensorIndex = index
  }

  /// One tensor description: name, rank, extents (innermost first), type, data offset.
  private static func readTensorInfo(
    _ cursor: inout GGUFCursor, number: Int, alignment: Int, path: String
  ) throws -> GGUFTensorInfo {
    let name = try cursor.string("the name of tensor \(number)")
    let rank = try cursor.integer(UInt32.self, "the dimension count of tensor '\(name)'")
    guard rank <= maximumRank else {
      throw cursor.failure("tensor '\(name)' has \(rank) dimensions; GGUF allows at most \(maximumRank)")
    }
    var dimensions: [Int] = []
    // The product of the non-zero extents bounds every partial product in either order
    // (the shape is used reversed), so an empty tensor cannot overflow later either.
    var nonZeroProduct = 1
    var overflow = false
    for axis in 0..<Int(rank) {
      let extent = try cursor.size("dimension \(axis) of tensor '\(name)'")
      dimensions.append(extent)
      let product = nonZeroProduct.multipliedReportingOverflow(by: max(extent, 1))
      nonZeroProduct = product.partialValue
      overflow = overflow || product.overflow
    }
    guard !overflow else {
      throw cursor.failure("tensor '\(name)' has dimensions \(dimensions) whose product overflows 64 bits")
    }
    let elements = dimensions.contains(0) ? 0 : nonZeroProduct
    let rawType = try cursor.integer(UInt32.self, "the type of tensor '\(name)'")
    guard let type = GGMLType(rawValue: rawType) else {
      throw ModelError.unsupportedDtype(file: path, key: name, dtype: GGMLType.dtypeName(rawType))
    }
    let rowLength = dimensions.first ?? 1
    guard rowLength % type.blockSize == 0 else {
      throw cursor.failure(
        "tensor '\(name)' has rows of \(rowLength) elements, not a multiple of the \(type.blockSize)-element blocks of \(type)"
      )
    }
    // Whole rows are whole blocks, so the element count is a multiple of the block size.
    let bytes = (elements / type.blockSize).multipliedReportingOverflow(by: type.typeSize)
    guard !bytes.overflow else {
      throw cursor.failure("tensor '\(name)' of dimensions \(dimensions) would take more than 2^63 bytes")
    }
    let offset = try cursor.size("the data offset of tensor '\(name)'")
    guard offset % alignment == 0 else {
      throw cursor.failure(
        "tensor '\(name)' starts at data offset \(offset), not a multiple of the alignment \(alignment)")
    }
    return GGUFTensorInfo(
      name: name, shape: dimensions.reversed(), type: type, offset: offset, byteCount: bytes.partialValue,
      elementCount: elements)
  }

  // MARK: Metadata

  /// The metadata value of `key`, or nil when absent.
  public func value(_ key: String) -> GGUFValue? { metadata[key] }

  /// A string value; nil when absent or of another type.
  public func string(_ key: String) -> String? { metadata[key]?.string }

  /// An integer value of any width that fits `Int`; nil when absent, of another type or
  /// out of range.
  public func int(_ key: String) -> Int? { metadata[key]?.int }

  /// A float32 or float64 value (integers are accepted too); nil when absent or of
  /// another type.
  public func float(_ key: String) -> Double? { metadata[key]?.double }

  /// A bool value; nil when absent or of another type.
  public func bool(_ key: String) -> Bool? { metadata[key]?.bool }

  /// An array of strings; nil when absent or not an array of strings.
  public func stringArray(_ key: String) -> [String]? { array(key, \.string) }

  /// An array of integers (any width, each fitting `Int`); nil otherwise.
  public func intArray(_ key: String) -> [Int]? { array(key, \.int) }

  /// An array of floats (or integers); nil otherwise.
  public func floatArray(_ key: String) -> [Double]? { array(key, \.double) }

  private func array<T>(_ key: String, _ element: (GGUFValue) -> T?) -> [T]? {
    guard let values = metadata[key]?.elements else { return nil }
    var result: [T] = []
    result.reserveCapacity(values.count)
    for value in values {
      guard let converted = element(value) else { return nil }
      result.append(converted)
    }
    return result
  }

  // MARK: Tensors

  /// Names of all tensors, in file order.
  public var names: [String] { tensorInfos.map(\.name) }

  /// The description of tensor `name`, or nil when absent.
  public func info(_ name: String) -> GGUFTensorInfo? {
    tensorIndex[name].map { tensorInfos[$0] }
  }

  /// The tensor `name` as float32 in row-major order (shape as `GGUFTensorInfo.shape`),
  /// dequantised; nil when absent. A type xai cannot dequantise is `unsupportedDtype`.
  public func tensor(_ name: String) throws -> Tensor? {
    guard let info = info(name) else { return nil }
    guard info.type.canDequantize else {
      throw ModelError.unsupportedDtype(file: path, key: name, dtype: GGMLType.dtypeName(info.type.rawValue))
    }
    let start = file.base + dataOffset + info.offset
    if info.type == .f32, Int(bitPattern: start) % MemoryLayout<Float>.alignment == 0 {
      return Tensor(shape: info.shape, borrowing: start.assumingMemoryBound(to: Float.self), owner: file)
    }
    return Tensor.filled(shape: info.shape) { target in
      info.type.dequantizeBlocks(start, count: info.elementCount / info.type.blockSize, into: target)
    }
  }

  /// Tensor `name`'s stored blocks: a pointer into the mapping, valid while `owner` lives.
  public func blocks(of name: String) throws -> (bytes: UnsafeRawPointer, byteCount: Int, owner: AnyObject) {
    guard let info = info(name) else { throw ModelError.missingTensor(file: path, key: name) }
    return (UnsafeRawPointer(file.base + dataOffset + info.offset), info.byteCount, file)
  }

  /// Calls `body` with tensor `name`'s stored bytes (its blocks as written, `byteCount`
  /// of them), valid only during the call; `missingTensor` when absent.
  public func withRawBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
    guard let info = info(name) else { throw ModelError.missingTensor(file: path, key: name) }
    return try withExtendedLifetime(file) {
      try body(UnsafeRawBufferPointer(start: file.base + dataOffset + info.offset, count: info.byteCount))
    }
  }
}
