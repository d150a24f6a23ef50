/* dispatch.c: picks the distance kernels once per process from what the processor supports
 * (cpuid), restricted by $KNN_ISA = scalar | avx2 | avx512. Until the SIMD kernels land
 * (issue 3) the table holds the scalar kernels only, which the compiler vectorises for the
 * baseline instruction set. */
#include "kernels.h"

const knn__kernels *knn__kernels_select(void)
{
    return &knn__kernels_scalar;
}
