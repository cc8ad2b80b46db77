import Foundation
import Tensor
import XCTest

/// The decoder operations' backward passes against finite differences, and their forwards
/// against compositions of simpler operations written out here.
final class DecoderOpTests: XCTestCase {
  override class func setUp() {
    super.setUp()
    isolateGEMMPlanCache()
  }

  func testRMSNormBackwardMatchesFiniteDifferences() {
    let x = randomTensor([3, 8], seed: 1)
    let w = randomTensor([8], seed: 2, low: 0.5, high: 1.5)
    assertGradientsMatchFiniteDifferences([x, w]) { $0[0].rmsNorm(weight: $0[1], eps: 1e-5) }
    // With the scale held constant the op is linear in x: its gradient is w·r.
    let constant = x.requiringGrad()
    constant.rmsNorm(weight: w, eps: 1e-5, constantScale: true).sum().backward()
    let scalars = x.scalars
    for row in 0..<3 {
      let values = scalars[(row * 8)..<(row * 8 + 8)]
      let r = 1 / (values.reduce(0) { $0 + $1 * $1 } / 8 + 1e-5).squareRoot()
      for i in 0..<8 {
        XCTAssertEqual(constant.grad!.scalars[row * 8 + i], w.scalars[i] * r, accuracy: 1e-5)
      }
    }
  }

  func testRMSNormForwardEqualsDefinition() {
    let x = randomTensor([2, 5], seed: 3, low: -3, high: 3)
    let w = randomTensor([5], seed: 4)
    let y = x.rmsNorm(weight: w, eps: 1e-6).scalars
    for row in 0..<2 {
      let values = (0..<5).map { Double(x.scalars[row * 5 + $0]) }
      let r = 1 / (values.reduce(0) { $0 + $1 * $1 } / 5 + 1e-6).squareRoot()
      for i in 0..<5 {
        XCTAssertEqual(Double(y[row * 5 + i]), values[i] * r * Double(w.scalars[i]), accuracy: 1e-5)
      }
    }
  }

