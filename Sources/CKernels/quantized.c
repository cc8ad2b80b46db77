// Matrix–vector products read straight from GGML's block-quantised weights (GGUF tensors,
// mmapped), for decoding a few tokens at a time without dequantising the model to F32.
//
// Numerics: every weight is first dequantised exactly as GGML (and gguf-py) define it, as a
// float32 — w = fl(d·q + m) with d·q exact (one fused multiply-add), or fl(d·(q − k)) — bit
// for bit the value gguf-py's dequantize gives; then y = Σ w·x in float32. No
// activation is quantised, so the product is the dequantised model's product up to float32
// rounding of the sum. xai_quantized_dequantize_rows writes the same values.
//
// Compiled twice: for AVX2+FMA+F16C (chosen at run time) and portably. The AVX2 path decodes
// 32 weights into four 8-lane registers and multiplies them into two accumulators per (row,
// vector): A += w[0:8]·x, B += w[8:16]·x, A += w[16:24]·x, B += w[24:32]·x, block after block,
// then y = hsum(A + B) in a fixed order. Tiles of several rows or vectors (for registers and
// reuse of each decoded block) keep that order per (row, vector), so a result depends neither
// on the tile, nor on how many vectors are multiplied at once, nor on the thread count: rows
// are split over threads (GNU OpenMP's GOMP_parallel, like elementwise.c) in contiguous
// chunks and each row is computed by one thread.
#include "CKernels.h"
#include "shared.h"

#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define XAI_X86 1
#endif


/// Below this many weights (times vectors) a product runs on the calling thread alone.
#define XAI_QUANT_PARALLEL_MINIMUM 65536

enum {
  T_F32 = 0, T_F16 = 1, T_Q4_0 = 2, T_Q4_1 = 3, T_Q5_0 = 6, T_Q5_1 = 7, T_Q8_0 = 8,
  T_Q4_K = 12, T_Q5_K = 13, T_Q6_K = 14, T_BF16 = 30
};

/// Values per block and bytes per block; 0 when unsupported. The plain types are handled in
/// "blocks" of 32 values with a shorter tail.
static int layout(int type, size_t *values, size_t *bytes) {
  switch (type) {
  case T_F32: *values = 32; *bytes = 128; return 1;
  case T_F16: *values = 32; *bytes = 64; return 1;
  case T_BF16: *values = 32; *bytes = 64; return 1;
  case T_Q4_0: *values = 32; *bytes = 18; return 1;
  case T_Q4_1: *values = 32; *bytes = 20; return 1;
  case T_Q5_0: *values = 32; *bytes = 22; return 1;
  case T_Q5_1: *values = 32; *bytes = 24; return 1;
  case T_Q8_0: *values = 32; *bytes = 34; return 1;
  case T_Q4_K: *values = 256; *bytes = 144; return 1;
  case T_Q5_K: *values = 256; *bytes = 176; return 1;
  case T_Q6_K: *values = 256; *bytes = 210; return 1;
  default: return 0;
  }
}

static int is_plain(int type) { return type == T_F32 || type == T_F16 || type == T_BF16; }

int xai_quantized_supported(int ggml_type) {
  size_t values, bytes;
  return layout(ggml_type, &values, &bytes);
}

size_t xai_quantized_row_bytes(int ggml_type, size_t columns) {
  size_t values, bytes;
  if (!layout(ggml_type, &values, &bytes)) return 0;
  if (is_plain(ggml_type)) return columns * (ggml_type == T_F32 ? 4 : 2);
  if (columns % values != 0) return 0;
  return columns / values * bytes;
}

// ---- shared scalar pieces ---------------------------------------------------------------

static inline uint16_t load16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t load32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}


static inline float bfloat_value(uint16_t bits) {
  uint32_t out = (uint32_t)bits << 16;
  float result;
  memcpy(&result, &out, 4);
  return result;
}

