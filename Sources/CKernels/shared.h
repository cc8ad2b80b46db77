// What the CKernels sources share (not part of the module's public header).
#ifndef XAI_CKERNELS_SHARED_H
#define XAI_CKERNELS_SHARED_H

#include <stdint.h>
#include <string.h>

// GNU OpenMP's entry points (libgomp, linked by the Tensor target through CDNNL).
extern void GOMP_parallel(void (*fn)(void *), void *data, unsigned threads, unsigned flags);
extern int omp_get_thread_num(void);
extern int omp_get_num_threads(void);

/// binary16 bit pattern -> binary32, exactly (subnormals, infinities and NaN included).
static inline float xai_half_scalar(uint16_t bits) {
  uint32_t sign = (uint32_t)(bits & 0x8000u) << 16;
  uint32_t exponent = (bits >> 10) & 0x1Fu;
  uint32_t mantissa = bits & 0x3FFu;
  uint32_t out;
  if (exponent == 0) {
    float value = (float)mantissa * 0x1p-24f;
    memcpy(&out, &value, 4);
    out |= sign;
  } else if (exponent == 0x1F) {
    out = sign | 0x7F800000u | (mantissa << 13);
  } else {
    out = sign | ((exponent + 112) << 23) | (mantissa << 13);
  }
  float result;
  memcpy(&result, &out, 4);
  return result;
}

/// exp(x) to about float32 rounding, as Tensor's fastExp computes it: x clamped to
/// [−87, 88], 2ⁿ·e^r with a degree-7 polynomial for e^r (NaN passes through). Inlined into
/// each kernel, so the AVX2 bodies compile it for AVX2+FMA and the baseline ones for x86-64.
static inline __attribute__((always_inline)) float xai_fast_exp(float x) {
  float clamped = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  float shifted = clamped * 1.44269504f + 12582912.0f;
  float n = shifted - 12582912.0f;
  float r = clamped - n * 0.693359375f + n * 2.1219444e-4f;
  float p = 1.0f / 5040;
  p = p * r + 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1;
  p = p * r + 1;
  int32_t bits;
  memcpy(&bits, &shifted, 4);
  int32_t scaleBits = (bits - 0x4B400000 + 127) << 23;
  float scale;
  memcpy(&scale, &scaleBits, 4);
  return p * scale;
}

#endif
