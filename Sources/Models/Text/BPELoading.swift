import Foundation

extension BPETokenizer {
  /// A tokenizer from a Hugging Face `tokenizer.json` whose model is BPE. The normalizer,
  /// pre-tokenizer, post-processor and decoder sections are read and checked: a component xai
  /// does not run exactly as Hugging Face does is refused by name, never skipped.
  /// `truncation` and `padding` are not applied (the caller cuts to the model's positions).
  public init(tokenizerJSON path: String) throws {
    let root = try JSONDocument.read(path).rootNode
    try self.init(tokenizerJSON: root, source: path)
  }

  /// A tokenizer from the parsed `tokenizer.json` `root`; `source` names it in errors.
  public init(tokenizerJSON root: JSONNode, source path: String) throws {
    let reader = Reader(file: path)
    guard root.isObject else { throw reader.error("", "is not a JSON object") }
    guard let model = root["model"], model.isObject else { throw reader.error("model", "is missing") }
    let type = try reader.optionalString(model["type"]) ?? (model["merges"] != nil ? "BPE" : "")
    guard type == "BPE" else {
      throw reader.error("model.type", "is '\(type)'; xai reads BPE models here (WordPiece: a BERT folder)")
    }
    if let dropout = model["dropout"], !dropout.isNull, dropout.double != 0 {
      throw reader.error("model.dropout", "is \(dropout.literal); xai does not drop merges")
    }
    for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
      if let value = try reader.optionalString(model[key]), !value.isEmpty {
        throw reader.error("model.\(key)", "is '\(value)'; xai reads BPE models without one")
      }
    }
    // Vocabulary: token → id, ids 0…n−1 each once.
    guard let vocab = model["vocab"], vocab.isObject else { throw reader.error("model.vocab", "is missing") }
    let vocabulary = try Self.vocabulary(vocab, file: path, key: "model.vocab.")
    // Merges: "a b" strings (older files) or [a, b] pairs.
    guard let mergeList = model["merges"], mergeList.isArray else {
      throw reader.error("model.merges", "is missing")
    }
    var merges: [(String, String)] = []
    merges.reserveCapacity(mergeList.count)
    if let pairs = mergeList.stringPairElements {
      merges = pairs
    } else if let strings = mergeList.stringElements, let split = Self.splitMerges(strings) {
      merges = split
    } else {
      try Self.readMerges(mergeList, into: &merges, reader: reader)
    }
    var configuration = Configuration()
    configuration.unknownToken = try reader.optionalString(model["unk_token"])
    configuration.byteFallback = try reader.bool(model["byte_fallback"]) ?? false
    configuration.fuseUnknown = try reader.bool(model["fuse_unk"]) ?? false
    configuration.ignoreMerges = try reader.bool(model["ignore_merges"]) ?? false
    // Added tokens.
    var added: [BPEAddedToken] = []
    if let list = root["added_tokens"], !list.isNull {
      guard list.isArray else { throw reader.error("added_tokens", "is not a list") }
      for (index, item) in list.elements.enumerated() {
        let place = "added_tokens[\(index)]"
        guard let content = item["content"]?.string else { throw reader.error("\(place).content", "is missing") }
        guard let id = item["id"]?.int else { throw reader.error("\(place).id", "is missing") }
        let special = try reader.bool(item["special"]) ?? false
        added.append(
          BPEAddedToken(
            content: content, id: id, special: special, lstrip: try reader.bool(item["lstrip"]) ?? false,
            rstrip: try reader.bool(item["rstrip"]) ?? false,
            singleWord: try reader.bool(item["single_word"]) ?? false,
            normalized: try reader.bool(item["normalized"]) ?? !special))
      }
    }
    configuration.normalizers = try reader.normalizers(root["normalizer"], key: "normalizer")
    configuration.preTokenizers = try reader.preTokenizers(root["pre_tokenizer"], key: "pre_tokenizer")
    configuration.decoders = try reader.decoders(root["decoder"], key: "decoder")
    let contentIds = Dictionary(added.map { ($0.content, $0.id) }, uniquingKeysWith: { first, _ in first })
    (configuration.prefix, configuration.suffix) = try reader.postProcessor(
      root["post_processor"], key: "post_processor", ids: contentIds, vocabulary: vocabulary)
    try self.init(
      vocabulary: vocabulary, merges: merges, addedTokens: added, configuration: configuration, source: path)
  }

  /// Token strings by id from a `{token: id}` object: ids 0…n−1, each once.
  static func vocabulary(_ vocab: JSONNode, file: String, key prefix: String) throws -> [String] {
    guard let members = vocab.integerMembers else {
      for name in vocab.keys where vocab[name]?.int == nil {
        throw ModelError.badConfig(file: file, key: prefix + name, reason: "is not an id")
      }
      throw ModelError.badConfig(file: file, key: prefix.isEmpty ? "vocab" : String(prefix.dropLast()), reason: "is not an object of ids")
    }
    var byId = [String?](repeating: nil, count: members.count)
    for (name, id) in members {
      guard byId.indices.contains(id) else {
        throw ModelError.badConfig(
          file: file, key: prefix + name, reason: "is \(id), outside 0…\(members.count - 1) (\(members.count) tokens)")
      }
      if let other = byId[id] {
        throw ModelError.badConfig(file: file, key: prefix + name, reason: "is \(id), already the id of \(quoted(other))")
      }
      byId[id] = name
    }
    return byId.map { $0 ?? "" }
  }

  /// "a b" merges cut at their first space; nil when one has no space.
  static func splitMerges(_ strings: [String]) -> [(String, String)]? {
    var merges: [(String, String)] = []
    merges.reserveCapacity(strings.count)
    for text in strings {
      let scalars = text.unicodeScalars
      guard let space = scalars.firstIndex(of: " ") else { return nil }
      merges.append((String(scalars[..<space]), String(scalars[scalars.index(after: space)...])))
    }
    return merges
  }

  /// The merges one by one, to name the first one that is neither form.
  fileprivate static func readMerges(_ mergeList: JSONNode, into merges: inout [(String, String)], reader: Reader) throws {
    for (index, element) in mergeList.elements.enumerated() {
      if let text = element.string {
        let scalars = text.unicodeScalars
        guard let space = scalars.firstIndex(of: " ") else {
          throw reader.error("model.merges[\(index)]", "is \(Self.quoted(text)), not two tokens separated by a space")
        }
        merges.append((String(scalars[..<space]), String(scalars[scalars.index(after: space)...])))
      } else if element.count == 2, let left = element.elements[0].string, let right = element.elements[1].string {
        merges.append((left, right))
      } else {
        throw reader.error("model.merges[\(index)]", "is neither \"a b\" nor [\"a\", \"b\"]")
      }
    }
  }

  /// GPT-2's `vocab.json` (token → id) and `merges.txt` (a `#version` line, then one "a b"
  /// pair a line), read as Hugging Face's `GPT2TokenizerFast` does: byte-level with GPT-2's
  /// split, `<|endoftext|>` (when in the vocabulary) a special added token.
  public init(vocabJSON vocabPath: String, mergesTXT mergesPath: String) throws {
    let vocab = try JSONDocument.read(vocabPath).rootNode
    guard vocab.isObject else { throw ModelError.badConfig(file: vocabPath, key: "vocab", reason: "is not a JSON object") }
    let vocabulary = try Self.vocabulary(vocab, file: vocabPath, key: "")
    let data = try readFileContents(mergesPath)
    guard let text = String(data: data, encoding: .utf8) else {
      throw ModelError.badConfig(file: mergesPath, key: "merges", reason: "is not UTF-8 text")
    }
    // Split on scalars: "\r\n" is one Character, which a String split would not cut.
    var lines = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).map {
      $0.last == "\r" ? $0.dropLast() : $0
    }
    if lines.last?.isEmpty == true { lines.removeLast() }
    var merges: [(String, String)] = []
    for (number, line) in lines.enumerated() where !String(line).hasPrefix("#version") {
      let parts = line.split(separator: " ", omittingEmptySubsequences: false)
      guard parts.count == 2 else {
        throw ModelError.badConfig(
          file: mergesPath, key: "line \(number + 1)", reason: "is not two tokens separated by one space")
      }
      merges.append((String(parts[0]), String(parts[1])))
    }
    let endOfText = "<|endoftext|>"
    let added = vocabulary.firstIndex(of: endOfText).map { [BPEAddedToken(content: endOfText, id: $0)] } ?? []
    try self.init(
      vocabulary: vocabulary, merges: merges, addedTokens: added, configuration: .byteLevel(.gpt2),
      source: "\(vocabPath) and \(mergesPath)")
  }
}

