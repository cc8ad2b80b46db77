import Models

/// One walk j₀ → j₁ → … → j_L and its relevance.
public struct WalkRelevance: Sendable, Equatable {
  /// Node at the input, then the node at each layer.
  public let nodes: [Int]
  /// Its relevance R.
  public let relevance: Float
}

/// What GNN-LRP found for one graph and target.
public struct WalkExplanation: Sendable {
  /// γ of each projection (L + 1 values).
  public let gammas: [Float]
  /// The LRP-ε stabiliser of every denominator (0: none).
  public let epsilon: Float
  /// How far each rewritten projection amplifies relevance.
  public let stability: WalkStability
  /// The explained class.
  public let target: Int
  /// Model outputs (logits) of every class.
  public let outputs: [Float]
  /// The output bias of the target (not carried by any walk).
  public let bias: Float
  /// The kept walks, largest |R| first.
  public let walks: [WalkRelevance]
  /// Number of walks (those ending where the output gate is closed have R = 0 and are
  /// counted without being visited).
  public let walkCount: Int
  /// Σ R over all walks.
  public let sumOverWalks: Float
  /// Σ R of walks by start node j₀.
  public let nodeRelevance: [Float]
  /// Σ R of walks by the node they visit at each position 0…L.
  public let layerNodeRelevance: [[Float]]
  /// Σ R of walk steps along each undirected edge.
  public let edgeRelevance: [Graph.Edge: Float]

  /// Index of the predicted class.
  public var predictedIndex: Int { predictedClass(outputs) }
  /// The target output.
  public var targetOutput: Float { outputs[target] }
  /// target output − bias − Σ walks: 0 up to rounding for the exact rule; with ε > 0,
  /// what the stabiliser absorbed.
  public var residual: Float { targetOutput - bias - sumOverWalks }
}
