import Foundation
import Tensor

#if canImport(Glibc)
  import Glibc
#endif

/// A memory-mapped file that stays mapped while any tensor borrows from it.
final class MappedFile: @unchecked Sendable {
  let base: UnsafeRawPointer
  let size: Int
  /// The opened file's `fstat`.
  let info: stat

  init(path: String) throws {
    let descriptor = open(path, O_RDONLY)
    guard descriptor >= 0 else { throw ModelError.missingFile(path: path) }
    defer { close(descriptor) }
    var info = stat()
    guard fstat(descriptor, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
      throw ModelError.missingFile(path: path)
    }
    self.info = info
    size = Int(info.st_size)
    if size == 0 {
      base = UnsafeRawPointer(UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 16))
      return
    }
    guard let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0), mapped != MAP_FAILED
    else { throw ModelError.missingFile(path: path) }
    base = UnsafeRawPointer(mapped)
  }

  deinit {
    if size == 0 {
      UnsafeMutableRawPointer(mutating: base).deallocate()
    } else {
      munmap(UnsafeMutableRawPointer(mutating: base), size)
    }
  }
}

/// A safetensors file: 8-byte little-endian header length, a JSON header
/// (`dtype`, `shape`, `data_offsets` per tensor), then the raw data.
///
/// The file is memory-mapped; aligned F32 tensors are used in place (zero
/// copy), F16 and BF16 are converted to F32 when read.
public final class SafetensorsFile: WeightStore, @unchecked Sendable {
  /// Largest header accepted (docs/formats.md, "Safetensors").
  public static let maximumHeaderBytes = 100 * 1024 * 1024

  /// One tensor's entry in the header.
  public struct Entry: Sendable {
    /// Stored element type (`F32`, `F16`, `BF16`, `I64`, …).
    public let dtype: String
    /// Extent of each axis.
    public let shape: [Int]
    /// Byte range inside the data section.
    public let range: Range<Int>
  }

  /// The path the file was read from.
  public let path: String
  /// Every tensor in the header by name.
  public let entries: [String: Entry]
  /// `__metadata__` strings.
  public let metadata: [String: String]
  private let file: MappedFile
  private let dataStart: Int
  private let converted: ConvertedWeights

  private static let elementBytes: [String: Int] = [
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
    "U16": 2, "U32": 4, "U64": 8, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1,
  ]

  /// Where float32 conversions of F16 and BF16 tensors are kept between runs.
  public enum ConversionCaching: Sendable {
    /// The cache folder the environment names (`CacheFolder`), if any.
    case environment
    /// This folder.
    case folder(String)
    /// Nowhere: every process converts.
    case off
  }

  /// Opens and validates `path` (header bounds, offsets, dtype × shape sizes, overlaps).
  public init(path: String, caching: ConversionCaching = .environment) throws {
    self.path = path
    file = try MappedFile(path: path)
    func fail(_ reason: String) -> ModelError { .malformedSafetensors(file: path, reason: reason) }
    guard file.size >= 8 else {
      throw fail("the file is \(file.size) bytes, shorter than the 8-byte header length")
    }
    let declared = file.base.loadUnaligned(as: UInt64.self).littleEndian
    guard declared <= UInt64(Self.maximumHeaderBytes) else {
      throw fail("header length \(declared) exceeds the 100 MB limit")
    }
    let headerLength = Int(declared)
    guard headerLength <= file.size - 8 else {
      throw fail("header length \(headerLength) runs past the end of the \(file.size)-byte file")
    }
    dataStart = 8 + headerLength
    let headerBytes = UnsafeRawBufferPointer(start: file.base + 8, count: headerLength)
    guard let headerText = String(validating: headerBytes, as: UTF8.self) else {
      throw fail("the header is not UTF-8")
    }
    let header = try JSONDocument.parse(headerText, source: "\(path) (header)").rootNode
    guard header.isObject else { throw fail("the header is not a JSON object") }
    let dataSize = file.size - dataStart
    var entries: [String: Entry] = [:]
    var metadata: [String: String] = [:]
    for name in header.keys {
      guard let node = header[name] else { continue }
      if name == "__metadata__" {
        for key in node.keys { metadata[key] = node[key]?.string ?? "" }
        continue
      }
      guard let dtype = node["dtype"]?.string else { throw fail("tensor '\(name)' has no dtype") }
      guard let size = Self.elementBytes[dtype] else {
        throw ModelError.unsupportedDtype(file: path, key: name, dtype: dtype)
      }
      guard let shapeNode = node["shape"], shapeNode.isArray,
        let shape = Optional(shapeNode.elements.compactMap(\.int)), shape.count == shapeNode.count,
        shape.allSatisfy({ $0 >= 0 })
      else { throw fail("tensor '\(name)' has no valid shape") }
      guard let offsets = node["data_offsets"]?.elements.compactMap(\.int), offsets.count == 2,
        offsets[0] >= 0, offsets[0] <= offsets[1]
      else { throw fail("tensor '\(name)' has no valid data_offsets") }
      guard offsets[1] <= dataSize else {
        throw fail(
          "tensor '\(name)' data_offsets \(offsets) run past the \(dataSize)-byte data section")
      }
      let (elements, overflow) = shape.reduce((1, false)) { acc, extent in
        let (product, o) = acc.0.multipliedReportingOverflow(by: extent)
        return (product, acc.1 || o)
      }
      let bytes = elements.multipliedReportingOverflow(by: size)
      guard !overflow, !bytes.overflow, bytes.partialValue == offsets[1] - offsets[0] else {
        throw fail(
          "tensor '\(name)' has \(offsets[1] - offsets[0]) bytes for shape \(shape) of \(dtype)")
      }
      entries[name] = Entry(dtype: dtype, shape: shape, range: offsets[0]..<offsets[1])
    }
    let sorted = entries.sorted { $0.value.range.lowerBound < $1.value.range.lowerBound }
    for (previous, next) in zip(sorted, sorted.dropFirst())
    where previous.value.range.upperBound > next.value.range.lowerBound {
      throw fail("tensors '\(previous.key)' and '\(next.key)' overlap")
    }
    self.entries = entries
    self.metadata = metadata
    let halfCounts = entries.filter { $0.value.dtype == "F16" || $0.value.dtype == "BF16" }
      .mapValues { $0.range.count / 2 }
    var cache: ConversionCache?
    let opened = file.info
    if !halfCounts.isEmpty {
      switch caching {
      case .environment:
        cache = CacheFolder.path(environment: ProcessInfo.processInfo.environment).flatMap {
          ConversionCache(source: path, opened: opened, folder: $0)
        }
      case .folder(let folder): cache = ConversionCache(source: path, opened: opened, folder: folder)
      case .off: cache = nil
      }
    }
    converted = ConvertedWeights(counts: halfCounts, cache: cache)
  }

