import CBLAS

extension BLAS {
  /// Eigenvalues in descending order and the matching unit eigenvectors (row k of
  /// `vectors`, row-major [n, n]) of the symmetric n×n matrix `matrix` (row-major; only
  /// its lower triangle in column-major terms is read), in float64 through LAPACK's
  /// `dsyev`. Nil if LAPACK reports a failure (no convergence, a NaN in the input).
  public static func symmetricEigen(_ matrix: [Double], n: Int) -> (values: [Double], vectors: [Double])? {
    precondition(matrix.count == n * n, "a \(n)×\(n) matrix needs \(n * n) values")
    guard n > 0 else { return ([], []) }
    var a = matrix
    var values = [Double](repeating: 0, count: n)
    var size = Int32(n)
    var lda = Int32(n)
    var info: Int32 = 0
    var query: Double = 0
    var lwork: Int32 = -1
    "V".withCString { jobz in
      "L".withCString { uplo in
        dsyev_(jobz, uplo, &size, &a, &lda, &values, &query, &lwork, &info, 1, 1)
      }
    }
    guard info == 0 else { return nil }
    lwork = Int32(max(query, Double(3 * n)))
    var work = [Double](repeating: 0, count: Int(lwork))
    "V".withCString { jobz in
      "L".withCString { uplo in
        dsyev_(jobz, uplo, &size, &a, &lda, &values, &work, &lwork, &info, 1, 1)
      }
    }
    guard info == 0 else { return nil }
    // dsyev: ascending values, eigenvector j in column j (column-major), i.e. the j-th
    // run of n values.
    var sortedValues = [Double](repeating: 0, count: n)
    var vectors = [Double](repeating: 0, count: n * n)
    for k in 0..<n {
      let source = n - 1 - k
      sortedValues[k] = values[source]
      for i in 0..<n { vectors[k * n + i] = a[source * n + i] }
    }
    return (sortedValues, vectors)
  }
}
