/// The regular expressions that split text before BPE merges, recognised by their exact text
/// in a tokenizer.json and scanned by hand (no regex engine on the hot path), with the
/// character classes of Oniguruma, the engine Hugging Face's tokenizers runs them on.
public enum SplitPattern: String, Sendable, CaseIterable {
  /// GPT-2's: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
  /// (also what ByteLevel's `use_regex` splits with).
  case gpt2
  /// Llama 3's: case-insensitive contractions, `[^\r\n\p{L}\p{N}]?\p{L}+`, `\p{N}{1,3}`,
  /// ` ?[^\s\p{L}\p{N}]+[\r\n]*`, `\s*[\r\n]+`, `\s+(?!\S)`, `\s+`.
  case llama3
  /// Qwen2's: Llama 3's with single digits (`\p{N}`).
  case qwen2

  /// The pattern's text as tokenizer.json writes it.
  public var regex: String {
    switch self {
    case .gpt2: #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    case .llama3:
      #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    case .qwen2:
      #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    }
  }

  /// The pattern whose text is `regex`; llama.cpp's spelling of GPT-2's (without the last
  /// `|\s+`, which never changes a split) is accepted too.
  public init?(regex: String) {
    if let known = SplitPattern.allCases.first(where: { $0.regex == regex }) {
      self = known
    } else if regex == #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"# {
      self = .gpt2
    } else {
      return nil
    }
  }

  /// The pieces of `text[range]` (ranges of indices into `text`), in order, covering it.
  func split(_ text: [UInt32], _ range: Range<Int>) -> [Range<Int>] {
    var pieces: [Range<Int>] = []
    var start = range.lowerBound
    while start < range.upperBound {
      let end: Int
      switch self {
      case .gpt2: end = Scanner.gpt2Match(text, start, range.upperBound)
      case .llama3: end = Scanner.llamaMatch(text, start, range.upperBound, digits: 3)
      case .qwen2: end = Scanner.llamaMatch(text, start, range.upperBound, digits: 1)
      }
      pieces.append(start..<end)
      start = end
    }
    return pieces
  }
}

/// Oniguruma's classes for the split patterns: `\p{L}` (Lu Ll Lt Lm Lo), `\p{N}` (Nd Nl No),
/// `\s` (U+0009…U+000D, U+0085, Zs, Zl, Zp) and everything else, as of Unicode 16.0 (checked
/// against every code point as tokenizers 0.23 classifies it: BPECharacterClassTests).
enum CharacterClass: UInt8 {
  case letter, number, space, other

  /// Classes of the Basic Multilingual Plane, computed once.
  private static let basicPlane: [CharacterClass] = (0..<0x10000).map { compute(UInt32($0)) }

  @inline(__always)
  static func of(_ value: UInt32) -> CharacterClass {
    value < 0x10000 ? basicPlane[Int(value)] : compute(value)
  }

  static func compute(_ value: UInt32) -> CharacterClass {
    switch value {
    case 0x09...0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
      return .space
    default: break
    }
    guard let scalar = Unicode.Scalar(value), !isNewerThanReference(scalar) else { return .other }
    switch scalar.properties.generalCategory {
    case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
    case .decimalNumber, .letterNumber, .otherNumber: return .number
    default: return .other
    }
  }
}

/// Whether the scalar was assigned after Unicode 16.0, the version of the character tables
/// of Hugging Face's tokenizers (its Oniguruma and Rust): such a character is unassigned
/// there, so it counts as neither a letter, a number nor a word character.
@inline(__always)
func isNewerThanReference(_ scalar: Unicode.Scalar) -> Bool {
  guard let age = scalar.properties.age else { return false }
  return age.major > 16
}

/// Hand-written matchers of the split patterns: each returns where the pattern's match that
/// starts at `i` ends (always past `i`: the patterns match every character), with the
/// leftmost-first alternation and backtracking of a regex engine.
enum Scanner {
  static let apostrophe: UInt32 = 0x27
  static let space: UInt32 = 0x20
  static let carriageReturn: UInt32 = 0x0D
  static let lineFeed: UInt32 = 0x0A

