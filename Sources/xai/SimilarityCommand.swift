import ArgumentParser
import Attribution
import Foundation
import Models
import Render
import Tensor

extension SimilarityScore: ExpressibleByArgument {}

/// `xai similarity`: why a sentence encoder finds two texts similar (BiLRP).
struct SimilarityCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "similarity",
    abstract: "Explain the similarity of two texts' embeddings by pairs of tokens (BiLRP).",
    discussion: """
      Embeds both texts with a sentence encoder (default: all-minilm-l6-v2, which \
      'make models' fetches), prints their cosine and dot product and explains the \
      score by a token × token relevance matrix R_ij = Σ_m R_i^m(A)·R_j^m(B), where \
      R^m is the relevance of embedding coordinate m under the method's rules. The \
      footer compares Σ R_ij with the score (conservation) and says what the residual is.

      Examples:
        xai similarity "A man is playing a guitar." "Someone plays an acoustic guitar."
        xai similarity --method attnlrp --html pair.html "The cat sat." "A kitten was sitting."
        xai similarity --rank 32 --format json "a long text …" "another long text …"
      """)

  /// The model used when --model is not given.
  static let defaultModel = "all-minilm-l6-v2"

  @OptionGroup var modelOptions: ModelOptions

  @Option(name: .long, help: "lrp (default), attnlrp or gradxinput.")
  var method: MethodKind = .lrp

  @Option(name: .long, help: "What the matrix explains: cosine (default; what sentence-transformers reports) or dot.")
  var explain: SimilarityScore = .cosine

  @Option(
    name: .long, parsing: .unconditional,
    help: "Explain in the K principal directions of the two texts instead of every embedding coordinate (faster for long texts; its error is reported)."
  )
  var rank: Int?

  @Option(name: .long, parsing: .unconditional, help: "Token pairs listed (default 8).")
  var pairs: Int = 8

  @OptionGroup var output: OutputOptions

  @Argument(help: "Text A.")
  var a: String

  @Argument(help: "Text B.")
  var b: String

  func validate() throws {
    guard SimilarityExplainer.methods.contains(method) else {
      throw ValidationError(
        "--method \(method.rawValue) has no BiLRP form; use lrp, attnlrp or gradxinput (their relevance is linear in the explained output).")
    }
    if let rank, rank < 1 { throw ValidationError("--rank must be at least 1; got \(rank).") }
    if pairs < 1 || pairs > 10_000 { throw ValidationError("--pairs must be between 1 and 10000; got \(pairs).") }
  }

  func run() throws {
    try reportingErrors {
      if let html = output.html {
        try checkWritable(html, inputs: [try? ModelZoo.resolve(modelOptions.model ?? Self.defaultModel).path])
      }
      let (_, path, loaded) = try modelOptions.load(defaultName: Self.defaultModel)
      guard case .text(let model) = loaded else {
        throw loaded.wrongKind(path: path, expected: .textClassifier)
      }
      if ProcessInfo.processInfo.environment["XAI_GEMM"] == nil && !BLAS.openBLASIsGeneric {
        // One pair is one explanation: oneDNN's just-in-time kernels would not pay back.
        BLAS.backend = .openBLAS
      }
      let explainer = SimilarityExplainer(encoder: try SentenceEncoder(model))
      try explainer.check(rank: rank)
      let explanation = try explainer.explain(a, b, method: method, score: explain, rank: rank)
      for (name, side) in [("A", explanation.a), ("B", explanation.b)] where side.encoded.truncated {
        printError("xai: warning: text \(name) was cut to the model's \(side.tokens.count) tokens.")
      }
      let views = SimilarityViews(mode: ColorMode.detect(), pairs: pairs)
      switch output.format {
      case .json: print(views.json(explanation).text)
      case .terminal: print(views.terminal(explanation), terminator: "")
      }
      if let html = output.html {
        try writeReport(SimilarityPage(explanations: [explanation]).html, to: html)
        printError("xai: wrote \(html)")
      }
    }
  }
}
