/* topk.h: the bounded top-K of one query, a binary max-heap keyed by (distance, index), shared
 * by the search (search.c) and cross-validation (cv.c). Candidates come in runs of consecutive
 * training indices; a candidate whose distance is KNN__EXCLUDED (a row of the query's own fold
 * in cross-validation) is never taken. Real distances never reach it: squared L2 of uint8 rows
 * stays below 65536 x 255^2 < 2^32 - 1, and float distances are bits of finite or infinite
 * floats, all below 0xFFFFFFFF. */
#ifndef KNN_TOPK_H
#define KNN_TOPK_H

#include <stddef.h>
#include <stdint.h>

#define KNN__EXCLUDED UINT32_MAX

static inline int knn__worse(uint32_t da, uint32_t ia, uint32_t db, uint32_t ib)
{
    return da > db || (da == db && ia > ib);
}

static inline void heap_sift_down(uint32_t *dist, uint32_t *index, int n, int i)
{
    uint32_t d = dist[i], x = index[i];
    for (;;) {
        int c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && knn__worse(dist[c + 1], index[c + 1], dist[c], index[c]))
            c++;
        if (!knn__worse(dist[c], index[c], d, x))
            break;
        dist[i] = dist[c];
        index[i] = index[c];
        i = c;
    }
    dist[i] = d;
    index[i] = x;
}

static inline void heap_sift_up(uint32_t *dist, uint32_t *index, int i)
{
    uint32_t d = dist[i], x = index[i];
    while (i > 0) {
        int parent = (i - 1) / 2;
        if (!knn__worse(d, x, dist[parent], index[parent]))
            break;
        dist[i] = dist[parent];
        index[i] = index[parent];
        i = parent;
    }
    dist[i] = d;
    index[i] = x;
}

/* Offers the candidates (dist[j], first + j), j < n, to a heap holding *size of k. */
static inline void topk_offer(uint32_t *hd, uint32_t *hi, int k, int *size, const uint32_t *dist,
                       size_t n, uint32_t first)
{
    size_t j = 0;
    for (; j < n && *size < k; j++) {
        if (dist[j] == KNN__EXCLUDED)
            continue;
        hd[*size] = dist[j];
        hi[*size] = first + (uint32_t)j;
        heap_sift_up(hd, hi, (*size)++);
    }
    /* Once the heap is full, most candidates lose to its root: test them 16 at a time with
     * a branch-free loop the compiler vectorises, and look one by one only into a group
     * that holds a winner. */
    while (j < n) {
        size_t end = n - j >= 16 ? j + 16 : n;
        if (end == j + 16) {
            const uint32_t threshold = hd[0];
            unsigned any = 0;
            for (size_t s = 0; s < 16; s++)
                any |= dist[j + s] <= threshold;
            if (!any) {
                j = end;
                continue;
            }
        }
        for (; j < end; j++) {
            if (dist[j] > hd[0] || (dist[j] == hd[0] && first + j > hi[0]))
                continue;
            hd[0] = dist[j];
            hi[0] = first + (uint32_t)j;
            heap_sift_down(hd, hi, k, 0);
        }
    }
}

/* Turns a max-heap of n entries into the ascending (dist, index) order. */
static inline void heap_sort(uint32_t *hd, uint32_t *hi, int n)
{
    for (int last = n - 1; last > 0; last--) {
        uint32_t d = hd[0], x = hi[0];
        hd[0] = hd[last];
        hi[0] = hi[last];
        hd[last] = d;
        hi[last] = x;
        heap_sift_down(hd, hi, last, 0);
    }
}

#endif
