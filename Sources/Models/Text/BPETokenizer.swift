import Foundation

/// One entry of a tokenizer's added vocabulary (tokenizer.json's `added_tokens`): matched in
/// the text before anything else, longest first.
public struct BPEAddedToken: Sendable, Equatable {
  /// The token's text.
  public var content: String
  /// Its id.
  public var id: Int
  /// Whether it is special (dropped by `decode(_:skipSpecialTokens:)` with `true`).
  public var special: Bool
  /// Whether it takes the whitespace on its left.
  public var lstrip: Bool
  /// Whether it takes the whitespace on its right.
  public var rstrip: Bool
  /// Whether it only matches a whole word (no word character on either side).
  public var singleWord: Bool
  /// Whether it is matched in the normalized text rather than the original one.
  public var normalized: Bool

  /// An added token; by default special, matched in the original text, no options.
  public init(
    content: String, id: Int, special: Bool = true, lstrip: Bool = false, rstrip: Bool = false,
    singleWord: Bool = false, normalized: Bool = false
  ) {
    self.content = content
    self.id = id
    self.special = special
    self.lstrip = lstrip
    self.rstrip = rstrip
    self.singleWord = singleWord
    self.normalized = normalized
  }
}

/// One step of a tokenizer.json `normalizer`.
public enum BPENormalizer: Sendable, Equatable {
  /// Unicode normalization forms.
  case nfc, nfd, nfkc, nfkd
  /// Puts the string in front of a non-empty text (SentencePiece's `▁`).
  case prepend(String)
  /// Replaces every occurrence of the first string by the second.
  case replace(String, with: String)
}

/// One step of a tokenizer.json `decoder`, turning token strings back into text.
public enum BPEDecoder: Sendable, Equatable {
  /// GPT-2 table characters back to bytes, then UTF-8 (invalid sequences become U+FFFD).
  case byteLevel
  /// Replaces every occurrence of the first string by the second in each token.
  case replace(String, with: String)
  /// Runs of `<0xNN>` tokens become the text of their bytes (one U+FFFD per token when invalid).
  case byteFallback
  /// Joins all tokens into one.
  case fuse
  /// Removes up to `start` leading and `stop` trailing `content` characters from each token.
  case strip(Unicode.Scalar, start: Int, stop: Int)
  /// `replacement` back to spaces (dropped in the first token unless `prepend` is `never`).
  case metaspace(replacement: Unicode.Scalar, prepend: PrependScheme)
}

/// A byte-pair-encoding tokenizer as Hugging Face's `tokenizers` runs one: added tokens are
/// cut out first, the rest is normalized and pre-tokenized, each piece is split into
/// characters (GPT-2 table characters after a byte-level step) and merged pair by pair, the
/// lowest-ranked pair first. It serves byte-level models (GPT-2, Llama 3, Qwen2, SmolLM2) and
/// SentencePiece-style ones (Llama 2, TinyLlama, Mistral: `▁` for spaces, `<0xNN>` byte
/// fallback), built from plain data so that tokenizer.json, vocab.json + merges.txt and GGUF
/// metadata all feed it (see `BPETokenizer+Loading.swift`).
public struct BPETokenizer: Sendable {
  /// The pipeline around the merges.
  public struct Configuration: Sendable, Equatable {
    /// Normalizer steps, in order.
    public var normalizers: [BPENormalizer]
    /// Pre-tokenizer steps, in order.
    public var preTokenizers: [BPEPreTokenizer]
    /// Decoder steps, in order (none: tokens joined by spaces, as Hugging Face does).
    public var decoders: [BPEDecoder]
    /// The token for characters not in the vocabulary (none: they are dropped).
    public var unknownToken: String?
    /// Whether characters not in the vocabulary become their `<0xNN>` byte tokens.
    public var byteFallback: Bool
    /// Whether consecutive unknown characters become one unknown token.
    public var fuseUnknown: Bool
    /// Whether a piece found whole in the vocabulary skips the merges (Llama 3).
    public var ignoreMerges: Bool
    /// Ids put before and after the text when special tokens are added (the post-processor).
    public var prefix: [Int]
    /// See `prefix`.
    public var suffix: [Int]

