/* avx2.c: AVX2 kernels (compiled with -mavx2 -mfma; called only where cpuid reports both).
 *   L1: vpsadbw sums |a - b| over 8-byte groups of 32-byte chunks.
 *   L2: the dot product q.t with bytes widened to 16 bits and vpmaddwd (products of values
 *       up to 255 summed in pairs fit easily in 32 bits), then |q|^2 + |t|^2 - 2 q.t.
 *   float32: 8 values a step, |a - b| by clearing the sign bit, (a - b)^2 with one FMA;
 *            cosine: q.t of unit rows with one FMA, then 1 - q.t clamped at 0.
 * Blocks of 4 queries x 2 training rows: 8 accumulators, each chunk loaded once per block. */
#include "kernels.h"
#include "ymm.h"

#include <immintrin.h>
#include <string.h>

#define QB 4
#define TB 2

static inline float hsum_ps(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline __attribute__((always_inline)) void block_f32(knn__tile_metric metric, int qb, int tb,
                                                            const uint8_t *q, const uint8_t *t,
                                                            size_t len, size_t stride,
                                                            uint32_t res[4][4])
{
    __m256 acc[4][4];
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int i = 0; i < qb; i++)
        for (int j = 0; j < tb; j++)
            acc[i][j] = _mm256_setzero_ps();
    for (size_t d = 0; d < len; d += 32) {
        __m256 tv[4];
        for (int j = 0; j < tb; j++)
            tv[j] = _mm256_load_ps((const float *)(const void *)(t + (size_t)j * stride + d));
        for (int i = 0; i < qb; i++) {
            __m256 qv = _mm256_load_ps((const float *)(const void *)(q + (size_t)i * stride + d));
            for (int j = 0; j < tb; j++) {
                if (metric == KNN__TILE_IP_F32) {
                    acc[i][j] = _mm256_fmadd_ps(qv, tv[j], acc[i][j]);
                    continue;
                }
                __m256 diff = _mm256_sub_ps(qv, tv[j]);
                acc[i][j] = metric == KNN__TILE_L2_F32
                                ? _mm256_fmadd_ps(diff, diff, acc[i][j])
                                : _mm256_add_ps(acc[i][j], _mm256_andnot_ps(sign, diff));
            }
        }
    }
    for (int i = 0; i < qb; i++)
        for (int j = 0; j < tb; j++) {
            float sum = hsum_ps(acc[i][j]);
            if (metric == KNN__TILE_IP_F32) { /* the cosine distance, clamped at 0 */
                sum = 1.0f - sum;
                sum = sum < 0 ? 0.0f : sum;
            }
            memcpy(&res[i][j], &sum, sizeof sum);
        }
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
    __m256i acc[4][4];
    for (int i = 0; i < qb; i++)
        for (int j = 0; j < tb; j++)
            acc[i][j] = _mm256_setzero_si256();
    if (metric == KNN__TILE_L1_U8) {
        for (size_t d = 0; d < len; d += 32) {
            __m256i tv[4];
            for (int j = 0; j < tb; j++)
                tv[j] = _mm256_load_si256((const __m256i *)(t + (size_t)j * stride + d));
            for (int i = 0; i < qb; i++) {
                __m256i qv = _mm256_load_si256((const __m256i *)(q + (size_t)i * stride + d));
                for (int j = 0; j < tb; j++)
                    acc[i][j] = _mm256_add_epi64(acc[i][j], _mm256_sad_epu8(qv, tv[j]));
            }
        }
    } else {
        for (size_t d = 0; d < len; d += 16) {
            __m256i tv[4];
            for (int j = 0; j < tb; j++)
                tv[j] = _mm256_cvtepu8_epi16(
                    _mm_load_si128((const __m128i *)(t + (size_t)j * stride + d)));
            for (int i = 0; i < qb; i++) {
                __m256i qv = metric == KNN__TILE_L2_U8W
                                 ? _mm256_load_si256((const __m256i *)(const void *)(
                                       q + 2 * ((size_t)i * stride + d)))
                                 : _mm256_cvtepu8_epi16(_mm_load_si128(
                                       (const __m128i *)(q + (size_t)i * stride + d)));
                for (int j = 0; j < tb; j++) {
                    acc[i][j] = _mm256_add_epi32(acc[i][j], _mm256_madd_epi16(qv, tv[j]));
                    /* the sum stays in acc's register: without this GCC 12 put each in
                     * another and copied all 8 back every 16 bytes (29 instructions a
                     * step where 23 do; 4% faster) */
                    __asm__("" : "+x"(acc[i][j]));
                }
            }
        }
    }
    /* L1's vpsadbw sums sit in the low dwords of the qwords; the high dwords are 0, and add
     * nothing to the 32-bit sums */
    block_sums(qb, tb, acc, res);
}

#define KNN__ISA avx2
#define KNN__OWN_L2_U8_TILE
#include "tile.h"

