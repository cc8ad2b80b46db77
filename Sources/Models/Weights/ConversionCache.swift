import Foundation
import Tensor

#if canImport(Glibc)
  import Glibc
#endif

/// The file a conversion was made from, as `stat` sees it: real path, device, inode, size,
/// and modification and status-change times to the nanosecond. A file edited in place,
/// copied over with its old modification time (`cp -p`, `touch -r`) or replaced has another
/// identity (the status-change time cannot be set by tools), so conversions kept for the old
/// contents are not used for it.
struct SourceIdentity: Equatable, Sendable {
  let path: String
  let device: UInt64
  let inode: UInt64
  let size: Int64
  let modified: timespec
  let changed: timespec

  /// The identity of the file at `path` now, or nil when it cannot be resolved or read.
  init?(path: String) {
    guard let resolved = realpath(path, nil) else { return nil }
    defer { free(resolved) }
    var info = stat()
    guard stat(resolved, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
    self.init(path: String(cString: resolved), info)
  }

  /// The identity of the file opened as `path` whose descriptor gave `opened`: nil unless
  /// `path` still names that same file, unchanged (so that a file replaced between opening
  /// and now never lends its identity to the contents that were read).
  init?(path: String, opened: stat) {
    guard let now = SourceIdentity(path: path) else { return nil }
    let read = SourceIdentity(path: now.path, opened)
    guard read == now else { return nil }
    self = now
  }

  init(path: String, _ info: stat) {
    self.init(
      path: path, device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size),
      modified: info.st_mtim, changed: info.st_ctim)
  }

  init(path: String, device: UInt64, inode: UInt64, size: Int64, modified: timespec, changed: timespec) {
    self.path = path
    self.device = device
    self.inode = inode
    self.size = size
    self.modified = modified
    self.changed = changed
  }

  static func == (a: SourceIdentity, b: SourceIdentity) -> Bool {
    a.path == b.path && a.device == b.device && a.inode == b.inode && a.size == b.size
      && a.modified.tv_sec == b.modified.tv_sec && a.modified.tv_nsec == b.modified.tv_nsec
      && a.changed.tv_sec == b.changed.tv_sec && a.changed.tv_nsec == b.changed.tv_nsec
  }
}

/// Float32 conversions of a weight file's half-precision tensors, kept in the cache folder
/// (`CacheFolder`) so that the next process maps them from the page cache instead of
/// converting again. Converting the sample model's 10.6 M F16 weights costs a fresh process
/// about 16 ms, mostly the kernel zeroing 42 MB of new pages; mapping the kept file costs
/// about 2 ms, and processes running at once share its pages.
///
/// One file per source path (`weights-<hash of the real path>.f32`), replaced whenever the
/// source's identity changes. Layout (little-endian; docs/formats.md, "Weight cache"):
///
/// | bytes | field |
/// |---|---|
/// | 8 | magic `XAIWF32` and a zero byte |
/// | 4 | format version (2) |
/// | 4 | converter version (`converterVersion`) |
/// | 4 | tensor count n |
/// | 7 × 8 | source device, inode, size, modification and status-change times (s, ns) |
/// | 4 + p | source real path length p, then its UTF-8 bytes |
/// | n × (4 + l + 16) | name length l, name, byte offset of its values, value count |
/// | … | each tensor's float32 values at its offset (a multiple of 64) |
///
/// Only conversions found finite are kept, so a tensor read from the file needs no second
/// check; the file is written whole, flushed to disk (`fsync`) and only then renamed into
/// place, so a crash never leaves a named file with missing values. A file that is short, damaged, of another format, or made from another identity is
/// ignored (and replaced by the next conversion); nothing about it stops a model loading.
struct ConversionCache: Sendable {
  static let magic: [UInt8] = Array("XAIWF32".utf8) + [0]
  static let formatVersion: UInt32 = 2
  /// Raised whenever the F16/BF16 → F32 conversion (CKernels' half.c, `ScalarConversion`)
  /// changes what it produces, so that no file made by an older conversion is used.
  static let converterVersion: UInt32 = 1
  /// Conversions larger than this in all are not kept (a large model's copy would fill the
  /// disk faster than it saves time).
  static let largestKept = 4 << 30
  static let fixedHeaderBytes = 8 + 4 + 4 + 4 + 7 * 8 + 4
  /// The reader's limits, which the writer keeps too.
  static let mostTensors = 1 << 20
  static let longestName = 1 << 16

