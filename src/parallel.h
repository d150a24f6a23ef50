/* parallel.h: the few OpenMP operations the library's parallel loops share, written once, so
 * that the loops read without #ifdefs and build without OpenMP too (then everything runs on
 * the calling thread). */
#ifndef KNN_PARALLEL_H
#define KNN_PARALLEL_H

#include <stdbool.h>
#include <stddef.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* A flag any thread may raise (an allocation failed) and every thread checks. */
static inline void knn__flag_raise(int *flag)
{
#ifdef _OPENMP
#pragma omp atomic write
#endif
    *flag = 1;
}

static inline int knn__flag_read(const int *flag)
{
    int v;
#ifdef _OPENMP
#pragma omp atomic read
#endif
    v = *flag;
    return v;
}

/* Counts one unit of work done. Returns the new count on the calling thread (the one that may
 * call a progress callback), 0 on the others. */
static inline size_t knn__work_done(size_t *counter)
{
    size_t done;
#ifdef _OPENMP
#pragma omp atomic capture
#endif
    done = ++*counter;
#ifdef _OPENMP
    if (omp_get_thread_num() != 0)
        return 0;
#endif
    return done;
}

/* A lock, or nothing without OpenMP. */
#ifdef _OPENMP
typedef omp_lock_t knn__lock;
static inline void knn__lock_init(knn__lock *l) { omp_init_lock(l); }
static inline void knn__lock_destroy(knn__lock *l) { omp_destroy_lock(l); }
static inline void knn__lock_take(knn__lock *l) { omp_set_lock(l); }
static inline void knn__lock_give(knn__lock *l) { omp_unset_lock(l); }
#else
typedef char knn__lock;
static inline void knn__lock_init(knn__lock *l) { (void)l; }
static inline void knn__lock_destroy(knn__lock *l) { (void)l; }
static inline void knn__lock_take(knn__lock *l) { (void)l; }
static inline void knn__lock_give(knn__lock *l) { (void)l; }
#endif

#endif
