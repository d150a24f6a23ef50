/* avx2.c: AVX2 kernels (compiled with -mavx2 -mfma; called only where cpuid reports both).
 *   L1: vpsadbw sums |a - b| over 8-byte groups of 32-byte chunks.
 *   L2: the dot product q.t with bytes widened to 16 bits and vpmaddwd (products of values
 *       up to 255 summed in pairs fit easily in 32 bits), then |q|^2 + |t|^2 - 2 q.t.
 *   float32: 8 values a step, |a - b| by clearing the sign bit, (a - b)^2 with one FMA;
 *            cosine: q.t of unit rows with one FMA, then 1 - q.t clamped at 0.
 * Blocks of 4 queries x 2 training rows: 8 accumulators, each chunk loaded once per block. */
#include "kernels.h"

#include <immintrin.h>
#include <string.h>

#define QB 4
#define TB 2

static inline uint32_t hsum_epi32(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return (uint32_t)_mm_cvtsi128_si32(s);
}

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
                __m256i qv = _mm256_cvtepu8_epi16(
                    _mm_load_si128((const __m128i *)(q + (size_t)i * stride + d)));
                for (int j = 0; j < tb; j++)
                    acc[i][j] = _mm256_add_epi32(acc[i][j], _mm256_madd_epi16(qv, tv[j]));
            }
        }
    }
    /* L1 sums sit in the low halves of 64-bit lanes, the high halves are 0 */
    for (int i = 0; i < qb; i++)
        for (int j = 0; j < tb; j++)
            res[i][j] = hsum_epi32(acc[i][j]);
}

#define KNN__ISA avx2
#include "tile.h"

const knn__kernels knn__kernels_avx2 = {"avx2",           l1_u8_tile_avx2,  l2_u8_tile_avx2,
                                        knn__sqnorm_u8,   l1_f32_tile_avx2, l2_f32_tile_avx2,
                                        ip_f32_tile_avx2};
