// Standalone check of quantized.c against gguf-py's dequantisation (cases written by quantized_check.py):
// exact dequantisation bit for bit (both paths, 1 and 2 threads), products within
// 2·columns·2⁻²⁴·Σ|w·x| of a double reference, identical bits across thread counts and batches.
// Build: gcc -O2 -ISources/CKernels/include Benchmarks/quantized_check.c Sources/CKernels/quantized.c -lgomp -lm -o /tmp/quantized_check
// Run:   /tmp/quantized_check /tmp/xai-quant-check
#include "CKernels.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *slurp(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) { perror(path); exit(1); }
  fseek(f, 0, SEEK_END); *size = (size_t)ftell(f); fseek(f, 0, SEEK_SET);
  void *p = malloc(*size + 64);
  if (fread(p, 1, *size, f) != *size) exit(1);
  fclose(f);
  return p;
}

static unsigned long long rng = 88172645463325252ull;
static float frand(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return (float)((rng >> 40) / 16777216.0 * 2 - 1); }

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : "/tmp/xai-quant-check";
  char path[512];
  snprintf(path, sizeof path, "%s/cases.txt", dir);
  FILE *list = fopen(path, "r");
  if (!list) { perror(path); return 1; }
  int id, type; size_t rows, cols; int failures = 0; double worst = 0;
  printf("vectorized: %d\n", xai_quantized_is_vectorized());
  while (fscanf(list, "%d %d %zu %zu", &id, &type, &rows, &cols) == 4) {
    size_t qsize, fsize;
    snprintf(path, sizeof path, "%s/case%d.q", dir, id);
    unsigned char *q = slurp(path, &qsize);
    snprintf(path, sizeof path, "%s/case%d.f32", dir, id);
    float *ref = slurp(path, &fsize);
    if (xai_quantized_row_bytes(type, cols) * rows != qsize || fsize != rows * cols * 4) { printf("case %d: size mismatch\n", id); failures++; continue; }
    float *out = malloc(rows * cols * 4);
    // exact dequantisation, both paths, 1 and 2 threads, whole and a sub-range
    for (int portable = 0; portable < 2; portable++) {
      xai_quantized_force_portable(portable);
      for (int threads = 1; threads <= 2; threads++) {
        memset(out, 0xFF, rows * cols * 4);
        if (!xai_quantized_dequantize_rows(type, q, 0, rows, cols, out, threads)) { printf("case %d deq returned 0\n", id); failures++; }
        if (memcmp(out, ref, rows * cols * 4)) { printf("case %d type %d: dequantize differs (portable %d threads %d)\n", id, type, portable, threads); failures++; }
        size_t first = rows / 3, count = rows - first - 1;
        xai_quantized_dequantize_rows(type, q, first, count, cols, out, threads);
        if (memcmp(out, ref + first * cols, count * cols * 4)) { printf("case %d: sub-range differs\n", id); failures++; }
      }
    }
    // products
    size_t maxv = 8;
    float *x = malloc(maxv * cols * 4), *y = malloc(maxv * rows * 4), *y1 = malloc(maxv * rows * 4), *ys = malloc(maxv * rows * 4);
    for (size_t i = 0; i < maxv * cols; i++) x[i] = frand() * 3;
    double eps = ldexp(1, -24);
    for (int portable = 0; portable < 2; portable++) {
      xai_quantized_force_portable(portable);
      for (size_t vectors = 1; vectors <= maxv; vectors++) {
        for (int threads = 1; threads <= 2; threads++) {
          memset(y, 0xFF, vectors * rows * 4);
          if (!xai_quantized_matmul(type, q, rows, cols, x, vectors, y, threads)) { printf("matmul returned 0\n"); failures++; }
          for (size_t t = 0; t < vectors; t++)
            for (size_t r = 0; r < rows; r++) {
              double s = 0, a = 0;
              for (size_t c = 0; c < cols; c++) { double p = (double)ref[r * cols + c] * x[t * cols + c]; s += p; a += fabs(p); }
              double err = fabs(y[t * rows + r] - s), tol = 2 * cols * eps * a;
              if (!(err <= tol)) { printf("case %d type %d r %zu t %zu: err %g tol %g (portable %d V %zu T %d)\n", id, type, r, t, err, tol, portable, vectors, threads); failures++; }
              if (a > 0 && err / (eps * a) > worst) worst = err / (eps * a);
            }
          if (threads == 1) memcpy(y1, y, vectors * rows * 4);
          else if (memcmp(y1, y, vectors * rows * 4)) { printf("case %d: threads differ (portable %d V %zu)\n", id, portable, vectors); failures++; }
        }
        // each vector alone gives the same bits as in the batch
        for (size_t t = 0; t < vectors; t++) xai_quantized_matmul(type, q, rows, cols, x + t * cols, 1, ys + t * rows, 1);
        if (memcmp(ys, y1, vectors * rows * 4)) { printf("case %d type %d: batch of %zu differs from single (portable %d)\n", id, type, vectors, portable); failures++; }
      }
    }
    free(x); free(y); free(y1); free(ys); free(out); free(q); free(ref);
  }
  xai_quantized_force_portable(0);
  // argument errors
  float dummy[64] = {0};
  unsigned char block[256] = {0};
  if (xai_quantized_matmul(2, block, 1, 33, dummy, 1, dummy, 1) != 0) failures++;
  if (xai_quantized_matmul(4, block, 1, 32, dummy, 1, dummy, 1) != 0) failures++;
  if (xai_quantized_row_bytes(12, 128) != 0 || xai_quantized_row_bytes(3, 64) != 40 || xai_quantized_row_bytes(1, 3) != 6) failures++;
  if (xai_quantized_dequantize_rows(14, block, 0, 1, 255, dummy, 1) != 0) failures++;
  if (xai_quantized_supported(5) || !xai_quantized_supported(30)) failures++;
  printf("worst err/(eps·Σ|wx|) = %.2f\n%s (%d failures)\n", worst, failures ? "FAIL" : "OK", failures);
  return failures != 0;
}
