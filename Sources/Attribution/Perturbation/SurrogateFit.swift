// The linear fits of KernelSHAP and LIME, in float64.
//   solveSymmetric: A x = b for a symmetric positive semi-definite A (the normal equations),
//                   by elimination with full pivoting; a direction the data leave
//                   undetermined (a pivot below 1e-12 of the largest) is set to 0.
//   lasso:          argmin_{β, c} (1/(2Σw)) Σ_j w_j (y_j − c − z_j·β)² + α‖β‖₁ by cyclic
//                   coordinate descent on the weight-centred data (scikit-learn's Lasso
//                   objective with sample weights, which Captum's default surrogate fits).

/// The small dense fits of the surrogate methods.
enum SurrogateFit {
  /// x with A x = b, A [size × size] row-major.
  static func solveSymmetric(_ a: [Double], _ b: [Double], size n: Int) -> [Double] {
    guard n > 0 else { return [] }
    var matrix = a
    var right = b
    var columnOf = Array(0..<n)  // the unknown held by each column after swaps
    let largest = (0..<n).map { abs(a[$0 * n + $0]) }.max() ?? 0
    var rank = 0
    for k in 0..<n {
      var pivot = (row: k, column: k, size: -1.0)
      for i in k..<n {
        for j in k..<n where abs(matrix[i * n + j]) > pivot.size {
          pivot = (i, j, abs(matrix[i * n + j]))
        }
      }
      if pivot.size <= 1e-12 * largest || pivot.size == 0 { break }
      if pivot.row != k {
        for j in 0..<n { matrix.swapAt(k * n + j, pivot.row * n + j) }
        right.swapAt(k, pivot.row)
      }
      if pivot.column != k {
        for i in 0..<n { matrix.swapAt(i * n + k, i * n + pivot.column) }
        columnOf.swapAt(k, pivot.column)
      }
      for i in (k + 1)..<n {
        let factor = matrix[i * n + k] / matrix[k * n + k]
        guard factor != 0 else { continue }
        for j in k..<n { matrix[i * n + j] -= factor * matrix[k * n + j] }
        right[i] -= factor * right[k]
      }
      rank += 1
    }
    var solution = [Double](repeating: 0, count: n)  // by column; free columns stay 0
    for k in stride(from: rank - 1, through: 0, by: -1) {
      var total = right[k]
      for j in (k + 1)..<rank { total -= matrix[k * n + j] * solution[j] }
      solution[k] = total / matrix[k * n + k]
    }
    var result = [Double](repeating: 0, count: n)
    for k in 0..<n { result[columnOf[k]] = solution[k] }
    return result
  }

  /// Most coordinate-descent sweeps.
  static let lassoSweeps = 100_000

  /// The Lasso coefficients β (one per unit) of `targets` on the coalitions' indicator
  /// vectors with sample `weights` and an unpenalised intercept.
  static func lasso(features: [Coalition], targets: [Double], weights: [Double], alpha: Double) -> [Double] {
    let count = features.count
    guard let n = features.first?.unitCount, count > 0 else { return [] }
    let total = weights.reduce(0, +)
    guard total > 0 else { return [Double](repeating: 0, count: n) }
    // Weight-centred columns, unit by unit ([n × count]).
    var means = [Double](repeating: 0, count: n)
    var meanTarget = 0.0
    for (j, coalition) in features.enumerated() {
      meanTarget += weights[j] * targets[j]
      for unit in 0..<n where coalition.contains(unit) { means[unit] += weights[j] }
    }
    meanTarget /= total
    for unit in 0..<n { means[unit] /= total }
    var columns = [Double](repeating: 0, count: n * count)
    var squares = [Double](repeating: 0, count: n)
    for (j, coalition) in features.enumerated() {
      for unit in 0..<n {
        let value = (coalition.contains(unit) ? 1 : 0) - means[unit]
        columns[unit * count + j] = value
        squares[unit] += weights[j] * value * value
      }
    }
    var residual = targets.map { $0 - meanTarget }
    var beta = [Double](repeating: 0, count: n)
    for _ in 0..<lassoSweeps {
      var largestChange = 0.0
      var largestBeta = 0.0
      for unit in 0..<n where squares[unit] > 0 {
        let a = squares[unit] / total
        var rho = 0.0
        for j in 0..<count { rho += weights[j] * columns[unit * count + j] * residual[j] }
        rho = rho / total + a * beta[unit]
        let updated = (rho > alpha ? rho - alpha : rho < -alpha ? rho + alpha : 0) / a
        let change = updated - beta[unit]
        if change != 0 {
          for j in 0..<count { residual[j] -= change * columns[unit * count + j] }
          beta[unit] = updated
        }
        largestChange = max(largestChange, abs(change))
        largestBeta = max(largestBeta, abs(updated))
      }
      if largestChange <= 1e-13 * largestBeta || largestChange == 0 { break }
    }
    return beta
  }
}
