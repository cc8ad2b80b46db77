import Foundation
import Models
import Tensor
import XCTest

/// Builds safetensors files byte by byte, so that each test can break one thing.
struct SafetensorsBuilder {
  struct Entry {
    var name: String
    var dtype: String
    var shape: [Int]
    var bytes: [UInt8]
    var offsets: (Int, Int)?
  }

  var entries: [Entry] = []

  mutating func addFloats(_ name: String, shape: [Int], _ values: [Float]) {
    let bytes = values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
    entries.append(Entry(name: name, dtype: "F32", shape: shape, bytes: bytes))
  }

  func header() -> String {
    var offset = 0
    var parts: [String] = []
    for entry in entries {
      let (begin, end) = entry.offsets ?? (offset, offset + entry.bytes.count)
      offset += entry.bytes.count
      parts.append(
        "\"\(entry.name)\":{\"dtype\":\"\(entry.dtype)\",\"shape\":\(entry.shape),\"data_offsets\":[\(begin),\(end)]}"
      )
    }
    return "{" + (["\"__metadata__\":{\"format\":\"pt\"}"] + parts).joined(separator: ",") + "}"
  }

  func bytes(headerLength: UInt64? = nil) -> [UInt8] {
    let text = Array(header().utf8)
    let length = headerLength ?? UInt64(text.count)
    return withUnsafeBytes(of: length.littleEndian, Array.init) + text + entries.flatMap(\.bytes)
  }

  func write(_ bytes: [UInt8]) throws -> String {
    let path = FileManager.default.temporaryDirectory
      .appendingPathComponent("xai-\(UUID().uuidString).safetensors").path
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    return path
  }
}

final class BadWeightTests: XCTestCase {
  private func expectError(
    _ body: () throws -> Void, code: Int32, mentions: [String], file: StaticString = #filePath,
    line: UInt = #line
  ) {
    do {
      try body()
      XCTFail("no error", file: file, line: line)
    } catch let error as ModelError {
      XCTAssertEqual(error.isMissingFile ? 66 : 65, code, "\(error)", file: file, line: line)
      for word in mentions {
        XCTAssertTrue(error.description.contains(word), "'\(error)' lacks \(word)", file: file, line: line)
      }
      XCTAssertFalse(error.description.contains("\n"), "one sentence", file: file, line: line)
    } catch {
      XCTFail("unexpected \(error)", file: file, line: line)
    }
  }

  private func twoTensors() -> SafetensorsBuilder {
    var builder = SafetensorsBuilder()
    builder.addFloats("a.weight", shape: [2, 3], [1, 2, 3, 4, 5, 6])
    builder.addFloats("a.bias", shape: [2], [0.5, -0.5])
    return builder
  }

