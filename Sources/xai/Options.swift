import ArgumentParser
import Attribution
import Foundation
import Models
import Pipeline
import Tensor

extension MethodKind: ExpressibleByArgument {
  public init?(argument: String) { self.init(name: argument) }
  public static var allValueStrings: [String] { allCases.map(\.rawValue) }
}

extension IntegratedGradients.Rule: ExpressibleByArgument {}

extension UnitGrouping: ExpressibleByArgument {}

extension ClassTarget: ExpressibleByArgument {
  public init?(argument: String) {
    guard !argument.isEmpty else { return nil }
    self.init(argument)
  }
}

/// `--detach layernorm,attention`: operations given their detachment rule.
struct DetachList: ExpressibleByArgument {
  let operations: Set<RuleOperation>

  init?(argument: String) {
    var operations = Set<RuleOperation>()
    for name in argument.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces).lowercased() })
    where !name.isEmpty {
      guard let operation = RuleOperation(rawValue: name) else { return nil }
      operations.insert(operation)
    }
    self.operations = operations
  }

  static var allValueStrings: [String] { RuleOperation.allCases.map(\.rawValue) }
}

/// `--gamma 0.1` or `--gamma 0,0.1,0.1,0`: LRP-γ, one value or one per projection.
struct GammaList: ExpressibleByArgument {
  let values: [Float]

  init?(argument: String) {
    let values = argument.split(separator: ",", omittingEmptySubsequences: false).map {
      Float($0.trimmingCharacters(in: .whitespaces))
    }
    guard !values.isEmpty, values.allSatisfy({ $0 != nil && $0!.isFinite }) else { return nil }
    self.values = values.map { $0! }
  }

  init(_ values: [Float]) { self.values = values }
  var defaultValueDescription: String { values.map { "\($0)" }.joined(separator: ",") }
}

/// `--model` and `--threads`, shared by every command that runs a model.
struct ModelOptions: ParsableArguments {
  @Option(
    name: .long,
    help: ArgumentHelp(
      "A model name from 'xai models' or a path (Hugging Face folder or JSON weights).",
      valueName: "name|path"))
  var model: String?

  @Option(name: .long, parsing: .unconditional, help: "BLAS threads (default: all cores).")
  var threads: Int?

  func validate() throws {
    if let threads, threads < 1 || threads > 1024 {
      throw ValidationError("--threads must be between 1 and 1024; got \(threads).")
    }
  }

  /// Applies `--threads` and loads the model (`defaultName` when --model is absent) as
  /// the kind its configuration names, warning about weights it never reads.
  func load(defaultName: String = ModelZoo.defaultModel) throws -> (
    name: String, path: String, model: LoadedModel
  ) {
    if let threads { BLAS.threads = threads }
    let loaded = try ModelZoo.load(model, defaultName: defaultName)
    warnAboutUnusedWeights(
      loaded.model.unusedWeights, path: loaded.path, architecture: loaded.model.architecture)
    return loaded
  }

  /// Applies `--threads` and loads a text model (another kind is a `wrongModelKind` error).
  func loadTextModel() throws -> TextModel {
    let (_, path, loaded) = try load()
    guard case .text(let model) = loaded else {
      throw loaded.wrongKind(path: path, expected: .textClassifier)
    }
    return model
  }

  /// One warning when a weight file holds tensors the architecture never reads.
  func warnAboutUnusedWeights(_ unused: [String], path: String, architecture: String) {
    guard !unused.isEmpty else { return }
    let shown = unused.prefix(3).joined(separator: ", ")
    printError(
      "xai: warning: \(path): \(unused.count) tensor(s) are never read by the \(architecture) architecture (\(shown)\(unused.count > 3 ? ", …" : "")); is it the right checkpoint?"
    )
  }

  /// Applies `--threads` and loads a graph model (default `graphnet-ba`).
  func loadGraphModel() throws -> (name: String, network: GraphNetwork) {
    let (name, path, loaded) = try load(defaultName: "graphnet-ba")
    guard case .graph(let network) = loaded else {
      throw loaded.wrongKind(path: path, expected: .graphNetwork)
    }
    return (name, network)
  }
}

