/// Rows of a fixed width appended over time into one preallocated buffer (a key/value
/// cache): appending copies the new rows and returns every row so far without copying.
public final class RowBuffer: @unchecked Sendable {
  /// Rows stored.
  public private(set) var count = 0
  /// Most rows it can hold.
  public let capacity: Int
  /// Scalars per row.
  public let width: Int
  private let storage: TensorStorage

  /// A buffer of `capacity` rows of `width` scalars.
  public init(capacity: Int, width: Int) {
    self.capacity = capacity
    self.width = width
    storage = TensorStorage(count: capacity * width, zeroed: false)
  }

  /// Appends `rows` [n, width] and returns all rows [count, width] (a view that stays
  /// valid while the buffer lives; later appends do not change the rows it covers).
  public func append(_ rows: Tensor) -> Tensor {
    precondition(rows.rank == 2 && rows.shape[1] == width, "rows \(rows.shape) for width \(width)")
    precondition(count + rows.shape[0] <= capacity, "row buffer of \(capacity) rows is full")
    (storage.base + count * width).update(from: rows.storage.base, count: rows.count)
    count += rows.shape[0]
    return Tensor(shape: [count, width], borrowing: storage.base, owner: storage)
  }

  /// Forgets every row (the memory is kept).
  public func reset() { count = 0 }
}
