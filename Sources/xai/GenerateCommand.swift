import ArgumentParser
import Foundation
import Models
import Render
import Tensor

/// `xai generate`: continue a prompt with a decoder language model.
struct GenerateCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "generate",
    abstract: "Continue a prompt with a language model (GPT-2, Llama, Qwen2; HF folders or GGUF files).",
    discussion: """
      Streams the continuation to the terminal as it is generated, greedy unless \
      --temperature is above 0, and stops at the model's end tokens or after \
      --max-new-tokens. --chat formats the prompt with the model's own chat template \
      (with --system as the system message). --format json prints one object with the \
      prompt's and the continuation's token ids, tokens and each step's log-probability.

      Examples:
        make models && xai generate --model smollm2-135m-instruct --chat "What is the capital of France?"
        xai generate --model path/to/model.gguf --max-new-tokens 32 "Once upon a time"
        xai generate --model gpt2-folder --temperature 0.8 --top-p 0.95 --seed 7 --format json "Hello"
      """)

  /// The model `generate` uses when --model is absent (`make models` installs it).
  static let defaultModel = "smollm2-135m-instruct"
  /// Most tokens one call may generate (the model's positions usually end it first).
  static let largestNewTokens = 1 << 20

  enum Format: String, ExpressibleByArgument, CaseIterable {
    case text, json
  }

  @OptionGroup var modelOptions: ModelOptions

  @Option(name: .long, help: "Most tokens to generate.")
  var maxNewTokens = 128

  @Option(name: .long, help: "0 = greedy (default); above 0 samples from logits/temperature.")
  var temperature: Float = 0

  @Option(name: .long, help: "Sample among the k most likely tokens only.")
  var topK: Int?

  @Option(name: .long, help: "Sample among the most likely tokens holding probability p (nucleus).")
  var topP: Float?

  @Option(name: .long, help: "Seed of the sampler (same seed, same text on every machine).")
  var seed: UInt64 = 0

  @Flag(name: .long, help: "Format the prompt with the model's chat template.")
  var chat = false

  @Option(name: .long, help: "System message for --chat.")
  var system: String?

  @Flag(name: .long, help: "Do not stop at the model's end tokens (benchmarks: always --max-new-tokens).")
  var ignoreEos = false

  @Option(name: .long, help: "text (streamed) or json.")
  var format: Format = .text

  @Argument(help: "The prompt, or - to read it from standard input.")
  var prompt: String

  func validate() throws {
    guard maxNewTokens >= 1 && maxNewTokens <= Self.largestNewTokens else {
      throw ValidationError("--max-new-tokens must be between 1 and \(Self.largestNewTokens); got \(maxNewTokens).")
    }
    guard temperature.isFinite && temperature >= 0 && temperature <= 100 else {
      throw ValidationError("--temperature must be between 0 and 100; got \(temperature).")
    }
    if let topK, topK < 1 { throw ValidationError("--top-k must be at least 1; got \(topK).") }
    if let topP, !(topP > 0 && topP <= 1) { throw ValidationError("--top-p must be in (0, 1]; got \(topP).") }
    if (topK != nil || topP != nil) && temperature == 0 {
      throw ValidationError("--top-k and --top-p shape sampling; give --temperature above 0 as well.")
    }
    if system != nil && !chat { throw ValidationError("--system is part of --chat; add --chat.") }
  }

  func run() throws {
    try reportingErrors {
      let started = Date()
      let (name, path, loaded) = try modelOptions.load(defaultName: Self.defaultModel)
      guard case .language(let model) = loaded else {
        throw loaded.wrongKind(path: path, expected: .languageModel)
      }
      guard let tokenizer = model.tokenizer else {
        throw ModelError.badInput("\(path): the model has no tokenizer (tokenizer.json or vocab.json + merges.txt), so it cannot read a prompt.")
      }
      var text = prompt
      if prompt == "-" {
        let data = FileHandle.standardInput.readDataToEndOfFile()
        guard let read = String(data: data, encoding: .utf8) else {
          throw ModelError.badInput("standard input is not UTF-8 text.")
        }
        text = read
      }
      if chat {
        var messages: [ChatMessage] = []
        if let system { messages.append(ChatMessage(role: "system", content: system)) }
        messages.append(ChatMessage(role: "user", content: text))
        text = try model.chatPrompt(messages)
      }
      // A chat prompt carries its special tokens as text; the tokenizer's own prefix (BOS) is
      // added as Hugging Face's apply_chat_template(tokenize=True) adds it.
      let ids = tokenizer.encode(text, addSpecialTokens: true)
      try model.validate(ids: ids, reserving: 1)
      let stops = ignoreEos ? [] : Set(model.config.eosTokenIds)
      let sampling = SamplingOptions(temperature: temperature, topK: topK, topP: topP, seed: seed)
      let loadedAt = Date()
      let stream = StreamingText(tokenizer: tokenizer, enabled: format == .text)
      var firstTokenAt: Date?
      let (tokens, reason) = model.network.generate(
        prompt: ids, maxNewTokens: maxNewTokens, sampling: sampling, stopTokens: stops
      ) { token in
        if firstTokenAt == nil { firstTokenAt = Date() }
        stream.add(token.id, isStop: stops.contains(token.id))
        return true
      }
      stream.finish()
      let finished = Date()
      let decodeSeconds = firstTokenAt.map { finished.timeIntervalSince($0) } ?? 0
      let rate = tokens.count > 1 ? Double(tokens.count - 1) / max(decodeSeconds, 1e-9) : 0
      switch format {
      case .text:
        if reason == .contextFull {
          printError("xai: stopped: the model's \(model.config.maxPositions) positions are used up.")
        }
      case .json:
        let generatedIds = tokens.map(\.id)
        let object = JSONOutput.object([
          ("model", .string(name)),
          ("prompt", .string(text)),
          ("prompt_ids", .ints(ids)),
          ("prompt_tokens", .strings(ids.map(tokenizer.displayText(of:)))),
          ("ids", .ints(generatedIds)),
          ("tokens", .strings(generatedIds.map(tokenizer.displayText(of:)))),
          ("log_probs", .floats(tokens.map(\.logProbability))),
          ("text", .string(tokenizer.decode(generatedIds, skipSpecialTokens: true))),
          ("stop_reason", .string(reason.rawValue)),
          ("sampling", .object([
            ("temperature", .float(temperature)), ("top_k", topK.map(JSONOutput.int) ?? .null),
            ("top_p", topP.map(JSONOutput.float) ?? .null), ("seed", .int(Int(truncatingIfNeeded: seed))),
          ])),
          ("timing", .object([
            ("load_seconds", .float(Float(loadedAt.timeIntervalSince(started)))),
            ("prefill_seconds", .float(Float((firstTokenAt ?? finished).timeIntervalSince(loadedAt)))),
            ("decode_tokens_per_second", .float(Float(rate))),
          ])),
        ])
        print(object.text)
      }
    }
  }
}

