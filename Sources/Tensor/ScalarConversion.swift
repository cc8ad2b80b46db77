import CKernels

/// Conversions of stored weights to float32, vectorised where the CPU allows (F16C on
/// x86-64, chosen at run time): the kernels also report whether every value is finite, so
/// a loader checks its weights in the same pass that converts them.
public enum ScalarConversion {
  /// binary16 bit patterns (little-endian, any alignment) → float32; true when all are finite.
  @discardableResult
  public static func halfToFloat(_ source: UnsafeRawPointer, count: Int, into target: UnsafeMutablePointer<Float>)
    -> Bool
  {
    xai_half_to_float(source, target, count) != 0
  }

  /// bfloat16 bit patterns (little-endian, any alignment) → float32; true when all are finite.
  @discardableResult
  public static func bfloatToFloat(
    _ source: UnsafeRawPointer, count: Int, into target: UnsafeMutablePointer<Float>
  ) -> Bool {
    xai_bfloat_to_float(source, target, count) != 0
  }

  /// Whether all `count` binary16 (or, with `bfloat`, bfloat16) bit patterns are finite,
  /// without converting them.
  public static func allFinite16(_ source: UnsafeRawPointer, count: Int, bfloat: Bool) -> Bool {
    xai_16bit_all_finite(source, count, bfloat ? 1 : 0) != 0
  }

  /// Whether all `count` floats are finite (no infinity, no NaN).
  public static func allFinite(_ values: UnsafePointer<Float>, count: Int) -> Bool {
    xai_all_finite(values, count) != 0
  }

  /// Whether the elementwise kernels (GELU, layer norm) run their AVX2+FMA versions here.
  public static var elementwiseIsVectorized: Bool { xai_elementwise_is_vectorized() != 0 }

  /// Whether `halfToFloat` uses the CPU's F16C instructions here.
  public static var halfIsVectorized: Bool { xai_half_conversion_is_vectorized() != 0 }
}

extension Tensor {
  /// Whether every scalar is finite.
  public var allFinite: Bool {
    withUnsafeBufferPointer { ScalarConversion.allFinite($0.baseAddress!, count: $0.count) }
  }
}
