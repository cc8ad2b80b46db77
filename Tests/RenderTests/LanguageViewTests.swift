import Attribution
import Foundation
import Render
import XCTest

/// The language-model views on a hand-made explanation with hostile token text.
final class LanguageViewTests: XCTestCase {
  let explanation = LanguageExplanation(
    modelName: "m<odel>", method: .lrp, ids: [1, 2, 3, 4], tokens: ["<script>", "\u{1B}[2J", "\n", "ok"], promptCount: 2,
    steps: [
      .init(
        generatedIndex: 0, positions: [1], tokens: [3], contrast: nil, tokenTexts: ["\n"], contrastText: nil, value: 2,
        probabilities: [0.5], relevance: [1.5, 0.5], quantity: "logit"),
      .init(
        generatedIndex: 1, positions: [2], tokens: [4], contrast: nil, tokenTexts: ["ok"], contrastText: nil, value: 1,
        probabilities: [0.25], relevance: [-0.5, 1, 0.5], quantity: "logit"),
    ])

  func testHTMLEscapesTokensAndDrawsTheMatrix() {
    let html = LanguageReport(explanation: explanation).html
    XCTAssertFalse(html.contains("<script>\""), "token text escaped")
    XCTAssertTrue(html.contains("&lt;script&gt;"))
    XCTAssertTrue(html.contains("m&lt;odel&gt;"))
    XCTAssertFalse(html.contains("\u{1B}"), "no escape sequences in the page")
    XCTAssertEqual(html.components(separatedBy: "<tr data-step=").count - 1, 2)
    XCTAssertEqual(html.components(separatedBy: "<details id=\"step-").count - 1, 2)
  }

  func testTerminalStripsControlsAndShowsLineBreaks() {
    for mode in [ColorMode.plain, .trueColor] {
      let text = LanguageViews(mode: mode, width: 80).terminal(explanation)
      XCTAssertFalse(text.contains("\u{1B}[2J"), "a token cannot clear the screen")
      XCTAssertTrue(text.contains("↵"), "a line-break token is drawn")
      XCTAssertTrue(text.contains("conservation"))
    }
  }

  func testJSONHasOneStepPerTargetAndSourceTotals() throws {
    let json = LanguageViews(mode: .plain).json(explanation).text
    XCTAssertTrue(json.contains("\"source_totals\": [1.0, 1.5, 0.5"), json)
    XCTAssertTrue(json.contains("\"prompt_count\": 2"))
  }
}