  /// Names of all tensors.
  public var names: [String] { entries.keys.sorted() }

  /// Whether F16/BF16 tensors are mapped from conversions an earlier process kept.
  public var usedConversionCache: Bool { converted.usedCache }

  /// Keeps this process's float32 conversions for the next one (`ConversionCache`).
  public func keepConversions() { converted.keep() }

  /// The tensor `name` as float32, or nil when absent.
  public func tensor(_ name: String) throws -> Tensor? {
    try read(name, checkFinite: false)
  }

  /// The tensor `name` as float32, its values checked finite while they are converted.
  public func finiteTensor(_ name: String) throws -> Tensor? {
    try read(name, checkFinite: true)
  }

  /// An F16 or BF16 table [rows, width] as rows converted when gathered, every value
  /// checked finite in place; nil for other types (read whole, F32 in place).
  public func finiteRows(_ name: String) throws -> StoredRows? {
    guard let entry = entries[name], entry.dtype == "F16" || entry.dtype == "BF16", entry.shape.count == 2
    else { return nil }
    let start = file.base + dataStart + entry.range.lowerBound
    let bfloat = entry.dtype == "BF16"
    guard ScalarConversion.allFinite16(start, count: entry.shape[0] * entry.shape[1], bfloat: bfloat) else {
      throw ModelError.nonFiniteWeights(file: path, key: name)
    }
    return StoredRows(base: start, rows: entry.shape[0], width: entry.shape[1], bfloat: bfloat, owner: file)
  }

  private func read(_ name: String, checkFinite: Bool) throws -> Tensor? {
    guard let entry = entries[name] else { return nil }
    let start = file.base + dataStart + entry.range.lowerBound
    let count = entry.shape.reduce(1, *)
    var finite = true
    let tensor: Tensor
    switch entry.dtype {
    case "F32":
      if Int(bitPattern: start) % MemoryLayout<Float>.alignment == 0 {
        tensor = Tensor(shape: entry.shape, borrowing: start.assumingMemoryBound(to: Float.self), owner: file)
      } else {
        tensor = Tensor.filled(shape: entry.shape) { target in
          UnsafeMutableRawPointer(target).copyMemory(from: start, byteCount: count * 4)
        }
      }
      if checkFinite { finite = tensor.allFinite }
    case "F16", "BF16":
      let half = entry.dtype == "F16"
      func convert(_ target: UnsafeMutablePointer<Float>) {
        finite =
          half
          ? ScalarConversion.halfToFloat(start, count: count, into: target)
          : ScalarConversion.bfloatToFloat(start, count: count, into: target)
      }
      if let slot = converted.slot(for: name) {
        if slot.isFresh {
          convert(slot.pointer)
          converted.converted(name, finite: finite)
        } else if checkFinite && !slot.isChecked {
          finite = ScalarConversion.allFinite(slot.pointer, count: count)
        }
        tensor = Tensor(shape: entry.shape, borrowing: slot.pointer, owner: converted)
      } else {
        tensor = Tensor.filled(shape: entry.shape, convert)
      }
    default:
      throw ModelError.unsupportedDtype(file: path, key: name, dtype: entry.dtype)
    }
    guard finite || !checkFinite else { throw ModelError.nonFiniteWeights(file: path, key: name) }
    return tensor
  }
}

