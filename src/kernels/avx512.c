/* avx512.c: AVX-512 kernels (compiled with -mavx512f -mavx512bw -mavx512vnni; called only
 * where cpuid reports all three and the OS saves the registers).
 *   L1: vpsadbw on 64-byte chunks.
 *   L2: vpdpbusd multiplies unsigned bytes by signed bytes, four at a time, into 32-bit sums.
 *       Our bytes are both unsigned, so one side is shifted to signed (an XOR with 0x80). In
 *       the 4 x 4 blocks it is the query, s = q - 128: t.q = t.s + 128 sum(t), and
 *         |q - t|^2 = |q|^2 + (|t|^2 - 256 sum(t)) - 2 t.s,
 *       with the bracket precomputed once per training row (train_norms). On slabs of 16
 *       training rows (below) it is the training row, with the sums of both sides. The
 *       partial sums stay below 2^31 for up to KNN__CHUNK = 65,536 values a call (65,536 x
 *       128 x 255 < 2^31; longer rows come chunk by chunk), and the final arithmetic is
 *       modulo 2^32, where the true result fits: exact, bit for bit the scalar result.
 *   float32: 16 values a step, |a - b| by clearing the sign bit, (a - b)^2 with one FMA;
 *            cosine: q.t of unit rows with one FMA, then 1 - q.t clamped at 0.
 * Blocks of 4 queries x 4 training rows: 16 accumulators of 32, each chunk loaded once; L2
 * on rows up to 4 KiB: 4 queries x a slab of 16 rows, 4 pairs an accumulator. */
#include "kernels.h"

#include <immintrin.h>
#include <string.h>

#define QB 4
#define TB 4

static inline __attribute__((always_inline)) void block_f32(knn__tile_metric metric, int qb, int tb,
                                                            const uint8_t *q, const uint8_t *t,
                                                            size_t len, size_t stride,
                                                            uint32_t res[4][4])
{
    __m512 acc[4][4];
    for (int i = 0; i < qb; i++)
        for (int j = 0; j < tb; j++)
            acc[i][j] = _mm512_setzero_ps();
    for (size_t d = 0; d < len; d += 64) {
        __m512 tv[4];
        for (int j = 0; j < tb; j++)
            tv[j] = _mm512_load_ps((const void *)(t + (size_t)j * stride + d));
        for (int i = 0; i < qb; i++) {
            __m512 qv = _mm512_load_ps((const void *)(q + (size_t)i * stride + d));
            for (int j = 0; j < tb; j++) {
                if (metric == KNN__TILE_IP_F32) {
                    acc[i][j] = _mm512_fmadd_ps(qv, tv[j], acc[i][j]);
                    continue;
                }
                __m512 diff = _mm512_sub_ps(qv, tv[j]);
                acc[i][j] = metric == KNN__TILE_L2_F32
                                ? _mm512_fmadd_ps(diff, diff, acc[i][j])
                                : _mm512_add_ps(acc[i][j], _mm512_abs_ps(diff));
            }
        }
    }
    for (int i = 0; i < qb; i++)
        for (int j = 0; j < tb; j++) {
            float sum = _mm512_reduce_add_ps(acc[i][j]);
            if (metric == KNN__TILE_IP_F32) { /* the cosine distance, clamped at 0 */
                sum = 1.0f - sum;
                sum = sum < 0 ? 0.0f : sum;
            }
            memcpy(&res[i][j], &sum, sizeof sum);
        }
}

/* acc + the products of u's unsigned and s's signed bytes, four summed into each 32-bit
 * lane: vpdpbusd, as _mm512_dpbusd_epi32, written out because with the intrinsic GCC 12
 * copied accumulators to other registers and back in this loop (with sum16 below: 25
 * vmovdqa in a loop of 62 instructions, where 16 vpdpbusd do the work; the L2 kernel ran at
 * 4.2 G vpdpbusd/s a thread where the instruction runs at 6.5 on an AMD EPYC). */
static inline __attribute__((always_inline)) __m512i dpbusd(__m512i acc, __m512i u, __m512i s)
{
    __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u), "v"(s));
    return acc;
}

/* The 32-bit lane sums of 16 accumulators, as one register whose 128-bit lane i, dword j,
 * holds the sum of acc[i][j]: 45 shuffles and adds (37 for vpsadbw's sums) where 16
 * separate reductions take about 128 (a third of a Fashion-MNIST block's work). First, per query, a 4 x 4 dword transpose
 * within each 128-bit lane adds the four accumulators' dwords into lane-wise partial sums
 * r_i (lane k, dword j: acc[i][j]'s lane k); then a transpose of 128-bit lanes adds those. */
