import Foundation
import Models
import XCTest

/// Hostile inputs through the built binary: each ends with exit 64/65/66 and one sentence,
/// never a trap, an allocation abort or `nan` printed as a result.
final class HostileModelInputTests: XCTestCase {
  private let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()
  private var folder: URL!

  override func setUpWithError() throws {
    folder = FileManager.default.temporaryDirectory.appendingPathComponent("xai-hostile-\(UUID())")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
  }

  override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

  /// tiny-distilbert.json with `change` applied to its parsed JSON, written to a file.
  private func tinyModel(_ name: String, _ change: (inout [String: Any]) throws -> Void) throws -> String {
    let data = try Data(
      contentsOf: repository.appendingPathComponent("Tests/ModelsTests/Fixtures/tiny-distilbert.json"))
    var root = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    try change(&root)
    let path = folder.appendingPathComponent(name)
    try JSONSerialization.data(withJSONObject: root).write(to: path)
    return path.path
  }

  private func write(_ text: String, _ name: String) throws -> String {
    let path = folder.appendingPathComponent(name).path
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
  }

  private func assertRefused(
    _ arguments: [String], status: Int32 = 65, mentions: [String], file: StaticString = #filePath,
    line: UInt = #line
  ) throws {
    let result = try runXai(arguments)
    XCTAssertEqual(result.status, status, result.stderr, file: file, line: line)
    // One sentence; a usage error found while parsing adds ArgumentParser's usage lines.
    let sentences = result.stderr.split(separator: "\n").filter {
      !$0.hasPrefix("Usage:") && !$0.hasPrefix("  See '")
    }
    XCTAssertEqual(sentences.count, 1, "one sentence: \(result.stderr)", file: file, line: line)
    for word in mentions {
      XCTAssertTrue(result.stderr.contains(word), "'\(result.stderr)' lacks \(word)", file: file, line: line)
    }
    XCTAssertFalse(result.stdout.contains("nan"), file: file, line: line)
  }

  func testHugeLayerAndClassCountsAreRefusedBeforeAnythingIsAllocated() throws {
    for layers in ["1000000000000", "9223372036854775807"] {
      let model = try tinyModel("layers.json") { root in
        var config = root["config"] as! [String: Any]
        config["n_layers"] = Int(layers)!
        root["config"] = config
      }
      try assertRefused(["explain", "--model", model, "good"], mentions: ["n_layers", "at most 1024"])
    }
    let labels = try tinyModel("labels.json") { root in
      var config = root["config"] as! [String: Any]
      config["id2label"] = nil
      config["label2id"] = nil
      config["num_labels"] = 1_000_000_000_000
      root["config"] = config
      var tensors = root["tensors"] as! [String: Any]
      tensors["classifier.weight"] = nil
      root["tensors"] = tensors
    }
    try assertRefused(["explain", "--model", labels, "good"], mentions: ["num_labels", "1000000000000"])
    let graph = try write(
      "{\"config\": {\"model_type\": \"graphnet\", \"in_dim\": 1, \"hidden\": 4, \"num_classes\": 2, \"num_layers\": 1000000000000}, \"tensors\": {}}",
      "graph-model.json")
    try assertRefused(
      [
        "graph", "--model", graph, "--graph",
        repository.appendingPathComponent("samples/data/ba_graphs.jsonl").path,
      ],
      mentions: ["num_layers"])
  }

  func testShapesWhoseProductOverflowsAreRefused() throws {
    for shape in [[1 << 62, 4], [1 << 32, 1 << 32, 1 << 32]] {
      let model = try tinyModel("shape.json") { root in
        var tensors = root["tensors"] as! [String: Any]
        let key = tensors.keys.first { $0.hasSuffix("q_lin.weight") }!
        var tensor = tensors[key] as! [String: Any]
        tensor["shape"] = shape
        tensors[key] = tensor
        root["tensors"] = tensors
      }
      try assertRefused(["explain", "--model", model, "good"], mentions: ["shape"])
    }
    let folder = self.folder.appendingPathComponent("st")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let header = Data(
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387905],\"data_offsets\":[0,4]}}".utf8)
    var file = Data()
    withUnsafeBytes(of: UInt64(header.count).littleEndian) { file.append(contentsOf: $0) }
    file.append(header)
    file.append(Data(count: 4))
    try file.write(to: folder.appendingPathComponent("model.safetensors"))
    try
      "{\"model_type\": \"distilbert\", \"dim\": 8, \"n_layers\": 1, \"n_heads\": 2, \"hidden_dim\": 8, \"vocab_size\": 6}"
      .write(to: folder.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
    try "[PAD]\n[UNK]\n[CLS]\n[SEP]\na\nb".write(
      to: folder.appendingPathComponent("vocab.txt"), atomically: true, encoding: .utf8)
    try assertRefused(["explain", "--model", folder.path, "a"], mentions: ["4 bytes for shape"])
  }

