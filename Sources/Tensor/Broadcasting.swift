/// NumPy-style broadcasting: shapes align on their trailing axes and an
/// extent of 1 stretches to match.
enum Broadcast {
  /// The broadcast shape of `a` and `b`.
  static func shape(_ a: [Int], _ b: [Int]) -> [Int] {
    let rank = max(a.count, b.count)
    let pa = Array(repeating: 1, count: rank - a.count) + a
    let pb = Array(repeating: 1, count: rank - b.count) + b
    return zip(pa, pb).map { x, y in
      precondition(x == y || x == 1 || y == 1, "shapes \(a) and \(b) do not broadcast")
      return max(x, y)
    }
  }

  /// Element strides of `shape` viewed as `target` (0 along stretched axes).
  static func strides(of shape: [Int], in target: [Int]) -> [Int] {
    let padded = Array(repeating: 1, count: target.count - shape.count) + shape
    var strides = Array(repeating: 0, count: target.count)
    var step = 1
    for axis in stride(from: target.count - 1, through: 0, by: -1) {
      strides[axis] = padded[axis] == 1 ? 0 : step
      step *= padded[axis]
    }
    return strides
  }

  /// Calls `body(outIndex, aIndex, bIndex)` for every element of `target`.
  @inline(__always)
  static func forEach(
    target: [Int], aStrides: [Int], bStrides: [Int], _ body: (Int, Int, Int) -> Void
  ) {
    let total = target.reduce(1, *)
    guard total > 0 else { return }
    let rank = target.count
    guard rank > 0 else {
      body(0, 0, 0)
      return
    }
    let inner = target[rank - 1]
    let innerA = aStrides[rank - 1]
    let innerB = bStrides[rank - 1]
    var counter = Array(repeating: 0, count: rank)
    var offsetA = 0
    var offsetB = 0
    var out = 0
    while out < total {
      for i in 0..<inner {
        body(out + i, offsetA + i * innerA, offsetB + i * innerB)
      }
      out += inner
      var axis = rank - 2
      while axis >= 0 {
        counter[axis] += 1
        offsetA += aStrides[axis]
        offsetB += bStrides[axis]
        if counter[axis] < target[axis] { break }
        offsetA -= aStrides[axis] * counter[axis]
        offsetB -= bStrides[axis] * counter[axis]
        counter[axis] = 0
        axis -= 1
      }
    }
  }
}

extension Tensor {
  /// Sums this gradient down to `shape` (undoing a broadcast).
  func reduced(toShape target: [Int]) -> Tensor {
    if shape == target { return self }
    let result = Tensor.zeros(target)
    let strides = Broadcast.strides(of: target, in: shape)
    withUnsafeBufferPointer { g in
      let r = result.storage.base
      Broadcast.forEach(target: shape, aStrides: strides, bStrides: strides) { out, index, _ in
        r[index] += g[out]
      }
    }
    return result
  }
}
