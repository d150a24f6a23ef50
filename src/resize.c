/* resize.c: a region of interleaved 8-bit pixels resampled into channel planes.
 *
 * Separable and in integers. The filters are those of stb_image_resize, which knn used before
 * (a Mitchell filter, B = C = 1/3, stretched by the reduction to shrink; a Catmull-Rom spline
 * to enlarge; an axis whose size does not change is copied), but stb_image_resize runs them
 * in floats, one pixel at a time: 2.9 to 5.2 ms for a 375 x 375 crop to 256 x 256 RGB on the
 * development VM, more than OpenCV's INTER_AREA and more than the JPEG's decode. Here the
 * weights are computed once per axis, quantised to 14 bits and adjusted to sum to exactly 1.
 * Both passes run down rows (the image transposed in 8 x 8 blocks between them, and the
 * channels split), two taps at a time with SSE2's pmaddwd, or in plain loops that give the
 * same integers; the first pass keeps 6 fractional bits in 16-bit integers, the second
 * rounds once at the end. Integer arithmetic, so the bytes are the same on every processor
 * and with every instruction set. An axis shrunk more than 4 times is first averaged over
 * whole blocks of pixels (box_reduce). The output is within a level of stb's where no axis
 * shrinks more than 4 times (tests/test_decode.c). */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define WEIGHT_BITS 14 /* each pass's weights sum to 1 << WEIGHT_BITS */
#define MID_BITS 6     /* fractional bits kept between the passes */

/* Mitchell-Netravali's cubic with parameters b, c at distance x. */
static double cubic(double x, double b, double c)
{
    x = fabs(x);
    if (x < 1)
        return ((12 - 9 * b - 6 * c) * x * x * x + (-18 + 12 * b + 6 * c) * x * x + (6 - 2 * b)) /
               6;
    if (x < 2)
        return ((-b - 6 * c) * x * x * x + (6 * b + 30 * c) * x * x + (-12 * b - 48 * c) * x +
                (8 * b + 24 * c)) /
               6;
    return 0;
}

/* One axis: for every output position, `taps` input positions (clamped to the edge) and
 * their weights. */
typedef struct {
    int taps;
    int *index;     /* (out x taps) */
    int16_t *weight; /* (out x taps), each output's sum 1 << WEIGHT_BITS */
} axis;

static void axis_free(axis *a)
{
    free(a->index);
    free(a->weight);
}

static bool axis_make(int in, int out, axis *a)
{
    memset(a, 0, sizeof *a);
    const bool same = in == out, shrink = out < in;
    const double scale = (double)out / in;                   /* output pixels per input pixel */
    const double stretch = shrink ? scale : 1;               /* the filter's argument per pixel */
    const double radius = same ? 0.5 : 2 / stretch;          /* in input pixels */
    a->taps = same ? 2 : ((int)ceil(2 * radius) + 2) / 2 * 2; /* even: taken in pairs */
    a->index = malloc((size_t)out * (size_t)a->taps * sizeof *a->index);
    a->weight = malloc((size_t)out * (size_t)a->taps * sizeof *a->weight);
    double *w = malloc((size_t)a->taps * sizeof *w);
    if (!a->index || !a->weight || !w) {
        free(w);
        axis_free(a);
        return false;
    }
    for (int o = 0; o < out; o++) {
        int *index = a->index + (size_t)o * (size_t)a->taps;
        int16_t *weight = a->weight + (size_t)o * (size_t)a->taps;
        if (same) {
            index[0] = index[1] = o;
            weight[0] = 1 << WEIGHT_BITS;
            weight[1] = 0;
            continue;
        }
        const double centre = (o + 0.5) / scale; /* in input pixel edges */
        const int first = (int)floor(centre - radius);
        double sum = 0;
        for (int k = 0; k < a->taps; k++) {
            const double x = (first + k + 0.5 - centre) * stretch;
            w[k] = shrink ? cubic(x, 1.0 / 3, 1.0 / 3) : cubic(x, 0, 0.5);
            sum += w[k];
        }
        int32_t total = 0;
        int largest = 0;
        for (int k = 0; k < a->taps; k++) {
            const int i = first + k;
            index[k] = i < 0 ? 0 : i >= in ? in - 1 : i;
            weight[k] = (int16_t)lround(w[k] / sum * (1 << WEIGHT_BITS));
            total += weight[k];
            largest = weight[k] > weight[largest] ? k : largest;
        }
        weight[largest] = (int16_t)(weight[largest] + (1 << WEIGHT_BITS) - total); /* remainder */
    }
    free(w);
    return true;
}

