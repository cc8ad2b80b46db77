import Foundation
import Models
import XCTest

/// `xai explain --image` and `xai report --image` through the built binary.
final class ImageCommandTests: XCTestCase {
  private let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()
  private func path(_ relative: String) -> String { repository.appendingPathComponent(relative).path }
  private var digit: String { path("samples/data/digits/3-0045.png") }

  func testADigitIsExplainedInTheTerminalAsJSONAndAsAPage() throws {
    let plain = try runXai(
      ["explain", "--model", "vit-digits", "--image", digit], environment: ["NO_COLOR": "1"])
    XCTAssertEqual(plain.status, 0, plain.stderr)
    XCTAssertTrue(plain.stdout.contains("predicted 3"), plain.stdout)
    XCTAssertTrue(plain.stdout.contains("patch relevance (8×8"), plain.stdout)
    XCTAssertFalse(plain.stdout.contains("\u{1B}"), "no escape codes under NO_COLOR")

    let json = try runXai([
      "explain", "--model", "vit-digits", "--method", "integrated-gradients", "--image", digit, "--format",
      "json",
    ])
    XCTAssertEqual(json.status, 0, json.stderr)
    let object = try JSONDocument.parse(json.stdout, source: "stdout").rootNode
    XCTAssertEqual(object["target"]?["label"]?.string, "3")
    XCTAssertEqual(object["patch_grid"]?.count, 8)
    XCTAssertEqual(object["patch_grid"]?.elements.first?.count, 8)
    XCTAssertEqual(object["pixel_relevance"]?.count, 32)
    let completeness = try XCTUnwrap(object["conservation"]?["completeness_residual"]?.double)
    XCTAssertLessThan(abs(completeness), 0.05, "IG from a black image is complete up to the quadrature")

    let page = FileManager.default.temporaryDirectory.appendingPathComponent("digit-\(UUID()).html").path
    defer { try? FileManager.default.removeItem(atPath: page) }
    let report = try runXai(["report", "--model", "vit-digits", "--image", digit, "-o", page])
    XCTAssertEqual(report.status, 0, report.stderr)
    let html = try String(contentsOfFile: page, encoding: .utf8)
    XCTAssertEqual(
      html.components(separatedBy: "<svg").count - 1, 4 * 4, "four panels for each of four methods")
    XCTAssertFalse(html.contains("http://") || html.contains("https://"))
  }

  func testBadImagesExit65WithOneSentenceAndTheGoodOnesAreStillExplained() throws {
    let result = try runXai([
      "explain", "--model", "vit-digits", "--format", "json",
      "--image", path("Tests/ModelsTests/Fixtures/images/huge-dimensions.png"),
      "--image", digit,
      "--image", path("Tests/ModelsTests/Fixtures/images/truncated.jpg"),
    ])
    XCTAssertEqual(result.status, 65, result.stderr)
    XCTAssertEqual(result.stdout.split(separator: "\n").count, 1, "the good image is still explained")
    XCTAssertTrue(
      result.stderr.contains("huge-dimensions.png: cannot read the PNG image: the image is 100000×100000"),
      result.stderr)
    XCTAssertTrue(result.stderr.contains("truncated.jpg"), result.stderr)
    let missing = try runXai(["explain", "--model", "vit-digits", "--image", path("no-such.png")])
    XCTAssertEqual(missing.status, 66, missing.stderr)
    let noImage = try runXai(["explain", "--model", "vit-digits", "hello"])
    XCTAssertEqual(noImage.status, 64, noImage.stderr)
    let textModel = try runXai([
      "explain", "--model", path("Tests/ModelsTests/Fixtures/tiny-vit"), "some text",
    ])
    XCTAssertEqual(textModel.status, 64, textModel.stderr)
  }

  func testAUsersOwnSavePretrainedFolderLoadsUnmodified() throws {
    let result = try runXai([
      "explain", "--model", path("Tests/ModelsTests/Fixtures/tiny-vit"), "--format", "json",
      "--image", path("Tests/ModelsTests/Fixtures/images/progressive-33x29.jpg"),
    ])
    XCTAssertEqual(result.status, 0, result.stderr)
    XCTAssertFalse(result.stderr.contains("never read"), result.stderr)
  }

  func testBatchAndEvalReadAJSONLOfImagesOrAFolder() throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("digits-\(UUID())")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let names = ["0-0036.png", "3-0045.png", "7-0094.png", "8-0038.png"]
    for name in names {
      try FileManager.default.copyItem(
        atPath: path("samples/data/digits/\(name)"), toPath: folder.appendingPathComponent(name).path)
    }
    let list = folder.appendingPathComponent("digits.jsonl").path
    try names.map { "{\"image\": \"\($0)\", \"label\": \"\($0.prefix(1))\"}" }.joined(separator: "\n")
      .write(toFile: list, atomically: true, encoding: .utf8)
    let output = folder.appendingPathComponent("out.jsonl").path
    let batch = try runXai([
      "batch", "--model", "vit-digits", "--input", list, "--method", "lrp", "--method", "gradient",
      "--output", output, "--quiet",
    ])
    XCTAssertEqual(batch.status, 0, batch.stderr)
    let lines = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n")
    XCTAssertEqual(lines.count, 8, "one line per image and method")
    let first = try JSONDocument.parse(String(lines[0]), source: "line").rootNode
    XCTAssertEqual(first["label"]?["label"]?.string, "0")
    XCTAssertEqual(first["correct"]?.bool, true)
    XCTAssertEqual(first["patch_grid"]?.count, 8)

    let fromFolder = folder.appendingPathComponent("folder.jsonl").path
    let unlabelled = try runXai([
      "batch", "--model", "vit-digits", "--input", folder.path, "--output", fromFolder, "--quiet",
    ])
    XCTAssertEqual(unlabelled.status, 0, unlabelled.stderr)
    XCTAssertEqual(try String(contentsOfFile: fromFolder, encoding: .utf8).split(separator: "\n").count, 4)

    let curves = folder.appendingPathComponent("curves.json").path
    let eval = try runXai([
      "eval", "--model", "vit-digits", "--input", list, "--method", "lrp", "--method", "integrated-gradients",
      "--output", curves, "--quiet",
    ])
    XCTAssertEqual(eval.status, 0, eval.stderr)
    XCTAssertTrue(eval.stdout.contains("Attention ([CLS], last layer)"), eval.stdout)
    let json = try JSONDocument.read(curves).rootNode
    XCTAssertEqual(json["units"]?.string, "patches")
    XCTAssertEqual(json["example_units"]?.elements.compactMap(\.int), [64, 64, 64, 64])
  }
}
