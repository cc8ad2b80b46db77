import Foundation
import Models

/// Where a batch run has got to in its output file: the last example index written and
/// which methods of that example are there.
public struct ResumePoint: Equatable, Sendable {
  /// Largest example index in the file (-1: none).
  public var lastIndex: Int
  /// Methods written for `lastIndex`.
  public var methodsOfLast: Set<String>
  /// Complete lines in the file.
  public var lines: Int
  /// Every method in the file.
  public var methods: Set<String> = []
  /// The methods every example before `lastIndex` has (nil: no such example).
  public var methodsOfEveryEarlier: Set<String>?
  /// The id written for `lastIndex`.
  public var idOfLast: String?
  /// The model named by the last line.
  public var modelOfLast: String?
  /// The output file, for messages.
  public var file = ""

  /// Nothing written yet.
  public static let start = ResumePoint(lastIndex: -1, methodsOfLast: [], lines: 0)

  /// Refuses to continue an output written with another model or other methods (its
  /// lines would mix).
  public func check(model: String, methods names: [String]) throws {
    if let modelOfLast, modelOfLast != model {
      throw ResumeRefusal(
        "\(file) was written by the model \(modelOfLast), not \(model).")
    }
    if let foreign = methods.subtracting(names).sorted().first {
      throw ResumeRefusal(
        "\(file) holds results of the method \(foreign), which this run does not compute.")
    }
    if let missing = Set(names).subtracting(methodsOfEveryEarlier ?? Set(names)).sorted().first {
      throw ResumeRefusal(
        "\(file) was written without the method \(missing), which this run computes.")
    }
  }

  /// Refuses to continue an output written with another --shard: its last example must
  /// lie in a window of `shard`.
  public func check(shard: ShardSpec) throws {
    if lastIndex >= 0 && !shard.owns(window: lastIndex / DatasetPass.windowSize) {
      throw ResumeRefusal(
        "\(file) holds example \(lastIndex), which shard \(shard.index)/\(shard.count) does not compute.")
    }
  }

  /// Refuses to continue an output of another data set: the record at `lastIndex` must
  /// have the id the output gives it.
  public func check(index: Int, id: String) throws {
    if index == lastIndex, let idOfLast, idOfLast != id {
      throw ResumeRefusal(
        "\(file) gives example \(index) the id '\(idOfLast)' but the input's record \(index) has '\(id)'.")
    }
  }

  /// Whether the line for example `index` and `method` is already in the file.
  public func isDone(index: Int, method: String) -> Bool {
    index < lastIndex || (index == lastIndex && methodsOfLast.contains(method))
  }
}

/// An append-only JSON Lines file: each line is written whole in one system call and
/// is complete on disk before the next one starts, so a killed run leaves at most a
/// trailing partial line, which `open` cuts once `inspect` has found the file to be xai's.
public final class AppendOnlyLines: @unchecked Sendable {
  /// The file.
  public let path: String
  /// Whether `open` cut a partial last line (a killed run) off the file.
  public private(set) var cutPartialLine = false
  private let handle: FileHandle

  private init(path: String, handle: FileHandle) {
    self.path = path
    self.handle = handle
  }

  /// The lines a file holds: explanations (`{"index": …}`, scanned for resuming) or the
  /// failures of `--errors` (`{"line": …}`).
  public enum Kind: Sendable {
    /// Explanations, one per example and method.
    case results
    /// Failures of `--errors`.
    case errors

    /// How every line of the kind starts.
    var start: String { self == .results ? #"{"index": "# : #"{"line": "# }
  }

  /// What an existing file holds, found before anything in it is changed.
  public struct Inspection: Sendable {
    /// The file.
    public let path: String
    /// Whether it is kept (resumed) rather than emptied.
    public let keep: Bool
    /// How far the file got (`.start` when not kept or not scanned).
    public let point: ResumePoint
    /// Where its complete lines end, when a partial last line follows.
    public let completeBytes: UInt64?
  }

