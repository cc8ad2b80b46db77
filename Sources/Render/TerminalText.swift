/// `text` with every control character (C0, DEL, C1: escape sequences, bells, carriage
/// returns, line breaks) replaced by U+FFFD, so that text from a file cannot move the
/// cursor, retitle the window or clear the screen of the terminal it is printed to.
/// With `keepingLineBreaks`, "\n" stays (for messages of several lines).
public func terminalSafe(_ text: String, keepingLineBreaks: Bool = false) -> String {
  func unsafe(_ scalar: Unicode.Scalar) -> Bool {
    isControl(scalar) && !(keepingLineBreaks && scalar == "\n")
  }
  guard text.unicodeScalars.contains(where: unsafe) else { return text }
  var result = String.UnicodeScalarView()
  for scalar in text.unicodeScalars {
    result.append(unsafe(scalar) ? "\u{FFFD}" : scalar)
  }
  return String(result)
}

private func isControl(_ scalar: Unicode.Scalar) -> Bool {
  scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
}
