import Foundation

/// Reads graphs from JSON (`.json`, one graph), JSON Lines (`.jsonl`, one per line)
/// and MDL molfile/SDF (`.mol`, `.sdf`: atoms → nodes, bonds → edges).
public enum GraphFile {
  /// Every graph in `path`.
  public static func read(_ path: String) throws -> [Graph] {
    let data = try readFileContents(path)
    guard let text = String(data: data, encoding: .utf8) else {
      throw ModelError.badInput("\(path): the file is not UTF-8 text.")
    }
    let lowered = path.lowercased()
    if lowered.hasSuffix(".sdf") || lowered.hasSuffix(".mol") || lowered.hasSuffix(".sd") {
      return try MolfileReader.read(text, source: path)
    }
    if lowered.hasSuffix(".jsonl") || lowered.hasSuffix(".ndjson") {
      var graphs: [Graph] = []
      // Split on the scalar: "\r\n" is one Character, which a String split would not cut.
      for (index, scalars) in text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false)
        .enumerated()
      {
        let line = String(scalars)
        guard !line.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { continue }
        let source = "\(path) line \(index + 1)"
        let node = try JSONDocument.parse(line, source: source).rootNode
        graphs.append(try graph(from: node, source: source))
      }
      guard !graphs.isEmpty else { throw ModelError.badInput("\(path): the file holds no graph.") }
      return graphs
    }
    let root = try JSONDocument.parse(text, source: path).rootNode
    if root.isArray {
      return try root.elements.enumerated().map { try graph(from: $1, source: "\(path) graph \($0)") }
    }
    return [try graph(from: root, source: path)]
  }

  /// A graph from the graph JSON object (docs/formats.md, "Graph JSON").
  public static func graph(from node: JSONNode, source: String) throws -> Graph {
    guard node.isObject else { throw ModelError.badInput("\(source): a graph must be a JSON object.") }
    guard let value = node["num_nodes"], !value.isNull else {
      throw ModelError.badInput("\(source): key 'num_nodes' is missing.")
    }
    guard let count = value.int else {
      throw ModelError.badInput(
        "\(source): key 'num_nodes' is not an integer below 9·10¹⁵ (got \(value.literal.prefix(40))).")
    }
    guard count <= Graph.maximumNodes else {
      throw ModelError.badInput(
        "\(source): num_nodes \(value.literal.prefix(40)) exceeds the limit of \(Graph.maximumNodes) nodes."
      )
    }
    var edges: [(Int, Int)] = []
    if let list = node["edges"] {
      guard list.isArray else {
        throw ModelError.badInput("\(source): 'edges' must be a list of [u, v] pairs.")
      }
      for (index, pair) in list.elements.enumerated() {
        let ends = pair.elements.compactMap(\.int)
        guard pair.isArray, pair.count == 2, ends.count == 2 else {
          throw ModelError.badInput("\(source): edges[\(index)] is not a pair of node ids.")
        }
        edges.append((ends[0], ends[1]))
      }
    }
    var features: [[Float]]?
    if let rows = node["features"], !rows.isNull {
      guard let (shape, values) = rows.numericArray(), shape.count == 2, values.allSatisfy(\.isFinite) else {
        throw ModelError.badInput(
          "\(source): 'features' must be a list of equally long lists of finite numbers.")
      }
      features = (0..<shape[0]).map { Array(values[($0 * shape[1])..<(($0 + 1) * shape[1])]) }
    }
    var nodeLabels: [String]?
    if let labels = node["node_labels"], !labels.isNull {
      let names = labels.elements.compactMap(\.string)
      guard names.count == labels.count else {
        throw ModelError.badInput("\(source): 'node_labels' must be a list of strings.")
      }
      nodeLabels = names
    }
    var positions: [[Double]]?
    if let points = node["positions"], !points.isNull {
      guard let (shape, values) = points.numericArray(), shape.count == 2, shape[1] >= 2,
        values.allSatisfy(\.isFinite)
      else {
        throw ModelError.badInput("\(source): 'positions' must be a list of finite [x, y] pairs.")
      }
      positions = (0..<shape[0]).map { [Double(values[$0 * shape[1]]), Double(values[$0 * shape[1] + 1])] }
    }
    let label = node["label"]?.int
    return try Graph(
      nodeCount: count, edges: edges, features: features, label: label, nodeLabels: nodeLabels,
      positions: positions, name: node["name"]?.string, source: source)
  }
}

