import Foundation

/// The checkout these tests were built from (for fixtures and samples).
let checkout = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
  .deletingLastPathComponent().deletingLastPathComponent()

/// The tiny DistilBERT JSON weight file of the fixtures.
let tinyDistilBert = checkout.appendingPathComponent("Tests/ModelsTests/Fixtures/tiny-distilbert.json").path

/// A fresh temporary folder for one test's inputs and outputs.
struct ScratchFolder {
  let url: URL

  init(prefix: String) throws {
    url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID())")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  }

  /// The path of `name` in the folder.
  func file(_ name: String) -> String { url.appendingPathComponent(name).path }

  /// Writes `text` to `name` and returns its path.
  func write(_ text: String, to name: String) throws -> String {
    try text.write(toFile: file(name), atomically: true, encoding: .utf8)
    return file(name)
  }

  func remove() { try? FileManager.default.removeItem(at: url) }
}