/// A `--method` value: a text method, or GNN-LRP walks for graph models.
enum MethodName: ExpressibleByArgument, Equatable {
  case text(MethodKind)
  case gnnLRP

  init?(argument: String) {
    if GraphMethodKind(name: argument) == .gnnLRP {
      self = .gnnLRP
    } else if let kind = MethodKind(name: argument) {
      self = .text(kind)
    } else {
      return nil
    }
  }

  static var allValueStrings: [String] {
    MethodKind.allCases.map(\.rawValue) + [GraphMethodKind.gnnLRP.rawValue]
  }

  /// The text method, nil for GNN-LRP.
  var kind: MethodKind? {
    if case .text(let kind) = self { return kind }
    return nil
  }

  /// The graph method this name asks for with a graph model, or nil (gradxinput reads
  /// as node Gradient×Input there; other text methods have no graph form).
  var graphMethod: GraphMethodKind? {
    switch self {
    case .gnnLRP: .gnnLRP
    case .text(.gradxinput): .gradxinput
    case .text: nil
    }
  }
}

/// `--method`, `--detach`, `--steps`, `--integration`: what to attribute and how.
struct MethodOptions: ParsableArguments {
  @Option(
    name: .long, parsing: .singleValue,
    help: ArgumentHelp(
      "Attribution method: lrp (Gradient×Input with every detachment rule), attnlrp (AttnLRP), gradxinput, gradient (saliency) or integrated-gradients; gnn-lrp for graph models.",
      valueName: "method"))
  var method: [MethodName] = []

  @Option(
    name: .long,
    help: ArgumentHelp(
      "Detachment rules on top of gradxinput, comma-separated: layernorm, attention, gelu, tanh.",
      valueName: "list"))
  var detach: DetachList?

  @Option(name: .long, parsing: .unconditional, help: "Integrated Gradients: points on the path.")
  var steps: Int = 32

  @Option(name: .long, help: "Integrated Gradients: gauss-legendre or riemann-middle.")
  var integration: IntegratedGradients.Rule = .gaussLegendre

  func validate() throws {
    if steps < 1 || steps > 4096 {
      throw ValidationError("--steps must be between 1 and 4096; got \(steps).")
    }
    if let detach, !detach.operations.isEmpty {
      for kind in method.map({ $0.kind ?? .lrp }) where !kind.takesDetachments {
        throw ValidationError(
          kind == .lrp
            ? "--detach chooses rules for gradxinput; lrp already detaches every operation the model has."
            : "--detach applies to gradxinput, not to \(kind.rawValue).")
      }
    }
  }

  /// The text methods asked for, or `defaults` (gradxinput when only `--detach` is given);
  /// perturbation methods take `perturbation`.
  func methods(defaults: [MethodKind] = [.lrp], perturbation: PerturbationSettings = PerturbationSettings())
    throws -> [any AttributionMethod]
  {
    if method.contains(.gnnLRP) {
      throw ValidationError("gnn-lrp explains graph models; give a text method for a text model.")
    }
    let chosen = method.compactMap(\.kind)
    let kinds = chosen.isEmpty ? (detach == nil ? defaults : [.gradxinput]) : chosen
    return kinds.map {
      $0.method(
        detaching: detach?.operations ?? [], steps: steps, integration: integration, perturbation: perturbation)
    }
  }
}

/// `--window`, `--stride`, `--samples`, `--units`: how perturbation methods (occlusion,
/// feature-ablation, shapley, kernel-shap, lime) perturb; `xai eval` takes these with its
/// own `--seed`, which seeds the random baseline and the methods' draws alike.
struct PerturbationShapeOptions: ParsableArguments {
  @Option(
    name: .long, parsing: .unconditional,
    help: ArgumentHelp(
      "Occlusion: units per window (default 3; images: 2, a 2×2 square of patches).", valueName: "N"))
  var window: Int?

  @Option(
    name: .long, parsing: .unconditional,
    help: ArgumentHelp("Occlusion: units the window moves per step (default 1).", valueName: "N"))
  var stride: Int?

