import Attribution
import Foundation
import Models
import XCTest

@testable import Render

/// The eval page's score-against-cost charts: the Pareto frontier, labels that do not
/// overlap, escaping, and the costs read back from a saved evaluation.
final class CostChartTests: XCTestCase {
  func testTheFrontierKeepsTheMethodsNoCheaperOneBeats() {
    let costs = [1.0, 2, 3, 4, 4, 0.5]
    let scores = [0.5, 0.4, 0.7, 0.9, 0.95, 0.1]
    XCTAssertEqual(ParetoFrontier.indices(costs: costs, scores: scores, higherIsBetter: true), [5, 0, 2, 4])
    // Lower is better: the cheapest is also the best, nothing costlier gains.
    XCTAssertEqual(ParetoFrontier.indices(costs: costs, scores: scores, higherIsBetter: false), [5])
    XCTAssertEqual(ParetoFrontier.indices(costs: [3, 3], scores: [1, 1], higherIsBetter: true), [0], "a tie is no gain")
    XCTAssertEqual(ParetoFrontier.indices(costs: [], scores: [], higherIsBetter: true), [])
  }

  func testLabelsOfAClusterTakeFreePlacesInsideThePlot() {
    let bounds = LabelPlacer.Box(x0: 0, y0: 0, x1: 400, y1: 300)
    var placer = LabelPlacer(bounds: bounds)
    let points = [(200.0, 150.0), (203, 152), (198, 149), (205, 147), (200, 155), (390, 5)]
    for point in points { placer.taken.append(LabelPlacer.Box(x0: point.0 - 5, y0: point.1 - 5, x1: point.0 + 5, y1: point.1 + 5)) }
    let names = ["lrp", "attnlrp", "gradxinput", "integrated-gradients", "kernel-shap", "occlusion"]
    var boxes: [LabelPlacer.Box] = []
    for (name, point) in zip(names, points) {
      let placement = placer.place(name, px: point.0, py: point.1)
      boxes.append(placer.box(name, x: placement.x, y: placement.y, anchor: placement.anchor))
    }
    for (i, a) in boxes.enumerated() {
      XCTAssertEqual(a.overlap(bounds), (a.x1 - a.x0) * (a.y1 - a.y0), accuracy: 1e-9, "\(names[i]) inside the plot")
      for (j, b) in boxes.enumerated() where j > i {
        XCTAssertEqual(a.overlap(b), 0, "\(names[i]) and \(names[j]) overlap")
      }
      for point in points {
        XCTAssertEqual(a.overlap(LabelPlacer.Box(x0: point.0 - 4, y0: point.1 - 4, x1: point.0 + 4, y1: point.1 + 4)), 0)
      }
    }
  }

  /// A saved evaluation of three methods and the baselines, costs included.
  private func report(modelName: String) -> FaithfulnessReport {
    let curve = (0...10).map { 1 - Float($0) / 20 }
    func row(_ ranking: Ranking, _ score: Double, _ cost: MethodCost?) -> FaithfulnessSummary.Row {
      FaithfulnessSummary.Row(
        ranking: ranking,
        meanCurves: FaithfulnessCurves(
          activation: curve, pruning: curve, pruningError: curve, mostRelevantFirst: curve, leastRelevantFirst: curve,
          comprehensiveness: Array(curve.prefix(5)), sufficiency: Array(curve.prefix(5))),
        perExample: Dictionary(uniqueKeysWithValues: FaithfulnessMetric.allCases.map { ($0, [score, score + 0.1]) }),
        cost: cost)
    }
    let rows = [
      row(.method(.lrp), 0.9, MethodCost(forward: 1, backward: 1, milliseconds: 3.2)),
      row(.method(.occlusion), 0.8, MethodCost(forward: 24.5, backward: 0, milliseconds: 40)),
      row(.method(.shapley), 0.95, MethodCost(forward: 980, backward: 0, milliseconds: 1_250)),
      row(.random(orders: 5), 0.3, MethodCost(forward: 0, backward: 0, milliseconds: 0.002)),
      row(.attention, 0.5, MethodCost(forward: 1, backward: 0, milliseconds: 1.1)),
    ]
    let examples = [0, 1].map {
      ExampleFaithfulness(index: $0, trueClass: 0, fromLabel: true, unitCount: 10, curves: [])
    }
    return FaithfulnessReport(
      modelName: modelName, dataName: "d.jsonl", units: .tokens,
      summary: FaithfulnessSummary(rows: rows, examples: examples), failedCount: 0, seconds: 1, seed: 0)
  }

  func testThePageDrawsEachMethodAgainstItsCostAndEscapesText() throws {
    let page = report(modelName: "m<script>").html
    XCTAssertFalse(page.contains("<script>"), "escaped")
    XCTAssertEqual(page.components(separatedBy: "<svg").count - 1, 6 + 2)
    // lrp is cheapest and beats occlusion; shapley gains more at its cost.
    XCTAssertTrue(page.contains("Frontier: lrp → shapley."), page)
    XCTAssertTrue(page.contains("(ΔA gained over random per ms): lrp"), "(0.95 − 0.35)/3.2 ms is the largest gain per ms")
    XCTAssertTrue(page.contains("1 fwd<br><span class=\"se\">+ 1 bwd</span>"), "passes per explanation")
    XCTAssertTrue(page.contains("1,250"), "milliseconds grouped")
    XCTAssertTrue(page.contains(">random</text>"), "the random baseline's line is labelled")
  }

  func testSavedCostsReadBackIntoTheSameTableAndPage() throws {
    let original = report(modelName: "model")
    let saved = try JSONDocument.parse(original.json.text, source: "saved").rootNode
    let read = try FaithfulnessReport.read(saved, source: "saved")
    // Costs are saved as float32, and the page and table print them from float32.
    func rounded(_ report: FaithfulnessReport) -> [[Float]] {
      report.summary.rows.map { row in row.cost.map { [$0.forward, $0.backward, $0.milliseconds].map { Float($0) } } ?? [] }
    }
    XCTAssertEqual(rounded(read), rounded(original))
    XCTAssertEqual(read.html, original.html)
    XCTAssertEqual(read.table(color: false), original.table(color: false))
    // A cost that is not a number is refused, naming the ranking.
    let broken = original.json.text.replacingOccurrences(of: "\"ms_per_explanation\": 40.0", with: "\"ms_per_explanation\": \"x\"")
    XCTAssertNotEqual(broken, original.json.text)
    XCTAssertThrowsError(
      try FaithfulnessReport.read(try JSONDocument.parse(broken, source: "b").rootNode, source: "b")
    ) { XCTAssertTrue("\($0)".contains("occlusion's cost is malformed"), "\($0)") }
    // Counts and times that the table or the log-scale chart cannot hold are refused too,
    // not trapped on when printed.
    for value in ["1e20", "1e30", "1e-50"] {
      let huge = original.json.text.replacingOccurrences(
        of: "\"ms_per_explanation\": 40.0", with: "\"ms_per_explanation\": \(value)")
      XCTAssertThrowsError(
        try FaithfulnessReport.read(try JSONDocument.parse(huge, source: "h").rootNode, source: "h"), value
      ) { XCTAssertTrue("\($0)".contains("occlusion's cost is out of range"), "\($0)") }
    }
  }
}
