// Float32 exp without a libm call (expf was a large share of a forward pass, mostly call
// overhead; this inlines into the softmax loops). GELU's erf, by Abramowitz & Stegun
// 7.1.26, and the same exp live in the C kernels (Sources/CKernels/elementwise.c).
//   e^x = 2ⁿ·e^r, n = rint(x·log₂e) (by adding 1.5·2²³, which leaves n in the low
//         mantissa bits), r = x − n·ln 2 (ln 2 split in two for exactness), e^r by its
//         Taylor series to r⁷ (|r| ≤ ½ ln 2: relative error < 1e-8 before rounding).

/// e^x for float32 (inputs below −87 give about 1e-38 instead of a denormal).
@inline(__always)
func fastExp(_ x: Float) -> Float {
  let clamped = Swift.min(Swift.max(x, -87), 88)
  let shifted = clamped * 1.442_695_04 + 12_582_912
  let n = shifted - 12_582_912
  let r = clamped - n * 0.693_359_375 + n * 2.121_944_4e-4
  var p: Float = 1.0 / 5040
  p = p * r + 1.0 / 720
  p = p * r + 1.0 / 120
  p = p * r + 1.0 / 24
  p = p * r + 1.0 / 6
  p = p * r + 0.5
  p = p * r + 1
  p = p * r + 1
  return p * Float(bitPattern: (shifted.bitPattern &- 0x4B40_0000 &+ 127) << 23)
}
