import Foundation

extension BPETokenizer {
  /// The ids of `text`, as Hugging Face's `Tokenizer.encode(text, add_special_tokens:)` gives
  /// them (`addSpecialTokens` puts the post-processor's tokens around them, e.g. Llama's BOS).
  public func encode(_ text: String, addSpecialTokens: Bool = true) -> [Int] {
    var output: [Int32] = []
    var cache: [ScalarKey: [Int32]] = [:]
    if addSpecialTokens { output += configuration.prefix.map { Int32($0) } }
    let scalars = text.scalarValues
    for segment in rawMatcher.segments(scalars, 0..<scalars.count) {
      if let id = segment.id {
        output.append(id)
        continue
      }
      let normalized = Self.normalize(Array(scalars[segment.range]), configuration.normalizers)
      let atTextStart = segment.range.lowerBound == 0
      for part in normalizedMatcher.segments(normalized, 0..<normalized.count) {
        if let id = part.id {
          output.append(id)
          continue
        }
        var pieces = [
          BPEPreTokenizer.Piece(
            scalars: Array(normalized[part.range]), atTextStart: atTextStart && part.range.lowerBound == 0)
        ]
        for step in configuration.preTokenizers {
          var next: [BPEPreTokenizer.Piece] = []
          next.reserveCapacity(pieces.count)
          for piece in pieces where !piece.scalars.isEmpty { step.apply(piece, into: &next) }
          pieces = next
        }
        for piece in pieces where !piece.scalars.isEmpty {
          model(piece.scalars, into: &output, cache: &cache)
        }
      }
    }
    if addSpecialTokens { output += configuration.suffix.map { Int32($0) } }
    return output.map(Int.init)
  }

  /// The token strings of `ids` (unknown ids skipped).
  public func tokens(_ ids: [Int]) -> [String] { ids.compactMap { token(of: $0) } }

  /// Applies the normalizer steps to a text.
  static func normalize(_ text: [UInt32], _ steps: [BPENormalizer]) -> [UInt32] {
    var text = text
    for step in steps {
      switch step {
      case .nfc:
        // Below U+0300 there is nothing to compose and no singleton to replace.
        if text.contains(where: { $0 >= 0x300 }) {
          text = String(scalarValues: text).precomposedStringWithCanonicalMapping.scalarValues
        }
      case .nfd:
        if text.contains(where: { $0 >= 0xC0 }) {
          text = String(scalarValues: text).decomposedStringWithCanonicalMapping.scalarValues
        }
      case .nfkc:
        if text.contains(where: { $0 >= 0xA0 }) {
          text = String(scalarValues: text).precomposedStringWithCompatibilityMapping.scalarValues
        }
      case .nfkd:
        if text.contains(where: { $0 >= 0xA0 }) {
          text = String(scalarValues: text).decomposedStringWithCompatibilityMapping.scalarValues
        }
      case .prepend(let prefix):
        if !text.isEmpty { text = prefix.scalarValues + text }
      case .replace(let pattern, let replacement):
        text = replacing(text, pattern.scalarValues, replacement.scalarValues)
      }
    }
    return text
  }

  /// `text` with every non-overlapping occurrence of `pattern` (left to right) replaced.
  static func replacing(_ text: [UInt32], _ pattern: [UInt32], _ replacement: [UInt32]) -> [UInt32] {
    guard !pattern.isEmpty, text.count >= pattern.count else { return text }
    var result: [UInt32] = []
    result.reserveCapacity(text.count)
    var index = 0
    while index < text.count {
      if text[index] == pattern[0] && index + pattern.count <= text.count
        && text[index..<(index + pattern.count)].elementsEqual(pattern)
      {
        result += replacement
        index += pattern.count
      } else {
        result.append(text[index])
        index += 1
      }
    }
    return result
  }

  /// The id of a one-character token, or nil.
  @inline(__always)
  func characterId(_ scalar: UInt32) -> Int32? {
    if scalar < 0x400 {
      let id = lowScalarIds[Int(scalar)]
      return id < 0 ? nil : id
    }
    return highScalarIds[scalar]
  }

