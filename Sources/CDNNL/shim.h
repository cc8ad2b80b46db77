#include <dnnl.h>

/* The OpenMP runtime oneDNN runs on (Debian's libdnnl uses GNU OpenMP). Declared here
   rather than through omp.h, which the Swift toolchain's clang does not find. */
void omp_set_num_threads(int threads);
int omp_get_max_threads(void);
