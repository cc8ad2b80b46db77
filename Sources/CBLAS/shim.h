#include <cblas.h>

/* LAPACK's symmetric eigensolver, which OpenBLAS ships (no LAPACK header is installed);
   the two trailing lengths are the hidden Fortran lengths of the character arguments. */
#include <stddef.h>
void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
            double *work, const int *lwork, int *info, size_t jobz_length, size_t uplo_length);
