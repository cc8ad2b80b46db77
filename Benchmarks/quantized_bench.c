// Build: gcc -O2 -ISources/CKernels/include Benchmarks/quantized_bench.c Sources/CKernels/quantized.c -lgomp -o /tmp/quantized_bench
// Speed of xai_quantized_matmul (Sources/CKernels/quantized.c) on SmolLM2-135M's shapes: medians
// of GB/s of quantised weight bytes read and GFLOP/s (2·rows·columns·vectors) for 1 and 2
// threads and 1 and 4 vectors. "cold" rotates over copies of the matrix larger than the L3
// cache, so the bytes come from memory, as in decoding a whole model. Not built by SwiftPM.
// Usage: quantized_bench [type ...]  (GGML type numbers; default 3 8 = Q4_1 Q8_0)
#include "CKernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int compare(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static unsigned long long state = 0x9E3779B97F4A7C15ull;
static unsigned next(void) {
  state ^= state << 13; state ^= state >> 7; state ^= state << 17;
  return (unsigned)(state >> 32);
}

/// Random bytes, with every f16 scale field set to 2^-8 (0x1C00) so that values are finite.
static void fill(int type, unsigned char *w, size_t bytes) {
  for (size_t i = 0; i < bytes; i++) w[i] = (unsigned char)next();
  size_t block = 0, fields[2] = {0, 0}, count = 0;
  switch (type) {
  case 2: block = 18; fields[0] = 0; count = 1; break;
  case 3: block = 20; fields[0] = 0; fields[1] = 2; count = 2; break;
  case 6: block = 22; fields[0] = 0; count = 1; break;
  case 7: block = 24; fields[0] = 0; fields[1] = 2; count = 2; break;
  case 8: block = 34; fields[0] = 0; count = 1; break;
  case 12: block = 144; fields[0] = 0; fields[1] = 2; count = 2; break;
  case 13: block = 176; fields[0] = 0; fields[1] = 2; count = 2; break;
  case 14: block = 210; fields[0] = 208; count = 1; break;
  case 1: block = 2; fields[0] = 0; count = 1; break;
  case 30: for (size_t i = 0; i + 1 < bytes; i += 2) w[i + 1] = 0x3C; return;
  case 0: for (size_t i = 0; i + 3 < bytes; i += 4) w[i + 3] = 0x3C; return;
  }
  for (size_t b = 0; b + block <= bytes; b += block)
    for (size_t f = 0; f < count; f++) { w[b + fields[f]] = 0x00; w[b + fields[f] + 1] = 0x1C; }
}

static const char *name(int type) {
  switch (type) {
  case 0: return "F32"; case 1: return "F16"; case 2: return "Q4_0"; case 3: return "Q4_1";
  case 6: return "Q5_0"; case 7: return "Q5_1"; case 8: return "Q8_0"; case 12: return "Q4_K";
  case 13: return "Q5_K"; case 14: return "Q6_K"; case 30: return "BF16"; default: return "?";
  }
}

/// Median seconds of one product over `samples` samples of `repeat` products each; with
/// `copies` > 1 each product uses the next copy of the matrix.
static double measure(int type, unsigned char *w, size_t copies, size_t rows, size_t columns, const float *x,
                      size_t vectors, float *y, int threads) {
  size_t matrix = xai_quantized_row_bytes(type, columns) * rows;
  xai_quantized_matmul(type, w, rows, columns, x, vectors, y, threads);  // warm up
  double start = now();
  size_t calibrate = 0;
  while (now() - start < 0.02) xai_quantized_matmul(type, w + (calibrate++ % copies) * matrix, rows, columns, x, vectors, y, threads);
  double once = (now() - start) / (double)calibrate;
  size_t repeat = (size_t)(0.02 / once) + 1;
  enum { samples = 15 };
  double times[samples];
  size_t k = 0;
  for (int s = 0; s < samples; s++) {
    double t0 = now();
    for (size_t i = 0; i < repeat; i++, k++)
      xai_quantized_matmul(type, w + (k % copies) * matrix, rows, columns, x, vectors, y, threads);
    times[s] = (now() - t0) / (double)repeat;
  }
  qsort(times, samples, sizeof(double), compare);
  return times[samples / 2];
}

int main(int argc, char **argv) {
  int types[16], count = 0;
  for (int i = 1; i < argc && count < 16; i++) types[count++] = atoi(argv[i]);
  if (count == 0) { types[0] = 3; types[1] = 8; count = 2; }
  struct { size_t rows, columns; } shapes[] = {{576, 576}, {1536, 576}, {576, 1536}, {49152, 576}};
  printf("AVX2 path: %s\n", xai_quantized_is_vectorized() ? "yes" : "no");
  printf("%-5s %-13s %-5s %3s %2s  %9s %7s %8s\n", "type", "rows×cols", "", "thr", "v", "µs", "GB/s", "GFLOP/s");
  float *x = aligned_alloc(64, 8 * 49152 * sizeof(float)), *y = aligned_alloc(64, 8 * 49152 * sizeof(float));
  for (size_t i = 0; i < 8 * 49152; i++) x[i] = (float)(next() % 2001) / 1000.0f - 1.0f;
  for (int t = 0; t < count; t++) {
    int type = types[t];
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
      size_t rows = shapes[s].rows, columns = shapes[s].columns;
      size_t matrix = xai_quantized_row_bytes(type, columns) * rows;
      if (matrix == 0) continue;
      // cold: enough copies for 96 MB (three times the 32 MB L3)
      size_t copies_cold = (96u << 20) / matrix + 1;
      unsigned char *w = malloc(matrix * copies_cold);
      fill(type, w, matrix * copies_cold);
      for (int cold = 0; cold <= (rows * columns >= 4000000); cold++) {
        size_t copies = cold ? copies_cold : 1;
        for (int threads = 1; threads <= 2; threads++)
          for (size_t vectors = 1; vectors <= 4; vectors += 3) {
            double seconds = measure(type, w, copies, rows, columns, x, vectors, y, threads);
            char shape[32];
            snprintf(shape, sizeof shape, "%zu×%zu", rows, columns);
            printf("%-5s %-12s %-5s %3d %2zu  %9.1f %7.2f %8.2f\n", name(type), shape, cold ? "cold" : "", threads,
                   vectors, seconds * 1e6, (double)matrix / seconds * 1e-9,
                   2.0 * (double)(rows * columns * vectors) / seconds * 1e-9);
            fflush(stdout);
          }
      }
      free(w);
    }
  }
  free(x);
  free(y);
  return 0;
}
