import Foundation

/// How a prompt is put into the model's chat template (`--chat`, `--system`).
public struct ChatFormat: Sendable, Equatable {
  /// The system message, or nil for the template's default.
  public var system: String?

  /// The chat format with `system` as the system message.
  public init(system: String? = nil) { self.system = system }
}

/// A prompt as a language model reads it: the token ids, and which positions hold the
/// prompt's own text.
public struct PromptTokens: Sendable, Equatable {
  /// Token ids, special tokens the tokenizer adds included.
  public let ids: [Int]
  /// Positions of the prompt's own tokens: not special tokens (a BOS, chat markers) and,
  /// with a chat template, not the template's text around the user's message (role names,
  /// line breaks, a system message).
  public let units: [Int]

  /// Ids and unit positions.
  public init(ids: [Int], units: [Int]) {
    self.ids = ids
    self.units = units
  }
}

extension LanguageModel {
  /// `prompt` tokenized as `xai explain` reads it (with `chat`, formatted with the model's
  /// chat template as the user's message), with the positions of its own tokens. The
  /// user's message is found by tokenizing the template text before and after it alone
  /// (the template rendered with a placeholder for the message): the positions where those
  /// tokens agree with the whole are the template's; a token that straddles a boundary
  /// counts as the prompt's.
  public func promptTokens(_ prompt: String, chat: ChatFormat? = nil) throws -> PromptTokens {
    guard let tokenizer else {
      throw ModelError.badInput("\(path): the model has no tokenizer, so it cannot read a prompt.")
    }
    var text = prompt
    var before = ""
    var after = ""
    if let chat {
      func rendered(_ content: String) throws -> String {
        var messages: [ChatMessage] = []
        if let system = chat.system { messages.append(ChatMessage(role: "system", content: system)) }
        messages.append(ChatMessage(role: "user", content: content))
        return try chatPrompt(messages)
      }
      text = try rendered(prompt)
      // The template around the message: rendered with a placeholder in its place (the
      // prompt's own text could also occur in the template or the system message).
      let placeholder = "\u{E000}xai-prompt\u{E001}"
      let marked = try rendered(placeholder)
      if let range = marked.range(of: placeholder) {
        let head = String(marked[..<range.lowerBound])
        let tail = String(marked[range.upperBound...])
        if head + prompt + tail == text { (before, after) = (head, tail) }
      }
    }
    let ids = tokenizer.encode(text, addSpecialTokens: true)
    var start = 0
    var end = ids.count
    if chat != nil {
      let head = tokenizer.encode(before, addSpecialTokens: true)
      while start < min(head.count, ids.count) && head[start] == ids[start] { start += 1 }
      let tail = tokenizer.encode(after, addSpecialTokens: false)
      var matched = 0
      while matched < tail.count && end - 1 >= start && tail[tail.count - 1 - matched] == ids[end - 1] {
        matched += 1
        end -= 1
      }
    }
    let units = (start..<max(start, end)).filter { !tokenizer.isSpecial(ids[$0]) }
    return PromptTokens(ids: ids, units: units)
  }

  /// The one token `given` names: `#id`, or text that is exactly one token (mind the
  /// leading space: `" Paris"`); `what` names it in messages (`--target`, `'target'`).
  public func tokenId(_ given: String, what: String) throws -> Int {
    if given.hasPrefix("#"), let id = Int(given.dropFirst()) {
      guard (0..<config.vocabSize).contains(id) else {
        throw ModelError.badInput("\(what) #\(id) is outside the vocabulary of \(config.vocabSize).")
      }
      return id
    }
    guard let tokenizer else {
      throw ModelError.badInput("\(path): the model has no tokenizer; give \(what) as #id.")
    }
    let pieces = tokenizer.encode(given, addSpecialTokens: false)
    guard pieces.count == 1 else {
      let shown = pieces.prefix(8).map { "\"\(tokenizer.displayText(of: $0))\"" }.joined(separator: ", ")
      let quoted = given.count > 40 ? given.prefix(40) + "…" : given
      throw ModelError.badInput(
        "\(what) '\(quoted)' is \(pieces.count) tokens (\(shown)\(pieces.count > 8 ? ", …" : "")); give one token (mind the leading space), or #id."
      )
    }
    return pieces[0]
  }
}
