import Models
import Tensor

/// Forward pass of the rewritten network storing what the walk programme needs.
struct RewrittenForward {
  let h0: Tensor
  /// relu gate ⊙ Z/Zp per layer, [n, h_l].
  let scales: [Tensor]
  /// W̃_l = W_l + γ_l max(W_l, 0), [h_{l−1}, h_l].
  let lifted: [Tensor]
  /// Ṽ = V + γ max(V, 0), [h_L, c].
  let liftedOutput: Tensor
  /// s_out = gate ⊙ (H_L V)/(H_L Ṽ), [n, c].
  let outputScale: Tensor
  /// H₀ W̃₁, or H₀ Ṽ when there is no message-passing layer, [n, ·].
  let firstProjection: Tensor
  /// The model's outputs: mean over nodes of [relu](H_L V), plus the bias (the
  /// rewritten pass leaves every forward value unchanged).
  let outputs: [Float]
  /// The largest |z/z⁺| of every projection.
  let stability: WalkStability

  init(network: GraphNetwork, x: Tensor, adjacency: NormalizedAdjacency, gammas: [Float], epsilon: Float) {
    func lift(_ w: Tensor, _ gamma: Float) -> Tensor {
      gamma == 0 ? w : w + w.relu() * gamma
    }
    var projections: [WalkStability.Projection] = []
    func ratio(_ z: Tensor, _ zp: Tensor, gated: Bool, name: String) -> Tensor {
      projections.append(WalkStability.measure(name: name, z: z, lifted: zp, gated: gated, epsilon: epsilon))
      return Tensor.gatedRatio(z, zp, gated: gated, epsilon: epsilon)
    }
    h0 = network.input(x)
    var h = h0
    var scales: [Tensor] = []
    var lifted: [Tensor] = []
    for (l, weight) in network.layerWeights.enumerated() {
      let wl = lift(weight, gammas[l])
      let z = adjacency.aggregate(Tensor.matmul(h, weight))
      let zp = gammas[l] == 0 ? z : adjacency.aggregate(Tensor.matmul(h, wl))
      scales.append(ratio(z, zp, gated: true, name: "layer.\(l + 1)"))
      lifted.append(wl)
      h = z.relu()
    }
    liftedOutput = lift(network.outputWeight, gammas[network.layerCount])
    let o = Tensor.matmul(h, network.outputWeight)
    let op = gammas[network.layerCount] == 0 ? o : Tensor.matmul(h, liftedOutput)
    outputScale = ratio(o, op, gated: network.finalReLU, name: WalkStability.Projection.outputName)
    let mean = (network.finalReLU ? o.relu() : o).mean(axis: 0)
    outputs = (network.outputBias.map { mean + $0 } ?? mean).scalars
    self.scales = scales
    stability = WalkStability(projections: projections, epsilon: epsilon)
    self.lifted = lifted
    firstProjection = Tensor.matmul(h0, lifted.first ?? liftedOutput)
  }
}