/* Rows up to this many bytes have their queries widened to 16 bits once, 4 at a time, on the
 * stack, rather than once per block in the loop: per 16 bytes of a 4 x 2 block, 2 vpmovzxbw
 * (the training rows') instead of 6, beside the 8 vpmaddwd and 8 vpaddd. Longer rows, and
 * the last nq mod 4 queries, widen in the loop. tile_loop is called with exactly QB widened
 * queries: it steps through queries by `stride`, which the widened rows do not have. */
#define WIDEN_MAX 4096

static void l2_u8_tile_avx2(const uint8_t *queries, size_t nq, const uint8_t *train, size_t nt,
                            size_t len, size_t stride, const uint32_t *qnorm,
                            const uint32_t *tnorm, uint32_t *out)
{
    size_t i = 0;
    if (stride <= WIDEN_MAX) {
        _Alignas(32) uint8_t wide[2 * QB * WIDEN_MAX];
        for (; i + QB <= nq; i += QB) {
            for (size_t r = 0; r < QB; r++)
                for (size_t d = 0; d < len; d += 16)
                    _mm256_store_si256((__m256i *)(void *)(wide + 2 * (r * stride + d)),
                                       _mm256_cvtepu8_epi16(_mm_load_si128(
                                           (const __m128i *)(queries + (i + r) * stride + d))));
            tile_loop(KNN__TILE_L2_U8W, wide, QB, train, nt, len, stride, qnorm + i, tnorm,
                      out + i * nt);
        }
    }
    if (i < nq)
        tile_loop(KNN__TILE_L2_U8, queries + i * stride, nq - i, train, nt, len, stride,
                  qnorm + i, tnorm, out + i * nt);
}

/* ---- one query against listed rows (kernels.h: knn__list_fn) ---------------------------- */

static inline void prefetch_row(const uint8_t *row, size_t len)
{
    for (size_t at = 0; at < len; at += 64)
        _mm_prefetch((const char *)row + at, _MM_HINT_T0);
}

/* L1: vpsadbw's four 64-bit sums per 32 bytes, exact at any length. */
void knn__l1_u8_list_avx2(const uint8_t *q, const uint8_t *base, size_t stride, size_t len,
                          const uint32_t *ids, size_t n, uint64_t *out)
{
    for (size_t j = 0; j < n; j++) {
        if (j + 1 < n)
            prefetch_row(base + (size_t)ids[j + 1] * stride, len);
        const uint8_t *t = base + (size_t)ids[j] * stride;
        __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
        for (size_t d = 0; d < len; d += 64) {
            __m256i a0 = _mm256_load_si256((const __m256i *)(const void *)(q + d));
            __m256i a1 = _mm256_load_si256((const __m256i *)(const void *)(q + d + 32));
            __m256i b0 = _mm256_load_si256((const __m256i *)(const void *)(t + d));
            __m256i b1 = _mm256_load_si256((const __m256i *)(const void *)(t + d + 32));
            acc0 = _mm256_add_epi64(acc0, _mm256_sad_epu8(a0, b0));
            acc1 = _mm256_add_epi64(acc1, _mm256_sad_epu8(a1, b1));
        }
        __m256i s = _mm256_add_epi64(acc0, acc1);
        __m128i h = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        out[j] = (uint64_t)_mm_cvtsi128_si64(h) + (uint64_t)_mm_extract_epi64(h, 1);
    }
}

/* Squared L2: |a - b| as saturating differences, widened to 16 bits and squared and summed
 * in pairs by vpmaddwd; 32-bit lanes are exact over KNN__CHUNK bytes (each lane takes
 * len / 16 pair sums of at most 2 x 255^2), summed into 64 bits chunk by chunk. */
void knn__l2_u8_list_avx2(const uint8_t *q, const uint8_t *base, size_t stride, size_t len,
                          const uint32_t *ids, size_t n, uint64_t *out)
{
    const __m256i zero = _mm256_setzero_si256();
    for (size_t j = 0; j < n; j++) {
        if (j + 1 < n)
            prefetch_row(base + (size_t)ids[j + 1] * stride, len);
        const uint8_t *t = base + (size_t)ids[j] * stride;
        uint64_t total = 0;
        for (size_t c = 0; c < len; c += KNN__CHUNK) {
            const size_t end = len - c < KNN__CHUNK ? len : c + KNN__CHUNK;
            __m256i acc0 = zero, acc1 = zero;
            for (size_t d = c; d < end; d += 32) {
                __m256i a = _mm256_load_si256((const __m256i *)(const void *)(q + d));
                __m256i b = _mm256_load_si256((const __m256i *)(const void *)(t + d));
                __m256i diff = _mm256_or_si256(_mm256_subs_epu8(a, b), _mm256_subs_epu8(b, a));
                __m256i lo = _mm256_unpacklo_epi8(diff, zero), hi = _mm256_unpackhi_epi8(diff, zero);
                acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(lo, lo));
                acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(hi, hi));
            }
            total += hsum_epi32(acc0) + (uint64_t)hsum_epi32(acc1);
        }
        out[j] = total;
    }
}