/// The 6-bit scale and minimum of sub-block j of a Q4_K/Q5_K super-block (12 packed bytes).
static inline void k_scale_min(const uint8_t *s, int j, int *scale, int *minimum) {
  if (j < 4) {
    *scale = s[j] & 63;
    *minimum = s[j + 4] & 63;
  } else {
    *scale = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4);
    *minimum = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

// ---- portable path ----------------------------------------------------------------------

/// Dequantises one block (32 or 256 values; `count` ≤ 32 values for the plain types) exactly.
static void decode_block_portable(int type, const uint8_t *b, float *out, size_t count) {
  switch (type) {
  case T_F32: memcpy(out, b, count * 4); break;
  case T_F16: for (size_t i = 0; i < count; i++) out[i] = xai_half_scalar(load16(b + 2 * i)); break;
  case T_BF16: for (size_t i = 0; i < count; i++) out[i] = bfloat_value(load16(b + 2 * i)); break;
  case T_Q4_0: {
    float d = xai_half_scalar(load16(b));
    for (int i = 0; i < 16; i++) {
      out[i] = d * (float)((b[2 + i] & 0x0F) - 8);
      out[i + 16] = d * (float)((b[2 + i] >> 4) - 8);
    }
    break;
  }
  case T_Q4_1: {
    float d = xai_half_scalar(load16(b)), m = xai_half_scalar(load16(b + 2));
    for (int i = 0; i < 16; i++) {
      out[i] = d * (float)(b[4 + i] & 0x0F) + m;  // d·q is exact: one rounding either way
      out[i + 16] = d * (float)(b[4 + i] >> 4) + m;
    }
    break;
  }
  case T_Q5_0: {
    float d = xai_half_scalar(load16(b));
    uint32_t qh = load32(b + 2);
    for (int i = 0; i < 16; i++) {
      int lo = (b[6 + i] & 0x0F) | (int)(((qh >> i) & 1) << 4);
      int hi = (b[6 + i] >> 4) | (int)(((qh >> (i + 16)) & 1) << 4);
      out[i] = d * (float)(lo - 16);
      out[i + 16] = d * (float)(hi - 16);
    }
    break;
  }
  case T_Q5_1: {
    float d = xai_half_scalar(load16(b)), m = xai_half_scalar(load16(b + 2));
    uint32_t qh = load32(b + 4);
    for (int i = 0; i < 16; i++) {
      int lo = (b[8 + i] & 0x0F) | (int)(((qh >> i) & 1) << 4);
      int hi = (b[8 + i] >> 4) | (int)(((qh >> (i + 16)) & 1) << 4);
      out[i] = d * (float)lo + m;
      out[i + 16] = d * (float)hi + m;
    }
    break;
  }
  case T_Q8_0: {
    float d = xai_half_scalar(load16(b));
    for (int i = 0; i < 32; i++) out[i] = d * (float)(int8_t)b[2 + i];
    break;
  }
  case T_Q4_K:
  case T_Q5_K: {
    float d = xai_half_scalar(load16(b)), dmin = xai_half_scalar(load16(b + 2));
    const uint8_t *scales = b + 4;
    const uint8_t *qh = b + 16;                              // Q5_K only
    const uint8_t *qs = b + (type == T_Q4_K ? 16 : 48);
    for (int j = 0; j < 8; j++) {
      int sc, mn;
      k_scale_min(scales, j, &sc, &mn);
      float d1 = d * (float)sc, m1 = dmin * (float)mn;      // both exact
      const uint8_t *q = qs + (j / 2) * 32;
      for (int l = 0; l < 32; l++) {
        int value = (j & 1) ? (q[l] >> 4) : (q[l] & 0x0F);
        if (type == T_Q5_K) value |= ((qh[l] >> j) & 1) << 4;
        out[j * 32 + l] = d1 * (float)value - m1;           // d1·value exact: one rounding
      }
    }
    break;
  }
  case T_Q6_K: {
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *scales = (const int8_t *)(b + 192);
    float d = xai_half_scalar(load16(b + 208));
    for (int h = 0; h < 2; h++) {
      for (int k = 0; k < 4; k++) {
        for (int l = 0; l < 32; l++) {
          int low = (ql[h * 64 + (k & 1) * 32 + l] >> ((k >> 1) * 4)) & 0x0F;
          int high = (qh[h * 32 + l] >> (2 * k)) & 3;
          float d1 = d * (float)scales[h * 8 + 2 * k + l / 16];  // exact
          out[h * 128 + k * 32 + l] = d1 * (float)((low | (high << 4)) - 32);
        }
      }
    }
    break;
  }
  }
}

/// Rows [r0, r1) × all vectors; per (row, vector) eight partial sums over column mod 8.
static void matvec_portable(int type, const uint8_t *w, size_t row_bytes, size_t columns,
                            const float *x, size_t vectors, float *y, size_t rows, size_t r0, size_t r1) {
  size_t block_values, block_bytes;
  layout(type, &block_values, &block_bytes);
  float buffer[256];
  float partial[8][8];
  for (size_t r = r0; r < r1; r++) {
    const uint8_t *row = w + r * row_bytes;
    for (size_t v0 = 0; v0 < vectors; v0 += 8) {
      size_t group = vectors - v0 < 8 ? vectors - v0 : 8;
      memset(partial, 0, sizeof partial);
      for (size_t c0 = 0, b = 0; c0 < columns; c0 += block_values, b++) {
        size_t count = columns - c0 < block_values ? columns - c0 : block_values;
        decode_block_portable(type, row + b * block_bytes, buffer, count);
        for (size_t v = 0; v < group; v++) {
          const float *xv = x + (v0 + v) * columns + c0;
          for (size_t i = 0; i < count; i++) partial[v][i & 7] += buffer[i] * xv[i];
        }
      }
      for (size_t v = 0; v < group; v++) {
        float *p = partial[v];
        y[(v0 + v) * rows + r] = ((p[0] + p[4]) + (p[2] + p[6])) + ((p[1] + p[5]) + (p[3] + p[7]));
      }
    }
  }
}

static void dequantize_portable(int type, const uint8_t *w, size_t row_bytes, size_t columns, float *out,
                                size_t first, size_t r0, size_t r1) {
  size_t block_values, block_bytes;
  layout(type, &block_values, &block_bytes);
  for (size_t r = r0; r < r1; r++) {
    const uint8_t *row = w + r * row_bytes;
    float *target = out + (r - first) * columns;
    for (size_t c0 = 0, b = 0; c0 < columns; c0 += block_values, b++) {
      size_t count = columns - c0 < block_values ? columns - c0 : block_values;
      decode_block_portable(type, row + b * block_bytes, target + c0, count);
    }
  }
}

// ---- AVX2 path --------------------------------------------------------------------------

#ifdef XAI_X86
#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define AVX2_INLINE __attribute__((target("avx2,fma,f16c"), always_inline)) static inline

/// Per-unit (32 values) scale and offset: w = fma(q, scale, offset), or scale·(q − k) for
/// the types without a minimum. Q6_K has two scales per unit (one per 16 values).
typedef struct {
  float scale[16], offset[16];
} Scales;

/// One f16 field → float. The empty asm makes the compiler build the whole register (movd
/// zeroes it): left alone, clang turns this into a pinsrw that merges into whatever register
/// it picks, an accumulator included, which chains every block to the previous one's sums.
AVX2_INLINE float half_f16c(const uint8_t *p) {
  __m128i bits = _mm_cvtsi32_si128(load16(p));
  __asm__("" : "+x"(bits));
  return _mm_cvtss_f32(_mm_cvtph_ps(bits));
}

/// One f16 field broadcast to eight lanes (vpbroadcastw from memory has no register input).
AVX2_INLINE __m256 half_broadcast(const uint8_t *p) {
  return _mm256_cvtph_ps(_mm_set1_epi16((short)load16(p)));
}

/// The scales of a K-quant super-block (the 32-value blocks read theirs in decode_unit), eight
/// (sixteen for Q6_K) at a time.
AVX2_INLINE void prepare(int type, const uint8_t *b, Scales *s) {
  switch (type) {
  case T_Q4_K:
  case T_Q5_K: {
    // The 12 bytes as three words: bytes j < 4 of `low` and `middle` hold scale and minimum
    // of sub-block j in their low six bits, and their top two bits are bits 4–5 of those of
    // sub-block j + 4, whose bits 0–3 are the nibbles of `high` (scale low, minimum high).
    uint32_t low, middle, high;
    memcpy(&low, b + 4, 4);
    memcpy(&middle, b + 8, 4);
    memcpy(&high, b + 12, 4);
    uint64_t scales = (uint64_t)(low & 0x3F3F3F3Fu) |
                      (uint64_t)((high & 0x0F0F0F0Fu) | ((low >> 2) & 0x30303030u)) << 32;
    uint64_t minimums = (uint64_t)(middle & 0x3F3F3F3Fu) |
                        (uint64_t)(((high >> 4) & 0x0F0F0F0Fu) | ((middle >> 2) & 0x30303030u)) << 32;
    __m256 sc = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)scales)));
    __m256 mn = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)minimums)));
    // d·scale and dmin·minimum are exact (11 × 6 bits); the offset is −dmin·minimum.
    _mm256_storeu_ps(s->scale, _mm256_mul_ps(sc, _mm256_set1_ps(half_f16c(b))));
    _mm256_storeu_ps(s->offset, _mm256_mul_ps(mn, _mm256_set1_ps(-half_f16c(b + 2))));
    break;
  }
  case T_Q6_K: {
    __m256 d = _mm256_set1_ps(half_f16c(b + 208));  // d·scale exact (11 × 8 bits)
    __m128i scales = _mm_loadu_si128((const __m128i *)(b + 192));
    _mm256_storeu_ps(s->scale, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(scales)), d));
    _mm256_storeu_ps(s->scale + 8,
                     _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(scales, 8))), d));
    break;
  }
  default: break;
  }
}