    /// A configuration; every part defaults to none.
    public init(
      normalizers: [BPENormalizer] = [], preTokenizers: [BPEPreTokenizer] = [], decoders: [BPEDecoder] = [],
      unknownToken: String? = nil, byteFallback: Bool = false, fuseUnknown: Bool = false,
      ignoreMerges: Bool = false, prefix: [Int] = [], suffix: [Int] = []
    ) {
      self.normalizers = normalizers
      self.preTokenizers = preTokenizers
      self.decoders = decoders
      self.unknownToken = unknownToken
      self.byteFallback = byteFallback
      self.fuseUnknown = fuseUnknown
      self.ignoreMerges = ignoreMerges
      self.prefix = prefix
      self.suffix = suffix
    }

    /// The byte-level pipelines of the known model families.
    public static func byteLevel(_ split: ByteLevelSplit) -> Configuration {
      switch split {
      case .gpt2:
        Configuration(preTokenizers: [.byteLevel(addPrefixSpace: false, useRegex: true)], decoders: [.byteLevel])
      case .llama3:
        Configuration(
          preTokenizers: [.split(.llama3), .byteLevel(addPrefixSpace: false, useRegex: false)],
          decoders: [.byteLevel], ignoreMerges: true)
      case .qwen2:
        Configuration(
          normalizers: [.nfc], preTokenizers: [.split(.qwen2), .byteLevel(addPrefixSpace: false, useRegex: false)],
          decoders: [.byteLevel])
      case .smollm:
        Configuration(
          preTokenizers: [.digits(individual: true), .byteLevel(addPrefixSpace: false, useRegex: true)],
          decoders: [.byteLevel])
      }
    }

    /// Llama 2 / TinyLlama's SentencePiece-style pipeline: `▁` in front (when
    /// `addSpacePrefix`) and for every space, `<0xNN>` byte fallback, unknown characters fused.
    public static func sentencePiece(unknownToken: String?, addSpacePrefix: Bool = true) -> Configuration {
      Configuration(
        normalizers: (addSpacePrefix ? [.prepend("\u{2581}")] : []) + [.replace(" ", with: "\u{2581}")],
        decoders: [.replace("\u{2581}", with: " "), .byteFallback, .fuse]
          + (addSpacePrefix ? [.strip(" ", start: 1, stop: 0)] : []),
        unknownToken: unknownToken, byteFallback: true, fuseUnknown: true)
    }
  }

  /// How the known byte-level families split text.
  public enum ByteLevelSplit: String, Sendable, CaseIterable {
    /// GPT-2's pattern.
    case gpt2
    /// Llama 3's pattern, whole pieces found in the vocabulary kept (`ignore_merges`).
    case llama3
    /// Qwen2's pattern after NFC.
    case qwen2
    /// SmolLM / StarCoder: every digit alone, then GPT-2's pattern.
    case smollm
  }

  /// Token strings by id (the model vocabulary; added tokens outside it are in `addedTokens`).
  public let vocabulary: [String]
  /// The added vocabulary.
  public let addedTokens: [BPEAddedToken]
  /// The pipeline.
  public let configuration: Configuration
  /// Where the tokenizer came from, for messages.
  public let source: String
  /// Number of merges.
  public let mergeCount: Int

  /// Ids of whole vocabulary strings.
  let ids: [ScalarKey: Int32]
  /// Ids of one-character vocabulary strings below U+0400 (-1: none), and of the others.
  let lowScalarIds: [Int32]
  let highScalarIds: [UInt32: Int32]
  /// (left id << 32 | right id) → (rank << 32 | merged id).
  let merges: [UInt64: UInt64]
  /// The `<0xNN>` token of each byte (-1: none).
  let byteTokenIds: [Int32]
  let unknownId: Int32?
  let rawMatcher: AddedTokenMatcher
  let normalizedMatcher: AddedTokenMatcher
  /// Added tokens by id, and the contents of the special ones.
  let addedById: [Int: String]
  let specialContents: Set<ScalarKey>