  /// The cache file.
  let file: String
  /// The source it belongs to.
  let identity: SourceIdentity

  /// The cache for the weight file opened as `source` (its descriptor's `fstat` gave
  /// `opened`) in `folder`, or nil when the source cannot be identified or has changed since.
  init?(source: String, opened: stat, folder: String) {
    guard let identity = SourceIdentity(path: source, opened: opened) else { return nil }
    self.identity = identity
    file = folder + "/weights-" + String(CacheFolder.stableHash(identity.path), radix: 16) + ".f32"
  }

  /// The kept conversions whose name and value count match `expected`, mapped read-only;
  /// nil when there is no usable file.
  func read(expected: [String: Int]) -> KeptConversions? {
    guard let kept = KeptConversions(file: file), let header = Self.header(kept), header.identity == identity
    else { return nil }
    for entry in header.entries where expected[entry.name] == entry.count {
      kept.pointers[entry.name] = (kept.base + entry.offset).assumingMemoryBound(to: Float.self)
    }
    return kept
  }

  /// A cache file's header, every size in it checked against the file; nil when the file
  /// is short, damaged or of another format.
  static func header(_ kept: KeptConversions) -> (identity: SourceIdentity, entries: [(name: String, offset: Int, count: Int)])? {
    var cursor = 0
    let size = kept.size
    func bytes(_ count: Int) -> UnsafeRawBufferPointer? {
      guard count >= 0, count <= size - cursor else { return nil }
      defer { cursor += count }
      return UnsafeRawBufferPointer(start: kept.base + cursor, count: count)
    }
    func integer<T: FixedWidthInteger>(_: T.Type) -> T? {
      bytes(MemoryLayout<T>.size).map { T(littleEndian: $0.loadUnaligned(as: T.self)) }
    }
    func time() -> timespec? {
      guard let seconds = integer(Int64.self), let nanoseconds = integer(Int64.self) else { return nil }
      return timespec(tv_sec: Int(seconds), tv_nsec: Int(nanoseconds))
    }
    guard let magic = bytes(8), Array(magic) == Self.magic, integer(UInt32.self) == Self.formatVersion,
      integer(UInt32.self) == Self.converterVersion,
      let count = integer(UInt32.self), count <= Self.mostTensors,
      let device = integer(UInt64.self), let inode = integer(UInt64.self), let sourceSize = integer(Int64.self),
      let modified = time(), let changed = time(),
      let pathLength = integer(UInt32.self), pathLength <= Self.longestName, let pathBytes = bytes(Int(pathLength)),
      let path = String(validating: pathBytes, as: UTF8.self)
    else { return nil }
    let identity = SourceIdentity(
      path: path, device: device, inode: inode, size: sourceSize, modified: modified, changed: changed)
    var entries: [(name: String, offset: Int, count: Int)] = []
    for _ in 0..<count {
      guard let nameLength = integer(UInt32.self), nameLength <= Self.longestName, let nameBytes = bytes(Int(nameLength)),
        let name = String(validating: nameBytes, as: UTF8.self),
        let offset = integer(UInt64.self), let values = integer(UInt64.self)
      else { return nil }
      let (byteCount, overflow) = values.multipliedReportingOverflow(by: 4)
      guard !overflow, offset % 64 == 0, offset <= UInt64(size), byteCount <= UInt64(size) - offset else {
        return nil
      }
      entries.append((name, Int(offset), Int(values)))
    }
    // Every tensor's values lie after the header.
    guard entries.allSatisfy({ $0.offset >= cursor }) else { return nil }
    return (identity, entries)
  }

