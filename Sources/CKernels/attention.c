// Row kernels of causal attention: the masked softmax of a block of scores and its
// backward, for every head of a tile of query rows at once. Rows are split over the
// OpenMP team the products already use; each row is computed by the same arithmetic
// whatever the split, so results do not depend on the thread count. AVX2+FMA and
// baseline x86-64 versions, chosen at run time (the elementwise kernels' choice); the
// vector exp is xai_fast_exp (shared.h) eight lanes at a time.
#include "CKernels.h"
#include "shared.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define XAI_X86 1
#endif

/// Below this many scalars a call runs on the calling thread alone.
#define XAI_ATTENTION_PARALLEL_MINIMUM 16384

/// Columns row `row` of a block sees: the causal mask of a tile whose first row sees
/// `first_visible` keys (rows repeat per head every `rows_per_head`).
static inline size_t visible_columns(size_t row, size_t rows_per_head, size_t first_visible, size_t columns) {
  size_t visible = first_visible + row % rows_per_head;
  return visible < columns ? visible : columns;
}

static void softmax_rows_base(float *scores, size_t columns, size_t rows_per_head, size_t first_visible,
                              size_t begin, size_t end) {
  for (size_t row = begin; row < end; row++) {
    float *x = scores + row * columns;
    size_t visible = visible_columns(row, rows_per_head, first_visible, columns);
    float largest = -INFINITY;
    for (size_t c = 0; c < visible; c++) largest = x[c] > largest ? x[c] : largest;
    float total = 0;
    for (size_t c = 0; c < visible; c++) {
      x[c] = xai_fast_exp(x[c] - largest);
      total += x[c];
    }
    float inverse = 1 / total;
    for (size_t c = 0; c < visible; c++) x[c] *= inverse;
    for (size_t c = visible; c < columns; c++) x[c] = 0;
  }
}

static void softmax_backward_rows_base(float *grad, const float *p, size_t columns, size_t rows_per_head,
                                       size_t first_visible, size_t begin, size_t end) {
  for (size_t row = begin; row < end; row++) {
    float *d = grad + row * columns;
    const float *q = p + row * columns;
    size_t visible = visible_columns(row, rows_per_head, first_visible, columns);
    float dot = 0;
    for (size_t c = 0; c < visible; c++) dot += d[c] * q[c];
    for (size_t c = 0; c < visible; c++) d[c] = q[c] * (d[c] - dot);
    for (size_t c = visible; c < columns; c++) d[c] = 0;
  }
}

#ifdef XAI_X86
#define AVX2 __attribute__((target("avx2,fma")))

AVX2 static inline __m256 exp8(__m256 x) {
  // max/min return their second operand when either is NaN, so NaN passes through.
  __m256 clamped = _mm256_min_ps(_mm256_set1_ps(88.0f), _mm256_max_ps(_mm256_set1_ps(-87.0f), x));
  __m256 magic = _mm256_set1_ps(12582912.0f);
  __m256 shifted = _mm256_add_ps(_mm256_mul_ps(clamped, _mm256_set1_ps(1.44269504f)), magic);
  __m256 n = _mm256_sub_ps(shifted, magic);
  __m256 r = _mm256_sub_ps(clamped, _mm256_mul_ps(n, _mm256_set1_ps(0.693359375f)));
  r = _mm256_add_ps(r, _mm256_mul_ps(n, _mm256_set1_ps(2.1219444e-4f)));
  __m256 p = _mm256_set1_ps(1.0f / 5040);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  __m256i bits = _mm256_sub_epi32(_mm256_castps_si256(shifted), _mm256_set1_epi32(0x4B400000 - 127));
  __m256 scale = _mm256_castsi256_ps(_mm256_slli_epi32(bits, 23));
  return _mm256_mul_ps(p, scale);
}

AVX2 static inline float sum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

