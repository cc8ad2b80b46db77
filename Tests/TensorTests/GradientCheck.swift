import Tensor
import XCTest

/// Compares the tape's gradients of L = Σ w⊙f(inputs) (w fixed, random) with
/// central finite differences, input by input, scalar by scalar.
func assertGradientsMatchFiniteDifferences(
  _ inputs: [Tensor], step: Float = 1e-2, tolerance: Float = 2e-2, seed: UInt64 = 7,
  file: StaticString = #filePath, line: UInt = #line, _ function: @escaping ([Tensor]) -> Tensor
) {
  var generator = SeededGenerator(seed: seed)
  let (loss, leaves) = weightedLoss(inputs, using: &generator, function)
  for (position, leaf) in leaves.enumerated() {
    guard let analytic = leaf.grad?.scalars else {
      XCTFail("input \(position) received no gradient", file: file, line: line)
      continue
    }
    XCTAssertEqual(leaf.grad?.shape, inputs[position].shape, file: file, line: line)
    let scale = max(1, analytic.map(abs).max() ?? 0)
    for index in 0..<inputs[position].count {
      var plus = inputs
      var minus = inputs
      var up = inputs[position].scalars
      var down = up
      up[index] += step
      down[index] -= step
      plus[position] = Tensor(shape: inputs[position].shape, scalars: up)
      minus[position] = Tensor(shape: inputs[position].shape, scalars: down)
      let numeric = Float((loss(plus) - loss(minus)) / (2 * Double(step)))
      if abs(numeric - analytic[index]) > tolerance * scale {
        XCTFail(
          "input \(position) scalar \(index): tape \(analytic[index]) vs finite difference \(numeric)",
          file: file, line: line)
        return
      }
    }
  }
}

/// Random tensor helper for tests.
func randomTensor(_ shape: [Int], seed: UInt64, low: Float = -1, high: Float = 1) -> Tensor {
  var generator = SeededGenerator(seed: seed)
  return Tensor.uniform(shape, low: low, high: high, using: &generator)
}

/// Asserts two float arrays agree elementwise within `tolerance`.
func assertClose(
  _ a: [Float], _ b: [Float], tolerance: Float = 1e-5, file: StaticString = #filePath,
  line: UInt = #line
) {
  XCTAssertEqual(a.count, b.count, "lengths differ", file: file, line: line)
  for (i, (x, y)) in zip(a, b).enumerated() where abs(x - y) > tolerance * max(1, abs(y)) {
    XCTFail("element \(i): \(x) vs \(y)", file: file, line: line)
    return
  }
}

/// The tape's gradients of L = Σ w⊙f(inputs) against central differences along a few
/// random directions u (all inputs moved at once): ∇L·u ≈ (L(x + hu) − L(x − hu)) / 2h.
/// For inputs too large to difference scalar by scalar.
func assertDirectionalDerivativesMatch(
  _ inputs: [Tensor], directions: Int = 4, step: Float = 1e-2, tolerance: Double = 2e-2, seed: UInt64 = 7,
  file: StaticString = #filePath, line: UInt = #line, _ function: @escaping ([Tensor]) -> Tensor
) {
  var generator = SeededGenerator(seed: seed)
  let (loss, leaves) = weightedLoss(inputs, using: &generator, function)
  let gradients = leaves.map { $0.grad?.scalars ?? [Float](repeating: 0, count: $0.count) }
  for direction in 0..<directions {
    let moves = inputs.map { Tensor.uniform($0.shape, low: -1, high: 1, using: &generator) }
    let analytic = zip(gradients, moves).reduce(0.0) { total, pair in
      total + zip(pair.0, pair.1.scalars).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
    }
    let plus = zip(inputs, moves).map { input, move in withoutGrad { input + move * step } }
    let minus = zip(inputs, moves).map { input, move in withoutGrad { input - move * step } }
    let numeric = (loss(plus) - loss(minus)) / (2 * Double(step))
    XCTAssertEqual(
      numeric, analytic, accuracy: tolerance * max(1, abs(analytic)), "direction \(direction)", file: file, line: line)
  }
}

/// L = Σ w⊙f(inputs) with random fixed weights w: L as a function of the inputs (no tape),
/// and the inputs as leaves after one backward pass of L (their gradients filled in).
private func weightedLoss(
  _ inputs: [Tensor], using generator: inout SeededGenerator, _ function: @escaping ([Tensor]) -> Tensor
) -> (loss: ([Tensor]) -> Double, leaves: [Tensor]) {
  let probe = withoutGrad { function(inputs) }
  let weights = Tensor.uniform(probe.shape, low: -1, high: 1, using: &generator)
  let loss = { (values: [Tensor]) -> Double in
    let output = withoutGrad { function(values) }
    return zip(output.scalars, weights.scalars).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
  }
  let leaves = inputs.map { $0.requiringGrad() }
  (function(leaves) * weights).sum().backward()
  return (loss, leaves)
}
