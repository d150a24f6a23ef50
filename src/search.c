/* search.c: exact k-NN search, blocked so that the nq x ntrain distance matrix never exists.
 *
 * Structure (DESIGN.md decision 5): queries are taken in tiles of QUERY_TILE rows, one tile
 * per OpenMP task; each tile walks the training rows in blocks of `block_rows` rows, a kernel
 * fills the QUERY_TILE x block_rows distance tile, and each query offers the tile's row to its
 * bounded top-K. The top-K is a binary max-heap keyed by (distance, index): a candidate worse
 * than the heap's root, the common case once the heap has warmed up, costs one compare, and
 * a vectorised scan skips whole rows of the tile that hold no candidate.
 *
 * Why these sizes (measured on Fashion-MNIST, bench/README.md): every query tile streams the
 * whole training set from memory, so large tiles (128 queries) cut that traffic fourfold
 * against 32 and made the search 1.4x faster; the training block is kept to about 48 KiB
 * (57 MNIST rows, 16 CIFAR rows) so that it stays in the level-1 cache while every group of
 * queries of the tile passes over it.
 *
 * Each query belongs to one thread and the heap's final order is the total order on
 * (distance, index), so results are identical for any thread count and tile size. Memory
 * beyond the output: the training rows' norms (4 bytes a row, kept in the data set) and, per
 * thread, one distance tile and one tile of query norms. */
#include "internal.h"
#include "kernels/kernels.h"
#include "parallel.h"
#include "topk.h"

#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define QUERY_TILE 128
#define BLOCK_BYTES (48 * 1024)
#define MAX_BLOCK_ROWS 256

knn_status knn__search_prepare(const knn_dataset *train, const knn_dataset *queries,
                               const knn_params *p, knn_neighbors **out)
{
    *out = NULL;
    if (p->metric != KNN_L1 && p->metric != KNN_L2)
        return knn__fail(KNN_ERR_ARG, "unknown metric %d", (int)p->metric);
    if (p->k < 1)
        return knn__fail(KNN_ERR_ARG, "K = %d: K must be at least 1", p->k);
    if (p->threads < 0)
        return knn__fail(KNN_ERR_ARG, "%d threads: give 0 (automatic) or more", p->threads);
    if ((size_t)p->k > train->count)
        return knn__fail(KNN_ERR_ARG, "K = %d is more than the %zu training images of %s",
                         p->k, train->count, train->source);
    if (train->dtype != queries->dtype)
        return knn__fail(KNN_ERR_SHAPE, "%s holds %s values but %s holds %s values",
                         train->source, train->dtype == KNN_F32 ? "float32" : "uint8",
                         queries->source, queries->dtype == KNN_F32 ? "float32" : "uint8");
    if (train->dim != queries->dim)
        return knn__fail(KNN_ERR_SHAPE,
                         "%s has images of %dx%dx%d = %zu values but %s has %dx%dx%d = %zu",
                         train->source, train->height, train->width, train->channels,
                         train->dim, queries->source, queries->height, queries->width,
                         queries->channels, queries->dim);
    size_t cells;
    if (!knn__mul_ok(queries->count, (size_t)p->k, &cells) ||
        !knn__mul_ok(cells, 2 * sizeof(uint32_t), &cells))
        return knn__fail(KNN_ERR_LIMIT, "%zu queries x K = %d neighbours overflow memory sizes",
                         queries->count, p->k);
    if (!knn__memory_fits(cells))
        return knn__fail(KNN_ERR_NOMEM,
                         "%zu queries x K = %d neighbours need %.1f GiB, more than the "
                         "memory available",
                         queries->count, p->k, (double)cells / (1 << 30));
    knn_neighbors *nb = calloc(1, sizeof *nb);
    if (!nb)
        return knn__fail(KNN_ERR_NOMEM, "out of memory");
    size_t n = queries->count * (size_t)p->k;
    nb->nq = queries->count;
    nb->k = p->k;
    nb->metric = p->metric;
    nb->dtype = train->dtype;
    nb->index = malloc((n ? n : 1) * sizeof *nb->index);
    nb->dist = malloc((n ? n : 1) * sizeof *nb->dist);
    if (!nb->index || !nb->dist) {
        knn_neighbors_free(nb);
        return knn__fail(KNN_ERR_NOMEM, "cannot allocate %zu MiB for %zu x %d neighbours",
                         cells >> 20, queries->count, p->k);
    }
    *out = nb;
    return KNN_OK;
}

/* ---- the blocked search ---------------------------------------------------------------- */

/* Top-K lists of every query: (nq, k) distances and indices, and how many each holds (fewer
 * than k only in a part of the training set smaller than k). */
typedef struct {
    uint32_t *dist, *index;
    int *size;
} topk_lists;

typedef struct {
    const knn_dataset *train, *queries;
    size_t block_rows; /* training rows per block */
    knn__tile_fn tile_fn;
    const uint32_t *tnorm; /* (ntrain) the kernels' train norms; NULL for L1 */
    int k;
} search_job;

