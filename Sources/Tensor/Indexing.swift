/// Shape changes, slicing, concatenation, and row gather/scatter.
///
/// reshape: ∂ = g reshaped back;  permute: ∂ = g permuted by the inverse;
/// slice: ∂ = g placed in zeros;  concat: ∂ = the matching slices of g;
/// gather rows: ∂table = scatter-add of g;  scatter-add rows: ∂src = gather of g.

extension Tensor {
  /// The same scalars under a new shape (shares storage); one extent may be -1.
  public func reshaped(_ newShape: [Int]) -> Tensor {
    var resolved = newShape
    if let unknown = newShape.firstIndex(of: -1) {
      let known = newShape.enumerated().filter { $0.offset != unknown }.map(\.element).reduce(1, *)
      resolved[unknown] = known == 0 ? 0 : count / known
    }
    precondition(resolved.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
    let value = Tensor(shape: resolved, storage: storage)
    guard Tensor.gradientNeeds(self) != nil else { return value }
    let original = shape
    return value.recorded(from: [self]) { g in [Tensor(shape: original, storage: g.storage)] }
  }

  /// Axes reordered: result axis i is input axis `order[i]`.
  public func permuted(_ order: [Int]) -> Tensor {
    precondition(order.sorted() == Array(0..<rank), "permutation \(order) for rank \(rank)")
    let newShape = order.map { shape[$0] }
    var inputStrides = Array(repeating: 1, count: rank)
    for axis in stride(from: rank - 2, through: 0, by: -1) {
      inputStrides[axis] = inputStrides[axis + 1] * shape[axis + 1]
    }
    let value = Tensor.uninitialized(newShape)
    let source = storage.base
    let target = value.storage.base
    let gathered = order.map { inputStrides[$0] }
    Broadcast.forEach(target: newShape, aStrides: gathered, bStrides: gathered) { o, i, _ in
      target[o] = source[i]
    }
    guard Tensor.gradientNeeds(self) != nil else { return value }
    var inverse = Array(repeating: 0, count: rank)
    for (i, axis) in order.enumerated() { inverse[axis] = i }
    return value.recorded(from: [self]) { g in [g.permuted(inverse)] }
  }

  /// Swaps two axes.
  public func transposed(_ a: Int, _ b: Int) -> Tensor {
    var order = Array(0..<rank)
    order.swapAt(axisIndex(a), axisIndex(b))
    return permuted(order)
  }

  /// The elements `range` along `axis`.
  public func slice(axis: Int, _ range: Range<Int>) -> Tensor {
    let axis = axisIndex(axis)
    precondition(range.lowerBound >= 0 && range.upperBound <= shape[axis], "slice \(range) of \(shape)")
    let outer = shape[..<axis].reduce(1, *)
    let inner = shape[(axis + 1)...].reduce(1, *)
    var newShape = shape
    newShape[axis] = range.count
    let value = Tensor.uninitialized(newShape)
    let block = range.count * inner
    for o in 0..<outer {
      (value.storage.base + o * block).update(
        from: storage.base + (o * shape[axis] + range.lowerBound) * inner, count: block)
    }
    guard Tensor.gradientNeeds(self) != nil else { return value }
    let original = shape
    return value.recorded(from: [self]) { g in
      let grad = Tensor.zeros(original)
      for o in 0..<outer {
        (grad.storage.base + (o * original[axis] + range.lowerBound) * inner).update(
          from: g.storage.base + o * block, count: block)
      }
      return [grad]
    }
  }

  /// Index `index` along `axis`, with that axis removed.
  public func select(axis: Int, _ index: Int) -> Tensor {
    let axis = axisIndex(axis)
    var newShape = shape
    newShape.remove(at: axis)
    return slice(axis: axis, index..<(index + 1)).reshaped(newShape)
  }

  /// Tensors joined along `axis` (all other extents equal).
  public static func concat(_ parts: [Tensor], axis: Int) -> Tensor {
    precondition(!parts.isEmpty, "concat of nothing")
    let first = parts[0]
    let axis = first.axisIndex(axis)
    for part in parts {
      precondition(
        part.rank == first.rank
          && zip(part.shape, first.shape).enumerated().allSatisfy {
            $0.offset == axis || $0.element.0 == $0.element.1
          },
        "concat shapes \(part.shape) and \(first.shape) differ off axis \(axis)")
    }
    let outer = first.shape[..<axis].reduce(1, *)
    let inner = first.shape[(axis + 1)...].reduce(1, *)
    let extents = parts.map { $0.shape[axis] }
    let total = extents.reduce(0, +)
    var newShape = first.shape
    newShape[axis] = total
    let value = Tensor.uninitialized(newShape)
    for o in 0..<outer {
      var offset = 0
      for (part, extent) in zip(parts, extents) {
        (value.storage.base + (o * total + offset) * inner).update(
          from: part.storage.base + o * extent * inner, count: extent * inner)
        offset += extent
      }
    }
    guard GradMode.isEnabled, parts.contains(where: \.requiresGrad) else { return value }
    let needs = parts.map(\.requiresGrad)
    return value.recorded(from: parts) { g in
      var start = 0
      return zip(extents, needs).map { extent, need in
        defer { start += extent }
        return need ? g.slice(axis: axis, start..<(start + extent)) : nil
      }
    }
  }

  /// Rows of this table (axis 0) at `indices`: an embedding lookup / node gather.
  public func gatherRows(_ indices: [Int]) -> Tensor {
    let rows = shape[0]
    let width = count / Swift.max(rows, 1)
    let value = Tensor.uninitialized([indices.count] + shape.dropFirst())
    for (r, index) in indices.enumerated() {
      precondition(index >= 0 && index < rows, "row \(index) out of range 0..<\(rows)")
      (value.storage.base + r * width).update(from: storage.base + index * width, count: width)
    }
    guard Tensor.gradientNeeds(self) != nil else { return value }
    return value.recorded(from: [self]) { g in [g.scatterAddRows(into: rows, at: indices)] }
  }

  /// A table of `rows` rows where row `indices[i]` is the sum of this tensor's rows `i`.
  public func scatterAddRows(into rows: Int, at indices: [Int]) -> Tensor {
    precondition(indices.count == shape[0], "\(indices.count) indices for \(shape[0]) rows")
    let width = count / Swift.max(shape[0], 1)
    let value = Tensor.zeros([rows] + shape.dropFirst())
    let source = storage.base
    let target = value.storage.base
    for (r, index) in indices.enumerated() {
      precondition(index >= 0 && index < rows, "row \(index) out of range 0..<\(rows)")
      let from = source + r * width
      let to = target + index * width
      for i in 0..<width { to[i] += from[i] }
    }
    guard Tensor.gradientNeeds(self) != nil else { return value }
    return value.recorded(from: [self]) { g in [g.gatherRows(indices)] }
  }
}
