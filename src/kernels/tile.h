/* tile.h: the register-blocked tile loop shared by the SIMD kernel files. Each file includes
 * it after defining, for its instruction set,
 *     #define KNN__ISA avx2        (the suffix of the kernels' names: l1_u8_tile_avx2, ...)
 *     static inline void block(knn__tile_metric metric, int qb, int tb, const uint8_t *q,
 *                              const uint8_t *t, size_t len, size_t stride,
 *                              uint32_t res[4][4]);
 * which computes the qb x tb (at most 4 x 4) L1 distances or L2 dot terms between the first
 * `len` bytes of rows q[0..qb) and t[0..tb), rows `stride` bytes apart, all in registers, with
 * one load of each row chunk feeding qb or tb operations (for L2 on uint8, the dot terms,
 * finished here with the norms; for float32, res holds the float distances' bits). The loop
 * below tiles nq x nt into QB x TB blocks plus edges; being always inlined with constant
 * block sizes, each call compiles to its own unrolled block. It
 * defines the file's five tile kernels, named by metric, type and instruction set
 * (l2_u8_tile_avx512), so that a profile tells them apart, for the file's kernel table; a
 * file that defines KNN__OWN_L2_U8_TILE writes its own L2 uint8 tile around tile_loop (to
 * prepare each group of QB queries once, or the training rows in slabs), and one that
 * defines KNN__TILE_LOOP_ONLY as well
 * gets only tile_loop (avxvnni.c, whose other tiles are AVX2's). */
#ifndef KNN_TILE_H
#define KNN_TILE_H

#define KNN__INLINE static inline __attribute__((always_inline))
#define KNN__CAT2(a, b) a##_##b
#define KNN__CAT(a, b) KNN__CAT2(a, b)
#define KNN__KERNEL(name) KNN__CAT(name, KNN__ISA)
#define PREFETCH_ROWS 16

/* Writes block (i0, j0) of the tile; the norms are read for L2 only (NULL for L1). */
KNN__INLINE void store_block(knn__tile_metric metric, int qb, int tb, const uint32_t res[4][4],
                             const uint32_t *qnorm, const uint32_t *tnorm, size_t i0,
                             size_t j0, uint32_t *out, size_t pitch)
{
    for (int i = 0; i < qb; i++)
        for (int j = 0; j < tb; j++)
            out[(i0 + (size_t)i) * pitch + j0 + (size_t)j] =
                metric != KNN__TILE_L2_U8 && metric != KNN__TILE_L2_U8S &&
                        metric != KNN__TILE_L2_U8W
                    ? res[i][j]
                            : qnorm[i0 + (size_t)i] + tnorm[j0 + (size_t)j] - 2u * res[i][j];
}

/* The tile, its rows `pitch` entries apart in out (nt for a whole tile). */
KNN__INLINE void tile_loop_pitch(knn__tile_metric metric, const uint8_t *queries, size_t nq,
                                 const uint8_t *train, size_t nt, size_t len, size_t stride,
                                 const uint32_t *qnorm, const uint32_t *tnorm, uint32_t *out,
                                 size_t pitch)
{
    uint32_t res[4][4];
    size_t i = 0;
    for (; i + QB <= nq; i += QB) {
        const uint8_t *q = queries + i * stride;
        size_t j = 0;
        for (; j + TB <= nt; j += TB) {
            block(metric, QB, TB, q, train + j * stride, len, stride, res);
            store_block(metric, QB, TB, res, qnorm, tnorm, i, j, out, pitch);
        }
        for (; j < nt; j++) {
            block(metric, QB, 1, q, train + j * stride, len, stride, res);
            store_block(metric, QB, 1, res, qnorm, tnorm, i, j, out, pitch);
        }
    }
    for (; i < nq; i++) {
        const uint8_t *q = queries + i * stride;
        size_t j = 0;
        for (; j + 4 <= nt; j += 4) {
            /* a query on its own reads each row once, from memory: its lines are asked for
             * PREFETCH_ROWS rows ahead (within the tile), which the hardware's prefetcher,
             * following 4 rows at once, does not do in time (a single query 20-25% faster) */
            if (j + PREFETCH_ROWS + 4 <= nt)
                for (size_t at = 0; at < 4 * stride; at += 64)
                    __builtin_prefetch(train + (j + PREFETCH_ROWS) * stride + at);
            block(metric, 1, 4, q, train + j * stride, len, stride, res);
            store_block(metric, 1, 4, res, qnorm, tnorm, i, j, out, pitch);
        }
        for (; j < nt; j++) {
            block(metric, 1, 1, q, train + j * stride, len, stride, res);
            store_block(metric, 1, 1, res, qnorm, tnorm, i, j, out, pitch);
        }
    }
}

KNN__INLINE void tile_loop(knn__tile_metric metric, const uint8_t *queries, size_t nq,
                           const uint8_t *train, size_t nt, size_t len, size_t stride,
                           const uint32_t *qnorm, const uint32_t *tnorm, uint32_t *out)
{
    tile_loop_pitch(metric, queries, nq, train, nt, len, stride, qnorm, tnorm, out, nt);
}

#ifndef KNN__TILE_LOOP_ONLY /* a file with only its own L2 tile defines it */
static void KNN__KERNEL(l1_u8_tile)(const uint8_t *queries, size_t nq, const uint8_t *train,
                                    size_t nt, size_t len, size_t stride, const uint32_t *qnorm,
                                    const uint32_t *tnorm, uint32_t *out)
{
    tile_loop(KNN__TILE_L1_U8, queries, nq, train, nt, len, stride, qnorm, tnorm, out);
}

#ifndef KNN__OWN_L2_U8_TILE /* a file may define its own, around tile_loop */
static void KNN__KERNEL(l2_u8_tile)(const uint8_t *queries, size_t nq, const uint8_t *train,
                                    size_t nt, size_t len, size_t stride, const uint32_t *qnorm,
                                    const uint32_t *tnorm, uint32_t *out)
{
    tile_loop(KNN__TILE_L2_U8, queries, nq, train, nt, len, stride, qnorm, tnorm, out);
}
#endif

#endif

#ifndef KNN__TILE_LOOP_ONLY
static void KNN__KERNEL(l1_f32_tile)(const uint8_t *queries, size_t nq, const uint8_t *train,
                                     size_t nt, size_t len, size_t stride, const uint32_t *qnorm,
                                     const uint32_t *tnorm, uint32_t *out)
{
    tile_loop(KNN__TILE_L1_F32, queries, nq, train, nt, len, stride, qnorm, tnorm, out);
}

static void KNN__KERNEL(l2_f32_tile)(const uint8_t *queries, size_t nq, const uint8_t *train,
                                     size_t nt, size_t len, size_t stride, const uint32_t *qnorm,
                                     const uint32_t *tnorm, uint32_t *out)
{
    tile_loop(KNN__TILE_L2_F32, queries, nq, train, nt, len, stride, qnorm, tnorm, out);
}

static void KNN__KERNEL(ip_f32_tile)(const uint8_t *queries, size_t nq, const uint8_t *train,
                                     size_t nt, size_t len, size_t stride, const uint32_t *qnorm,
                                     const uint32_t *tnorm, uint32_t *out)
{
    tile_loop(KNN__TILE_IP_F32, queries, nq, train, nt, len, stride, qnorm, tnorm, out);
}
#endif

#endif
