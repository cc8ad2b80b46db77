extension BPETokenizer {
  /// The text of `ids`, as Hugging Face's `Tokenizer.decode` gives it: token strings (added
  /// tokens' contents; ids of no token skipped, special ones too with `skipSpecialTokens`)
  /// through the decoder steps. Byte-level tokens are reassembled into bytes before UTF-8 is
  /// read, so a character split across tokens comes back whole; bytes that are not valid
  /// UTF-8 become U+FFFD.
  public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
    var tokens: [[UInt32]] = []
    tokens.reserveCapacity(ids.count)
    for id in ids {
      guard let token = token(of: id) else { continue }
      if skipSpecialTokens && isSpecial(id) { continue }
      tokens.append(token.scalarValues)
    }
    guard !configuration.decoders.isEmpty else {
      return tokens.map { String(scalarValues: $0) }.joined(separator: " ")
    }
    for step in configuration.decoders { tokens = Self.decode(tokens, step) }
    return tokens.map { String(scalarValues: $0) }.joined()
  }

  /// How a user reads token `id` on its own, for views: the decoder steps applied to the
  /// token alone, except those that depend on its place (Strip; Metaspace drops nothing). A
  /// byte-level token's bytes are read as UTF-8 where they form whole characters (`Ġthe` →
  /// " the", `Ċ` → "\n"); bytes of a character split across tokens, and any other invalid
  /// bytes, are shown as `<0xNN>` (so the emoji 😀 cut in two tokens reads `<0xF0><0x9F>` and
  /// `<0x98><0x80>`). A `<0xNN>` byte-fallback token reads as its character when it is ASCII
  /// and stays `<0xNN>` otherwise. Added tokens read as their content; unknown ids as "".
  public func displayText(of id: Int) -> String {
    guard let token = token(of: id) else { return "" }
    if addedById[id] != nil { return token }
    var scalars = token.scalarValues
    for step in configuration.decoders {
      switch step {
      case .byteLevel:
        let bytes = ByteLevel.bytes(of: token) ?? Array(token.utf8)
        scalars = Self.displayScalars(bytes)
      case .replace(let pattern, let replacement):
        scalars = Self.replacing(scalars, pattern.scalarValues, replacement.scalarValues)
      case .byteFallback:
        if let byte = Self.fallbackByte(scalars), byte < 0x80 { scalars = [UInt32(byte)] }
      case .metaspace(let replacement, _):
        scalars = scalars.map { $0 == replacement.value ? 0x20 : $0 }
      case .fuse, .strip:
        break
      }
    }
    return String(scalarValues: scalars)
  }

  /// `displayText(of:)` of each id.
  public func displayTexts(_ ids: [Int]) -> [String] { ids.map { displayText(of: $0) } }

  /// One decoder step over token strings.
  static func decode(_ tokens: [[UInt32]], _ step: BPEDecoder) -> [[UInt32]] {
    switch step {
    case .byteLevel:
      var bytes: [UInt8] = []
      for token in tokens {
        var mapped: [UInt8] = []
        mapped.reserveCapacity(token.count)
        var complete = true
        for scalar in token {
          guard let byte = ByteLevel.byte(of: scalar) else {
            complete = false
            break
          }
          mapped.append(byte)
        }
        if complete {
          bytes += mapped
        } else {
          for scalar in token { forEachUTF8Byte(of: scalar) { bytes.append($0) } }
        }
      }
      return [String(decoding: bytes, as: UTF8.self).scalarValues]
    case .replace(let pattern, let replacement):
      let from = pattern.scalarValues
      let to = replacement.scalarValues
      return tokens.map { replacing($0, from, to) }
    case .byteFallback:
      var result: [[UInt32]] = []
      var pending: [UInt8] = []
      func flush() {
        guard !pending.isEmpty else { return }
        if let text = String(validating: pending, as: UTF8.self) {
          result.append(text.scalarValues)
        } else {
          result += Array(repeating: [0xFFFD], count: pending.count)
        }
        pending.removeAll()
      }
      for token in tokens {
        if let byte = fallbackByte(token) {
          pending.append(byte)
        } else {
          flush()
          result.append(token)
        }
      }
      flush()
      return result
    case .fuse:
      return [tokens.flatMap { $0 }]
    case .strip(let content, let start, let stop):
      return tokens.map { token in
        var startCut = 0
        while startCut < min(start, token.count) && token[startCut] == content.value { startCut += 1 }
        var stopCut = token.count
        var removed = 0
        while removed < stop && stopCut > 0 && token[stopCut - 1] == content.value {
          stopCut -= 1
          removed += 1
        }
        return startCut < stopCut ? Array(token[startCut..<stopCut]) : []
      }
    case .metaspace(let replacement, let prepend):
      return tokens.enumerated().map { index, token in
        if index == 0 && prepend != .never { return token.filter { $0 != replacement.value } }
        return token.map { $0 == replacement.value ? 0x20 : $0 }
      }
    }
  }

  /// The byte of a `<0xNN>` token as Hugging Face reads it (six UTF-8 bytes, `<0x`, two
  /// characters that Rust's `u8::from_str_radix(_, 16)` accepts, `>`), or nil.
  static func fallbackByte(_ token: [UInt32]) -> UInt8? {
    guard token.count == 6, token[0] == 0x3C, token[1] == 0x30, token[2] == 0x78, token[5] == 0x3E else {
      return nil
    }
    func digit(_ value: UInt32) -> UInt8? {
      switch value {
      case 0x30...0x39: UInt8(value - 0x30)
      case 0x41...0x46: UInt8(value - 0x41 + 10)
      case 0x61...0x66: UInt8(value - 0x61 + 10)
      default: nil
      }
    }
    // Rust accepts a leading '+' before the digits.
    if token[3] == 0x2B { return digit(token[4]) }
    guard let high = digit(token[3]), let low = digit(token[4]) else { return nil }
    return high << 4 | low
  }

  /// Bytes as text: whole UTF-8 characters as themselves, every other byte as `<0xNN>`.
  static func displayScalars(_ bytes: [UInt8]) -> [UInt32] {
    var result: [UInt32] = []
    var index = 0
    while index < bytes.count {
      if let (scalar, length) = decodeUTF8(bytes, at: index) {
        result.append(scalar)
        index += length
      } else {
        result += byteTokenName(bytes[index]).scalarValues
        index += 1
      }
    }
    return result
  }

  /// The well-formed UTF-8 character at `index` and its length, or nil.
  static func decodeUTF8(_ bytes: [UInt8], at index: Int) -> (UInt32, Int)? {
    let lead = bytes[index]
    let length: Int
    var value: UInt32
    var lowest: UInt32
    switch lead {
    case 0..<0x80: return (UInt32(lead), 1)
    case 0xC2...0xDF: (length, value, lowest) = (2, UInt32(lead & 0x1F), 0x80)
    case 0xE0...0xEF: (length, value, lowest) = (3, UInt32(lead & 0x0F), 0x800)
    case 0xF0...0xF4: (length, value, lowest) = (4, UInt32(lead & 0x07), 0x10000)
    default: return nil
    }
    guard index + length <= bytes.count else { return nil }
    for offset in 1..<length {
      let byte = bytes[index + offset]
      guard byte & 0xC0 == 0x80 else { return nil }
      value = value << 6 | UInt32(byte & 0x3F)
    }
    guard value >= lowest, value <= 0x10FFFF, !(0xD800...0xDFFF).contains(value) else { return nil }
    return (value, length)
  }
}