/* Output row `o` of a pass down the rows of `src` (rows of n values, `src_stride` apart):
 * the weighed sum of the axis's input rows, in blocks of BLOCK values whose sums stay in
 * registers (a shape the compiler vectorises for any instruction set). The first pass reads
 * bytes and keeps MID_BITS fractional bits; the second reads those and rounds to bytes. */
#define BLOCK 32 /* values summed at once, in registers */

/* The passes' inner step: acc[0..BLOCK) += w0 r0[x] + w1 r1[x], two taps at once (the axes
 * have an even number of taps). With SSE2, part of every x86-64 processor, one pmaddwd makes
 * 8 of these products; the plain loop below it gives the same integers (no sum overflows),
 * so the bytes do not depend on which one ran. */
#ifdef __SSE2__
#include <emmintrin.h>
static inline __m128i pair_weights(int16_t w0, int16_t w1)
{
    return _mm_set1_epi32((int32_t)((uint32_t)(uint16_t)w1 << 16 | (uint16_t)w0));
}

static inline void madd_bytes(__m128i acc[BLOCK / 4], const uint8_t *r0, const uint8_t *r1,
                              int16_t w0, int16_t w1)
{
    const __m128i w = pair_weights(w0, w1), z = _mm_setzero_si128();
    for (int i = 0; i < BLOCK / 16; i++) {
        const __m128i a = _mm_loadu_si128((const __m128i *)(r0 + 16 * i));
        const __m128i b = _mm_loadu_si128((const __m128i *)(r1 + 16 * i));
        const __m128i lo = _mm_unpacklo_epi8(a, b), hi = _mm_unpackhi_epi8(a, b);
        acc[4 * i] = _mm_add_epi32(acc[4 * i], _mm_madd_epi16(_mm_unpacklo_epi8(lo, z), w));
        acc[4 * i + 1] =
            _mm_add_epi32(acc[4 * i + 1], _mm_madd_epi16(_mm_unpackhi_epi8(lo, z), w));
        acc[4 * i + 2] =
            _mm_add_epi32(acc[4 * i + 2], _mm_madd_epi16(_mm_unpacklo_epi8(hi, z), w));
        acc[4 * i + 3] =
            _mm_add_epi32(acc[4 * i + 3], _mm_madd_epi16(_mm_unpackhi_epi8(hi, z), w));
    }
}

static inline void madd_words(__m128i acc[BLOCK / 4], const int16_t *r0, const int16_t *r1,
                              int16_t w0, int16_t w1)
{
    const __m128i w = pair_weights(w0, w1);
    for (int i = 0; i < BLOCK / 8; i++) {
        const __m128i a = _mm_loadu_si128((const __m128i *)(r0 + 8 * i));
        const __m128i b = _mm_loadu_si128((const __m128i *)(r1 + 8 * i));
        acc[2 * i] = _mm_add_epi32(acc[2 * i], _mm_madd_epi16(_mm_unpacklo_epi16(a, b), w));
        acc[2 * i + 1] =
            _mm_add_epi32(acc[2 * i + 1], _mm_madd_epi16(_mm_unpackhi_epi16(a, b), w));
    }
}
#endif

/* Output row `o` of the first pass, down the rows of bytes (n values, src_stride apart),
 * keeping MID_BITS fractional bits. */
