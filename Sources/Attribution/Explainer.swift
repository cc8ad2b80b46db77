import Models

/// One kind of model's explanation machinery, the same five steps for texts, images and
/// graphs: prepare a record for the model, cut prepared inputs into batches for a method,
/// explain a batch (one forward and one backward pass) for per-input targets, say which
/// positions are units and what each unit's relevance is, and remove units (the
/// perturbation that faithfulness protocols and perturbation methods apply).
public protocol Explainer: Sendable {
  /// What a data set gives: a text, an image file, a graph.
  associatedtype Record: Sendable
  /// The record prepared for the model (tokens, normalised pixels, adjacency and features).
  associatedtype Input: Sendable
  /// How relevance is computed.
  associatedtype Method: Sendable
  /// What one input's explanation holds.
  associatedtype Explanation: Sendable

  /// Class names by index.
  var labels: [String] { get }
  /// What relevance is reported over.
  var units: UnitKind { get }
  /// The name `method` has on the command line and in outputs.
  func name(of method: Method) -> String
  /// `record` ready for the model, or a `ModelError` naming what is wrong with it.
  func prepare(_ record: Record) throws -> Input
  /// Positions of `inputs` grouped into the batches `method` runs in (a plan that depends
  /// only on the inputs' sizes, so that every run computes an input in the same company).
  func batches(_ inputs: [Input], method: Method) -> [[Int]]
  /// Explains `inputs[i]` for `targets[i]` in one batched pass.
  func explain(_ inputs: [Input], method: Method, targets: [ClassTarget]) throws -> [Explanation]
  /// The model's outputs (logits) in an explanation.
  func outputs(of explanation: Explanation) -> [Float]
  /// The positions of `input` that are units (special tokens are not).
  func units(of input: Input) -> [Int]
  /// One relevance per position of the explained input.
  func unitRelevance(of explanation: Explanation) -> [Float]
  /// `input` with the units at `positions` removed: tokens become `[UNK]`, patches the
  /// black image's, nodes lose their edges and features.
  func perturb(_ input: Input, removing positions: [Int]) throws -> Input
  /// The class a data set's label names (a class name or index), or nil.
  func classIndex(ofLabel label: String) -> Int?
}

extension Explainer {
  /// A class name, else a class index written as digits.
  public func classIndex(ofLabel label: String) -> Int? {
    Attribution.classIndex(ofLabel: label, labels: labels)
  }
}

/// An error that concerns one input (an empty text, an image or graph the model cannot
/// take, outputs beyond float32, too many walks): it fails that input alone, not its batch
/// or the run. Any other error concerns the model or the method and stops the run.
public protocol InputFailure: Error {}

extension ModelError: InputFailure {}
extension WalkLimitError: InputFailure {}