  /// End of the run of class `kind` starting at `i`.
  @inline(__always)
  static func run(_ s: [UInt32], _ i: Int, _ n: Int, _ kind: CharacterClass) -> Int {
    var j = i
    while j < n && CharacterClass.of(s[j]) == kind { j += 1 }
    return j
  }

  /// `'s|'t|'re|'ve|'m|'ll|'d`, case-sensitive or (Oniguruma's `(?i:…)`) case-folded, where
  /// U+017F LATIN SMALL LETTER LONG S folds to `s`.
  @inline(__always)
  static func contraction(_ s: [UInt32], _ i: Int, _ n: Int, foldCase: Bool) -> Int? {
    guard s[i] == apostrophe, i + 1 < n else { return nil }
    func fold(_ value: UInt32) -> UInt32 {
      guard foldCase else { return value }
      if value >= 0x41 && value <= 0x5A { return value + 0x20 }
      return value == 0x17F ? 0x73 : value
    }
    let first = fold(s[i + 1])
    switch first {
    case 0x73, 0x74, 0x6D, 0x64: return i + 2  // s t m d
    case 0x72, 0x76:  // r v → e
      return i + 2 < n && fold(s[i + 2]) == 0x65 ? i + 3 : nil
    case 0x6C:  // l → l
      return i + 2 < n && fold(s[i + 2]) == 0x6C ? i + 3 : nil
    default: return nil
    }
  }

  /// `\s+(?!\S)|\s+` at a whitespace character `i`: the run, less its last character when a
  /// non-space follows and the run is longer than one.
  @inline(__always)
  static func spaces(_ s: [UInt32], _ i: Int, _ n: Int) -> Int {
    let end = run(s, i, n, .space)
    if end == n || end - i == 1 { return end }
    return end - 1
  }

  static func gpt2Match(_ s: [UInt32], _ i: Int, _ n: Int) -> Int {
    if let end = contraction(s, i, n, foldCase: false) { return end }
    let kind = CharacterClass.of(s[i])
    if kind != .space { return run(s, i, n, kind) }
    // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: a space joins the run after it.
    if s[i] == space && i + 1 < n {
      let next = CharacterClass.of(s[i + 1])
      if next != .space { return run(s, i + 1, n, next) }
    }
    return spaces(s, i, n)
  }

  static func llamaMatch(_ s: [UInt32], _ i: Int, _ n: Int, digits: Int) -> Int {
    if let end = contraction(s, i, n, foldCase: true) { return end }
    let c = s[i]
    let kind = CharacterClass.of(c)
    switch kind {
    case .letter:
      return run(s, i, n, .letter)
    case .number:
      var j = i
      while j < n && j - i < digits && CharacterClass.of(s[j]) == .number { j += 1 }
      return j
    case .other, .space:
      // `[^\r\n\p{L}\p{N}]?\p{L}+`: one leading character (not CR or LF) joins letters.
      if c != carriageReturn && c != lineFeed && i + 1 < n && CharacterClass.of(s[i + 1]) == .letter {
        return run(s, i + 1, n, .letter)
      }
      // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
      var j = i
      if kind == .space {
        guard c == space && i + 1 < n && CharacterClass.of(s[i + 1]) == .other else {
          return llamaSpaces(s, i, n)
        }
        j = i + 1
      }
      j = run(s, j, n, .other)
      while j < n && (s[j] == carriageReturn || s[j] == lineFeed) { j += 1 }
      return j
    }
  }

  /// `\s*[\r\n]+|\s+(?!\S)|\s+` at a whitespace character: through the run's last line
  /// break when it has one.
  static func llamaSpaces(_ s: [UInt32], _ i: Int, _ n: Int) -> Int {
    let end = run(s, i, n, .space)
    var last = end - 1
    while last >= i {
      if s[last] == carriageReturn || s[last] == lineFeed { return last + 1 }
      last -= 1
    }
    return end == n || end - i == 1 ? end : end - 1
  }
}

