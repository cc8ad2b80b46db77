// Perturbation methods read the model's outputs on inputs whose units (tokens, words,
// patches, nodes) are replaced by a baseline. A coalition S is the set of units taken
// from the input; every other unit comes from the baseline; v(S) is the target logit
// there, v(N) = f(x) and v(∅) = f(baseline).
//   occlusion         φ_i = mean over the windows W ∋ i of v(N) − v(N \ W)
//   feature-ablation  φ_i = v(N) − v(N \ {i})
//   shapley           φ_i = Σ_{S ⊆ N\{i}} |S|!(n−|S|−1)!/n! · (v(S ∪ {i}) − v(S))   (exact),
//                     or the mean over random orders of the marginal v(prefix ∪ {i}) − v(prefix)
//   kernel-shap       argmin Σ_z π(z)(v(z) − v(∅) − z·φ)² subject to Σφ = v(N) − v(∅)
//   lime              Lasso (α = 0.01) of v(z) on z with weights exp(−d²/2), d the cosine
//                     distance between the input's and the perturbed input's unit rows
// Shapley and KernelSHAP are efficient: Σ φ = f(x) − f(baseline).

/// How a text's units are formed.
public enum UnitGrouping: String, Sendable, CaseIterable, Hashable {
  /// Every word piece (except `[CLS]`, `[SEP]`) is a unit.
  case tokens
  /// The word pieces of one word form one unit (`WordPieceTokenizer.wordRanges`).
  case words
}

/// The settings of a perturbation method, as the command line gives them.
public struct PerturbationSettings: Sendable, Equatable, Hashable {
  /// Occlusion: units per window side (default: 3 in a sequence, 2 patches on a grid).
  public var window: Int?
  /// Occlusion: units the window moves per step (default 1).
  public var stride: Int?
  /// Shapley: random orders (absent: exact); KernelSHAP and LIME: coalitions drawn.
  public var samples: Int?
  /// Samples for one method, over `samples` (`--samples shapley=8,kernel-shap=256`: an
  /// evaluation that compares methods gives each its own budget).
  public var methodSamples: [MethodKind: Int]
  /// Seeds every random draw (same seed and input, same draws, whatever the batching).
  public var seed: UInt64
  /// Texts: tokens or words.
  public var units: UnitGrouping
  /// Per input of one call, a key mixed into that input's seed (nil: none, every input
  /// draws from `seed` alone). A data-set evaluation keys each example by its index, so
  /// that examples of equal size do not share Shapley orders, KernelSHAP coalitions or
  /// LIME draws; an input keeps its draws whatever the batching.
  public var inputKeys: [UInt64]?

  /// Settings as given (nil: the method's default).
  public init(
    window: Int? = nil, stride: Int? = nil, samples: Int? = nil, methodSamples: [MethodKind: Int] = [:],
    seed: UInt64 = 0, units: UnitGrouping = .tokens
  ) {
    self.window = window
    self.stride = stride
    self.samples = samples
    self.methodSamples = methodSamples
    self.seed = seed
    self.units = units
  }

  /// The settings `kind` runs with: its own samples, if given, in `samples`.
  public func resolved(for kind: MethodKind) -> PerturbationSettings {
    guard let own = methodSamples[kind] else { return self }
    var settings = self
    settings.samples = own
    settings.methodSamples = [:]
    return settings
  }

  /// These settings with one key per input of the next call (`inputKeys`).
  public func keyed(by keys: [UInt64]) -> PerturbationSettings {
    var settings = self
    settings.inputKeys = keys
    return settings
  }

  /// The settings input `i` of a call draws with: the seed mixed with its key, if any.
  public func forInput(_ i: Int) -> PerturbationSettings {
    guard let keys = inputKeys else { return self }
    precondition(keys.indices.contains(i), "one input key per input")
    var settings = self
    settings.inputKeys = nil
    // SplitMix64's finaliser of the key, so that neighbouring keys give unrelated seeds.
    var z = keys[i] &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    settings.seed = seed ^ z ^ (z >> 31)
    return settings
  }

  /// Default window in a sequence of units (tokens, words, nodes).
  public static let sequenceWindow = 3
  /// Default window side on a grid of patches.
  public static let gridWindow = 2
  /// Most units exact Shapley values enumerate (2¹⁶ = 65,536 coalitions).
  public static let exactShapleyLimit = 16
  /// KernelSHAP's coalitions when `samples` is not given.
  public static let kernelShapSamples = 512
  /// LIME's coalitions when `samples` is not given (Captum's default).
  public static let limeSamples = 50
  /// LIME's Lasso penalty α (Captum's default surrogate, `SkLearnLasso(alpha=0.01)`).
  public static let limeAlpha = 0.01
  /// LIME's kernel width w in exp(−d²/(2w²)) (Captum's default).
  public static let limeKernelWidth = 1.0
  /// Most samples a method takes.
  public static let largestSamples = 1 << 20
  /// Most windows or units a method evaluates for one input.
  public static let largestEvaluations = 1 << 20
}

/// A perturbation setting that cannot work for this input: a window larger than the
/// input, more units than exact Shapley values enumerate. One sentence names the limit.
public struct PerturbationLimitError: Error, Equatable, CustomStringConvertible, InputFailure {
  /// The sentence.
  public let message: String

  public init(_ message: String) { self.message = message }
  public var description: String { message }
}
