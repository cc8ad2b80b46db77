import Foundation

/// One token of an encoded text.
public struct TextToken: Sendable, Equatable {
  /// The vocabulary entry (`[CLS]`, `movie`, `##s`).
  public let piece: String
  /// Its id in the vocabulary.
  public let id: Int
  /// Unicode-scalar offsets of the original text it came from (empty for `[CLS]`/`[SEP]`).
  public let offsets: Range<Int>
  /// Index of the word (whitespace- and punctuation-split unit) it belongs to; nil for specials.
  public let word: Int?
}

/// A text encoded for a model: `[CLS] pieces… [SEP]`.
public struct EncodedText: Sendable {
  /// The original text.
  public let text: String
  /// The tokens including `[CLS]` and `[SEP]`.
  public let tokens: [TextToken]
  /// Whether pieces were dropped to fit the model's positions.
  public let truncated: Bool
  /// The text's scalars, which token offsets index.
  private let scalars: [Unicode.Scalar]

  init(text: String, tokens: [TextToken], truncated: Bool) {
    self.text = text
    self.tokens = tokens
    self.truncated = truncated
    scalars = Array(text.unicodeScalars)
  }

  /// Token ids.
  public var ids: [Int] { tokens.map(\.id) }
  /// Token strings.
  public var pieces: [String] { tokens.map(\.piece) }

  /// The same text with the tokens at `positions` replaced by `piece` (id `id`), as a
  /// perturbation replaces them by `[UNK]`; offsets and words stay.
  public func replacing(_ positions: [Int], with piece: String, id: Int) -> EncodedText {
    var tokens = self.tokens
    for position in positions where tokens.indices.contains(position) {
      let token = tokens[position]
      tokens[position] = TextToken(piece: piece, id: id, offsets: token.offsets, word: token.word)
    }
    return EncodedText(text: text, tokens: tokens, truncated: truncated)
  }

  /// The original text of a scalar range.
  public func substring(_ range: Range<Int>) -> String {
    var result = String.UnicodeScalarView()
    result.append(contentsOf: scalars[max(0, range.lowerBound)..<min(scalars.count, range.upperBound)])
    return String(result)
  }
}

/// BERT's WordPiece tokenizer, matching Hugging Face's `BertTokenizer`: clean the
/// text, put spaces around CJK characters, NFC, split on whitespace, lower-case and
/// strip accents when uncased, split off punctuation, then greedy longest-match
/// WordPiece with `##` continuations and `[UNK]` for unmatched or over-long words.
public struct WordPieceTokenizer: Sendable {
  /// The vocabulary: pieces by id, and ids by piece.
  let pieces: PieceTable
  /// Vocabulary entries by id (made on each call: use `vocabularySize` and `piece(_:)`).
  public var vocabulary: [String] { (0..<pieces.count).map { pieces[$0] } }
  /// Number of vocabulary entries.
  public var vocabularySize: Int { pieces.count }
  /// Scalars of the longest piece (without its "##"): no longer candidate can match.
  var longestPiece: Int { pieces.longestScalars }
  /// Whether text is lower-cased (uncased models).
  public let lowercase: Bool
  /// Whether accents are stripped (default: when lower-casing).
  public let stripAccents: Bool
  /// Words longer than this many characters become `[UNK]`.
  public let maxCharactersPerWord = 100
  /// Id of `[UNK]`.
  public let unknownId: Int
  /// Id of `[CLS]`.
  public let classifierId: Int
  /// Id of `[SEP]`.
  public let separatorId: Int
  /// Id of `[PAD]`.
  public let padId: Int

  /// A tokenizer over `vocabulary` (ids are positions; a piece listed twice takes its
  /// last position, as Hugging Face reads vocab.txt); `source` names it in errors.
  public init(vocabulary: [String], lowercase: Bool, stripAccents: Bool? = nil, source: String) throws {
    guard let table = PieceTable(pieces: vocabulary) else {
      throw ModelError.badInput("\(source): the vocabulary holds 2 GiB or more of text.")
    }
    try self.init(pieces: table, lowercase: lowercase, stripAccents: stripAccents, source: source)
  }

  init(pieces: PieceTable, lowercase: Bool, stripAccents: Bool?, source: String) throws {
    func special(_ name: String) throws -> Int {
      guard let id = pieces.id(of: name) else {
        throw ModelError.badInput("\(source): the vocabulary has no \(name) token.")
      }
      return id
    }
    let specials = try ["[UNK]", "[CLS]", "[SEP]", "[PAD]"].map(special)
    self.pieces = pieces
    self.lowercase = lowercase
    self.stripAccents = stripAccents ?? lowercase
    unknownId = specials[0]
    classifierId = specials[1]
    separatorId = specials[2]
    padId = specials[3]
  }

