import Tensor
import XCTest

/// Every op's backward against central finite differences.
final class OpGradientTests: XCTestCase {
  override class func setUp() {
    super.setUp()
    isolateGEMMPlanCache()
  }

  func testArithmeticBackwardMatchesFiniteDifferencesWithBroadcasting() {
    let shapes: [([Int], [Int])] = [
      ([2, 3, 4], [2, 3, 4]), ([2, 3, 4], [4]), ([2, 3, 4], [3, 1]),
      ([2, 1, 4], [3, 1]), ([2, 3], [1]), ([3], [2, 3]),
    ]
    for (index, (sa, sb)) in shapes.enumerated() {
      let a = randomTensor(sa, seed: UInt64(index))
      let b = randomTensor(sb, seed: UInt64(100 + index), low: 0.5, high: 1.5)
      assertGradientsMatchFiniteDifferences([a, b]) { $0[0] + $0[1] }
      assertGradientsMatchFiniteDifferences([a, b]) { $0[0] - $0[1] }
      assertGradientsMatchFiniteDifferences([a, b]) { $0[0] * $0[1] }
      assertGradientsMatchFiniteDifferences([a, b]) { $0[0] / $0[1] }
    }
  }

  func testScalarArithmeticBackwardMatchesFiniteDifferences() {
    let a = randomTensor([3, 5], seed: 1)
    assertGradientsMatchFiniteDifferences([a]) { ($0[0] * 3 + 2) / 4 - 1 }
    assertGradientsMatchFiniteDifferences([a]) { -$0[0] }
  }

  func testReductionsBackwardMatchFiniteDifferences() {
    let a = randomTensor([2, 3, 4], seed: 2)
    for axis in [0, 1, 2, -1] {
      assertGradientsMatchFiniteDifferences([a]) { $0[0].sum(axis: axis) }
      assertGradientsMatchFiniteDifferences([a]) { $0[0].mean(axis: axis, keepingAxis: true) }
    }
    assertGradientsMatchFiniteDifferences([a]) { $0[0].sum() }
    assertGradientsMatchFiniteDifferences([a]) { $0[0].mean() }
    assertGradientsMatchFiniteDifferences([randomTensor([3, 1], seed: 3)]) {
      $0[0].broadcasted(to: [2, 3, 4])
    }
  }

  func testMatmulBackwardMatchesFiniteDifferencesForEveryTransposeAndBatch() {
    for transposeA in [false, true] {
      for transposeB in [false, true] {
        let a = randomTensor(transposeA ? [4, 3] : [3, 4], seed: 4)
        let b = randomTensor(transposeB ? [5, 4] : [4, 5], seed: 5)
        assertGradientsMatchFiniteDifferences([a, b]) {
          Tensor.matmul($0[0], $0[1], transposeA: transposeA, transposeB: transposeB)
        }
        let batchA = randomTensor(transposeA ? [2, 3, 4, 3] : [2, 3, 3, 4], seed: 6)
        let batchB = randomTensor(transposeB ? [2, 3, 5, 4] : [2, 3, 4, 5], seed: 7)
        assertGradientsMatchFiniteDifferences([batchA, batchB]) {
          Tensor.matmul($0[0], $0[1], transposeA: transposeA, transposeB: transposeB)
        }
      }
      let shared = randomTensor(transposeA ? [5, 4] : [4, 5], seed: 8)
      assertGradientsMatchFiniteDifferences([randomTensor([2, 3, 4], seed: 9), shared]) {
        Tensor.matmul($0[0], $0[1], transposeB: transposeA)
      }
    }
  }

  func testLinearBackwardMatchesFiniteDifferences() {
    let x = randomTensor([2, 3, 4], seed: 10)
    let w = randomTensor([5, 4], seed: 11)
    let b = randomTensor([5], seed: 12)
    assertGradientsMatchFiniteDifferences([x, w, b]) {
      Tensor.linear($0[0], weight: $0[1], bias: $0[2])
    }
    assertGradientsMatchFiniteDifferences([x, w]) { Tensor.linear($0[0], weight: $0[1], bias: nil) }
  }

