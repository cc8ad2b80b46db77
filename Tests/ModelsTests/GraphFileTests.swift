import Foundation
import Models
import XCTest

final class GraphFileTests: XCTestCase {
  private func write(_ text: String, suffix: String) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent(
      "xai-\(UUID().uuidString)\(suffix)"
    ).path
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
  }

  private func assertBadInput(_ text: String, suffix: String, mentions: [String], line: UInt = #line) throws {
    let path = try write(text, suffix: suffix)
    XCTAssertThrowsError(try GraphFile.read(path), line: line) { error in
      guard let error = error as? ModelError else { return XCTFail("\(error)", line: line) }
      XCTAssertFalse(error.isMissingFile, line: line)
      for word in mentions {
        XCTAssertTrue(error.description.contains(word), "\(error) lacks \(word)", line: line)
      }
    }
  }

  func testJSONGraphWithEverythingReads() throws {
    let path = try write(
      """
      {"num_nodes": 3, "edges": [[0, 1], [1, 2], [2, 1], [1, 1]], "features": [[1, 0], [0, 1], [1, 1]],
       "label": 1, "node_labels": ["C", "O", "N"], "positions": [[0, 0], [1, 0], [2, 1]]}
      """, suffix: ".json")
    let graph = try XCTUnwrap(try GraphFile.read(path).first)
    XCTAssertEqual(graph.nodeCount, 3)
    XCTAssertEqual(graph.edges, [Graph.Edge(0, 1), Graph.Edge(1, 2)], "duplicates and self-loops dropped")
    XCTAssertEqual(graph.features?[2], [1, 1])
    XCTAssertEqual(graph.label, 1)
    XCTAssertEqual(graph.nodeLabels ?? [], ["C", "O", "N"])
    XCTAssertEqual(graph.positions?[2], [2, 1])
  }

  func testJSONLinesHoldOneGraphPerLine() throws {
    let path = try write(
      "{\"num_nodes\": 2, \"edges\": [[0, 1]]}\n\n{\"num_nodes\": 3, \"edges\": []}\n", suffix: ".jsonl")
    XCTAssertEqual(try GraphFile.read(path).map(\.nodeCount), [2, 3])
  }

  func testSDFMoleculesReadAtomsBondsAndCoordinates() throws {
    let molecules = try GraphFile.read(
      URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("samples/data/solubility_test.sdf").path)
    XCTAssertGreaterThanOrEqual(molecules.count, 10)
    let first = molecules[0]
    XCTAssertEqual(first.name, "3-methylpentane")
    XCTAssertEqual(first.nodeCount, 6)
    XCTAssertEqual(first.edges.count, 5)
    XCTAssertEqual(first.nodeLabels ?? [], Array(repeating: "C", count: 6))
    XCTAssertEqual(first.positions?[0] ?? [], [0.2606, 0.1503])
  }

  func testOutOfRangeAndNegativeNodeIdsNameTheEdge() throws {
    try assertBadInput(
      "{\"num_nodes\": 3, \"edges\": [[0, 1], [1, 3]]}", suffix: ".json", mentions: ["edge 1", "[1, 3]"])
    try assertBadInput(
      "{\"num_nodes\": 3, \"edges\": [[-1, 0]]}", suffix: ".json", mentions: ["edge 0", "-1"])
    try assertBadInput("{\"num_nodes\": 0, \"edges\": []}", suffix: ".json", mentions: ["no nodes"])
    try assertBadInput(
      "{\"num_nodes\": 100000000000, \"edges\": []}", suffix: ".json", mentions: ["exceeds the limit"])
    try assertBadInput("{\"edges\": []}", suffix: ".json", mentions: ["num_nodes"])
    try assertBadInput(
      "{\"num_nodes\": 2, \"edges\": [], \"features\": [[1, 2], [3]]}", suffix: ".json",
      mentions: ["features"])
    try assertBadInput(
      "{\"num_nodes\": 2, \"edges\": [], \"features\": [[1, 2]]}", suffix: ".json",
      mentions: ["1 feature rows for 2 nodes"])
    try assertBadInput(
      "{\"num_nodes\": 2}\n{\"num_nodes\": 2, \"edges\": [[0, 5]]}\n", suffix: ".jsonl", mentions: ["line 2"])
  }

  func testMalformedSDFNamesTheLine() throws {
    let good = """
      water
        test

        3  2  0  0  0  0            999 V2000
          0.0000    0.0000    0.0000 O   0  0
          1.0000    0.0000    0.0000 H   0  0
         -1.0000    0.0000    0.0000 H   0  0
        1  2  1  0
        1  3  1  0
      M  END
      $$$$

      """
    XCTAssertEqual(try MolfileReader.read(good, source: "water.sdf").first?.nodeCount, 3)
    try assertBadInput(
      good.replacingOccurrences(of: "  1  3  1  0", with: "  1  4  1  0"), suffix: ".sdf",
      mentions: ["line 9", "bond 2", "atom 1 and 4"])
    try assertBadInput(
      good.replacingOccurrences(of: "  3  2  0", with: "  x  2  0"), suffix: ".sdf",
      mentions: ["line 4", "counts"])
    try assertBadInput(
      good.replacingOccurrences(of: "    1.0000    0.0000    0.0000 H", with: "    1.0000 H"), suffix: ".sdf",
      mentions: ["line 6", "atom 2"])
    let truncated = good.split(separator: "\n", omittingEmptySubsequences: false).prefix(5).joined(
      separator: "\n")
    try assertBadInput(truncated, suffix: ".sdf", mentions: ["ends inside the atom block"])
    try assertBadInput(
      good.replacingOccurrences(of: "V2000", with: "V3000"), suffix: ".sdf", mentions: ["V3000"])
  }
}
