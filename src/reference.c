/* reference.c: the exact scalar reference search, kept forever as the specification of
 * knn_search: every distance with the plain scalar functions, then a full sort of each
 * query's candidates by (distance, training index), and each class's nearest row, first in
 * that order, found by a plain scan of every distance. Slow on purpose; tests only. uint8
 * distances are summed over the whole row in 64 bits, never in chunks, so that the chunked
 * tiles of long rows are checked against the plain definition. For float32 rows it is bit for
 * bit the scalar kernels' arithmetic (each distance summed in order; for cosine, both rows
 * scaled to unit length by knn__unit_rows, as the search does, then 1 - a.b). */
#include "internal.h"
#include "text.h"
#include "kernels/kernels.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t dist;
    uint32_t index;
} candidate;

static int by_dist_then_index(const void *a, const void *b)
{
    const candidate *x = a, *y = b;
    if (x->dist != y->dist)
        return x->dist < y->dist ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Query q's class minima in nb: for each class, the first of its rows in the order on
 * (distance, index), from `all`, every row's distance in index order. */
static void class_minima(const knn_dataset *train, const candidate *all, knn_neighbors *nb,
                         size_t q)
{
    const size_t C = (size_t)nb->classes;
    for (size_t c = 0; c < C; c++) {
        candidate best = {KNN__NO_DIST, KNN__NO_ROW};
        for (size_t t = 0; t < train->count; t++)
            if ((size_t)train->labels[t] == c && by_dist_then_index(&all[t], &best) < 0)
                best = all[t];
        nb->class_dist[q * C + c] = best.dist;
        nb->class_index[q * C + c] = best.index;
    }
}

knn_status knn__search_reference(const knn_dataset *train, const knn_dataset *queries,
                                 const knn_params *p, knn_neighbors **out)
{
    knn_neighbors *nb;
    *out = NULL;
    knn_status st = knn__whole(train, "the reference search");
    if (!st)
        st = knn__whole(queries, "the reference search");
    if (!st)
        st = knn__search_prepare(train, queries, p, &nb);
    if (st)
        return st;
    if (train->dtype == KNN_SPARSE) { /* text: every term of every pair, in order */
        if ((st = knn__sparse_search_dense(train, queries, p, nb)))
            knn_neighbors_free(nb);
        else
            *out = nb;
        return st;
    }
    candidate *all = malloc(train->count * sizeof *all);
    float *unit_mem = malloc(2 * train->stride); /* cosine: a query and a row, unit length */
    uint8_t *unit = (uint8_t *)unit_mem;
    if (!all || !unit) {
        free(all);
        free(unit_mem);
        knn_neighbors_free(nb);
        return knn__fail(KNN_ERR_NOMEM, "out of memory");
    }
    for (size_t q = 0; q < queries->count; q++) {
        const uint8_t *qrow = queries->rows + q * queries->stride;
        for (size_t t = 0; t < train->count; t++) {
            const uint8_t *trow = train->rows + t * train->stride;
            all[t].index = (uint32_t)t;
            if (train->dtype == KNN_F32) {
                const float *a = (const float *)(const void *)qrow;
                const float *b = (const float *)(const void *)trow;
                if (p->metric == KNN_COSINE) { /* the rows at unit length, one pair at a time */
                    knn__unit_rows(qrow, 1, train->dim, train->stride, unit);
                    knn__unit_rows(trow, 1, train->dim, train->stride, unit + train->stride);
                    a = (const float *)(const void *)unit;
                    b = (const float *)(const void *)(unit + train->stride);
                }
                float d = p->metric == KNN_L1   ? knn__l1_f32_scalar(a, b, train->dim)
                          : p->metric == KNN_L2 ? knn__l2sq_f32_scalar(a, b, train->dim)
                                                : knn__cosine_f32_scalar(a, b, train->dim);
                uint32_t bits; /* d >= 0: bits ordered like floats */
                memcpy(&bits, &d, sizeof d);
                all[t].dist = bits;
            } else {
                all[t].dist = p->metric == KNN_L1 ? knn__l1_u8_scalar(qrow, trow, train->dim)
                                                  : knn__l2sq_u8_scalar(qrow, trow, train->dim);
            }
        }
        class_minima(train, all, nb, q);
        qsort(all, train->count, sizeof *all, by_dist_then_index);
        for (int j = 0; j < p->k; j++) {
            nb->index[q * (size_t)p->k + (size_t)j] = all[j].index;
            nb->dist[q * (size_t)p->k + (size_t)j] = all[j].dist;
        }
    }
    free(all);
    free(unit_mem);
    *out = nb;
    return KNN_OK;
}
