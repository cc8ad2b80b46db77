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

/// 1 when all `count` binary16 (bfloat = 0) or bfloat16 (bfloat = 1) values are finite
/// (little-endian bit patterns, any alignment); nothing is converted.
int xai_16bit_all_finite(const void *source, size_t count, int bfloat);

/// 1 when all `count` floats are finite.
int xai_all_finite(const float *values, size_t count);

/// Whether the F16C path of xai_half_to_float runs on this CPU (for tests and reports).
int xai_half_conversion_is_vectorized(void);

/// Elementwise kernels of the transformer layers, split over `threads` OpenMP threads when
/// large (1 = the calling thread only); see elementwise.c.
/// GELU y = x·Φ(x); `saved` receives nothing (mode 0), Φ(x) (1) or dGELU/dx (2).
void xai_gelu(const float *x, float *y, float *saved, size_t count, int mode, int threads);
/// out = a ⊙ b.
void xai_multiply(const float *a, const float *b, float *out, size_t count, int threads);
/// target += source.
void xai_add_in_place(float *target, const float *source, size_t count, int threads);
/// Layer normalisation of `rows` rows of `width`: y = x̂·γ + β, x̂ and 1/σ kept.
void xai_layer_norm(const float *x, const float *gamma, const float *beta, float *y, float *xhat,
                    float *inverse_sigma, size_t rows, size_t width, float eps, int threads);
/// ∂x of layer normalisation (σ held constant when `constant_sigma`).
void xai_layer_norm_backward(const float *g, const float *gamma, const float *xhat,
                             const float *inverse_sigma, float *dx, size_t rows, size_t width,
                             int constant_sigma, int threads);
/// SiLU y = x·σ(x); `saved` receives nothing (mode 0), σ(x) (1) or dSiLU/dx (2).
void xai_silu(const float *x, float *y, float *saved, size_t count, int mode, int threads);
/// RMS normalisation of `rows` rows: y = w ⊙ x·r, x·r and r = (mean x² + eps)^(−½) kept.
void xai_rms_norm(const float *x, const float *weight, float *y, float *normalized, float *scales, size_t rows,
                  size_t width, float eps, int threads);
/// ∂x of RMS normalisation (r held constant when `constant_scale`).
void xai_rms_norm_backward(const float *g, const float *weight, const float *normalized, const float *scales,
                           float *dx, size_t rows, size_t width, int constant_scale, int threads);
/// Whether the AVX2+FMA versions run on this CPU.
int xai_elementwise_is_vectorized(void);
/// Tests: run the baseline versions even where AVX2 is present (1), or choose again (0).
void xai_elementwise_force_portable(int portable);

/// Causal attention's row kernels over a block of `rows` rows of `columns` scores: the rows
/// of several heads of one tile of query rows, `rows_per_head` rows per head, the tile's
/// first row seeing `first_visible` keys and each next row one more (up to `columns`).
/// Softmax in place over the visible columns; the rest are set to 0.
void xai_causal_softmax(float *scores, size_t rows, size_t columns, size_t rows_per_head, size_t first_visible,
                        int threads);
/// ∂S = P ⊙ (∂P − rowsum(∂P ⊙ P)) in place of ∂P over the visible columns (the rest 0).
void xai_causal_softmax_backward(float *grad, const float *probabilities, size_t rows, size_t columns,
                                 size_t rows_per_head, size_t first_visible, int threads);

/// Matrix–vector products straight from GGML block-quantised weights (see quantized.c): each
/// weight is dequantised exactly (as GGML and gguf-py define it) in registers and multiplied
/// in float32; activations are never quantised. Rows are split over `threads` OpenMP threads
/// in contiguous chunks; results do not depend on the thread count nor on `vectors`.
/// 1 when `ggml_type` (GGML's type number: F32 0, F16 1, Q4_0 2, Q4_1 3, Q5_0 6, Q5_1 7,
/// Q8_0 8, Q4_K 12, Q5_K 13, Q6_K 14, BF16 30) is supported, else 0.
int xai_quantized_supported(int ggml_type);
/// Bytes of one row of `columns` values (0 when columns is not a multiple of the block size
/// or the type is unsupported).
size_t xai_quantized_row_bytes(int ggml_type, size_t columns);
/// y[t*rows + r] = Σ_c W[r, c] · x[t*columns + c] for r < rows, t < vectors: W is `rows` rows
/// of `columns` values stored in consecutive rows of row_bytes each. Returns 0 for an
/// unsupported type or columns that are not a multiple of the block size, else 1.
int xai_quantized_matmul(int ggml_type, const void *weights, size_t rows, size_t columns, const float *x,
                         size_t vectors, float *y, int threads);
/// Dequantises rows [first, first+count) into out (count × columns floats), exactly; returns
/// 0 like xai_quantized_matmul.
int xai_quantized_dequantize_rows(int ggml_type, const void *weights, size_t first, size_t count, size_t columns,
                                  float *out, int threads);
/// Whether the AVX2+FMA+F16C path runs (for reports and tests).
int xai_quantized_is_vectorized(void);
/// Tests: run the portable path even where AVX2 is present (1), or choose again (0).
void xai_quantized_force_portable(int portable);

#endif