  /// Opens `path` for appending, emptied: for a new output.
  public static func create(_ path: String) throws -> AppendOnlyLines {
    try open(inspect(path, keep: false, kind: .results))
  }

  /// Reads what `path` holds without changing it; with `keep`, checks that it is xai's
  /// and (for results) where it has got to. Nothing is cut or emptied until `open`.
  public static func inspect(_ path: String, keep: Bool, kind: Kind) throws -> Inspection {
    guard keep, FileManager.default.fileExists(atPath: path) else {
      return Inspection(path: path, keep: false, point: .start, completeBytes: nil)
    }
    let (point, completeBytes) = try scan(path, kind: kind)
    return Inspection(path: path, keep: true, point: point, completeBytes: completeBytes)
  }

  /// Opens an inspected file for appending: empties it unless kept, or cuts its partial
  /// last line (a run killed mid-write).
  public static func open(_ inspection: Inspection) throws -> AppendOnlyLines {
    let path = inspection.path
    if !inspection.keep {
      guard FileManager.default.createFile(atPath: path, contents: nil) else {
        throw OutputError.cannotCreate(path: path, reason: "the file cannot be created")
      }
    }
    guard let handle = FileHandle(forWritingAtPath: path) else {
      throw OutputError.cannotCreate(path: path, reason: "the file cannot be opened for writing")
    }
    do {
      if let end = inspection.completeBytes { try handle.truncate(atOffset: end) }
      try handle.seekToEnd()
    } catch {
      throw OutputError.writeFailed(path: path, reason: error.localizedDescription)
    }
    let lines = AppendOnlyLines(path: path, handle: handle)
    lines.cutPartialLine = inspection.completeBytes != nil
    return lines
  }

  /// Checks that every line is one of `kind` (a partial last line: that it starts like
  /// one) and, for results, reads the index, id, model and method of every complete line.
  private static func scan(_ path: String, kind: Kind) throws -> (ResumePoint, UInt64?) {
    guard let handle = FileHandle(forReadingAtPath: path) else {
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
    let what = kind == .results ? "xai batch output" : "an xai errors file"
    if partial {
      let start = Array(kind.start.utf8)
      try handle.seek(toOffset: end)
      let tail = try handle.read(upToCount: start.count) ?? Data()
      guard tail.elementsEqual(start.prefix(tail.count)) else {
        throw ResumeRefusal("\(path) does not end in a line of \(what), so the run cannot be resumed.")
      }
    }
    var point = ResumePoint.start
    point.file = path
    let lines = try LineReader(path: path)
    var pending: (bytes: ArraySlice<UInt8>, number: Int)?
    func scan(_ bytes: ArraySlice<UInt8>, number: Int) throws {
      point.lines += 1
      let source = "\(path) line \(number)"
      func refuse() -> ResumeRefusal {
        ResumeRefusal("\(source) is not a line of \(what), so the run cannot be resumed.")
      }
      guard bytes.starts(with: kind.start.utf8) else { throw refuse() }
      guard kind == .results else { return }
      guard let text = String(validating: bytes, as: UTF8.self),
        let node = try? JSONDocument.parse(text, source: source).rootNode,
        let index = node["index"]?.int, let method = node["method"]?.string
      else { throw refuse() }
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
      point.modelOfLast = node["model"]?.string
      point.methodsOfLast.insert(method)
      point.methods.insert(method)
    }
    // The last line is only scanned when it is complete.
    while let bytes = try lines.nextLine() {
      if let pending { try scan(pending.bytes, number: pending.number) }
      pending = (bytes, lines.lineNumber)
    }
    if let pending, !partial { try scan(pending.bytes, number: pending.number) }
    return (point, partial ? end : nil)
  }

  /// Appends `line` and a line break in one write.
  public func append(_ line: String) throws {
    do {
      try handle.write(contentsOf: Data((line + "\n").utf8))
    } catch {
      throw OutputError.writeFailed(path: path, reason: error.localizedDescription)
    }
  }

  deinit { try? handle.close() }
}
