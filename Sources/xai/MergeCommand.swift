import ArgumentParser
import Foundation
import Models

/// `xai merge`: shards of a batch run back into one file in input order.
struct MergeCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "merge",
    abstract: "Merge the shard outputs of 'xai batch --shard I/N' into one file in input order.",
    discussion: """
      Reads every shard as a stream and interleaves their lines by example index, so \
      that the result is byte for byte the output of one unsharded run. Refuses shards \
      that end in a cut-off line (resume them first), that are out of order, or that \
      hold the same example twice.

      Example:
        xai merge out.jsonl shard-0.jsonl shard-1.jsonl shard-2.jsonl shard-3.jsonl
      """)

  @Argument(help: "The merged file to write.")
  var output: String

  @Argument(help: "The shard files.")
  var shards: [String]

  func validate() throws {
    if shards.isEmpty { throw ValidationError("Give the shard files after the output file.") }
    if shards.contains(output) { throw ValidationError("The output \(output) is also given as a shard.") }
  }

  func run() throws {
    try reportingErrors {
      try checkWritable(output, inputs: shards)
      if FileManager.default.fileExists(atPath: output) {
        throw ValidationError("\(output) already exists; remove it or give another name for the merged file.")
      }
      let readers = try shards.map { try ShardReader(path: $0) }
      let temporary = output + ".merging-\(ProcessInfo.processInfo.processIdentifier)"
      let out = try AppendOnlyLines.create(temporary)
      var lines = 0
      do {
        var heads = try readers.map { try $0.nextExample() }
        var lastIndex = -1
        while let (reader, example) = heads.enumerated().compactMap({ offset, head in
          head.map { (offset, $0) }
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
      printError("xai: merged \(lines) lines from \(shards.count) shards into \(output).")
    }
  }
}

/// Reads one shard example by example: all consecutive lines with the same index.
private final class ShardReader {
  let path: String
  private let lines: LineReader
  private var pending: (index: Int, line: String)?
  private var lastIndex = -1

  init(path: String) throws {
    self.path = path
    lines = try LineReader(path: path)
    if let handle = FileHandle(forReadingAtPath: path) {
      defer { try? handle.close() }
      let size = try handle.seekToEnd()
      if size > 0 {
        try handle.seek(toOffset: size - 1)
        if handle.readData(ofLength: 1).first != UInt8(ascii: "\n") {
          throw ModelError.badInput(
            "\(path) ends in a cut-off line; finish it with 'xai batch --resume' first.")
        }
      }
    }
    pending = try readLine()
  }

  private func readLine() throws -> (index: Int, line: String)? {
    while let bytes = try lines.nextLine() {
      guard !bytes.isEmpty else { continue }
      let source = "\(path) line \(lines.lineNumber)"
      guard let text = String(validating: bytes, as: UTF8.self),
        let index = try? JSONDocument.parse(text, source: source).rootNode["index"]?.int
      else { throw ModelError.badInput("\(source) is not a line of xai batch output.") }
      guard index >= lastIndex else {
        throw ModelError.badInput(
          "\(source): example \(index) comes after \(lastIndex); the shard is out of order.")
      }
      lastIndex = index
      return (index, text)
    }
    return nil
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
