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
 * (48 MNIST rows, 16 CIFAR rows: whole 16s of rows where that costs at most a quarter of the
 * block) so that it stays in the level-1 cache while every group of queries of the tile
 * passes over it.
 *
 * With labelled training rows the search also keeps, per query, each class's nearest row
 * (distance, then the smaller index): the vote ranks the classes without a vote by it. It
 * is a running minimum over the same distance tiles, never a second search.
 *
 * Long rows: uint8 rows of more than KNN__CHUNK = 65,536 values (256 x 256 RGB photos have
 * 196,608; the cap is 2^24) would overflow the kernels' 32-bit sums, so their tiles are
 * computed chunk by chunk, each chunk a slice of the rows exact in 32 bits with its own
 * norms, and summed into a tile of uint64 (knn__distance_tile). Shorter rows take the
 * kernels' 32-bit tile as it is, and the heaps and minima read either width through topk.h's
 * inlined accessors; the lists and the minima are stored in 64 bits. A training block stays
 * at least 4 rows (BLOCK_BYTES / stride is 0 for rows over 48 KiB): per chunk, 4 x 64 KiB in
 * the level-2 cache while the query tile's slices stream past, whatever the row length.
 *
 * Each query belongs to one thread and the heap's final order is the total order on
 * (distance, index), so results are identical for any thread count and tile size. Memory
 * beyond the output (which holds nq x C x 12 bytes of class minima): the training rows' norms
 * (4 bytes a row and chunk, kept in the data set) and, per thread, one distance tile (and for
 * long rows one 32-bit chunk tile), one tile of query norms, and the tile's class minima
 * (C x 128 x 8 or 12 bytes).
 *
 * Cosine (float32 only): the distance 1 - q.t of rows scaled to unit length, so that its
 * tiles are the float tiles' loop with an inner product. The training rows' unit copy is made
 * once (knn__dataset_unit_rows: as many bytes as the rows, kept in the data set like the
 * norms); the queries are scaled into memory of the search's own (nq rows), or share the
 * cache when they are the training set. Each row's scale is 1 / sqrt of its squares summed
 * in double in index order, so the unit rows are the same on every machine, thread count and
 * kernel table; a zero row stays zero, and is at distance 1 from everything. */
#include "internal.h"
#include "kernels/kernels.h"
#include "parallel.h"
#include "text.h"
#include "topk.h"

#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define QUERY_TILE 128
#define BLOCK_BYTES (48 * 1024)
#define MAX_BLOCK_ROWS 256

/* Lists of nq x k (index, distance) and, with classes, nq x classes class minima; NULL when
 * out of memory. */
static knn_neighbors *neighbors_new(size_t nq, int k, knn_metric metric, knn_dtype dtype,
                                    int classes)
{
    knn_neighbors *nb = calloc(1, sizeof *nb);
    if (!nb)
        return NULL;
    const size_t n = nq * (size_t)k, nc = nq * (size_t)classes;
    *nb = (knn_neighbors){.nq = nq, .k = k, .metric = metric, .dtype = dtype,
                          .classes = classes};
    nb->index = malloc((n ? n : 1) * sizeof *nb->index);
    nb->dist = malloc((n ? n : 1) * sizeof *nb->dist);
    if (classes) {
        nb->class_dist = malloc((nc ? nc : 1) * sizeof *nb->class_dist);
        nb->class_index = malloc((nc ? nc : 1) * sizeof *nb->class_index);
    }
    if (!nb->index || !nb->dist || (classes && (!nb->class_dist || !nb->class_index))) {
        knn_neighbors_free(nb);
        return NULL;
    }
    return nb;
}

knn_status knn__search_prepare(const knn_dataset *train, const knn_dataset *queries,
                               const knn_params *p, knn_neighbors **out)
{
    *out = NULL;
    knn_status mst = knn__metric_check(p->metric, train);
    if (mst)
        return mst;
    if (p->k < 1)
        return knn__fail(KNN_ERR_ARG, "K = %d: K must be at least 1", p->k);
    if (p->threads < 0)
        return knn__fail(KNN_ERR_ARG, "%d threads: give 0 (automatic) or more", p->threads);
    if ((size_t)p->k > train->count)
        return knn__fail(KNN_ERR_ARG, "K = %d is more than the %zu training %s of %s", p->k,
                         train->count, knn__rows_word(train), train->source);
    static const char *const kind[] = {"uint8 values", "float32 values", "text"};
    if (train->dtype != queries->dtype)
        return knn__fail(KNN_ERR_SHAPE, "%s holds %s but %s holds %s", train->source,
                         kind[train->dtype], queries->source, kind[queries->dtype]);
    if (train->dtype == KNN_SPARSE && train->dim != queries->dim)
        return knn__fail(KNN_ERR_SHAPE, "%s has a vocabulary of %zu terms but %s of %zu (load "
                                        "the queries like the training set)",
                         train->source, train->dim, queries->source, queries->dim);
    if (train->dim != queries->dim)
        return knn__fail(KNN_ERR_SHAPE,
                         "%s has images of %dx%dx%d = %zu values but %s has %dx%dx%d = %zu",
                         train->source, train->height, train->width, train->channels,
                         train->dim, queries->source, queries->height, queries->width,
                         queries->channels, queries->dim);
    size_t cells;
    if (!knn__mul_ok(queries->count, (size_t)p->k, &cells) ||
        !knn__mul_ok(cells, sizeof(uint64_t) + sizeof(uint32_t), &cells))
        return knn__fail(KNN_ERR_LIMIT, "%zu queries x K = %d neighbours overflow memory sizes",
                         queries->count, p->k);
    if (!knn__memory_fits(cells))
        return knn__fail(KNN_ERR_NOMEM,
                         "%zu queries x K = %d neighbours need %.1f GiB, more than the "
                         "memory available",
                         queries->count, p->k, (double)cells / (1 << 30));
    /* each class's nearest row (distance and index) for the ranking: refused, not skipped,
     * when it does not fit, so that the ranking never depends on the memory free today */
    const int classes = train->labels ? train->num_classes : 0;
    size_t minima = 0, total;
    if (!knn__mul_ok(queries->count, (size_t)classes, &minima) ||
        !knn__mul_ok(minima, sizeof(uint64_t) + sizeof(uint32_t), &minima) ||
        __builtin_add_overflow(cells, minima, &total))
        return knn__fail(KNN_ERR_LIMIT, "%zu queries x %d classes overflow memory sizes",
                         queries->count, classes);
    if (!knn__memory_fits(total))
        return knn__fail(KNN_ERR_NOMEM,
                         "%zu queries x %d classes need %.1f GiB for each class's nearest "
                         "training image (the ranking of classes without votes), more than the "
                         "memory available",
                         queries->count, classes, (double)minima / (1 << 30));
    knn_neighbors *nb = neighbors_new(queries->count, p->k, p->metric, train->dtype, classes);
    if (!nb)
        return knn__fail(KNN_ERR_NOMEM, "cannot allocate %zu MiB for %zu x %d neighbours",
                         total >> 20, queries->count, p->k);
    *out = nb;
    return KNN_OK;
}