  func testActivationsBackwardMatchFiniteDifferences() {
    let x = randomTensor([4, 6], seed: 5, low: -4, high: 4)
    assertGradientsMatchFiniteDifferences([x], step: 1e-2) { $0[0].silu() }
    assertGradientsMatchFiniteDifferences([x], step: 1e-2) { $0[0].geluTanh() }
    let values = x.scalars
    let silu = x.silu().scalars
    let gelu = x.geluTanh().scalars
    for (i, v) in values.enumerated() {
      let dv = Double(v)
      XCTAssertEqual(Double(silu[i]), dv / (1 + Foundation.exp(-dv)), accuracy: 1e-6)
      let expected = 0.5 * dv * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * (dv + 0.044715 * dv * dv * dv)))
      XCTAssertEqual(Double(gelu[i]), expected, accuracy: 1e-6)
    }
  }

  func testConstantRatioActivationsPassGradientTimesOutputOverInput() {
    let x = randomTensor([10], seed: 6, low: -3, high: 3)
    for op in [{ (t: Tensor) in t.silu(constantRatio: true) }, { (t: Tensor) in t.geluTanh(constantRatio: true) }] {
      let leaf = x.requiringGrad()
      op(leaf).sum().backward()
      let y = withoutGrad { op(x) }.scalars
      for (i, v) in x.scalars.enumerated() {
        XCTAssertEqual(leaf.grad!.scalars[i], y[i] / v, accuracy: 1e-5)
      }
    }
  }

  func testRotaryBackwardMatchesFiniteDifferencesAndPreservesNorms() {
    let x = randomTensor([3, 8], seed: 7)
    let frequencies: [Float] = [1, 0.1]
    assertGradientsMatchFiniteDifferences([x]) { $0[0].rotary(heads: 2, firstPosition: 5, frequencies: frequencies) }
    let y = x.rotary(heads: 2, firstPosition: 5, frequencies: frequencies).scalars
    // A rotation of each (i, i + d/2) pair: pair norms are kept, and position p turns pair
    // i by p·f_i (checked on head 1, pair 0 of row 2, position 7).
    for t in 0..<3 {
      for h in 0..<2 {
        for i in 0..<2 {
          let (a, b) = (t * 8 + h * 4 + i, t * 8 + h * 4 + 2 + i)
          XCTAssertEqual(x.scalars[a] * x.scalars[a] + x.scalars[b] * x.scalars[b], y[a] * y[a] + y[b] * y[b], accuracy: 1e-5)
        }
      }
    }
    let angle = 7 * frequencies[0]
    let (x1, x2) = (x.scalars[2 * 8 + 4], x.scalars[2 * 8 + 6])
    XCTAssertEqual(y[2 * 8 + 4], x1 * cos(angle) - x2 * sin(angle), accuracy: 1e-5)
    XCTAssertEqual(y[2 * 8 + 6], x2 * cos(angle) + x1 * sin(angle), accuracy: 1e-5)
  }

  func testCausalAttentionBackwardMatchesFiniteDifferencesWithGroupsAndCache() {
    // 4 query heads over 2 key/value heads, 3 queries over 5 keys (2 cached positions).
    let q = randomTensor([3, 8], seed: 8)
    let k = randomTensor([5, 4], seed: 9)
    let v = randomTensor([5, 4], seed: 10)
    assertGradientsMatchFiniteDifferences([q, k, v]) {
      Tensor.causalAttention(query: $0[0], key: $0[1], value: $0[2], heads: 4, keyValueHeads: 2, scale: 0.7)
    }
  }

  func testCausalAttentionEqualsMaskedSoftmaxComposite() {
    let (length, keys, heads, groups, d) = (3, 5, 4, 2, 2)
    let q = randomTensor([length, heads * d], seed: 11)
    let k = randomTensor([keys, groups * d], seed: 12)
    let v = randomTensor([keys, groups * d], seed: 13)
    assertMatchesComposite(q, k, v, heads: heads, groups: groups, scale: 0.5, rows: Array(0..<length))
  }

  /// Causal attention's rows `rows` against softmax(q·kᵀ·scale)·v written out in float64.
  func assertMatchesComposite(
    _ q: Tensor, _ k: Tensor, _ v: Tensor, heads: Int, groups: Int, scale: Float, rows: [Int],
    file: StaticString = #filePath, line: UInt = #line
  ) {
    let (length, keys, d) = (q.shape[0], k.shape[0], q.shape[1] / heads)
    let out = Tensor.causalAttention(query: q, key: k, value: v, heads: heads, keyValueHeads: groups, scale: scale).scalars
    for t in rows {
      for h in 0..<heads {
        let g = h / (heads / groups)
        let visible = keys - length + t + 1
        let scores = (0..<visible).map { s in
          (0..<d).reduce(0.0) { $0 + Double(q.scalars[t * heads * d + h * d + $1] * k.scalars[s * groups * d + g * d + $1]) }
            * Double(scale)
        }
        let top = scores.max()!
        let weights = scores.map { Foundation.exp($0 - top) }
        let total = weights.reduce(0, +)
        for j in 0..<d {
          let expected = (0..<visible).reduce(0.0) { $0 + weights[$1] / total * Double(v.scalars[$1 * groups * d + g * d + j]) }
          XCTAssertEqual(
            Double(out[t * heads * d + h * d + j]), expected, accuracy: 1e-5, "row \(t) head \(h)", file: file, line: line)
        }
      }
    }
  }

  func testCausalAttentionRulesMatchTheSharedAttentionOp() {
    // With no cache and one group per head, the causal op under each rule has the gradient
    // of the padded op on a causal mask written out by hand: compare against full keys
    // where the last query sees everything (its row is the same in both ops).
    let q = randomTensor([1, 4], seed: 14)
    let k = randomTensor([3, 4], seed: 15)
    let v = randomTensor([3, 4], seed: 16)
    for rule in [AttentionGradient.full, .valuesOnly, .uniformSplit] {
      let (cq, ck, cv) = (q.requiringGrad(), k.requiringGrad(), v.requiringGrad())
      Tensor.causalAttention(query: cq, key: ck, value: cv, heads: 2, keyValueHeads: 2, scale: 0.5, gradient: rule)
        .sum().backward()
      // The shared op needs equal lengths: pad the query to 3 rows and read row 2.
      let padded = Tensor.concat([Tensor.zeros([2, 4]), q], axis: 0)
      let (pq, pk, pv) = (padded.requiringGrad(), k.requiringGrad(), v.requiringGrad())
      let weights = Tensor(shape: [1, 3, 4], scalars: [Float](repeating: 0, count: 8) + [1, 1, 1, 1])
      (Tensor.attention(
        query: pq.reshaped([1, 3, 4]), key: pk.reshaped([1, 3, 4]), value: pv.reshaped([1, 3, 4]), heads: 2,
        keep: Tensor.ones([3]), scale: 0.5, gradient: rule) * weights).sum().backward()
      assertClose(cv.grad!.scalars, pv.grad!.scalars)
      if rule != .valuesOnly {
        assertClose(ck.grad!.scalars, pk.grad!.scalars)
        assertClose(cq.grad!.scalars, Array(pq.grad!.scalars[8...]))
      } else {
        XCTAssertNil(cq.grad)
      }
    }
  }

  func testCausalAttentionOverSeveralTilesMatchesTheCompositeAndFiniteDifferences() {
    // 70 queries over 75 keys: two query tiles (64 + 6 rows) with 5 cached positions, so
    // the second tile's scores start past the first tile's rows and the masked columns
    // of each tile are skipped.
    let (length, keys, heads, groups, d) = (70, 75, 4, 2, 2)
    XCTAssertGreaterThan(length, Tensor.attentionTileRows)
    let q = randomTensor([length, heads * d], seed: 21)
    let k = randomTensor([keys, groups * d], seed: 22)
    let v = randomTensor([keys, groups * d], seed: 23)
    assertMatchesComposite(q, k, v, heads: heads, groups: groups, scale: 0.8, rows: [0, 1, 63, 64, 65, 69])
    assertDirectionalDerivativesMatch([q, k, v], directions: 6) {
      Tensor.causalAttention(query: $0[0], key: $0[1], value: $0[2], heads: heads, keyValueHeads: groups, scale: 0.8)
    }
    // The rules over several tiles: values-only keeps ∂v and drops q and k; the uniform
    // split hands v half and q, k a quarter of the full gradient.
    func gradients(_ rule: AttentionGradient) -> [[Float]?] {
      let (cq, ck, cv) = (q.requiringGrad(), k.requiringGrad(), v.requiringGrad())
      let y = Tensor.causalAttention(query: cq, key: ck, value: cv, heads: heads, keyValueHeads: groups, scale: 0.8, gradient: rule)
      (y * randomTensor(y.shape, seed: 24)).sum().backward()
      return [cq.grad?.scalars, ck.grad?.scalars, cv.grad?.scalars]
    }
    let full = gradients(.full)
    let valuesOnly = gradients(.valuesOnly)
    let split = gradients(.uniformSplit)
    XCTAssertNil(valuesOnly[0])
    assertClose(valuesOnly[2]!, full[2]!)
    assertClose(split[0]!, full[0]!.map { $0 / 4 })
    assertClose(split[1]!, full[1]!.map { $0 / 4 })
    assertClose(split[2]!, full[2]!.map { $0 / 2 })
    // Past the kept-probability budget the backward recomputes each tile's probabilities:
    // the same products and kernel, so the same gradients to the bit.
    let budget = Tensor.attentionKeptScalars
    Tensor.attentionKeptScalars = 0
    defer { Tensor.attentionKeptScalars = budget }
    for (rule, kept) in [(AttentionGradient.full, full), (.valuesOnly, valuesOnly), (.uniformSplit, split)] {
      let recomputed = gradients(rule)
      for input in 0..<3 {
        XCTAssertEqual(recomputed[input]?.map(\.bitPattern), kept[input]?.map(\.bitPattern), "\(rule) input \(input)")
      }
    }
  }
}
