import Models
import Tensor

/// One way of attributing a class logit to the positions (tokens, patches) of a batch.
///
/// A method receives embedding-block outputs e [B, T, D] with their keep mask and returns
/// one relevance per real position of each row. It runs the forward pass it
/// differentiates (one per explanation), picks each row's target from those logits,
/// and hands its rules to the network; it never reaches into layers.
public protocol AttributionMethod: Sendable {
  /// Which method this is (name, display name).
  var kind: MethodKind { get }
  /// The rule of each operation in the pass this method differentiates.
  var rules: PropagationRules { get }
  /// Whether `attribute` needs `AttributionInput.baseline`.
  var needsBaseline: Bool { get }
  /// Forward rows one input costs (1; a path method: its points on the path).
  var rowsPerInput: Int { get }
  /// Forward evaluations and backward passes one explanation of one input takes (a
  /// perturbation method's count depends on the input: its outcome reports it).
  var passesPerInput: ModelPasses { get }
  /// How a text's word pieces form the units a perturbation method removes.
  var unitGrouping: UnitGrouping { get }
  /// Operations whose rule this method asks for explicitly but `present` lacks
  /// (a method that means "every rule the network has" asks for none).
  func missingOperations(in present: Set<RuleOperation>) -> [RuleOperation]
  /// Relevance of each real position of each row, for the class `targets[row]` names.
  func attribute(network: any EncoderClassifier, input: AttributionInput, targets: [ClassTarget]) throws
    -> [PositionAttribution]
}

extension AttributionMethod {
  /// Name as the command line and the JSON output spell it.
  public var name: String { kind.rawValue }

  public var rowsPerInput: Int { 1 }

  public var passesPerInput: ModelPasses { .gradient }

  public var unitGrouping: UnitGrouping { .tokens }

  public func missingOperations(in present: Set<RuleOperation>) -> [RuleOperation] {
    rules.modified.subtracting(present).sorted()
  }
}

/// A padded batch as the methods see it.
public struct AttributionInput: Sendable {
  /// Embedding-block output e [B, T, D] (no history).
  public let embeddings: Tensor
  /// Which positions of each row are real.
  public let keep: KeepMask
  /// For path methods: the baseline b [B, T, D] (no history).
  public let baseline: Tensor?
  /// For the relevance audit of a batch of one: records sublayer inputs and biases.
  public let probe: RelevanceProbe?
  /// Whether each result should carry the gradient at the embeddings (to carry
  /// relevance further back, to pixels, through the linear front end).
  public let keepsGradient: Bool
  /// For perturbation methods: the units of each row (nil: every real position).
  public let units: [UnitLayout]?
  /// What the units are called in outputs (`tokens`, `words`, `patches`).
  public let unitName: String

  /// A batch of embeddings with its mask and, for path methods, its baseline.
  public init(
    embeddings: Tensor, keep: KeepMask, baseline: Tensor? = nil, probe: RelevanceProbe? = nil,
    keepsGradient: Bool = false, units: [UnitLayout]? = nil, unitName: String = "positions"
  ) {
    precondition(
      embeddings.rank == 3 && embeddings.shape[0] == keep.batchSize && embeddings.shape[1] == keep.length)
    precondition(baseline == nil || baseline!.shape == embeddings.shape)
    precondition(probe == nil || keep.batchSize == 1, "the audit explains one text at a time")
    self.embeddings = embeddings
    self.keep = keep
    self.baseline = baseline
    self.probe = probe
    self.keepsGradient = keepsGradient
    precondition(units == nil || units!.count == keep.batchSize, "one unit layout per row")
    self.units = units
    self.unitName = unitName
  }
}

/// What a method computed for one row.
public struct PositionAttribution: Sendable {
  /// One relevance per real position.
  public let relevance: [Float]
  /// The logits of every class at the input, from the pass the method ran.
  public let logits: [Float]
  /// The explained class.
  public let target: Int
  /// For path methods: the target logit at the baseline.
  public let baselineLogit: Float?
  /// When the input asked for it: the gradient the relevance was computed from, at
  /// each real position [length × D] (Integrated Gradients: averaged over the path).
  public let gradient: [Float]?
  /// For perturbation methods: the units, their relevance and the evaluations used.
  public let perturbation: PerturbationOutcome?

  /// One row's result (a method outside this module builds its own).
  public init(
    relevance: [Float], logits: [Float], target: Int, baselineLogit: Float?, gradient: [Float]? = nil,
    perturbation: PerturbationOutcome? = nil
  ) {
    self.relevance = relevance
    self.logits = logits
    self.target = target
    self.baselineLogit = baselineLogit
    self.gradient = gradient
    self.perturbation = perturbation
  }
}

/// A rule asked for on an operation that the network does not have.
public struct MissingOperationError: Error, Equatable, CustomStringConvertible {
  /// The method that asked.
  public let method: String
  /// The operations the network lacks.
  public let operations: [RuleOperation]

  public var description: String {
    let names = operations.map(\.rawValue).joined(separator: ", ")
    return "\(method) detaches \(names), but the model has no such operation"
      + (operations.contains(.tanh) ? " (tanh is the BERT pooler's; DistilBERT has none)." : ".")
  }
}

/// The relevance audit was asked of a method that is not Gradient×Input.
public struct AuditUnavailableError: Error, Equatable, CustomStringConvertible {
  /// The method asked.
  public let method: String

  public var description: String {
    "The relevance audit sums h·∂f/∂h, which is \(method)'s relevance only for Gradient×Input methods (lrp, attnlrp, gradxinput)."
  }
}

/// Splits [B, T] values into one array per row, each cut to the row's real length.
func rowsByLength(_ values: Tensor, keep: KeepMask) -> [[Float]] {
  values.withUnsafeBufferPointer { buffer in
    keep.lengths.enumerated().map { row, count in
      Array(buffer[(row * keep.length)..<(row * keep.length + count)])
    }
  }
}

/// The real positions of each row of a [B, T, D] tensor, flattened, when `wanted`.
func gradientRows(_ values: Tensor, keep: KeepMask, wanted: Bool) -> [[Float]?] {
  guard wanted else { return Array(repeating: nil, count: keep.batchSize) }
  let width = values.shape[2]
  return values.withUnsafeBufferPointer { buffer in
    keep.lengths.enumerated().map { row, count in
      Array(buffer[(row * keep.length * width)..<((row * keep.length + count) * width)])
    }
  }
}

/// Rows of a [B, C] tensor.
func rows(_ matrix: Tensor) -> [[Float]] {
  let columns = matrix.shape[1]
  return matrix.withUnsafeBufferPointer { buffer in
    (0..<matrix.shape[0]).map { Array(buffer[($0 * columns)..<(($0 + 1) * columns)]) }
  }
}

/// Σ_d a_{b,t,d}·b_{b,t,d} for [B, T, D] tensors → [B, T].
func positionDot(_ a: Tensor, _ b: Tensor) -> Tensor {
  (a * b).sum(axis: -1)
}
