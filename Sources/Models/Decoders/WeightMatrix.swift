import Foundation
import Tensor

/// A matrix [rows, columns] of a decoder, kept in the form the weight file gives.
public struct WeightMatrix: Sendable {
  enum Storage: Sendable {
    /// Float32 values.
    case dense(Tensor)
    /// GGML blocks, multiplied from without a float32 copy.
    case blocks(QuantizedMatrix)
  }

  let storage: Storage
  /// Output features.
  public let rowCount: Int
  /// Input features.
  public let columnCount: Int

  /// A float32 matrix.
  public init(dense: Tensor) {
    precondition(dense.rank == 2, "a weight matrix is [out, in], got \(dense.shape)")
    storage = .dense(dense)
    rowCount = dense.shape[0]
    columnCount = dense.shape[1]
  }

  /// A matrix in GGML blocks.
  public init(blocks: QuantizedMatrix) {
    storage = .blocks(blocks)
    rowCount = blocks.rows
    columnCount = blocks.columns
  }

  /// The matrix as float32 (dequantised when stored in blocks).
  public var dense: Tensor {
    switch storage {
    case .dense(let tensor): tensor
    case .blocks(let matrix): matrix.dequantized()
    }
  }

  /// GGML's type name of the stored blocks, nil for float32.
  public var blockType: Int? {
    if case .blocks(let matrix) = storage { return matrix.type }
    return nil
  }

  /// Rows `range` (a part of a fused matrix).
  func rows(_ range: Range<Int>) -> WeightMatrix {
    switch storage {
    case .dense(let tensor): WeightMatrix(dense: tensor.slice(axis: 0, range))
    case .blocks(let matrix): WeightMatrix(blocks: matrix.rows(range))
    }
  }

  /// x·Wᵀ + b for x [T, columns].
  func apply(_ x: Tensor, bias: Tensor?) -> Tensor {
    switch storage {
    case .dense(let tensor): Tensor.linear(x, weight: tensor, bias: bias)
    case .blocks(let matrix): matrix.apply(x, bias: bias)
    }
  }

  /// Rows `ids` as float32 [ids.count, columns] (an embedding lookup).
  func rows(_ ids: [Int]) -> Tensor {
    switch storage {
    case .dense(let tensor): tensor.gatherRows(ids)
    case .blocks(let matrix): matrix.dequantizedRows(ids)
    }
  }
}