/* ---- the blocked search ---------------------------------------------------------------- */

/* What one part of the training set gives every query: the top-K lists, (nq, k) distances
 * and indices, and how many each holds (fewer than k only in a part of the training set
 * smaller than k); and each class's nearest row, (nq, C) distances and indices (NULL when
 * the training set has no labels). */
typedef struct {
    uint64_t *dist;
    uint32_t *index;
    int *size;
    uint64_t *class_dist;
    uint32_t *class_index;
} topk_lists;

typedef struct {
    const knn_dataset *train, *queries;
    size_t block_rows; /* training rows per block */
    knn__distances dist;
    const uint32_t *tnorm; /* (chunks, ntrain) the kernels' train norms; NULL without */
    const uint8_t *trows, *qrows; /* the rows measured: the data sets' own, or for cosine
                                   * copies scaled to unit length */
    int k;
    uint32_t classes; /* C with class minima, 0 without */
    /* the training rows searched: trows holds `held` of them, the first being row `base`
     * (all of them from 0, or a shard's) */
    size_t base, held;
    /* cross-validation over shards: a pair of a query and a training row of the same fold
     * is no candidate (its distance taken as the tile's largest, which no row reaches).
     * qfold (nq) by query, tfold by training row; NULL: no such pairs */
    const int32_t *qfold, *tfold;
} search_job;

/* One thread's working memory for a tile: the distance tile (uint32, or uint64 for wide
 * tiles, with a uint32 chunk tile beside it), the queries' norms, and the tile's class
 * minima, class-major: (C, nq) distances (of the tile's width) and indices, so that a
 * training row's distances to consecutive queries meet their minima of its class in one
 * vector, and the rows of one block touch only their own classes' lines. `offset` holds each
 * block row's line, label x nq, computed (and its label checked) once per block for all
 * queries. */
typedef struct {
    void *tile;
    uint32_t *chunk_tile, *qnorm;
    void *class_dist;
    uint32_t *class_index, *offset;
} tile_work;

/* Lowers one query's class minima (md, mi: its column of the tile's (C, nq) minima, md of the
 * tile's width) with the candidates (dist[j], first + j), j < n, whose classes' lines start
 * at offset[j]. The rows come in increasing index, so a strict < keeps the smallest index
 * among equal distances. */
KNN__ALWAYS_INLINE void class_minima_offer(void *md, uint32_t *mi, const uint32_t *offset,
                                           const void *dist, bool wide, size_t n,
                                           uint32_t first)
{
    for (size_t j = 0; j < n; j++) {
        uint64_t d = knn__tile_get(dist, wide, j);
        if (d < knn__tile_get(md, wide, offset[j])) {
            knn__tile_put(md, wide, offset[j], d);
            mi[offset[j]] = first + (uint32_t)j;
        }
    }
}

/* Four lanes of uint32 (GCC vector extensions: SSE2 on baseline x86-64), loaded and stored
 * unaligned. */
typedef uint32_t v4u __attribute__((vector_size(16)));
typedef v4u v4u_unaligned __attribute__((aligned(4)));
/* Lanes of a and b (0-3 a's, 4-7 b's): GCC's __builtin_shuffle, clang's shufflevector (make
 * fuzz builds with clang). */
#if defined(__clang__)
#define SHUF4(a, b, i0, i1, i2, i3) __builtin_shufflevector(a, b, i0, i1, i2, i3)
#else
#define SHUF4(a, b, i0, i1, i2, i3) __builtin_shuffle(a, b, (v4u){i0, i1, i2, i3})
#endif

/* Lowers the minima of four queries (the columns at md, mi) with one row's distances to
 * them, d, at training index t: a compare and two blends, no branch. */
static inline void lower4(uint32_t *md, uint32_t *mi, v4u d, uint32_t t)
{
    v4u m = *(const v4u_unaligned *)md, x = *(const v4u_unaligned *)mi;
    v4u lower = (v4u)(d < m);
    *(v4u_unaligned *)md = (d & lower) | (m & ~lower);
    *(v4u_unaligned *)mi = ((v4u){t, t, t, t} & lower) | (x & ~lower);
}

/* The class minima of a whole tile of distances (nq, nt) against block rows first + j:
 * 4 x 4 blocks of the tile are transposed in registers, so that each row's distances to
 * four queries meet the four queries' minima of its class, one contiguous vector of the
 * class-major minima, in a branch-free compare and blend. A query's rows still come in
 * increasing index. The edges (nq or nt not multiples of 4) go one by one.
 * Measured on Fashion-MNIST (bench/README.md): a compare and branch per distance cost the
 * L2 search 4% to 6% with 10 classes but 29% with 1,000, where 8% of the distances lower a
 * minimum and the branch mispredicts (query-major or class-major alike); a branch-free
 * scalar update cost 21% and 37%; this pass costs 6% to 12% at both. Narrow tiles only: the
 * wide tiles of long rows go through class_minima_offer, whose cost is nothing beside their
 * distances'. */
