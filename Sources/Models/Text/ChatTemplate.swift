import Foundation

/// One message of a conversation.
public struct ChatMessage: Sendable, Equatable {
  /// `system`, `user`, `assistant`…
  public var role: String
  /// The message text.
  public var content: String

  /// A message.
  public init(role: String, content: String) {
    self.role = role
    self.content = content
  }
}

/// A chat template xai can render, recognised by the structure of its Jinja text (a
/// tokenizer_config.json's `chat_template` or a GGUF's `tokenizer.chat_template`). xai has no
/// Jinja engine: a template of another structure is refused, naming what it looks like.
public struct ChatTemplate: Sendable, Equatable {
  /// The template families xai renders.
  public enum Family: Sendable, Equatable {
    /// ChatML, as SmolLM2 and Qwen2 use it: `<|im_start|>role\ncontent<|im_end|>\n` per
    /// message, `<|im_start|>assistant\n` for the generation prompt; when the first message is
    /// not a system message, `defaultSystemPrompt` (if any) is put first as one.
    case chatML(defaultSystemPrompt: String?)
  }

  /// The family and its parameters.
  public let family: Family

  /// A template of `family`.
  public init(family: Family) { self.family = family }

  /// Recognises `template`; `source` names where it came from in errors.
  public init(template: String, source: String) throws {
    guard let tokens = JinjaTokens(template) else {
      throw ModelError.badConfig(file: source, key: "chat_template", reason: "is not a Jinja template xai can read")
    }
    if let family = Self.chatML(tokens) {
      self.family = family
      return
    }
    let looks =
      template.contains("[INST]") ? "a Llama 2 / Mistral [INST] template"
      : template.contains("<|start_header_id|>") ? "a Llama 3 header template"
      : template.contains("<|im_start|>") ? "a ChatML template with logic xai does not reproduce (tools, conditions)"
      : "a template of unknown structure"
    throw ModelError.badConfig(
      file: source, key: "chat_template",
      reason: "is \(looks); xai renders the plain ChatML form (SmolLM2, Qwen2) only")
  }

  /// The template of a Hugging Face folder: tokenizer_config.json's `chat_template` (a string,
  /// or a list of named templates whose `default` is taken), else chat_template.jinja; nil
  /// when the folder has neither.
  public static func load(folder: String) throws -> ChatTemplate? {
    let configPath = (folder as NSString).appendingPathComponent("tokenizer_config.json")
    if FileManager.default.fileExists(atPath: configPath) {
      let root = try JSONDocument.read(configPath).rootNode
      if let node = root["chat_template"], !node.isNull {
        if let text = node.string { return try ChatTemplate(template: text, source: configPath) }
        if node.isArray {
          for item in node.elements where item["name"]?.string == "default" {
            if let text = item["template"]?.string { return try ChatTemplate(template: text, source: configPath) }
          }
        }
        throw ModelError.badConfig(file: configPath, key: "chat_template", reason: "is neither a template nor a list with a default one")
      }
    }
    let jinjaPath = (folder as NSString).appendingPathComponent("chat_template.jinja")
    guard FileManager.default.fileExists(atPath: jinjaPath) else { return nil }
    let data = try readFileContents(jinjaPath)
    guard let text = String(data: data, encoding: .utf8) else {
      throw ModelError.badConfig(file: jinjaPath, key: "chat_template", reason: "is not UTF-8 text")
    }
    return try ChatTemplate(template: text, source: jinjaPath)
  }

  /// The conversation as the template renders it (`add_generation_prompt` as
  /// `addGenerationPrompt`), the text Hugging Face's `apply_chat_template(…, tokenize=False)` gives.
  public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool) -> String {
    switch family {
    case .chatML(let defaultSystemPrompt):
      var text = ""
      for (index, message) in messages.enumerated() {
        if index == 0, message.role != "system", let defaultSystemPrompt {
          text += "<|im_start|>system\n\(defaultSystemPrompt)<|im_end|>\n"
        }
        text += "<|im_start|>\(message.role)\n\(message.content)<|im_end|>\n"
      }
      if addGenerationPrompt { text += "<|im_start|>assistant\n" }
      return text
    }
  }

  /// The ChatML structure, the default system prompt block optional (its text is `\u{0}`).
  private static let chatMLForms: [JinjaTokens] = [String](arrayLiteral:
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n\u{0}<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
  ).compactMap { JinjaTokens($0) }

  private static func chatML(_ tokens: JinjaTokens) -> Family? {
    for form in chatMLForms where form.items.count == tokens.items.count {
      var prompt: String?
      var matches = true
      for (expected, found) in zip(form.items, tokens.items) where expected != found {
        guard case .string(let pattern) = expected, case .string(let text) = found,
          let hole = pattern.range(of: "\u{0}")
        else {
          matches = false
          break
        }
        let before = String(pattern[..<hole.lowerBound])
        let after = String(pattern[hole.upperBound...])
        guard text.unicodeScalars.starts(with: before.unicodeScalars),
          text.unicodeScalars.reversed().starts(with: after.unicodeScalars.reversed()),
          text.unicodeScalars.count >= before.unicodeScalars.count + after.unicodeScalars.count
        else {
          matches = false
          break
        }
        let scalars = Array(text.unicodeScalars)
        prompt = String(String.UnicodeScalarView(scalars[before.unicodeScalars.count..<(scalars.count - after.unicodeScalars.count)]))
      }
      guard matches else { continue }
      // The form with the system block always has a prompt; a template that spells the
      // placeholder itself is its own (empty-hole) match.
      if form.items.count == chatMLForms[0].items.count, prompt == nil { prompt = "\u{0}" }
      return .chatML(defaultSystemPrompt: prompt)
    }
    return nil
  }
}

