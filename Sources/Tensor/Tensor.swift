import CAllocator
import Foundation

/// Contiguous float32 memory shared by tensors; freed with its last owner.
///
/// Storage either owns its buffer or borrows memory kept alive by `owner`
/// (for example a memory-mapped weight file). Borrowed memory is read-only:
/// a tensor that wants to write to it copies first.
public final class TensorStorage: @unchecked Sendable {
  /// Number of scalars.
  public let count: Int
  @usableFromInline let base: UnsafeMutablePointer<Float>
  private let owner: AnyObject?

  /// Whether this storage owns (and may write to) its memory.
  public var isWritable: Bool { owner == nil }

  /// Allocates `count` scalars; the memory is uninitialised unless `zeroed`.
  public init(count: Int, zeroed: Bool) {
    _ = TensorStorage.allocatorTuned
    self.count = count
    base = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
    if zeroed { base.initialize(repeating: 0, count: count) }
    owner = nil
  }

  /// Wraps memory that `owner` keeps alive (read-only, never freed here).
  public init(borrowing pointer: UnsafePointer<Float>, count: Int, owner: AnyObject) {
    self.count = count
    base = UnsafeMutablePointer(mutating: pointer)
    self.owner = owner
  }

  deinit {
    if owner == nil { base.deallocate() }
  }

  /// Keeps large freed buffers in the heap for reuse instead of unmapping them:
  /// activations of the same sizes are allocated and freed in every layer, and a fresh
  /// mapping page-faults and zeroes every page again (a fifth of Integrated Gradients'
  /// time before this).
  private static let allocatorTuned: Bool = {
    mallopt(M_MMAP_THRESHOLD, 1 << 30)
    mallopt(M_TRIM_THRESHOLD, Int32.max)
    return true
  }()

  func copy() -> TensorStorage {
    let fresh = TensorStorage(count: count, zeroed: false)
    fresh.base.update(from: base, count: count)
    return fresh
  }
}

/// A row-major, contiguous float32 tensor with value semantics and optional
/// reverse-mode gradient tracking.
public struct Tensor: @unchecked Sendable {
  /// Extent of each axis; `[]` is a scalar.
  public private(set) var shape: [Int]
  @usableFromInline var storage: TensorStorage
  var node: GradNode?

  /// Number of scalars (product of the shape).
  public var count: Int { storage.count }
  /// Number of axes.
  public var rank: Int { shape.count }

  init(shape: [Int], storage: TensorStorage, node: GradNode? = nil) {
    precondition(shape.reduce(1, *) == storage.count, "shape \(shape) does not match storage")
    self.shape = shape
    self.storage = storage
    self.node = node
  }

  /// A tensor of `shape` holding `scalars` in row-major order.
  public init(shape: [Int], scalars: [Float]) {
    precondition(shape.allSatisfy { $0 >= 0 }, "negative extent in shape \(shape)")
    precondition(shape.reduce(1, *) == scalars.count, "\(scalars.count) scalars for shape \(shape)")
    let storage = TensorStorage(count: scalars.count, zeroed: false)
    scalars.withUnsafeBufferPointer { source in
      if let address = source.baseAddress { storage.base.update(from: address, count: scalars.count) }
    }
    self.init(shape: shape, storage: storage)
  }

  /// A tensor that views memory kept alive by `owner` (zero-copy, read-only).
  public init(shape: [Int], borrowing pointer: UnsafePointer<Float>, owner: AnyObject) {
    self.init(
      shape: shape,
      storage: TensorStorage(borrowing: pointer, count: shape.reduce(1, *), owner: owner))
  }

  /// A scalar (rank-0) tensor.
  public init(_ value: Float) { self.init(shape: [], scalars: [value]) }

  /// A tensor of `shape` whose scalars are all `value`.
  public init(repeating value: Float, shape: [Int]) {
    let storage = TensorStorage(count: shape.reduce(1, *), zeroed: false)
    storage.base.initialize(repeating: value, count: storage.count)
    self.init(shape: shape, storage: storage)
  }

  /// A tensor of `shape` whose scalars `fill` writes (every one of them).
  public static func filled(shape: [Int], _ fill: (UnsafeMutablePointer<Float>) -> Void) -> Tensor {
    let value = uninitialized(shape)
    fill(value.storage.base)
    return value
  }

  /// Zeros of `shape`.
  public static func zeros(_ shape: [Int]) -> Tensor {
    Tensor(shape: shape, storage: TensorStorage(count: shape.reduce(1, *), zeroed: true))
  }

  /// Ones of `shape`.
  public static func ones(_ shape: [Int]) -> Tensor { Tensor(repeating: 1, shape: shape) }

  /// Uninitialised output buffer for a kernel that writes every element.
  static func uninitialized(_ shape: [Int]) -> Tensor {
    Tensor(shape: shape, storage: TensorStorage(count: shape.reduce(1, *), zeroed: false))
  }

  /// The scalars in row-major order (a copy).
  public var scalars: [Float] {
    Array(UnsafeBufferPointer(start: storage.base, count: storage.count))
  }

  /// The only scalar of a one-element tensor.
  public var item: Float {
    precondition(count == 1, "item of a tensor with \(count) scalars")
    return storage.base[0]
  }

  /// Scalar at a multi-index (slow; for tests and small reads).
  public subscript(_ index: Int...) -> Float {
    storage.base[flatIndex(index)]
  }

  func flatIndex(_ index: [Int]) -> Int {
    precondition(index.count == rank, "index rank \(index.count) for rank \(rank)")
    var flat = 0
    for (i, extent) in zip(index, shape) {
      precondition(i >= 0 && i < extent, "index \(index) out of range for shape \(shape)")
      flat = flat * extent + i
    }
    return flat
  }

  /// Read access to the contiguous scalars.
  @inlinable
  public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows
    -> R
  {
    try body(UnsafeBufferPointer(start: storage.base, count: storage.count))
  }

  /// Write access to the scalars; copies first when the storage is shared or borrowed.
  public mutating func withUnsafeMutableBufferPointer<R>(
    _ body: (UnsafeMutableBufferPointer<Float>) throws -> R
  ) rethrows -> R {
    if !isKnownUniquelyReferenced(&storage) || !storage.isWritable {
      storage = storage.copy()
    }
    return try body(UnsafeMutableBufferPointer(start: storage.base, count: storage.count))
  }
}

extension Tensor: CustomStringConvertible {
  public var description: String {
    let preview = scalars.prefix(8).map { String(format: "%.4g", Double($0)) }.joined(separator: ", ")
    return "Tensor(\(shape): [\(preview)\(count > 8 ? ", …" : "")])"
  }
}