static void pass_bytes(const uint8_t *restrict src, size_t n, size_t src_stride,
                       const axis *a, int o, bool plain, int16_t *restrict dst)
{
    const int *index = a->index + (size_t)o * a->taps;
    const int16_t *weight = a->weight + (size_t)o * a->taps;
    const int shift = WEIGHT_BITS - MID_BITS;
    for (size_t x0 = 0; x0 < n; x0 += BLOCK) {
        const size_t m = n - x0 < BLOCK ? n - x0 : BLOCK;
        int32_t acc[BLOCK];
#ifdef __SSE2__
        if (m == BLOCK && !plain) {
            __m128i v[BLOCK / 4];
            for (int i = 0; i < BLOCK / 4; i++)
                v[i] = _mm_set1_epi32(1 << (shift - 1));
            for (int k = 0; k < a->taps; k += 2)
                madd_bytes(v, src + (size_t)index[k] * src_stride + x0,
                           src + (size_t)index[k + 1] * src_stride + x0, weight[k],
                           weight[k + 1]);
            for (int i = 0; i < BLOCK / 8; i++) /* within +-1.3 x 255 << MID_BITS: no saturation */
                _mm_storeu_si128((__m128i *)(dst + x0 + 8 * i),
                                 _mm_packs_epi32(_mm_srai_epi32(v[2 * i], shift),
                                                 _mm_srai_epi32(v[2 * i + 1], shift)));
            continue;
        }
#endif
        for (size_t x = 0; x < m; x++)
            acc[x] = 1 << (shift - 1);
        for (int k = 0; k < a->taps; k += 2) {
            const uint8_t *r0 = src + (size_t)index[k] * src_stride + x0;
            const uint8_t *r1 = src + (size_t)index[k + 1] * src_stride + x0;
            for (size_t x = 0; x < m; x++)
                acc[x] += weight[k] * r0[x] + weight[k + 1] * r1[x];
        }
        for (size_t x = 0; x < m; x++)
            dst[x0 + x] = (int16_t)(acc[x] >> shift);
    }
}

/* Output column `o` of the second pass, down the rows of the transposed first pass (n values,
 * src_stride apart), rounded to bytes, written dst_stride apart. */