  @Option(
    name: .long, parsing: .unconditional,
    help: ArgumentHelp(
      "shapley: random orders (default: exact over every coalition, up to \(PerturbationSettings.exactShapleyLimit) units); kernel-shap: coalitions (default \(PerturbationSettings.kernelShapSamples)); lime: coalitions (default \(PerturbationSettings.limeSamples)). One number for all three, or per method: shapley=8,kernel-shap=256 (a number first sets the others).",
      valueName: "N|method=N,…"))
  var samples: SampleCounts?

  @Option(name: .long, help: "Texts, perturbation methods: tokens (default) or words as the units.")
  var units: UnitGrouping = .tokens

  func validate() throws {
    if let window, window < 1 { throw ValidationError("--window must be at least 1; got \(window).") }
    if let stride, stride < 1 { throw ValidationError("--stride must be at least 1; got \(stride).") }
    if let bad = samples?.values.first(where: { $0 < 1 || $0 > PerturbationSettings.largestSamples }) {
      throw ValidationError(
        "--samples must be between 1 and \(PerturbationSettings.largestSamples); got \(bad).")
    }
  }

  /// Whether any option was given.
  var isUsed: Bool { window != nil || stride != nil || samples != nil || units != .tokens }

  /// The settings given, with `seed`.
  func settings(seed: UInt64) -> PerturbationSettings {
    PerturbationSettings(
      window: window, stride: stride, samples: samples?.all, methodSamples: samples?.perMethod ?? [:], seed: seed,
      units: units)
  }

  /// Refuses an option that none of `methods` reads (`shown`: the methods as the user named
  /// them, when they are not all text methods).
  func check(methods kinds: [MethodKind], shown: String? = nil) throws {
    let names = shown ?? kinds.map(\.rawValue).joined(separator: ", ")
    if (window != nil || stride != nil) && !kinds.contains(.occlusion) {
      throw ValidationError("--window and --stride apply to --method occlusion, not to \(names).")
    }
    if samples != nil && !kinds.contains(where: { SampleCounts.methods.contains($0) }) {
      throw ValidationError("--samples applies to --method shapley, kernel-shap and lime, not to \(names).")
    }
    if let named = samples?.perMethod.keys.sorted(by: { $0.rawValue < $1.rawValue }).first(where: { !kinds.contains($0) }) {
      throw ValidationError("--samples gives \(named.rawValue) its samples, but the methods are \(names).")
    }
    if units != .tokens && !kinds.contains(where: \.isPerturbation) {
      throw ValidationError(
        "--units applies to perturbation methods (occlusion, feature-ablation, shapley, kernel-shap, lime), not to \(names); --words shows a gradient method's relevance by word."
      )
    }
  }
}

/// `--samples N`, or per method `shapley=8,kernel-shap=256` (a plain number first is the
/// count of the methods not named).
struct SampleCounts: ExpressibleByArgument, Equatable {
  /// The methods that take samples.
  static let methods: [MethodKind] = [.shapley, .kernelShap, .lime]

  /// The count of every method not named.
  var all: Int?
  /// Counts by method.
  var perMethod: [MethodKind: Int] = [:]

  init?(argument: String) {
    let parts = argument.split(separator: ",", omittingEmptySubsequences: false).map {
      $0.trimmingCharacters(in: .whitespaces)
    }
    for (index, part) in parts.enumerated() {
      let pair = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
      if pair.count == 1 {
        guard index == 0, let value = Int(pair[0]) else { return nil }
        all = value
      } else {
        guard let kind = MethodKind(name: pair[0]), Self.methods.contains(kind), perMethod[kind] == nil,
          let value = Int(pair[1])
        else { return nil }
        perMethod[kind] = value
      }
    }
  }

  /// Every count given.
  var values: [Int] { (all.map { [$0] } ?? []) + perMethod.values.sorted() }
}

/// The perturbation options and `--seed`, for the commands that have no seed of their own.
struct PerturbationOptions: ParsableArguments {
  @OptionGroup var shape: PerturbationShapeOptions

  @Option(
    name: .long, parsing: .unconditional,
    help: "Perturbation methods: the seed of every random draw (same seed and input, same result).")
  var seed: Int = 0

  func validate() throws {
    if seed < 0 { throw ValidationError("--seed must be ≥ 0; got \(seed).") }
  }

  var window: Int? { shape.window }
  var stride: Int? { shape.stride }
  var samples: SampleCounts? { shape.samples }
  var units: UnitGrouping { shape.units }