static inline __attribute__((always_inline)) __m512i sum16(const __m512i acc[4][4], bool sad)
{
    __m512i r[4];
    for (int i = 0; i < 4; i++) {
        /* vpsadbw's sums fill only the low dword of each qword: a shift moves one
         * accumulator's into the other's empty dwords (2 instructions, not 3) */
        __m512i s01 = sad ? _mm512_add_epi32(acc[i][0], _mm512_slli_epi64(acc[i][1], 32))
                          : _mm512_add_epi32(_mm512_unpacklo_epi32(acc[i][0], acc[i][1]),
                                             _mm512_unpackhi_epi32(acc[i][0], acc[i][1]));
        __m512i s23 = sad ? _mm512_add_epi32(acc[i][2], _mm512_slli_epi64(acc[i][3], 32))
                          : _mm512_add_epi32(_mm512_unpacklo_epi32(acc[i][2], acc[i][3]),
                                             _mm512_unpackhi_epi32(acc[i][2], acc[i][3]));
        r[i] = _mm512_add_epi32(_mm512_unpacklo_epi64(s01, s23), _mm512_unpackhi_epi64(s01, s23));
    }
    /* lanes (0, 1) + (2, 3) of two queries, then the remaining pair of lanes of four */
    __m512i s01 = _mm512_add_epi32(_mm512_shuffle_i64x2(r[0], r[1], 0x44),
                                   _mm512_shuffle_i64x2(r[0], r[1], 0xEE));
    __m512i s23 = _mm512_add_epi32(_mm512_shuffle_i64x2(r[2], r[3], 0x44),
                                   _mm512_shuffle_i64x2(r[2], r[3], 0xEE));
    return _mm512_add_epi32(_mm512_shuffle_i64x2(s01, s23, 0x88),
                            _mm512_shuffle_i64x2(s01, s23, 0xDD));
}

static inline __attribute__((always_inline)) void block(knn__tile_metric metric, int qb,
                                                        int tb,
                                                        const uint8_t *q, const uint8_t *t,
                                                        size_t len, size_t stride,
                                                        uint32_t res[4][4])
{
    if (metric == KNN__TILE_L1_F32 || metric == KNN__TILE_L2_F32 ||
        metric == KNN__TILE_IP_F32) {
        block_f32(metric, qb, tb, q, t, len, stride, res);
        return;
    }
    __m512i acc[4][4];
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    for (int i = 0; i < qb; i++)
        for (int j = 0; j < tb; j++)
            acc[i][j] = _mm512_setzero_si512();
    for (size_t d = 0; d < len; d += 64) {
        __m512i tv[4];
        for (int j = 0; j < tb; j++)
            tv[j] = _mm512_load_si512((const void *)(t + (size_t)j * stride + d));
        for (int i = 0; i < qb; i++) {
            __m512i qv = _mm512_load_si512((const void *)(q + (size_t)i * stride + d));
            if (metric == KNN__TILE_L1_U8) {
                for (int j = 0; j < tb; j++)
                    acc[i][j] = _mm512_add_epi64(acc[i][j], _mm512_sad_epu8(qv, tv[j]));
            } else {
                qv = _mm512_xor_si512(qv, flip); /* (the slabs shift the rows instead) */
                for (int j = 0; j < tb; j++)
                    acc[i][j] = dpbusd(acc[i][j], tv[j], qv);
            }
        }
    }
    if (qb == 4 && tb == 4) { /* the block's 16 sums in one register, in res's order */
        _mm512_storeu_si512((void *)res, sum16(acc, metric == KNN__TILE_L1_U8));
        return;
    }
    for (int i = 0; i < qb; i++)
        for (int j = 0; j < tb; j++)
            res[i][j] = (uint32_t)_mm512_reduce_add_epi32(acc[i][j]);
}

#define KNN__ISA avx512
#define KNN__OWN_L2_U8_TILE
#include "tile.h"

