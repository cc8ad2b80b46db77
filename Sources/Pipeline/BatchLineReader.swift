import Foundation
import Models
import Render

/// Reads a JSON Lines file that xai wrote (batch output or an `--errors` file) line by
/// line as a stream, each line parsed once: the one reader behind merging shards, the
/// errors index and the data-set page of a saved run.
public final class BatchLineReader {
  /// The file.
  public let path: String
  private let lines: LineReader

  /// One parsed line: where it is, its text and its JSON.
  public struct Line {
    /// `path line N`, for messages.
    public let source: String
    /// The line without its line break.
    public let text: String
    /// The parsed object.
    public let node: JSONNode
  }

  /// Opens `path` (`-` is standard input).
  public init(path: String) throws {
    self.path = path
    lines = try LineReader(path: path)
  }

  /// The next non-empty line, parsed; nil at the end. A line that is not UTF-8 JSON is a
  /// data error naming it.
  public func next() throws -> Line? {
    while let bytes = try lines.nextLine() {
      guard !bytes.isEmpty else { continue }
      let source = "\(path) line \(lines.lineNumber)"
      guard let text = String(validating: bytes, as: UTF8.self) else {
        throw ModelError.badInput("\(source) is not valid UTF-8.")
      }
      return Line(source: source, text: text, node: try JSONDocument.parse(text, source: source).rootNode)
    }
    return nil
  }

  /// The rows of a text model's batch output, for the data-set page (`report --from`,
  /// `batch --report`).
  public static func rows(_ path: String) throws -> [DatasetRow] {
    let reader = try BatchLineReader(path: path)
    var rows: [DatasetRow] = []
    while let line = try reader.next() { rows.append(try DatasetRow(line: line.node, source: line.source)) }
    return rows
  }

  /// The largest example index in an errors file of an earlier run (-1: none or no file);
  /// lines without an index (unreadable records) are passed over, and reading stops at a
  /// line that is not JSON (a partial last line of a killed run).
  public static func lastIndex(ofErrors path: String) throws -> Int {
    guard FileManager.default.fileExists(atPath: path) else { return -1 }
    let reader = try BatchLineReader(path: path)
    var last = -1
    while let line = try? reader.next() {
      if let index = line.node["index"]?.int { last = max(last, index) }
    }
    return last
  }
}

/// Shards of one batch run put back into one file in input order: every shard is read as a
/// stream and their examples interleaved by index, so that the result is byte for byte the
/// output of an unsharded run.
public enum ShardMerge {
  /// Merges `shards` into the new file `output` (written under a temporary name and renamed
  /// into place, so a failed merge leaves nothing); returns the number of lines. Refuses a
  /// shard that ends in a cut-off line, is out of order, or repeats another's example.
  public static func merge(_ shards: [String], into output: String) throws -> Int {
    let readers = try shards.map { try ShardReader(path: $0) }
    let temporary = output + ".merging-\(ProcessInfo.processInfo.processIdentifier)"
    let out = try AppendOnlyLines.create(temporary)
    var lines = 0
    do {
      var heads = try readers.map { try $0.nextExample() }
      var lastIndex = -1
      while let (reader, example) = heads.enumerated().compactMap({ offset, head in head.map { (offset, $0) }
      })
      .min(by: { $0.1.index < $1.1.index }) {
        guard example.index > lastIndex else {
          throw ModelError.badInput(
            "Example \(example.index) is in more than one shard (\(readers[reader].path) and another).")
        }
        lastIndex = example.index
        for line in example.lines { try out.append(line) }
        lines += example.lines.count
        heads[reader] = try readers[reader].nextExample()
      }
      guard rename(temporary, output) == 0 else {
        throw OutputError.cannotCreate(path: output, reason: String(cString: strerror(errno)))
      }
    } catch {
      try? FileManager.default.removeItem(atPath: temporary)
      throw error
    }
    return lines
  }
}

/// Reads one shard example by example: all consecutive lines with the same index.
final class ShardReader {
  let path: String
  private let reader: BatchLineReader
  private var pending: (index: Int, line: String)?
  private var lastIndex = -1

  init(path: String) throws {
    self.path = path
    if let handle = FileHandle(forReadingAtPath: path) {
      defer { try? handle.close() }
      let size = try handle.seekToEnd()
      if size > 0 {
        try handle.seek(toOffset: size - 1)
        if handle.readData(ofLength: 1).first != UInt8(ascii: "\n") {
          throw ModelError.badInput("\(path) ends in a cut-off line: the run that wrote it did not finish.")
        }
      }
    }
    reader = try BatchLineReader(path: path)
    pending = try readLine()
  }

  private func readLine() throws -> (index: Int, line: String)? {
    guard let line = try reader.next() else { return nil }
    guard let index = line.node["index"]?.int else {
      throw ModelError.badInput("\(line.source) is not a line of batch output (it has no index).")
    }
    guard index >= lastIndex else {
      throw ModelError.badInput(
        "\(line.source): example \(index) comes after \(lastIndex); the shard is out of order.")
    }
    lastIndex = index
    return (index, line.text)
  }

  /// The next example's lines, or nil at the end.
  func nextExample() throws -> (index: Int, lines: [String])? {
    guard let first = pending else { return nil }
    var lines = [first.line]
    pending = try readLine()
    while let next = pending, next.index == first.index {
      lines.append(next.line)
      pending = try readLine()
    }
    return (first.index, lines)
  }
}
