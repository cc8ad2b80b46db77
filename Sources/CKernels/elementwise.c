// Elementwise kernels of the transformer layers (GELU, layer normalisation, products),
// compiled twice: for AVX2+FMA (chosen at run time) and for baseline x86-64. Work is split
// by rows over the OpenMP team oneDNN's products already use (GNU OpenMP's GOMP_parallel),
// so the thread that spins between products does half the elementwise work instead of
// waiting. Every element is computed by the same arithmetic whatever the split, so results
// do not depend on the thread count.
#include "CKernels.h"
#include "shared.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__)
#define XAI_X86 1
#endif


/// Below this many scalars a kernel runs on the calling thread alone.
#define XAI_PARALLEL_MINIMUM 32768

// ---- the kernels' bodies, instantiated per instruction set ------------------------------

#define XAI_BODIES(SUFFIX, ATTRIBUTE)                                                          \
  ATTRIBUTE static void gelu_##SUFFIX(                                                        \
      const float *x, float *y, float *saved, size_t begin, size_t end, int mode) {           \
    for (size_t i = begin; i < end; i++) {                                                    \
      float v = x[i];                                                                         \
      float a = fabsf(v) * 0.70710678118654752f;                                              \
      float t = 1.0f / (1.0f + 0.3275911f * a);                                               \
      float p = 1.061405429f;                                                                 \
      p = p * t - 1.453152027f;                                                               \
      p = p * t + 1.421413741f;                                                               \
      p = p * t - 0.284496736f;                                                               \
      p = p * t + 0.254829592f;                                                               \
      float gauss = xai_fast_exp(-a * a);                                                \
      float erfAbs = 1.0f - p * t * gauss;                                                    \
      float erfValue = v < 0 ? -erfAbs : erfAbs;                                              \
      float cdf = 0.5f * (1.0f + erfValue);                                                   \
      y[i] = v * cdf;                                                                         \
      if (mode == 1) saved[i] = cdf;                                                          \
      if (mode == 2) saved[i] = cdf + v * gauss * 0.39894228040143268f;                       \
    }                                                                                         \
  }                                                                                           \
  ATTRIBUTE static void silu_##SUFFIX(                                                        \
      const float *x, float *y, float *saved, size_t begin, size_t end, int mode) {           \
    for (size_t i = begin; i < end; i++) {                                                    \
      float v = x[i];                                                                         \
      float sigma = 1.0f / (1.0f + xai_fast_exp(-v));                                    \
      y[i] = v * sigma;                                                                       \
      if (mode == 1) saved[i] = sigma;                                                        \
      if (mode == 2) saved[i] = sigma * (1.0f + v * (1.0f - sigma));                          \
    }                                                                                         \
  }                                                                                           \
  ATTRIBUTE static void rms_forward_##SUFFIX(                                                 \
      const float *x, const float *weight, float *y, float *normalized, float *scales,        \
      size_t width, float eps, size_t begin, size_t end) {                                    \
    for (size_t r = begin; r < end; r++) {                                                    \
      const float *row = x + r * width;                                                       \
      float squares = 0;                                                                      \
      for (size_t i = 0; i < width; i++) squares += row[i] * row[i];                          \
      float scale = 1.0f / sqrtf(squares / (float)width + eps);                               \
      scales[r] = scale;                                                                      \
      for (size_t i = 0; i < width; i++) {                                                    \
        float n = row[i] * scale;                                                             \
        normalized[r * width + i] = n;                                                        \
        y[r * width + i] = weight[i] * n;                                                     \
      }                                                                                       \
    }                                                                                         \
  }                                                                                           \
  ATTRIBUTE static void rms_backward_##SUFFIX(                                                \
      const float *g, const float *weight, const float *normalized, const float *scales,      \
      float *dx, size_t width, int constantScale, size_t begin, size_t end) {                 \
    for (size_t r = begin; r < end; r++) {                                                    \
      const float *gr = g + r * width;                                                        \
      const float *nr = normalized + r * width;                                               \
      float projection = 0;                                                                   \
      if (!constantScale) {                                                                   \
        for (size_t i = 0; i < width; i++) projection += gr[i] * weight[i] * nr[i];           \
        projection /= (float)width;                                                           \
      }                                                                                       \
      float scale = scales[r];                                                                \
      for (size_t i = 0; i < width; i++)                                                      \
        dx[r * width + i] = scale * (gr[i] * weight[i] - nr[i] * projection);                 \
    }                                                                                         \
  }                                                                                           \
  ATTRIBUTE static void multiply_##SUFFIX(                                                    \
      const float *a, const float *b, float *out, size_t begin, size_t end) {                 \
    for (size_t i = begin; i < end; i++) out[i] = a[i] * b[i];                                \
  }                                                                                           \
  ATTRIBUTE static void add_##SUFFIX(float *target, const float *source, size_t begin, size_t end) { \
    for (size_t i = begin; i < end; i++) target[i] += source[i];                              \
  }                                                                                           \
  ATTRIBUTE static void norm_forward_##SUFFIX(                                                \
      const float *x, const float *gamma, const float *beta, float *y, float *xhat,          \
      float *inverseSigma, size_t width, float eps, size_t begin, size_t end) {               \
    for (size_t r = begin; r < end; r++) {                                                    \
      const float *row = x + r * width;                                                       \
      float sum = 0;                                                                          \
      for (size_t i = 0; i < width; i++) sum += row[i];                                       \
      float mu = sum / (float)width;                                                          \
      float variance = 0;                                                                     \
      for (size_t i = 0; i < width; i++) {                                                    \
        float d = row[i] - mu;                                                                \
        variance += d * d;                                                                    \
      }                                                                                       \
      variance /= (float)width;                                                               \
      float inv = 1.0f / sqrtf(variance + eps);                                               \
      inverseSigma[r] = inv;                                                                  \
      for (size_t i = 0; i < width; i++) {                                                    \
        float h = (row[i] - mu) * inv;                                                        \
        xhat[r * width + i] = h;                                                              \
        y[r * width + i] = h * gamma[i] + beta[i];                                            \
      }                                                                                       \
    }                                                                                         \
  }                                                                                           \
  ATTRIBUTE static void norm_backward_##SUFFIX(                                               \
      const float *g, const float *gamma, const float *xhat, const float *inverseSigma,       \
      float *dx, size_t width, int constantSigma, size_t begin, size_t end) {                 \
    for (size_t r = begin; r < end; r++) {                                                    \
      const float *gr = g + r * width;                                                        \
      const float *hr = xhat + r * width;                                                     \
      float meanG = 0, meanGX = 0;                                                            \
      for (size_t i = 0; i < width; i++) {                                                    \
        float gh = gr[i] * gamma[i];                                                          \
        meanG += gh;                                                                          \
        meanGX += gh * hr[i];                                                                 \
      }                                                                                       \
      meanG /= (float)width;                                                                  \
      meanGX = constantSigma ? 0.0f : meanGX / (float)width;                                  \
      float inv = inverseSigma[r];                                                            \
      for (size_t i = 0; i < width; i++)                                                      \
        dx[r * width + i] = (gr[i] * gamma[i] - meanG - hr[i] * meanGX) * inv;                \
    }                                                                                         \
  }