  func testValidFileReadsF32ZeroCopyAndF16AndBF16Converted() throws {
    var builder = twoTensors()
    let half: [UInt16] = [0x3C00, 0xC000, 0x3555, 0x0001, 0x7BFF]
    builder.entries.append(
      .init(
        name: "h", dtype: "F16", shape: [5],
        bytes: half.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }))
    let brain: [UInt16] = [0x3F80, 0xC0A0]
    builder.entries.append(
      .init(
        name: "b", dtype: "BF16", shape: [2],
        bytes: brain.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }))
    builder.entries.append(.init(name: "ids", dtype: "I64", shape: [1], bytes: Array(repeating: 0, count: 8)))
    let file = try SafetensorsFile(path: try builder.write(builder.bytes()))
    XCTAssertEqual(try file.tensor("a.weight")?.scalars, [1, 2, 3, 4, 5, 6])
    XCTAssertEqual(try file.tensor("a.weight")?.shape, [2, 3])
    let h = try XCTUnwrap(try file.tensor("h")).scalars
    XCTAssertEqual(h[0], 1)
    XCTAssertEqual(h[1], -2)
    XCTAssertEqual(h[2], 0.33325195, accuracy: 1e-7)
    XCTAssertEqual(h[3], 5.9604645e-08, accuracy: 1e-12)
    XCTAssertEqual(h[4], 65504)
    XCTAssertEqual(try file.tensor("b")?.scalars, [1, -5])
    XCTAssertEqual(file.metadata["format"], "pt")
    XCTAssertNil(try file.tensor("absent"))
    expectError({ _ = try file.tensor("ids") }, code: 65, mentions: ["ids", "I64"])
  }

  func testTruncatedFileIsRejected() throws {
    let builder = twoTensors()
    let path = try builder.write(Array(builder.bytes().dropLast(5)))
    expectError(
      { _ = try SafetensorsFile(path: path) }, code: 65, mentions: [path, "a.bias", "data_offsets"])
    let tiny = try builder.write([1, 2, 3])
    expectError({ _ = try SafetensorsFile(path: tiny) }, code: 65, mentions: [tiny, "8-byte"])
  }

  func testHeaderLengthBeyondTheFileOrOverTheLimitIsRejected() throws {
    let builder = twoTensors()
    let beyond = try builder.write(builder.bytes(headerLength: 10_000))
    expectError({ _ = try SafetensorsFile(path: beyond) }, code: 65, mentions: [beyond, "past the end"])
    let huge = try builder.write(builder.bytes(headerLength: 200_000_000))
    expectError({ _ = try SafetensorsFile(path: huge) }, code: 65, mentions: ["100 MB"])
    let absurd = try builder.write(builder.bytes(headerLength: UInt64.max))
    expectError({ _ = try SafetensorsFile(path: absurd) }, code: 65, mentions: ["100 MB"])
  }

  func testOffsetsOutOfRangeOrOverlappingAreRejected() throws {
    var outside = twoTensors()
    outside.entries[1].offsets = (24, 4000)
    let path = try outside.write(outside.bytes())
    expectError({ _ = try SafetensorsFile(path: path) }, code: 65, mentions: ["a.bias", "data_offsets"])
    var overlapping = twoTensors()
    overlapping.addFloats("c", shape: [2], [1, 2])
    overlapping.entries[2].offsets = (20, 28)
    let overlap = try overlapping.write(overlapping.bytes())
    expectError({ _ = try SafetensorsFile(path: overlap) }, code: 65, mentions: ["overlap"])
    var reversed = twoTensors()
    reversed.entries[0].offsets = (24, 0)
    let backwards = try reversed.write(reversed.bytes())
    expectError({ _ = try SafetensorsFile(path: backwards) }, code: 65, mentions: ["a.weight"])
  }

  func testByteCountThatDisagreesWithDtypeAndShapeIsRejected() throws {
    var builder = twoTensors()
    builder.entries[0].shape = [2, 4]
    let path = try builder.write(builder.bytes())
    expectError(
      { _ = try SafetensorsFile(path: path) }, code: 65, mentions: ["a.weight", "24 bytes", "[2, 4]"])
  }

  func testUnknownDtypeIsRejected() throws {
    var builder = twoTensors()
    builder.entries[1].dtype = "Q4"
    let path = try builder.write(builder.bytes())
    expectError({ _ = try SafetensorsFile(path: path) }, code: 65, mentions: ["a.bias", "Q4"])
  }

  func testMalformedHeaderJSONIsRejected() throws {
    var bytes = twoTensors().bytes()
    bytes[12] = UInt8(ascii: "}")
    let path = try twoTensors().write(bytes)
    expectError({ _ = try SafetensorsFile(path: path) }, code: 65, mentions: [path])
  }

  func testMissingFileIsExitCode66() {
    expectError(
      { _ = try SafetensorsFile(path: "/nonexistent/model.safetensors") }, code: 66,
      mentions: ["/nonexistent/model.safetensors"])
    expectError(
      { _ = try TextModel.load(path: "/nonexistent/folder") }, code: 66, mentions: ["/nonexistent/folder"])
  }

  /// A copy of the tiny DistilBERT JSON with one edit applied to its text.
  private func editedTinyModel(_ edit: (String) -> String) throws -> String {
    let text = try String(contentsOfFile: Fixtures.path("tiny-distilbert.json"), encoding: .utf8)
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("xai-\(UUID().uuidString).json")
      .path
    try edit(text).write(toFile: path, atomically: true, encoding: .utf8)
    return path
  }

  func testMissingTensorNamesTheKey() throws {
    let path = try editedTinyModel {
      $0.replacingOccurrences(of: "\"distilbert.transformer.layer.1.ffn.lin2.bias\"", with: "\"renamed\"")
    }
    expectError(
      { _ = try TextModel.load(path: path) }, code: 65,
      mentions: [path, "distilbert.transformer.layer.1.ffn.lin2.bias", "missing"])
  }

  func testWrongShapeNamesKeyExpectedAndFound() throws {
    let path = try editedTinyModel {
      $0.replacingOccurrences(of: "\"max_position_embeddings\": 40", with: "\"max_position_embeddings\": 41")
    }
    expectError(
      { _ = try TextModel.load(path: path) }, code: 65,
      mentions: ["distilbert.embeddings.position_embeddings.weight", "[40, 32]", "[41, 32]"])
  }

  func testNaNWeightsAreRejected() throws {
    var builder = SafetensorsBuilder()
    builder.addFloats("classifier.weight", shape: [1, 2], [1, .nan])
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("xai-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    try builder.bytes().withUnsafeBufferPointer {
      try Data(buffer: $0).write(to: folder.appendingPathComponent("model.safetensors"))
    }
    let store = try SafetensorsFile(path: folder.appendingPathComponent("model.safetensors").path)
    expectError(
      { _ = try WeightScope(store).parameter("classifier.weight", shape: [1, 2]) }, code: 65,
      mentions: ["classifier.weight", "NaN"])
  }

  /// F16 and BF16 weights are checked in the pass that converts them; a second read of the
  /// same tensor gives the same values (each tensor is converted once into its slot).
  func testNonFiniteHalfAndBfloatWeightsAreRejected() throws {
    var builder = SafetensorsBuilder()
    let halves: [UInt16] = [0x3C00, 0x7C00] + Array(repeating: 0x3C00, count: 10)
    builder.entries.append(
      .init(
        name: "h.weight", dtype: "F16", shape: [12],
        bytes: halves.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }))
    let brains: [UInt16] = [0x3F80, 0x3F80, 0x7FC0]
    builder.entries.append(
      .init(
        name: "b.weight", dtype: "BF16", shape: [3],
        bytes: brains.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }))
    let good: [UInt16] = (0..<9).map { 0x3C00 + $0 }
    builder.entries.append(
      .init(
        name: "g.weight", dtype: "F16", shape: [9],
        bytes: good.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }))
    let store = try SafetensorsFile(path: try builder.write(builder.bytes()))
    expectError(
      { _ = try WeightScope(store).parameter("h.weight", shape: [12]) }, code: 65, mentions: ["h.weight", "NaN"])
    // Asked again, the converted slot is checked again.
    expectError(
      { _ = try WeightScope(store).parameter("h.weight", shape: [12]) }, code: 65, mentions: ["h.weight"])
    expectError(
      { _ = try WeightScope(store).parameter("b.weight", shape: [3]) }, code: 65, mentions: ["b.weight", "NaN"])
    let first = try WeightScope(store).parameter("g.weight", shape: [9]).scalars
    let second = try XCTUnwrap(try store.tensor("g.weight")).scalars
    XCTAssertEqual(first, good.map { Float(Float16(bitPattern: $0)) })
    XCTAssertEqual(first, second)
    // Unchecked reads still return the values (the store does not judge them).
    XCTAssertEqual(try store.tensor("h.weight")?.scalars[1], .infinity)
  }

  /// 16-bit tables read as rows (embeddings) stay in the mapped file: gathered rows equal
  /// the whole tensor's rows, a non-finite value anywhere in the table is refused when the
  /// table is read (not when its row is first gathered), a wrong shape names the key, and
  /// F32 tables and other stores are read whole.
  func testSixteenBitTablesAreGatheredRowByRowAndCheckedWhole() throws {
    var builder = SafetensorsBuilder()
    let rows = 5, width = 11  // odd width: rows start at every alignment
    let halves: [UInt16] = (0..<(rows * width)).map { 0x3C00 &+ UInt16($0 * 37 % 1000) }
    builder.entries.append(
      .init(
        name: "e.weight", dtype: "F16", shape: [rows, width],
        bytes: halves.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }))
    let brains: [UInt16] = (0..<(rows * width)).map { 0x3F80 &+ UInt16($0 * 13 % 500) }
    builder.entries.append(
      .init(
        name: "b.weight", dtype: "BF16", shape: [rows, width],
        bytes: brains.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }))
    var broken = halves
    broken[rows * width - 1] = 0x7E00  // NaN in the last row
    builder.entries.append(
      .init(
        name: "n.weight", dtype: "F16", shape: [rows, width],
        bytes: broken.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }))
    builder.addFloats("f.weight", shape: [2, 3], [1, 2, 3, 4, 5, 6])
    let store = try SafetensorsFile(path: try builder.write(builder.bytes()))
    let scope = WeightScope(store)
    let ids = [4, 0, 2, 2, 3]
    for name in ["e", "b"] {
      let table = try scope.child(name).rowTable("weight", shape: [rows, width])
      guard case .stored = table else { return XCTFail("\(name): a 16-bit table is kept as rows") }
      let whole = try XCTUnwrap(try store.tensor("\(name).weight"))
      XCTAssertEqual(table.gather(ids).scalars, whole.gatherRows(ids).scalars, name)
      XCTAssertEqual(table.gather(ids).shape, [ids.count, width])
      XCTAssertEqual(table.tensor.scalars, whole.scalars, name)
    }
    XCTAssertEqual(scope.unreadKeys(), ["f.weight", "n.weight"], "row tables count as read")
    expectError(
      { _ = try scope.child("n").rowTable("weight", shape: [rows, width]) }, code: 65,
      mentions: ["n.weight", "NaN"])
    expectError(
      { _ = try scope.child("e").rowTable("weight", shape: [rows + 1, width]) }, code: 65,
      mentions: ["e.weight", "[6, 11]"])
    guard case .dense(let dense) = try scope.child("f").rowTable("weight", shape: [2, 3]) else {
      return XCTFail("an F32 table is used in place")
    }
    XCTAssertEqual(dense.gatherRows([1]).scalars, [4, 5, 6])
  }

  func testUnknownModelTypeIsAClearError() throws {
    let path = try editedTinyModel {
      $0.replacingOccurrences(of: "\"model_type\": \"distilbert\"", with: "\"model_type\": \"gpt7\"")
    }
    expectError({ _ = try TextModel.load(path: path) }, code: 65, mentions: [path, "gpt7"])
  }

  func testFolderWithoutVocabularyIsExitCode66() throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("xai-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let config = """
      {"model_type": "distilbert", "vocab_size": 10, "dim": 4, "n_layers": 1, "n_heads": 2, "hidden_dim": 8}
      """
    try config.write(to: folder.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
    try SafetensorsBuilder().bytes().withUnsafeBufferPointer {
      try Data(buffer: $0).write(to: folder.appendingPathComponent("model.safetensors"))
    }
    expectError(
      { _ = try TextModel.load(path: folder.path) }, code: 66, mentions: [folder.path, "vocab.txt"])
  }

  func testTruncatedJSONWeightsAreRejected() throws {
    let path = try editedTinyModel { String($0.prefix(5000)) }
    expectError({ _ = try TextModel.load(path: path) }, code: 65, mentions: [path, "JSON"])
  }
}
