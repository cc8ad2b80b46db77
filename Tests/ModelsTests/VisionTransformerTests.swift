import Foundation
import Models
import ReferenceSupport
import Tensor
import XCTest

/// The ViT loader, image decoding and preprocessing against Pillow and Hugging Face
/// (Fixtures/vit-reference.json from scripts/reference_vit.py).
final class VisionTransformerTests: XCTestCase {
  static let reference = try! Fixtures.json("vit-reference.json")

  private func samples(_ node: JSONNode?) throws -> [UInt8] {
    try XCTUnwrap(node?["data"]?.numericArray()?.values, "fixture without data").map { UInt8($0) }
  }

  private func floats(_ node: JSONNode?) throws -> [Float] {
    try XCTUnwrap(node?.numericArray()?.values, "fixture value is not a list of numbers")
  }

  private func model(_ name: String) throws -> ImageModel {
    let folder = try XCTUnwrap(Self.reference[name]?["folder"]?.string)
    return try ImageModel.load(path: Fixtures.repository.appendingPathComponent(folder).path)
  }

  private func entries(_ name: String) throws -> [JSONNode] {
    try XCTUnwrap(Self.reference[name]?["images"]?.elements)
  }

  private func path(_ entry: JSONNode) throws -> String {
    Fixtures.repository.appendingPathComponent(try XCTUnwrap(entry["image"]?.string)).path
  }

  func testDecodingAndConversionMatchPillowSampleForSample() throws {
    let model = try model("tiny-vit")
    for entry in try entries("tiny-vit") where entry["conversion"]?.string == "processor" {
      let file = try path(entry)
      let image = try DecodedImage.read(file)
      let size = try XCTUnwrap(entry["size"]?.numericArray()?.values)
      XCTAssertEqual([Float(image.width), Float(image.height)], size, file)
      let converted = model.preprocessing.converted(image, channels: 3)
      XCTAssertEqual(converted.pixels, try samples(entry["decoded"]), file)
    }
  }

  func testBilinearResizeMatchesPillowSampleForSample() throws {
    for name in ["tiny-vit", "vit-digits"] {
      let model = try model(name)
      for entry in try entries(name) where entry["conversion"]?.string == "processor" {
        let file = try path(entry)
        let prepared = try model.prepare(file: file)
        XCTAssertEqual(prepared.shown.pixels, try samples(entry["resized"]), file)
      }
    }
  }

  func testPixelValuesAndLogitsMatchHuggingFace() throws {
    for name in ["tiny-vit", "vit-digits"] {
      let model = try model(name)
      for entry in try entries(name) where entry["conversion"]?.string == "processor" {
        let file = try path(entry)
        let prepared = try model.prepare(file: file)
        let expected = try floats(entry["pixel_values"])
        XCTAssertLessThan(maxAbsoluteDifference(prepared.pixelValues, expected), 1e-5, file)
        let logits = model.logits([prepared]).scalars
        let bound = DerivedTolerance(absoluteFloor: 1e-4, deviation: try FixtureDeviation.of(entry, "logits"))
        if let failure = bound.failure(logits, try floats(entry["logits"]), what: "\(file) logits") {
          XCTFail(failure)
        }
      }
    }
  }

  func testAlphaIsDroppedWithoutConvertRGBAsACallersConvertDoes() throws {
    let model = try model("tiny-vit")
    let entry = try XCTUnwrap(
      try entries("tiny-vit").first { $0["conversion"]?.string == "caller-convert-rgb" })
    var settings = try JSONDocument.read(
      Fixtures.repository.appendingPathComponent(
        "Tests/ModelsTests/Fixtures/tiny-vit/preprocessor_config.json"
      ).path
    ).rootNode.literal
    settings = settings.replacingOccurrences(of: "\"do_convert_rgb\":true", with: "\"do_convert_rgb\":false")
    let preprocessing = try ImagePreprocessing(
      json: JSONDocument.parse(settings, source: "settings").rootNode, file: "settings", config: model.config)
    XCTAssertFalse(preprocessing.convertsToRGB)
    let (values, shown) = preprocessing.pixelValues(try DecodedImage.read(path(entry)), channels: 3)
    XCTAssertEqual(shown.pixels, try samples(entry["resized"]))
    let bound = DerivedTolerance(absoluteFloor: 1e-4, deviation: try FixtureDeviation.of(entry, "logits"))
    if let failure = bound.failure(
      model.logits([PreparedImage(source: "rgba", pixelValues: values, shown: shown)]).scalars,
      try floats(entry["logits"]), what: "alpha dropped: logits")
    {
      XCTFail(failure)
    }
  }

  func testBrokenImagesAreRefusedWithOneSentenceNamingTheFile() throws {
    let broken = try XCTUnwrap(Self.reference["bad_images"]?.elements)
    XCTAssertEqual(broken.count, 6)
    for entry in broken {
      let file = try path(entry)
      XCTAssertThrowsError(try DecodedImage.read(file), file) { error in
        guard case ModelError.badInput(let message) = error else { return XCTFail("\(file): \(error)") }
        XCTAssertTrue(message.hasPrefix(file), message)
        XCTAssertFalse(message.contains("\n"), message)
      }
    }
  }

  func testConfigSizesAreCheckedBeforeAnythingIsBuilt() throws {
    for (change, key) in [
      ("\"num_hidden_layers\": 100000000", "num_hidden_layers"), ("\"patch_size\": 5", "patch_size"),
      ("\"image_size\": 99999999", "image_size"), ("\"num_channels\": 2", "num_channels"),
      ("\"hidden_act\": \"relu\"", "hidden_act"),
    ] {
      let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vit-\(UUID())")
      try FileManager.default.copyItem(
        at: Fixtures.repository.appendingPathComponent("Tests/ModelsTests/Fixtures/tiny-vit"), to: folder)
      defer { try? FileManager.default.removeItem(at: folder) }
      let configFile = folder.appendingPathComponent("config.json")
      let name = String(change.split(separator: ":")[0])
      let config = try String(contentsOf: configFile, encoding: .utf8).split(separator: "\n").map { line in
        line.trimmingCharacters(in: .whitespaces).hasPrefix(name) ? "  \(change)," : String(line)
      }.joined(separator: "\n")
      try config.write(to: configFile, atomically: true, encoding: .utf8)
      XCTAssertThrowsError(try ImageModel.load(path: folder.path), change) { error in
        XCTAssertTrue("\(error)".contains(key), "\(change): \(error)")
      }
    }
  }
}
