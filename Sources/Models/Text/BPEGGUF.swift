/// The tokenizer keys of a GGUF file's metadata (`tokenizer.ggml.*`), as plain Swift values,
/// for `BPETokenizer(gguf:source:)`. The GGUF reader fills it; absent keys stay nil.
public struct GGUFTokenizerMetadata: Sendable, Equatable {
  /// `tokenizer.ggml.model`: `gpt2` (byte-level BPE) or `llama` (SentencePiece-style BPE).
  public var model: String
  /// `tokenizer.ggml.tokens`: the token of each id.
  public var tokens: [String]
  /// `tokenizer.ggml.token_type`: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.
  public var tokenTypes: [Int]?
  /// `tokenizer.ggml.merges`: "a b" pairs, rank = position.
  public var merges: [String]?
  /// `tokenizer.ggml.scores` (SentencePiece models without merges: merges are derived).
  public var scores: [Float]?
  /// `tokenizer.ggml.pre`: the pre-tokenizer of a `gpt2` model (`gpt-2`, `llama-bpe`, `qwen2`, `smollm`…).
  public var pre: String?
  /// `tokenizer.ggml.bos_token_id`.
  public var bosTokenId: Int?
  /// `tokenizer.ggml.eos_token_id`.
  public var eosTokenId: Int?
  /// `tokenizer.ggml.unknown_token_id`.
  public var unknownTokenId: Int?
  /// `tokenizer.ggml.padding_token_id`.
  public var paddingTokenId: Int?
  /// `tokenizer.ggml.add_bos_token` (default: true for `llama`, false for `gpt2`).
  public var addBOS: Bool?
  /// `tokenizer.ggml.add_eos_token` (default false).
  public var addEOS: Bool?
  /// `tokenizer.ggml.add_space_prefix` (`llama`; default true).
  public var addSpacePrefix: Bool?
  /// `tokenizer.chat_template`.
  public var chatTemplate: String?

  /// Metadata with the required keys; the others can be set afterwards.
  public init(model: String, tokens: [String]) {
    self.model = model
    self.tokens = tokens
  }
}

extension BPETokenizer {
  /// The GGUF token types.
  enum GGUFTokenType: Int {
    case normal = 1, unknown, control, userDefined, unused, byte
  }

  /// The `tokenizer.ggml.pre` values xai reads for `gpt2` models, and their splits.
  public static let ggufPreTokenizers: [String: ByteLevelSplit] = [
    "gpt-2": .gpt2, "gpt2": .gpt2, "llama-bpe": .llama3, "llama3": .llama3, "qwen2": .qwen2,
    "smollm": .smollm, "starcoder": .smollm,
  ]