  /// BPE of one pre-token: its characters (byte fallback or the unknown token for those not
  /// in the vocabulary), merged.
  func model(_ piece: [UInt32], into output: inout [Int32], cache: inout [ScalarKey: [Int32]]) {
    let key = ScalarKey(piece)
    if configuration.ignoreMerges, let id = ids[key] {
      output.append(id)
      return
    }
    if let hit = cache[key] {
      output += hit
      return
    }
    var symbols: [Int32] = []
    symbols.reserveCapacity(piece.count)
    var pendingUnknown = false
    for scalar in piece {
      if let id = characterId(scalar) {
        if pendingUnknown, let unknownId {
          symbols.append(unknownId)
          pendingUnknown = false
        }
        symbols.append(id)
        continue
      }
      if configuration.byteFallback {
        var bytes: [Int32] = []
        var complete = true
        forEachUTF8Byte(of: scalar) { byte in
          let id = byteTokenIds[Int(byte)]
          if id < 0 { complete = false } else { bytes.append(id) }
        }
        // As in Hugging Face's BPE, an unknown character still pending is not written first.
        if complete {
          symbols += bytes
          continue
        }
      }
      if let unknownId {
        if pendingUnknown && !configuration.fuseUnknown { symbols.append(unknownId) }
        pendingUnknown = true
      }
    }
    if pendingUnknown, let unknownId { symbols.append(unknownId) }
    let merged = merge(symbols)
    if piece.count < 256 { cache[key] = merged }
    output += merged
  }

  /// Merges adjacent symbols, the lowest-ranked pair first (leftmost among equals), as
  /// Hugging Face's `Word::merge_all`: a queue of candidate pairs, where a candidate whose
  /// symbols have changed since it was queued is dropped when taken out.
  func merge(_ initial: [Int32]) -> [Int32] {
    let count = initial.count
    guard count > 1 else { return initial }
    var symbols = initial
    var previous = [Int32](repeating: -1, count: count)
    var next = [Int32](repeating: -1, count: count)
    var removed = [Bool](repeating: false, count: count)
    for index in 0..<count {
      previous[index] = Int32(index - 1)
      next[index] = index + 1 < count ? Int32(index + 1) : -1
    }
    var queue = MergeQueue()
    @inline(__always) func lookup(_ left: Int32, _ right: Int32) -> UInt64? {
      merges[UInt64(UInt32(left)) << 32 | UInt64(UInt32(right))]
    }
    for index in 0..<(count - 1) {
      if let merge = lookup(symbols[index], symbols[index + 1]) { queue.push(merge, position: index) }
    }
    while let top = queue.pop() {
      let position = top.position
      guard !removed[position], next[position] >= 0 else { continue }
      let right = Int(next[position])
      guard let current = lookup(symbols[position], symbols[right]), current & 0xFFFF_FFFF == top.merged else {
        continue
      }
      symbols[position] = Int32(truncatingIfNeeded: top.merged)
      removed[right] = true
      next[position] = next[right]
      if next[right] >= 0 { previous[Int(next[right])] = Int32(position) }
      if previous[position] >= 0 {
        let left = Int(previous[position])
        if let merge = lookup(symbols[left], symbols[position]) { queue.push(merge, position: left) }
      }
      if next[position] >= 0 {
        if let merge = lookup(symbols[position], symbols[Int(next[position])]) {
          queue.push(merge, position: position)
        }
      }
    }
    var result: [Int32] = []
    result.reserveCapacity(count)
    for index in 0..<count where !removed[index] { result.append(symbols[index]) }
    return result
  }
}

/// A min-queue of candidate merges ordered by (rank, position).
struct MergeQueue {
  /// rank << 32 | position, and the merged id.
  private var keys: [UInt64] = []
  private var merged: [UInt64] = []

  mutating func push(_ merge: UInt64, position: Int) {
    keys.append((merge >> 32) << 32 | UInt64(position))
    merged.append(merge & 0xFFFF_FFFF)
    var child = keys.count - 1
    while child > 0 {
      let parent = (child - 1) / 2
      guard keys[child] < keys[parent] else { break }
      keys.swapAt(child, parent)
      merged.swapAt(child, parent)
      child = parent
    }
  }

  mutating func pop() -> (position: Int, merged: UInt64)? {
    guard let first = keys.first else { return nil }
    let result = (position: Int(first & 0xFFFF_FFFF), merged: merged[0])
    let last = keys.count - 1
    keys.swapAt(0, last)
    merged.swapAt(0, last)
    keys.removeLast()
    merged.removeLast()
    var parent = 0
    while true {
      let left = 2 * parent + 1
      guard left < keys.count else { break }
      var smallest = left
      if left + 1 < keys.count && keys[left + 1] < keys[left] { smallest = left + 1 }
      guard keys[smallest] < keys[parent] else { break }
      keys.swapAt(smallest, parent)
      merged.swapAt(smallest, parent)
      parent = smallest
    }
    return result
  }
}

