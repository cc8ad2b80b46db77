import Tensor
import XCTest

/// Matmul against a naive product, the detached backward variants, detach and
/// no-grad, and training a small network end to end.
final class CoreBehaviourTests: XCTestCase {
  override class func setUp() {
    super.setUp()
    isolateGEMMPlanCache()
  }

  private func naiveProduct(_ a: [Float], _ b: [Float], m: Int, n: Int, k: Int) -> [Float] {
    var c = [Float](repeating: 0, count: m * n)
    for i in 0..<m { for j in 0..<n { for p in 0..<k { c[i * n + j] += a[i * k + p] * b[p * n + j] } } }
    return c
  }

  func testMatmulEqualsNaiveProductForEveryTransposeCombinationAndBatch() {
    for backend in GEMMBackend.allCases {
      BLAS.backend = backend
      defer { BLAS.backend = nil }
      assertMatmulEqualsNaiveProduct(backend)
    }
  }

  func testEveryBackendGivesTheSameAttentionLinearAndGradients() {
    let x = randomTensor([2, 9, 12], seed: 11).requiringGrad()
    let w = randomTensor([12, 12], seed: 12)
    let keep = Tensor(shape: [2, 9], scalars: (0..<18).map { $0 < 14 ? 1 : 0 })
    var results: [[Float]] = []
    for backend in GEMMBackend.allCases {
      BLAS.backend = backend
      let leaf = x.detach().requiringGrad()
      let h = Tensor.linear(leaf, weight: w, bias: nil)
      let out = Tensor.attention(query: h, key: h, value: h, heads: 3, keep: keep, scale: 0.5)
      out.backward(seed: Tensor.ones(out.shape))
      results.append(out.scalars + leaf.grad!.scalars)
    }
    BLAS.backend = nil
    assertClose(results[0], results[1], tolerance: 1e-4)
  }

  private func assertMatmulEqualsNaiveProduct(_ backend: GEMMBackend) {
    let (m, n, k) = (5, 7, 6)
    for transposeA in [false, true] {
      for transposeB in [false, true] {
        for batch in [1, 3] {
          let a = randomTensor([batch] + (transposeA ? [k, m] : [m, k]), seed: 1)
          let b = randomTensor([batch] + (transposeB ? [n, k] : [k, n]), seed: 2)
          let c = Tensor.matmul(a, b, transposeA: transposeA, transposeB: transposeB)
          XCTAssertEqual(c.shape, [batch, m, n])
          for index in 0..<batch {
            let sa = a.select(axis: 0, index)
            let sb = b.select(axis: 0, index)
            let plainA = transposeA ? sa.transposed(0, 1) : sa
            let plainB = transposeB ? sb.transposed(0, 1) : sb
            let expected = naiveProduct(plainA.scalars, plainB.scalars, m: m, n: n, k: k)
            assertClose(c.select(axis: 0, index).scalars, expected)
          }
        }
      }
    }
  }

  func testLinearEqualsInputTimesTransposedWeightPlusBias() {
    let x = randomTensor([4, 3], seed: 3)
    let w = randomTensor([2, 3], seed: 4)
    let b = Tensor(shape: [2], scalars: [0.5, -1])
    let y = Tensor.linear(x, weight: w, bias: b)
    var expected = naiveProduct(x.scalars, w.transposed(0, 1).scalars, m: 4, n: 2, k: 3)
    for i in 0..<4 {
      expected[2 * i] += 0.5
      expected[2 * i + 1] -= 1
    }
    assertClose(y.scalars, expected)
  }

  func testConstantSigmaLayerNormMatchesDetachedCompositeAndKeepsForward() {
    let x = randomTensor([3, 5], seed: 5, low: -2, high: 2).requiringGrad()
    let gamma = randomTensor([5], seed: 6, low: 0.5, high: 1.5)
    let beta = randomTensor([5], seed: 7)
    let g = randomTensor([3, 5], seed: 8)
    let fused = x.layerNorm(gamma: gamma, beta: beta, eps: 1e-5, constantSigma: true)
    let plain = withoutGrad { x.layerNorm(gamma: gamma, beta: beta, eps: 1e-5) }
    assertClose(fused.scalars, plain.scalars, tolerance: 0)
    fused.backward(seed: g)
    let fusedGrad = x.grad!.scalars

    let y = x.detach().requiringGrad()
    let centered = y - y.mean(axis: 1, keepingAxis: true)
    let sigma = ((centered * centered).mean(axis: 1, keepingAxis: true) + 1e-5).sqrt().detach()
    (centered / sigma * gamma + beta).backward(seed: g)
    assertClose(fusedGrad, y.grad!.scalars, tolerance: 1e-5)
  }

