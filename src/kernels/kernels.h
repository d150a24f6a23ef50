/* kernels.h: distance kernels on padded uint8 rows, chosen at run time (DESIGN.md 2, 7).
 *
 * A kernel fills a tile of distances between `nq` query rows and `nt` training rows, rows
 * `stride` bytes apart, over `len` bytes of each (a multiple of 64: the whole zero-padded row,
 * or one chunk of a long row, so no kernel needs a tail loop). L1 is sum |a - b|; L2 is the
 * exact squared distance |q|^2 + n(t) - 2 d(q, t), where n and d are the table's own split of
 * the work: the scalar and AVX2 kernels use n(t) = |t|^2 and d = q.t; the VNNI kernels
 * (AVX-512 and AVX-VNNI) multiply unsigned by signed bytes, so they shift one side by 128
 * and fold the correction into n(t) (and, on AVX-512's slabs, into the query's norm too;
 * see avx512.c). All arithmetic is modulo 2^32 and, for len <= KNN__CHUNK, the true result
 * fits (65,536 x 255^2 < 2^32), so every table gives the same integers as the scalar
 * reference, bit for bit. Longer rows (up to KNN_MAX_DIM = 2^24 values, whose squared L2
 * reaches 2^40) are measured chunk by chunk, each chunk exact in 32 bits, and the chunks'
 * tiles summed in 64 bits (search.c): the same kernels, and the same exactness, at any length.
 *
 * Float32 rows (real-valued features) have their own tiles: L1 = sum |a - b| and L2 =
 * sum (a - b)^2 computed directly (never from norms, which would cancel), in float. Each
 * table sums in its own order, so tables differ in the last bits, but a table always gives
 * the same result for the same pair, whatever the tiling. The float results are stored as
 * their bits: for non-negative floats, the order of the bits is the order of the floats.
 *
 * Cosine: the ip tile takes rows already scaled to unit length (search.c) and gives
 * 1 - q.t, the dot product summed in float in the table's own order, clamped at 0 (rounding
 * can take q.t a little past 1) so that the bits keep the float order. */
#ifndef KNN_KERNELS_H
#define KNN_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The most bytes a uint8 kernel measures in one call: its 32-bit sums stay exact (and the
 * VNNI kernels' signed partial sums below 2^31, see avx512.c) up to 65,536 values. */
#define KNN__CHUNK ((size_t)65536)

/* What a tile computes; the SIMD files' block functions take it as a compile-time constant. */
typedef enum {
    KNN__TILE_L1_U8,  /* sum |a - b| of uint8 rows                                  */
    KNN__TILE_L2_U8,  /* |q|^2 + n(t) - 2 d(q, t): the dot terms, finished with norms */
    KNN__TILE_L2_U8S, /* the same, the query rows already shifted to signed (VNNI: q ^ 0x80) */
    KNN__TILE_L2_U8W, /* the same, the query rows already widened to 16 bits (AVX2): query i's
                         value d at q + 2 (i x stride + d)                            */
    KNN__TILE_L1_F32, /* float32 rows; the tile holds the float sums' bits          */
    KNN__TILE_L2_F32,
    KNN__TILE_IP_F32  /* float32 unit rows: 1 - q.t, clamped at 0 (cosine)          */
} knn__tile_metric;

/* out: (nq, nt) row-major, out[i * nt + j] = distance(query i, train j) over bytes [0, len)
 * of the rows, which lie `stride` bytes apart; uint8 tiles need len <= KNN__CHUNK.
 * qnorm: (nq) squared norms |q|^2; tnorm: (nt) the table's train_norms, of the same bytes;
 * L2 tiles only. */
typedef void (*knn__tile_fn)(const uint8_t *queries, size_t nq, const uint8_t *train,
                             size_t nt, size_t len, size_t stride, const uint32_t *qnorm,
                             const uint32_t *tnorm, uint32_t *out);
/* out[i] for each of n rows (bytes [0, len), rows `stride` apart): what the table's L2 tile
 * expects as tnorm. */
typedef void (*knn__norms_fn)(const uint8_t *rows, size_t n, size_t len, size_t stride,
                              uint32_t *out);

/* One query against n rows picked by index (the graph index, hnsw.c): out[j] = the distance
 * between q and the row at base + ids[j] x stride, over `len` bytes of each (a multiple of
 * 64: whole zero-padded rows). uint8: L1 or squared L2, exact integers at any length. float32:
 * out[j] holds the float's bits; every table sums in one fixed order, so that all give the
 * same bits and a graph built on float rows is the same on every processor: 16 lanes, lane i
 * summing the terms of values i, i + 16, i + 32, ... (a - b, then |.| or its square, or the
 * product for ip, each rounded on its own: no fused multiply-add), then the lanes added in
 * halves (i + 8, then i + 4, i + 2, i + 1). ip gives 1 - q.t of unit rows clamped at 0. The
 * kernels prefetch the next row while measuring one. */