AVX2_INLINE __m256i bytes8(const uint8_t *p) { return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p)); }

/// w = d·q + m with d·q exact: one rounding, as GGML's dequantisation.
AVX2_INLINE void scale4(const __m256i q[4], __m256 d, __m256 m, __m256 w[4]) {
#pragma GCC unroll 4
  for (int g = 0; g < 4; g++) w[g] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(q[g]), d, m);
}

/// w = d·(q − k), the integer subtracted first as GGML does (a zero keeps d's sign).
AVX2_INLINE void scale4_symmetric(__m256i q[4], int k, __m256 d, __m256 w[4]) {
#pragma GCC unroll 4
  for (int g = 0; g < 4; g++) w[g] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(q[g], _mm256_set1_epi32(k))), d);
}

/// The 32 exact weights of unit j of block b into w[0..3] (values 8g..8g+7 in w[g]).
AVX2_INLINE void decode_unit(int type, const uint8_t *b, int j, const Scales *s, __m256 w[4]) {
  const __m256i low4 = _mm256_set1_epi32(0x0F);
  __m256i q[4];
  switch (type) {
  case T_F32:
#pragma GCC unroll 4
    for (int g = 0; g < 4; g++) w[g] = _mm256_loadu_ps((const float *)(const void *)(b + 32 * g));
    return;
  case T_F16:
#pragma GCC unroll 4
    for (int g = 0; g < 4; g++) w[g] = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(b + 16 * g)));
    return;
  case T_BF16:
#pragma GCC unroll 4
    for (int g = 0; g < 4; g++)
      w[g] = _mm256_castsi256_ps(
          _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(b + 16 * g))), 16));
    return;
  case T_Q8_0:
#pragma GCC unroll 4
    for (int g = 0; g < 4; g++)
      w[g] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(b + 2 + 8 * g)))),
                           half_broadcast(b));
    return;
  case T_Q4_0:
  case T_Q4_1:
  case T_Q5_0:
  case T_Q5_1: {
    const uint8_t *qs = b + (type == T_Q4_0 ? 2 : type == T_Q4_1 ? 4 : type == T_Q5_0 ? 6 : 8);
    __m256i a = bytes8(qs), c = bytes8(qs + 8);
    q[0] = _mm256_and_si256(a, low4);
    q[1] = _mm256_and_si256(c, low4);
    q[2] = _mm256_srli_epi32(a, 4);
    q[3] = _mm256_srli_epi32(c, 4);
    if (type == T_Q5_0 || type == T_Q5_1) {
      // Bit 8g+i of qh is the fifth bit of value 8g+i: shift it to bit 4 of its lane.
      uint32_t bits = load32(b + (type == T_Q5_0 ? 2 : 4));
      const __m256i sixteen = _mm256_set1_epi32(16);
      __m256i h = _mm256_set1_epi32((int)bits);
      __m256i h4 = _mm256_set1_epi32((int)(bits << 4));
      q[0] = _mm256_or_si256(q[0], _mm256_and_si256(_mm256_srlv_epi32(h4, _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)), sixteen));
      q[1] = _mm256_or_si256(q[1], _mm256_and_si256(_mm256_srlv_epi32(h, _mm256_setr_epi32(4, 5, 6, 7, 8, 9, 10, 11)), sixteen));
      q[2] = _mm256_or_si256(q[2], _mm256_and_si256(_mm256_srlv_epi32(h, _mm256_setr_epi32(12, 13, 14, 15, 16, 17, 18, 19)), sixteen));
      q[3] = _mm256_or_si256(q[3], _mm256_and_si256(_mm256_srlv_epi32(h, _mm256_setr_epi32(20, 21, 22, 23, 24, 25, 26, 27)), sixteen));
    }
    if (type == T_Q4_0 || type == T_Q5_0)
      scale4_symmetric(q, type == T_Q4_0 ? 8 : 16, half_broadcast(b), w);
    else
      scale4(q, half_broadcast(b), half_broadcast(b + 2), w);
    return;
  }
  case T_Q4_K:
  case T_Q5_K: {
    const uint8_t *qs = b + (type == T_Q4_K ? 16 : 48) + (j / 2) * 32;
#pragma GCC unroll 4
    for (int g = 0; g < 4; g++) {
      __m256i a = bytes8(qs + 8 * g);
      q[g] = (j & 1) ? _mm256_srli_epi32(a, 4) : _mm256_and_si256(a, low4);
      if (type == T_Q5_K) {
        __m256i h = bytes8(b + 16 + 8 * g);  // bit j of qh[l] is the fifth bit of value l
        h = j <= 4 ? _mm256_slli_epi32(h, 4 - j) : _mm256_srli_epi32(h, j - 4);
        q[g] = _mm256_or_si256(q[g], _mm256_and_si256(h, _mm256_set1_epi32(16)));
      }
    }
    scale4(q, _mm256_set1_ps(s->scale[j]), _mm256_set1_ps(s->offset[j]), w);
    return;
  }
  case T_Q6_K: {
    int h = j / 4, k = j % 4;
    const uint8_t *ql = b + h * 64 + (k & 1) * 32;
    const uint8_t *qh = b + 128 + h * 32;
#pragma GCC unroll 4
    for (int g = 0; g < 4; g++) {
      __m256i a = bytes8(ql + 8 * g);
      a = (k >> 1) ? _mm256_srli_epi32(a, 4) : _mm256_and_si256(a, low4);
      __m256i t = bytes8(qh + 8 * g);  // bits 2k, 2k+1 → bits 4, 5
      t = k == 0 ? _mm256_slli_epi32(t, 4) : k == 1 ? _mm256_slli_epi32(t, 2) : k == 2 ? t : _mm256_srli_epi32(t, 2);
      q[g] = _mm256_or_si256(a, _mm256_and_si256(t, _mm256_set1_epi32(0x30)));
    }
    __m256 d0 = _mm256_set1_ps(s->scale[2 * j]), d1 = _mm256_set1_ps(s->scale[2 * j + 1]);
    const __m256i thirtyTwo = _mm256_set1_epi32(32);
    w[0] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(q[0], thirtyTwo)), d0);
    w[1] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(q[1], thirtyTwo)), d0);
    w[2] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(q[2], thirtyTwo)), d1);
    w[3] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(q[3], thirtyTwo)), d1);
    return;
  }
  }
}

