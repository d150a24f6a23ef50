/* ymm.h: the 256-bit reductions shared by the AVX2 and AVX-VNNI kernel files (both compiled
 * for AVX2). */
#ifndef KNN_YMM_H
#define KNN_YMM_H

#include <immintrin.h>
#include <stdint.h>

static inline uint32_t hsum_epi32(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return (uint32_t)_mm_cvtsi128_si32(s);
}

/* The 32-bit lane sums of a 4 x 2 block's accumulators in one register, dword 2i + j the
 * sum of acc[i][j]: 21 shuffles and adds where 8 separate reductions take 48. Per query a
 * dword transpose within 128-bit lanes, then per pair of queries a qword one, then the two
 * 128-bit lanes added. */
static inline __attribute__((always_inline)) __m256i sum8(const __m256i acc[4][4])
{
    __m256i s[4], r[2];
    for (int i = 0; i < 4; i++)
        s[i] = _mm256_add_epi32(_mm256_unpacklo_epi32(acc[i][0], acc[i][1]),
                                _mm256_unpackhi_epi32(acc[i][0], acc[i][1]));
    for (int p = 0; p < 2; p++)
        r[p] = _mm256_add_epi32(_mm256_unpacklo_epi64(s[2 * p], s[2 * p + 1]),
                                _mm256_unpackhi_epi64(s[2 * p], s[2 * p + 1]));
    return _mm256_add_epi32(_mm256_permute2x128_si256(r[0], r[1], 0x20),
                            _mm256_permute2x128_si256(r[0], r[1], 0x31));
}

/* res[i][j] = the lane sum of acc[i][j] for a qb x tb block: the tree for whole 4 x 2
 * blocks, one reduction each at the edges. */
static inline __attribute__((always_inline)) void block_sums(int qb, int tb,
                                                             const __m256i acc[4][4],
                                                             uint32_t res[4][4])
{
    if (qb == 4 && tb == 2) {
        uint32_t sums[8];
        _mm256_storeu_si256((__m256i *)(void *)sums, sum8(acc));
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 2; j++)
                res[i][j] = sums[2 * i + j];
        return;
    }
    for (int i = 0; i < qb; i++)
        for (int j = 0; j < tb; j++)
            res[i][j] = hsum_epi32(acc[i][j]);
}

#endif
