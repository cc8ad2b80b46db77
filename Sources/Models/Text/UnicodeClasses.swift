import Foundation

/// The character classes and normalisations of BERT's BasicTokenizer, on Unicode scalars
/// (Python's `str` semantics), each scalar keeping the original offsets it came from.
extension WordPieceTokenizer {
  /// Control characters are dropped (tab, newline and carriage return count as whitespace).
  static func isControl(_ scalar: Unicode.Scalar) -> Bool {
    if scalar == "\t" || scalar == "\n" || scalar == "\r" { return false }
    if scalar.isASCII { return scalar.value < 0x20 || scalar.value == 0x7F }
    switch scalar.properties.generalCategory {
    case .control, .format, .surrogate, .privateUse, .unassigned: return true
    default: return false
    }
  }

  /// Whitespace that the cleaner turns into a plain space.
  static func isBertWhitespace(_ scalar: Unicode.Scalar) -> Bool {
    scalar == " " || scalar == "\t" || scalar == "\n" || scalar == "\r"
      || (!scalar.isASCII && scalar.properties.generalCategory == .spaceSeparator)
  }

  /// Whitespace as Python's `str.split()` sees it.
  static func isPythonWhitespace(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar.value {
    case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F,
      0x205F, 0x3000:
      return true
    default: return false
    }
  }

  /// CJK Unified Ideographs (and extensions/compatibility blocks) become single tokens.
  static func isCJK(_ value: UInt32) -> Bool {
    (0x4E00...0x9FFF).contains(value) || (0x3400...0x4DBF).contains(value)
      || (0x20000...0x2A6DF).contains(value) || (0x2A700...0x2B73F).contains(value)
      || (0x2B740...0x2B81F).contains(value) || (0x2B820...0x2CEAF).contains(value)
      || (0xF900...0xFAFF).contains(value) || (0x2F800...0x2FA1F).contains(value)
  }

  /// ASCII symbols and every Unicode punctuation category split words.
  static func isPunctuation(_ scalar: Unicode.Scalar) -> Bool {
    let value = scalar.value
    if (33...47).contains(value) || (58...64).contains(value) || (91...96).contains(value)
      || (123...126).contains(value)
    {
      return true
    }
    if scalar.isASCII { return false }
    switch scalar.properties.generalCategory {
    case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
      .initialPunctuation, .finalPunctuation, .otherPunctuation:
      return true
    default: return false
    }
  }

  /// NFC; where composition changes the word, every scalar spans the whole word.
  static func nfc(_ word: TracedWord) -> TracedWord {
    if word.scalars.allSatisfy(\.isASCII) { return word }
    let text = String(String.UnicodeScalarView(word.scalars))
    let composed = Array(text.precomposedStringWithCanonicalMapping.unicodeScalars)
    if composed == word.scalars { return word }
    let start = word.origins.min() ?? 0
    let end = word.ends.max() ?? 0
    var result = TracedWord()
    for scalar in composed { result.append(scalar, from: start, to: end) }
    return result
  }

  /// Full Unicode lower-casing scalar by scalar (as Hugging Face's tokenizers do:
  /// no context-dependent final sigma).
  static func lowercased(_ word: TracedWord) -> TracedWord {
    var result = TracedWord()
    for index in word.scalars.indices {
      let scalar = word.scalars[index]
      if scalar.isASCII {
        let value = scalar.value
        result.append(
          Unicode.Scalar(UInt8((0x41...0x5A).contains(value) ? value + 0x20 : value)), from: word.origins[index],
          to: word.ends[index])
        continue
      }
      for lower in scalar.properties.lowercaseMapping.unicodeScalars {
        result.append(lower, from: word.origins[index], to: word.ends[index])
      }
    }
    return result
  }

  /// NFD, then drop nonspacing marks (Mn).
  static func strippingAccents(_ word: TracedWord) -> TracedWord {
    var result = TracedWord()
    for index in word.scalars.indices {
      let scalar = word.scalars[index]
      if scalar.isASCII {
        result.append(scalar, from: word.origins[index], to: word.ends[index])
        continue
      }
      let decomposed = Array(String(scalar).decomposedStringWithCanonicalMapping.unicodeScalars)
      for part in decomposed where part.properties.generalCategory != .nonspacingMark {
        result.append(part, from: word.origins[index], to: word.ends[index])
      }
    }
    return result
  }
}