static void class_minima_tile(uint32_t *md, uint32_t *mi, const uint32_t *offset,
                              const uint32_t *tile, size_t nq, size_t nt, uint32_t first)
{
    const size_t nq4 = nq & ~(size_t)3, nt4 = nt & ~(size_t)3;
    for (size_t j = 0; j < nt4; j += 4)
        for (size_t i = 0; i < nq4; i += 4) {
            const uint32_t *r = tile + i * nt + j;
            v4u r0 = *(const v4u_unaligned *)r, r1 = *(const v4u_unaligned *)(r + nt);
            v4u r2 = *(const v4u_unaligned *)(r + 2 * nt);
            v4u r3 = *(const v4u_unaligned *)(r + 3 * nt);
            v4u lo01 = SHUF4(r0, r1, 0, 4, 1, 5);
            v4u hi01 = SHUF4(r0, r1, 2, 6, 3, 7);
            v4u lo23 = SHUF4(r2, r3, 0, 4, 1, 5);
            v4u hi23 = SHUF4(r2, r3, 2, 6, 3, 7);
            lower4(md + offset[j] + i, mi + offset[j] + i,
                   SHUF4(lo01, lo23, 0, 1, 4, 5), first + (uint32_t)j);
            lower4(md + offset[j + 1] + i, mi + offset[j + 1] + i,
                   SHUF4(lo01, lo23, 2, 3, 6, 7), first + (uint32_t)j + 1);
            lower4(md + offset[j + 2] + i, mi + offset[j + 2] + i,
                   SHUF4(hi01, hi23, 0, 1, 4, 5), first + (uint32_t)j + 2);
            lower4(md + offset[j + 3] + i, mi + offset[j + 3] + i,
                   SHUF4(hi01, hi23, 2, 3, 6, 7), first + (uint32_t)j + 3);
        }
    for (size_t i = 0; i < nq; i++) {
        size_t from = i < nq4 ? nt4 : 0;
        class_minima_offer(md + i, mi + i, offset + from, tile + i * nt + from, false,
                           nt - from, first + (uint32_t)from);
    }
}

/* offset[j] = labels[j] x nq for the n rows of a block. Returns false at a label that is
 * not a class: the labels of a mapped model are untrusted memory (DESIGN.md decision 11),
 * and a class outside the minima would write outside them. */
static bool class_offsets(const int32_t *labels, size_t n, uint32_t C, size_t nq,
                          uint32_t *offset)
{
    for (size_t j = 0; j < n; j++) {
        if ((uint32_t)labels[j] >= C)
            return false;
        offset[j] = (uint32_t)labels[j] * (uint32_t)nq;
    }
    return true;
}

/* Sets the distances of the tile's (nq, nt) pairs whose query and training row lie in one
 * fold to the tile's largest value, which no distance reaches (uint8: 255^2 x 65,536 <
 * 2^32 in a 32-bit tile; float32: the bits of a NaN) and the top-K never takes: their
 * places stay empty, marked like a short shard's. */
static void mask_folds(void *tile, bool wide, const int32_t *qfold, size_t nq,
                       const int32_t *tfold, size_t nt)
{
    for (size_t i = 0; i < nq; i++)
        for (size_t j = 0; j < nt; j++)
            if (qfold[i] == tfold[j])
                knn__tile_put(tile, wide, i * nt + j, knn__tile_max(wide));
}

/* Queries [q0, q0 + nq) against training rows [t_lo, t_hi) of those held, into `lists`,
 * sorted. Returns false at a label that is not a class. */
static bool search_tile(const search_job *job, size_t q0, size_t nq, size_t t_lo, size_t t_hi,
                        const tile_work *w, topk_lists *lists)
{
    const int k = job->k;
    const size_t stride = job->train->stride, C = job->classes;
    const bool wide = knn__wide(&job->dist);
    const uint8_t *qrows = job->qrows + q0 * stride;
    int *size = lists->size + q0;
    bool labels_ok = true;
    for (size_t i = 0; i < nq; i++)
        size[i] = 0;
    for (size_t i = 0; i < C * nq; i++) {
        knn__tile_put(w->class_dist, wide, i, knn__tile_max(wide));
        w->class_index[i] = KNN__NO_ROW;
    }
    if (job->tnorm)
        knn__query_norms(&job->dist, qrows, nq, nq, w->qnorm);
    for (size_t t0 = t_lo; t0 < t_hi && labels_ok; t0 += job->block_rows) {
        size_t nt = t_hi - t0 < job->block_rows ? t_hi - t0 : job->block_rows;
        const uint32_t first = (uint32_t)(job->base + t0); /* the rows' indices */
        knn__distance_tile(&job->dist, qrows, nq, job->tnorm ? w->qnorm : NULL, nq,
                           job->trows + t0 * stride, nt,
                           job->tnorm ? job->tnorm + t0 : NULL, job->held,
                           w->chunk_tile, w->tile);
        if (job->qfold)
            mask_folds(w->tile, wide, job->qfold + q0, nq, job->tfold + first, nt);
        labels_ok = !C || class_offsets(job->train->labels + first, nt, (uint32_t)C, nq,
                                        w->offset);
        if (C && labels_ok && !wide)
            class_minima_tile(w->class_dist, w->class_index, w->offset, w->tile, nq, nt, first);
        for (size_t i = 0; C && labels_ok && wide && i < nq; i++)
            class_minima_offer((uint64_t *)w->class_dist + i, w->class_index + i, w->offset,
                               (const uint64_t *)w->tile + i * nt, true, nt, first);
        for (size_t i = 0; i < nq && labels_ok; i++) {
            uint64_t *hd = lists->dist + (q0 + i) * (size_t)k;
            uint32_t *hi = lists->index + (q0 + i) * (size_t)k;
            if (wide)
                topk_offer(hd, hi, k, &size[i], (const uint64_t *)w->tile + i * nt, true, nt,
                           first);
            else
                topk_offer(hd, hi, k, &size[i], (const uint32_t *)w->tile + i * nt, false, nt,
                           first);
        }
    }
    for (size_t i = 0; i < nq; i++)
        heap_sort(lists->dist + (q0 + i) * (size_t)k, lists->index + (q0 + i) * (size_t)k,
                  size[i]);
    for (size_t i = 0; i < nq; i++) /* to the lists' query-major (nq, C), 64-bit */
        for (size_t c = 0; c < C; c++) {
            uint32_t row = w->class_index[c * nq + i];
            lists->class_dist[(q0 + i) * C + c] =
                row == KNN__NO_ROW ? KNN__NO_DIST : knn__tile_get(w->class_dist, wide, c * nq + i);
            lists->class_index[(q0 + i) * C + c] = row;
        }
    return labels_ok;
}

