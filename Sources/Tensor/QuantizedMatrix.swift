import CKernels

/// A matrix [rows, columns] kept in GGML's blocks (Q4_0 … Q6_K, F16, BF16), multiplied
/// from its blocks without a float32 copy of the whole matrix. Each weight is dequantised
/// exactly (as GGML defines it) and multiplied in float32, so results equal the product
/// of the dequantised matrix up to float32 summation order (CKernels' quantized.c).
///
/// For a few rows of x (decoding) the kernel reads the blocks directly; for many rows
/// (a prompt) it dequantises a band of rows at a time into a scratch buffer and uses
/// BLAS; the backward pass (∂x = g·W; W is constant) dequantises the same bands again
/// instead of keeping a float32 copy alive.
public struct QuantizedMatrix: @unchecked Sendable {
  /// GGML's type number.
  public let type: Int
  public let rows: Int
  public let columns: Int
  /// Bytes of one row of blocks.
  public let rowBytes: Int
  private let base: UnsafeRawPointer
  private let owner: AnyObject

  /// Most rows of x multiplied straight from the blocks; longer inputs go through BLAS.
  public static let directVectors = 8
  /// Scalars of float32 scratch one band of dequantised rows may take.
  static let bandScalars = 1 << 20

  /// Whether the kernels read GGML type `type`.
  public static func supports(type: Int) -> Bool { xai_quantized_supported(Int32(type)) == 1 }

  /// Bytes of one row of `columns` values of `type` (0 when the columns do not fill whole blocks).
  public static func rowBytes(type: Int, columns: Int) -> Int {
    xai_quantized_row_bytes(Int32(type), columns)
  }

  /// A matrix over `byteCount` bytes at `bytes`, which `owner` keeps alive; nil when the type
  /// is not supported or the bytes are not `rows` rows of `columns` values.
  public init?(type: Int, rows: Int, columns: Int, bytes: UnsafeRawPointer, byteCount: Int, owner: AnyObject) {
    let perRow = Self.rowBytes(type: type, columns: columns)
    guard Self.supports(type: type), rows > 0, perRow > 0, rows.multipliedReportingOverflow(by: perRow) == (byteCount, false)
    else { return nil }
    self.type = type
    self.rows = rows
    self.columns = columns
    self.rowBytes = perRow
    self.base = bytes
    self.owner = owner
  }

  /// The whole matrix as float32 [rows, columns].
  public func dequantized() -> Tensor {
    let out = Tensor.uninitialized([rows, columns])
    dequantize(first: 0, count: rows, into: out.storage.base)
    return out
  }

  /// Rows `indices` as float32 [indices.count, columns] (an embedding lookup); every
  /// index must be in 0..<rows.
  public func dequantizedRows(_ indices: [Int]) -> Tensor {
    let out = Tensor.uninitialized([indices.count, columns])
    for (position, index) in indices.enumerated() {
      precondition(index >= 0 && index < rows, "row \(index) of \(rows)")
      dequantize(first: index, count: 1, into: out.storage.base + position * columns)
    }
    return out
  }

  private func dequantize(first: Int, count: Int, into target: UnsafeMutablePointer<Float>) {
    withExtendedLifetime(owner) {
      _ = xai_quantized_dequantize_rows(
        Int32(type), base, first, count, columns, target, Int32(BLAS.elementwiseThreads))
    }
  }