/* Queries [q0, q0 + nq) against training rows [t_lo, t_hi), into `lists`, sorted. */
static void search_tile(const search_job *job, size_t q0, size_t nq, size_t t_lo, size_t t_hi,
                        uint32_t *tile, uint32_t *qnorm, topk_lists *lists)
{
    const int k = job->k;
    const size_t stride = job->train->stride;
    const uint8_t *qrows = job->queries->rows + q0 * stride;
    int *size = lists->size + q0;
    for (size_t i = 0; i < nq; i++)
        size[i] = 0;
    if (job->tnorm)
        knn__sqnorm_u8(qrows, nq, stride, qnorm);
    for (size_t t0 = t_lo; t0 < t_hi; t0 += job->block_rows) {
        size_t nt = t_hi - t0 < job->block_rows ? t_hi - t0 : job->block_rows;
        job->tile_fn(qrows, nq, job->train->rows + t0 * stride, nt, stride, qnorm,
                     job->tnorm ? job->tnorm + t0 : NULL, tile);
        for (size_t i = 0; i < nq; i++)
            topk_offer(lists->dist + (q0 + i) * (size_t)k, lists->index + (q0 + i) * (size_t)k,
                       k, &size[i], tile + i * nt, nt, (uint32_t)t0);
    }
    for (size_t i = 0; i < nq; i++)
        heap_sort(lists->dist + (q0 + i) * (size_t)k, lists->index + (q0 + i) * (size_t)k,
                  size[i]);
}

/* The training rows' norms as `fn` computes them, cached in the data set by the first L2
 * search so that one query at a time does not recompute them for every query. Only one
 * table's norms are cached; a search with another table (after knn_set_isa) computes its own
 * copy and sets *owned. NULL when out of memory. */
const uint32_t *knn__train_norms(const knn_dataset *train, knn__norms_fn fn, int threads,
                                 bool *owned)
{
    knn_dataset *ds = (knn_dataset *)train; /* the cache only; rows and labels stay const */
    struct knn__norms_cache *cache = atomic_load(&ds->norms);
    *owned = false;
    if (cache && cache->fn == (const void *)fn)
        return cache->norms;
    uint32_t *norms = malloc((train->count ? train->count : 1) * sizeof *norms);
    struct knn__norms_cache *fresh = cache ? NULL : malloc(sizeof *fresh);
    if (!norms || (!cache && !fresh)) {
        free(norms);
        free(fresh);
        return NULL;
    }
    const size_t chunk = 4096, n = train->count;
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(static)
#endif
    for (size_t i = 0; i < n; i += chunk)
        fn(train->rows + i * train->stride, n - i < chunk ? n - i : chunk, train->stride,
           norms + i);
    (void)threads;
    if (cache) { /* another table's norms are cached: keep this copy to ourselves */
        *owned = true;
        return norms;
    }
    *fresh = (struct knn__norms_cache){(const void *)fn, norms};
    if (atomic_compare_exchange_strong(&ds->norms, &cache, fresh))
        return norms;
    free(fresh); /* another search cached its norms meanwhile: ours stay private */
    *owned = true;
    return norms;
}

/* Merges query q's sorted lists from `parts` parts of the training set into nb. */
static void merge_parts(const topk_lists *part, int parts, size_t q, knn_neighbors *nb)
{
    const size_t k = (size_t)nb->k;
    int head[64] = {0};
    for (size_t j = 0; j < k; j++) {
        int best = -1;
        uint32_t bd = 0, bi = 0;
        for (int p = 0; p < parts; p++) {
            if (head[p] >= part[p].size[q])
                continue;
            uint32_t d = part[p].dist[q * k + (size_t)head[p]];
            uint32_t i = part[p].index[q * k + (size_t)head[p]];
            if (best < 0 || knn__worse(bd, bi, d, i)) {
                best = p;
                bd = d;
                bi = i;
            }
        }
        nb->dist[q * k + j] = bd;
        nb->index[q * k + j] = bi;
        head[best]++;
    }
}

/* The work is split into tiles of QUERY_TILE queries; when there are fewer tiles than
 * threads (few queries: prediction, latency), the training set is split into `parts` as
 * well, each (tile, part) is searched on its own and the parts' lists are merged. The merged
 * lists equal the unsplit ones: the order on (distance, index) is total. */
