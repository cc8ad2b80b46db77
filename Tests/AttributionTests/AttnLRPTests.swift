import Attribution
import Foundation
import Models
import ReferenceSupport
import XCTest

/// AttnLRP against LXT's own rule functions (scripts/reference_attnlrp.py, float64), each
/// sentence within its derived bound (`DerivedTolerance`).
final class AttnLRPTests: XCTestCase {
  private func reference() throws -> JSONNode {
    try JSONDocument.read(AttributionFixtures.here.appendingPathComponent("Fixtures/attnlrp.json").path)
      .rootNode
  }

  private func assertMatchesLXT(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
    let model = try TextModel.load(path: AttributionFixtures.modelPath(name))
    let sentences = try XCTUnwrap(try reference()[name], file: file, line: line).elements
    XCTAssertGreaterThanOrEqual(sentences.count, 5, file: file, line: line)
    var margins: [(used: Float, line: String)] = []
    for sentence in sentences {
      let text = try XCTUnwrap(sentence["text"]?.string)
      let explanation = try model.explain(text, method: GradientTimesInput.attnLRP)
      XCTAssertEqual(
        explanation.encoded.ids, sentence["ids"]?.elements.compactMap(\.int), file: file, line: line)
      XCTAssertEqual(explanation.targetIndex, sentence["target"]?.int, file: file, line: line)
      let expected = try XCTUnwrap(sentence["relevance"]?.numericArray()?.values)
      XCTAssertEqual(explanation.relevance.count, expected.count, file: file, line: line)
      let bound = DerivedTolerance(floor: 1e-3, deviation: try FixtureDeviation.of(sentence, "relevance"))
      if let failure = bound.failure(explanation.relevance, expected, what: "\(name) '\(text)'") {
        XCTFail(failure, file: file, line: line)
      }
      let worst = zip(explanation.relevance, expected).map { abs($0 - $1) }.max() ?? 0
      margins.append(
        (
          worst / bound.allowed(scale: expected.map(abs).max() ?? 0),
          "'\(text)': " + bound.margin(explanation.relevance, expected)
        ))
    }
    if let tightest = margins.max(by: { $0.used < $1.used }) {
      print("reference margin: attnlrp \(name), tightest of \(margins.count): \(tightest.line)")
    }
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