/* ---- L2 on slabs of 16 training rows ------------------------------------------------
 *
 * A 4 x 4 block reduces 16 accumulators for 16 pairs: at Fashion-MNIST's 832 bytes, 45
 * shuffles and adds beside 208 vpdpbusd. Here each accumulator holds 4 pairs instead: the
 * training rows are copied, 16 at a time (a slab, on the stack), so that 64 bytes hold 16
 * bytes of each of 4 rows side by side, and a query's 16 bytes are broadcast to all four
 * 128-bit lanes (a load, no shuffle). One vpdpbusd then adds 16 bytes of 4 pairs, as many
 * products as before, and a block of 4 queries x 16 rows (16 accumulators) needs 4 sums of
 * 4 dwords per accumulator: 40 shuffles and adds for 64 pairs (the 4 x 4 block's tree: 45
 * for 16). The slab's rows are shifted to
 * signed as they are copied (t ^ 0x80), so the queries are read as they are:
 *     acc = q.(t - 128) = q.t - 128 sum(q), and
 *     |q - t|^2 = |q|^2 + (|t|^2 - 256 sum(t)) + 256 sum(t) - 2 acc - 256 sum(q),
 * the bracket being the table's train norm; modulo 2^32, where the true result fits: exact.
 * Rows up to SLAB_MAX bytes, 4 to SUMS_MAX queries and 16 rows or more; the rows past the
 * last whole slab, the last nq mod 4 queries and every other tile take tile_loop (the 4 x 4
 * blocks, queries shifted in the loop). The slab path is a function of its own, so that
 * only its calls reserve its 64 KiB of stack. */
#define SLAB_MAX 4096
#define SUMS_MAX 256 /* queries a call whose sums fit on the stack */

/* Rows t[0..16) into the slab (shifted to signed; group h of rows 4h..4h+3, 16 bytes c of
 * them at (h x len / 16 + c) x 64), and 256 x each row's byte sum into tsum256. */
static void slab_make(const uint8_t *t, size_t len, size_t stride, uint8_t *slab,
                      uint32_t *tsum256)
{
    const size_t steps = len / 16;
    const __m128i flip = _mm_set1_epi8((char)0x80);
    for (size_t r = 0; r < 16; r++) {
        const uint8_t *row = t + r * stride;
        uint8_t *at = slab + (r / 4) * steps * 64 + (r % 4) * 16;
        __m512i sum = _mm512_setzero_si512();
        for (size_t d = 0; d < len; d += 64)
            sum = _mm512_add_epi64(sum, _mm512_sad_epu8(_mm512_load_si512((const void *)(row + d)),
                                                        _mm512_setzero_si512()));
        tsum256[r] = 256u * (uint32_t)_mm512_reduce_add_epi64(sum);
        for (size_t c = 0; c < steps; c++)
            _mm_store_si128((__m128i *)(void *)(at + c * 64),
                            _mm_xor_si128(_mm_load_si128((const __m128i *)(const void *)(row + 16 * c)),
                                          flip));
    }
}

/* Distances of queries q[0..4) (rows `stride` apart, as they are) to the slab's 16 rows,
 * into out (rows `pitch` apart); qn: |q|^2 - 256 sum(q) of each query, tn: the rows' train
 * norms + 256 sum(t). */
static inline __attribute__((always_inline)) void block_slab(const uint8_t *q, size_t stride,
                                                             const uint8_t *slab, size_t len,
                                                             const uint32_t *qn,
                                                             const uint32_t *tn,
                                                             uint32_t *out, size_t pitch)
{
    const size_t steps = len / 16;
    __m512i acc[4][4];
    for (int i = 0; i < 4; i++)
        for (int h = 0; h < 4; h++)
            acc[i][h] = _mm512_setzero_si512();
    for (size_t c = 0; c < steps; c++) {
        __m512i tv[4];
        for (int h = 0; h < 4; h++)
            tv[h] = _mm512_load_si512((const void *)(slab + ((size_t)h * steps + c) * 64));
        for (int i = 0; i < 4; i++) {
            const __m512i qv = _mm512_broadcast_i32x4(
                _mm_loadu_si128((const __m128i *)(const void *)(q + (size_t)i * stride + 16 * c)));
            for (int h = 0; h < 4; h++)
                acc[i][h] = dpbusd(acc[i][h], qv, tv[h]);
        }
    }
    /* per query: lane L of acc[i][h] holds pair (i, 4h + L); summed within lanes into dword
     * 4L + h, then put in row order (dword j from 4 (j mod 4) + j / 4) */
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    const __m512i tnv = _mm512_loadu_si512((const void *)tn);
    for (int i = 0; i < 4; i++) {
        __m512i s01 = _mm512_add_epi32(_mm512_unpacklo_epi32(acc[i][0], acc[i][1]),
                                       _mm512_unpackhi_epi32(acc[i][0], acc[i][1]));
        __m512i s23 = _mm512_add_epi32(_mm512_unpacklo_epi32(acc[i][2], acc[i][3]),
                                       _mm512_unpackhi_epi32(acc[i][2], acc[i][3]));
        __m512i dot = _mm512_permutexvar_epi32(
            order, _mm512_add_epi32(_mm512_unpacklo_epi64(s01, s23), _mm512_unpackhi_epi64(s01, s23)));
        __m512i d = _mm512_sub_epi32(_mm512_add_epi32(_mm512_set1_epi32((int)qn[i]), tnv),
                                     _mm512_slli_epi32(dot, 1));
        _mm512_storeu_si512((void *)(out + (size_t)i * pitch), d);
    }
}

