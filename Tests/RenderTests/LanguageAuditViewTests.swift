import Attribution
import Foundation
import Models
import Render
import XCTest

/// The relevance audit of language-model steps in the terminal, JSON and HTML views, on a
/// hand-made explanation: one flat audit (a conservative deep model), one that loses relevance.
final class LanguageAuditViewTests: XCTestCase {
  static func audit(_ sums: [Float], bias: Float, tokens: Float, value: Float) -> RelevanceAudit {
    let names = (0..<(sums.count - 1) / 2).flatMap { ["layer.\($0).attention_norm", "layer.\($0).mlp_norm"] } + ["head"]
    return RelevanceAudit(
      entries: zip(names, sums).map { RelevanceAudit.Entry(layer: $0, sumRelevance: $1) }, biasShare: bias,
      sumTokens: tokens, targetLogit: value)
  }

  let flat = audit([2, 2, 2, 2, 2, 2, 2], bias: 0, tokens: 2, value: 2)
  let lossy = audit([0.25, 0.5, 0.5, 0.75, 1.5], bias: 0.125, tokens: 0.25, value: 1.5)

  var explanation: LanguageExplanation {
    LanguageExplanation(
      modelName: "m", method: .attnlrp, ids: [1, 2, 3, 4], tokens: ["a", "<b>", "\u{1B}[2J", "ok"], promptCount: 2,
      steps: [
        .init(
          generatedIndex: 0, positions: [1], tokens: [3], contrast: nil, tokenTexts: ["\u{1B}[2J"], contrastText: nil,
          value: 2, probabilities: [0.5], relevance: [1.5, 0.5], quantity: "logit", audit: flat),
        .init(
          generatedIndex: 1, positions: [2], tokens: [4], contrast: nil, tokenTexts: ["<ok>"], contrastText: nil,
          value: 1.5, probabilities: [0.25], relevance: [-0.5, 0.25, 0.5], quantity: "logit", audit: lossy),
      ])
  }

  func testJSONCarriesEachStepsAuditAndShares() throws {
    let root = try JSONDocument.parse(LanguageViews(mode: .plain).json(explanation).text, source: "output").rootNode
    let steps = try XCTUnwrap(root["steps"]).elements
    XCTAssertEqual(steps.count, 2)
    for (step, audit) in zip(steps, [flat, lossy]) {
      let entries = try XCTUnwrap(step["audit"]).elements
      XCTAssertEqual(entries.compactMap { $0["layer"]?.string }, audit.entries.map(\.layer), "forward order")
      XCTAssertEqual(entries.compactMap { $0["sum_relevance"]?.double }, audit.entries.map { Double($0.sumRelevance) })
      let conservation = try XCTUnwrap(step["conservation"])
      XCTAssertEqual(conservation["bias_share"]?.double, Double(audit.biasShare))
      XCTAssertEqual(conservation["rule_share"]?.double, Double(audit.ruleShare))
    }
    // 1.5 = 0.25 + 0.125 + 1.125
    XCTAssertEqual(steps[1]["conservation"]?["rule_share"]?.double, 1.125)
    XCTAssertEqual(
      steps[1]["conservation"]?.keys, ["sum_relevance", "value", "residual", "bias_share", "rule_share"])
    // Without --audit, no audit key and no shares.
    var plain = explanation
    plain = LanguageExplanation(
      modelName: plain.modelName, method: plain.method, ids: plain.ids, tokens: plain.tokens, promptCount: 2,
      steps: [
        .init(
          generatedIndex: 0, positions: [1], tokens: [3], contrast: nil, tokenTexts: ["x"], contrastText: nil, value: 2,
          probabilities: [0.5], relevance: [1.5, 0.5], quantity: "logit")
      ])
    let step = try JSONDocument.parse(LanguageViews(mode: .plain).json(plain).text, source: "output").rootNode["steps"]!
      .elements[0]
    XCTAssertNil(step["audit"])
    XCTAssertEqual(step["conservation"]?.keys, ["sum_relevance", "value", "residual"])
  }

  func testTerminalShowsAPerStepTableAndTheLastStepInFull() {
    for mode in [ColorMode.plain, .trueColor] {
      let text = LanguageViews(mode: mode, width: 100).terminal(explanation)
      XCTAssertFalse(text.contains("\u{1B}[2J"), "a token cannot clear the screen")
      XCTAssertTrue(text.contains("audit per step"), text)
      XCTAssertTrue(text.contains("audit: Σ h·∂f/∂h"), text)
      for name in ["layer.1.attention_norm", "layer.0.mlp_norm", "head", "bias share", "rules' share", "1.125"] {
        XCTAssertTrue(text.contains(name), "\(name) in \(text)")
      }
      XCTAssertTrue(text.contains("attnlrp differentiates"), "what the rules' share is")
    }
    // A flat run of sublayer inputs is shown by its ends.
    let last = LanguageExplanation(
      modelName: "m", method: .lrp, ids: [1, 2], tokens: ["a", "b"], promptCount: 2,
      steps: [
        .init(
          generatedIndex: nil, positions: [1], tokens: [3], contrast: nil, tokenTexts: ["c"], contrastText: nil, value: 2,
          probabilities: [0.5], relevance: [1.5, 0.5], quantity: "logit difference", audit: flat)
      ])
    let text = LanguageViews(mode: .plain, width: 100).terminal(last)
    XCTAssertTrue(text.contains("⋮ layer.2.mlp_norm … layer.0.mlp_norm: 5 more, all 2"), text)
    XCTAssertTrue(text.contains("from the logit difference down to the tokens"), text)
    XCTAssertTrue(text.contains("rules' share is 0 up to"), text)
    XCTAssertFalse(text.contains("audit per step"), "one step: no per-step table")
  }

  func testHTMLShowsTheAuditInEveryStepAndEscapes() {
    let html = LanguageReport(explanation: explanation).html
    XCTAssertEqual(html.components(separatedBy: "Relevance audit</h3>").count - 1, 2, "one audit per step")
    XCTAssertTrue(html.contains("Relevance audit per step"))
    XCTAssertTrue(html.contains("layer.1.attention_norm") && html.contains("rules&#39; share"), "rows and shares")
    XCTAssertTrue(html.contains("&lt;ok&gt;") && !html.contains("<ok>"), "token text escaped")
    XCTAssertFalse(html.contains("\u{1B}"))
  }
}
