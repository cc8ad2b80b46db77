import CKernels

/// Layer normalisation over the last axis.
///
/// y = x̂·γ + β with x̂ = (x − μ)/σ, σ = √(var + eps) (biased variance).
/// ∂x = (ĝ − mean(ĝ) − x̂·mean(ĝ⊙x̂))/σ with ĝ = g⊙γ;
/// with σ held constant the x̂ term vanishes: ∂x = (ĝ − mean(ĝ))/σ.
/// ∂γ = Σ_rows g⊙x̂, ∂β = Σ_rows g.

extension Tensor {
  /// Layer norm over the last axis; `constantSigma` holds σ constant in the backward
  /// (the forward value is the same either way).
  public func layerNorm(gamma: Tensor, beta: Tensor, eps: Float, constantSigma: Bool = false)
    -> Tensor
  {
    let n = shape[rank - 1]
    precondition(gamma.shape == [n] && beta.shape == [n], "layer norm parameters for width \(n)")
    let rows = count / Swift.max(n, 1)
    let value = Tensor.uninitialized(shape)
    let normalized = Tensor.uninitialized(shape)
    let inverseSigma = Tensor.uninitialized([rows])
    xai_layer_norm(
      storage.base, gamma.storage.base, beta.storage.base, value.storage.base, normalized.storage.base,
      inverseSigma.storage.base, rows, n, eps, Int32(BLAS.elementwiseThreads))
    guard let needs = Tensor.gradientNeeds(self, gamma, beta) else { return value }
    let gammaValue = gamma.detach()
    return value.recorded(from: [self, gamma, beta]) { g in
      let pgo = g.storage.base
      let (pn, ps) = (normalized.storage.base, inverseSigma.storage.base)
      var gradX: Tensor?
      if needs[0] {
        let dx = Tensor.uninitialized([rows * n])
        xai_layer_norm_backward(
          pgo, gammaValue.storage.base, pn, ps, dx.storage.base, rows, n, constantSigma ? 1 : 0,
          Int32(BLAS.elementwiseThreads))
        gradX = Tensor(shape: g.shape, storage: dx.storage)
      }
      let flatG = Tensor(shape: [rows, n], storage: g.storage)
      let gradGamma =
        needs[1]
        ? Tensor.zipBroadcast(flatG, Tensor(shape: [rows, n], storage: normalized.storage), *).sum(
          axis: 0) : nil
      let gradBeta = needs[2] ? flatG.sum(axis: 0) : nil
      return [gradX, gradGamma, gradBeta]
    }
  }
}