/// The fixed horizontal sum of A + B.
AVX2_INLINE float finish(__m256 a, __m256 b) {
  __m256 s = _mm256_add_ps(a, b);
  __m128 t = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  t = _mm_add_ps(t, _mm_movehl_ps(t, t));
  t = _mm_add_ss(t, _mm_movehdup_ps(t));
  return _mm_cvtss_f32(t);
}

/// The product of R rows and V vectors (R·V ≤ 4), block after block.
AVX2_INLINE void tile(int type, int R, int V, const uint8_t *w, size_t row_bytes, size_t columns,
                      const float *x, float *y, size_t rows, size_t r) {
  size_t block_values, block_bytes;
  layout(type, &block_values, &block_bytes);
  size_t unit_count = block_values / 32;
  size_t blocks = columns / block_values;
  __m256 accA[4][4], accB[4][4];
#pragma GCC unroll 4
  for (int i = 0; i < R; i++)
#pragma GCC unroll 4
    for (int v = 0; v < V; v++) accA[i][v] = accB[i][v] = _mm256_setzero_ps();
  const uint8_t *base = w + r * row_bytes;
  Scales scales[4];
  for (size_t b = 0; b < blocks; b++) {
#pragma GCC unroll 4
    for (int i = 0; i < R; i++) prepare(type, base + i * row_bytes + b * block_bytes, &scales[i]);
#pragma GCC unroll 8
    for (int j = 0; j < (int)unit_count; j++) {
      size_t c = b * block_values + (size_t)j * 32;
#pragma GCC unroll 4
      for (int i = 0; i < R; i++) {
        // The same place in the next tile's rows: the hardware prefetchers alone leave the
        // interleaved rows of a tile short of bandwidth (Q8_0 from memory: 6 → 11 GB/s).
        _mm_prefetch((const char *)((uintptr_t)(base + i * row_bytes + b * block_bytes) +
                                    (size_t)j * block_bytes / unit_count + (size_t)R * row_bytes),
                     _MM_HINT_T0);
        __m256 q[4];
        decode_unit(type, base + i * row_bytes + b * block_bytes, j, &scales[i], q);
#pragma GCC unroll 4
        for (int v = 0; v < V; v++) {
          const float *xv = x + (size_t)v * columns + c;
          accA[i][v] = _mm256_fmadd_ps(q[0], _mm256_loadu_ps(xv), accA[i][v]);
          accB[i][v] = _mm256_fmadd_ps(q[1], _mm256_loadu_ps(xv + 8), accB[i][v]);
          accA[i][v] = _mm256_fmadd_ps(q[2], _mm256_loadu_ps(xv + 16), accA[i][v]);
          accB[i][v] = _mm256_fmadd_ps(q[3], _mm256_loadu_ps(xv + 24), accB[i][v]);
        }
      }
    }
  }
  size_t tail = columns - blocks * block_values;  // plain types only
  if (tail) {
    float wt[32] __attribute__((aligned(32))), xt[32] __attribute__((aligned(32)));
    for (int i = 0; i < R; i++) {
      memset(wt, 0, sizeof wt);
      decode_block_portable(type, base + i * row_bytes + blocks * block_bytes, wt, tail);
      for (int v = 0; v < V; v++) {
        memset(xt, 0, sizeof xt);
        memcpy(xt, x + (size_t)v * columns + blocks * block_values, tail * 4);
        accA[i][v] = _mm256_fmadd_ps(_mm256_load_ps(wt), _mm256_load_ps(xt), accA[i][v]);
        accB[i][v] = _mm256_fmadd_ps(_mm256_load_ps(wt + 8), _mm256_load_ps(xt + 8), accB[i][v]);
        accA[i][v] = _mm256_fmadd_ps(_mm256_load_ps(wt + 16), _mm256_load_ps(xt + 16), accA[i][v]);
        accB[i][v] = _mm256_fmadd_ps(_mm256_load_ps(wt + 24), _mm256_load_ps(xt + 24), accB[i][v]);
      }
    }
  }
#pragma GCC unroll 4
  for (int i = 0; i < R; i++)
#pragma GCC unroll 4
    for (int v = 0; v < V; v++) y[(size_t)v * rows + r + i] = finish(accA[i][v], accB[i][v]);
}

