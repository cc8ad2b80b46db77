import Foundation

/// One graph of a graph data set.
public struct GraphRecord: Sendable {
  /// 0-based position among the graphs of the file.
  public let index: Int
  /// 1-based line where the graph starts.
  public let line: Int
  /// The graph.
  public let graph: Graph
}

/// Streams a graph data set: JSON Lines (a graph object per line) or an SD file
/// (molecules separated by `$$$$`). A graph that cannot be read is returned as a
/// failure naming its line.
public final class GraphRecordReader {
  private let lines: LineReader
  private let isSDF: Bool
  private var nextIndex = 0

  /// Opens `path` (`.sdf`/`.sd`/`.mol` as molecules, anything else as JSON Lines).
  public init(path: String) throws {
    lines = try LineReader(path: path)
    let lowered = path.lowercased()
    isSDF = lowered.hasSuffix(".sdf") || lowered.hasSuffix(".sd") || lowered.hasSuffix(".mol")
  }

  /// The file read, for messages.
  public var path: String { lines.path }

  /// The next graph (or the failure to read it), or nil at the end of the file.
  public func next() throws -> RecordRead<GraphRecord>? {
    let start = nextIndex
    guard let result = isSDF ? try nextMolecule() : try nextJSONGraph() else { return nil }
    return RecordRead(index: start, line: lastStart, result: result)
  }

  private var lastStart = 0

  private func nextJSONGraph() throws -> Result<GraphRecord, ModelError>? {
    while let bytes = try lines.nextLine() {
      guard bytes.contains(where: { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }) else { continue }
      defer { nextIndex += 1 }
      let line = lines.lineNumber
      lastStart = line
      let source = "\(lines.path) line \(line)"
      guard let text = String(validating: bytes, as: UTF8.self) else {
        return .failure(.badInput("\(source) is not valid UTF-8."))
      }
      do {
        let graph = try GraphFile.graph(
          from: JSONDocument.parse(text, source: source).rootNode, source: source)
        return .success(GraphRecord(index: nextIndex, line: line, graph: graph))
      } catch let error as ModelError {
        return .failure(error)
      }
    }
    return nil
  }

  private func nextMolecule() throws -> Result<GraphRecord, ModelError>? {
    var record: [String] = []
    var startLine = 0
    var invalid: Int?
    while let bytes = try lines.nextLine() {
      if startLine == 0 { startLine = lines.lineNumber }
      guard let text = String(validating: bytes, as: UTF8.self) else {
        invalid = invalid ?? lines.lineNumber
        continue
      }
      if text.hasPrefix("$$$$") { break }
      record.append(text)
    }
    guard startLine != 0, record.contains(where: { !$0.trimmingCharacters(in: .whitespaces).isEmpty }) else {
      return nil
    }
    defer { nextIndex += 1 }
    lastStart = startLine
    if let invalid { return .failure(.badInput("\(lines.path) line \(invalid) is not valid UTF-8.")) }
    do {
      let (graph, _) = try MolfileReader.parseRecord(
        record + ["$$$$"], from: 0, source: lines.path, index: nextIndex, firstLine: startLine)
      return .success(GraphRecord(index: nextIndex, line: startLine, graph: graph))
    } catch let error as ModelError {
      return .failure(error)
    }
  }
}
