import Foundation
import XCTest

/// Every input that once crashed, hung or ran away (the hardening issue's reproducers and
/// what `make fuzz` finds) replayed through the fuzz targets' own code, built without
/// the fuzzer: each must be read or refused without a trap.
final class CrasherReplayTests: XCTestCase {
  private let crashers = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("ModelsTests/Fixtures/crashers")

  func testEveryCrasherIsReadOrRefusedWithoutATrap() throws {
    let binary = xaiBinary().deletingLastPathComponent().appendingPathComponent("xai-fuzz")
    let targets = try FileManager.default.contentsOfDirectory(atPath: crashers.path).sorted()
    XCTAssertGreaterThanOrEqual(targets.count, 7)
    var replayed = 0
    for target in targets {
      let folder = crashers.appendingPathComponent(target)
      let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted().map {
        folder.appendingPathComponent($0).path
      }
      let process = Process()
      process.executableURL = binary
      process.arguments = files
      process.environment = ProcessInfo.processInfo.environment.merging(["XAI_FUZZ_TARGET": target]) { $1 }
      process.currentDirectoryURL = crashers.deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
      try process.run()
      process.waitUntilExit()
      XCTAssertEqual(process.terminationReason, .exit, "\(target): killed by a signal")
      XCTAssertEqual(process.terminationStatus, 0, "\(target): \(files)")
      replayed += files.count
    }
    XCTAssertGreaterThanOrEqual(replayed, 20)
  }
}