  func testActivationsBackwardMatchFiniteDifferences() {
    let a = randomTensor([3, 7], seed: 13, low: -2, high: 2)
    assertGradientsMatchFiniteDifferences([a]) { $0[0].exp() }
    assertGradientsMatchFiniteDifferences([randomTensor([3, 7], seed: 14, low: 0.5, high: 3)]) {
      $0[0].sqrt()
    }
    assertGradientsMatchFiniteDifferences([a]) { $0[0].tanh() }
    assertGradientsMatchFiniteDifferences([a]) { $0[0].gelu() }
    let awayFromKink = Tensor(shape: [6], scalars: [-1.5, -0.7, -0.2, 0.3, 0.9, 2])
    assertGradientsMatchFiniteDifferences([awayFromKink]) { $0[0].relu() }
  }

  func testMaskedSoftmaxBackwardMatchesFiniteDifferences() {
    let scores = randomTensor([2, 3, 5], seed: 15, low: -3, high: 3)
    assertGradientsMatchFiniteDifferences([scores]) { $0[0].softmax() }
    let keep = Tensor(shape: [2, 1, 5], scalars: [1, 1, 1, 0, 0, 1, 1, 1, 1, 1])
    assertGradientsMatchFiniteDifferences([scores]) { $0[0].softmax(mask: keep) }
  }

  func testMaskedSoftmaxGivesZeroProbabilityToDroppedKeys() {
    let scores = randomTensor([2, 4], seed: 16)
    let keep = Tensor(shape: [1, 4], scalars: [1, 0, 1, 0])
    let p = scores.softmax(mask: keep)
    XCTAssertEqual(p[0, 1], 0)
    XCTAssertEqual(p[1, 3], 0)
    XCTAssertEqual(p[0, 0] + p[0, 2], 1, accuracy: 1e-6)
  }

  func testLayerNormBackwardMatchesFiniteDifferences() {
    let x = randomTensor([2, 3, 6], seed: 17, low: -2, high: 2)
    let gamma = randomTensor([6], seed: 18, low: 0.5, high: 1.5)
    let beta = randomTensor([6], seed: 19)
    assertGradientsMatchFiniteDifferences([x, gamma, beta]) {
      $0[0].layerNorm(gamma: $0[1], beta: $0[2], eps: 1e-5)
    }
  }

  func testIndexingBackwardMatchesFiniteDifferences() {
    let a = randomTensor([2, 3, 4], seed: 20)
    assertGradientsMatchFiniteDifferences([a]) { $0[0].reshaped([4, -1]) }
    assertGradientsMatchFiniteDifferences([a]) { $0[0].permuted([2, 0, 1]) }
    assertGradientsMatchFiniteDifferences([a]) { $0[0].transposed(1, 2) }
    assertGradientsMatchFiniteDifferences([a]) { $0[0].slice(axis: 1, 1..<3) }
    assertGradientsMatchFiniteDifferences([a]) { $0[0].select(axis: 2, 3) }
    let b = randomTensor([2, 2, 4], seed: 21)
    assertGradientsMatchFiniteDifferences([a, b]) { Tensor.concat([$0[0], $0[1]], axis: 1) }
  }

  func testGatherWithRepeatedIndicesAndScatterAddBackwardMatchFiniteDifferences() {
    let table = randomTensor([5, 3], seed: 22)
    assertGradientsMatchFiniteDifferences([table]) { $0[0].gatherRows([4, 1, 1, 0, 4, 4]) }
    let messages = randomTensor([6, 3], seed: 23)
    assertGradientsMatchFiniteDifferences([messages]) {
      $0[0].scatterAddRows(into: 4, at: [0, 3, 3, 1, 0, 3])
    }
  }
}

final class AttentionTests: XCTestCase {
  override class func setUp() {
    super.setUp()
    isolateGEMMPlanCache()
  }

  private let keep = Tensor(shape: [2, 1, 1, 4], scalars: [1, 1, 1, 0, 1, 1, 1, 1])

