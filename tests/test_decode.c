/* test_decode.c: the fast photo path against its references. JPEGs are decoded by
 * libjpeg-turbo, checked against stb_image's decode of the same bytes; the DCT-domain scaled
 * decode against stb's full decode averaged over the same blocks; knn's resizer with SSE2
 * against its plain loops (bit for bit), against stb_image_resize (within a level), as a copy
 * where nothing changes, and at extreme ratios. Photos are drawn here (gradients, discs,
 * noise) and encoded by stb_image_write, or by libjpeg-turbo's encoder for one-component and
 * progressive JPEGs. */
#include "check.h"
#include "internal.h"

#include <stb/stb_image_resize.h>
#include <stb/stb_image_write.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

/* A w x h photo-like picture of n (1 or 3) interleaved channels, from `seed`. */
static uint8_t *draw(int w, int h, int n, unsigned seed)
{
    uint8_t *p = malloc((size_t)w * h * n);
    unsigned r = seed * 2654435761u + 1;
    const int cx = w / 3, cy = h / 2, rad = h / 4;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < n; c++) {
                r = r * 1103515245u + 12345u;
                int v = (x * (c + 1) * 255 / w + y * (3 - c) * 255 / h) / 3 + (int)(r >> 28) - 8;
                if ((x - cx) * (x - cx) + (y - cy) * (y - cy) < rad * rad)
                    v = 40 + 80 * c;
                p[((size_t)y * w + x) * n + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
    return p;
}

typedef struct {
    uint8_t *data;
    size_t size, cap;
} buffer;

static void to_buffer(void *ctx, void *data, int size)
{
    buffer *b = ctx;
    if (b->size + (size_t)size > b->cap) {
        b->cap = 2 * (b->size + (size_t)size);
        b->data = realloc(b->data, b->cap);
    }
    memcpy(b->data + b->size, data, (size_t)size);
    b->size += (size_t)size;
}

/* The JPEG of draw(w, h, n, seed) at `quality`. */
static buffer jpeg(int w, int h, int n, unsigned seed, int quality)
{
    buffer b = {0};
    uint8_t *p = draw(w, h, n, seed);
    CHECK(stbi_write_jpg_to_func(to_buffer, &b, w, h, n, p, quality));
    free(p);
    return b;
}

typedef struct {
    int most;
    double mean;
} difference;

static difference compare(const uint8_t *a, const uint8_t *b, size_t n)
{
    difference d = {0, 0};
    for (size_t i = 0; i < n; i++) {
        const int e = abs((int)a[i] - (int)b[i]);
        d.most = e > d.most ? e : d.most;
        d.mean += e;
    }
    d.mean /= (double)n;
    return d;
}

static void jpeg_by_libjpeg_turbo_matches_stb(void)
{
    static const int sizes[][2] = {{500, 375}, {17, 23}, {1, 1}, {640, 9}};
    for (int s = 0; s < 4; s++)
        for (int n = 1; n <= 3; n += 2)
            for (int quality = 50; quality <= 95; quality += 45) { /* 4:2:0 and 4:4:4 */
                const int w = sizes[s][0], h = sizes[s][1];
                buffer b = jpeg(w, h, n, (unsigned)(s + n), quality);
                for (int want = 1; want <= 3; want += 2) {
                    uint8_t *fast = NULL, *ref = NULL;
                    int fw, fh, fc, rw, rh, rc;
                    char *why = knn__image_decode(b.data, b.size, want, 0, 0, 0, &fast, &fw, &fh,
                                                  &fc);
                    CHECK(why == NULL);
                    free(why);
                    why = knn__image_decode(b.data, b.size, want, 0, 0, KNN__DECODE_STB, &ref, &rw,
                                            &rh, &rc);
                    CHECK(why == NULL);
                    free(why);
                    CHECK(fw == w && fh == h && rw == w && rh == h && fc == want && rc == want);
                    if (fast && ref && fw == w && fh == h) {
                        /* two IDCTs and two chroma upsamplers: a level or three at edges */
                        const difference d = compare(fast, ref, (size_t)w * h * want);
                        CHECK(d.mean <= 0.25); /* measured up to 0.10 */
                        CHECK(d.most <= 4);    /* measured up to 3 */
                    }
                    free(fast);
                    free(ref);
                }
                free(b.data);
            }
}

/* The JPEG of draw(w, h, n, seed) by libjpeg-turbo's encoder: one component for n = 1 (stb's
 * encoder always writes three), 4:2:0 otherwise; progressive or not. */
static buffer tj_jpeg(int w, int h, int n, unsigned seed, bool progressive)
{
    buffer b = {0};
    uint8_t *p = draw(w, h, n, seed);
    tjhandle tj = tjInitCompress();
    unsigned char *jpeg = NULL;
    unsigned long size = 0;
    CHECK(tj && tjCompress2(tj, p, w, 0, h, n == 1 ? TJPF_GRAY : TJPF_RGB, &jpeg, &size,
                            n == 1 ? TJSAMP_GRAY : TJSAMP_420, 85,
                            progressive ? TJFLAG_PROGRESSIVE : 0) == 0);
    if (jpeg) {
        b.data = malloc(size);
        memcpy(b.data, jpeg, size);
        b.size = size;
    }
    tjFree(jpeg);
    tjDestroy(tj);
    free(p);
    return b;
}

/* Decodes b by knn's way and by stb's; *same: byte for byte; returns the difference. */
static difference decode_both(const buffer *b, int want, bool *same, bool *both_failed)
{
    uint8_t *fast = NULL, *ref = NULL;
    int fw = 0, fh = 0, fc, rw = 0, rh = 0, rc;
    char *why_fast = knn__image_decode(b->data, b->size, want, 0, 0, 0, &fast, &fw, &fh, &fc);
    char *why_ref = knn__image_decode(b->data, b->size, want, 0, 0, KNN__DECODE_STB, &ref, &rw,
                                      &rh, &rc);
    difference d = {256, 256};
    *both_failed = why_fast && why_ref;
    *same = false;
    CHECK((why_fast == NULL) == (why_ref == NULL));
    if (!why_fast && !why_ref && fw == rw && fh == rh) {
        d = compare(fast, ref, (size_t)fw * fh * want);
        *same = d.most == 0;
    }
    free(why_fast);
    free(why_ref);
    free(fast);
    free(ref);
    return d;
}

static void jpeg_gray_progressive_and_truncated(void)
{
    for (int n = 1; n <= 3; n += 2)
        for (int progressive = 0; progressive < 2; progressive++) {
            buffer b = tj_jpeg(333, 250, n, (unsigned)(n + progressive), progressive);
            for (int want = 1; want <= 3; want += 2) {
                bool same, failed;
                const difference d = decode_both(&b, want, &same, &failed);
                CHECK(d.mean <= 0.25);
                CHECK(d.most <= 4);
            }
            /* cut: libjpeg-turbo warns (and, progressive, may write no row at all): refused,
             * with its reason, never half-decoded */
            for (size_t cut = b.size / 4; cut < b.size; cut += b.size / 4) {
                uint8_t *px = NULL;
                int w, h, c;
                char *why = knn__image_decode(b.data, cut, 3, 0, 0, 0, &px, &w, &h, &c);
                CHECK(why != NULL && px == NULL);
                CHECK(why && strstr(why, "a JPEG image"));
                free(why);
                free(px);
            }
            free(b.data);
        }
}

/* CMYK (stored as YCCK by libjpeg-turbo's encoder, Adobe's inverted inks): decoded as CMYK
 * and converted as stb converts it; and a Huffman table of more than 256 codes (which overran
 * Debian's stb_image) refused before any decoder runs. */
static void jpeg_cmyk_and_bad_huffman_tables(void)
{
    const int w = 40, h = 24;
    uint8_t *cmyk = malloc((size_t)w * h * 4);
    for (int i = 0; i < w * h * 4; i++)
        cmyk[i] = (uint8_t)(128 + 100 * ((i / 4) % w) / w * ((i % 4) == 3 ? 1 : -1) / 2);
    tjhandle tj = tjInitCompress();
    unsigned char *jpeg = NULL;
    unsigned long size = 0;
    CHECK(tj && tjCompress2(tj, cmyk, w, 0, h, TJPF_CMYK, &jpeg, &size, TJSAMP_444, 95, 0) == 0);
    tjDestroy(tj);
    buffer b = {jpeg, size, size};
    for (int want = 1; jpeg && want <= 3; want += 2) {
        bool same, failed;
        const difference d = decode_both(&b, want, &same, &failed);
        CHECK(d.mean <= 1.0);
        CHECK(d.most <= 6);
    }
    tjFree(jpeg);
    free(cmyk);
    /* a DHT whose 16 counts sum to 527, then a frame: refused, by libjpeg-turbo */
    static const uint8_t bad[] = {
        0xff, 0xd8, 0xff, 0xc4, 0x00, 0x19, 0x00, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x1c, 0x2d, 0xe0, 0xe0, 0x00, 0x06, 0x05, 0x07, 0x03, 0x04,
        0x01, 0xff, 0xc0, 0x00, 0x0b, 0x08, 0x00, 0x10, 0x00, 0x10, 0x01, 0x01, 0x11, 0x00,
        0xff, 0xd9};
    uint8_t *px = NULL;
    int pw, ph, pc;
    char *why = knn__image_decode(bad, sizeof bad, 3, 0, 0, 0, &px, &pw, &ph, &pc);
    CHECK(why != NULL && px == NULL);
    free(why);
}

static void jpeg_decodes_scaled_in_the_dct_domain_where_the_target_allows(void)
{
    buffer b = jpeg(500, 375, 3, 7, 90);
    uint8_t *full = NULL;
    int w, h, c;
    char *why = knn__image_decode(b.data, b.size, 3, 0, 0, KNN__DECODE_STB, &full, &w, &h, &c);
    CHECK(why == NULL && w == 500 && h == 375);
    free(why);
    /* target -> the reduction that still covers it (sides rounded up, as libjpeg's) */
    static const int cases[][4] = {{32, 32, 63, 47},   {47, 47, 63, 47},   {48, 48, 125, 94},
                                   {64, 64, 125, 94},  {125, 94, 125, 94}, {126, 94, 250, 188},
                                   {250, 188, 250, 188}, {251, 188, 500, 375},
                                   {256, 256, 500, 375}, {63, 1, 63, 47},  {0, 0, 500, 375}};
    for (int i = 0; i < (int)(sizeof cases / sizeof *cases); i++) {
        uint8_t *px = NULL;
        int sw, sh, sc;
        why = knn__image_decode(b.data, b.size, 3, cases[i][0], cases[i][1], 0, &px, &sw, &sh,
                                &sc);
        CHECK(why == NULL);
        free(why);
        CHECK_EQ(sw, cases[i][2]);
        CHECK_EQ(sh, cases[i][3]);
        const int d = (500 + sw - 1) / sw;
        if (px && full && sw == cases[i][2] && sh == cases[i][3] && d > 1) {
            /* each pixel is its d x d block of the full decode, averaged (edge blocks cut) */
            uint8_t *avg = malloc((size_t)sw * sh * 3);
            for (int y = 0; y < sh; y++)
                for (int x = 0; x < sw; x++)
                    for (int k = 0; k < 3; k++) {
                        int sum = 0, count = 0;
                        for (int v = y * d; v < (y + 1) * d && v < 375; v++)
                            for (int u = x * d; u < (x + 1) * d && u < 500; u++, count++)
                                sum += full[((size_t)v * 500 + u) * 3 + k];
                        avg[((size_t)y * sw + x) * 3 + k] = (uint8_t)((sum + count / 2) / count);
                    }
            const difference e = compare(px, avg, (size_t)sw * sh * 3);
            CHECK(e.mean <= 0.6); /* measured 0.29 to 0.34 */
            free(avg);
        }
        free(px);
    }
    free(full);
    free(b.data);
}

/* Interleaved w x h x n to planes of W x H by stb_image_resize (its default filters). */
static void stb_resize(const uint8_t *src, int w, int h, int n, uint8_t *planes, int W, int H)
{
    uint8_t *out = malloc((size_t)W * H * n);
    CHECK(stbir_resize_uint8(src, w, h, w * n, out, W, H, W * n, n));
    for (int c = 0; c < n; c++)
        for (int p = 0; p < W * H; p++)
            planes[(size_t)c * W * H + p] = out[(size_t)p * n + c];
    free(out);
}

static void resize_fast_equals_plain_and_stays_near_stb(void)
{
    static const int cases[][4] = {
        {375, 375, 256, 256}, {63, 47, 32, 32}, {500, 375, 32, 32}, {17, 23, 64, 64},
        {40, 30, 40, 10},     {33, 65, 33, 65}, {1, 1, 7, 5},       {300, 2, 31, 1},
        {9, 100, 100, 9},     {256, 256, 224, 224}};
    for (int i = 0; i < (int)(sizeof cases / sizeof *cases); i++)
        for (int n = 1; n <= 3; n += 2) {
            const int w = cases[i][0], h = cases[i][1], W = cases[i][2], H = cases[i][3];
            uint8_t *src = draw(w, h, n, (unsigned)i);
            const size_t size = (size_t)W * H * n;
            uint8_t *fast = malloc(size), *plain = malloc(size), *ref = malloc(size);
            CHECK(knn__resize_to_planes(src, (size_t)w * n, w, h, n, fast, W, H, 0));
            CHECK(knn__resize_to_planes(src, (size_t)w * n, w, h, n, plain, W, H,
                                        KNN__RESIZE_PLAIN));
            CHECK(memcmp(fast, plain, size) == 0);
            if (w == W && h == H) { /* nothing to do: a copy, to the byte */
                for (int c = 0; c < n; c++)
                    for (int p = 0; p < w * h; p++)
                        CHECK_EQ(fast[(size_t)c * w * h + p], src[(size_t)p * n + c]);
            } else if (w != W && h != H && w <= 4 * W && h <= 4 * H) {
                /* the same filters; stb keeps floats and filters an unchanged axis too (and
                 * knn averages blocks first beyond a reduction of 4) */
                stb_resize(src, w, h, n, ref, W, H);
                const difference d = compare(fast, ref, size);
                CHECK(d.mean <= 0.05); /* measured up to 0.005 */
                CHECK(d.most <= 1);
            }
            free(src);
            free(fast);
            free(plain);
            free(ref);
        }
}

static void resize_keeps_an_unchanged_axis(void)
{
    /* W == w: every column resized on its own, equal to that column alone; H == h: rows */
    const int w = 23, h = 40, H = 9, W = 31;
    uint8_t *src = draw(w, h, 1, 3), *col = malloc((size_t)h), *out = malloc((size_t)w * H);
    uint8_t *one = malloc((size_t)(H > W ? H : W));
    CHECK(knn__resize_to_planes(src, (size_t)w, w, h, 1, out, w, H, 0));
    for (int x = 0; x < w; x++) {
        for (int y = 0; y < h; y++)
            col[y] = src[(size_t)y * w + x];
        CHECK(knn__resize_to_planes(col, 1, 1, h, 1, one, 1, H, 0));
        for (int y = 0; y < H; y++)
            CHECK_EQ(out[(size_t)y * w + x], one[y]);
    }
    uint8_t *wide = malloc((size_t)W * h);
    CHECK(knn__resize_to_planes(src, (size_t)w, w, h, 1, wide, W, h, 0));
    for (int y = 0; y < h; y++) {
        CHECK(knn__resize_to_planes(src + (size_t)y * w, (size_t)w, w, 1, 1, one, W, 1, 0));
        CHECK(memcmp(wide + (size_t)y * W, one, (size_t)W) == 0);
    }
    free(src);
    free(col);
    free(out);
    free(one);
    free(wide);
}

static void resize_of_extreme_ratios_stays_bounded_and_flat_stays_flat(void)
{
    /* 16,777,216 x 4 would need gigabytes through the first pass alone: it is averaged in
     * blocks first; a flat picture stays flat at any ratio (weights that sum to one and never
     * round to nothing), and a step stays where it was */
    const int w = 1 << 22, h = 4, C = 3;
    uint8_t *src = malloc((size_t)w * h * C), out[32 * 32 * 3];
    memset(src, 77, (size_t)w * h * C);
    CHECK(knn__resize_to_planes(src, (size_t)w * C, w, h, C, out, 32, 32, 0));
    for (int i = 0; i < 32 * 32 * 3; i++)
        CHECK_EQ(out[i], 77);
    for (size_t p = 0; p < (size_t)w * h * C; p++) /* right half white */
        src[p] = (p / C) % (size_t)w >= (size_t)w / 2 ? 255 : 0;
    CHECK(knn__resize_to_planes(src, (size_t)w * C, w, h, C, out, 32, 2, 0));
    for (int c = 0; c < C; c++) { /* black, white, and the two pixels at the step symmetric */
        for (int x = 0; x < 32; x++)
            if (x < 15 || x > 16)
                CHECK_EQ(out[c * 64 + x], x < 16 ? 0 : 255);
        CHECK_EQ(out[c * 64 + 15] + out[c * 64 + 16], 255);
        CHECK(out[c * 64 + 15] < 64);
    }
    free(src);
    /* and the plain loops agree after the blocks too */
    uint8_t *pic = draw(5000, 37, 3, 9), a[40 * 7 * 3], b[40 * 7 * 3];
    CHECK(knn__resize_to_planes(pic, 5000 * 3, 5000, 37, 3, a, 40, 7, 0));
    CHECK(knn__resize_to_planes(pic, 5000 * 3, 5000, 37, 3, b, 40, 7, KNN__RESIZE_PLAIN));
    CHECK(memcmp(a, b, sizeof a) == 0);
    free(pic);
}

const test_case decode_tests[] = {
    {"jpeg_by_libjpeg_turbo_matches_stb", jpeg_by_libjpeg_turbo_matches_stb},
    {"jpeg_gray_progressive_and_truncated", jpeg_gray_progressive_and_truncated},
    {"jpeg_cmyk_and_bad_huffman_tables", jpeg_cmyk_and_bad_huffman_tables},
    {"jpeg_decodes_scaled_in_the_dct_domain_where_the_target_allows",
     jpeg_decodes_scaled_in_the_dct_domain_where_the_target_allows},
    {"resize_fast_equals_plain_and_stays_near_stb", resize_fast_equals_plain_and_stays_near_stb},
    {"resize_keeps_an_unchanged_axis", resize_keeps_an_unchanged_axis},
    {"resize_of_extreme_ratios_stays_bounded_and_flat_stays_flat",
     resize_of_extreme_ratios_stays_bounded_and_flat_stays_flat},
    {NULL, NULL}};
