import CKernels
import Foundation
import Tensor
import XCTest

/// The C elementwise kernels (GELU, layer normalisation) against float64 references, on
/// sizes below and above the size at which they split work over threads, with the AVX2 and
/// the baseline versions, and with one and two threads (which must agree bit for bit).
final class ElementwiseKernelTests: XCTestCase {
  override func tearDown() {
    xai_elementwise_force_portable(0)
    BLAS.threads = ProcessInfo.processInfo.activeProcessorCount
  }

  private func randomValues(_ count: Int, seed: UInt64, scale: Float) -> [Float] {
    var state = seed
    return (0..<count).map { _ in
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return (Float(state >> 40) / Float(1 << 24) * 2 - 1) * scale
    }
  }

  /// GELU's value and slope (the gradient with seed 1) for `x`.
  private func gelu(_ x: [Float]) -> (value: [Float], slope: [Float]) {
    let input = Tensor(shape: [x.count], scalars: x).requiringGrad()
    let value = input.gelu()
    value.backward(seed: Tensor.ones([x.count]))
    return (value.scalars, input.grad!.scalars)
  }

  func testGeluAgainstFloat64AtEverySizeAndPath() {
    for count in [7, 33, 50_000] {
      let x = randomValues(count, seed: UInt64(count), scale: 6)
      for portable in [0, 1] {
        xai_elementwise_force_portable(Int32(portable))
        for threads in [1, 2] {
          BLAS.threads = threads
          let (value, slope) = gelu(x)
          for i in 0..<count {
            let v = Double(x[i])
            let cdf = 0.5 * (1 + erf(v / 2.0.squareRoot()))
            let density = exp(-v * v / 2) / (2 * Double.pi).squareRoot()
            // erf by Abramowitz–Stegun 7.1.26 is within 1.5e-7 (absolute), so Φ within
            // 7.5e-8; on top, a few float32 roundings of values of size |x|.
            let bound = 7.5e-8 * (1 + abs(v)) + 8 * Double(Float.ulpOfOne) * (abs(v) + 1)
            XCTAssertEqual(Double(value[i]), v * cdf, accuracy: bound, "x=\(v) value")
            XCTAssertEqual(Double(slope[i]), cdf + v * density, accuracy: 2 * bound, "x=\(v) slope")
          }
        }
      }
    }
  }

  func testGeluSplitOverThreadsIsBitIdentical() {
    let x = randomValues(70_001, seed: 3, scale: 5)
    BLAS.threads = 1
    let one = gelu(x)
    BLAS.threads = 2
    let two = gelu(x)
    XCTAssertEqual(one.value.map(\.bitPattern), two.value.map(\.bitPattern))
    XCTAssertEqual(one.slope.map(\.bitPattern), two.slope.map(\.bitPattern))
  }

  /// Layer norm forward and ∂x (full and with σ constant) on 100 rows of 384 (above the
  /// split size) against float64.
  func testLayerNormAgainstFloat64() {
    let (rows, width) = (100, 384)
    let x = randomValues(rows * width, seed: 11, scale: 3).enumerated().map { $0.element + Float($0.offset % 7) }
    let gamma = randomValues(width, seed: 12, scale: 1)
    let beta = randomValues(width, seed: 13, scale: 1)
    let seed = randomValues(rows * width, seed: 14, scale: 1)
    var results: [[UInt32]] = []
    for portable in [0, 1] {
      xai_elementwise_force_portable(Int32(portable))
      for threads in [1, 2] {
        BLAS.threads = threads
        for constantSigma in [false, true] {
          let input = Tensor(shape: [rows, width], scalars: x).requiringGrad()
          let y = input.layerNorm(
            gamma: Tensor(shape: [width], scalars: gamma), beta: Tensor(shape: [width], scalars: beta), eps: 1e-5,
            constantSigma: constantSigma)
          y.backward(seed: Tensor(shape: [rows, width], scalars: seed))
          let (value, dx) = (y.scalars, input.grad!.scalars)
          if portable == 0 && !constantSigma { results.append((value + dx).map(\.bitPattern)) }
          for r in 0..<rows {
            let row = (0..<width).map { Double(x[r * width + $0]) }
            let mu = row.reduce(0, +) / Double(width)
            let variance = row.map { ($0 - mu) * ($0 - mu) }.reduce(0, +) / Double(width)
            let inv = 1 / (variance + 1e-5).squareRoot()
            let xhat = row.map { ($0 - mu) * inv }
            let gh = (0..<width).map { Double(seed[r * width + $0]) * Double(gamma[$0]) }
            let meanG = gh.reduce(0, +) / Double(width)
            let meanGX = constantSigma ? 0 : zip(gh, xhat).map(*).reduce(0, +) / Double(width)
            // Sums of `width` float32 terms: at most width·u relative to the sum of magnitudes.
            let u = Double(Float.ulpOfOne) / 2
            let sumBound = Double(width) * u
            let meanAbsG = gh.map(abs).reduce(0, +) / Double(width)
            for i in 0..<width {
              let expected = xhat[i] * Double(gamma[i]) + Double(beta[i])
              XCTAssertEqual(
                Double(value[r * width + i]), expected,
                accuracy: sumBound * (abs(xhat[i]) + 1) * (abs(Double(gamma[i])) + 1) + 4 * u * abs(expected))
              let expectedDx = (gh[i] - meanG - xhat[i] * meanGX) * inv
              let magnitude = (abs(gh[i]) + meanAbsG * (1 + abs(xhat[i]))) * inv
              XCTAssertEqual(Double(dx[r * width + i]), expectedDx, accuracy: 2 * sumBound * magnitude + 1e-12)
            }
          }
        }
      }
    }
    XCTAssertEqual(results.count, 2)
    XCTAssertEqual(results[0], results[1], "one and two threads agree bit for bit")
  }

