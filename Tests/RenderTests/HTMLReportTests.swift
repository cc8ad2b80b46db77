import Attribution
import Foundation
import Models
import Render
import XCTest

final class HTMLReportTests: XCTestCase {
  private let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()
  private let hostile = "the <script>alert(1)</script> \"><img src=x onerror=alert(1)> movie"

  private func tinyModel() throws -> TextModel {
    try TextModel.load(
      path: repository.appendingPathComponent("Tests/ModelsTests/Fixtures/tiny-distilbert.json").path)
  }

  private func sentenceReport(_ text: String) throws -> (SentenceReport, [TextExplanation]) {
    let model = try tinyModel()
    let methods: [any AttributionMethod] = [
      GradientTimesInput.lrp, GradientTimesInput(), IntegratedGradients(steps: 8),
    ]
    let explanations = try methods.map { try model.explain(text, method: $0) }
    return (SentenceReport(explanations: explanations), explanations)
  }

  private func count(_ needle: String, in haystack: String) -> Int {
    haystack.components(separatedBy: needle).count - 1
  }

  func testSentencePageHasOneRowPerMethodAndOneCellPerToken() throws {
    let (report, explanations) = try sentenceReport("the movie was not good")
    let html = report.html
    let tokens = explanations[0].tokens.count
    let words = explanations[0].words().count
    XCTAssertEqual(count("class=\"tok\"", in: html), 3 * tokens + 3 * words)
    for explanation in explanations {
      XCTAssertTrue(html.contains("<tr><th title=\"max |R|"))
      XCTAssertTrue(html.contains(explanation.method.title))
      for value in explanation.relevance.prefix(3) {
        XCTAssertTrue(html.contains("R = \(String(format: "%.7g", Double(value)))"), "title carries \(value)")
      }
    }
    XCTAssertTrue(html.contains("completeness residual"))
  }

  func testUserTextIsEscapedEverywhere() throws {
    let (report, _) = try sentenceReport(hostile)
    let html = report.html
    XCTAssertFalse(html.contains("<script>"))
    XCTAssertFalse(html.contains("<img"))
    XCTAssertTrue(html.contains("&lt;script&gt;"))
    XCTAssertTrue(html.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"))
    XCTAssertEqual(escapeHTML("a&b<'\">"), "a&amp;b&lt;&#39;&quot;&gt;")
  }

  func testPagesReferenceNoExternalResource() throws {
    let (report, _) = try sentenceReport("the movie")
    for html in [report.html, try graphReport().html] {
      XCTAssertNil(html.range(of: #"(src|href)\s*=\s*["']?(https?:)?//"#, options: .regularExpression))
      XCTAssertNil(html.range(of: "url(", options: .caseInsensitive))
      XCTAssertNil(html.range(of: "@import"))
      XCTAssertFalse(html.contains("<script"))
      XCTAssertFalse(html.contains("<link"))
    }
  }

  func testSameInputGivesAByteIdenticalPage() throws {
    XCTAssertEqual(try sentenceReport("great film").0.html, try sentenceReport("great film").0.html)
    XCTAssertEqual(try graphReport().html, try graphReport().html)
  }

  private func graphReport(top: Int = 6) throws -> GraphReport {
    let network = try GraphNetwork.load(
      path: repository.appendingPathComponent("samples/models/graphnet-ba").path)
    let graph = try GraphFile.read(repository.appendingPathComponent("samples/data/ba_graphs.jsonl").path)[1]
    let explanation = try RelevantWalks(keep: top).explain(network: network, graph: graph, target: 1)
    return GraphReport(
      modelName: "graphnet-ba", graph: graph, labels: network.labels, explanation: explanation)
  }

  func testGraphPageDrawsOnePathPerWalkAndEveryNode() throws {
    let report = try graphReport(top: 7)
    let html = report.html
    XCTAssertEqual(count("<path class=\"walk\"", in: html), 7)
    XCTAssertEqual(count("<circle", in: html), report.graph.nodeCount)
    XCTAssertEqual(count("<line", in: html), report.graph.edges.count)
    XCTAssertTrue(html.contains("<svg"))
  }

  func testForceLayoutIsDeterministicAndInsideTheUnitSquare() throws {
    let graph = try GraphFile.read(repository.appendingPathComponent("samples/data/ba_graphs.jsonl").path)[0]
    let a = GraphLayout.positions(for: graph)
    let b = GraphLayout.positions(for: graph)
    XCTAssertEqual(a.map(\.x), b.map(\.x))
    XCTAssertTrue(a.allSatisfy { (0...1).contains($0.x) && (0...1).contains($0.y) })
    let distinct = Set(a.map { "\(Int($0.x * 100)),\(Int($0.y * 100))" })
    XCTAssertGreaterThan(distinct.count, graph.nodeCount / 2, "nodes are spread out")
  }

  func testDatasetPageSummarisesAccuracyWordsAndHistogram() throws {
    let model = try tinyModel()
    let texts = [
      ("the movie was good", "positive"), ("a bad movie", "negative"), ("the film was bad", "negative"),
      ("great film", "positive"), ("the best movie", "positive"),
    ]
    let rows = try texts.enumerated().map { index, item in
      try DatasetRow(
        index: index, id: "ex-\(index)",
        label: GivenLabel(given: item.1, classIndex: model.config.labels.firstIndex(of: item.1)),
        explanation: try model.explain(item.0, method: GradientTimesInput.lrp))
    }
    let html = DatasetReport(title: "tiny <set>", rows: rows).html
    XCTAssertTrue(html.contains("accuracy"))
    XCTAssertTrue(html.contains("of 5 labelled"))
    XCTAssertTrue(html.contains("Confusion table"))
    XCTAssertTrue(html.contains("tiny &lt;set&gt;"))
    XCTAssertTrue(html.contains("aria-label=\"relevance histogram\""))
    XCTAssertEqual(count("class=\"example\"", in: html), 5)
    XCTAssertTrue(html.contains("ex-4"))
    XCTAssertEqual(rows[0].words.map(\.text).first, "[CLS]")
  }
}