  /// x·Wᵀ + b for x [..., columns] → [..., rows]; records ∂x (and ∂b) when needed.
  public func apply(_ x: Tensor, bias: Tensor?) -> Tensor {
    precondition(x.shape.last == columns, "input \(x.shape) for a [\(rows), \(columns)] matrix")
    let vectors = x.count / Swift.max(columns, 1)
    let value = Tensor.uninitialized(Array(x.shape.dropLast()) + [rows])
    let (px, po) = (x.storage.base, value.storage.base)
    if vectors <= Self.directVectors {
      withExtendedLifetime(owner) {
        _ = xai_quantized_matmul(Int32(type), base, rows, columns, px, vectors, po, Int32(BLAS.elementwiseThreads))
      }
    } else {
      forEachBand { first, count, band in
        BLAS.sgemm(
          transposeA: false, transposeB: true, m: vectors, n: count, k: columns, a: px, lda: columns, b: band,
          ldb: columns, c: po + first, ldc: rows)
      }
    }
    if let bias {
      precondition(bias.shape == [rows], "bias \(bias.shape) for \(rows) outputs")
      for row in 0..<vectors {
        for i in 0..<rows { po[row * rows + i] += bias.storage.base[i] }
      }
    }
    let biasTensor = bias ?? Tensor.zeros([0])
    guard let needs = Tensor.gradientNeeds(x, biasTensor) else { return value }
    let matrix = self
    let shape = x.shape
    let hasBias = bias != nil
    return value.recorded(from: [x, biasTensor]) { g in
      var gradX: Tensor?
      if needs[0] {
        let dx = Tensor.zeros(shape)
        let (pg, pd) = (g.storage.base, dx.storage.base)
        matrix.forEachBand { first, count, band in
          BLAS.sgemm(
            transposeA: false, transposeB: false, m: vectors, n: matrix.columns, k: count, a: pg + first,
            lda: matrix.rows, b: band, ldb: matrix.columns, beta: 1, c: pd, ldc: matrix.columns)
        }
        gradX = dx
      }
      let gradB = needs[1] && hasBias ? Tensor(shape: [vectors, matrix.rows], storage: g.storage).sum(axis: 0) : nil
      return [gradX, gradB]
    }
  }

  /// Calls `body` with bands of consecutive rows dequantised into one scratch buffer.
  private func forEachBand(_ body: (_ first: Int, _ count: Int, _ band: UnsafePointer<Float>) -> Void) {
    let bandRows = Swift.max(1, Swift.min(rows, Self.bandScalars / Swift.max(columns, 1)))
    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: bandRows * columns)
    defer { scratch.deallocate() }
    var first = 0
    while first < rows {
      let count = Swift.min(bandRows, rows - first)
      dequantize(first: first, count: count, into: scratch)
      body(first, count, scratch)
      first += count
    }
  }
}

extension QuantizedMatrix {
  /// The same matrix with its rows reordered (row i of the result is row `order[i]`), in a
  /// copy of the blocks this matrix owns.
  public func rowsPermuted(_ order: [Int]) -> QuantizedMatrix {
    precondition(order.count == rows && order.allSatisfy { $0 >= 0 && $0 < rows }, "row order for \(rows) rows")
    let copy = OwnedBytes(count: rows * rowBytes)
    withExtendedLifetime(owner) {
      for (target, source) in order.enumerated() {
        (copy.pointer + target * rowBytes).copyMemory(from: base + source * rowBytes, byteCount: rowBytes)
      }
    }
    return QuantizedMatrix(
      type: type, rows: rows, columns: columns, bytes: UnsafeRawPointer(copy.pointer), byteCount: rows * rowBytes,
      owner: copy)!
  }

  /// Whether every dequantised weight is finite (checked band by band).
  public func allFinite() -> Bool {
    var finite = true
    forEachBand { _, count, band in
      if finite && xai_all_finite(band, count * columns) == 0 { finite = false }
    }
    return finite
  }
}

/// Bytes allocated for as long as the object lives.
final class OwnedBytes: @unchecked Sendable {
  let pointer: UnsafeMutableRawPointer
  init(count: Int) { pointer = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(count, 1), alignment: 64) }
  deinit { pointer.deallocate() }
}

extension QuantizedMatrix {
  /// Rows `range` as a matrix over the same blocks (no copy).
  public func rows(_ range: Range<Int>) -> QuantizedMatrix {
    precondition(range.lowerBound >= 0 && range.upperBound <= rows && !range.isEmpty, "rows \(range) of \(rows)")
    return QuantizedMatrix(
      type: type, rows: range.count, columns: columns, bytes: base + range.lowerBound * rowBytes,
      byteCount: range.count * rowBytes, owner: owner)!
  }
}
