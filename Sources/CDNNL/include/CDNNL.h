#ifndef XAI_CDNNL_H
#define XAI_CDNNL_H

#include <stdint.h>

/* oneDNN, opened on first use (dlopen) rather than linked: a process that never runs a
   oneDNN product (a single `xai explain "text"`) does not pay for loading and relocating
   it at start-up (about 2.3 ms on the development machine). */

/* 1 when libdnnl could be opened and has the entry points xai uses, else 0. */
int xai_dnnl_available(void);

/* dnnl_sgemm (row-major C = alpha·op(A)·op(B) + beta·C): oneDNN's status (0 = success),
   or -1 when oneDNN is not available. */
int xai_dnnl_sgemm(char transa, char transb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                   int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

/* oneDNN's version and build hash (hash may be NULL); 0 when it is not available. */
int xai_dnnl_version(int *major, int *minor, int *patch, const char **hash);

/* The OpenMP runtime oneDNN and CKernels run on (GNU OpenMP), declared here rather than
   through omp.h, which the Swift toolchain's clang does not find. */
void omp_set_num_threads(int threads);
int omp_get_max_threads(void);

#endif
