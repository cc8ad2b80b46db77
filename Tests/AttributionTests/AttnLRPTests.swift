import Attribution
import Foundation
import Models
import XCTest

/// AttnLRP against LXT's own rule functions (scripts/reference_attnlrp.py).
final class AttnLRPTests: XCTestCase {
  private func reference() throws -> JSONNode {
    try JSONDocument.read(AttributionFixtures.here.appendingPathComponent("Fixtures/attnlrp.json").path)
      .rootNode
  }

  private func assertMatchesLXT(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
    let model = try TextModel.load(path: AttributionFixtures.modelPath(name))
    let sentences = try XCTUnwrap(try reference()[name], file: file, line: line).elements
    XCTAssertGreaterThanOrEqual(sentences.count, 5, file: file, line: line)
    var worst: Float = 0
    for sentence in sentences {
      let text = try XCTUnwrap(sentence["text"]?.string)
      let explanation = try model.explain(text, method: GradientTimesInput.attnLRP)
      XCTAssertEqual(
        explanation.encoded.ids, sentence["ids"]?.elements.compactMap(\.int), file: file, line: line)
      XCTAssertEqual(explanation.targetIndex, sentence["target"]?.int, file: file, line: line)
      let expected = try XCTUnwrap(sentence["relevance"]?.numericArray()?.values)
      XCTAssertEqual(explanation.relevance.count, expected.count, file: file, line: line)
      let scale = expected.map(abs).max() ?? 1
      for (a, b) in zip(explanation.relevance, expected) { worst = max(worst, abs(a - b) / scale) }
    }
    XCTAssertLessThanOrEqual(
      worst, 1e-3, "\(name): worst deviation \(worst) of max|R|", file: file, line: line)
  }

  func testTinyDistilBertMatchesLXT() throws { try assertMatchesLXT("tiny-distilbert") }
  func testTinyBertWithPoolerMatchesLXT() throws { try assertMatchesLXT("tiny-bert") }
  func testSampleModelMatchesLXT() throws { try assertMatchesLXT("minilm-rt-sentiment") }

  func testAttnLRPDiffersFromCPLRPAndLeavesTheLogits() throws {
    let model = try TextModel.load(path: AttributionFixtures.modelPath("tiny-bert"))
    let attn = try model.explain("the movie was not good", method: GradientTimesInput.attnLRP)
    let lrp = try model.explain("the movie was not good", method: GradientTimesInput.lrp)
    XCTAssertEqual(attn.logits, lrp.logits)
    XCTAssertNotEqual(attn.relevance, lrp.relevance)
    XCTAssertEqual(attn.method.title, "attnlrp")
    XCTAssertEqual(attn.method.detached, [.layerNorm, .gelu, .tanh])
  }
}
