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

#endif
