/* scalar.c: the portable kernels, plain C that any x86-64 (or other) compiler vectorises
 * for its baseline. These are the reference every faster kernel is tested against. The
 * distance functions of two rows sum in 64 bits, so that they are the specification at any
 * row length (reference.c); the tiles, one chunk of at most KNN__CHUNK bytes at a time, sum
 * in 32 bits, exact there: summed in 64 bits, the scalar L1 tile took 4.4x as long (10.5 s
 * against 2.4 s for 1,000 Fashion-MNIST queries against 20,000), its 32-bit loop being the
 * one GCC turns into psadbw. */
#include "kernels.h"

#include <math.h>
#include <string.h>

uint64_t knn__l1_u8_scalar(const uint8_t *a, const uint8_t *b, size_t dim)
{
    uint64_t sum = 0;
    for (size_t d = 0; d < dim; d++)
        sum += (uint64_t)(a[d] > b[d] ? a[d] - b[d] : b[d] - a[d]);
    return sum;
}

uint64_t knn__l2sq_u8_scalar(const uint8_t *a, const uint8_t *b, size_t dim)
{
    uint64_t sum = 0;
    for (size_t d = 0; d < dim; d++) {
        int diff = (int)a[d] - (int)b[d];
        sum += (uint64_t)(diff * diff);
    }
    return sum;
}

float knn__l1_f32_scalar(const float *a, const float *b, size_t dim)
{
    float sum = 0;
    for (size_t d = 0; d < dim; d++)
        sum += fabsf(a[d] - b[d]);
    return sum;
}

float knn__l2sq_f32_scalar(const float *a, const float *b, size_t dim)
{
    float sum = 0;
    for (size_t d = 0; d < dim; d++)
        sum += (a[d] - b[d]) * (a[d] - b[d]);
    return sum;
}

float knn__cosine_f32_scalar(const float *a, const float *b, size_t dim)
{
    float sum = 0;
    for (size_t d = 0; d < dim; d++)
        sum += a[d] * b[d];
    float dist = 1.0f - sum;
    return dist < 0 ? 0.0f : dist; /* NaN stays NaN, as for L1 and L2 */
}

static uint32_t sad_u8(const uint8_t *a, const uint8_t *b, size_t len)
{
    uint32_t sum = 0;
    for (size_t d = 0; d < len; d++)
        sum += (uint32_t)(a[d] > b[d] ? a[d] - b[d] : b[d] - a[d]);
    return sum;
}

static uint32_t dot_u8(const uint8_t *a, const uint8_t *b, size_t dim)
{
    uint32_t sum = 0;
    for (size_t d = 0; d < dim; d++)
        sum += (uint32_t)a[d] * b[d];
    return sum;
}

void knn__sqnorm_u8(const uint8_t *rows, size_t n, size_t len, size_t stride, uint32_t *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = dot_u8(rows + i * stride, rows + i * stride, len);
}

void knn__sqnorm_minus_256sum_u8(const uint8_t *rows, size_t n, size_t len, size_t stride,
                                 uint32_t *out)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t sum = 0;
        for (size_t d = 0; d < len; d++)
            sum += rows[i * stride + d];
        out[i] = dot_u8(rows + i * stride, rows + i * stride, len) - 256u * sum;
    }
}

static void l1_u8_tile_scalar(const uint8_t *queries, size_t nq, const uint8_t *train, size_t nt,
                           size_t len, size_t stride, const uint32_t *qnorm,
                           const uint32_t *tnorm, uint32_t *out)
{
    (void)qnorm;
    (void)tnorm;
    for (size_t i = 0; i < nq; i++)
        for (size_t j = 0; j < nt; j++)
            out[i * nt + j] = sad_u8(queries + i * stride, train + j * stride, len);
}

static void l2_u8_tile_scalar(const uint8_t *queries, size_t nq, const uint8_t *train, size_t nt,
                           size_t len, size_t stride, const uint32_t *qnorm,
                           const uint32_t *tnorm, uint32_t *out)
{
    for (size_t i = 0; i < nq; i++)
        for (size_t j = 0; j < nt; j++)
            out[i * nt + j] =
                qnorm[i] + tnorm[j] - 2 * dot_u8(queries + i * stride, train + j * stride, len);
}

/* Float tiles: the padding is zeros on both sides, so whole rows can be summed. */
static void f32_tile_scalar(float (*dist)(const float *, const float *, size_t),
                            const uint8_t *queries, size_t nq, const uint8_t *train, size_t nt,
                            size_t len, size_t stride, uint32_t *out)
{
    for (size_t i = 0; i < nq; i++)
        for (size_t j = 0; j < nt; j++) {
            float d = dist((const float *)(const void *)(queries + i * stride),
                           (const float *)(const void *)(train + j * stride), len / 4);
            memcpy(&out[i * nt + j], &d, sizeof d);
        }
}

