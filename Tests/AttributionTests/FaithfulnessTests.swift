import Attribution
import Foundation
import Models
import Tensor
import XCTest

/// lrp's relevance negated: the ordering a faithful method's opposite would give.
private struct ReversedLRP: AttributionMethod {
  var kind: MethodKind { .gradxinput }
  var rules: PropagationRules { GradientTimesInput.lrp.rules }
  var needsBaseline: Bool { false }

  func missingOperations(in present: Set<RuleOperation>) -> [RuleOperation] { [] }

  func attribute(network: any EncoderClassifier, input: AttributionInput, targets: [ClassTarget]) throws
    -> [PositionAttribution]
  {
    try GradientTimesInput.lrp.attribute(network: network, input: input, targets: targets).map {
      PositionAttribution(
        relevance: $0.relevance.map { -$0 }, logits: $0.logits, target: $0.target, baselineLogit: nil)
    }
  }
}

final class FaithfulnessTests: XCTestCase {
  static let sentences = [
    "This was one of the best movies I have ever seen.",
    "A dull, lifeless and painfully long film.",
    "The acting is superb, but the script is a mess.",
    "An utterly charming, funny and moving story.",
    "Neither funny nor clever, just loud.",
    "I would not recommend it to anyone.",
    "Surprisingly good for a sequel, with a great cast.",
    "Boring, predictable and far too long.",
  ]

  static let model = try! TextModel.load(path: AttributionFixtures.modelPath("minilm-rt-sentiment"))
  /// For the checks of mechanics, which need no trained model.
  static let tiny = try! TextModel.load(path: AttributionFixtures.modelPath("tiny-distilbert"))
  static let tinySentences = ["the movie was not good", "great film!", "it is boring", "a bad, bad movie."]

  func testTrapezoidAreasOfKnownCurves() {
    XCTAssertEqual(Faithfulness.area([0, 1]), 0.5, accuracy: 1e-12)
    XCTAssertEqual(Faithfulness.area((0...10).map { Float($0) / 10 }), 0.5, accuracy: 1e-7)
    XCTAssertEqual(Faithfulness.area(Array(repeating: 2, count: 11)), 2, accuracy: 1e-12)
    XCTAssertEqual(Faithfulness.area([0, 1, 0]), 0.5, accuracy: 1e-12)
    // y = x² on 11 points: Σ trapezoids = 1/3 + h²/6 = 0.335.
    XCTAssertEqual(Faithfulness.area((0...10).map { Float($0 * $0) / 100 }), 0.335, accuracy: 1e-6)
  }

  func testPlanRemovesUnitsInTheOrderEachProtocolNames() {
    let plan = PerturbationPlan(relevance: [3, -1, 2, 0.5])
    let p = plan.perturbations
    XCTAssertEqual(p.count, 4 * 11 + 2 * 5)
    // Activation: all [UNK] at 0, nothing at 1; at 0.5 the two most relevant are back.
    XCTAssertEqual(p[0], Perturbation(.unknownToken, removing: [0, 1, 2, 3]))
    XCTAssertEqual(p[5], Perturbation(.unknownToken, removing: [1, 3]))
    XCTAssertTrue(p[10].isIdentity)
    // Pruning: the smallest |R| go first (0.5, then -1).
    XCTAssertTrue(p[11].isIdentity)
    XCTAssertEqual(p[16], Perturbation(.unknownToken, removing: [1, 3]))
    XCTAssertEqual(p[21], Perturbation(.unknownToken, removing: [0, 1, 2, 3]))
    // MoRF zeroes 3 and 2 first; LeRF -1 and 0.5.
    XCTAssertEqual(p[27], Perturbation(.zeroEmbedding, removing: [0, 2]))
    XCTAssertEqual(p[38], Perturbation(.zeroEmbedding, removing: [1, 3]))
    XCTAssertEqual(p[22 + 3], Perturbation(.zeroEmbedding, removing: [0]))
    // AOPC at 10 %: one unit deleted (comprehensiveness) or kept alone (sufficiency).
    XCTAssertEqual(p[44], Perturbation(.deletion, removing: [0]))
    XCTAssertEqual(p[49], Perturbation(.deletion, removing: [1, 2, 3]))
    XCTAssertEqual(p[48], Perturbation(.deletion, removing: [0, 2]))
  }

