import Foundation
import Tensor

/// A matrix [rows, columns] of a decoder, kept in the form the weight file gives.
public struct WeightMatrix: Sendable {
  enum Storage: Sendable {
    /// Float32 values.
    case dense(Tensor)
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

  /// The matrix as float32 (dequantised when stored in blocks).
  public var dense: Tensor {
    switch storage {
    case .dense(let tensor): tensor
    }
  }

  /// x·Wᵀ + b for x [T, columns].
  func apply(_ x: Tensor, bias: Tensor?) -> Tensor {
    switch storage {
    case .dense(let tensor): Tensor.linear(x, weight: tensor, bias: bias)
    }
  }

  /// Rows `ids` as float32 [ids.count, columns] (an embedding lookup).
  func rows(_ ids: [Int]) -> Tensor {
    switch storage {
    case .dense(let tensor): tensor.gatherRows(ids)
    }
  }
}