  /// A tokenizer from plain data: `vocabulary` (token string of each id 0…n−1), `merges`
  /// (pairs of token strings, rank = position; a pair listed twice keeps its last rank, as
  /// Hugging Face does), `addedTokens` (ids in the vocabulary or past it) and the pipeline.
  /// Every merge must name two tokens whose concatenation is a token; `source` names the
  /// file in errors.
  public init(
    vocabulary: [String], merges: [(String, String)], addedTokens: [BPEAddedToken] = [],
    configuration: Configuration, source: String
  ) throws {
    guard !vocabulary.isEmpty else {
      throw ModelError.badConfig(file: source, key: "vocab", reason: "is empty")
    }
    guard vocabulary.count < Int(Int32.max / 2) else {
      throw ModelError.badConfig(file: source, key: "vocab", reason: "has \(vocabulary.count) tokens, too many")
    }
    try Self.check(configuration, source: source)
    var ids: [ScalarKey: Int32] = [:]
    ids.reserveCapacity(vocabulary.count)
    var low = [Int32](repeating: -1, count: 0x400)
    var high: [UInt32: Int32] = [:]
    for (id, token) in vocabulary.enumerated() {
      let scalars = token.scalarValues
      if let earlier = ids.updateValue(Int32(id), forKey: ScalarKey(scalars)) {
        throw ModelError.badConfig(
          file: source, key: "vocab", reason: "lists \(Self.quoted(token)) twice (ids \(earlier) and \(id))")
      }
      if scalars.count == 1 {
        if scalars[0] < 0x400 { low[Int(scalars[0])] = Int32(id) } else { high[scalars[0]] = Int32(id) }
      }
    }
    var mergeTable: [UInt64: UInt64] = [:]
    mergeTable.reserveCapacity(merges.count)
    for (rank, (left, right)) in merges.enumerated() {
      let leftScalars = left.scalarValues
      let rightScalars = right.scalarValues
      func id(_ scalars: [UInt32], _ text: String) throws -> Int32 {
        guard let id = ids[ScalarKey(scalars)] else {
          throw ModelError.badConfig(
            file: source, key: "merges[\(rank)]", reason: "names \(Self.quoted(text)), which is not in the vocabulary")
        }
        return id
      }
      let a = try id(leftScalars, left)
      let b = try id(rightScalars, right)
      let merged = try id(leftScalars + rightScalars, left + right)
      mergeTable[UInt64(UInt32(a)) << 32 | UInt64(UInt32(b))] = UInt64(rank) << 32 | UInt64(UInt32(merged))
    }
    var byteTokens = [Int32](repeating: -1, count: 256)
    for byte in 0..<256 {
      byteTokens[byte] = ids[ScalarKey(Self.byteTokenName(UInt8(byte)).scalarValues)] ?? -1
    }
    var unknown: Int32?
    if let name = configuration.unknownToken {
      guard let id = ids[ScalarKey(name.scalarValues)] else {
        throw ModelError.badConfig(
          file: source, key: "model.unk_token", reason: "names \(Self.quoted(name)), which is not in the vocabulary")
      }
      unknown = id
    }
    // Added tokens: an id inside the vocabulary must be the content's own id there.
    var addedById: [Int: String] = [:]
    var contents = Set<ScalarKey>()
    var special = Set<ScalarKey>()
    for (index, token) in addedTokens.enumerated() {
      let key = ScalarKey(token.content.scalarValues)
      let place = "added_tokens[\(index)]"
      guard !token.content.isEmpty else {
        throw ModelError.badConfig(file: source, key: place, reason: "has empty content")
      }
      guard token.id >= 0, token.id < Int(Int32.max / 2) else {
        throw ModelError.badConfig(file: source, key: "\(place).id", reason: "is \(token.id), not a valid id")
      }
      if let own = ids[key], own != Int32(token.id) {
        throw ModelError.badConfig(
          file: source, key: "\(place).id",
          reason: "is \(token.id), but the vocabulary gives \(Self.quoted(token.content)) id \(own)")
      }
      if ids[key] == nil && token.id < vocabulary.count {
        throw ModelError.badConfig(
          file: source, key: "\(place).id",
          reason: "is \(token.id), the id of \(Self.quoted(vocabulary[token.id])) in the vocabulary")
      }
      guard contents.insert(key).inserted else {
        throw ModelError.badConfig(file: source, key: place, reason: "repeats \(Self.quoted(token.content))")
      }
      if let other = addedById.updateValue(token.content, forKey: token.id) {
        throw ModelError.badConfig(
          file: source, key: "\(place).id",
          reason: "is \(token.id), already the id of \(Self.quoted(other))")
      }
      if token.special { special.insert(key) }
    }
    for (name, list) in [("prefix", configuration.prefix), ("suffix", configuration.suffix)] {
      for id in list where !(0..<vocabulary.count).contains(id) && addedById[id] == nil {
        throw ModelError.badConfig(
          file: source, key: "post_processor", reason: "adds id \(id) (\(name)), which is no token")
      }
    }
    self.vocabulary = vocabulary
    self.addedTokens = addedTokens
    self.configuration = configuration
    self.source = source
    self.mergeCount = merges.count
    self.ids = ids
    lowScalarIds = low
    highScalarIds = high
    self.merges = mergeTable
    byteTokenIds = byteTokens
    unknownId = unknown
    self.addedById = addedById
    specialContents = special
    rawMatcher = AddedTokenMatcher(addedTokens.filter { !$0.normalized }.map { ($0, $0.content.scalarValues) })
    normalizedMatcher = AddedTokenMatcher(
      addedTokens.filter(\.normalized).map {
        ($0, Self.normalize($0.content.scalarValues, configuration.normalizers))
      })
  }

