import Attribution
import Foundation
import Models

/// Node coordinates for drawing: the graph's own (molfile or given positions), or a
/// deterministic force-directed layout (same graph → same picture).
public enum GraphLayout {
  /// Positions in the unit square [0, 1]².
  public static func positions(for graph: Graph) -> [(x: Double, y: Double)] {
    let raw: [(x: Double, y: Double)]
    if let given = graph.positions {
      raw = given.map { ($0[0], -$0[1]) }
    } else {
      raw = forceDirected(graph)
    }
    return normalized(raw)
  }

  static func normalized(_ points: [(x: Double, y: Double)]) -> [(x: Double, y: Double)] {
    guard let minX = points.map(\.x).min(), let maxX = points.map(\.x).max(),
      let minY = points.map(\.y).min(), let maxY = points.map(\.y).max()
    else { return points }
    let span = max(maxX - minX, maxY - minY, 1e-9)
    let offsetX = (span - (maxX - minX)) / 2
    let offsetY = (span - (maxY - minY)) / 2
    return points.map { ((($0.x - minX) + offsetX) / span, (($0.y - minY) + offsetY) / span) }
  }

  /// Fruchterman–Reingold from nodes on a circle, a fixed number of cooling steps
  /// (quadratic per step, so graphs above 3,000 nodes are laid on a spiral instead).
  static func forceDirected(_ graph: Graph) -> [(x: Double, y: Double)] {
    let n = graph.nodeCount
    if n == 1 { return [(0.5, 0.5)] }
    if n > 3000 {
      return (0..<n).map { index in
        let radius = Double(index).squareRoot()
        let angle = Double(index) * 2.399963229728653
        return (radius * cos(angle), radius * sin(angle))
      }
    }
    var x = (0..<n).map { cos(2 * Double.pi * Double($0) / Double(n)) }
    var y = (0..<n).map { sin(2 * Double.pi * Double($0) / Double(n)) }
    let k = (4.0 / Double(n)).squareRoot()
    let iterations = n > 400 ? 60 : 300
    var temperature = 0.2
    for _ in 0..<iterations {
      var dx = [Double](repeating: 0, count: n)
      var dy = [Double](repeating: 0, count: n)
      for i in 0..<n {
        for j in (i + 1)..<n {
          let ex = x[i] - x[j]
          let ey = y[i] - y[j]
          let distance = max((ex * ex + ey * ey).squareRoot(), 1e-6)
          let force = k * k / distance
          dx[i] += ex / distance * force
          dy[i] += ey / distance * force
          dx[j] -= ex / distance * force
          dy[j] -= ey / distance * force
        }
      }
      for edge in graph.edges {
        let ex = x[edge.u] - x[edge.v]
        let ey = y[edge.u] - y[edge.v]
        let distance = max((ex * ex + ey * ey).squareRoot(), 1e-6)
        let force = distance * distance / k
        dx[edge.u] -= ex / distance * force
        dy[edge.u] -= ey / distance * force
        dx[edge.v] += ex / distance * force
        dy[edge.v] += ey / distance * force
      }
      for i in 0..<n {
        let length = max((dx[i] * dx[i] + dy[i] * dy[i]).squareRoot(), 1e-9)
        let step = min(length, temperature)
        x[i] += dx[i] / length * step
        y[i] += dy[i] / length * step
      }
      temperature *= 0.985
    }
    return zip(x, y).map { ($0, $1) }
  }
}
