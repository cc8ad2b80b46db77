import Foundation
import XCTest

@testable import Models

/// Float32 conversions of F16/BF16 weights kept between processes (`ConversionCache`):
/// the next open maps them and gets the same bits, a changed source or a damaged file is
/// never served, non-finite tensors are never kept, and stale files are pruned.
final class ConversionCacheTests: XCTestCase {
  private var folder = ""

  override func setUpWithError() throws {
    folder = FileManager.default.temporaryDirectory.appendingPathComponent("xai-cache-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
  }

  override func tearDownWithError() throws {
    try? FileManager.default.removeItem(atPath: folder)
  }

  private func halves(_ values: [UInt16]) -> [UInt8] {
    values.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }
  }

  /// A file with an F16 matrix, a BF16 vector, an F32 vector and an F16 tensor holding +∞.
  private func model(scale: UInt16 = 0) throws -> String {
    var builder = SafetensorsBuilder()
    builder.entries.append(
      .init(name: "h.weight", dtype: "F16", shape: [3, 7], bytes: halves((0..<21).map { 0x3C00 + $0 * 7 + scale })))
    builder.entries.append(
      .init(name: "b.weight", dtype: "BF16", shape: [5], bytes: halves([0x3F80, 0xC0A0, 0x3E00, 0x0001, 0xBF00])))
    builder.addFloats("f.bias", shape: [2], [0.25, -4])
    builder.entries.append(
      .init(name: "n.weight", dtype: "F16", shape: [4], bytes: halves([0x3C00, 0x7C00, 0x3C00, 0x3C00])))
    return try builder.write(builder.bytes())
  }