/* ---- distances of any row length ----------------------------------------------------- */

knn__distances knn__distances_of(const knn_dataset *ds, knn_metric metric,
                                 const knn__kernels *kern)
{
    const bool f32 = ds->dtype == KNN_F32;
    knn__distances d = {metric == KNN_COSINE ? kern->ip_f32_tile /* float32 only */
                        : metric == KNN_L1   ? (f32 ? kern->l1_f32_tile : kern->l1_tile)
                                             : (f32 ? kern->l2_f32_tile : kern->l2_tile),
                        metric == KNN_L2 && !f32, ds->stride, 1};
    /* float sums cannot overflow: one pass, summed in the table's own order at any length */
    if (!f32)
        d.chunks = (ds->stride + KNN__CHUNK - 1) / KNN__CHUNK;
    return d;
}

/* Chunk c of a row: bytes [c x KNN__CHUNK, + chunk_len), a multiple of 64. */
static size_t chunk_len(const knn__distances *d, size_t c)
{
    return d->chunks == 1 ? d->stride
                          : (d->stride - c * KNN__CHUNK < KNN__CHUNK ? d->stride - c * KNN__CHUNK
                                                                     : KNN__CHUNK);
}

void knn__query_norms(const knn__distances *d, const uint8_t *rows, size_t n, size_t pitch,
                      uint32_t *out)
{
    for (size_t c = 0; c < d->chunks; c++)
        knn__sqnorm_u8(rows + c * KNN__CHUNK, n, chunk_len(d, c), d->stride, out + c * pitch);
}