  /// The settings given.
  var settings: PerturbationSettings { shape.settings(seed: UInt64(seed)) }

  /// Refuses an option that none of `methods` reads.
  func check(methods kinds: [MethodKind], shown: String? = nil) throws {
    try shape.check(methods: kinds, shown: shown)
  }
}

/// `--target`: the class to explain.
struct TargetOption: ParsableArguments {
  @Option(
    name: .long, parsing: .unconditional,
    help: ArgumentHelp(
      "Class to explain, by index or label (default: the predicted class).", valueName: "class"))
  var target: ClassTarget?

  func validate() throws {
    if case .index(let index) = target, index < 0 {
      throw ValidationError("--target must be ≥ 0 (a class index) or a label; got \(index).")
    }
  }

  /// The class target.
  var classTarget: ClassTarget { target ?? .predicted }
}

/// `--graph`, `--index`, `--gamma`, `--top`: which graph and how to show its walks.
struct GraphOptions: ParsableArguments {
  @Option(name: .long, help: "Graph file: .json, .jsonl or .sdf/.mol.")
  var graph: String?

  @Option(name: .long, parsing: .unconditional, help: "Which graph of a JSONL or SDF file (0-based).")
  var index: Int = 0

  @OptionGroup var walks: WalkOptions

  func validate() throws {
    if index < 0 { throw ValidationError("--index must be ≥ 0; got \(index).") }
  }
}

/// `--gamma`, `--top`, `--max-walks`: how GNN-LRP walks are computed and kept, shared by
/// `xai graph`, `xai report --graph` and `xai batch` with a graph model.
struct WalkOptions: ParsableArguments {
  @Option(
    name: .long, parsing: .unconditional,
    help: ArgumentHelp("LRP-γ: one value, or one per layer plus one for the output.", valueName: "G[,G..]"))
  var gamma: GammaList = GammaList([0])

  @Option(
    name: .long, parsing: .unconditional,
    help: ArgumentHelp(
      "LRP-ε: add E·sign(z⁺) to every LRP-γ denominator z⁺ (default 0); what it absorbs is the conservation residual.",
      valueName: "E"))
  var epsilon: Float = 0

  @Option(name: .long, parsing: .unconditional, help: "How many walks to show (largest |R| first).")
  var top: Int = 10

  @Option(
    name: .long, parsing: .unconditional,
    help:
      "Refuse graphs with more walks than this (default 200000000, about 20 s at width 64; at most 2000000000)."
  )
  var maxWalks: Int = RelevantWalks.defaultWalkLimit

  func validate() throws {
    if top < 0 { throw ValidationError("--top must be ≥ 0; got \(top).") }
    if let negative = gamma.values.first(where: { $0 < 0 }) {
      throw ValidationError("--gamma must be ≥ 0; got \(negative).")
    }
    if let large = gamma.values.first(where: { $0 > RelevantWalks.largestGamma }) {
      throw ValidationError(
        "--gamma must be at most \(Int(RelevantWalks.largestGamma)) "
          + "(larger values overflow the lifted weights); got \(large).")
    }
    if !(epsilon >= 0 && epsilon <= RelevantWalks.largestEpsilon) {
      throw ValidationError(
        "--epsilon must be between 0 and \(Int(RelevantWalks.largestEpsilon)); got \(epsilon).")
    }
    if maxWalks < 1 || maxWalks > RelevantWalks.maximumWalks {
      throw ValidationError(
        "--max-walks must be between 1 and \(RelevantWalks.maximumWalks); got \(maxWalks).")
    }
  }

  /// The walk computation these options ask for.
  func relevantWalks(progress: (@Sendable (_ done: Int, _ total: Int) -> Void)? = nil) -> RelevantWalks {
    RelevantWalks(gammas: gamma.values, epsilon: epsilon, keep: top, walkLimit: maxWalks, progress: progress)
  }
}

/// `--input` and its field names: a data set of texts (JSONL, CSV) or graphs (JSONL, SDF).
struct DataOptions: ParsableArguments {
  @Option(
    name: .long, help: "The data set: JSON Lines or CSV with a header (texts), JSON Lines or SDF (graphs).")
  var input: String?