  func testCurvesStartAndEndWhereEachProtocolSays() throws {
    let model = Self.model
    let evaluator = TextFaithfulness(
      model: model, methods: [GradientTimesInput.lrp], baselines: [.random(orders: 2), .attention], seed: 1)
    let texts = try Self.sentences.prefix(3).map(model.prepare)
    let results = try evaluator.evaluate(texts, indices: [0, 1, 2], labels: [1, nil, 0])
    let tokenizer = try XCTUnwrap(model.tokenizer)
    for (text, result) in zip(texts, results) {
      let unknown = text.ids.map {
        [tokenizer.classifierId, tokenizer.separatorId].contains($0) ? $0 : tokenizer.unknownId
      }
      let logits = withoutGrad { model.network.logits(TokenBatch([text.ids, unknown])) }.scalars
      let classes = model.config.labels.count
      let (original, allUnknown) = (Array(logits[0..<classes]), Array(logits[classes...]))
      func p(_ z: [Float]) -> Float {
        let e = z.map { exp($0 - z.max()!) }
        return e[result.trueClass] / e.reduce(0, +)
      }
      XCTAssertEqual(result.unitCount, text.ids.count - 2)
      for curves in result.curves {
        XCTAssertEqual(curves.activation.first!, p(allUnknown), accuracy: 1e-4)
        XCTAssertEqual(curves.activation.last!, p(original), accuracy: 1e-4)
        XCTAssertEqual(curves.pruning.first!, p(original), accuracy: 1e-4)
        XCTAssertEqual(curves.pruning.last!, p(allUnknown), accuracy: 1e-4)
        XCTAssertEqual(curves.pruningError.first!, 0, accuracy: 1e-6)
        XCTAssertEqual(
          curves.pruningError.last!,
          zip(original, allUnknown).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) },
          accuracy: 1e-3)
        XCTAssertEqual(curves.mostRelevantFirst.first!, original[result.trueClass], accuracy: 1e-4)
        XCTAssertEqual(curves.leastRelevantFirst.first!, original[result.trueClass], accuracy: 1e-4)
        XCTAssertEqual(curves.mostRelevantFirst.last!, curves.leastRelevantFirst.last!, accuracy: 1e-5)
        XCTAssertEqual(curves.comprehensiveness.count, 5)
      }
    }
    XCTAssertEqual(results.map(\.trueClass)[0], 1)
    XCTAssertEqual(results.map(\.trueClass)[2], 0)
    XCTAssertEqual(results.map(\.fromLabel), [true, false, true])
  }

  func testReversedOrderingScoresWorseThanTheMethodItReverses() throws {
    let model = Self.model
    let evaluator = TextFaithfulness(
      model: model, methods: [GradientTimesInput.lrp, ReversedLRP()], baselines: [], seed: 0)
    let texts = try Self.sentences.map(model.prepare)
    let summary = FaithfulnessSummary(
      rankings: evaluator.rankings,
      examples: try evaluator.evaluate(
        texts, indices: Array(texts.indices), labels: Array(repeating: nil, count: texts.count)))
    let (lrp, reversed) = (summary.rows[0], summary.rows[1])
    XCTAssertGreaterThan(lrp.mean(.auac), reversed.mean(.auac) + 0.05)
    XCTAssertGreaterThan(lrp.mean(.areaBetween), 0)
    XCTAssertLessThan(reversed.mean(.areaBetween), 0)
    XCTAssertGreaterThan(lrp.mean(.comprehensiveness), reversed.mean(.comprehensiveness))
    XCTAssertLessThan(lrp.mean(.sufficiency), reversed.mean(.sufficiency))
    XCTAssertEqual(summary.best(.auac), 0)
  }

  func testBatchedEvaluationEqualsOneAtATime() throws {
    let model = Self.tiny
    let evaluator = TextFaithfulness(
      model: model, methods: [GradientTimesInput.attnLRP], baselines: [.random(orders: 2), .attention],
      seed: 3)
    let texts = try Self.tinySentences.map(model.prepare)
    let together = try evaluator.evaluate(texts, indices: [10, 11, 12, 13], labels: [nil, 0, 1, nil])
    for (t, text) in texts.enumerated() {
      let alone = try evaluator.evaluate([text], indices: [10 + t], labels: [[nil, 0, 1, nil][t]])[0]
      XCTAssertEqual(alone.trueClass, together[t].trueClass)
      for (a, b) in zip(alone.curves, together[t].curves) {
        for path in [
          \FaithfulnessCurves.activation, \.pruning, \.pruningError, \.mostRelevantFirst,
          \.leastRelevantFirst,
          \.comprehensiveness, \.sufficiency,
        ] {
          for (x, y) in zip(a[keyPath: path], b[keyPath: path]) { XCTAssertEqual(x, y, accuracy: 1e-4) }
        }
      }
    }
  }

  func testRandomBaselineIsReproducibleWithItsSeed() throws {
    let model = Self.tiny
    let texts = try Self.tinySentences.prefix(3).map(model.prepare)
    func run(seed: UInt64) throws -> [FaithfulnessCurves] {
      try TextFaithfulness(model: model, methods: [], baselines: [.random(orders: 5)], seed: seed)
        .evaluate(texts, indices: [0, 1, 2], labels: [nil, nil, nil]).map { $0.curves[0] }
    }
    XCTAssertEqual(try run(seed: 7), try run(seed: 7))
    XCTAssertNotEqual(try run(seed: 7), try run(seed: 8))
  }

  /// The sample GraphNet and the first of the sample BA graphs, prepared.
  static func firstSampleGraph() throws -> (network: GraphNetwork, graph: Graph, input: GraphInput) {
    let network = try GraphNetwork.load(
      path: AttributionFixtures.repository.appendingPathComponent("samples/models/graphnet-ba").path)
    let reader = try GraphRecordReader(
      path: AttributionFixtures.repository.appendingPathComponent("samples/data/ba_graphs.jsonl").path)
    let graph = try XCTUnwrap(reader.next()).result.get().graph
    return (network, graph, try network.prepare(graph))
  }

  func testGraphCurvesRemoveNodesFromTheWholeGraphToNone() throws {
    let (network, graph, input) = try Self.firstSampleGraph()
    let evaluator = GraphFaithfulness(
      walks: RelevantWalks(), nodeGradientTimesInput: true, randomOrders: 3, seed: 0)
    XCTAssertEqual(evaluator.rankings.map(\.name), ["gnn-lrp", "gradxinput", "random"])
    let result = try evaluator.evaluate(network: network, input: input, index: 0, label: graph.label)
    let outputs = network.outputs(input)
    // With every node removed only the output bias is left.
    let empty = network.outputBias?.scalars ?? Array(repeating: 0, count: outputs.count)
    for curves in result.curves {
      XCTAssertEqual(curves.mostRelevantFirst.first!, outputs[result.trueClass], accuracy: 1e-5)
      XCTAssertEqual(curves.mostRelevantFirst.last!, empty[result.trueClass], accuracy: 1e-5)
      XCTAssertEqual(curves.leastRelevantFirst.last!, empty[result.trueClass], accuracy: 1e-5)
    }
    // GNN-LRP removes what matters: its MoRF curve falls below LeRF.
    XCTAssertGreaterThan(result.curves[0].scores[.areaBetween]!, 0)
  }

  func testImageCurvesRunFromTheBlackImageToTheImageAndBatchAsAlone() throws {
    let model = try ImageModel.load(
      path: AttributionFixtures.repository.appendingPathComponent("samples/models/vit-digits").path)
    let images = try ["3-0045.png", "7-0094.png"].map {
      try model.prepare(
        file: AttributionFixtures.repository.appendingPathComponent("samples/data/digits/\($0)").path)
    }
    let evaluator = ImageFaithfulness(
      model: model, methods: [GradientTimesInput.lrp], baselines: [.random(orders: 2), .attention], seed: 2)
    let together = try evaluator.evaluate(images, indices: [0, 1], labels: [3, nil])
    let black = PreparedImage(source: "black", pixelValues: model.blackImage, shown: images[0].shown)
    let blackLogits = model.logits([black]).scalars
    for (image, result) in zip(images, together) {
      let logits = model.logits([image]).scalars
      func p(_ z: [Float]) -> Float {
        let e = z.map { exp($0 - z.max()!) }
        return e[result.trueClass] / e.reduce(0, +)
      }
      XCTAssertEqual(result.unitCount, 64)
      for curves in result.curves {
        XCTAssertEqual(curves.activation.first!, p(blackLogits), accuracy: 1e-4)
        XCTAssertEqual(curves.activation.last!, p(logits), accuracy: 1e-4)
        XCTAssertEqual(curves.mostRelevantFirst.first!, logits[result.trueClass], accuracy: 1e-4)
      }
      let alone = try evaluator.evaluate(
        [image], indices: [result.index], labels: [result.index == 0 ? 3 : nil])[0]
      for (a, b) in zip(alone.curves, result.curves) {
        for (x, y) in zip(
          a.activation + a.leastRelevantFirst + a.sufficiency,
          b.activation + b.leastRelevantFirst + b.sufficiency)
        {
          XCTAssertEqual(x, y, accuracy: 1e-4)
        }
      }
    }
    XCTAssertEqual(together.map(\.trueClass), [3, 7])
    XCTAssertGreaterThan(
      together[0].curves[0].scores[.areaBetween]!, together[0].curves[1].scores[.areaBetween]!)
  }
}
