import ArgumentParser
import Attribution
import Foundation
import Models
import Render

/// `xai explain` options that apply to language models.
struct LanguageOptions: ParsableArguments {
  @Option(name: .long, help: ArgumentHelp("Language models: explain target − this token (text, or #id).", valueName: "token"))
  var contrast: String?

  @Option(name: .long, help: ArgumentHelp("Language models: generate N tokens, then explain each over every earlier position.", valueName: "N"))
  var generate: Int?

  @Option(name: .long, help: ArgumentHelp("With --generate: explain the summed log-probability of generated tokens A…B (1-based, inclusive).", valueName: "A:B"))
  var span: String?

  @Option(name: .long, help: ArgumentHelp("With --generate: explain only these generated tokens (1-based, comma-separated).", valueName: "I,J,…"))
  var tokens: String?

  @Flag(name: .long, help: "Language models: format the prompt with the model's chat template.")
  var chat = false

  @Option(name: .long, help: "System message for --chat.")
  var system: String?

  var isUsed: Bool { contrast != nil || generate != nil || span != nil || tokens != nil || chat || system != nil }

  func validate() throws {
    if let generate, generate < 1 || generate > 4096 {
      throw ValidationError("--generate must be between 1 and 4096; got \(generate).")
    }
    if (span != nil || tokens != nil) && generate == nil {
      throw ValidationError("--span and --tokens choose among generated tokens; add --generate N.")
    }
    if span != nil && tokens != nil { throw ValidationError("Give --span or --tokens, not both.") }
    if contrast != nil && generate != nil {
      throw ValidationError("--contrast explains the next token; leave out --generate.")
    }
    if system != nil && !chat { throw ValidationError("--system is part of --chat; add --chat.") }
    if let span, parsedSpan(span) == nil {
      throw ValidationError("--span takes A:B with 1 ≤ A ≤ B (generated tokens, 1-based); got '\(span)'.")
    }
    if let tokens, parsedTokens(tokens) == nil {
      throw ValidationError("--tokens takes positive generated-token numbers separated by commas; got '\(tokens)'.")
    }
  }

  /// `A:B` (1-based, inclusive) as a 0-based half-open range.
  func parsedSpan(_ text: String) -> Range<Int>? {
    let parts = text.split(separator: ":", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard parts.count == 2, let a = parts[0], let b = parts[1], a >= 1, b >= a, b <= 1 << 20 else { return nil }
    return (a - 1)..<b
  }

  func parsedTokens(_ text: String) -> [Int]? {
    let values = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard !values.isEmpty, values.allSatisfy({ $0 != nil && $0! >= 1 && $0! <= 1 << 20 }) else { return nil }
    return values.map { $0! - 1 }
  }
}

extension ExplainCommand {
  /// `xai explain` with a language model: the next token, a contrast, or generated text.
  func explainLanguage(_ model: LanguageModel) throws {
    guard let text else { throw ValidationError("Give a prompt to explain.") }
    guard model.tokenizer != nil else {
      throw ModelError.badInput("\(model.path): the model has no tokenizer, so it cannot read a prompt.")
    }
    if text == "-" { throw ValidationError("A language model explains one prompt; give it as an argument.") }
    let prompt = try model.promptTokens(text, chat: language.chat ? ChatFormat(system: language.system) : nil)
    let ids = prompt.ids
    func tokenId(_ given: String, option: String) throws -> Int { try model.tokenId(given, what: option) }
    let target: Int? = try targetOption.target.map { target in
      switch target {
      case .predicted: return nil
      case .index(let index): return try tokenId(String(index), option: "--target")
      case .label(let label): return try tokenId(label, option: "--target")
      }
    } ?? nil
    let contrast = try language.contrast.map { try tokenId($0, option: "--contrast") }
    let request: LanguageRequest
    if let count = language.generate {
      if target != nil { throw ValidationError("--target names the next token; with --generate the generated tokens are explained.") }
      if let span = language.span.flatMap(language.parsedSpan) {
        request = .span(count: count, span: span)
      } else {
        request = .generated(count: count, only: language.tokens.flatMap(language.parsedTokens))
      }
    } else {
      request = .nextToken(target: target, contrast: contrast)
    }
    let kind = methodOptions.method.first?.kind ?? .lrp
    let explanation: LanguageExplanation
    if kind.isPerturbation {
      guard case .nextToken(let target, let contrast) = request else {
        throw ValidationError(
          "Perturbation methods explain a language model's next token (with --target, --contrast); --generate, --span and --tokens are for lrp, attnlrp, gradxinput and integrated-gradients.")
      }
      if audit {
        throw ValidationError(
          "--audit sums h·∂f/∂h in a backward pass, which only Gradient×Input methods (lrp, attnlrp, gradxinput) have; \(kind.rawValue) runs none.")
      }
      // The prompt's own tokens are the units: never a BOS or the chat template's text.
      explanation = try model.explainByPerturbation(
        promptIds: ids, target: target, contrast: contrast, method: kind, settings: perturbation.settings,
        units: prompt.units)
    } else {
      explanation = try model.explain(
        promptIds: ids, request: request, method: kind,
        integratedGradients: IntegratedGradients(steps: methodOptions.steps, rule: methodOptions.integration),
        audit: audit)
    }
    let views = LanguageViews(mode: ColorMode.detect())
    switch output.format {
    case .json: print(views.json(explanation).text)
    case .terminal: print(views.terminal(explanation), terminator: "")
    }
    if let html = output.html {
      try writeReport(LanguageReport(explanation: explanation).html, to: html)
      printError("xai: wrote \(html)")
    }
  }
}