knn_status knn_search(const knn_dataset *train, const knn_dataset *queries,
                      const knn_params *p, knn_neighbors **out)
{
    knn_neighbors *nb;
    *out = NULL;
    knn_status st = knn__search_prepare(train, queries, p, &nb);
    if (st)
        return st;
    const knn__kernels *kern = knn__kernels_select();
    const bool f32 = train->dtype == KNN_F32;
    size_t block_rows = BLOCK_BYTES / train->stride;
    block_rows = block_rows < 4 ? 4 : block_rows > MAX_BLOCK_ROWS ? MAX_BLOCK_ROWS : block_rows;
    search_job job = {train, queries, block_rows,
                      p->metric == KNN_L1 ? (f32 ? kern->l1_f32_tile : kern->l1_tile)
                                          : (f32 ? kern->l2_f32_tile : kern->l2_tile),
                      NULL, p->k};
    int threads = 1;
#ifdef _OPENMP
    threads = p->threads > 0 ? p->threads : omp_get_max_threads();
#endif
    const size_t nq = queries->count, ntiles = (nq + QUERY_TILE - 1) / QUERY_TILE;
    const size_t nblocks = (train->count + block_rows - 1) / block_rows;
    int parts = 1;
    if (ntiles < (size_t)threads)
        parts = (int)((size_t)threads < nblocks ? (size_t)threads : nblocks);
    if (parts > 64)
        parts = 64;
    /* each part keeps nq x K lists: split only while they stay small (64 MiB) */
    while (parts > 1 && (double)parts * (double)nq * (double)p->k * 8 > 64.0 * (1 << 20))
        parts--;

    const uint32_t *tnorm = NULL;
    uint32_t *part_mem = NULL;
    int *sizes = malloc((size_t)parts * (nq ? nq : 1) * sizeof *sizes);
    topk_lists lists[64];
    bool ok = sizes != NULL;
    bool tnorm_owned = false;
    if (p->metric == KNN_L2 && !f32)
        ok = ok && (tnorm = knn__train_norms(train, kern->train_norms, threads, &tnorm_owned));
    if (parts == 1) {
        lists[0] = (topk_lists){nb->dist, nb->index, sizes};
    } else if (ok && (part_mem = malloc((size_t)parts * nq * (size_t)p->k * 2 * sizeof *part_mem))) {
        for (int i = 0; i < parts; i++) {
            uint32_t *base = part_mem + (size_t)i * nq * (size_t)p->k * 2;
            lists[i] = (topk_lists){base, base + nq * (size_t)p->k, sizes + (size_t)i * nq};
        }
    } else {
        ok = false;
    }
    if (!ok) {
        if (tnorm_owned)
            free((void *)tnorm);
        free(sizes);
        knn_neighbors_free(nb);
        return knn__fail(KNN_ERR_NOMEM, "out of memory for the search of %zu x %zu rows", nq,
                         train->count);
    }
    job.tnorm = tnorm;

    const size_t items = ntiles * (size_t)parts;
    size_t items_done = 0;
    int failed = 0;
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
#endif
    {
        uint32_t *tile = malloc(QUERY_TILE * block_rows * sizeof *tile);
        uint32_t *qnorm = malloc(QUERY_TILE * sizeof *qnorm);
        if (!tile || !qnorm) {
            knn__flag_raise(&failed);
        }
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
        for (size_t w = 0; w < items; w++) {
            if (knn__flag_read(&failed))
                continue;
            size_t q0 = w / (size_t)parts * QUERY_TILE, part = w % (size_t)parts;
            size_t n = nq - q0 < QUERY_TILE ? nq - q0 : QUERY_TILE;
            size_t t_lo = nblocks * part / (size_t)parts * block_rows;
            size_t t_hi = nblocks * (part + 1) / (size_t)parts * block_rows;
            if (t_hi > train->count)
                t_hi = train->count;
            search_tile(&job, q0, n, t_lo, t_hi, tile, qnorm, &lists[part]);
            size_t done = knn__work_done(&items_done);
            if (p->progress && done)
                p->progress(done * nq / items, nq, p->progress_user);
        }
        free(tile);
        free(qnorm);
    }
    if (!failed && parts > 1)
        for (size_t q = 0; q < nq; q++)
            merge_parts(lists, parts, q, nb);
    if (tnorm_owned)
        free((void *)tnorm);
    free(part_mem);
    free(sizes);
    if (failed) {
        knn_neighbors_free(nb);
        return knn__fail(KNN_ERR_NOMEM, "out of memory for the search's working tiles");
    }
    if (p->progress)
        p->progress(nq, nq, p->progress_user);
    *out = nb;
    return KNN_OK;
}

void knn_neighbors_free(knn_neighbors *nb)
{
    if (!nb)
        return;
    free(nb->index);
    free(nb->dist);
    free(nb);
}

size_t knn_neighbors_count(const knn_neighbors *nb) { return nb->nq; }
int knn_neighbors_k(const knn_neighbors *nb) { return nb->k; }
knn_metric knn_neighbors_metric(const knn_neighbors *nb) { return nb->metric; }

uint32_t knn_neighbors_index(const knn_neighbors *nb, size_t q, int j)
{
    return nb->index[q * (size_t)nb->k + (size_t)j];
}

uint32_t knn_neighbors_raw_distance(const knn_neighbors *nb, size_t q, int j)
{
    return nb->dist[q * (size_t)nb->k + (size_t)j];
}

double knn__distance_value(const knn_neighbors *nb, uint32_t raw)
{
    double d = raw;
    if (nb->dtype == KNN_F32) {
        float f;
        memcpy(&f, &raw, sizeof f);
        d = f;
    }
    return nb->metric == KNN_L2 ? sqrt(d) : d;
}

double knn_neighbors_distance(const knn_neighbors *nb, size_t q, int j)
{
    return knn__distance_value(nb, knn_neighbors_raw_distance(nb, q, j));
}
