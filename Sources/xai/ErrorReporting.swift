import ArgumentParser
import Attribution
import Foundation
import Models

/// Writes one line to standard error.
func printError(_ message: String) {
  FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// The exit codes of SPEC §7.
enum ExitStatus {
  /// A usage error: an option or a combination of options that cannot work.
  static let usage: Int32 = 64
  /// Bad input data.
  static let badData: Int32 = 65
  /// A file or folder that is not there.
  static let missingFile: Int32 = 66

  /// The exit code for an error of the lower modules.
  static func code(for error: Error) -> Int32? {
    switch error {
    case let error as ModelError: error.isMissingFile ? missingFile : badData
    case is WalkLimitError: badData
    case is MissingOperationError, is AuditUnavailableError: usage
    default: nil
    }
  }
}

/// Runs a command body, turning errors of the lower modules into one sentence on
/// stderr and the exit code of SPEC §7.
func reportingErrors(_ body: () throws -> Void) throws {
  do {
    try body()
  } catch {
    guard let code = ExitStatus.code(for: error) else { throw error }
    let advice = error is WalkLimitError ? " Raise --max-walks to enumerate them anyway." : ""
    printError("xai: \(error)\(advice)")
    throw ExitCode(code)
  }
}
