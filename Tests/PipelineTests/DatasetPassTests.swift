import Foundation
import XCTest

@testable import Models
@testable import Pipeline

/// The data-set engine on its own: shards, windows, resuming, the ordered worker pool.
final class DatasetPassTests: XCTestCase {
  private func records(_ count: Int) -> () -> RecordRead<Int>? {
    var next = 0
    return {
      guard next < count else { return nil }
      defer { next += 1 }
      return RecordRead(index: next, line: next + 1, result: .success(next))
    }
  }

  private func windows(_ pass: DatasetPass, records count: Int) throws -> [[Int]] {
    var seen: [[Int]] = []
    let next = records(count)
    try pass.windows(next: { next() }) { window in seen.append(window.map(\.index)) }
    return seen
  }

  func testAShardIsParsedFromIOverNAndOwnsEveryNthWindow() {
    XCTAssertEqual(ShardSpec("1/3"), ShardSpec(index: 1, count: 3))
    for bad in ["3/3", "-1/2", "a/b", "1/0", "1", "1/2/3", "", "0/1000001"] {
      XCTAssertNil(ShardSpec(bad), bad)
    }
    let shard = ShardSpec(index: 1, count: 3)
    XCTAssertEqual((0..<9).filter(shard.owns), [1, 4, 7])
  }

  func testShardsTogetherReadEveryWindowOnceInOrder() throws {
    let size = DatasetPass.windowSize
    let whole = try windows(DatasetPass(workers: 1, stopAtInvalid: true), records: 5 * size + 7)
    XCTAssertEqual(whole.count, 6)
    XCTAssertEqual(whole.flatMap { $0 }, Array(0..<(5 * size + 7)))
    var union: [[Int]] = []
    for index in 0..<3 {
      let part = try windows(
        DatasetPass(workers: 1, shard: ShardSpec(index: index, count: 3), stopAtInvalid: true),
        records: 5 * size + 7)
      XCTAssertEqual(part.map { $0[0] / size }, Array(stride(from: index, to: 6, by: 3)))
      union += part
    }
    XCTAssertEqual(union.sorted { $0[0] < $1[0] }, whole, "the shards are the whole run, window for window")
  }

  func testALimitCutsTheLastWindowAndAResumeSkipsWindowsAlreadyWritten() throws {
    let size = DatasetPass.windowSize
    let limited = try windows(
      DatasetPass(workers: 1, limit: size + 3, stopAtInvalid: true), records: 3 * size)
    XCTAssertEqual(limited.map(\.count), [size, 3])
    var point = ResumePoint.start
    point.lastIndex = size + 1
    point.methodsOfLast = ["lrp"]
    let resumed = try windows(DatasetPass(workers: 1, resume: point, stopAtInvalid: true), records: 3 * size)
    XCTAssertEqual(resumed.map { $0[0] }, [size, 2 * size], "the window holding the last example is redone")
  }

  func testResumingWithAShorterInputIsRefused() {
    var point = ResumePoint.start
    point.lastIndex = 10
    point.file = "out.jsonl"
    XCTAssertThrowsError(try windows(DatasetPass(workers: 1, resume: point, stopAtInvalid: true), records: 5))
    {
      XCTAssertTrue(($0 as? ResumeRefusal)?.description.contains("holds example 10") ?? false, "\($0)")
    }
  }

  func testTheWorkerPoolHandsPositionsOnInInputOrderWhateverFinishesFirst() throws {
    for workers in [1, 2, 7] {
      let done = ResultTable(rows: 40, columns: 1)
      var emitted: [Int] = []
      try DatasetPass(workers: workers, stopAtInvalid: true).runItems(
        Array((0..<40).reversed()), count: 40,
        perform: { item in
          usleep(useconds_t((item * 37) % 11) * 100)
          done.set(item, 0, ("\(item)", nil, nil))
        },
        isReady: { done.get($0, 0) != nil },
        emit: { emitted.append($0) })
      XCTAssertEqual(emitted, Array(0..<40), "\(workers) workers")
    }
  }

  func testAFailingItemStopsThePoolAndIsRethrown() {
    struct Broken: Error {}
    var emitted: [Int] = []
    let done = ResultTable(rows: 20, columns: 1)
    XCTAssertThrowsError(
      try DatasetPass(workers: 3, stopAtInvalid: true).runItems(
        Array(0..<20), count: 20,
        perform: { item in
          if item == 5 { throw Broken() }
          done.set(item, 0, ("", nil, nil))
        },
        isReady: { done.get($0, 0) != nil },
        emit: { emitted.append($0) })
    ) { XCTAssertTrue($0 is Broken) }
    XCTAssertEqual(emitted, Array(0..<emitted.count), "what was handed on is a prefix in order")
    XCTAssertLessThanOrEqual(emitted.count, 5, "nothing after the failed position")
  }

  func testOfSeveralFailingMethodsARowKeepsTheFirstMethodsError() {
    let table = ResultTable(rows: 1, columns: 3)
    table.fail(0, .badInput("third"), column: 2)
    table.fail(0, .badInput("first"), column: 0)
    table.fail(0, .badInput("second"), column: 1)
    XCTAssertEqual(table.failure(0), .badInput("first"))
  }
}