/* Float32 in kernels.h's fixed order: lanes 0-7 in one register and 8-15 in the other,
 * multiplies and adds kept apart (no FMA), then the halves as the scalar table adds them. */
enum { LIST_L1, LIST_L2, LIST_IP };

static inline __attribute__((always_inline)) void f32_list(int kind, const uint8_t *q,
                                                           const uint8_t *base, size_t stride,
                                                           size_t len, const uint32_t *ids,
                                                           size_t n, uint64_t *out)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (size_t j = 0; j < n; j++) {
        if (j + 1 < n)
            prefetch_row(base + (size_t)ids[j + 1] * stride, len);
        const float *a = (const float *)(const void *)q;
        const float *b = (const float *)(const void *)(base + (size_t)ids[j] * stride);
        __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
        for (size_t d = 0; d < len / 4; d += 16) {
            __m256 a0 = _mm256_load_ps(a + d), a1 = _mm256_load_ps(a + d + 8);
            __m256 b0 = _mm256_load_ps(b + d), b1 = _mm256_load_ps(b + d + 8);
            __m256 t0, t1;
            if (kind == LIST_IP) {
                t0 = _mm256_mul_ps(a0, b0);
                t1 = _mm256_mul_ps(a1, b1);
            } else {
                t0 = _mm256_sub_ps(a0, b0);
                t1 = _mm256_sub_ps(a1, b1);
                if (kind == LIST_L1) {
                    t0 = _mm256_andnot_ps(sign, t0);
                    t1 = _mm256_andnot_ps(sign, t1);
                } else {
                    t0 = _mm256_mul_ps(t0, t0);
                    t1 = _mm256_mul_ps(t1, t1);
                }
            }
            lo = _mm256_add_ps(lo, t0);
            hi = _mm256_add_ps(hi, t1);
        }
        __m256 s8 = _mm256_add_ps(lo, hi);                     /* lane i + (i + 8)   */
        __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8),    /* + (i + 4)          */
                               _mm256_extractf128_ps(s8, 1));
        __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));    /* + (i + 2)          */
        __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)); /* + (i + 1)         */
        out[j] = knn__list_f32_result(_mm_cvtss_f32(s1), kind == LIST_IP);
    }
}

void knn__l1_f32_list_avx2(const uint8_t *q, const uint8_t *base, size_t stride, size_t len,
                           const uint32_t *ids, size_t n, uint64_t *out)
{
    f32_list(LIST_L1, q, base, stride, len, ids, n, out);
}

void knn__l2_f32_list_avx2(const uint8_t *q, const uint8_t *base, size_t stride, size_t len,
                           const uint32_t *ids, size_t n, uint64_t *out)
{
    f32_list(LIST_L2, q, base, stride, len, ids, n, out);
}

void knn__ip_f32_list_avx2(const uint8_t *q, const uint8_t *base, size_t stride, size_t len,
                           const uint32_t *ids, size_t n, uint64_t *out)
{
    f32_list(LIST_IP, q, base, stride, len, ids, n, out);
}

/* The tiles the AVX-VNNI table shares (kernels.h). */
void knn__l1_u8_tile_avx2(const uint8_t *queries, size_t nq, const uint8_t *train, size_t nt,
                          size_t len, size_t stride, const uint32_t *qnorm, const uint32_t *tnorm,
                          uint32_t *out)
{
    l1_u8_tile_avx2(queries, nq, train, nt, len, stride, qnorm, tnorm, out);
}

void knn__l1_f32_tile_avx2(const uint8_t *queries, size_t nq, const uint8_t *train, size_t nt,
                           size_t len, size_t stride, const uint32_t *qnorm,
                           const uint32_t *tnorm, uint32_t *out)
{
    l1_f32_tile_avx2(queries, nq, train, nt, len, stride, qnorm, tnorm, out);
}

void knn__l2_f32_tile_avx2(const uint8_t *queries, size_t nq, const uint8_t *train, size_t nt,
                           size_t len, size_t stride, const uint32_t *qnorm,
                           const uint32_t *tnorm, uint32_t *out)
{
    l2_f32_tile_avx2(queries, nq, train, nt, len, stride, qnorm, tnorm, out);
}

void knn__ip_f32_tile_avx2(const uint8_t *queries, size_t nq, const uint8_t *train, size_t nt,
                           size_t len, size_t stride, const uint32_t *qnorm,
                           const uint32_t *tnorm, uint32_t *out)
{
    ip_f32_tile_avx2(queries, nq, train, nt, len, stride, qnorm, tnorm, out);
}

const knn__kernels knn__kernels_avx2 = {"avx2",           l1_u8_tile_avx2,  l2_u8_tile_avx2,
                                        knn__sqnorm_u8,   l1_f32_tile_avx2, l2_f32_tile_avx2,
                                        ip_f32_tile_avx2, knn__l1_u8_list_avx2,
                                        knn__l2_u8_list_avx2, knn__l1_f32_list_avx2,
                                        knn__l2_f32_list_avx2, knn__ip_f32_list_avx2};
