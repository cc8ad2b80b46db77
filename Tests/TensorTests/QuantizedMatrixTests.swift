import Tensor
import XCTest

/// `QuantizedMatrix` (blocks kept, products from them) against `Tensor.linear` on the
/// dequantised matrix: the direct kernel (≤ 8 rows of x), the banded BLAS path (more rows),
/// the backward pass, row views and row permutations.
final class QuantizedMatrixTests: XCTestCase {
  override class func setUp() {
    super.setUp()
    isolateGEMMPlanCache()
  }

  /// A [rows, columns] F16 matrix (GGML type 1) of random values and its float32 twin.
  func matrix(rows: Int, columns: Int, seed: UInt64) -> (QuantizedMatrix, Tensor) {
    let values = randomTensor([rows, columns], seed: seed).scalars.map { Float16($0) }
    let owner = Box(values.flatMap { value -> [UInt8] in
      let bits = value.bitPattern
      return [UInt8(bits & 0xFF), UInt8(bits >> 8)]
    })
    let matrix = QuantizedMatrix(
      type: 1, rows: rows, columns: columns, bytes: owner.pointer, byteCount: owner.count, owner: owner)!
    return (matrix, Tensor(shape: [rows, columns], scalars: values.map(Float.init)))
  }

  /// Bytes at a stable address for as long as the box lives (the matrix's owner).
  final class Box {
    let pointer: UnsafeMutableRawPointer
    let count: Int
    init(_ bytes: [UInt8]) {
      count = bytes.count
      pointer = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 16)
      pointer.copyMemory(from: bytes, byteCount: count)
    }
    deinit { pointer.deallocate() }
  }

  func testProductsEqualTheDequantisedLinearMap() {
    let (blocks, dense) = matrix(rows: 40, columns: 64, seed: 1)
    XCTAssertEqual(blocks.dequantized().scalars, dense.scalars)
    let bias = randomTensor([40], seed: 2)
    for rows in [1, 3, 8, 9, 50] {
      let x = randomTensor([rows, 64], seed: UInt64(rows))
      let expected = Tensor.linear(x, weight: dense, bias: bias).scalars
      // Float32 sums of 64 products in different orders: |Δ| ≤ 64·ε·Σ|w·x| ≤ 64·2⁻²⁴·64.
      assertClose(blocks.apply(x, bias: bias).scalars, expected, tolerance: 1e-5 * 64)
    }
  }

  func testBackwardEqualsTheDequantisedLinearMap() {
    let (blocks, dense) = matrix(rows: 24, columns: 32, seed: 3)
    let bias = randomTensor([24], seed: 4)
    for rows in [2, 12] {
      let x = randomTensor([rows, 32], seed: 5)
      let weights = randomTensor([rows, 24], seed: 6)
      let (a, b) = (x.requiringGrad(), bias.requiringGrad())
      (blocks.apply(a, bias: b) * weights).sum().backward()
      let (c, d) = (x.requiringGrad(), bias.requiringGrad())
      (Tensor.linear(c, weight: dense, bias: d) * weights).sum().backward()
      assertClose(a.grad!.scalars, c.grad!.scalars, tolerance: 1e-5 * 32)
      assertClose(b.grad!.scalars, d.grad!.scalars, tolerance: 1e-5 * 32)
    }
  }

  func testRowViewsPermutationsAndLookups() {
    let (blocks, dense) = matrix(rows: 12, columns: 16, seed: 7)
    XCTAssertEqual(blocks.rows(4..<8).dequantized().scalars, dense.slice(axis: 0, 4..<8).scalars)
    let order = [11, 0, 5, 5, 3, 2, 1, 4, 6, 7, 8, 9].map { $0 % 12 }
    XCTAssertEqual(blocks.rowsPermuted(order).dequantized().scalars, dense.gatherRows(order).scalars)
    XCTAssertEqual(blocks.dequantizedRows([3, 3, 0]).scalars, dense.gatherRows([3, 3, 0]).scalars)
    XCTAssertTrue(blocks.allFinite())
  }

  func testSizesThatDoNotFitAreRefused() {
    let box = Box([UInt8](repeating: 0, count: 64))
    XCTAssertNil(QuantizedMatrix(type: 1, rows: 3, columns: 16, bytes: box.pointer, byteCount: 64, owner: box))
    XCTAssertNil(QuantizedMatrix(type: 8, rows: 1, columns: 30, bytes: box.pointer, byteCount: 64, owner: box))
    XCTAssertNil(QuantizedMatrix(type: 99, rows: 1, columns: 32, bytes: box.pointer, byteCount: 64, owner: box))
    XCTAssertNotNil(QuantizedMatrix(type: 1, rows: 2, columns: 16, bytes: box.pointer, byteCount: 64, owner: box))
  }

  func testNonFiniteBlocksAreFound() {
    var halves = [Float16](repeating: 1, count: 32)
    halves[17] = .infinity
    let box = Box(halves.flatMap { [UInt8($0.bitPattern & 0xFF), UInt8($0.bitPattern >> 8)] })
    let matrix = QuantizedMatrix(type: 1, rows: 2, columns: 16, bytes: box.pointer, byteCount: 64, owner: box)!
    XCTAssertFalse(matrix.allFinite())
  }
}