/* Queries [0, nq4) against rows [0, n16) of the tile, on slabs. */
static __attribute__((noinline)) void l2_slabs(const uint8_t *queries, size_t nq4,
                                               const uint8_t *train, size_t n16, size_t nt,
                                               size_t len, size_t stride,
                                               const uint32_t *qnorm, const uint32_t *tnorm,
                                               uint32_t *out)
{
    _Alignas(64) uint8_t slab[16 * SLAB_MAX];
    uint32_t qn[SUMS_MAX], tn[16], tsum256[16];
    for (size_t i = 0; i < nq4; i++) { /* |q|^2 - 256 sum(q) */
        __m512i sum = _mm512_setzero_si512();
        for (size_t d = 0; d < len; d += 64)
            sum = _mm512_add_epi64(
                sum, _mm512_sad_epu8(_mm512_load_si512((const void *)(queries + i * stride + d)),
                                     _mm512_setzero_si512()));
        qn[i] = qnorm[i] - 256u * (uint32_t)_mm512_reduce_add_epi64(sum);
    }
    for (size_t j = 0; j < n16; j += 16) {
        slab_make(train + j * stride, len, stride, slab, tsum256);
        for (size_t r = 0; r < 16; r++)
            tn[r] = tnorm[j + r] + tsum256[r];
        for (size_t i = 0; i < nq4; i += QB)
            block_slab(queries + i * stride, stride, slab, len, qn + i, tn, out + i * nt + j,
                       nt);
    }
}

static void l2_u8_tile_avx512(const uint8_t *queries, size_t nq, const uint8_t *train,
                              size_t nt, size_t len, size_t stride, const uint32_t *qnorm,
                              const uint32_t *tnorm, uint32_t *out)
{
    const size_t nq4 = nq / QB * QB, n16 = nt / 16 * 16;
    if (stride > SLAB_MAX || nq4 == 0 || n16 == 0 || nq > SUMS_MAX) {
        tile_loop(KNN__TILE_L2_U8, queries, nq, train, nt, len, stride, qnorm, tnorm, out);
        return;
    }
    l2_slabs(queries, nq4, train, n16, nt, len, stride, qnorm, tnorm, out);
    if (nq4 < nq) /* the last queries against the slabs' rows */
        tile_loop_pitch(KNN__TILE_L2_U8, queries + nq4 * stride, nq - nq4, train, n16, len,
                        stride, qnorm + nq4, tnorm, out + nq4 * nt, nt);
    if (n16 < nt) /* every query against the rows past the last slab */
        tile_loop_pitch(KNN__TILE_L2_U8, queries, nq, train + n16 * stride, nt - n16, len,
                        stride, qnorm, tnorm + n16, out + n16, nt);
}

const knn__kernels knn__kernels_avx512 = {"avx512",
                                          l1_u8_tile_avx512,
                                          l2_u8_tile_avx512,
                                          knn__sqnorm_minus_256sum_u8,
                                          l1_f32_tile_avx512,
                                          l2_f32_tile_avx512,
                                          ip_f32_tile_avx512,
                                          /* the graph index's lists: AVX2's; an AVX-512
                                             list kernel waits for a machine to test it on */
                                          knn__l1_u8_list_avx2,
                                          knn__l2_u8_list_avx2,
                                          knn__l1_f32_list_avx2,
                                          knn__l2_f32_list_avx2,
                                          knn__ip_f32_list_avx2};
