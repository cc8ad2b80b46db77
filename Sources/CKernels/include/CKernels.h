// Small conversion kernels with a CPU-feature dispatch that Swift cannot express on its own
// (Swift compiles for baseline x86-64, so it never emits F16C or AVX2 instructions).
#ifndef XAI_CKERNELS_H
#define XAI_CKERNELS_H

#include <stddef.h>
#include <stdint.h>

/// binary16 (little-endian bit patterns, any alignment) -> binary32, `count` values.
/// Returns 1 when every value is finite (no infinity, no NaN), else 0; all values are
/// converted either way.
int xai_half_to_float(const void *source, float *target, size_t count);

/// bfloat16 (little-endian bit patterns, any alignment) -> binary32; returns 1 when every
/// value is finite.
int xai_bfloat_to_float(const void *source, float *target, size_t count);

/// 1 when all `count` floats are finite.
int xai_all_finite(const float *values, size_t count);

/// Whether the F16C path of xai_half_to_float runs on this CPU (for tests and reports).
int xai_half_conversion_is_vectorized(void);

#endif