/// A Jinja template as a list of tokens, for comparing structures: tag delimiters, names,
/// string literals (unescaped, adjacent ones joined across `+`), operators; `x.name` is
/// written `x['name']`; text outside tags is kept unless Hugging Face's settings
/// (`trim_blocks`, `lstrip_blocks`) or `-` markers remove it.
struct JinjaTokens: Equatable {
  enum Item: Equatable {
    case open(String), close(String), name(String), string(String), symbol(String), text(String)
  }

  var items: [Item] = []

  init?(_ template: String) {
    let s = Array(template.unicodeScalars)
    var index = 0
    var pendingText: [Unicode.Scalar] = []
    var raw: [Item] = []
    var trimNextText = false
    func flushText(nextIsBlock: Bool, stripAll: Bool) {
      var text = pendingText
      pendingText = []
      if stripAll {
        while let last = text.last, last.properties.isWhitespace { text.removeLast() }
      } else if nextIsBlock {
        // lstrip_blocks: spaces and tabs between a line start and a block tag go.
        var cut = text.count
        while cut > 0 && (text[cut - 1] == " " || text[cut - 1] == "\t") { cut -= 1 }
        if cut == 0 || text[cut - 1] == "\n" { text.removeSubrange(cut...) }
      }
      if !text.isEmpty { raw.append(.text(String(String.UnicodeScalarView(text)))) }
    }
    while index < s.count {
      if s[index] == "{" && index + 1 < s.count && (s[index + 1] == "{" || s[index + 1] == "%" || s[index + 1] == "#") {
        let kind = s[index + 1]
        let stripLeft = index + 2 < s.count && s[index + 2] == "-"
        flushText(nextIsBlock: kind == "%", stripAll: stripLeft)
        index += stripLeft ? 3 : 2
        let closing: Unicode.Scalar = kind == "{" ? "}" : kind
        // Tag contents up to the closing delimiter (outside string literals).
        var contents: [Item] = []
        var closed = false
        var stripRight = false
        while index < s.count {
          let c = s[index]
          if (c == "-" && index + 2 < s.count && s[index + 1] == closing && s[index + 2] == "}")
            || (c == closing && index + 1 < s.count && s[index + 1] == "}")
          {
            stripRight = c == "-"
            index += stripRight ? 3 : 2
            closed = true
            break
          }
          if kind == "#" {
            index += 1
            continue
          }
          if c.properties.isWhitespace {
            index += 1
          } else if c == "'" || c == "\"" {
            var value = ""
            index += 1
            var ended = false
            while index < s.count {
              let d = s[index]
              if d == c {
                ended = true
                index += 1
                break
              }
              if d == "\\" && index + 1 < s.count {
                let e = s[index + 1]
                switch e {
                case "n": value.unicodeScalars.append("\n")
                case "t": value.unicodeScalars.append("\t")
                case "r": value.unicodeScalars.append("\r")
                case "\\", "'", "\"": value.unicodeScalars.append(e)
                default: return nil
                }
                index += 2
              } else {
                value.unicodeScalars.append(d)
                index += 1
              }
            }
            guard ended else { return nil }
            contents.append(.string(value))
          } else if c.properties.isAlphabetic || c == "_" || ("0"..."9").contains(c) {
            var name = ""
            while index < s.count,
              s[index].properties.isAlphabetic || s[index] == "_" || ("0"..."9").contains(s[index])
            {
              name.unicodeScalars.append(s[index])
              index += 1
            }
            contents.append(.name(name))
          } else {
            var symbol = String(c)
            if index + 1 < s.count, ["==", "!=", "<=", ">="].contains(symbol + String(s[index + 1])) {
              symbol += String(s[index + 1])
              index += 1
            }
            index += 1
            contents.append(.symbol(symbol))
          }
        }
        guard closed else { return nil }
        if kind == "#" {
          trimNextText = stripRight
          continue
        }
        raw.append(.open(kind == "{" ? "{{" : "{%"))
        raw += Self.canonical(contents)
        raw.append(.close(kind == "{" ? "}}" : "%}"))
        trimNextText = stripRight
        // trim_blocks: the first newline after a block tag goes.
        if kind == "%" && !stripRight && index < s.count && s[index] == "\n" { index += 1 }
        continue
      }
      if trimNextText && s[index].properties.isWhitespace {
        index += 1
        continue
      }
      trimNextText = false
      pendingText.append(s[index])
      index += 1
    }
    flushText(nextIsBlock: false, stripAll: false)
    items = raw
  }

  /// `x.name` → `x['name']`; `'a' + 'b'` → `'ab'`.
  private static func canonical(_ contents: [Item]) -> [Item] {
    var result: [Item] = []
    var index = 0
    while index < contents.count {
      let item = contents[index]
      if item == .symbol("."), index + 1 < contents.count, case .name(let name) = contents[index + 1], !result.isEmpty {
        result += [.symbol("["), .string(name), .symbol("]")]
        index += 2
        continue
      }
      if case .string(let right) = item, result.count >= 2, result[result.count - 1] == .symbol("+"),
        case .string(let left) = result[result.count - 2]
      {
        result.removeLast(2)
        result.append(.string(left + right))
        index += 1
        continue
      }
      result.append(item)
      index += 1
    }
    return result
  }
}