  /// Removes the other cache files in the folder whose source is gone or has changed, so
  /// that the folder holds one file per weight file that still exists.
  func pruneStale() {
    let folder = (file as NSString).deletingLastPathComponent
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return }
    for name in names where name.hasPrefix("weights-") && name.hasSuffix(".f32") {
      let other = folder + "/" + name
      guard other != file else { continue }
      // A file that cannot be read as a cache at all is left alone (it may be another
      // version's); one whose source no longer matches is removed.
      guard let kept = KeptConversions(file: other), let header = Self.header(kept) else { continue }
      if SourceIdentity(path: header.identity.path) != header.identity { unlink(other) }
    }
  }

  /// Writes `tensors` as this source's cache file, atomically (a temporary file beside it,
  /// renamed over it); false when it could not (folder gone, disk full, …).
  @discardableResult
  func write(_ tensors: [(name: String, values: UnsafePointer<Float>, count: Int)]) -> Bool {
    var header: [UInt8] = Self.magic
    func append<T: FixedWidthInteger>(_ value: T) {
      withUnsafeBytes(of: value.littleEndian) { header.append(contentsOf: $0) }
    }
    guard tensors.count <= Self.mostTensors, identity.path.utf8.count <= Self.longestName,
      tensors.allSatisfy({ $0.name.utf8.count <= Self.longestName })
    else { return false }
    append(Self.formatVersion)
    append(Self.converterVersion)
    append(UInt32(tensors.count))
    append(identity.device)
    append(identity.inode)
    append(identity.size)
    append(Int64(identity.modified.tv_sec))
    append(Int64(identity.modified.tv_nsec))
    append(Int64(identity.changed.tv_sec))
    append(Int64(identity.changed.tv_nsec))
    append(UInt32(identity.path.utf8.count))
    header.append(contentsOf: identity.path.utf8)
    let entriesBytes = tensors.reduce(0) { $0 + 4 + $1.name.utf8.count + 16 }
    // Values start on a page of their own, each tensor on a 64-byte boundary.
    var offset = (header.count + entriesBytes + 4095) / 4096 * 4096
    var offsets: [Int] = []
    for tensor in tensors {
      offsets.append(offset)
      offset += (tensor.count * 4 + 63) / 64 * 64
    }
    let total = offset
    guard !tensors.isEmpty, tensors.reduce(0, { $0 + $1.count * 4 }) <= Self.largestKept else { return false }
    for (tensor, start) in zip(tensors, offsets) {
      append(UInt32(tensor.name.utf8.count))
      header.append(contentsOf: tensor.name.utf8)
      append(UInt64(start))
      append(UInt64(tensor.count))
    }
    let temporary = file + ".\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
    let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else { return false }
    var written = ftruncate(descriptor, off_t(total)) == 0
    written = written && header.withUnsafeBytes { writeAll(descriptor, $0.baseAddress!, $0.count, at: 0) }
    for (tensor, start) in zip(tensors, offsets) where written {
      written = writeAll(descriptor, UnsafeRawPointer(tensor.values), tensor.count * 4, at: start)
    }
    // On disk before it has its name: a crash leaves at most a stray temporary file.
    written = written && fsync(descriptor) == 0
    written = close(descriptor) == 0 && written
    guard written, rename(temporary, file) == 0 else {
      unlink(temporary)
      return false
    }
    pruneStale()
    return true
  }

  private func writeAll(_ descriptor: Int32, _ source: UnsafeRawPointer, _ count: Int, at offset: Int) -> Bool {
    var done = 0
    while done < count {
      let result = pwrite(descriptor, source + done, count - done, off_t(offset + done))
      if result < 0 && errno == EINTR { continue }
      guard result > 0 else { return false }
      done += result
    }
    return true
  }
}

/// A cache file mapped read-only, and the tensors found in it.
final class KeptConversions: @unchecked Sendable {
  private let mapped: MappedFile
  var pointers: [String: UnsafePointer<Float>] = [:]
  var base: UnsafeRawPointer { mapped.base }
  var size: Int { mapped.size }

  /// `file` mapped, or nil when it is not a regular file of at least a header's length.
  init?(file: String) {
    guard let mapped = try? MappedFile(path: file), mapped.size >= ConversionCache.fixedHeaderBytes else {
      return nil
    }
    self.mapped = mapped
  }
}