static void pass_mid(const int16_t *restrict src, size_t n, size_t src_stride, const axis *a,
                     int o, bool plain, uint8_t *restrict dst, size_t dst_stride)
{
    const int shift = WEIGHT_BITS + MID_BITS;
    const int *index = a->index + (size_t)o * a->taps;
    const int16_t *weight = a->weight + (size_t)o * a->taps;
    for (size_t x0 = 0; x0 < n; x0 += BLOCK) {
        const size_t m = n - x0 < BLOCK ? n - x0 : BLOCK;
        int32_t acc[BLOCK];
        uint8_t bytes[BLOCK];
#ifdef __SSE2__
        if (m == BLOCK && !plain) {
            __m128i v[BLOCK / 4];
            for (int i = 0; i < BLOCK / 4; i++)
                v[i] = _mm_set1_epi32(1 << (shift - 1));
            for (int k = 0; k < a->taps; k += 2)
                madd_words(v, src + (size_t)index[k] * src_stride + x0,
                           src + (size_t)index[k + 1] * src_stride + x0, weight[k],
                           weight[k + 1]);
            for (int i = 0; i < BLOCK / 16; i++) { /* clamped to 0..255 by the packs */
                const __m128i lo = _mm_packs_epi32(_mm_srai_epi32(v[4 * i], shift),
                                                   _mm_srai_epi32(v[4 * i + 1], shift));
                const __m128i hi = _mm_packs_epi32(_mm_srai_epi32(v[4 * i + 2], shift),
                                                   _mm_srai_epi32(v[4 * i + 3], shift));
                _mm_storeu_si128((__m128i *)(bytes + 16 * i), _mm_packus_epi16(lo, hi));
            }
            for (size_t x = 0; x < m; x++)
                dst[(x0 + x) * dst_stride] = bytes[x];
            continue;
        }
#endif
        for (size_t x = 0; x < m; x++)
            acc[x] = 1 << (shift - 1);
        for (int k = 0; k < a->taps; k += 2) {
            const int16_t *r0 = src + (size_t)index[k] * src_stride + x0;
            const int16_t *r1 = src + (size_t)index[k + 1] * src_stride + x0;
            for (size_t x = 0; x < m; x++)
                acc[x] += weight[k] * r0[x] + weight[k + 1] * r1[x];
        }
        for (size_t x = 0; x < m; x++) {
            const int32_t v = acc[x] >> shift;
            bytes[x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            dst[(x0 + x) * dst_stride] = bytes[x];
        }
    }
}

/* t (cols x pitch) = the transposition of m (rows x cols, int16). */
static void transpose(const int16_t *restrict m, int rows, int cols, bool plain,
                      int16_t *restrict t, size_t pitch)
{
    int y0 = 0;
#ifdef __SSE2__
    for (; !plain && y0 + 8 <= rows; y0 += 8) { /* 8 x 8 blocks in registers */
        int x0 = 0;
        for (; x0 + 8 <= cols; x0 += 8) {
            __m128i r[8], u[8];
            for (int i = 0; i < 8; i++)
                r[i] = _mm_loadu_si128((const __m128i *)(m + (size_t)(y0 + i) * cols + x0));
            for (int i = 0; i < 8; i += 2) {
                u[i] = _mm_unpacklo_epi16(r[i], r[i + 1]);
                u[i + 1] = _mm_unpackhi_epi16(r[i], r[i + 1]);
            }
            for (int i = 0; i < 8; i += 4) {
                r[i] = _mm_unpacklo_epi32(u[i], u[i + 2]);
                r[i + 1] = _mm_unpackhi_epi32(u[i], u[i + 2]);
                r[i + 2] = _mm_unpacklo_epi32(u[i + 1], u[i + 3]);
                r[i + 3] = _mm_unpackhi_epi32(u[i + 1], u[i + 3]);
            }
            for (int i = 0; i < 4; i++) { /* columns 2i, 2i + 1 */
                int16_t *out = t + (size_t)(x0 + 2 * i) * pitch + y0;
                _mm_storeu_si128((__m128i *)out, _mm_unpacklo_epi64(r[i], r[i + 4]));
                _mm_storeu_si128((__m128i *)(out + pitch), _mm_unpackhi_epi64(r[i], r[i + 4]));
            }
        }
        for (; x0 < cols; x0++)
            for (int y = y0; y < y0 + 8; y++)
                t[(size_t)x0 * pitch + y] = m[(size_t)y * cols + x0];
    }
#endif
    for (; y0 < rows; y0++)
        for (int x = 0; x < cols; x++)
            t[(size_t)x * pitch + y0] = m[(size_t)y0 * cols + x];
}

/* The middle bw x bh blocks of fx x fy pixels of the region, each averaged (rounded), into a
 * new interleaved image; NULL when out of memory. */
static uint8_t *box_reduce(const uint8_t *src, size_t stride, int cw, int ch, int C, int fx,
                           int fy, int *bw, int *bh)
{
    *bw = cw / fx;
    *bh = ch / fy;
    const size_t n = (size_t)*bw * (size_t)C;
    const uint64_t count = (uint64_t)fx * (uint64_t)fy; /* sums up to 2^26 x 255: 64 bits */
    uint8_t *out = malloc(n * (size_t)*bh);
    uint64_t *acc = malloc(n * sizeof *acc);
    if (!out || !acc) {
        free(out);
        free(acc);
        return NULL;
    }
    const uint8_t *first = src + (size_t)((ch - *bh * fy) / 2) * stride +
                           (size_t)((cw - *bw * fx) / 2) * (size_t)C;
    for (int by = 0; by < *bh; by++) {
        memset(acc, 0, n * sizeof *acc);
        for (int y = 0; y < fy; y++) {
            const uint8_t *row = first + ((size_t)by * fy + (size_t)y) * stride;
            for (size_t bx = 0; bx < (size_t)*bw; bx++)
                for (size_t i = 0; i < (size_t)fx; i++)
                    for (size_t c = 0; c < (size_t)C; c++)
                        acc[bx * C + c] += row[(bx * fx + i) * C + c];
        }
        for (size_t x = 0; x < n; x++)
            out[(size_t)by * n + x] = (uint8_t)((acc[x] + count / 2) / count);
    }
    free(acc);
    return out;
}

static bool resize(const uint8_t *src, size_t stride, int cw, int ch, int C, uint8_t *dst, int W,
                   int H, bool plain);

bool knn__resize_to_planes(const uint8_t *src, size_t stride, int cw, int ch, int C,
                           uint8_t *dst, int W, int H, unsigned flags)
{
    /* An axis shrunk more than 4 times is first averaged over blocks of whole pixels, down to
     * between 2 and 4 times the output: the filter's taps, and the passes' buffers (the
     * first pass is as wide as its input), stay bounded by the output's size whatever the
     * input (a 16,777,216 x 4 PNG for --size 32 would have needed gigabytes), and its weights
     * never round to nothing. */
    const int fx = cw > 4 * W ? cw / (2 * W) : 1, fy = ch > 4 * H ? ch / (2 * H) : 1;
    if (fx == 1 && fy == 1)
        return resize(src, stride, cw, ch, C, dst, W, H, flags & KNN__RESIZE_PLAIN);
    int bw, bh;
    uint8_t *box = box_reduce(src, stride, cw, ch, C, fx, fy, &bw, &bh);
    const bool ok = box && resize(box, (size_t)bw * (size_t)C, bw, bh, C, dst, W, H,
                                  flags & KNN__RESIZE_PLAIN);
    free(box);
    return ok;
}

static bool resize(const uint8_t *src, size_t stride, int cw, int ch, int C, uint8_t *dst, int W,
                   int H, bool plain)
{
    /* 1. down the rows, channels still interleaved, then split: mid (C x H x cw)
     * 2. each channel transposed: midT (cw x H)
     * 3. down midT's rows, that is across the image: the plane's columns */
    axis ax, ay;
    if (!axis_make(cw, W, &ax))
        return false;
    if (!axis_make(ch, H, &ay)) {
        axis_free(&ax);
        return false;
    }
    const size_t n = (size_t)cw * (size_t)C, plane = (size_t)cw * (size_t)H;
    const size_t pitch = (size_t)H + 8; /* midT's rows: not a multiple of 512 bytes apart, which
                                           would map a block's lines to a few cache sets */
    int16_t *line = malloc(n * sizeof *line);
    int16_t *mid = malloc(n * (size_t)H * sizeof *mid);
    int16_t *midT = malloc((size_t)cw * pitch * sizeof *midT);
    const bool ok = line && mid && midT;
    if (ok) {
        for (int y = 0; y < H; y++) {
            pass_bytes(src, n, stride, &ay, y, plain, line);
            for (int c = 0; c < C; c++)
                for (int x = 0; x < cw; x++)
                    mid[c * plane + (size_t)y * cw + x] = line[(size_t)x * C + c];
        }
        for (int c = 0; c < C; c++) {
            transpose(mid + c * plane, H, cw, plain, midT, pitch);
            for (int x = 0; x < W; x++) /* column x of the channel's plane */
                pass_mid(midT, (size_t)H, pitch, &ax, x, plain, dst + (size_t)c * W * H + x,
                         (size_t)W);
        }
    }
    free(line);
    free(mid);
    free(midT);
    axis_free(&ax);
    axis_free(&ay);
    return ok;
}