XAI_BODIES(base, )
#ifdef XAI_X86
XAI_BODIES(avx2, __attribute__((target("avx2,fma"))))

static int forced_portable = 0;

static int has_avx2(void) {
  static int known = -1;
  if (forced_portable) return 0;
  if (known < 0) {
    __builtin_cpu_init();
    known = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }
  return known;
}
#define XAI_PICK(name) (has_avx2() ? name##_avx2 : name##_base)
#else
#define XAI_PICK(name) name##_base
#endif

void xai_elementwise_force_portable(int portable) {
#ifdef XAI_X86
  forced_portable = portable;
#else
  (void)portable;
#endif
}

int xai_elementwise_is_vectorized(void) {
#ifdef XAI_X86
  return has_avx2();
#else
  return 0;
#endif
}

// ---- splitting work over threads ------------------------------------------------------

typedef struct {
  int kind;
  size_t items;  // elements, or rows for the normalisation kernels
  const float *a, *b, *c, *d;
  float *out0, *out1, *out2;
  size_t width;
  float eps;
  int flag;
} Job;

static void run_range(const Job *job, size_t begin, size_t end) {
  switch (job->kind) {
  case 0: XAI_PICK(gelu)(job->a, job->out0, job->out1, begin, end, job->flag); break;
  case 1: XAI_PICK(multiply)(job->a, job->b, job->out0, begin, end); break;
  case 2: XAI_PICK(add)(job->out0, job->a, begin, end); break;
  case 3:
    XAI_PICK(norm_forward)(job->a, job->b, job->c, job->out0, job->out1, job->out2, job->width, job->eps,
                           begin, end);
    break;
  case 4:
    XAI_PICK(norm_backward)(job->a, job->b, job->c, job->d, job->out0, job->width, job->flag, begin, end);
    break;
  case 5: XAI_PICK(silu)(job->a, job->out0, job->out1, begin, end, job->flag); break;
  case 6:
    XAI_PICK(rms_forward)(job->a, job->b, job->out0, job->out1, job->out2, job->width, job->eps, begin, end);
    break;
  case 7:
    XAI_PICK(rms_backward)(job->a, job->b, job->c, job->d, job->out0, job->width, job->flag, begin, end);
    break;
  }
}

