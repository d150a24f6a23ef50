/* kernels.h: distance kernels on padded uint8 rows, chosen at run time (DESIGN.md 2, 7).
 *
 * A kernel fills a tile of distances between `nq` query rows and `nt` training rows, all
 * `stride` bytes long (a multiple of 64, zero padded, so no kernel needs a tail loop). L1 is
 * sum |a - b|; L2 is the exact squared distance |a|^2 + |b|^2 - 2 a.b, from the rows' squared
 * norms computed once (see knn__sqnorm_u8). Every entry of every table gives the same
 * integers as the scalar reference, bit for bit. */
#ifndef KNN_KERNELS_H
#define KNN_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* out: (nq, nt) row-major, out[i * nt + j] = distance(query i, train j).
 * qnorm: (nq), tnorm: (nt) squared norms; used by L2 tiles only. */
typedef void (*knn__tile_fn)(const uint8_t *queries, size_t nq, const uint8_t *train,
                             size_t nt, size_t stride, const uint32_t *qnorm,
                             const uint32_t *tnorm, uint32_t *out);

typedef struct {
    const char *name; /* "scalar", ... */
    knn__tile_fn l1_tile;
    knn__tile_fn l2_tile;
} knn__kernels;

/* Scalar reference distances of two rows of `dim` values: the specification. */
uint32_t knn__l1_u8_scalar(const uint8_t *a, const uint8_t *b, size_t dim);
uint32_t knn__l2sq_u8_scalar(const uint8_t *a, const uint8_t *b, size_t dim);
/* Squared norms of n rows: out[i] = sum row_i[d]^2. */
void knn__sqnorm_u8(const uint8_t *rows, size_t n, size_t stride, uint32_t *out);

extern const knn__kernels knn__kernels_scalar;

/* The best kernels this processor runs, restricted by $KNN_ISA if set. */
const knn__kernels *knn__kernels_select(void);

#endif
