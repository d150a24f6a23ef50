/* topk.h: the bounded top-K of one query, a binary max-heap keyed by (distance, index), shared
 * by the search (search.c) and cross-validation (cv.c). Keys are 64-bit (the lists they end
 * in hold any row length's distances); candidates come in runs of consecutive training
 * indices from a distance tile of uint32, or of uint64 for rows of more than KNN__CHUNK
 * values ("wide"; see knn__distances). The functions below take `wide` as an argument and are
 * always inlined, each caller passing a constant, so the common narrow tile keeps its own
 * 32-bit loops. A candidate whose distance is knn__tile_max(wide) (a row of the query's own
 * fold in cross-validation) is never taken. Real distances never reach it: squared L2 of
 * uint8 rows stays below 65,536 x 255^2 < 2^32 - 1 in narrow tiles and below 2^40 in wide
 * ones, and float distances are bits of finite or infinite floats, all below 0xFFFFFFFF. */
#ifndef KNN_TOPK_H
#define KNN_TOPK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KNN__ALWAYS_INLINE static inline __attribute__((always_inline))

/* Entry j of a distance tile of either width. */
KNN__ALWAYS_INLINE uint64_t knn__tile_get(const void *tile, bool wide, size_t j)
{
    return wide ? ((const uint64_t *)tile)[j] : ((const uint32_t *)tile)[j];
}

KNN__ALWAYS_INLINE void knn__tile_put(void *tile, bool wide, size_t j, uint64_t d)
{
    if (wide)
        ((uint64_t *)tile)[j] = d;
    else
        ((uint32_t *)tile)[j] = (uint32_t)d;
}

/* The largest entry of the width: the mark of excluded candidates (and of classes without a
 * row in the search's tile minima). */
KNN__ALWAYS_INLINE uint64_t knn__tile_max(bool wide)
{
    return wide ? UINT64_MAX : UINT32_MAX;
}

static inline int knn__worse(uint64_t da, uint32_t ia, uint64_t db, uint32_t ib)
{
    return da > db || (da == db && ia > ib);
}

static inline void heap_sift_down(uint64_t *dist, uint32_t *index, int n, int i)
{
    uint64_t d = dist[i];
    uint32_t x = index[i];
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

static inline void heap_sift_up(uint64_t *dist, uint32_t *index, int i)
{
    uint64_t d = dist[i];
    uint32_t x = index[i];
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

/* Offers the candidates (dist[j], first + j), j < n, of a tile of the given width to a heap
 * holding *size of k. */
KNN__ALWAYS_INLINE void topk_offer(uint64_t *hd, uint32_t *hi, int k, int *size,
                                   const void *dist, bool wide, size_t n, uint32_t first)
{
    size_t j = 0;
    for (; j < n && *size < k; j++) {
        uint64_t d = knn__tile_get(dist, wide, j);
        if (d == knn__tile_max(wide))
            continue;
        hd[*size] = d;
        hi[*size] = first + (uint32_t)j;
        heap_sift_up(hd, hi, (*size)++);
    }
    /* Once the heap is full, most candidates lose to its root: test them 16 at a time with
     * a branch-free loop the compiler vectorises, and look one by one only into a group
     * that holds a winner. A narrow tile's heap holds narrow distances only, so its root
     * fits the tile's 32 bits and the test stays a 32-bit compare. */
    while (j < n) {
        size_t end = n - j >= 16 ? j + 16 : n;
        if (end == j + 16) {
            unsigned any = 0;
            if (wide) {
                const uint64_t *d = dist, threshold = hd[0];
                for (size_t s = 0; s < 16; s++)
                    any |= d[j + s] <= threshold;
            } else {
                const uint32_t *d = dist, threshold = (uint32_t)hd[0];
                for (size_t s = 0; s < 16; s++)
                    any |= d[j + s] <= threshold;
            }
            if (!any) {
                j = end;
                continue;
            }
        }
        for (; j < end; j++) {
            uint64_t d = knn__tile_get(dist, wide, j);
            if (d > hd[0] || (d == hd[0] && first + j > hi[0]))
                continue;
            hd[0] = d;
            hi[0] = first + (uint32_t)j;
            heap_sift_down(hd, hi, k, 0);
        }
    }
}

/* Turns a max-heap of n entries into the ascending (dist, index) order. */
static inline void heap_sort(uint64_t *hd, uint32_t *hi, int n)
{
    for (int last = n - 1; last > 0; last--) {
        uint64_t d = hd[0];
        uint32_t x = hi[0];
        hd[0] = hd[last];
        hi[0] = hi[last];
        hd[last] = d;
        hi[last] = x;
        heap_sift_down(hd, hi, last, 0);
    }
}

#endif