static void l1_f32_tile_scalar(const uint8_t *queries, size_t nq, const uint8_t *train,
                               size_t nt, size_t len, size_t stride, const uint32_t *qnorm,
                               const uint32_t *tnorm, uint32_t *out)
{
    (void)qnorm;
    (void)tnorm;
    f32_tile_scalar(knn__l1_f32_scalar, queries, nq, train, nt, len, stride, out);
}

static void l2_f32_tile_scalar(const uint8_t *queries, size_t nq, const uint8_t *train,
                               size_t nt, size_t len, size_t stride, const uint32_t *qnorm,
                               const uint32_t *tnorm, uint32_t *out)
{
    (void)qnorm;
    (void)tnorm;
    f32_tile_scalar(knn__l2sq_f32_scalar, queries, nq, train, nt, len, stride, out);
}

static void ip_f32_tile_scalar(const uint8_t *queries, size_t nq, const uint8_t *train,
                               size_t nt, size_t len, size_t stride, const uint32_t *qnorm,
                               const uint32_t *tnorm, uint32_t *out)
{
    (void)qnorm;
    (void)tnorm;
    f32_tile_scalar(knn__cosine_f32_scalar, queries, nq, train, nt, len, stride, out);
}

/* ---- one query against listed rows (kernels.h: knn__list_fn) ---------------------------- */

static void prefetch_row(const uint8_t *row, size_t len)
{
    for (size_t at = 0; at < len; at += 64)
        __builtin_prefetch(row + at);
}

static void u8_list_scalar(uint64_t (*dist)(const uint8_t *, const uint8_t *, size_t),
                           const uint8_t *q, const uint8_t *base, size_t stride, size_t len,
                           const uint32_t *ids, size_t n, uint64_t *out)
{
    for (size_t j = 0; j < n; j++) {
        if (j + 1 < n)
            prefetch_row(base + (size_t)ids[j + 1] * stride, len);
        out[j] = dist(q, base + (size_t)ids[j] * stride, len);
    }
}

static void l1_u8_list_scalar(const uint8_t *q, const uint8_t *base, size_t stride, size_t len,
                              const uint32_t *ids, size_t n, uint64_t *out)
{
    u8_list_scalar(knn__l1_u8_scalar, q, base, stride, len, ids, n, out);
}

static void l2_u8_list_scalar(const uint8_t *q, const uint8_t *base, size_t stride, size_t len,
                              const uint32_t *ids, size_t n, uint64_t *out)
{
    u8_list_scalar(knn__l2sq_u8_scalar, q, base, stride, len, ids, n, out);
}

/* The fixed order of kernels.h: 16 lanes, then halves. */
enum { LIST_L1, LIST_L2, LIST_IP };

static float lanes_sum(float *acc)
{
    for (int half = 8; half >= 1; half /= 2)
        for (int i = 0; i < half; i++)
            acc[i] = acc[i] + acc[i + half];
    return acc[0];
}

static void f32_list_scalar(int kind, const uint8_t *q, const uint8_t *base, size_t stride,
                            size_t len, const uint32_t *ids, size_t n, uint64_t *out)
{
    const float *a = (const float *)(const void *)q;
    for (size_t j = 0; j < n; j++) {
        if (j + 1 < n)
            prefetch_row(base + (size_t)ids[j + 1] * stride, len);
        const float *b = (const float *)(const void *)(base + (size_t)ids[j] * stride);
        float acc[16] = {0};
        for (size_t d = 0; d < len / 4; d += 16)
            for (int i = 0; i < 16; i++) {
                float t = kind == LIST_IP ? a[d + i] * b[d + i] : a[d + i] - b[d + i];
                t = kind == LIST_L1 ? fabsf(t) : kind == LIST_L2 ? t * t : t;
                acc[i] = acc[i] + t;
            }
        out[j] = knn__list_f32_result(lanes_sum(acc), kind == LIST_IP);
    }
}

static void l1_f32_list_scalar(const uint8_t *q, const uint8_t *base, size_t stride, size_t len,
                               const uint32_t *ids, size_t n, uint64_t *out)
{
    f32_list_scalar(LIST_L1, q, base, stride, len, ids, n, out);
}

static void l2_f32_list_scalar(const uint8_t *q, const uint8_t *base, size_t stride, size_t len,
                               const uint32_t *ids, size_t n, uint64_t *out)
{
    f32_list_scalar(LIST_L2, q, base, stride, len, ids, n, out);
}

static void ip_f32_list_scalar(const uint8_t *q, const uint8_t *base, size_t stride, size_t len,
                               const uint32_t *ids, size_t n, uint64_t *out)
{
    f32_list_scalar(LIST_IP, q, base, stride, len, ids, n, out);
}

const knn__kernels knn__kernels_scalar = {"scalar",           l1_u8_tile_scalar,
                                          l2_u8_tile_scalar,  knn__sqnorm_u8,
                                          l1_f32_tile_scalar, l2_f32_tile_scalar,
                                          ip_f32_tile_scalar, l1_u8_list_scalar,
                                          l2_u8_list_scalar,  l1_f32_list_scalar,
                                          l2_f32_list_scalar, ip_f32_list_scalar};