  func testAttentionBackwardMatchesFiniteDifferencesWithPadding() {
    let q = randomTensor([2, 4, 6], seed: 30)
    let k = randomTensor([2, 4, 6], seed: 31)
    let v = randomTensor([2, 4, 6], seed: 32)
    assertGradientsMatchFiniteDifferences([q, k, v]) {
      Tensor.attention(query: $0[0], key: $0[1], value: $0[2], heads: 2, keep: self.keep, scale: 0.7)
    }
  }

  func testAttentionEqualsSplitHeadsSoftmaxComposite() {
    let (q, k, v) = (
      randomTensor([2, 4, 6], seed: 33), randomTensor([2, 4, 6], seed: 34), randomTensor([2, 4, 6], seed: 35)
    )
    func split(_ x: Tensor) -> Tensor { x.reshaped([2, 4, 3, 2]).permuted([0, 2, 1, 3]) }
    let probabilities = (Tensor.matmul(split(q), split(k), transposeB: true) * 0.5).softmax(mask: keep)
    let composite = Tensor.matmul(probabilities, split(v)).permuted([0, 2, 1, 3]).reshaped([2, 4, 6])
    let fused = Tensor.attention(query: q, key: k, value: v, heads: 3, keep: keep, scale: 0.5)
    assertClose(fused.scalars, composite.scalars, tolerance: 1e-5)
  }

  func testConstantProbabilitiesPassGradientThroughValuesOnly() {
    let (q, k, v) = (
      randomTensor([2, 4, 6], seed: 36).requiringGrad(), randomTensor([2, 4, 6], seed: 37).requiringGrad(),
      randomTensor([2, 4, 6], seed: 38).requiringGrad()
    )
    let g = randomTensor([2, 4, 6], seed: 39)
    Tensor.attention(
      query: q, key: k, value: v, heads: 2, keep: keep, scale: 0.7, gradient: .valuesOnly
    )
    .backward(seed: g)
    XCTAssertNil(q.grad)
    XCTAssertNil(k.grad)
    let plain = v.detach().requiringGrad()
    Tensor.attention(query: q.detach(), key: k.detach(), value: plain, heads: 2, keep: keep, scale: 0.7)
      .backward(seed: g)
    assertClose(v.grad!.scalars, plain.grad!.scalars, tolerance: 1e-6)
  }

  func testUniformSplitEqualsCompositeWithHalvedOperandGradients() {
    let (q, k, v) = (
      randomTensor([2, 4, 6], seed: 40).requiringGrad(), randomTensor([2, 4, 6], seed: 41).requiringGrad(),
      randomTensor([2, 4, 6], seed: 42).requiringGrad()
    )
    let g = randomTensor([2, 4, 6], seed: 43)
    Tensor.attention(query: q, key: k, value: v, heads: 3, keep: keep, scale: 0.5, gradient: .uniformSplit)
      .backward(seed: g)
    // x·½ + (x·½).detach() is x in the forward and passes half of the gradient back.
    func half(_ x: Tensor) -> Tensor { x * 0.5 + (x * 0.5).detach() }
    func split(_ x: Tensor) -> Tensor { x.reshaped([2, 4, 3, 2]).permuted([0, 2, 1, 3]) }
    let (cq, ck, cv) = (q.detach().requiringGrad(), k.detach().requiringGrad(), v.detach().requiringGrad())
    let scores = Tensor.matmul(half(split(cq)), half(split(ck)), transposeB: true) * 0.5
    let composite = Tensor.matmul(half(scores.softmax(mask: keep)), half(split(cv)))
      .permuted([0, 2, 1, 3]).reshaped([2, 4, 6])
    composite.backward(seed: g)
    assertClose(q.grad!.scalars, cq.grad!.scalars, tolerance: 1e-5)
    assertClose(k.grad!.scalars, ck.grad!.scalars, tolerance: 1e-5)
    assertClose(v.grad!.scalars, cv.grad!.scalars, tolerance: 1e-5)
  }
}