AVX2 static inline float max8(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

AVX2 static void softmax_rows_avx2(float *scores, size_t columns, size_t rows_per_head, size_t first_visible,
                                   size_t begin, size_t end) {
  for (size_t row = begin; row < end; row++) {
    float *x = scores + row * columns;
    size_t visible = visible_columns(row, rows_per_head, first_visible, columns);
    size_t body = visible & ~(size_t)7;
    __m256 m = _mm256_set1_ps(-INFINITY);
    for (size_t c = 0; c < body; c += 8) m = _mm256_max_ps(_mm256_loadu_ps(x + c), m);
    float largest = max8(m);
    for (size_t c = body; c < visible; c++) largest = x[c] > largest ? x[c] : largest;
    __m256 shift = _mm256_set1_ps(largest);
    __m256 t = _mm256_setzero_ps();
    for (size_t c = 0; c < body; c += 8) {
      __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + c), shift));
      _mm256_storeu_ps(x + c, e);
      t = _mm256_add_ps(t, e);
    }
    float total = sum8(t);
    for (size_t c = body; c < visible; c++) {
      x[c] = xai_fast_exp(x[c] - largest);
      total += x[c];
    }
    __m256 inverse = _mm256_set1_ps(1 / total);
    for (size_t c = 0; c < body; c += 8) _mm256_storeu_ps(x + c, _mm256_mul_ps(_mm256_loadu_ps(x + c), inverse));
    for (size_t c = body; c < visible; c++) x[c] *= 1 / total;
    for (size_t c = visible; c < columns; c++) x[c] = 0;
  }
}

AVX2 static void softmax_backward_rows_avx2(float *grad, const float *p, size_t columns, size_t rows_per_head,
                                            size_t first_visible, size_t begin, size_t end) {
  for (size_t row = begin; row < end; row++) {
    float *d = grad + row * columns;
    const float *q = p + row * columns;
    size_t visible = visible_columns(row, rows_per_head, first_visible, columns);
    size_t body = visible & ~(size_t)7;
    __m256 s = _mm256_setzero_ps();
    for (size_t c = 0; c < body; c += 8) s = _mm256_fmadd_ps(_mm256_loadu_ps(d + c), _mm256_loadu_ps(q + c), s);
    float dot = sum8(s);
    for (size_t c = body; c < visible; c++) dot += d[c] * q[c];
    __m256 vdot = _mm256_set1_ps(dot);
    for (size_t c = 0; c < body; c += 8)
      _mm256_storeu_ps(d + c, _mm256_mul_ps(_mm256_loadu_ps(q + c), _mm256_sub_ps(_mm256_loadu_ps(d + c), vdot)));
    for (size_t c = body; c < visible; c++) d[c] = q[c] * (d[c] - dot);
    for (size_t c = visible; c < columns; c++) d[c] = 0;
  }
}
#endif

typedef struct {
  int backward;
  float *x;
  const float *p;
  size_t rows, columns, rows_per_head, first_visible;
} RowJob;

static void run_rows(const RowJob *job, size_t begin, size_t end) {
#ifdef XAI_X86
  if (xai_elementwise_is_vectorized()) {
    if (job->backward)
      softmax_backward_rows_avx2(job->x, job->p, job->columns, job->rows_per_head, job->first_visible, begin, end);
    else
      softmax_rows_avx2(job->x, job->columns, job->rows_per_head, job->first_visible, begin, end);
    return;
  }
#endif
  if (job->backward)
    softmax_backward_rows_base(job->x, job->p, job->columns, job->rows_per_head, job->first_visible, begin, end);
  else
    softmax_rows_base(job->x, job->columns, job->rows_per_head, job->first_visible, begin, end);
}

static void run_row_share(void *data) {
  const RowJob *job = (const RowJob *)data;
  size_t threads = (size_t)omp_get_num_threads();
  size_t index = (size_t)omp_get_thread_num();
  size_t begin = job->rows * index / threads;
  size_t end = job->rows * (index + 1) / threads;
  if (begin < end) run_rows(job, begin, end);
}

static void run_row_job(RowJob *job, int threads) {
  if (threads > 1 && job->rows > 1 && job->rows * job->columns >= XAI_ATTENTION_PARALLEL_MINIMUM) {
    GOMP_parallel(run_row_share, job, (unsigned)threads, 0);
  } else {
    run_rows(job, 0, job->rows);
  }
}

void xai_causal_softmax(float *scores, size_t rows, size_t columns, size_t rows_per_head, size_t first_visible,
                        int threads) {
  if (rows == 0 || columns == 0 || rows_per_head == 0) return;
  RowJob job = {0, scores, NULL, rows, columns, rows_per_head, first_visible};
  run_row_job(&job, threads);
}

void xai_causal_softmax_backward(float *grad, const float *probabilities, size_t rows, size_t columns,
                                 size_t rows_per_head, size_t first_visible, int threads) {
  if (rows == 0 || columns == 0 || rows_per_head == 0) return;
  RowJob job = {1, grad, probabilities, rows, columns, rows_per_head, first_visible};
  run_row_job(&job, threads);
}