/// One type's product over rows [r0, r1): vectors in groups of four; a group of one or two
/// vectors takes four or two rows at a time (the K-quants one row: their tiles of several
/// rows of super-blocks ran slower).
#define XAI_MATVEC_AVX2(NAME, TYPE)                                                              \
  AVX2 static void NAME(const uint8_t *w, size_t row_bytes, size_t columns, const float *x,     \
                        size_t vectors, float *y, size_t rows, size_t r0, size_t r1) {           \
    for (size_t v0 = 0; v0 < vectors; v0 += 4) {                                                \
      size_t group = vectors - v0 < 4 ? vectors - v0 : 4;                                       \
      const float *xg = x + v0 * columns;                                                       \
      float *yg = y + v0 * rows;                                                                \
      size_t r = r0;                                                                            \
      if (group == 1 && (TYPE == T_Q4_K || TYPE == T_Q5_K || TYPE == T_Q6_K)) {                 \
        for (; r < r1; r++) tile(TYPE, 1, 1, w, row_bytes, columns, xg, yg, rows, r);           \
      } else if (group == 1) {                                                                  \
        for (; r + 4 <= r1; r += 4) tile(TYPE, 4, 1, w, row_bytes, columns, xg, yg, rows, r);   \
      } else if (group == 2 && (TYPE == T_Q4_K || TYPE == T_Q5_K || TYPE == T_Q6_K)) {          \
        for (; r < r1; r++) tile(TYPE, 1, 2, w, row_bytes, columns, xg, yg, rows, r);           \
      } else if (group == 2) {                                                                  \
        for (; r + 2 <= r1; r += 2) tile(TYPE, 2, 2, w, row_bytes, columns, xg, yg, rows, r);   \
      } else if (group == 3) {                                                                  \
        for (; r < r1; r++) tile(TYPE, 1, 3, w, row_bytes, columns, xg, yg, rows, r);           \
      } else {                                                                                  \
        for (; r < r1; r++) tile(TYPE, 1, 4, w, row_bytes, columns, xg, yg, rows, r);           \
      }                                                                                         \
      for (; r < r1; r++)                                                                       \
        for (size_t v = 0; v < group; v++)                                                      \
          tile(TYPE, 1, 1, w, row_bytes, columns, xg + v * columns, yg + v * rows, rows, r);    \
    }                                                                                           \
  }                                                                                             \
  AVX2 static void NAME##_dequantize(const uint8_t *w, size_t row_bytes, size_t columns,        \
                                     float *out, size_t first, size_t r0, size_t r1) {         \
    size_t block_values, block_bytes;                                                           \
    layout(TYPE, &block_values, &block_bytes);                                                  \
    size_t units = block_values / 32;                                                           \
    size_t blocks = columns / block_values;                                                     \
    for (size_t r = r0; r < r1; r++) {                                                          \
      const uint8_t *row = w + r * row_bytes;                                                   \
      float *target = out + (r - first) * columns;                                              \
      for (size_t b = 0; b < blocks; b++) {                                                     \
        Scales s;                                                                               \
        prepare(TYPE, row + b * block_bytes, &s);                                               \
        for (size_t j = 0; j < units; j++) {                                                    \
          __m256 q[4];                                                                          \
          decode_unit(TYPE, row + b * block_bytes, (int)j, &s, q);                              \
          for (int g = 0; g < 4; g++) _mm256_storeu_ps(target + b * block_values + j * 32 + 8 * g, q[g]); \
        }                                                                                       \
      }                                                                                         \
      if (blocks * block_values < columns)                                                      \
        decode_block_portable(TYPE, row + blocks * block_bytes, target + blocks * block_values, \
                              columns - blocks * block_values);                                 \
    }                                                                                           \
  }

