#include "CDNNL.h"

#include <dlfcn.h>
#include <dnnl.h>
#include <pthread.h>
#include <stddef.h>

typedef dnnl_status_t (*sgemm_function)(char, char, dnnl_dim_t, dnnl_dim_t, dnnl_dim_t, float, const float *,
                                        dnnl_dim_t, const float *, dnnl_dim_t, float, float *, dnnl_dim_t);
typedef const dnnl_version_t *(*version_function)(void);

static pthread_once_t opened = PTHREAD_ONCE_INIT;
static sgemm_function sgemm;
static version_function version;

static void open_library(void) {
  /* The soname of the oneDNN xai was built against first, then later ones with the same C API. */
  static const char *const names[] = {"libdnnl.so.2", "libdnnl.so.3", "libdnnl.so"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    void *library = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!library) continue;
    sgemm_function s = (sgemm_function)dlsym(library, "dnnl_sgemm");
    version_function v = (version_function)dlsym(library, "dnnl_version");
    if (s && v) {
      sgemm = s;
      version = v;
      return;
    }
    dlclose(library);
  }
}

int xai_dnnl_available(void) {
  pthread_once(&opened, open_library);
  return sgemm != NULL;
}

int xai_dnnl_sgemm(char transa, char transb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                   int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
  if (!xai_dnnl_available()) return -1;
  return (int)sgemm(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

int xai_dnnl_version(int *major, int *minor, int *patch, const char **hash) {
  if (!xai_dnnl_available()) return 0;
  const dnnl_version_t *v = version();
  *major = v->major;
  *minor = v->minor;
  *patch = v->patch;
  if (hash) *hash = v->hash;
  return 1;
}
