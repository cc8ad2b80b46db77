import Foundation
import Models
import Render

/// The one pool of worker threads of every data-set pass: items are taken in order by
/// `workers` threads, and positions 0..<count are handed on in order as soon as each and
/// all before it are ready; the first failure stops the pool and is rethrown.
struct WorkerPool: Sendable {
  /// Threads that take items.
  let workers: Int

  /// Runs `items` (`perform`) and hands on every position of 0..<count in order once
  /// `isReady` says so (`emit`).
  func run<Item>(
    _ items: [Item], count: Int, perform: (Item) throws -> Void, isReady: (Int) -> Bool,
    emit: (Int) throws -> Void
  ) throws {
    try withoutActuallyEscaping(perform) { perform in
      try withoutActuallyEscaping(isReady) { isReady in
        try withoutActuallyEscaping(emit) { emit in
          let queue = OrderedWork(items: items, count: count, perform: perform, isReady: isReady, emit: emit)
          queue.advance()
          DispatchQueue.concurrentPerform(iterations: max(1, min(workers, items.count))) { _ in queue.work() }
          if let failure = queue.failure { throw failure }
        }
      }
    }
  }
}

/// The shared state of `WorkerPool.run`: the next item to take, the next position to hand on,
/// the first failure; all behind one lock.
final class OrderedWork<Item>: @unchecked Sendable {
  let items: [Item]
  let count: Int
  let perform: (Item) throws -> Void
  let isReady: (Int) -> Bool
  let emit: (Int) throws -> Void
  private let lock = NSLock()
  private var next = 0
  private var cursor = 0
  private(set) var failure: Error?

  init(
    items: [Item], count: Int, perform: @escaping (Item) throws -> Void, isReady: @escaping (Int) -> Bool,
    emit: @escaping (Int) throws -> Void
  ) {
    self.items = items
    self.count = count
    self.perform = perform
    self.isReady = isReady
    self.emit = emit
  }

  /// Hands on every ready position in order.
  func advance() {
    lock.lock()
    defer { lock.unlock() }
    while failure == nil && cursor < count && isReady(cursor) {
      do { try emit(cursor) } catch { failure = error }
      cursor += 1
    }
  }

  /// One worker: take items until none is left or something failed.
  func work() {
    while true {
      lock.lock()
      guard failure == nil, next < items.count else {
        lock.unlock()
        return
      }
      let item = items[next]
      next += 1
      lock.unlock()
      do {
        try perform(item)
      } catch {
        lock.lock()
        failure = failure ?? error
        lock.unlock()
        return
      }
      advance()
    }
  }
}

/// Computed lines of one window, written by the workers and read in order.
final class ResultTable: @unchecked Sendable {
  typealias Cell = (line: String, correct: Bool?, row: DatasetRow?)
  private var cells: [Cell?]
  private let columns: Int
  private let lock = NSLock()

  init(rows: Int, columns: Int) {
    cells = Array(repeating: nil, count: rows * columns)
    self.columns = columns
  }

  func set(_ row: Int, _ column: Int, _ cell: Cell) {
    lock.lock()
    cells[row * columns + column] = cell
    lock.unlock()
  }

  func get(_ row: Int, _ column: Int) -> Cell? {
    lock.lock()
    defer { lock.unlock() }
    return cells[row * columns + column]
  }

  private var failures: [Int: (column: Int, error: ModelError)] = [:]

  /// Records that row `row` could not be explained by the method of `column`; of several
  /// failing methods the first is kept, whichever worker finishes first.
  func fail(_ row: Int, _ error: ModelError, column: Int = 0) {
    lock.lock()
    if failures[row].map({ column < $0.column }) ?? true { failures[row] = (column, error) }
    lock.unlock()
  }

  /// The failure of row `row`, if it failed.
  func failure(_ row: Int) -> ModelError? {
    lock.lock()
    defer { lock.unlock() }
    return failures[row]?.error
  }
}