  /// Reads a `vocab.txt` (one piece per line, id = line number).
  public init(vocabFile path: String, lowercase: Bool, stripAccents: Bool? = nil) throws {
    let data = try readFileContents(path)
    guard data.count < PieceTable.largestBytes else {
      throw ModelError.badConfig(file: path, key: "vocab", reason: "is 2 GiB or more")
    }
    // Lines cut on the byte 0x0A into one byte buffer and a hash index (PieceTable): no
    // String per piece, which cost milliseconds at every start.
    guard let table = data.withUnsafeBytes({ PieceTable(lines: $0.bindMemory(to: UInt8.self)) }) else {
      throw ModelError.badConfig(file: path, key: "vocab", reason: "is not UTF-8 text")
    }
    try self.init(pieces: table, lowercase: lowercase, stripAccents: stripAccents, source: path)
  }

  /// A WordPiece tokenizer from a `tokenizers` JSON file (`model.vocab`, `normalizer`).
  public init(tokenizerJSON path: String) throws {
    let root = try JSONDocument.read(path).rootNode
    guard let vocab = root["model"]?["vocab"], vocab.isObject else {
      throw ModelError.badConfig(file: path, key: "model.vocab", reason: "is missing")
    }
    var byId: [Int: String] = [:]
    for piece in vocab.keys {
      guard let id = vocab[piece]?.int, id >= 0 else {
        throw ModelError.badConfig(file: path, key: "model.vocab.\(piece)", reason: "is not an id")
      }
      byId[id] = piece
    }
    guard byId.keys.sorted() == Array(0..<byId.count) else {
      throw ModelError.badConfig(file: path, key: "model.vocab", reason: "does not number pieces 0…n−1")
    }
    let normalizer = root["normalizer"]
    let lowercase = normalizer?["lowercase"]?.bool ?? true
    let stripAccents = normalizer?["strip_accents"]?.bool
    try self.init(
      vocabulary: (0..<byId.count).map { byId[$0]! }, lowercase: lowercase,
      stripAccents: stripAccents, source: path)
  }

  /// Encodes `text` as `[CLS] … [SEP]`, keeping at most `maxTokens` tokens.
  public func encode(_ text: String, maxTokens: Int = 512) -> EncodedText {
    var tokens = [TextToken(piece: "[CLS]", id: classifierId, offsets: 0..<0, word: nil)]
    let pieces = wordPieces(text)
    let room = max(0, maxTokens - 2)
    tokens += pieces.prefix(room)
    let end = text.unicodeScalars.count
    tokens.append(TextToken(piece: "[SEP]", id: separatorId, offsets: end..<end, word: nil))
    return EncodedText(text: text, tokens: tokens, truncated: pieces.count > room)
  }

  /// The word pieces of `text` without special tokens.
  ///
  /// Special tokens written in the text (`[SEP]`, `[MASK]`…, case-sensitive, anywhere)
  /// stay whole, as Hugging Face's tokenizers match them before normalising.
  public func wordPieces(_ text: String) -> [TextToken] {
    var result: [TextToken] = []
    var wordIndex = 0
    for segment in specialSegments(Array(text.unicodeScalars)) {
      if let id = segment.special {
        result.append(
          TextToken(piece: pieces[id], id: id, offsets: segment.range, word: wordIndex))
        wordIndex += 1
        continue
      }
      for word in basicWords(segment.text, offset: segment.range.lowerBound) {
        for piece in wordPiece(word) {
          result.append(
            TextToken(piece: piece.piece, id: piece.id, offsets: piece.offsets, word: wordIndex))
        }
        wordIndex += 1
      }
    }
    return result
  }

  /// The text cut at every special token it contains.
  func specialSegments(_ scalars: [Unicode.Scalar]) -> [(range: Range<Int>, text: String, special: Int?)] {
    let specials = [unknownId, classifierId, separatorId, padId, pieces.id(of: "[MASK]")].compactMap { $0 }
      .map { (id: $0, scalars: Array(pieces[$0].unicodeScalars)) }
    var segments: [(range: Range<Int>, text: String, special: Int?)] = []
    var start = 0
    var index = 0
    func plain(_ range: Range<Int>) {
      guard !range.isEmpty else { return }
      segments.append((range, String(String.UnicodeScalarView(scalars[range])), nil))
    }
    while index < scalars.count {
      if scalars[index] == "[",
        let match = specials.first(where: { scalars[index...].starts(with: $0.scalars) })
      {
        plain(start..<index)
        segments.append((index..<(index + match.scalars.count), "", match.id))
        index += match.scalars.count
        start = index
      } else {
        index += 1
      }
    }
    plain(start..<scalars.count)
    return segments
  }