XAI_MATVEC_AVX2(matvec_f32, T_F32)
XAI_MATVEC_AVX2(matvec_f16, T_F16)
XAI_MATVEC_AVX2(matvec_bf16, T_BF16)
XAI_MATVEC_AVX2(matvec_q4_0, T_Q4_0)
XAI_MATVEC_AVX2(matvec_q4_1, T_Q4_1)
XAI_MATVEC_AVX2(matvec_q5_0, T_Q5_0)
XAI_MATVEC_AVX2(matvec_q5_1, T_Q5_1)
XAI_MATVEC_AVX2(matvec_q8_0, T_Q8_0)
XAI_MATVEC_AVX2(matvec_q4_k, T_Q4_K)
XAI_MATVEC_AVX2(matvec_q5_k, T_Q5_K)
XAI_MATVEC_AVX2(matvec_q6_k, T_Q6_K)

typedef void (*MatvecFunction)(const uint8_t *, size_t, size_t, const float *, size_t, float *, size_t, size_t,
                               size_t);
typedef void (*DequantizeFunction)(const uint8_t *, size_t, size_t, float *, size_t, size_t, size_t);

static int pick_avx2(int type, MatvecFunction *matvec, DequantizeFunction *dequantize) {
  switch (type) {
#define XAI_CASE(T, NAME) case T: *matvec = NAME; *dequantize = NAME##_dequantize; return 1;
    XAI_CASE(T_F32, matvec_f32)
    XAI_CASE(T_F16, matvec_f16)
    XAI_CASE(T_BF16, matvec_bf16)
    XAI_CASE(T_Q4_0, matvec_q4_0)
    XAI_CASE(T_Q4_1, matvec_q4_1)
    XAI_CASE(T_Q5_0, matvec_q5_0)
    XAI_CASE(T_Q5_1, matvec_q5_1)
    XAI_CASE(T_Q8_0, matvec_q8_0)
    XAI_CASE(T_Q4_K, matvec_q4_k)
    XAI_CASE(T_Q5_K, matvec_q5_k)
    XAI_CASE(T_Q6_K, matvec_q6_k)
#undef XAI_CASE
  default: return 0;
  }
}

