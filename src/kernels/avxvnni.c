/* avxvnni.c: the AVX-VNNI table (compiled with -mavx2 -mfma -mavxvnni; called only where
 * cpuid reports AVX2, FMA and AVX-VNNI: processors with VNNI but without AVX-512, such as
 * Intel's Alder Lake and later client cores, or where AVX-512 is off).
 *   L2: vpdpbusd in its VEX (ymm) form, with avx512.c's arithmetic at half the width: the
 *       queries shifted to signed (s = q ^ 0x80), the training rows' norms |t|^2 - 256 sum(t)
 *       (knn__sqnorm_minus_256sum_u8), and |q - t|^2 = |q|^2 + that - 2 t.s, exact modulo
 *       2^32 and so bit for bit the scalar result.
 *   L1, float32 and the graph index's lists: the AVX2 table's (vpsadbw has no VNNI form).
 * Blocks of 4 queries x 2 training rows, the AVX2 file's shape: 8 accumulators of the 16 ymm
 * registers. */
#include "kernels.h"
#include "ymm.h"

#include <immintrin.h>

#define QB 4
#define TB 2

/* acc + the products of u's unsigned and s's signed bytes, four summed into each 32-bit lane
 * (VEX vpdpbusd), written out for the reason avx512.c gives. */
static inline __attribute__((always_inline)) __m256i dpbusd(__m256i acc, __m256i u, __m256i s)
{
    __asm__("%{vex%} vpdpbusd %2, %1, %0" : "+x"(acc) : "x"(u), "x"(s));
    return acc;
}

/* L2 dot terms only (the file's one tile): metric is KNN__TILE_L2_U8 or KNN__TILE_L2_U8S. */
static inline __attribute__((always_inline)) void block(knn__tile_metric metric, int qb,
                                                        int tb, const uint8_t *q,
                                                        const uint8_t *t, size_t len,
                                                        size_t stride, uint32_t res[4][4])
{
    __m256i acc[4][4];
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    for (int i = 0; i < qb; i++)
        for (int j = 0; j < tb; j++)
            acc[i][j] = _mm256_setzero_si256();
    for (size_t d = 0; d < len; d += 32) {
        __m256i tv[4];
        for (int j = 0; j < tb; j++)
            tv[j] = _mm256_load_si256((const __m256i *)(const void *)(t + (size_t)j * stride + d));
        for (int i = 0; i < qb; i++) {
            __m256i qv = _mm256_load_si256((const __m256i *)(const void *)(q + (size_t)i * stride + d));
            if (metric == KNN__TILE_L2_U8)
                qv = _mm256_xor_si256(qv, flip);
            for (int j = 0; j < tb; j++)
                acc[i][j] = dpbusd(acc[i][j], tv[j], qv);
        }
    }
    block_sums(qb, tb, acc, res);
}

#define KNN__ISA avxvnni
#define KNN__OWN_L2_U8_TILE
#define KNN__TILE_LOOP_ONLY
#include "tile.h"

/* Rows up to FLIP_MAX bytes have each group of 4 queries shifted to signed once, on the
 * stack, rather than once per block in the loop; longer rows, and the last nq mod 4
 * queries, shift in the loop. */
#define FLIP_MAX 4096

static void l2_u8_tile_avxvnni(const uint8_t *queries, size_t nq, const uint8_t *train,
                               size_t nt, size_t len, size_t stride, const uint32_t *qnorm,
                               const uint32_t *tnorm, uint32_t *out)
{
    size_t i = 0;
    if (stride <= FLIP_MAX) {
        _Alignas(32) uint8_t flipped[QB * FLIP_MAX];
        const __m256i flip = _mm256_set1_epi8((char)0x80);
        for (; i + QB <= nq; i += QB) {
            for (size_t r = 0; r < QB; r++)
                for (size_t d = 0; d < len; d += 32)
                    _mm256_store_si256(
                        (__m256i *)(void *)(flipped + r * stride + d),
                        _mm256_xor_si256(_mm256_load_si256((const __m256i *)(const void *)(
                                             queries + (i + r) * stride + d)),
                                         flip));
            tile_loop(KNN__TILE_L2_U8S, flipped, QB, train, nt, len, stride, qnorm + i, tnorm,
                      out + i * nt);
        }
    }
    if (i < nq)
        tile_loop(KNN__TILE_L2_U8, queries + i * stride, nq - i, train, nt, len, stride,
                  qnorm + i, tnorm, out + i * nt);
}

const knn__kernels knn__kernels_avxvnni = {"avxvnni",
                                           knn__l1_u8_tile_avx2,
                                           l2_u8_tile_avxvnni,
                                           knn__sqnorm_minus_256sum_u8,
                                           knn__l1_f32_tile_avx2,
                                           knn__l2_f32_tile_avx2,
                                           knn__ip_f32_tile_avx2,
                                           knn__l1_u8_list_avx2,
                                           knn__l2_u8_list_avx2,
                                           knn__l1_f32_list_avx2,
                                           knn__l2_f32_list_avx2,
                                           knn__ip_f32_list_avx2};
