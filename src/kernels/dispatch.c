/* dispatch.c: picks the distance kernels once per process (DESIGN.md decision 7). The
 * library is built for baseline x86-64; the AVX2, AVX-VNNI and AVX-512 files are compiled for their
 * instruction sets and only called where cpuid (through the compiler's __builtin_cpu_supports,
 * which also checks that the OS saves the wider registers; AVX-VNNI's bit read directly, its
 * ymm registers being AVX2's) says the processor has them.
 * knn_set_isa or $KNN_ISA restricts the choice, so the tests can run every table this machine
 * has against the scalar reference. */
#include "internal.h"
#include "kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static bool supported(const knn__kernels *k)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (k == &knn__kernels_avx2)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (k == &knn__kernels_avxvnni) { /* cpuid itself: clang before 18 has no "avxvnni" */
        unsigned a, b, c, d;
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
               __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 4)); /* AVX-VNNI */
    }
    if (k == &knn__kernels_avx512)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vnni");
#endif
    return k == &knn__kernels_scalar;
}

/* best first */
static const knn__kernels *const tables[] = {&knn__kernels_avx512, &knn__kernels_avxvnni,
                                             &knn__kernels_avx2, &knn__kernels_scalar};
#define N_TABLES (sizeof tables / sizeof *tables)

const knn__kernels *knn__kernels_find(const char *name)
{
    for (size_t i = 0; i < N_TABLES; i++)
        if (!strcmp(name, tables[i]->name))
            return supported(tables[i]) ? tables[i] : NULL;
    return NULL;
}

static const knn__kernels *best(void)
{
    for (size_t i = 0; i < N_TABLES; i++)
        if (supported(tables[i]))
            return tables[i];
    return &knn__kernels_scalar;
}

static _Atomic(const knn__kernels *) selected;

knn_status knn_set_isa(const char *name)
{
    const knn__kernels *k = NULL;
    if (!name || !*name || !strcmp(name, "best"))
        k = best();
    else if (!(k = knn__kernels_find(name))) {
        bool known = false;
        for (size_t i = 0; i < N_TABLES; i++)
            known |= !strcmp(name, tables[i]->name);
        return known ? knn__fail(KNN_ERR_ARG, "this processor cannot run the %s kernels", name)
                     : knn__fail(KNN_ERR_ARG,
                                 "unknown instruction set '%s' (scalar, avx2, avxvnni, avx512 or best)",
                                 name);
    }
    atomic_store(&selected, k);
    return KNN_OK;
}

const knn__kernels *knn__kernels_select(void)
{
    const knn__kernels *k = atomic_load(&selected);
    if (k)
        return k;
    /* first use: $KNN_ISA if it names a table this processor runs, else the best */
    const char *env = getenv("KNN_ISA");
    k = env && *env ? knn__kernels_find(env) : NULL;
    if (!k)
        k = best();
    const knn__kernels *expected = NULL;
    atomic_compare_exchange_strong(&selected, &expected, k);
    return atomic_load(&selected);
}

const char *knn_isa(void)
{
    return knn__kernels_select()->name;
}