/// Prints generated text as it grows: the whole continuation is decoded again at each
/// token and only what is new is written, so a character split over several byte-level
/// tokens appears once it is complete. Control characters are replaced (line breaks and
/// tabs kept); end tokens are not printed.
final class StreamingText {
  private let tokenizer: BPETokenizer
  private let enabled: Bool
  private var ids: [Int] = []
  private var printed = ""

  init(tokenizer: BPETokenizer, enabled: Bool) {
    self.tokenizer = tokenizer
    self.enabled = enabled
  }

  func add(_ id: Int, isStop: Bool) {
    guard enabled, !isStop else { return }
    ids.append(id)
    let text = tokenizer.decode(ids, skipSpecialTokens: true)
    // Hold back a trailing replacement character: the next token may complete it.
    let settled = text.hasSuffix("\u{FFFD}") ? String(text.dropLast()) : text
    guard settled.hasPrefix(printed), settled.count > printed.count else { return }
    let fresh = String(settled.dropFirst(printed.count))
    printed = settled
    write(fresh)
  }

  func finish() {
    guard enabled else { return }
    let text = tokenizer.decode(ids, skipSpecialTokens: true)
    if text.hasPrefix(printed), text.count > printed.count { write(String(text.dropFirst(printed.count))) }
    write("\n")
  }

  private func write(_ text: String) {
    let safe = String(
      String.UnicodeScalarView(
        text.unicodeScalars.map { scalar in
          scalar == "\n" || scalar == "\t" || !(scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value))
            ? scalar : "\u{FFFD}"
        }))
    FileHandle.standardOutput.write(safe.data(using: .utf8)!)
  }
}