/// Finds added tokens in a text as Hugging Face's AddedVocabulary does: leftmost-longest,
/// non-overlapping matches; a `singleWord` token next to a word character is passed over; an
/// `lstrip`/`rstrip` token takes the whitespace on that side.
struct AddedTokenMatcher: Sendable {
  struct Entry: Sendable {
    let scalars: [UInt32]
    let id: Int32
    let lstrip: Bool
    let rstrip: Bool
    let singleWord: Bool
  }

  let entries: [Entry]
  /// Entry indices by first scalar, longest first.
  let byFirst: [UInt32: [Int]]

  init(_ tokens: [(token: BPEAddedToken, pattern: [UInt32])]) {
    var entries: [Entry] = []
    var byFirst: [UInt32: [Int]] = [:]
    for (token, pattern) in tokens where !pattern.isEmpty {
      byFirst[pattern[0], default: []].append(entries.count)
      entries.append(
        Entry(
          scalars: pattern, id: Int32(token.id), lstrip: token.lstrip, rstrip: token.rstrip,
          singleWord: token.singleWord))
    }
    for key in byFirst.keys {
      byFirst[key]!.sort { (entries[$0].scalars.count, -$0) > (entries[$1].scalars.count, -$1) }
    }
    self.entries = entries
    self.byFirst = byFirst
  }

  /// Cuts `text[range]` into plain sections (id nil) and added tokens; empty sections are left out.
  func segments(_ text: [UInt32], _ range: Range<Int>) -> [(range: Range<Int>, id: Int32?)] {
    guard !entries.isEmpty else { return range.isEmpty ? [] : [(range, nil)] }
    var matches: [(start: Int, end: Int, entry: Int)] = []
    var position = range.lowerBound
    while position < range.upperBound {
      if let candidates = byFirst[text[position]],
        let found = candidates.first(where: { index in
          let pattern = entries[index].scalars
          return position + pattern.count <= range.upperBound
            && text[position..<(position + pattern.count)].elementsEqual(pattern)
        })
      {
        matches.append((position, position + entries[found].scalars.count, found))
        position += entries[found].scalars.count
      } else {
        position += 1
      }
    }
    var result: [(range: Range<Int>, id: Int32?)] = []
    var sectionStart = range.lowerBound
    var whitespaceRun = 0..<0
    for match in matches {
      let entry = entries[match.entry]
      var start = match.start
      var end = match.end
      if entry.singleWord {
        let wordBefore = start > range.lowerBound && Self.isWordCharacter(text[start - 1])
        let wordAfter = end < range.upperBound && Self.isWordCharacter(text[end])
        if wordBefore || wordAfter { continue }
      }
      if entry.lstrip {
        // Whitespace before the end of the last token is not taken again: stop there.
        var newStart = start
        while newStart > max(sectionStart, range.lowerBound) && Self.isWhitespace(text[newStart - 1]) { newStart -= 1 }
        start = max(newStart, sectionStart)
      }
      if entry.rstrip {
        // Matches inside a run already scanned share its end (linear time on long runs).
        if whitespaceRun.contains(end) {
          end = whitespaceRun.upperBound
        } else {
          let from = end
          while end < range.upperBound && Self.isWhitespace(text[end]) { end += 1 }
          whitespaceRun = from..<end
        }
      }
      if sectionStart < start { result.append((sectionStart..<start, nil)) }
      result.append((start..<end, entry.id))
      sectionStart = end
    }
    if sectionStart < range.upperBound { result.append((sectionStart..<range.upperBound, nil)) }
    return result
  }

  /// Rust regex's Unicode `\w`: alphabetic, marks, decimal digits, connector punctuation, joiners.
  static func isWordCharacter(_ value: UInt32) -> Bool {
    guard let scalar = Unicode.Scalar(value), !isNewerThanReference(scalar) else { return false }
    if scalar.isASCII {
      return (0x30...0x39).contains(value) || (0x41...0x5A).contains(value) || (0x61...0x7A).contains(value)
        || value == 0x5F
    }
    let properties = scalar.properties
    if properties.isAlphabetic || properties.isJoinControl { return true }
    switch properties.generalCategory {
    case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
    default: return false
    }
  }

  /// Rust regex's Unicode `\s` (White_Space).
  static func isWhitespace(_ value: UInt32) -> Bool {
    Unicode.Scalar(value)?.properties.isWhitespace ?? false
  }
}