typedef void (*knn__list_fn)(const uint8_t *q, const uint8_t *base, size_t stride, size_t len,
                             const uint32_t *ids, size_t n, uint64_t *out);

/* A float list kernel's result from its summed lanes: the sum, or for ip 1 - sum clamped at
 * 0, as the float's bits. */
static inline uint64_t knn__list_f32_result(float sum, bool ip)
{
    float v = ip ? 1.0f - sum : sum;
    v = ip && v < 0 ? 0.0f : v;
    uint32_t bits;
    __builtin_memcpy(&bits, &v, 4);
    return bits;
}

typedef struct {
    const char *name; /* "scalar", "avx2", "avxvnni", "avx512" */
    knn__tile_fn l1_tile;
    knn__tile_fn l2_tile;
    knn__norms_fn train_norms;
    knn__tile_fn l1_f32_tile; /* rows are float32; out holds float bits; norms unused */
    knn__tile_fn l2_f32_tile;
    knn__tile_fn ip_f32_tile; /* unit rows: 1 - q.t, clamped at 0: the cosine distance */
    knn__list_fn l1_u8_list, l2_u8_list, l1_f32_list, l2_f32_list, ip_f32_list;
} knn__kernels;

/* Scalar reference distances of two rows of `dim` values: the specification, summed in 64
 * bits whatever the length. */
uint64_t knn__l1_u8_scalar(const uint8_t *a, const uint8_t *b, size_t dim);
uint64_t knn__l2sq_u8_scalar(const uint8_t *a, const uint8_t *b, size_t dim);
float knn__l1_f32_scalar(const float *a, const float *b, size_t dim);
float knn__l2sq_f32_scalar(const float *a, const float *b, size_t dim);
/* 1 - a.b of unit rows, clamped at 0. */
float knn__cosine_f32_scalar(const float *a, const float *b, size_t dim);
/* Squared norms of n rows (bytes [0, len) each, len <= KNN__CHUNK): out[i] = sum row_i[d]^2. */
void knn__sqnorm_u8(const uint8_t *rows, size_t n, size_t len, size_t stride, uint32_t *out);
/* out[i] = |row_i|^2 - 256 * sum row_i[d] (mod 2^32): the VNNI kernels' train norms. */
void knn__sqnorm_minus_256sum_u8(const uint8_t *rows, size_t n, size_t len, size_t stride,
                                 uint32_t *out);

/* The AVX2 list kernels, which the AVX-512 table shares (avx2.c). */
void knn__l1_u8_list_avx2(const uint8_t *, const uint8_t *, size_t, size_t, const uint32_t *,
                          size_t, uint64_t *);
void knn__l2_u8_list_avx2(const uint8_t *, const uint8_t *, size_t, size_t, const uint32_t *,
                          size_t, uint64_t *);
void knn__l1_f32_list_avx2(const uint8_t *, const uint8_t *, size_t, size_t, const uint32_t *,
                           size_t, uint64_t *);
void knn__l2_f32_list_avx2(const uint8_t *, const uint8_t *, size_t, size_t, const uint32_t *,
                           size_t, uint64_t *);
void knn__ip_f32_list_avx2(const uint8_t *, const uint8_t *, size_t, size_t, const uint32_t *,
                           size_t, uint64_t *);

/* The AVX2 tiles, which the AVX-VNNI table shares (avx2.c). */
#define KNN__TILE_ARGS                                                                          \
    const uint8_t *, size_t, const uint8_t *, size_t, size_t, size_t, const uint32_t *,         \
        const uint32_t *, uint32_t *
void knn__l1_u8_tile_avx2(KNN__TILE_ARGS);
void knn__l1_f32_tile_avx2(KNN__TILE_ARGS);
void knn__l2_f32_tile_avx2(KNN__TILE_ARGS);
void knn__ip_f32_tile_avx2(KNN__TILE_ARGS);

extern const knn__kernels knn__kernels_scalar;
extern const knn__kernels knn__kernels_avx2;   /* AVX2 and FMA              */
extern const knn__kernels knn__kernels_avxvnni; /* AVX2, FMA and AVX-VNNI    */
extern const knn__kernels knn__kernels_avx512; /* AVX-512 F, BW and VNNI    */

/* The kernels in use: the best this processor runs, or as restricted by knn_set_isa or
 * $KNN_ISA. */
const knn__kernels *knn__kernels_select(void);
/* The table called `name` if this processor runs it, else NULL. */
const knn__kernels *knn__kernels_find(const char *name);

#endif