static void run_share(void *data) {
  const Job *job = (const Job *)data;
  size_t threads = (size_t)omp_get_num_threads();
  size_t index = (size_t)omp_get_thread_num();
  // Shares of whole 16-element blocks (64 bytes) so that threads never write one cache line.
  int byRows = job->kind == 3 || job->kind == 4 || job->kind == 6 || job->kind == 7;
  size_t unit = byRows ? 1 : 16;
  size_t blocks = (job->items + unit - 1) / unit;
  size_t begin = blocks * index / threads * unit;
  size_t end = blocks * (index + 1) / threads * unit;
  if (end > job->items) end = job->items;
  if (begin < end) run_range(job, begin, end);
}

static void run(Job *job, int threads, size_t scalars) {
  if (threads > 1 && scalars >= XAI_PARALLEL_MINIMUM && job->items > 1) {
    GOMP_parallel(run_share, job, (unsigned)threads, 0);
  } else {
    run_range(job, 0, job->items);
  }
}

void xai_gelu(const float *x, float *y, float *saved, size_t count, int mode, int threads) {
  Job job = {.kind = 0, .items = count, .a = x, .out0 = y, .out1 = saved, .flag = mode};
  run(&job, threads, count);
}

void xai_multiply(const float *a, const float *b, float *out, size_t count, int threads) {
  Job job = {.kind = 1, .items = count, .a = a, .b = b, .out0 = out};
  run(&job, threads, count);
}

void xai_add_in_place(float *target, const float *source, size_t count, int threads) {
  Job job = {.kind = 2, .items = count, .a = source, .out0 = target};
  run(&job, threads, count);
}

void xai_layer_norm(const float *x, const float *gamma, const float *beta, float *y, float *xhat,
                    float *inverse_sigma, size_t rows, size_t width, float eps, int threads) {
  Job job = {.kind = 3, .items = rows, .a = x, .b = gamma, .c = beta, .out0 = y, .out1 = xhat,
             .out2 = inverse_sigma, .width = width, .eps = eps};
  run(&job, threads, rows * width);
}

void xai_layer_norm_backward(const float *g, const float *gamma, const float *xhat,
                             const float *inverse_sigma, float *dx, size_t rows, size_t width,
                             int constant_sigma, int threads) {
  Job job = {.kind = 4, .items = rows, .a = g, .b = gamma, .c = xhat, .d = inverse_sigma, .out0 = dx,
             .width = width, .flag = constant_sigma};
  run(&job, threads, rows * width);
}

void xai_silu(const float *x, float *y, float *saved, size_t count, int mode, int threads) {
  Job job = {.kind = 5, .items = count, .a = x, .out0 = y, .out1 = saved, .flag = mode};
  run(&job, threads, count);
}

void xai_rms_norm(const float *x, const float *weight, float *y, float *normalized, float *scales, size_t rows,
                  size_t width, float eps, int threads) {
  Job job = {.kind = 6, .items = rows, .a = x, .b = weight, .out0 = y, .out1 = normalized, .out2 = scales,
             .width = width, .eps = eps};
  run(&job, threads, rows * width);
}

void xai_rms_norm_backward(const float *g, const float *weight, const float *normalized, const float *scales,
                           float *dx, size_t rows, size_t width, int constant_scale, int threads) {
  Job job = {.kind = 7, .items = rows, .a = g, .b = weight, .c = normalized, .d = scales, .out0 = dx,
             .width = width, .flag = constant_scale};
  run(&job, threads, rows * width);
}