  /// A tokenizer from GGUF metadata. `gpt2` models are byte-level, split as
  /// `tokenizer.ggml.pre` says (Qwen2's with NFC first, as its tokenizer.json has it; `default`
  /// and unknown names are refused); `llama` models are SentencePiece-style with `<0xNN>`
  /// byte fallback, merges from `tokenizer.ggml.merges` or, without them, derived from the
  /// scores as Hugging Face converts a SentencePiece model. Control tokens become special
  /// added tokens, user-defined ones plain added tokens. `source` names the file in errors.
  public init(gguf metadata: GGUFTokenizerMetadata, source: String) throws {
    func fail(_ key: String, _ reason: String) -> ModelError {
      .badConfig(file: source, key: "tokenizer.ggml.\(key)", reason: reason)
    }
    let tokens = metadata.tokens
    guard !tokens.isEmpty else { throw fail("tokens", "is empty") }
    let count = tokens.count
    var types = [GGUFTokenType](repeating: .normal, count: count)
    if let given = metadata.tokenTypes {
      guard given.count == count else {
        throw fail("token_type", "has \(given.count) entries for \(count) tokens")
      }
      for (index, value) in given.enumerated() {
        guard let type = GGUFTokenType(rawValue: value) else {
          throw fail("token_type", "has \(value) at \(index), not a token type (1…6)")
        }
        types[index] = type
      }
    }
    func checkedId(_ id: Int?, _ key: String) throws -> Int? {
      guard let id else { return nil }
      guard (0..<count).contains(id) else { throw fail(key, "is \(id), outside 0…\(count - 1)") }
      return id
    }
    let bos = try checkedId(metadata.bosTokenId, "bos_token_id")
    let eos = try checkedId(metadata.eosTokenId, "eos_token_id")
    let unknown = try checkedId(metadata.unknownTokenId, "unknown_token_id") ?? types.firstIndex(of: .unknown)
    _ = try checkedId(metadata.paddingTokenId, "padding_token_id")
    var added: [BPEAddedToken] = []
    for (id, type) in types.enumerated() where type == .control || type == .unknown || type == .userDefined {
      guard !tokens[id].isEmpty else { continue }
      added.append(BPEAddedToken(content: tokens[id], id: id, special: type != .userDefined))
    }
    var merges: [(String, String)] = []
    if let given = metadata.merges {
      merges.reserveCapacity(given.count)
      for (index, text) in given.enumerated() {
        // As llama.cpp reads them: cut at the first space after the first character.
        let scalars = Array(text.unicodeScalars)
        guard let space = scalars.dropFirst().firstIndex(of: " ") else {
          throw fail("merges", "entry \(index) is \(Self.quoted(text)), not two tokens separated by a space")
        }
        merges.append((String(String.UnicodeScalarView(scalars[..<space])), String(String.UnicodeScalarView(scalars[(space + 1)...]))))
      }
    }
    var configuration: Configuration
    switch metadata.model {
    case "gpt2":
      guard let pre = metadata.pre, let split = Self.ggufPreTokenizers[pre] else {
        let known = Self.ggufPreTokenizers.keys.sorted().joined(separator: ", ")
        throw fail(
          "pre", metadata.pre.map { "is '\($0)', a pre-tokenizer xai does not reproduce (it reads \(known))" }
            ?? "is missing; xai needs it for a gpt2 model (\(known))")
      }
      guard metadata.merges != nil else { throw fail("merges", "is missing; a gpt2 model needs its merges") }
      configuration = .byteLevel(split)
      if metadata.addBOS == true, let bos { configuration.prefix = [bos] }
    case "llama":
      let name = unknown.map { tokens[$0] }
      configuration = .sentencePiece(unknownToken: name, addSpacePrefix: metadata.addSpacePrefix ?? true)
      configuration.byteFallback = types.contains(.byte) || tokens.contains("<0x00>")
      if metadata.addBOS ?? true, let bos { configuration.prefix = [bos] }
      if metadata.merges == nil {
        guard let scores = metadata.scores else {
          throw fail("merges", "is missing, and there are no scores to derive merges from")
        }
        guard scores.count == count else { throw fail("scores", "has \(scores.count) entries for \(count) tokens") }
        guard scores.allSatisfy(\.isFinite) else { throw fail("scores", "holds NaN or infinity") }
        merges = Self.mergesFromScores(tokens: tokens, scores: scores, usable: types.map { $0 == .normal || $0 == .userDefined })
      }
    default:
      throw fail("model", "is '\(metadata.model)'; xai reads gpt2 (byte-level BPE) and llama (SentencePiece BPE)")
    }
    if metadata.addEOS == true, let eos { configuration.suffix = [eos] }
    try self.init(vocabulary: tokens, merges: merges, addedTokens: added, configuration: configuration, source: source)
  }

  /// Merges of a SentencePiece BPE model from its scores, as Hugging Face's converter derives
  /// them: every split of a token into two tokens is a merge, ranked by the whole token's
  /// score (highest first), splits of one token by the ids of their halves. Tokens over 512
  /// characters are not split.
  static func mergesFromScores(tokens: [String], scores: [Float], usable: [Bool]) -> [(String, String)] {
    var ids: [ScalarKey: Int] = [:]
    for (id, token) in tokens.enumerated() where ids[ScalarKey(token.scalarValues)] == nil {
      ids[ScalarKey(token.scalarValues)] = id
    }
    var found: [(left: Int, right: Int, score: Float, order: Int)] = []
    for (id, token) in tokens.enumerated() where usable[id] {
      let scalars = token.scalarValues
      // SentencePiece pieces are at most 16 characters unless trained otherwise; far longer
      // ones (hostile metadata) would cost quadratic time and are left unmerged.
      guard scalars.count > 1, scalars.count <= 512 else { continue }
      var local: [(Int, Int)] = []
      for cut in 1..<scalars.count {
        if let left = ids[ScalarKey(Array(scalars[..<cut]))], let right = ids[ScalarKey(Array(scalars[cut...]))] {
          local.append((left, right))
        }
      }
      local.sort { ($0.0, $0.1) < ($1.0, $1.1) }
      for (left, right) in local { found.append((left, right, scores[id], found.count)) }
    }
    found.sort { ($0.score, -$0.order) > ($1.score, -$1.order) }
    return found.map { (tokens[$0.left], tokens[$0.right]) }
  }
}