  @Option(name: .long, help: "Data set: the text field (JSONL key or CSV column).")
  var textField: String = "text"

  @Option(name: .long, help: "Data set: the label field (a class name or index).")
  var labelField: String = "label"

  @Option(name: .long, help: "Data set: the id field (default: the 0-based record index).")
  var idField: String = "id"

  @Option(name: .long, parsing: .unconditional, help: "Data set: read at most this many examples.")
  var limit: Int?

  func validate() throws {
    if let limit, limit < 1 { throw ValidationError("--limit must be at least 1; got \(limit).") }
  }

  /// The field names.
  var fields: DataFields { DataFields(text: textField, label: labelField, id: idField) }
}

/// Output format for explanations.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
  case terminal, json
}

/// `--format` and `--html`: how to show an explanation.
struct OutputOptions: ParsableArguments {
  @Option(name: .long, help: "terminal (heatmap) or json (one object per input).")
  var format: OutputFormat = .terminal

  @Option(name: .long, help: "Also write a self-contained HTML report to this file.")
  var html: String?
}

extension ShardSpec: ExpressibleByArgument {
  /// `--shard I/N`.
  public init?(argument: String) { self.init(argument) }
}

/// `--chat`, `--system`: data-set commands' prompts in a language model's chat template.
struct ChatOptions: ParsableArguments {
  @Flag(
    name: .long,
    help: "Language models: put each prompt into the model's chat template as the user's message.")
  var chat = false

  @Option(name: .long, help: "Language models: the system message for --chat.")
  var system: String?

  func validate() throws {
    if system != nil && !chat { throw ValidationError("--system is part of --chat; add --chat.") }
  }

  /// The chat format asked for, nil without --chat.
  var format: ChatFormat? { chat ? ChatFormat(system: system) : nil }

  /// Refuses --chat for a model that is not a language model or has no chat template.
  func check(_ loaded: LoadedModel) throws {
    guard chat else { return }
    guard case .language(let model) = loaded else {
      throw ValidationError("--chat formats prompts for a language model; \(loaded.architecture) is not one.")
    }
    // A model without a template xai renders is refused once, before any prompt.
    _ = try model.chatPrompt([ChatMessage(role: "user", content: "")])
  }
}

extension MethodOptions {
  /// The language-model methods asked for (default lrp); --detach and methods a decoder
  /// does not have are refused.
  func languageMethods(defaults: [MethodKind] = [.lrp]) throws -> [MethodKind] {
    if method.contains(.gnnLRP) {
      throw ValidationError(
        "gnn-lrp explains graph models; give lrp, attnlrp, gradxinput, integrated-gradients or a perturbation method.")
    }
    if detach != nil {
      throw ValidationError("--detach chooses rules for text classifiers; a language model's methods have fixed rules.")
    }
    let kinds = method.isEmpty ? defaults : method.compactMap(\.kind)
    if let other = kinds.first(where: { !PromptExplainer.allMethods.contains($0) }) {
      throw ValidationError(
        "--method \(other.rawValue) is not available for language models; use lrp, attnlrp, gradxinput, integrated-gradients, occlusion, feature-ablation, shapley, kernel-shap or lime."
      )
    }
    var unique: [MethodKind] = []
    for kind in kinds where !unique.contains(kind) { unique.append(kind) }
    return unique
  }

  /// Integrated Gradients' path as --steps and --integration give it.
  var integratedGradients: IntegratedGradients { IntegratedGradients(steps: steps, rule: integration) }
}

extension DataOptions {
  /// The prompt data set of a language model: JSON Lines with `prompt` (or --text-field)
  /// and `id` (or --id-field); a model without a tokenizer is refused before any record.
  func promptReader(_ path: String, model: LanguageModel) throws -> PromptRecordReader {
    guard model.tokenizer != nil else {
      throw ModelError.badInput("\(model.path): the model has no tokenizer, so it cannot read prompts.")
    }
    if labelField != "label" {
      throw ValidationError(
        "--label-field does not apply to language models: a prompt record names its next token in 'target'.")
    }
    return try PromptRecordReader(path: path, promptField: textField == "text" ? "prompt" : textField, idField: idField)
  }
}