  func testConstantPhiGeluBackwardIsPhiAndKeepsForward() {
    let values: [Float] = [-3, -1, -0.25, 0, 0.5, 2]
    let x = Tensor(shape: [6], scalars: values).requiringGrad()
    let detached = x.gelu(constantPhi: true)
    assertClose(detached.scalars, withoutGrad { x.gelu() }.scalars, tolerance: 0)
    detached.sum().backward()
    let phi = values.map { 0.5 * (1 + erf($0 / 2.0.squareRoot().asFloat)) }
    assertClose(x.grad!.scalars, phi, tolerance: 1e-6)
  }

  func testConstantRatioTanhBackwardIsTheRatioAndOneAtZero() {
    let values: [Float] = [-2, -0.5, 0, 0.1, 1.5]
    let x = Tensor(shape: [5], scalars: values).requiringGrad()
    let detached = x.tanh(constantRatio: true)
    assertClose(detached.scalars, withoutGrad { x.tanh() }.scalars, tolerance: 0)
    detached.sum().backward()
    let ratio = values.map { $0 == 0 ? 1 : tanh($0) / $0 }
    assertClose(x.grad!.scalars, ratio, tolerance: 1e-6)
  }

  func testDetachedSoftmaxPassesGradientThroughValuesOnly() {
    let scores = randomTensor([2, 3, 3], seed: 9).requiringGrad()
    let values = randomTensor([2, 3, 4], seed: 10).requiringGrad()
    Tensor.matmul(scores.softmax().detach(), values).sum().backward()
    XCTAssertNil(scores.grad)
    XCTAssertNotNil(values.grad)
  }

  func testDetachAndNoGradRecordNothing() {
    let x = randomTensor([3], seed: 11).requiringGrad()
    XCTAssertFalse((x.detach() * 2).requiresGrad)
    let inside = withoutGrad { (x * x).exp() }
    XCTAssertFalse(inside.requiresGrad)
    XCTAssertTrue((x * x).requiresGrad)
    let weight = randomTensor([3], seed: 12)
    (x * weight).sum().backward()
    XCTAssertNil(weight.grad, "a tensor that did not ask for gradients never gets one")
  }

  func testGradientsAccumulateAcrossUsesAndBackwardCalls() {
    let x = Tensor(shape: [2], scalars: [1, 2]).requiringGrad()
    (x * x + x).sum().backward()
    assertClose(x.grad!.scalars, [3, 5])
    (x * 2).sum().backward()
    assertClose(x.grad!.scalars, [5, 7])
    x.zeroGrad()
    XCTAssertNil(x.grad)
  }

  func testReshapeSharesStorageAndWritesCopyOnWrite() {
    var a = Tensor(shape: [2, 2], scalars: [1, 2, 3, 4])
    let b = a.reshaped([4])
    a.withUnsafeMutableBufferPointer { $0[0] = 9 }
    XCTAssertEqual(b.scalars, [1, 2, 3, 4])
    XCTAssertEqual(a.scalars, [9, 2, 3, 4])
  }

  func testSmallNetworkTrainedWithSGDDrivesItsLossDown() {
    var generator = SeededGenerator(seed: 42)
    let inputs = Tensor.uniform([64, 2], low: -1, high: 1, using: &generator)
    let targets = Tensor(
      shape: [64, 1],
      scalars: stride(from: 0, to: 128, by: 2).map {
        inputs.scalars[$0] * inputs.scalars[$0 + 1] > 0 ? 1 : -1
      })
    var w1 = Tensor.normal([16, 2], std: 0.7, using: &generator)
    var b1 = Tensor.zeros([16])
    var w2 = Tensor.normal([1, 16], std: 0.3, using: &generator)
    var b2 = Tensor.zeros([1])
    var losses: [Float] = []
    for _ in 0..<400 {
      let params = [w1, b1, w2, b2].map { $0.requiringGrad() }
      let hidden = Tensor.linear(inputs, weight: params[0], bias: params[1]).relu()
      let output = Tensor.linear(hidden, weight: params[2], bias: params[3])
      let error = output - targets
      let loss = (error * error).mean()
      losses.append(loss.item)
      loss.backward()
      let updated = params.map { ($0 - $0.grad! * 0.1).detach() }
      (w1, b1, w2, b2) = (updated[0], updated[1], updated[2], updated[3])
    }
    XCTAssertLessThan(losses.last!, 0.3 * losses.first!, "loss \(losses.first!) → \(losses.last!)")
  }
}

extension Double {
  fileprivate var asFloat: Float { Float(self) }
}