  func testSiLUAndRMSNormAgainstFloat64AtEverySizePathAndThreadCount() {
    for (rows, width) in [(1, 7), (3, 33), (120, 576)] {
      let count = rows * width
      let x = randomValues(count, seed: UInt64(count), scale: 9)
      let w = randomValues(width, seed: 99, scale: 2)
      let g = randomValues(count, seed: 7, scale: 1)
      var results: [[UInt32]] = []
      for portable in [0, 1] {
        xai_elementwise_force_portable(Int32(portable))
        for threads in [1, 2] {
          BLAS.threads = threads
          // SiLU: value and slope.
          let input = Tensor(shape: [count], scalars: x).requiringGrad()
          let silu = input.silu()
          silu.backward(seed: Tensor.ones([count]))
          for i in 0..<count {
            let v = Double(x[i])
            let sigma = 1 / (1 + exp(-v))
            // exp within a few ulp; the quotient and products a few float32 roundings of |x|.
            let bound = 8 * Double(Float.ulpOfOne) * (abs(v) + 1)
            XCTAssertEqual(Double(silu.scalars[i]), v * sigma, accuracy: bound, "silu(\(v))")
            XCTAssertEqual(Double(input.grad!.scalars[i]), sigma * (1 + v * (1 - sigma)), accuracy: 2 * bound, "silu'(\(v))")
          }
          // RMSNorm: value and ∂x of Σ g ⊙ y.
          let rowsInput = Tensor(shape: [rows, width], scalars: x).requiringGrad()
          let y = rowsInput.rmsNorm(weight: Tensor(shape: [width], scalars: w), eps: 1e-5)
          (y * Tensor(shape: [rows, width], scalars: g)).sum().backward()
          for r in 0..<rows {
            let row = (0..<width).map { Double(x[r * width + $0]) }
            let scale = 1 / (row.reduce(0) { $0 + $1 * $1 } / Double(width) + 1e-5).squareRoot()
            let gw = (0..<width).map { Double(g[r * width + $0]) * Double(w[$0]) }
            let projection = (0..<width).reduce(0.0) { $0 + gw[$1] * row[$1] * scale } / Double(width)
            // Sums of `width` float32 terms: √width roundings of the largest term.
            let bound = 4 * Double(Float.ulpOfOne) * Double(width).squareRoot() * 2 * 9 * scale
            for i in 0..<width {
              XCTAssertEqual(Double(y.scalars[r * width + i]), Double(w[i]) * row[i] * scale, accuracy: bound)
              XCTAssertEqual(
                Double(rowsInput.grad!.scalars[r * width + i]), scale * (gw[i] - row[i] * scale * projection),
                accuracy: bound * 4)
            }
          }
          results.append(silu.scalars.map(\.bitPattern) + y.scalars.map(\.bitPattern) + rowsInput.grad!.scalars.map(\.bitPattern))
        }
      }
      // One and two threads agree bit for bit on each path.
      XCTAssertEqual(results[0], results[1])
      XCTAssertEqual(results[2], results[3])
    }
  }
}