/// Checked reads of tokenizer.json sections, each failure one `ModelError` naming file and key.
fileprivate struct Reader {
  let file: String

  func error(_ key: String, _ reason: String) -> ModelError {
    .badConfig(file: file, key: key.isEmpty ? "(root)" : key, reason: reason)
  }

  func optionalString(_ node: JSONNode?) throws -> String? {
    guard let node, !node.isNull else { return nil }
    guard let value = node.string else { throw error(node.path, "is not a string") }
    return value
  }

  func bool(_ node: JSONNode?) throws -> Bool? {
    guard let node, !node.isNull else { return nil }
    guard let value = node.bool else { throw error(node.path, "is not true or false") }
    return value
  }

  func type(_ node: JSONNode, _ key: String) throws -> String {
    guard node.isObject else { throw error(key, "is not an object") }
    guard let type = node["type"]?.string else { throw error("\(key).type", "is missing") }
    return type
  }

  /// A single character (Metaspace's replacement, Strip's content).
  func character(_ node: JSONNode?, _ key: String, default value: Unicode.Scalar? = nil) throws -> Unicode.Scalar {
    guard let node, !node.isNull else {
      if let value { return value }
      throw error(key, "is missing")
    }
    guard let text = node.string, text.unicodeScalars.count == 1 else { throw error(key, "is not one character") }
    return text.unicodeScalars.first!
  }

  /// A `{"String": "…"}` pattern (Replace); regular expressions are refused.
  func stringPattern(_ node: JSONNode?, _ key: String) throws -> String {
    guard let node, node.isObject else { throw error(key, "is missing") }
    if let text = node["String"]?.string { return text }
    if node["Regex"] != nil { throw error(key, "is a regular expression; xai replaces plain strings only") }
    throw error(key, "is not a {\"String\": …} pattern")
  }

  func list(_ node: JSONNode, _ name: String, _ key: String) throws -> [JSONNode] {
    guard let items = node[name], items.isArray else { throw error("\(key).\(name)", "is not a list") }
    return items.elements
  }

  func normalizers(_ node: JSONNode?, key: String) throws -> [BPENormalizer] {
    guard let node, !node.isNull else { return [] }
    let type = try type(node, key)
    switch type {
    case "Sequence":
      return try list(node, "normalizers", key).enumerated().flatMap { index, item in
        try normalizers(item, key: "\(key).normalizers[\(index)]")
      }
    case "NFC": return [.nfc]
    case "NFD": return [.nfd]
    case "NFKC": return [.nfkc]
    case "NFKD": return [.nfkd]
    case "Prepend":
      guard let prefix = node["prepend"]?.string else { throw error("\(key).prepend", "is missing") }
      return [.prepend(prefix)]
    case "Replace":
      let pattern = try stringPattern(node["pattern"], "\(key).pattern")
      guard let content = node["content"]?.string else { throw error("\(key).content", "is missing") }
      return [.replace(pattern, with: content)]
    default:
      throw error("\(key).type", "is '\(type)', a normalizer xai does not run (it runs NFC, NFD, NFKC, NFKD, Prepend, Replace and Sequence)")
    }
  }

  func preTokenizers(_ node: JSONNode?, key: String) throws -> [BPEPreTokenizer] {
    guard let node, !node.isNull else { return [] }
    let type = try type(node, key)
    switch type {
    case "Sequence":
      return try list(node, "pretokenizers", key).enumerated().flatMap { index, item in
        try preTokenizers(item, key: "\(key).pretokenizers[\(index)]")
      }
    case "ByteLevel":
      return [
        .byteLevel(
          addPrefixSpace: try bool(node["add_prefix_space"]) ?? true, useRegex: try bool(node["use_regex"]) ?? true)
      ]
    case "Split":
      guard let pattern = node["pattern"], pattern.isObject else { throw error("\(key).pattern", "is missing") }
      guard let regex = pattern["Regex"]?.string else {
        throw error("\(key).pattern", "is not a regular expression xai knows (it knows GPT-2's, Llama 3's and Qwen2's)")
      }
      guard let known = SplitPattern(regex: regex) else {
        throw error(
          "\(key).pattern.Regex", "is \(BPETokenizer.quoted(regex)), not GPT-2's, Llama 3's or Qwen2's pattern")
      }
      let behavior = node["behavior"]?.string ?? ""
      guard behavior == "Isolated" else {
        throw error("\(key).behavior", "is '\(behavior)'; xai splits with behavior Isolated only")
      }
      if try bool(node["invert"]) == true { throw error("\(key).invert", "is true; xai does not invert splits") }
      return [.split(known)]
    case "Digits":
      return [.digits(individual: try bool(node["individual_digits"]) ?? false)]
    case "Metaspace":
      let replacement = try character(node["replacement"], "\(key).replacement")
      return [
        .metaspace(
          replacement: replacement, prepend: try prependScheme(node, key),
          split: try bool(node["split"]) ?? true)
      ]
    default:
      throw error("\(key).type", "is '\(type)', a pre-tokenizer xai does not run (it runs ByteLevel, Split, Digits, Metaspace and Sequence)")
    }
  }

  /// `prepend_scheme`, or the older `add_prefix_space` (true: always).
  func prependScheme(_ node: JSONNode, _ key: String) throws -> PrependScheme {
    if let name = try optionalString(node["prepend_scheme"]) {
      guard let scheme = PrependScheme(rawValue: name) else {
        throw error("\(key).prepend_scheme", "is '\(name)', not always, first or never")
      }
      return scheme
    }
    return try bool(node["add_prefix_space"]) ?? true ? .always : .never
  }

  func decoders(_ node: JSONNode?, key: String) throws -> [BPEDecoder] {
    guard let node, !node.isNull else { return [] }
    let type = try type(node, key)
    switch type {
    case "Sequence":
      return try list(node, "decoders", key).enumerated().flatMap { index, item in
        try decoders(item, key: "\(key).decoders[\(index)]")
      }
    case "ByteLevel": return [.byteLevel]
    case "ByteFallback": return [.byteFallback]
    case "Fuse": return [.fuse]
    case "Replace":
      let pattern = try stringPattern(node["pattern"], "\(key).pattern")
      guard let content = node["content"]?.string else { throw error("\(key).content", "is missing") }
      return [.replace(pattern, with: content)]
    case "Strip":
      let content = try character(node["content"], "\(key).content")
      guard let start = node["start"]?.int, let stop = node["stop"]?.int, start >= 0, stop >= 0,
        start < 1 << 20, stop < 1 << 20
      else {
        throw error(key, "needs start and stop counts")
      }
      return [.strip(content, start: start, stop: stop)]
    case "Metaspace":
      return [
        .metaspace(
          replacement: try character(node["replacement"], "\(key).replacement"), prepend: try prependScheme(node, key))
      ]
    default:
      throw error("\(key).type", "is '\(type)', a decoder xai does not run (it runs ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace and Sequence)")
    }
  }

  /// The ids the post-processor puts before and after a single text.
  func postProcessor(_ node: JSONNode?, key: String, ids: [String: Int], vocabulary: [String]) throws -> ([Int], [Int]) {
    guard let node, !node.isNull else { return ([], []) }
    let type = try type(node, key)
    switch type {
    case "ByteLevel":
      return ([], [])
    case "Sequence":
      var prefix: [Int] = []
      var suffix: [Int] = []
      for (index, item) in try list(node, "processors", key).enumerated() {
        let (before, after) = try postProcessor(item, key: "\(key).processors[\(index)]", ids: ids, vocabulary: vocabulary)
        prefix += before
        suffix = after + suffix
      }
      return (prefix, suffix)
    case "TemplateProcessing":
      let specials = node["special_tokens"]
      var prefix: [Int] = []
      var suffix: [Int] = []
      var seenSequence = false
      for (index, piece) in try list(node, "single", key).enumerated() {
        let place = "\(key).single[\(index)]"
        if let sequence = piece["Sequence"] {
          guard sequence["id"]?.string == "A", !seenSequence else {
            throw error(place, "is a sequence other than one $A")
          }
          seenSequence = true
        } else if let special = piece["SpecialToken"], let name = special["id"]?.string {
          var tokenIds: [Int] = []
          if let entry = specials?[name], let list = entry["ids"], list.isArray {
            for (position, element) in list.elements.enumerated() {
              guard let id = element.int else { throw error("\(key).special_tokens.\(name).ids[\(position)]", "is not an id") }
              tokenIds.append(id)
            }
          } else if let id = ids[name] ?? vocabulary.firstIndex(of: name) {
            tokenIds = [id]
          } else {
            throw error(place, "names \(BPETokenizer.quoted(name)), which is no token")
          }
          if seenSequence { suffix += tokenIds } else { prefix += tokenIds }
        } else {
          throw error(place, "is neither a Sequence nor a SpecialToken")
        }
      }
      guard seenSequence else { throw error("\(key).single", "has no $A") }
      return (prefix, suffix)
    default:
      throw error("\(key).type", "is '\(type)', a post-processor xai does not run (it runs ByteLevel, TemplateProcessing and Sequence)")
    }
  }
}