static int forced_portable = 0;

static int has_avx2(void) {
  static int known = -1;
  if (forced_portable) return 0;
  if (known < 0) {
    __builtin_cpu_init();
    known = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  }
  return known;
}
#endif

int xai_quantized_is_vectorized(void) {
#ifdef XAI_X86
  return has_avx2();
#else
  return 0;
#endif
}

void xai_quantized_force_portable(int portable) {
#ifdef XAI_X86
  forced_portable = portable;
#else
  (void)portable;
#endif
}

// ---- splitting rows over threads --------------------------------------------------------

typedef struct {
  int type;
  int dequantize;  // 0: product, 1: rows → F32
  const uint8_t *w;
  size_t row_bytes, columns, rows, first;
  const float *x;
  size_t vectors;
  float *y;
} Job;

static void run_range(const Job *job, size_t r0, size_t r1) {
#ifdef XAI_X86
  MatvecFunction matvec;
  DequantizeFunction dequantize;
  if (has_avx2() && pick_avx2(job->type, &matvec, &dequantize)) {
    if (job->dequantize)
      dequantize(job->w, job->row_bytes, job->columns, job->y, job->first, r0, r1);
    else
      matvec(job->w, job->row_bytes, job->columns, job->x, job->vectors, job->y, job->rows, r0, r1);
    return;
  }
#endif
  if (job->dequantize)
    dequantize_portable(job->type, job->w, job->row_bytes, job->columns, job->y, job->first, r0, r1);
  else
    matvec_portable(job->type, job->w, job->row_bytes, job->columns, job->x, job->vectors, job->y, job->rows, r0, r1);
}

/// Rows [first, first + count) in contiguous shares of whole groups of four rows.
static void run_share(void *data) {
  const Job *job = (const Job *)data;
  size_t threads = (size_t)omp_get_num_threads();
  size_t index = (size_t)omp_get_thread_num();
  size_t groups = (job->rows + 3) / 4;
  size_t begin = groups * index / threads * 4, end = groups * (index + 1) / threads * 4;
  if (end > job->rows) end = job->rows;
  if (begin < end) run_range(job, job->first + begin, job->first + end);
}

static void run(Job *job, size_t count, int threads) {
  size_t work = count * job->columns * (job->dequantize ? 1 : job->vectors);
  if (threads > 1 && count >= 8 && work >= XAI_QUANT_PARALLEL_MINIMUM) {
    GOMP_parallel(run_share, job, (unsigned)threads, 0);
  } else {
    run_range(job, job->first, job->first + count);
  }
}

int xai_quantized_matmul(int ggml_type, const void *weights, size_t rows, size_t columns, const float *x,
                         size_t vectors, float *y, int threads) {
  size_t row_bytes = xai_quantized_row_bytes(ggml_type, columns);
  if (row_bytes == 0 && columns != 0) return 0;
  if (!xai_quantized_supported(ggml_type)) return 0;
  if (rows == 0 || vectors == 0) return 1;
  if (columns == 0) {
    memset(y, 0, rows * vectors * sizeof(float));
    return 1;
  }
  Job job = {.type = ggml_type, .dequantize = 0, .w = (const uint8_t *)weights, .row_bytes = row_bytes,
             .columns = columns, .rows = rows, .first = 0, .x = x, .vectors = vectors, .y = y};
  run(&job, rows, threads);
  return 1;
}

int xai_quantized_dequantize_rows(int ggml_type, const void *weights, size_t first, size_t count, size_t columns,
                                  float *out, int threads) {
  size_t row_bytes = xai_quantized_row_bytes(ggml_type, columns);
  if (row_bytes == 0 && columns != 0) return 0;
  if (!xai_quantized_supported(ggml_type)) return 0;
  if (count == 0 || columns == 0) return 1;
  Job job = {.type = ggml_type, .dequantize = 1, .w = (const uint8_t *)weights, .row_bytes = row_bytes,
             .columns = columns, .rows = count, .first = first, .x = NULL, .vectors = 0, .y = out};
  run(&job, count, threads);
  return 1;
}
