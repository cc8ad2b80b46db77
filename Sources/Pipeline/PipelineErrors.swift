import Foundation

/// An output that cannot be created, or whose writing failed.
public enum OutputError: Error, CustomStringConvertible {
  /// The file (or its folder) cannot be created or opened for writing.
  case cannotCreate(path: String, reason: String)
  /// Writing to an opened output failed (disk full, I/O error).
  case writeFailed(path: String, reason: String)

  /// Whether the file could not be created at all (rather than failing while written).
  public var isCreation: Bool {
    if case .cannotCreate = self { return true }
    return false
  }

  public var description: String {
    switch self {
    case .cannotCreate(let path, let reason): "Cannot write \(path): \(reason)."
    case .writeFailed(let path, let reason): "Writing \(path) failed: \(reason)."
    }
  }
}

/// A resumed run (or a merge) given an output that this run, with these methods, this
/// shard and this input, did not write: continuing would mix results.
public struct ResumeRefusal: Error, CustomStringConvertible {
  public let description: String
  /// A refusal saying why, naming the file.
  public init(_ description: String) { self.description = description }
}
