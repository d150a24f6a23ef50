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

/* Bit s set where d[s] <= t, s < 16. GCC turns the plain loop into a scalar chain of
 * conditional moves (a quarter of cross-validation's time at K = 100); SSE2, in every x86-64
 * processor, compares 4 at a time (unsigned, by flipping the sign bits). */
#ifdef __SSE2__
#include <emmintrin.h>
KNN__ALWAYS_INLINE unsigned knn__at_most16(const uint32_t *d, uint32_t t)
{
    const __m128i sign = _mm_set1_epi32((int)0x80000000u);
    const __m128i thr = _mm_xor_si128(_mm_set1_epi32((int)t), sign);
    unsigned bits = 0;
    for (int i = 0; i < 4; i++) {
        const __m128i v = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(d + 4 * i)), sign);
        bits |= (unsigned)_mm_movemask_ps(_mm_castsi128_ps(_mm_cmpgt_epi32(v, thr))) << (4 * i);
    }
    return ~bits & 0xffffu;
}

/* Bit s set where d[s] <= t[s]: each of 16 distances against its own threshold. */
KNN__ALWAYS_INLINE unsigned knn__at_most16_each(const uint32_t *d, const uint32_t *t)
{
    const __m128i sign = _mm_set1_epi32((int)0x80000000u);
    unsigned bits = 0;
    for (int i = 0; i < 4; i++) {
        const __m128i v = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(d + 4 * i)), sign);
        const __m128i w = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(t + 4 * i)), sign);
        bits |= (unsigned)_mm_movemask_ps(_mm_castsi128_ps(_mm_cmpgt_epi32(v, w))) << (4 * i);
    }
    return ~bits & 0xffffu;
}
#else
KNN__ALWAYS_INLINE unsigned knn__at_most16(const uint32_t *d, uint32_t t)
{
    unsigned bits = 0;
    for (int s = 0; s < 16; s++)
        bits |= (unsigned)(d[s] <= t) << s;
    return bits;
}

KNN__ALWAYS_INLINE unsigned knn__at_most16_each(const uint32_t *d, const uint32_t *t)
{
    unsigned bits = 0;
    for (int s = 0; s < 16; s++)
        bits |= (unsigned)(d[s] <= t[s]) << s;
    return bits;
}
#endif

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
    /* Once the heap is full, most candidates lose to its root: test them 16 at a time, and
     * look only at those of a group that were at most the root (the root only falls as they
     * go in, so each is tested again). A narrow tile's heap holds narrow distances only, so
     * its root fits the tile's 32 bits and the test stays a 32-bit compare. */
    while (j < n) {
        unsigned bits;
        if (!wide && n - j >= 16) {
            bits = knn__at_most16((const uint32_t *)dist + j, (uint32_t)hd[0]);
        } else {
            const size_t m = n - j >= 16 ? 16 : n - j;
            bits = 0;
            for (size_t s = 0; s < m; s++)
                bits |= (unsigned)(knn__tile_get(dist, wide, j + s) <= hd[0]) << s;
        }
        for (; bits; bits &= bits - 1) {
            const size_t c = j + (size_t)__builtin_ctz(bits);
            const uint64_t d = knn__tile_get(dist, wide, c);
            const uint32_t x = first + (uint32_t)c;
            if (d > hd[0] || (d == hd[0] && x > hi[0]))
                continue;
            hd[0] = d;
            hi[0] = x;
            heap_sift_down(hd, hi, k, 0);
        }
        j = n - j >= 16 ? j + 16 : n;
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
