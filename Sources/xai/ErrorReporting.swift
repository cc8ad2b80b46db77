import ArgumentParser
import Foundation
import Models

/// Writes one line to standard error.
func printError(_ message: String) {
  FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// Runs a command body, turning input errors into one sentence on stderr and the
/// exit code of SPEC §7 (65 bad data, 66 missing file).
func reportingErrors(_ body: () throws -> Void) throws {
  do {
    try body()
  } catch let error as ModelError {
    printError("xai: \(error.description)")
    throw ExitCode(error.exitCode)
  }
}
