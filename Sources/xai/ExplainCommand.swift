import ArgumentParser
import Attribution
import Foundation
import Models
import Render
import Tensor

/// `xai explain`: attribute a text classifier's prediction to the tokens of a sentence.
struct ExplainCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "explain",
    abstract:
      "Explain the prediction of a text classifier for a sentence, or of an image classifier for images.",
    discussion: """
      Runs the model (default: the embedded sentiment model) on the text, picks the \
      predicted class (or --target) and attributes its logit to the tokens at the output \
      of the embedding block. Relevance is red for the target class and blue against it. \
      The footer compares Σ relevance with the logit (conservation).

      Examples:
        xai explain "This was one of the best movies I have ever seen."
        xai explain --method integrated-gradients --steps 64 --words "Not bad at all."
        xai explain --detach layernorm,attention --format json "A dull film."
        cat sentences.txt | xai explain --format json -
        xai explain --model vit-digits --image samples/data/digits/3-0045.png --html digit.html
      """)

  @OptionGroup var modelOptions: ModelOptions
  @OptionGroup var methodOptions: MethodOptions
  @OptionGroup var targetOption: TargetOption
  @OptionGroup var output: OutputOptions

  @Flag(name: .long, help: "Merge word pieces into words (relevance summed).")
  var words = false

  @Flag(
    name: .long,
    help: "Also show Σ h·∂f/∂h at the input of every sublayer and the biases' share (Gradient×Input methods)."
  )
  var audit = false

  @OptionGroup var images: ImageOptions

  @OptionGroup(title: "Perturbation methods") var perturbation: PerturbationOptions

  @OptionGroup(title: "Language models") var language: LanguageOptions

  @Argument(help: "The text to explain, or - to read one text per line from standard input.")
  var text: String?

  func validate() throws {
    try images.check()
    if methodOptions.method.count > 1 {
      throw ValidationError("explain takes one --method; 'xai report' shows several side by side.")
    }
    if !images.files.isEmpty && text != nil {
      throw ValidationError("Give a text or --image files, not both.")
    }
    if !images.files.isEmpty && (words || audit) {
      throw ValidationError("--words and --audit apply to texts, not to images.")
    }
    if !images.files.isEmpty && perturbation.units != .tokens {
      throw ValidationError("--units words applies to texts; an image's units are its patches.")
    }
    try perturbation.check(methods: methodOptions.method.isEmpty ? [.lrp] : methodOptions.method.compactMap(\.kind))
  }

  /// The one method asked for, with the perturbation settings.
  func chosenMethod() throws -> any AttributionMethod {
    try methodOptions.methods(perturbation: perturbation.settings)[0]
  }

  /// `--image`: each image with the image model, terminal panels or JSON, and a page.
  func explainImageFiles(_ loaded: LoadedModel, name: String) throws -> Int32? {
    guard !images.files.isEmpty else {
      throw ValidationError("\(name) is an image model; give images with --image FILE.")
    }
    let model = try modelOptions.imageModel(loaded, name: name)
    let method = try chosenMethod()
    let (prepared, failure) = prepareImages(images.files, model: model)
    let results = try explainImages(
      prepared, model: model, methods: [method], target: targetOption.classTarget,
      baseline: images.baseline ?? .black)
    let views = ImageViews()
    let mode = ColorMode.detect()
    for explanation in results.map({ $0[0] }) {
      switch output.format {
      case .json: print(views.json(explanation).text)
      case .terminal: print(views.terminal(explanation, mode: mode))
      }
    }
    if let html = output.html, !results.isEmpty {
      try writeReport(views.page(results, title: "\(model.name): \(method.kind.displayName)"), to: html)
      printError("xai: wrote \(html)")
    }
    return failure
  }

  func run() throws {
    var failed: Int32?
    try reportingErrors {
      if let html = output.html { try checkWritable(html, inputs: images.files + [modelOptions.inputPath]) }
      // Options only a language model takes choose the default language model.
      let (name, path, loaded) = try modelOptions.load(
        defaultName: language.isUsed ? GenerateCommand.defaultModel : ModelZoo.defaultModel)
      if !images.files.isEmpty || loaded.kind == .imageClassifier {
        failed = try explainImageFiles(loaded, name: name)
        return
      }
      if case .language(let model) = loaded {
        if words {
          throw ValidationError(
            "--words merges a text classifier's word pieces into words; a language model's tokens are shown as they are, so leave --words out.")
        }
        if perturbation.units == .words {
          throw ValidationError("--units words groups a text classifier's word pieces; a language model's units are its tokens.")
        }
        try explainLanguage(model)
        return
      }
      guard let text else {
        throw ValidationError("Give a text to explain, or - to read one text per line from standard input.")
      }
      if text != "-" && ProcessInfo.processInfo.environment["XAI_GEMM"] == nil && !BLAS.openBLASIsGeneric {
        // One explanation cannot pay back oneDNN's just-in-time kernels (about 80 ms at
        // start, B6); a stream of texts can. Where OpenBLAS runs generic kernels on an
        // AVX2/AVX-512 CPU, they are the slower choice even so: the plan decides.
        BLAS.backend = .openBLAS
      }
      if language.isUsed {
        throw ValidationError("--contrast, --generate, --span, --tokens and --chat apply to language models.")
      }
      guard case .text(let model) = loaded else {
        throw loaded.wrongKind(path: path, expected: .textClassifier)
      }
      let method = try chosenMethod()
      let heatmap = TerminalHeatmap(mode: ColorMode.detect(), mergeWords: words || method.unitGrouping == .words)
      var last: TextExplanation?
      func explain(_ text: String, line: Int?) throws {
        let explanation = try model.explain(
          text, method: method, target: targetOption.classTarget, audit: audit)
        last = explanation
        if explanation.encoded.truncated {
          printError(
            "xai: warning: the text\(line.map { " on line \($0)" } ?? "") was truncated to \(model.config.maxPositions) tokens."
          )
        }
        switch output.format {
        case .json: print(explanation.json.text)
        case .terminal: print(heatmap.render(explanation), terminator: "")
        }
        fflush(nil)
      }
      if text == "-" {
        // One answer per input line as it arrives: an explanation, or (for a blank or
        // unreadable line) an error object in JSON and a message on stderr.
        let lines = try LineReader(path: "-")
        while let bytes = try lines.nextLine() {
          let number = lines.lineNumber
          do {
            guard let line = String(validating: bytes, as: UTF8.self) else {
              throw ModelError.badInput("standard input line \(number) is not valid UTF-8.")
            }
            try explain(line, line: number)
          } catch let error as InputFailure & CustomStringConvertible {
            // A text that cannot be explained (ModelError) or whose units a perturbation
            // setting does not fit (PerturbationLimitError): this line fails, the next is read.
            printError("xai: line \(number): \(error.description)")
            if output.format == .json {
              print(JSONOutput.object([("line", .int(number)), ("error", .string(error.description))]).text)
              fflush(nil)
            }
            failed = ExitStatus.code(for: error)
          }
        }
      } else {
        try explain(text, line: nil)
      }
      if let html = output.html, let last {
        try writeReport(SentenceReport(explanations: [last]).html, to: html)
        printError("xai: wrote \(html)")
      }
    }
    if let failed { throw ExitCode(failed) }
  }
}
