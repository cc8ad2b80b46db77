/// The attribution methods for graph networks, by the name the command line and JSON use.
///
///     gnn-lrp:    R(j₀ … j_L) per walk (LRP-γ, `RelevantWalks`); a node's relevance is the
///                 sum over the walks that start there
///     gradxinput: R_j = Σ_d H₀[j, d] · ∂f/∂H₀[j, d] (`NodeGradientTimesInput`)
public enum GraphMethodKind: String, CaseIterable, Sendable, Hashable {
  /// GNN-LRP relevant walks.
  case gnnLRP = "gnn-lrp"
  /// Node Gradient×Input at the input of the first message-passing layer.
  case gradxinput

  /// The method named `name` (case-insensitive), or nil.
  public init?(name: String) {
    guard let kind = Self.allCases.first(where: { $0.rawValue == name.lowercased() }) else { return nil }
    self = kind
  }

  /// How a reader sees the method's node ranking.
  public var displayName: String {
    switch self {
    case .gnnLRP: "GNN-LRP (walks by start node)"
    case .gradxinput: "Gradient×Input (nodes)"
    }
  }
}
