#include "CKernels.h"
#include "shared.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define XAI_X86 1
#endif

static inline uint16_t load16(const unsigned char *p) { return (uint16_t)(p[0] | (p[1] << 8)); }


static int half_portable(const unsigned char *source, float *target, size_t count) {
  int finite = 1;
  for (size_t i = 0; i < count; i++) {
    uint16_t bits = load16(source + 2 * i);
    finite &= (bits & 0x7C00u) != 0x7C00u;
    target[i] = xai_half_scalar(bits);
  }
  return finite;
}

#ifdef XAI_X86
__attribute__((target("avx2,f16c")))
static int half_f16c(const unsigned char *source, float *target, size_t count) {
  const __m128i exponentMask = _mm_set1_epi16(0x7C00);
  __m128i special = _mm_setzero_si128();
  size_t i = 0;
  for (; i + 8 <= count; i += 8) {
    __m128i bits = _mm_loadu_si128((const __m128i *)(source + 2 * i));
    special = _mm_or_si128(special, _mm_cmpeq_epi16(_mm_and_si128(bits, exponentMask), exponentMask));
    _mm256_storeu_ps(target + i, _mm256_cvtph_ps(bits));
  }
  int finite = _mm_testz_si128(special, special);
  if (i < count) finite &= half_portable(source + 2 * i, target + i, count - i);
  return finite;
}

static int has_f16c(void) {
  static int known = -1;
  if (known < 0) {
    __builtin_cpu_init();
    known = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c");
  }
  return known;
}
#endif

int xai_half_conversion_is_vectorized(void) {
#ifdef XAI_X86
  return has_f16c();
#else
  return 0;
#endif
}

int xai_half_to_float(const void *source, float *target, size_t count) {
#ifdef XAI_X86
  if (has_f16c()) return half_f16c((const unsigned char *)source, target, count);
#endif
  return half_portable((const unsigned char *)source, target, count);
}

int xai_bfloat_to_float(const void *source, float *target, size_t count) {
  const unsigned char *bytes = (const unsigned char *)source;
  uint32_t special = 0;
  uint32_t *out = (uint32_t *)target;
  for (size_t i = 0; i < count; i++) {
    uint32_t bits = load16(bytes + 2 * i);
    special |= ((bits & 0x7F80u) == 0x7F80u);
    out[i] = bits << 16;
  }
  return special == 0;
}

int xai_16bit_all_finite(const void *source, size_t count, int bfloat) {
  // Exponent all ones: infinity or NaN (binary16: 5 bits; bfloat16: 8 bits).
  const uint16_t mask = bfloat ? 0x7F80u : 0x7C00u;
  const unsigned char *bytes = (const unsigned char *)source;
  uint16_t special = 0;
  for (size_t i = 0; i < count; i++) special |= (uint16_t)((load16(bytes + 2 * i) & mask) == mask);
  return special == 0;
}

int xai_all_finite(const float *values, size_t count) {
  const uint32_t *bits = (const uint32_t *)values;
  uint32_t special = 0;
  for (size_t i = 0; i < count; i++) special |= ((bits[i] & 0x7F800000u) == 0x7F800000u);
  return special == 0;
}
