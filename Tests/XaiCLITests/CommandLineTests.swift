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

final class ExplainCommandTests: XCTestCase {
  private var tinyModel: String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("ModelsTests/Fixtures/tiny-distilbert.json").path
  }

  func testDefaultModelExplainsASentenceAsPlainTextWhenNotATerminal() throws {
    let result = try runXai(["explain", "This was one of the best movies I have ever seen."])
    XCTAssertEqual(result.status, 0, result.stderr)
    XCTAssertTrue(result.stdout.contains("minilm-rt-sentiment · predicted positive"), result.stdout)
    XCTAssertTrue(result.stdout.contains("method lrp"))
    XCTAssertFalse(result.stdout.contains("\u{1B}"))
    XCTAssertTrue(result.stdout.contains("conservation"))
  }

  func testJSONFormatPrintsOneObjectPerStdinLine() throws {
    let result = try runXai(
      ["explain", "--model", tinyModel, "--format", "json", "--method", "gradxinput", "-"],
      stdin: "the movie was good\n\ngreat film\n")
    XCTAssertEqual(result.status, 0, result.stderr)
    let lines = result.stdout.split(separator: "\n")
    XCTAssertEqual(lines.count, 2)
    XCTAssertTrue(lines.allSatisfy { $0.hasPrefix("{\"model\": \"tiny-distilbert\", \"method\": \"gradxinput\"") })
  }

  func testEveryMethodRunsFromTheCommandLine() throws {
    for method in ["lrp", "gradxinput", "gradient", "integrated-gradients"] {
      let result = try runXai(["explain", "--model", tinyModel, "--method", method, "--words", "not good"])
      XCTAssertEqual(result.status, 0, "\(method): \(result.stderr)")
      XCTAssertTrue(result.stdout.contains("method \(method)"))
    }
    let detached = try runXai(["explain", "--model", tinyModel, "--detach", "gelu,layernorm", "not good"])
    XCTAssertTrue(detached.stdout.contains("gradxinput + detach layernorm,gelu"), detached.stdout)
  }

  func testBadOptionsAreUsageErrorsAndBadInputIsExit65() throws {
    XCTAssertEqual(try runXai(["explain", "--method", "magic", "x"]).status, 64)
    XCTAssertEqual(try runXai(["explain", "--detach", "softmax", "x"]).status, 64)
    XCTAssertEqual(try runXai(["explain", "--method", "gradient", "--detach", "gelu", "x"]).status, 64)
    let empty = try runXai(["explain", "--model", tinyModel, "  "])
    XCTAssertEqual(empty.status, 65)
    XCTAssertEqual(empty.stderr.split(separator: "\n").count, 1)
    let badTarget = try runXai(["explain", "--model", tinyModel, "--target", "9", "good"])
    XCTAssertEqual(badTarget.status, 65)
    XCTAssertTrue(badTarget.stderr.contains("Target class 9"))
    let missing = try runXai(["explain", "--model", "/no/model", "good"])
    XCTAssertEqual(missing.status, 66)
  }

  func testInvalidUTF8OnStdinIsExit65NamingTheLine() throws {
    let process = Process()
    process.executableURL = xaiBinary()
    process.arguments = ["explain", "--model", tinyModel, "--format", "json", "-"]
    let input = Pipe()
    let err = Pipe()
    process.standardInput = input
    process.standardError = err
    process.standardOutput = Pipe()
    try process.run()
    input.fileHandleForWriting.write(Data([0x67, 0x6F, 0x6F, 0x64, 0x0A, 0xFF, 0xFE, 0x0A]))
    try input.fileHandleForWriting.close()
    let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    XCTAssertEqual(process.terminationStatus, 65)
    XCTAssertTrue(message.contains("line 2"), message)
  }

  func testOverlongTextIsTruncatedWithAWarning() throws {
    let text = String(repeating: "good ", count: 60)
    let result = try runXai(["explain", "--model", tinyModel, "--format", "json", text])
    XCTAssertEqual(result.status, 0, result.stderr)
    XCTAssertTrue(result.stderr.contains("truncated"))
    XCTAssertTrue(result.stdout.contains("\"truncated\": true"))
  }
}
