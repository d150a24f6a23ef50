/* reference.c: the exact scalar reference search, kept forever as the specification of
 * knn_search: every distance with the plain scalar functions, then a full sort of each
 * query's candidates by (distance, training index). Slow on purpose; tests only. For float32
 * rows it is bit for bit the scalar kernels' arithmetic (each distance summed in order). */
#include "internal.h"
#include "kernels/kernels.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    uint32_t dist, index;
} candidate;

static int by_dist_then_index(const void *a, const void *b)
{
    const candidate *x = a, *y = b;
    if (x->dist != y->dist)
        return x->dist < y->dist ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

knn_status knn__search_reference(const knn_dataset *train, const knn_dataset *queries,
                                 const knn_params *p, knn_neighbors **out)
{
    knn_neighbors *nb;
    *out = NULL;
    knn_status st = knn__search_prepare(train, queries, p, &nb);
    if (st)
        return st;
    candidate *all = malloc(train->count * sizeof *all);
    if (!all) {
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
                float d = p->metric == KNN_L1 ? knn__l1_f32_scalar(a, b, train->dim)
                                              : knn__l2sq_f32_scalar(a, b, train->dim);
                memcpy(&all[t].dist, &d, sizeof d); /* d >= 0: bits ordered like floats */
            } else {
                all[t].dist = p->metric == KNN_L1 ? knn__l1_u8_scalar(qrow, trow, train->dim)
                                                  : knn__l2sq_u8_scalar(qrow, trow, train->dim);
            }
        }
        qsort(all, train->count, sizeof *all, by_dist_then_index);
        for (int j = 0; j < p->k; j++) {
            nb->index[q * (size_t)p->k + (size_t)j] = all[j].index;
            nb->dist[q * (size_t)p->k + (size_t)j] = all[j].dist;
        }
    }
    free(all);
    *out = nb;
    return KNN_OK;
}
