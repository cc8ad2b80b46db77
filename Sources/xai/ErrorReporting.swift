import ArgumentParser
import Attribution
import Foundation
import Models
import Pipeline
import Render

/// Writes one line to standard error, control characters (from file names, keys and
/// values quoted in the message) made harmless.
func printError(_ message: String) {
  FileHandle.standardError.write(Data((terminalSafe(message, keepingLineBreaks: true) + "\n").utf8))
}

/// The exit codes (docs/exit-codes.md).
enum ExitStatus {
  /// A usage error: an option or a combination of options that cannot work.
  static let usage: Int32 = 64
  /// Bad input data.
  static let badData: Int32 = 65
  /// A file or folder that is not there.
  static let missingFile: Int32 = 66
  /// An output file that cannot be created (EX_CANTCREAT).
  static let cannotCreate: Int32 = 73
  /// An output that failed while being written (EX_IOERR).
  static let ioError: Int32 = 74
  /// An error no rule classifies: a fault of xai itself (EX_SOFTWARE).
  static let internalError: Int32 = 70

  /// The exit code for an error of the lower modules.
  static func code(for error: Error) -> Int32? {
    switch error {
    case let error as ModelError: error.isMissingFile ? missingFile : badData
    case let error as OutputError: error.isCreation ? cannotCreate : ioError
    case is ResumeRefusal: usage
    case let error as CocoaError:
      // Foundation's file errors: reading (256…511; 260 is "no such file") or writing (512…).
      switch error.code.rawValue {
      case CocoaError.fileReadNoSuchFile.rawValue, CocoaError.fileNoSuchFile.rawValue: missingFile
      case 256..<512: badData
      case 512..<768: ioError
      default: nil
      }
    case is WalkLimitError: badData
    case is MissingOperationError, is AuditUnavailableError, is GammaError, is PerturbationLimitError, is SimilaritySettingError:
      usage
    default: nil
    }
  }
}

/// Runs a command body, turning errors of the lower modules into one sentence on
/// stderr and the exit code docs/exit-codes.md gives.
func reportingErrors(_ body: () throws -> Void) throws {
  do {
    try body()
  } catch let error as ValidationError {
    // Found while running, not parsing: the message alone (the root command's usage
    // line that ArgumentParser would add names no subcommand).
    printError("xai: \(error.message)")
    throw ExitCode(ExitStatus.usage)
  } catch let error as ExitCode {
    throw error
  } catch {
    guard let code = ExitStatus.code(for: error) else {
      printError("xai: internal error: \(error)")
      throw ExitCode(ExitStatus.internalError)
    }
    var advice = error is GammaError ? " (--gamma)" : ""
    if case .wrongModelKind(_, let found, _, _) = error as? ModelError {
      advice =
        switch found {
        case .graphNetwork: " Explain graphs with 'xai graph --model NAME --graph FILE'."
        case .imageClassifier: " Give it images with --image FILE."
        case .textClassifier: " Give it text: 'xai explain --model NAME \"…\"'."
        case .languageModel: " Generate with it: 'xai generate --model NAME \"prompt\"'."
        }
    }
    if error is ResumeRefusal {
      advice = " Resume with the model, --method, --shard and input that wrote it, or write a new output."
    }
    if let error = error as? WalkLimitError {
      advice =
        error.limit < RelevantWalks.maximumWalks
        ? " Raise --max-walks to enumerate them anyway."
        : " That is beyond what xai enumerates; use --method gradxinput, a smaller graph or fewer layers."
    }
    printError("xai: \(error)\(advice)")
    throw ExitCode(code)
  }
}