  /// A run of scalars with the original scalar offset of each.
  struct TracedWord {
    var scalars: [Unicode.Scalar] = []
    /// Original offset where each scalar starts.
    var origins: [Int] = []
    /// Original offset just past the text each scalar came from.
    var ends: [Int] = []

    mutating func append(_ scalar: Unicode.Scalar, from origin: Int, to end: Int) {
      scalars.append(scalar)
      origins.append(origin)
      ends.append(end)
    }
  }

  /// BasicTokenizer: the words (pre-tokens) of `text` with their origins.
  func basicWords(_ text: String, offset base: Int = 0) -> [TracedWord] {
    var spaced = TracedWord()
    for (position, scalar) in text.unicodeScalars.enumerated() {
      let offset = base + position
      let value = scalar.value
      if value == 0 || value == 0xFFFD || Self.isControl(scalar) { continue }
      if Self.isBertWhitespace(scalar) {
        spaced.append(" ", from: offset, to: offset + 1)
      } else if Self.isCJK(value) {
        for character in [" ", scalar, " "] as [Unicode.Scalar] {
          spaced.append(character, from: offset, to: offset + 1)
        }
      } else {
        spaced.append(scalar, from: offset, to: offset + 1)
      }
    }
    var words: [TracedWord] = []
    var current = TracedWord()
    func flush() {
      if !current.scalars.isEmpty { words.append(current) }
      current = TracedWord()
    }
    for index in spaced.scalars.indices {
      if Self.isPythonWhitespace(spaced.scalars[index]) {
        flush()
      } else {
        current.append(spaced.scalars[index], from: spaced.origins[index], to: spaced.ends[index])
      }
    }
    flush()
    var pretokens: [TracedWord] = []
    for word in words {
      var normalized = Self.nfc(word)
      if lowercase { normalized = Self.lowercased(normalized) }
      if stripAccents { normalized = Self.strippingAccents(normalized) }
      var run = TracedWord()
      for index in normalized.scalars.indices {
        let scalar = normalized.scalars[index]
        if Self.isPunctuation(scalar) {
          if !run.scalars.isEmpty { pretokens.append(run) }
          run = TracedWord()
          var single = TracedWord()
          single.append(scalar, from: normalized.origins[index], to: normalized.ends[index])
          pretokens.append(single)
        } else if Self.isPythonWhitespace(scalar) {
          if !run.scalars.isEmpty { pretokens.append(run) }
          run = TracedWord()
        } else {
          run.append(scalar, from: normalized.origins[index], to: normalized.ends[index])
        }
      }
      if !run.scalars.isEmpty { pretokens.append(run) }
    }
    return pretokens
  }

  /// Greedy longest-match-first WordPiece of one pre-token.
  func wordPiece(_ word: TracedWord) -> [TextToken] {
    let whole = (word.origins.min() ?? 0)..<(word.ends.max() ?? 0)
    let unknown = [TextToken(piece: "[UNK]", id: unknownId, offsets: whole, word: nil)]
    let scalars = word.scalars
    guard scalars.count <= maxCharactersPerWord else { return unknown }
    var pieces: [TextToken] = []
    var start = 0
    while start < scalars.count {
      var end = min(scalars.count, start + longestPiece)
      var match: (String, Int)?
      while start < end {
        var candidate = String(String.UnicodeScalarView(scalars[start..<end]))
        if start > 0 { candidate = "##" + candidate }
        if let id = self.pieces.id(of: candidate) {
          match = (candidate, id)
          break
        }
        end -= 1
      }
      guard let (piece, id) = match else { return unknown }
      let range = word.origins[start..<end].min()!..<word.ends[start..<end].max()!
      pieces.append(TextToken(piece: piece, id: id, offsets: range, word: nil))
      start = end
    }
    return pieces
  }
}

extension WordPieceTokenizer {
  /// Whether `piece` is one of the special tokens a text is framed or padded with.
  public static func isSpecial(_ piece: String) -> Bool {
    piece == "[CLS]" || piece == "[SEP]" || piece == "[PAD]"
  }

  /// The one definition of a word over word pieces: a piece that starts with `##`
  /// continues the word before it; a special piece (`isSpecial(index)`) stands alone.
  /// Returns the index range of each word, in order.
  public static func wordRanges(_ pieces: [String], isSpecial: (Int) -> Bool) -> [Range<Int>] {
    var ranges: [Range<Int>] = []
    for index in pieces.indices {
      if pieces[index].hasPrefix("##"), !isSpecial(index), let last = ranges.last, !isSpecial(last.lowerBound)
      {
        ranges[ranges.count - 1] = last.lowerBound..<(index + 1)
      } else {
        ranges.append(index..<(index + 1))
      }
    }
    return ranges
  }
}