/// Float32 copies of a file's F16 and BF16 tensors, each converted once into its own slot
/// of one anonymous mapping that asks for transparent huge pages: converting the sample
/// model's 14 M weights into 4 KB pages cost about as much in page faults as in
/// conversion. Pages that no tensor is read into are never touched. With a
/// `ConversionCache`, tensors an earlier process kept are mapped from its file instead, and
/// `keep()` writes this process's conversions there.
final class ConvertedWeights: @unchecked Sendable {
  struct Slot {
    let pointer: UnsafeMutablePointer<Float>
    /// True the first time: the caller fills it (and reports with `converted`).
    let isFresh: Bool
    /// Its values are known to be finite.
    let isChecked: Bool
  }

  private static let hugePage = 2 << 20
  private let counts: [String: Int]
  private let offsets: [String: Int]
  private let scalars: Int
  private var mapping: (raw: UnsafeMutableRawPointer, bytes: Int, base: UnsafeMutablePointer<Float>)?
  private var failed = false
  private var filled = Set<String>()
  private var finite = Set<String>()
  private let cache: ConversionCache?
  private var kept: KeptConversions??
  private let lock = NSLock()

  /// Slots for the tensors named in `counts` (scalars each), laid out in name order.
  init(counts: [String: Int], cache: ConversionCache?) {
    var offsets: [String: Int] = [:]
    var total = 0
    for (name, count) in counts.sorted(by: { $0.key < $1.key }) {
      offsets[name] = total
      // Each slot starts on a 64-byte boundary.
      total += (count + 15) / 16 * 16
    }
    self.counts = counts
    self.offsets = offsets
    self.cache = cache
    scalars = total
  }

  /// Whether a kept file serves any of these tensors (for diagnostics and tests).
  var usedCache: Bool {
    lock.lock()
    defer { lock.unlock() }
    return keptConversions().map { !$0.pointers.isEmpty } ?? false
  }

  /// The slot of `name`, or nil when the mapping cannot be made (the caller allocates).
  func slot(for name: String) -> Slot? {
    lock.lock()
    defer { lock.unlock() }
    if let pointer = keptConversions()?.pointers[name] {
      return Slot(pointer: UnsafeMutablePointer(mutating: pointer), isFresh: false, isChecked: true)
    }
    guard let offset = offsets[name], let base = mapped() else { return nil }
    return Slot(pointer: base + offset, isFresh: filled.insert(name).inserted, isChecked: finite.contains(name))
  }

  /// Reports that the fresh slot `name` was filled, and whether every value was finite.
  func converted(_ name: String, finite isFinite: Bool) {
    guard isFinite else { return }
    lock.lock()
    defer { lock.unlock() }
    finite.insert(name)
  }

  /// Writes every finite conversion (kept or made here) to the cache when this process
  /// made any; a failure is silent (the next process converts again).
  func keep() {
    lock.lock()
    defer { lock.unlock() }
    guard let cache, let base = mapping?.base, !finite.isEmpty else { return }
    var tensors: [(name: String, values: UnsafePointer<Float>, count: Int)] = []
    let kept = keptConversions()?.pointers ?? [:]
    for name in Set(kept.keys).union(finite).sorted() {
      guard let count = counts[name] else { continue }
      if let pointer = kept[name] {
        tensors.append((name, pointer, count))
      } else if let offset = offsets[name] {
        tensors.append((name, UnsafePointer(base + offset), count))
      }
    }
    cache.write(tensors)
    // Written once: later reads in this process use the slots.
    finite.removeAll()
  }

  private func keptConversions() -> KeptConversions? {
    if let kept { return kept }
    let read = cache?.read(expected: counts)
    kept = .some(read)
    return read
  }
  private func mapped() -> UnsafeMutablePointer<Float>? {
    if let mapping { return mapping.base }
    guard !failed, scalars > 0 else { return nil }
    let bytes = scalars * MemoryLayout<Float>.size + Self.hugePage
    guard let raw = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
      raw != MAP_FAILED
    else {
      failed = true
      return nil
    }
    let aligned = (Int(bitPattern: raw) + Self.hugePage - 1) / Self.hugePage * Self.hugePage
    let start = UnsafeMutableRawPointer(bitPattern: aligned)!
    _ = madvise(start, bytes - (aligned - Int(bitPattern: raw)), MADV_HUGEPAGE)
    let base = start.bindMemory(to: Float.self, capacity: scalars)
    mapping = (raw, bytes, base)
    return base
  }

  deinit {
    if let mapping { munmap(mapping.raw, mapping.bytes) }
  }
}
