import Attribution
import Foundation
import Models
import Render
import XCTest

final class TextRenderingTests: XCTestCase {
  private let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()

  private func explanation(_ text: String = "the movie was not good") throws -> TextExplanation {
    let model = try TextModel.load(
      path: repository.appendingPathComponent("Tests/ModelsTests/Fixtures/tiny-distilbert.json").path)
    return try model.explain(text, method: GradientTimesInput.lrp)
  }

  func testJSONOutputHasExactlyTheSpecifiedFieldsAndParses() throws {
    let explanation = try explanation("the \"movie\"\twas <b>not</b> good")
    let text = explanation.json.text
    XCTAssertFalse(text.contains("\n"), "one object per line")
    let root = try JSONDocument.parse(text, source: "output").rootNode
    XCTAssertEqual(
      root.keys,
      [
        "model", "method", "detach", "text", "tokens", "token_ids", "target", "logits", "probabilities",
        "relevance", "conservation", "truncated",
      ])
    XCTAssertEqual(root["method"]?.string, "lrp")
    XCTAssertEqual(
      root["detach"]?.elements.compactMap(\.string), ["layernorm", "attention", "gelu"],
      "DistilBERT has no pooler tanh")
    XCTAssertEqual(root["text"]?.string, "the \"movie\"\twas <b>not</b> good")
    XCTAssertEqual(root["tokens"]?.count, explanation.tokens.count)
    XCTAssertEqual(root["relevance"]?.count, explanation.tokens.count)
    XCTAssertEqual(root["target"]?.keys, ["index", "label"])
    XCTAssertEqual(root["conservation"]?.keys, ["sum_relevance", "target_logit", "residual"])
    let sum = root["conservation"]!["sum_relevance"]!.double!
    XCTAssertEqual(sum, Double(explanation.relevance.reduce(0, +)), accuracy: 1e-5)
  }

  func testPlainModeHasNoEscapeCodesAndShowsNumbers() throws {
    let output = TerminalHeatmap(mode: .plain, width: 80).render(try explanation())
    XCTAssertFalse(output.contains("\u{1B}"))
    XCTAssertTrue(output.contains("movie("))
    XCTAssertTrue(output.contains("conservation: Σ R ="))
    XCTAssertTrue(output.contains("predicted"))
  }

  func testColourModesUseTheirEscapeCodes() throws {
    let explanation = try explanation()
    let trueColor = TerminalHeatmap(mode: .trueColor, width: 80).render(explanation)
    XCTAssertTrue(trueColor.contains("\u{1B}[48;2;"))
    let palette = TerminalHeatmap(mode: .palette256, width: 80).render(explanation)
    XCTAssertTrue(palette.contains("\u{1B}[48;5;"))
    XCTAssertFalse(palette.contains("\u{1B}[48;2;"))
  }

  func testColourModeFollowsNoColorColortermAndTheTerminal() {
    XCTAssertEqual(
      ColorMode.detect(environment: ["NO_COLOR": "1", "COLORTERM": "truecolor"], isTerminal: true), .plain)
    XCTAssertEqual(ColorMode.detect(environment: ["COLORTERM": "truecolor"], isTerminal: false), .plain)
    XCTAssertEqual(ColorMode.detect(environment: ["COLORTERM": "24bit"], isTerminal: true), .trueColor)
    XCTAssertEqual(ColorMode.detect(environment: [:], isTerminal: true), .palette256)
  }

  func testHeatmapWrapsToTheWidth() throws {
    let long = try explanation(String(repeating: "the movie was not good ", count: 6))
    let output = TerminalHeatmap(mode: .plain, width: 40).render(long)
    let heatmap = output.split(separator: "\n").dropFirst().dropLast(3)
    XCTAssertGreaterThan(heatmap.count, 3)
    XCTAssertTrue(heatmap.allSatisfy { $0.count <= 40 }, "\(heatmap)")
  }

  func testDivergingColoursAreRedForPositiveBlueForNegativeWhiteAtZero() {
    XCTAssertEqual(RGB.diverging(0, scale: 1), RGB(red: 255, green: 255, blue: 255))
    let red = RGB.diverging(1, scale: 1)
    XCTAssertGreaterThan(red.red, red.blue)
    let blue = RGB.diverging(-1, scale: 1)
    XCTAssertGreaterThan(blue.blue, blue.red)
    XCTAssertEqual(RGB(red: 255, green: 255, blue: 255).xterm256, 231)
    XCTAssertEqual(RGB(red: 0, green: 0, blue: 0).xterm256, 16)
    XCTAssertEqual(red.contrastingText, RGB(red: 255, green: 255, blue: 255))
  }
}