  private func cacheFiles() -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".f32") }.sorted()
  }

  private func readAll(_ store: SafetensorsFile) throws -> [[UInt32]] {
    try ["h.weight", "b.weight", "f.bias"].map { try XCTUnwrap(store.finiteTensor($0)).scalars.map(\.bitPattern) }
  }

  func testKeptConversionsAreMappedByTheNextOpenWithTheSameBits() throws {
    let path = try model()
    let first = try SafetensorsFile(path: path, caching: .folder(folder))
    let converted = try readAll(first)
    XCTAssertFalse(first.usedConversionCache)
    XCTAssertTrue(cacheFiles().isEmpty, "nothing is written before keepConversions")
    first.keepConversions()
    XCTAssertEqual(cacheFiles().count, 1)

    let second = try SafetensorsFile(path: path, caching: .folder(folder))
    XCTAssertEqual(try readAll(second), converted)
    XCTAssertTrue(second.usedConversionCache)
    let uncached = try SafetensorsFile(path: path, caching: .off)
    XCTAssertEqual(try readAll(uncached), converted)
    XCTAssertFalse(uncached.usedConversionCache)
    // Asked twice, a mapped tensor gives the same values.
    XCTAssertEqual(try second.finiteTensor("h.weight")?.scalars.map(\.bitPattern), converted[0])
  }

  func testNonFiniteTensorsAreNeverKeptSoTheyAreStillRefused() throws {
    let path = try model()
    let first = try SafetensorsFile(path: path, caching: .folder(folder))
    // Read unchecked, so the conversion happens without an error; it must not be kept.
    XCTAssertEqual(try first.tensor("n.weight")?.scalars[1], .infinity)
    _ = try readAll(first)
    first.keepConversions()
    let second = try SafetensorsFile(path: path, caching: .folder(folder))
    XCTAssertThrowsError(try second.finiteTensor("n.weight")) { error in
      XCTAssertTrue("\(error)".contains("n.weight"), "\(error)")
    }
    XCTAssertTrue(second.usedConversionCache, "the finite tensors still come from the cache")
  }

  func testChangedSourceIsConvertedAgainAndTheFileReplaced() throws {
    let path = try model()
    let first = try SafetensorsFile(path: path, caching: .folder(folder))
    let old = try readAll(first)
    first.keepConversions()
    // The same path and size, other values and a later modification time.
    let replacement = try model(scale: 1)
    try FileManager.default.removeItem(atPath: path)
    try FileManager.default.moveItem(atPath: replacement, toPath: path)
    var times = [timespec(tv_sec: 2_000_000_000, tv_nsec: 5), timespec(tv_sec: 2_000_000_000, tv_nsec: 5)]
    XCTAssertEqual(utimensat(AT_FDCWD, path, &times, 0), 0)
    let second = try SafetensorsFile(path: path, caching: .folder(folder))
    let new = try readAll(second)
    XCTAssertFalse(second.usedConversionCache)
    XCTAssertNotEqual(new[0], old[0])
    second.keepConversions()
    XCTAssertEqual(cacheFiles().count, 1, "one file per source path")
    let third = try SafetensorsFile(path: path, caching: .folder(folder))
    XCTAssertEqual(try readAll(third), new)
    XCTAssertTrue(third.usedConversionCache)
  }

  /// The same file (inode, size) rewritten in place and its modification time put back, as
  /// `cp -p` over it or `rsync --inplace -t` would: the status-change time gives it away.
  func testARewriteInPlaceWithTheOldModificationTimeIsConvertedAgain() throws {
    let path = try model()
    var before = stat()
    XCTAssertEqual(stat(path, &before), 0)
    let first = try SafetensorsFile(path: path, caching: .folder(folder))
    let old = try readAll(first)
    first.keepConversions()
    // Let the clock move past the status-change time's granularity.
    usleep(20_000)
    let other = try Data(contentsOf: URL(fileURLWithPath: try model(scale: 3)))
    let descriptor = open(path, O_WRONLY)
    XCTAssertGreaterThanOrEqual(descriptor, 0)
    _ = other.withUnsafeBytes { pwrite(descriptor, $0.baseAddress!, $0.count, 0) }
    close(descriptor)
    var times = [before.st_atim, before.st_mtim]
    XCTAssertEqual(utimensat(AT_FDCWD, path, &times, 0), 0)
    var after = stat()
    XCTAssertEqual(stat(path, &after), 0)
    XCTAssertEqual(after.st_ino, before.st_ino)
    XCTAssertEqual(after.st_size, before.st_size)
    XCTAssertEqual(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec)
    let second = try SafetensorsFile(path: path, caching: .folder(folder))
    XCTAssertFalse(second.usedConversionCache)
    XCTAssertNotEqual(try readAll(second)[0], old[0])
  }

  func testDamagedCacheFilesAreIgnoredNeverTrusted() throws {
    let path = try model()
    let first = try SafetensorsFile(path: path, caching: .folder(folder))
    let expected = try readAll(first)
    first.keepConversions()
    let cache = folder + "/" + cacheFiles()[0]
    let good = try Data(contentsOf: URL(fileURLWithPath: cache))
    func damaged(_ name: String, _ edit: (inout Data) -> Void) throws {
      var bytes = good
      edit(&bytes)
      try bytes.write(to: URL(fileURLWithPath: cache))
      let store = try SafetensorsFile(path: path, caching: .folder(folder))
      XCTAssertEqual(try readAll(store), expected, name)
      XCTAssertFalse(store.usedConversionCache, name)
    }
    func put<T: FixedWidthInteger>(_ value: T, at offset: Int, in data: inout Data) {
      withUnsafeBytes(of: value.littleEndian) { data.replaceSubrange(offset..<offset + $0.count, with: $0) }
    }
    // Fixed header: magic 8, version 4, converter 4, count 4, identity 56, path length 4, path.
    let pathLength = Int(good[76]) | Int(good[77]) << 8
    let firstEntry = 80 + pathLength
    try damaged("empty") { $0 = Data() }
    try damaged("short header") { $0 = $0.prefix(30) }
    try damaged("values cut off") { $0 = $0.prefix($0.count / 2) }
    try damaged("magic") { $0[0] ^= 0xFF }
    try damaged("version") { put(UInt32(99), at: 8, in: &$0) }
    try damaged("converter version") { put(UInt32(0), at: 12, in: &$0) }
    try damaged("tensor count past the header") { put(UInt32(1 << 20), at: 16, in: &$0) }
    try damaged("other inode") { put(UInt64(1), at: 28, in: &$0) }
    try damaged("other status-change time") { put(UInt64(7), at: 68, in: &$0) }
    try damaged("path length past the end") { put(UInt32(60_000), at: 76, in: &$0) }
    try damaged("name length past the end") { put(UInt32(50_000), at: firstEntry, in: &$0) }
    let nameLength = Int(good[firstEntry]) | Int(good[firstEntry + 1]) << 8
    let offsetField = firstEntry + 4 + nameLength
    try damaged("offset past the end") { put(UInt64(1 << 40), at: offsetField, in: &$0) }
    try damaged("offset inside the header") { put(UInt64(0), at: offsetField, in: &$0) }
    try damaged("unaligned offset") { put(UInt64(4100), at: offsetField, in: &$0) }
    try damaged("count overflows") { put(UInt64.max / 2, at: offsetField + 8, in: &$0) }
    try damaged("count past the end") { put(UInt64(1 << 30), at: offsetField + 8, in: &$0) }
    // A count that fits the file but not the tensor: that tensor is converted, the others mapped.
    var other = good
    put(UInt64(2), at: offsetField + 8, in: &other)
    try other.write(to: URL(fileURLWithPath: cache))
    let partly = try SafetensorsFile(path: path, caching: .folder(folder))
    XCTAssertEqual(try readAll(partly), expected)
  }

  func testFilesOfVanishedSourcesArePrunedWhenAnotherIsWritten() throws {
    let gone = try model()
    let store = try SafetensorsFile(path: gone, caching: .folder(folder))
    _ = try readAll(store)
    store.keepConversions()
    try "not a cache".write(toFile: folder + "/weights-foreign.f32", atomically: true, encoding: .utf8)
    XCTAssertEqual(cacheFiles().count, 2)
    try FileManager.default.removeItem(atPath: gone)
    let kept = try model(scale: 2)
    let next = try SafetensorsFile(path: kept, caching: .folder(folder))
    _ = try readAll(next)
    next.keepConversions()
    let files = cacheFiles()
    XCTAssertEqual(files.count, 2, "\(files)")
    XCTAssertTrue(files.contains("weights-foreign.f32"), "a file that is not a cache is left alone")
    XCTAssertTrue(try SafetensorsFile(path: kept, caching: .folder(folder)).usedConversionCache)
  }

  func testAnUnwritableFolderOnlyCostsTheConversion() throws {
    let path = try model()
    let store = try SafetensorsFile(path: path, caching: .folder("/dev/null/xai"))
    let values = try readAll(store)
    store.keepConversions()
    let again = try SafetensorsFile(path: path, caching: .folder("/dev/null/xai"))
    XCTAssertEqual(try readAll(again), values)
    XCTAssertFalse(again.usedConversionCache)
  }
}
