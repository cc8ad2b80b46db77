import Foundation
import Models

/// Where a batch run has got to in its output file: the last example index written and
/// which methods of that example are there.
struct ResumePoint: Equatable {
  /// Largest example index in the file (-1: none).
  var lastIndex: Int
  /// Methods written for `lastIndex`.
  var methodsOfLast: Set<String>
  /// Complete lines in the file.
  var lines: Int
  /// Every method in the file.
  var methods: Set<String> = []
  /// The methods every example before `lastIndex` has (nil: no such example).
  var methodsOfEveryEarlier: Set<String>?
  /// The id written for `lastIndex`.
  var idOfLast: String?
  /// The output file, for messages.
  var file = ""

  /// Nothing written yet.
  static let start = ResumePoint(lastIndex: -1, methodsOfLast: [], lines: 0)

  /// Refuses to continue an output written with other methods (its lines would mix).
  func check(methods names: [String]) throws {
    if let foreign = methods.subtracting(names).sorted().first {
      throw ModelError.badInput(
        "\(file) holds results of --method \(foreign), which this run does not compute; "
          + "resume with the --method options that wrote it.")
    }
    if let missing = Set(names).subtracting(methodsOfEveryEarlier ?? Set(names)).sorted().first {
      throw ModelError.badInput(
        "\(file) was written without --method \(missing); "
          + "resume with the --method options that wrote it, or start a new output.")
    }
  }

  /// Refuses to continue an output of another data set: the record at `lastIndex` must
  /// have the id the output gives it.
  func check(index: Int, id: String) throws {
    if index == lastIndex, let idOfLast, idOfLast != id {
      throw ModelError.badInput(
        "\(file) gives example \(index) the id '\(idOfLast)' but the input's record \(index) has '\(id)'; "
          + "resume only with the input that wrote it.")
    }
  }

  /// Whether the line for example `index` and `method` is already in the file.
  func isDone(index: Int, method: String) -> Bool {
    index < lastIndex || (index == lastIndex && methodsOfLast.contains(method))
  }
}

/// An append-only JSON Lines file: each line is written whole in one system call and
/// is complete on disk before the next one starts, so a killed run leaves at most a
/// trailing partial line, which `open(resume:)` repairs.
final class AppendOnlyLines: @unchecked Sendable {
  let path: String
  private let handle: FileHandle

  private init(path: String, handle: FileHandle) {
    self.path = path
    self.handle = handle
  }

  /// Opens `path` for appending: empties it unless `keep`, and with `keep` cuts a
  /// trailing partial line (a run killed mid-write) and returns how far the file got.
  static func open(_ path: String, keep: Bool, parse: Bool = true) throws -> (AppendOnlyLines, ResumePoint) {
    let manager = FileManager.default
    if !manager.fileExists(atPath: path) || !keep {
      guard manager.createFile(atPath: path, contents: nil) else {
        throw ModelError.badInput("Cannot write \(path).")
      }
    }
    var point = ResumePoint.start
    if keep {
      point = try repairAndScan(path, parse: parse)
    }
    guard let handle = FileHandle(forWritingAtPath: path) else {
      throw ModelError.badInput("Cannot write \(path).")
    }
    try handle.seekToEnd()
    return (AppendOnlyLines(path: path, handle: handle), point)
  }

  /// Reads the index, id and method of every complete line and then cuts a trailing
  /// partial line (a run killed mid-write); a file that is not xai batch output is left
  /// untouched.
  private static func repairAndScan(_ path: String, parse: Bool) throws -> ResumePoint {
    guard let handle = FileHandle(forUpdatingAtPath: path) else {
      throw ModelError.badInput("Cannot open \(path).")
    }
    defer { try? handle.close() }
    let size = try handle.seekToEnd()
    var end = size
    var position = size
    while position > 0 {
      let step = min(position, 1 << 16)
      try handle.seek(toOffset: position - step)
      let chunk = try handle.read(upToCount: Int(step)) ?? Data()
      if let newline = chunk.lastIndex(of: UInt8(ascii: "\n")) {
        end = position - step + UInt64(newline - chunk.startIndex) + 1
        break
      }
      position -= step
      if position == 0 { end = 0 }
    }
    let partial = end < size
    if partial {
      // Every line xai writes starts so; anything else is not a cut-off line of ours.
      let start = Array(#"{"index": "#.utf8)
      try handle.seek(toOffset: end)
      let tail = try handle.read(upToCount: start.count) ?? Data()
      guard tail.elementsEqual(start.prefix(tail.count)) else {
        throw ModelError.badInput(
          "\(path) does not end in a line of xai batch output, so the run cannot be resumed.")
      }
    }
    var point = ResumePoint.start
    point.file = path
    if parse {
      let lines = try LineReader(path: path)
      var pending: (bytes: ArraySlice<UInt8>, number: Int)?
      func scan(_ bytes: ArraySlice<UInt8>, number: Int) throws {
        point.lines += 1
        let source = "\(path) line \(number)"
        guard let text = String(validating: bytes, as: UTF8.self),
          let node = try? JSONDocument.parse(text, source: source).rootNode,
          let index = node["index"]?.int, let method = node["method"]?.string
        else {
          throw ModelError.badInput(
            "\(source) is not a line of xai batch output, so the run cannot be resumed.")
        }
        guard index >= point.lastIndex else {
          throw ModelError.badInput(
            "\(source): example \(index) comes after \(point.lastIndex); the file is out of order.")
        }
        if index > point.lastIndex {
          if point.lastIndex >= 0 {
            point.methodsOfEveryEarlier =
              point.methodsOfEveryEarlier.map { $0.intersection(point.methodsOfLast) } ?? point.methodsOfLast
          }
          point.lastIndex = index
          point.methodsOfLast = []
          point.idOfLast = node["id"]?.string
        }
        point.methodsOfLast.insert(method)
        point.methods.insert(method)
      }
      // The last line is only scanned when it is complete.
      while let bytes = try lines.nextLine() {
        if let pending { try scan(pending.bytes, number: pending.number) }
        pending = (bytes, lines.lineNumber)
      }
      if let pending, !partial { try scan(pending.bytes, number: pending.number) }
    }
    if partial {
      try handle.truncate(atOffset: end)
      printError("xai: \(path) ended in a partial line (a killed run); it was cut off and will be redone.")
    }
    return point
  }

  /// Appends `line` and a line break in one write.
  func append(_ line: String) throws {
    do {
      try handle.write(contentsOf: Data((line + "\n").utf8))
    } catch {
      throw ModelError.badInput("Cannot write \(path): \(error.localizedDescription)")
    }
  }

  deinit { try? handle.close() }
}