/// Where a SentencePiece-style `▁` is put in front of a text section.
public enum PrependScheme: String, Sendable {
  /// Every section that does not start with `▁`.
  case always
  /// Only the section at the start of the text.
  case first
  /// Never.
  case never
}

/// One step of a tokenizer.json `pre_tokenizer` (a `Sequence` is a list of them).
public enum BPEPreTokenizer: Sendable, Equatable {
  /// ByteLevel: a space put in front of each piece that lacks one (`add_prefix_space`), GPT-2's
  /// split (`use_regex`), then every byte written as its GPT-2 table character.
  case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
  /// Split on one of the known patterns, each match its own piece (behaviour `Isolated`).
  case split(SplitPattern)
  /// Digits: every digit (`\p{N}`) its own piece, or runs of digits (`individual_digits` false).
  case digits(individual: Bool)
  /// Metaspace: spaces become `replacement`, which is put in front as `prepend` says; with
  /// `split`, a piece starts at each `replacement`.
  case metaspace(replacement: Unicode.Scalar, prepend: PrependScheme, split: Bool)

  /// A piece of text on its way through the steps.
  struct Piece {
    var scalars: [UInt32]
    /// Whether the piece starts at the start of the whole text (Metaspace's `first`).
    var atTextStart: Bool
  }

  /// The pieces this step makes of `piece` (none empty).
  func apply(_ piece: Piece, into output: inout [Piece]) {
    let s = piece.scalars
    switch self {
    case .byteLevel(let addPrefixSpace, let useRegex):
      var text = s
      if addPrefixSpace && text.first != Scanner.space { text.insert(Scanner.space, at: 0) }
      if useRegex {
        for range in SplitPattern.gpt2.split(text, 0..<text.count) {
          output.append(Piece(scalars: ByteLevel.mapped(text[range]), atTextStart: piece.atTextStart && range.lowerBound == 0))
        }
      } else if !text.isEmpty {
        output.append(Piece(scalars: ByteLevel.mapped(text), atTextStart: piece.atTextStart))
      }
    case .split(let pattern):
      let ranges = pattern.split(s, 0..<s.count)
      if ranges.count == 1 {
        output.append(piece)
        return
      }
      for range in ranges {
        output.append(Piece(scalars: Array(s[range]), atTextStart: piece.atTextStart && range.lowerBound == 0))
      }
    case .digits(let individual):
      var start = 0
      var index = 0
      func cut(_ end: Int) {
        if start < end {
          output.append(Piece(scalars: Array(s[start..<end]), atTextStart: piece.atTextStart && start == 0))
        }
        start = end
      }
      while index < s.count {
        if CharacterClass.of(s[index]) == .number {
          cut(index)
          index = individual ? index + 1 : Scanner.run(s, index, s.count, .number)
          cut(index)
        } else {
          index += 1
        }
      }
      cut(s.count)
    case .metaspace(let replacement, let prepend, let split):
      let marker = replacement.value
      var text = s.map { $0 == Scanner.space ? marker : $0 }
      let wantsPrefix =
        switch prepend {
        case .always: true
        case .first: piece.atTextStart
        case .never: false
        }
      if wantsPrefix && text.first != marker { text.insert(marker, at: 0) }
      guard split else {
        if !text.isEmpty { output.append(Piece(scalars: text, atTextStart: piece.atTextStart)) }
        return
      }
      var start = 0
      for index in text.indices where text[index] == marker && index > start {
        output.append(Piece(scalars: Array(text[start..<index]), atTextStart: piece.atTextStart && start == 0))
        start = index
      }
      if start < text.count {
        output.append(Piece(scalars: Array(text[start...]), atTextStart: piece.atTextStart && start == 0))
      }
    }
  }
}