  /// Refuses pipelines no real tokenizer has and that would make a text grow without bound
  /// (a hostile file): more than 16 steps in a section, two ByteLevel pre-tokenizers (each
  /// doubles non-ASCII text), Replace steps that can together multiply a text's length by
  /// more than 64, an empty Replace pattern.
  static func check(_ configuration: Configuration, source: String) throws {
    func fail(_ key: String, _ reason: String) -> ModelError { .badConfig(file: source, key: key, reason: reason) }
    for (key, count) in [
      ("normalizer", configuration.normalizers.count), ("pre_tokenizer", configuration.preTokenizers.count),
      ("decoder", configuration.decoders.count),
    ] where count > 16 {
      throw fail(key, "has \(count) steps; xai runs at most 16")
    }
    let byteLevelSteps = configuration.preTokenizers.filter {
      if case .byteLevel = $0 { return true } else { return false }
    }.count
    if byteLevelSteps > 1 { throw fail("pre_tokenizer", "has \(byteLevelSteps) ByteLevel steps; xai runs one") }
    func growth(_ replacements: [(String, String)], _ key: String) throws {
      var factor = 1
      for (pattern, content) in replacements {
        let from = pattern.unicodeScalars.count
        guard from > 0 else { throw fail(key, "has a Replace step with an empty pattern") }
        factor *= max(1, (content.unicodeScalars.count + from - 1) / from)
        if factor > 64 { throw fail(key, "has Replace steps that can multiply a text's length by more than 64") }
      }
    }
    try growth(
      configuration.normalizers.compactMap {
        if case .replace(let pattern, let content) = $0 { return (pattern, content) } else { return nil }
      }, "normalizer")
    try growth(
      configuration.decoders.compactMap {
        if case .replace(let pattern, let content) = $0 { return (pattern, content) } else { return nil }
      }, "decoder")
  }

  /// `<0xNN>`, the name of a byte token.
  static func byteTokenName(_ byte: UInt8) -> String {
    let digits = Array("0123456789ABCDEF")
    return "<0x\(digits[Int(byte >> 4)])\(digits[Int(byte & 15)])>"
  }

  /// A token for a message: quoted, escaped, at most 40 characters.
  static func quoted(_ token: String) -> String {
    let escaped = token.unicodeScalars.prefix(40).map { $0.escaped(asASCII: false) }.joined()
    return "'\(escaped)\(token.unicodeScalars.count > 40 ? "…" : "")'"
  }

  /// Number of ids (the vocabulary and added tokens past it).
  public var idCount: Int { max(vocabulary.count, (addedById.keys.max() ?? -1) + 1) }

  /// The id of a token string (added tokens first), or nil.
  public func id(of token: String) -> Int? {
    let key = ScalarKey(token.scalarValues)
    if let added = addedTokens.first(where: { ScalarKey($0.content.scalarValues) == key }) { return added.id }
    return ids[key].map(Int.init)
  }

  /// The token string of an id (added tokens first), or nil when no token has it.
  public func token(of id: Int) -> String? {
    if let added = addedById[id] { return added }
    return vocabulary.indices.contains(id) ? vocabulary[id] : nil
  }

  /// Whether `id` is a special added token.
  public func isSpecial(_ id: Int) -> Bool {
    guard let content = addedById[id] else { return false }
    return specialContents.contains(ScalarKey(content.scalarValues))
  }
}

/// A string as its Unicode scalar values, hashed as bytes: two token strings are the same key
/// only when their scalars are (Swift's `String` would equate canonically equivalent ones).
struct ScalarKey: Hashable, Sendable {
  let scalars: [UInt32]

  init(_ scalars: [UInt32]) { self.scalars = scalars }

  func hash(into hasher: inout Hasher) {
    scalars.withUnsafeBytes { hasher.combine(bytes: $0) }
  }
}