  func testWeightsThatOverflowGiveAnErrorNotNaN() throws {
    let model = try tinyModel("huge.json") { root in
      var tensors = root["tensors"] as! [String: Any]
      var tensor = tensors["classifier.weight"] as! [String: Any]
      tensor["data"] = Array(repeating: 3e38, count: (tensor["data"] as! [Any]).count)
      tensors["classifier.weight"] = tensor
      root["tensors"] = tensors
    }
    try assertRefused(["explain", "--model", model, "--format", "json", "good"], mentions: ["not finite"])
    try assertRefused(["explain", "--model", model, "good"], mentions: ["not finite"])
  }

  func testGraphNumbersOutOfRangeAreRefused() throws {
    let graphs = repository.appendingPathComponent("samples/data/ba_graphs.jsonl").path
    try assertRefused(
      ["graph", "--graph", graphs, "--gamma", "1e38"], status: 64, mentions: ["--gamma must be at most"])
    let positions = try write(
      "{\"num_nodes\": 25, \"edges\": [[0, 1]], \"positions\": [[1e999, 0]"
        + String(repeating: ", [0, 0]", count: 24) + "]}",
      "positions.json")
    try assertRefused(["graph", "--graph", positions], mentions: ["positions", "finite"])
  }

  func testClearMessagesForFoldersTypesAndNoArguments() throws {
    try assertRefused(["graph", "--graph", folder.path], mentions: ["is a folder"])
    let typed = try tinyModel("type.json") { root in
      var config = root["config"] as! [String: Any]
      config["model_type"] = 5
      root["config"] = config
    }
    try assertRefused(["explain", "--model", typed, "good"], mentions: ["model_type", "not a string"])
    let bare = try runXai([])
    XCTAssertEqual(bare.status, 64)
    XCTAssertTrue(bare.stderr.contains("SUBCOMMANDS"), bare.stderr)
  }

  func testInvalidUTF8OnTheCommandLineIsRefused() throws {
    let result = try runXaiInShell("\"$0\" explain \"$(printf 'ab\\377cd')\"")
    XCTAssertEqual(result.status, 65)
    XCTAssertTrue(result.stderr.contains("not valid UTF-8"), result.stderr)
  }

  func testControlCharactersFromFilesNeverReachTheTerminal() throws {
    let graph = try write(
      "{\"num_nodes\": 25, \"edges\": [[0, 1]], \"name\": \"evil\\u001b[2J\\u001b]0;owned\\u0007\", \"node_labels\": ["
        + (0..<25).map { _ in "\"\\u001b[31mX\"" }.joined(separator: ", ") + "]}",
      "evil.json")
    let result = try runXai(["graph", "--graph", graph])
    XCTAssertEqual(result.status, 0, result.stderr)
    XCTAssertFalse(result.stdout.contains("\u{1B}"), "no escape from the file reaches the terminal")
  }

  func testWalkLimitAndForwardMemoryAreCheckedFirstWithAnOverride() throws {
    let graphs = repository.appendingPathComponent("samples/data/ba_graphs.jsonl").path
    let limited = try runXai(["graph", "--graph", graphs, "--max-walks", "100"])
    XCTAssertEqual(limited.status, 65)
    XCTAssertTrue(limited.stderr.contains("Raise --max-walks"), limited.stderr)
    XCTAssertEqual(try runXai(["graph", "--graph", graphs, "--max-walks", "100000"]).status, 0)
    let model = try write(
      "{\"config\": {\"model_type\": \"graphnet\", \"in_dim\": 1, \"hidden\": 64, \"num_classes\": 2, \"num_layers\": 1, "
        + "\"node_features\": \"constant\"}, \"tensors\": {\"U\": {\"shape\": [1, 64], \"data\": ["
        + Array(repeating: "0.1", count: 64).joined(separator: ",")
        + "]}, \"W1\": {\"shape\": [64, 64], \"data\": ["
        + Array(repeating: "0.01", count: 4096).joined(separator: ",")
        + "]}, \"V\": {\"shape\": [64, 2], \"data\": ["
        + Array(repeating: "0.1", count: 128).joined(separator: ",") + "]}}}",
      "wide.json")
    let big = try write("{\"num_nodes\": 10000000, \"edges\": []}", "big.json")
    try assertRefused(
      ["graph", "--model", model, "--graph", big], mentions: ["10000000 nodes need about", "GB"])
  }
}