/// MDL molfile (V2000) and SD files: fixed-column counts, atom and bond blocks.
public enum MolfileReader {
  /// Every molecule of an SD file (or a single molfile) as a graph: atoms as nodes
  /// (element symbols, 2-D coordinates), bonds as edges; data items are skipped.
  public static func read(_ text: String, source: String) throws -> [Graph] {
    let lines = text.replacingOccurrences(of: "\r\n", with: "\n").split(
      separator: "\n", omittingEmptySubsequences: false
    ).map(String.init)
    var result: [Graph] = []
    var start = 0
    while start < lines.count {
      if lines[start...].allSatisfy({ $0.trimmingCharacters(in: .whitespaces).isEmpty }) { break }
      let (molecule, next) = try parseRecord(lines, from: start, source: source, index: result.count)
      result.append(molecule)
      start = next
    }
    guard !result.isEmpty else { throw ModelError.badInput("\(source): no molecule in the file.") }
    return result
  }

  static func field(_ line: String, _ range: Range<Int>) -> String {
    let characters = Array(line)
    guard range.lowerBound < characters.count else { return "" }
    return String(characters[range.lowerBound..<min(range.upperBound, characters.count)])
      .trimmingCharacters(in: .whitespaces)
  }

  /// The molecule starting at `lines[start]`; `firstLine` is the file line of `lines[0]`.
  static func parseRecord(_ lines: [String], from start: Int, source: String, index: Int, firstLine: Int = 1)
    throws -> (Graph, Int)
  {
    func fail(_ line: Int, _ what: String) -> ModelError {
      .badInput("\(source) line \(line + firstLine): \(what).")
    }
    let countsLine = start + 3
    guard countsLine < lines.count else {
      throw fail(min(countsLine, lines.count - 1), "the molfile ends before its counts line")
    }
    let counts = lines[countsLine]
    if counts.contains("V3000") { throw fail(countsLine, "V3000 molfiles are not supported (save as V2000)") }
    guard let atomCount = Int(field(counts, 0..<3)), let bondCount = Int(field(counts, 3..<6)),
      atomCount > 0, bondCount >= 0
    else { throw fail(countsLine, "the counts line does not give atom and bond numbers") }
    var symbols: [String] = []
    var positions: [[Double]] = []
    for atom in 0..<atomCount {
      let number = countsLine + 1 + atom
      guard number < lines.count else { throw fail(lines.count - 1, "the file ends inside the atom block") }
      let parts = lines[number].split(separator: " ", omittingEmptySubsequences: true)
      guard parts.count >= 4, let x = Double(parts[0]), let y = Double(parts[1]), Double(parts[2]) != nil,
        parts[3].allSatisfy({ $0.isLetter || $0 == "*" })
      else { throw fail(number, "atom \(atom + 1) is not 'x y z symbol'") }
      guard x.isFinite, y.isFinite, abs(x) < 1e6, abs(y) < 1e6 else {
        throw fail(number, "atom \(atom + 1) has a coordinate that is not a finite number below 10⁶ Å")
      }
      symbols.append(String(parts[3]))
      positions.append([x, y])
    }
    var edges: [(Int, Int)] = []
    for bond in 0..<bondCount {
      let number = countsLine + 1 + atomCount + bond
      guard number < lines.count else { throw fail(lines.count - 1, "the file ends inside the bond block") }
      guard let a = Int(field(lines[number], 0..<3)), let b = Int(field(lines[number], 3..<6)) else {
        throw fail(number, "bond \(bond + 1) does not name two atoms")
      }
      guard (1...atomCount).contains(a), (1...atomCount).contains(b) else {
        throw fail(number, "bond \(bond + 1) joins atom \(a) and \(b), but atoms are numbered 1…\(atomCount)")
      }
      edges.append((a - 1, b - 1))
    }
    var cursor = countsLine + 1 + atomCount + bondCount
    while cursor < lines.count {
      cursor += 1
      if lines[cursor - 1].hasPrefix("$$$$") { break }
    }
    let name = lines[start].trimmingCharacters(in: .whitespaces)
    let graph = try Graph(
      nodeCount: atomCount, edges: edges, nodeLabels: symbols, positions: positions,
      name: name.isEmpty ? "molecule \(index + 1)" : name, source: "\(source) molecule \(index + 1)")
    return (graph, cursor)
  }
}
