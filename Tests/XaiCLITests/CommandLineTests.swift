import Foundation
import XCTest

/// Runs the built `xai` binary and captures what it prints.
struct CommandResult {
  let status: Int32
  let stdout: String
  let stderr: String
}

/// The `xai` executable next to the test bundle.
func xaiBinary() -> URL {
  URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    .appendingPathComponent("xai")
}

/// Runs `xai` with `arguments`, `environment` added to the current one.
func runXai(
  _ arguments: [String], environment: [String: String] = [:], stdin: String? = nil
) throws -> CommandResult {
  let process = Process()
  process.executableURL = xaiBinary()
  process.arguments = arguments
  process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
  let out = Pipe()
  let err = Pipe()
  process.standardOutput = out
  process.standardError = err
  let input = Pipe()
  process.standardInput = input
  try process.run()
  if let stdin { input.fileHandleForWriting.write(stdin.data(using: .utf8)!) }
  try input.fileHandleForWriting.close()
  let outData = out.fileHandleForReading.readDataToEndOfFile()
  let errData = err.fileHandleForReading.readDataToEndOfFile()
  process.waitUntilExit()
  return CommandResult(
    status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
    stderr: String(decoding: errData, as: UTF8.self))
}

final class CommandLineTests: XCTestCase {
  func testVersionPrintsTheVersionAndExitsZero() throws {
    let result = try runXai(["--version"])
    XCTAssertEqual(result.status, 0)
    XCTAssertEqual(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "0.1.0")
  }

  func testHelpDescribesTheTool() throws {
    let result = try runXai(["--help"])
    XCTAssertEqual(result.status, 0)
    XCTAssertTrue(result.stdout.contains("Explain transformer and graph neural network"))
  }

  func testUnknownOptionIsAUsageErrorWithExitCode64() throws {
    let result = try runXai(["--no-such-option"])
    XCTAssertEqual(result.status, 64)
    XCTAssertFalse(result.stderr.isEmpty)
  }
}

final class ModelsCommandTests: XCTestCase {
  private var fixtures: String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("ModelsTests/Fixtures").path
  }

  func testModelsListsTheSampleModelAsDefaultWithItsAccuracy() throws {
    let result = try runXai(["models"])
    XCTAssertEqual(result.status, 0, result.stderr)
    let line = try XCTUnwrap(result.stdout.split(separator: "\n").first { $0.contains("minilm-rt-sentiment") })
    XCTAssertTrue(line.contains("(default)"))
    XCTAssertTrue(line.contains("distilbert"))
    XCTAssertTrue(line.contains("negative,positive"))
    XCTAssertNotNil(line.range(of: #"0\.[89]\d\d"#, options: .regularExpression), String(line))
  }

  func testModelsListsModelsOfAFolderGivenOnTheCommandLine() throws {
    let result = try runXai(["models", fixtures])
    XCTAssertEqual(result.status, 0, result.stderr)
    XCTAssertTrue(result.stdout.contains("tiny-bert"))
    XCTAssertTrue(result.stdout.contains("negative,neutral,positive"))
  }

  func testMissingFolderIsExitCode66WithOneSentence() throws {
    let result = try runXai(["models", "/no/such/folder"])
    XCTAssertEqual(result.status, 66)
    XCTAssertEqual(result.stderr.split(separator: "\n").count, 1)
    XCTAssertTrue(result.stderr.contains("/no/such/folder"))
  }
}
