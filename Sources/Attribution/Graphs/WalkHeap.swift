/// Keeps the `capacity` walks of largest |R| (a min-heap on |R|).
struct WalkHeap {
  let capacity: Int
  private(set) var items: [WalkRelevance] = []

  /// Whether a walk of this relevance would enter the heap.
  @inline(__always)
  func accepts(_ relevance: Float) -> Bool {
    capacity > 0 && (items.count < capacity || abs(relevance) > abs(items[0].relevance))
  }

  mutating func offer(_ relevance: Float, _ nodes: @autoclosure () -> [Int]) {
    guard capacity > 0 else { return }
    if items.count < capacity {
      items.append(WalkRelevance(nodes: nodes(), relevance: relevance))
      siftUp(items.count - 1)
    } else if abs(relevance) > abs(items[0].relevance) {
      items[0] = WalkRelevance(nodes: nodes(), relevance: relevance)
      siftDown(0)
    }
  }

  private mutating func siftUp(_ start: Int) {
    var child = start
    while child > 0 {
      let parent = (child - 1) / 2
      guard abs(items[child].relevance) < abs(items[parent].relevance) else { return }
      items.swapAt(child, parent)
      child = parent
    }
  }

  private mutating func siftDown(_ start: Int) {
    var parent = start
    while true {
      let left = 2 * parent + 1
      let right = left + 1
      var smallest = parent
      if left < items.count && abs(items[left].relevance) < abs(items[smallest].relevance) { smallest = left }
      if right < items.count && abs(items[right].relevance) < abs(items[smallest].relevance) {
        smallest = right
      }
      if smallest == parent { return }
      items.swapAt(parent, smallest)
      parent = smallest
    }
  }

  func sortedByMagnitude() -> [WalkRelevance] {
    items.sorted {
      abs($0.relevance) > abs($1.relevance)
        || (abs($0.relevance) == abs($1.relevance) && $0.nodes.lexicographicallyPrecedes($1.nodes))
    }
  }
}