void knn__distance_tile(const knn__distances *d, const uint8_t *q, size_t nq,
                        const uint32_t *qnorm, size_t qpitch, const uint8_t *t, size_t nt,
                        const uint32_t *tnorm, size_t tpitch, uint32_t *scratch, void *out)
{
    if (d->chunks == 1) {
        d->tile(q, nq, t, nt, d->stride, d->stride, qnorm, tnorm, out);
        return;
    }
    uint64_t *sum = out;
    for (size_t c = 0; c < d->chunks; c++) {
        d->tile(q + c * KNN__CHUNK, nq, t + c * KNN__CHUNK, nt, chunk_len(d, c), d->stride,
                qnorm ? qnorm + c * qpitch : NULL, tnorm ? tnorm + c * tpitch : NULL, scratch);
        for (size_t i = 0; i < nq * nt; i++)
            sum[i] = (c ? sum[i] : 0) + scratch[i];
    }
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
    /* chunks of uint8 rows: count x chunks < 2^31 x 2^8, no overflow */
    const knn__distances d = {NULL, true, train->stride,
                              (train->stride + KNN__CHUNK - 1) / KNN__CHUNK};
    const size_t n = knn__held(train), block = 4096;
    uint32_t *norms = malloc((n ? n * d.chunks : 1) * sizeof *norms);
    struct knn__norms_cache *fresh = cache ? NULL : malloc(sizeof *fresh);
    if (!norms || (!cache && !fresh)) {
        free(norms);
        free(fresh);
        return NULL;
    }
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(static)
#endif
    for (size_t i = 0; i < n; i += block)
        for (size_t c = 0; c < d.chunks; c++)
            fn(train->rows + i * train->stride + c * KNN__CHUNK, n - i < block ? n - i : block,
               chunk_len(&d, c), train->stride, norms + c * n + i);
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

void knn__unit_rows(const uint8_t *rows, size_t n, size_t dim, size_t stride, uint8_t *out)
{
    for (size_t i = 0; i < n; i++) {
        const float *a = (const float *)(const void *)(rows + i * stride);
        float *u = (float *)(void *)(out + i * stride);
        double sum = 0; /* index order, in double: the same scale everywhere */
        for (size_t d = 0; d < dim; d++)
            sum += (double)a[d] * (double)a[d];
        const double scale = sum > 0 ? 1.0 / sqrt(sum) : 0.0; /* a zero row stays zero */
        for (size_t d = 0; d < dim; d++)
            u[d] = (float)((double)a[d] * scale);
        memset(u + dim, 0, stride - dim * sizeof *u);
    }
}

const uint8_t *knn__dataset_unit_rows(const knn_dataset *ds, int threads)
{
    knn_dataset *mut = (knn_dataset *)ds; /* the cache only; rows and labels stay const */
    uint8_t *cached = atomic_load(&mut->unit_rows);
    if (cached)
        return cached;
    const size_t n = knn__held(ds), block = 1024;
    size_t bytes;
    if (!knn__mul_ok(n ? n : 1, ds->stride, &bytes) || !knn__memory_fits(bytes))
        return NULL;
    uint8_t *unit = aligned_alloc(KNN__ALIGN, bytes);
    if (!unit)
        return NULL;
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(static)
#endif
    for (size_t i = 0; i < n; i += block)
        knn__unit_rows(ds->rows + i * ds->stride, n - i < block ? n - i : block, ds->dim,
                       ds->stride, unit + i * ds->stride);
    (void)threads;
    if (atomic_compare_exchange_strong(&mut->unit_rows, &cached, unit))
        return unit;
    free(unit); /* another search cached the same rows meanwhile: use theirs */
    return cached;
}

/* Merges query q's sorted lists from `parts` parts of the training set into nb. */
static void merge_parts(const topk_lists *part, int parts, size_t q, knn_neighbors *nb)
{
    const size_t k = (size_t)nb->k;
    int head[64] = {0};
    for (size_t j = 0; j < k; j++) {
        int best = -1;
        uint64_t bd = 0;
        uint32_t bi = 0;
        for (int p = 0; p < parts; p++) {
            if (head[p] >= part[p].size[q])
                continue;
            uint64_t d = part[p].dist[q * k + (size_t)head[p]];
            uint32_t i = part[p].index[q * k + (size_t)head[p]];
            if (best < 0 || knn__worse(bd, bi, d, i)) {
                best = p;
                bd = d;
                bi = i;
            }
        }
        if (best < 0) { /* a shard of fewer rows than k: the rest stays empty */
            bd = KNN__NO_DIST;
            bi = KNN__NO_ROW;
        } else {
            head[best]++;
        }
        nb->dist[q * k + j] = bd;
        nb->index[q * k + j] = bi;
    }
}

/* Lowers query q's class minima in nb with those of part p's (nb holds parts 0 .. p-1,
 * whose rows all come before part p's: an equal distance keeps nb's smaller index). */
static void merge_class_minima(const topk_lists *part, size_t q, knn_neighbors *nb)
{
    const size_t C = (size_t)nb->classes;
    const uint64_t *pd = part->class_dist + q * C;
    const uint32_t *pi = part->class_index + q * C;
    uint64_t *md = nb->class_dist + q * C;
    uint32_t *mi = nb->class_index + q * C;
    for (size_t c = 0; c < C; c++)
        if (pd[c] < md[c]) {
            md[c] = pd[c];
            mi[c] = pi[c];
        }
}

/* Points each part's lists somewhere: with one part, at nb itself; with several, at one
 * block of memory (returned, NULL when out of memory), except part 0's class minima, which go
 * to nb straight and are merged with the others' there. */
static void *part_lists(knn_neighbors *nb, int parts, int *sizes, topk_lists *lists)
{
    const size_t nq = nb->nq, list = nq * (size_t)nb->k, minima = nq * (size_t)nb->classes;
    lists[0] = (topk_lists){nb->dist, nb->index, sizes, nb->class_dist, nb->class_index};
    if (parts == 1)
        return NULL;
    /* every part's list and the minima of parts 1.., the 64-bit distances first, then the
     * 32-bit indices in the same order */
    const size_t entries = (size_t)parts * list + (size_t)(parts - 1) * minima;
    uint64_t *dist = malloc(entries * (sizeof(uint64_t) + sizeof(uint32_t)));
    uint32_t *index = (uint32_t *)(dist + entries);
    for (int i = 0; dist && i < parts; i++) {
        const size_t at = (size_t)i * list;
        lists[i] = (topk_lists){dist + at, index + at, sizes + (size_t)i * nq, nb->class_dist,
                                nb->class_index};
        if (i && minima) { /* after all the lists */
            const size_t m = (size_t)parts * list + (size_t)(i - 1) * minima;
            lists[i].class_dist = dist + m;
            lists[i].class_index = index + m;
        }
    }
    return dist;
}

/* The search's failure for a label that is not a class, naming the first such row. */
static knn_status bad_label(const knn_dataset *train)
{
    size_t t = 0;
    while (t < train->count && (uint32_t)train->labels[t] < (uint32_t)train->num_classes)
        t++;
    return knn__fail(KNN_ERR_FORMAT, "%s: label %d of row %zu is outside 0..%d (did the file "
                                     "change while in use?)",
                     train->source, t < train->count ? (int)train->labels[t] : -1, t,
                     train->num_classes - 1);
}

/* The work is split into tiles of QUERY_TILE queries; when there are fewer tiles than
 * threads (few queries: prediction, latency), the training set is split into `parts` as
 * well, each (tile, part) is searched on its own and the parts' lists are merged. The merged
 * lists and class minima equal the unsplit ones: the order on (distance, index) is total. */
/* How a search is laid out: the training block, the threads, and the parts the training set
 * is split into when there are fewer query tiles than threads. */
typedef struct {
    size_t block_rows, ntiles, nblocks, items;
    int threads, parts;
    bool part_major; /* items part by part (each for every tile), not tile by tile */
} search_plan;

/* A training set of more bytes than this is compared with the memory available before a
 * search of several query tiles (reading /proc/meminfo costs nothing next to it). */
#define LARGE_TRAIN_BYTES ((double)(256u << 20))

static search_plan plan_search(const knn_dataset *train, const knn_dataset *queries,
                               const knn_params *p, const knn_neighbors *nb)
{
    search_plan s;
    /* a few queries reuse no block: larger ones, which the kernels' prefetching runs through
     * without a stop (it stays within a block) */
    s.block_rows = (queries->count < 4 ? 4 * BLOCK_BYTES : BLOCK_BYTES) / train->stride;
    s.block_rows = s.block_rows < 4               ? 4
                   : s.block_rows > MAX_BLOCK_ROWS ? MAX_BLOCK_ROWS
                                                   : s.block_rows;
    /* whole slabs of 16 rows for the AVX-512 L2 kernel (avx512.c), which the others like
     * as well: 48 Fashion-MNIST rows a block, not 59, ran 6-8% faster for L1 and L2. Not
     * where it would cost more than a quarter of the block (30 rows would become 16), nor
     * for fewer than 4 queries, which take no slabs. */
    if (queries->count >= 4 && s.block_rows >= 16 && s.block_rows % 16 <= s.block_rows / 4)
        s.block_rows -= s.block_rows % 16;
    s.threads = 1;
#ifdef _OPENMP
    s.threads = p->threads > 0 ? p->threads : omp_get_max_threads();
#endif
    const size_t nq = queries->count;
    s.ntiles = (nq + QUERY_TILE - 1) / QUERY_TILE;
    s.nblocks = (knn__held(train) + s.block_rows - 1) / s.block_rows;
    s.parts = 1;
    s.part_major = false;
    if (s.ntiles < (size_t)s.threads)
        s.parts = (int)((size_t)s.threads < s.nblocks ? (size_t)s.threads : s.nblocks);
    /* A training set larger than half the memory available (a model file larger than RAM,
     * mapped: read through the page cache) is searched in parts of a quarter of it, each
     * part for every query tile before the next, so that the file is read once, not once
     * per tile of 128 queries; a mapped file's next part is read ahead while one is searched
     * (read_ahead). */
    const double bytes = (double)knn__held(train) * (double)train->stride;
    if (s.parts == 1 && s.ntiles > 1 && bytes > LARGE_TRAIN_BYTES) {
        const double avail = knn__memory_available();
        if (avail > 0 && bytes > avail / 2) {
            const double want = ceil(bytes / (avail / 4));
            s.parts = want > (double)s.nblocks ? (int)(s.nblocks < 64 ? s.nblocks : 64)
                                               : (int)(want < 64 ? want : 64);
            s.part_major = true;
        }
    }
    if (s.parts > 64)
        s.parts = 64;
    if (s.parts < 1) /* a shard without rows: one empty part, so every list is set */
        s.parts = 1;
    /* each part keeps nq x K lists and nq x C class minima: split only while they stay small
     * (64 MiB) */
    while (s.parts > 1 &&
           (double)s.parts * (double)nq * (p->k + nb->classes) * 12.0 > 64.0 * (1 << 20))
        s.parts--;
    s.items = s.ntiles * (size_t)s.parts;
    return s;
}

/* One thread's working tiles (see tile_work); false when memory runs out. */
static bool tile_work_alloc(tile_work *work, const search_job *job, size_t nq, bool wide)
{
    const size_t minima = job->classes * (nq < QUERY_TILE ? nq : QUERY_TILE);
    const size_t width = wide ? sizeof(uint64_t) : sizeof(uint32_t), rows = job->block_rows;
    work->tile = malloc(QUERY_TILE * rows * width);
    work->chunk_tile = wide ? malloc(QUERY_TILE * rows * sizeof *work->chunk_tile) : NULL;
    work->qnorm = malloc(QUERY_TILE * job->dist.chunks * sizeof *work->qnorm);
    work->class_dist = malloc((minima ? minima : 1) * width);
    work->class_index = malloc((minima ? minima : 1) * sizeof *work->class_index);
    work->offset = malloc(rows * sizeof *work->offset);
    return work->tile && (!wide || work->chunk_tile) && work->qnorm && work->class_dist &&
           work->class_index && work->offset;
}

static void tile_work_free(tile_work *work)
{
    free(work->tile);
    free(work->chunk_tile);
    free(work->qnorm);
    free(work->class_dist);
    free(work->class_index);
    free(work->offset);
}

/* Training rows [t_lo, t_hi) of a search part by part: where they lie in a mapped model file
 * (a file larger than memory), the kernel is asked to read them ahead (POSIX_MADV_WILLNEED,
 * from the page holding the first): the next part is read from the disk while this one is
 * searched, not page fault by page fault. Only a hint: its failure changes nothing. */
static void read_ahead(const search_job *job, size_t t_lo, size_t t_hi)
{
    const knn_dataset *t = job->train;
    if (!t->map || t->map_is_copy || t_lo >= t_hi)
        return;
    const long page = sysconf(_SC_PAGESIZE);
    const uintptr_t start = (uintptr_t)(job->trows + t_lo * t->stride);
    const uintptr_t end = (uintptr_t)(job->trows + t_hi * t->stride);
    const uintptr_t first = page > 0 ? start / (uintptr_t)page * (uintptr_t)page : start;
    (void)posix_madvise((void *)first, end - first, POSIX_MADV_WILLNEED);
}

/* Training rows [t_lo, t_hi) of part `part` of the plan. */
static void part_rows(const search_plan *s, size_t part, size_t count, size_t *t_lo,
                      size_t *t_hi)
{
    *t_lo = s->nblocks * part / (size_t)s->parts * s->block_rows;
    *t_hi = s->nblocks * (part + 1) / (size_t)s->parts * s->block_rows;
    *t_lo = *t_lo < count ? *t_lo : count;
    *t_hi = *t_hi < count ? *t_hi : count;
}

/* Runs every (query tile, part) item of the plan on its threads into the part lists; sets
 * *failed (memory) or *labels_bad (a label outside the classes) on failure. */
static void run_search(const search_job *job, const search_plan *s, const knn_params *p,
                       topk_lists *lists, int *failed, int *labels_bad)
{
    const size_t nq = job->queries->count;
    const bool wide = knn__wide(&job->dist);
    size_t items_done = 0;
#ifdef _OPENMP
#pragma omp parallel num_threads(s->threads)
#endif
    {
        tile_work work;
        if (!tile_work_alloc(&work, job, nq, wide))
            knn__flag_raise(failed);
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
        for (size_t w = 0; w < s->items; w++) {
            if (knn__flag_read(failed) || knn__flag_read(labels_bad))
                continue;
            const size_t tile = s->part_major ? w % s->ntiles : w / (size_t)s->parts;
            const size_t part = s->part_major ? w / s->ntiles : w % (size_t)s->parts;
            size_t q0 = tile * QUERY_TILE;
            size_t n = nq - q0 < QUERY_TILE ? nq - q0 : QUERY_TILE;
            size_t t_lo, t_hi, next_lo, next_hi;
            part_rows(s, part, job->held, &t_lo, &t_hi);
            if (s->part_major && tile == 0) { /* a part begins: read the next one ahead */
                if (part == 0)
                    read_ahead(job, t_lo, t_hi);
                if (part + 1 < (size_t)s->parts) {
                    part_rows(s, part + 1, job->held, &next_lo, &next_hi);
                    read_ahead(job, next_lo, next_hi);
                }
            }
            if (!search_tile(job, q0, n, t_lo, t_hi, &work, &lists[part]))
                knn__flag_raise(labels_bad);
            size_t done = knn__work_done(&items_done);
            if (p->progress && done)
                p->progress(done * nq / s->items, nq, p->progress_user);
        }
        tile_work_free(&work);
    }
}

static knn_status exact_search(const knn_dataset *train, const knn_dataset *queries,
                               const knn_params *p, int parts, const int32_t *qfold,
                               const int32_t *tfold, knn_neighbors *nb, knn_neighbors **out);

knn_status knn_search(const knn_dataset *train, const knn_dataset *queries,
                      const knn_params *p, knn_neighbors **out)
{
    knn_neighbors *nb;
    *out = NULL;
    if (queries->sharded)
        return knn__whole(queries, "a search of its rows as queries");
    knn_status st = knn__search_prepare(train, queries, p, &nb);
    if (st)
        return st;
    bool exact = false; /* exact_search frees nb on failure and reports its progress */
    if (p->ef < 0)
        st = knn__fail(KNN_ERR_ARG, "ef = %d: give 0 (the default) or more", p->ef);
    else if (train->dtype == KNN_SPARSE) /* text: the inverted index (sparse.c) */
        st = knn__sparse_search(train, queries, p, nb);
    else if (knn__hnsw_applies(train, p)) /* the graph index (hnsw.c): a shard's own */
        st = knn__hnsw_search(train, queries, p, nb);
    else if ((st = exact_search(train, queries, p, 0, NULL, NULL, nb, &nb)))
        return st;
    else
        exact = true;
    if (!st && train->sharded) /* every process's lists merged */
        st = knn__neighbors_reduce(train, nb);
    if (st) {
        knn_neighbors_free(nb);
        return st;
    }
    if (!exact && p->progress)
        p->progress(queries->count, queries->count, p->progress_user);
    *out = nb;
    return KNN_OK;
}

knn_status knn__search_parts(const knn_dataset *train, const knn_dataset *queries,
                             const knn_params *p, int parts, knn_neighbors **out)
{
    knn_neighbors *nb;
    *out = NULL;
    if (parts < 1 || parts > 64)
        return knn__fail(KNN_ERR_ARG, "%d parts (1 to 64)", parts);
    knn_status st = knn__search_prepare(train, queries, p, &nb);
    return st ? st : exact_search(train, queries, p, parts, NULL, NULL, nb, out);
}

/* ---- shards ------------------------------------------------------------------------------ */

/* A shard's lists travel as one record per query: its k distances and C class minima's
 * distances (uint64), then their k and C indices (uint32). */
static size_t record_bytes(const knn_neighbors *nb)
{
    return ((size_t)nb->k + (size_t)nb->classes) * (sizeof(uint64_t) + sizeof(uint32_t));
}

/* An entry (distance, index) of a record: list or class place j of m. */
static inline void record_get(const uint8_t *r, size_t m, size_t j, uint64_t *d, uint32_t *i)
{
    memcpy(d, r + j * 8, 8);
    memcpy(i, r + m * 8 + j * 4, 4);
}
static inline void record_put(uint8_t *r, size_t m, size_t j, uint64_t d, uint32_t i)
{
    memcpy(r + j * 8, &d, 8);
    memcpy(r + m * 8 + j * 4, &i, 4);
}

/* The shards' merge (knn_merge_fn): records of k (distance, index) pairs and C class
 * minima, as knn__neighbors_reduce packs them; ctx points at two ints, k and C. */
static void lists_merge(const void *in, void *inout, size_t n, const void *ctx)
{
    const int *kc = ctx;
    const size_t k = (size_t)kc[0], C = (size_t)kc[1], m = k + C;
    const size_t bytes = m * (sizeof(uint64_t) + sizeof(uint32_t));
    for (size_t r = 0; r < n; r++) {
        const uint8_t *a = (const uint8_t *)in + r * bytes;
        uint8_t *b = (uint8_t *)inout + r * bytes;
        uint64_t da, db;
        uint32_t ia, ib;
        /* the k first of the two sorted lists: how many of each, then merged from the back,
         * in place (the place written is never before b's next unread one) */
        size_t x = 0, y = 0;
        while (x + y < k) {
            record_get(a, m, x, &da, &ia);
            record_get(b, m, y, &db, &ib);
            if (knn__worse(db, ib, da, ia))
                x++;
            else
                y++;
        }
        for (size_t w = k; w-- > 0;) {
            bool take_a = x > 0;
            if (x > 0 && y > 0) {
                record_get(a, m, x - 1, &da, &ia);
                record_get(b, m, y - 1, &db, &ib);
                take_a = knn__worse(da, ia, db, ib);
            }
            if (take_a) {
                record_get(a, m, --x, &da, &ia);
                record_put(b, m, w, da, ia);
            } else {
                record_get(b, m, --y, &db, &ib);
                record_put(b, m, w, db, ib);
            }
        }
        for (size_t c = k; c < m; c++) { /* each class's nearest, by (distance, index) */
            record_get(a, m, c, &da, &ia);
            record_get(b, m, c, &db, &ib);
            if (knn__worse(db, ib, da, ia))
                record_put(b, m, c, da, ia);
        }
    }
}

/* nb's lists (a shard's, sorted, the places of missing rows KNN__NO_DIST and KNN__NO_ROW)
 * merged with every other process's through the shard's reduce, in place. */
knn_status knn__neighbors_reduce(const knn_dataset *train, knn_neighbors *nb)
{
    const size_t k = (size_t)nb->k, C = (size_t)nb->classes, m = k + C,
                 bytes = record_bytes(nb);
    size_t total;
    if (!knn__mul_ok(nb->nq ? nb->nq : 1, bytes, &total))
        return knn__fail(KNN_ERR_LIMIT, "%zu x %d neighbours overflow memory sizes", nb->nq,
                         nb->k);
    uint8_t *rec = malloc(total);
    if (!rec)
        return knn__fail(KNN_ERR_NOMEM, "out of memory for merging %zu x %d neighbours",
                         nb->nq, nb->k);
    for (size_t q = 0; q < nb->nq; q++) {
        uint8_t *r = rec + q * bytes;
        memcpy(r, nb->dist + q * k, k * 8);
        memcpy(r + m * 8, nb->index + q * k, k * 4);
        if (C) { /* cross-validation's lists have no class minima */
            memcpy(r + k * 8, nb->class_dist + q * C, C * 8);
            memcpy(r + m * 8 + k * 4, nb->class_index + q * C, C * 4);
        }
    }
    const int ctx[2] = {nb->k, nb->classes};
    knn_status st = knn__shard_reduce(train, rec, nb->nq, bytes, lists_merge, ctx);
    for (size_t q = 0; !st && q < nb->nq; q++) {
        const uint8_t *r = rec + q * bytes;
        memcpy(nb->dist + q * k, r, k * 8);
        memcpy(nb->index + q * k, r + m * 8, k * 4);
        if (C) {
            memcpy(nb->class_dist + q * C, r + k * 8, C * 8);
            memcpy(nb->class_index + q * C, r + m * 8 + k * 4, C * 4);
        }
    }
    free(rec);
    return st;
}

knn_status knn__search_folds(const knn_dataset *train, const knn_dataset *queries,
                             knn_metric metric, int k, int threads, const int32_t *qfold,
                             const int32_t *tfold, knn_neighbors **out)
{
    *out = NULL;
    knn_neighbors *nb = neighbors_new(queries->count, k, metric, train->dtype, 0);
    if (!nb)
        return knn__fail(KNN_ERR_NOMEM, "out of memory for %zu x %d neighbours",
                         queries->count, k);
    knn_params p = knn_params_default();
    p.k = k;
    p.metric = metric;
    p.threads = threads;
    return exact_search(train, queries, &p, 0, qfold, tfold, nb, out);
}

/* The exact search into nb (freed on failure); `parts` > 0 forces the plan's parts, part by
 * part (knn__search_parts). */
static knn_status exact_search(const knn_dataset *train, const knn_dataset *queries,
                               const knn_params *p, int parts, const int32_t *qfold,
                               const int32_t *tfold, knn_neighbors *nb, knn_neighbors **out)
{
    const knn__kernels *kern = knn__kernels_select();
    search_plan plan = plan_search(train, queries, p, nb);
    if (parts > 0) {
        plan.parts = parts < (int)plan.nblocks ? parts : (int)(plan.nblocks ? plan.nblocks : 1);
        plan.part_major = true;
        plan.items = plan.ntiles * (size_t)plan.parts;
    }
    search_job job = {train,         queries,       plan.block_rows,
                      knn__distances_of(train, p->metric, kern),
                      NULL,          train->rows,   queries->rows,
                      p->k,          (uint32_t)nb->classes,
                      train->row_lo, knn__held(train),
                      qfold,         tfold};
    const size_t nq = queries->count;
    int *sizes = malloc((size_t)plan.parts * (nq ? nq : 1) * sizeof *sizes);
    topk_lists lists[64];
    void *part_mem = part_lists(nb, plan.parts, sizes, lists);
    bool tnorm_owned = false;
    int failed = !sizes || (plan.parts > 1 && !part_mem), labels_bad = 0;
    if (!failed && job.dist.norms &&
        !(job.tnorm = knn__train_norms(train, kern->train_norms, plan.threads, &tnorm_owned)))
        failed = 1;
    /* cosine: the training rows at unit length (cached in the data set), the queries scaled
     * into memory of this search's own (or the same cache when they are the training set) */
    uint8_t *qunit = NULL;
    if (!failed && p->metric == KNN_COSINE) {
        size_t qbytes;
        if (!(job.trows = knn__dataset_unit_rows(train, plan.threads)))
            failed = 1;
        else if (queries == train)
            job.qrows = job.trows;
        else if (!knn__mul_ok(nq ? nq : 1, queries->stride, &qbytes) ||
                 !knn__memory_fits(qbytes) || !(qunit = aligned_alloc(KNN__ALIGN, qbytes)))
            failed = 1;
        else {
            knn__unit_rows(queries->rows, nq, queries->dim, queries->stride, qunit);
            job.qrows = qunit;
        }
    }
    if (!failed)
        run_search(&job, &plan, p, lists, &failed, &labels_bad);
    /* a shard of fewer rows than k: the places of the missing rows marked (merge_parts
     * marks them where there are several parts) */
    for (size_t q = 0; !failed && !labels_bad && plan.parts == 1 && q < nq; q++)
        for (int j = sizes[q]; j < p->k; j++) {
            nb->dist[q * (size_t)p->k + (size_t)j] = KNN__NO_DIST;
            nb->index[q * (size_t)p->k + (size_t)j] = KNN__NO_ROW;
        }
    if (!failed && !labels_bad && plan.parts > 1)
        for (size_t q = 0; q < nq; q++) {
            merge_parts(lists, plan.parts, q, nb);
            for (int i = 1; i < plan.parts && nb->classes; i++)
                merge_class_minima(&lists[i], q, nb);
        }
    if (tnorm_owned)
        free((void *)job.tnorm);
    free(qunit);
    free(part_mem);
    free(sizes);
    if (failed || labels_bad) {
        knn_neighbors_free(nb);
        return failed ? knn__fail(KNN_ERR_NOMEM, "out of memory for the search of %zu x %zu "
                                                 "rows",
                                  nq, train->count)
                      : bad_label(train);
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
    free(nb->class_dist);
    free(nb->class_index);
    free(nb);
}

size_t knn_neighbors_count(const knn_neighbors *nb) { return nb->nq; }
int knn_neighbors_k(const knn_neighbors *nb) { return nb->k; }
knn_metric knn_neighbors_metric(const knn_neighbors *nb) { return nb->metric; }

uint32_t knn_neighbors_index(const knn_neighbors *nb, size_t q, int j)
{
    return nb->index[q * (size_t)nb->k + (size_t)j];
}

uint64_t knn_neighbors_raw_distance(const knn_neighbors *nb, size_t q, int j)
{
    return nb->dist[q * (size_t)nb->k + (size_t)j];
}

knn_status knn_neighbors_recall(const knn_neighbors *found, const knn_neighbors *exact,
                                double *recall)
{
    *recall = 0;
    if (found->nq != exact->nq || found->k != exact->k)
        return knn__fail(KNN_ERR_ARG, "recall: %zu queries x %d neighbours against %zu x %d",
                         found->nq, found->k, exact->nq, exact->k);
    const size_t k = (size_t)found->k;
    size_t hits = 0;
    for (size_t q = 0; q < found->nq; q++) /* k is small: each exact row looked up */
        for (size_t j = 0; j < k; j++)
            for (size_t i = 0; i < k; i++)
                if (found->index[q * k + i] == exact->index[q * k + j]) {
                    hits++;
                    break;
                }
    *recall = found->nq ? (double)hits / ((double)found->nq * (double)k) : 1.0;
    return KNN_OK;
}

double knn__distance_value(const knn_neighbors *nb, uint64_t raw)
{
    double d = (double)raw; /* exact: integer distances stay below 2^40 < 2^53 */
    if (nb->dtype != KNN_U8) { /* float32 and text: a float's bits */
        const uint32_t bits = (uint32_t)raw;
        float f;
        memcpy(&f, &bits, sizeof f);
        d = f;
    }
    return nb->metric == KNN_L2 ? sqrt(d) : d; /* L1 and cosine: the distance itself */
}

double knn_neighbors_distance(const knn_neighbors *nb, size_t q, int j)
{
    return knn__distance_value(nb, knn_neighbors_raw_distance(nb, q, j));
}
