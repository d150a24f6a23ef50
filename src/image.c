/* image.c: one photo decoded from bytes in memory, under caps (DESIGN.md decision 11).
 *
 * stb_image (Debian's libstb-dev header) is compiled here, privately (STB_IMAGE_STATIC: no
 * symbol leaves this file), with only the formats knn documents: JPEG, PNG, BMP, GIF and
 * binary PGM/PPM. The others stb_image knows are not in the binary at all: Debian's build of
 * stb_image 2.27 hangs forever on a 53-byte HDR file (CVE-2021-42715) and dereferences NULL
 * on a 160-byte Softimage PIC file, and PSD and TGA widen the attack surface for nothing.
 * No stdio either: files are read by the caller (io.c: regular files only, size-capped), so
 * a decoder never opens anything.
 *
 * Before any decoder runs, the format is told by its magic bytes and the dimensions are read
 * from the header (stbi_info) and checked, as absolute values (a BMP's height is negative for
 * top-down rows), against two caps: KNN_MAX_IMAGE_PIXELS, and KNN_MAX_IMAGE_WORK on the
 * decoded samples (pixels x channels x bytes per sample), so that a 520-byte 16-bit PNG of
 * 8192 x 8192 pixels costs nothing instead of seconds and a gigabyte; and against the file's
 * size, which must be able to hold that many pixels (decoders read past the end as zeros).
 *
 * JPEG, the format of nearly every photo folder (ImageNet, Places), is decoded by
 * libjpeg-turbo (its TurboJPEG API, Debian's libturbojpeg0-dev): SIMD, several times stb's
 * rate, and it scales in the DCT domain. Where the caller's target size is at most half the
 * photo's, the 8 x 8 blocks are inverse-transformed at 4 x 4, 2 x 2 or 1 x 1 (1/2, 1/4, 1/8
 * of each side): the largest reduction whose result still covers the target, which the
 * resizer then brings to size. A 500 x 375 photo for --size 32 is decoded at 63 x 47,
 * without ever producing its 187,500 pixels. stb decodes the other formats; it never sees an
 * untrusted JPEG, not even its header (jpeg_header); KNN__DECODE_STB asks for stb everywhere
 * (the tests' reference). The caps above are checked before either decoder runs. */
#include "io.h"

#include <turbojpeg.h>

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_STDIO
/* stb's pixels are freed with free(), like every other buffer of knn's. No single allocation
 * of a decoder may pass the budget that the header's facts allow (set per decode, per
 * thread): a 1 x 1 PNG whose IDAT inflates to gigabytes grew stb's buffer by doubling up to
 * 2 GiB before. */
static _Thread_local size_t allocation_budget = (size_t)-1;
static void *budget_malloc(size_t n)
{
    return n <= allocation_budget ? malloc(n) : NULL;
}
static void *budget_realloc(void *p, size_t n)
{
    return n <= allocation_budget ? realloc(p, n) : NULL;
}
#define STBI_MALLOC(n) budget_malloc(n)
#define STBI_REALLOC(p, n) budget_realloc(p, n)
#define STBI_FREE(p) free(p)
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_ONLY_GIF
#define STBI_ONLY_PNM
/* for the whole file: GCC reports the static functions stb declares and leaves undefined
 * (stbi_set_unpremultiply_on_load_thread) at the end of the translation unit */
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wmisleading-indentation"
#pragma GCC diagnostic ignored "-Wtype-limits"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#include <stb/stb_image.h>
#pragma GCC diagnostic pop

const char *knn__image_format(const uint8_t *data, size_t size)
{
    static const uint8_t png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (size >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff)
        return "JPEG";
    if (size >= 8 && memcmp(data, png, 8) == 0)
        return "PNG";
    if (size >= 2 && data[0] == 'B' && data[1] == 'M')
        return "BMP";
    if (size >= 6 && (memcmp(data, "GIF87a", 6) == 0 || memcmp(data, "GIF89a", 6) == 0))
        return "GIF";
    if (size >= 3 && data[0] == 'P' && (data[1] == '5' || data[1] == '6') &&
        strchr(" \t\n\r", data[2]) && data[2])
        return data[1] == '5' ? "PGM" : "PPM";
    return NULL;
}

/* The header's width, height and channels, read by the decoder of `format` alone:
 * stbi_info would try every format in turn and report the last one's failure ("unknown image
 * type") instead of the real reason ("too large"). */
static int header_info(const char *format, const uint8_t *data, size_t size, int *w, int *h,
                       int *n)
{
    stbi__context s;
    stbi__start_mem(&s, data, (int)size);
    switch (format[0]) {
    case 'J': return stbi__jpeg_info(&s, w, h, n);
    case 'B': return stbi__bmp_info(&s, w, h, n);
    case 'G': return stbi__gif_info(&s, w, h, n);
    case 'P': return format[1] == 'N' ? stbi__png_info(&s, w, h, n) : stbi__pnm_info(&s, w, h, n);
    }
    return 0;
}

/* What knn reads from a header before any decoder runs, and what follows from it. */
typedef struct {
    unsigned long long w, h;   /* absolute values (a BMP's height is negative top-down) */
    int channels;              /* samples per pixel the decoder holds                    */
    unsigned long long bytes;  /* per sample: 2 for 16-bit PNG and PGM/PPM               */
    unsigned long long work;   /* bytes of samples the decoder holds                     */
    unsigned long long least;  /* the fewest bytes a file of these pixels can have       */
} image_facts;

/* Progressive JPEGs decode every block once per scan, and a scan costs 10 bytes: a 20 KB file
 * of 2,000 empty scans over 8192 x 8192 pixels ran for minutes. Encoders write about 10
 * (libjpeg's default script) and rarely more than 20. */
#define MAX_JPEG_SCANS 64

/* True if the Huffman tables of a DHT segment's payload [p, p + len) each define at most 256
 * codes and fit in it. Debian's stb_image 2.27 trusts the counts: more than 256 overran its
 * tables (found by fuzzing once JPEG seeds were in the corpus; libjpeg-turbo refuses them). */
static bool huffman_tables_fit(const uint8_t *p, size_t len)
{
    size_t at = 0;
    while (at < len) {
        if (len - at < 17)
            return false;
        size_t codes = 0;
        for (int i = 1; i <= 16; i++)
            codes += p[at + (size_t)i];
        if (codes > 256 || len - at - 17 < codes)
            return false;
        at += 17 + codes;
    }
    return true;
}

/* A JPEG's frame, by walking its markers (entropy-coded data skipped to the next marker):
 * the components and whether it is progressive, from the start of frame; the scans; whether
 * every Huffman table seen is sound (*huffman_ok). */
static void jpeg_frame(const uint8_t *d, size_t size, int *components, bool *progressive,
                       int *scans, bool *huffman_ok)
{
    *components = 0;
    *progressive = false;
    *scans = 0;
    *huffman_ok = true;
    size_t at = 2;
    while (at + 4 <= size && d[at] == 0xff) {
        const uint8_t m = d[at + 1];
        if (m == 0xff || m == 0x01 || (m >= 0xd0 && m <= 0xd7)) { /* fill, TEM, RSTn */
            at += m == 0xff ? 1 : 2;
            continue;
        }
        if (m == 0xd9) /* end of image */
            break;
        const size_t len = (size_t)d[at + 2] << 8 | d[at + 3];
        if (m == 0xc4) /* the part of the segment in the file: stb reads no further */
            *huffman_ok &= len >= 2 && huffman_tables_fit(d + at + 4, at + 2 + len <= size
                                                                          ? len - 2
                                                                          : size - at - 4);
        if ((m == 0xc0 || m == 0xc1 || m == 0xc2) && len >= 8 && at + 10 <= size) {
            *components = d[at + 9];
            *progressive = m == 0xc2;
        }
        at += 2 + len;
        if (m != 0xda)
            continue;
        ++*scans;
        while (at + 1 < size) { /* the scan's data: up to a marker that is not FF00 or RSTn */
            const uint8_t *ff = memchr(d + at, 0xff, size - at - 1);
            if (!ff)
                return;
            at = (size_t)(ff - d);
            const uint8_t next = d[at + 1];
            if (next != 0x00 && !(next >= 0xd0 && next <= 0xd7))
                break;
            at += 2;
        }
    }
}

/* True if every number of a PGM/PPM header has at most 9 digits: stb_image parses them into
 * an int by multiplying by ten without a check (signed overflow, found under UBSan), and
 * nothing real is wider than 65535 anyway. */
static bool pnm_numbers_fit(const uint8_t *d, size_t size)
{
    size_t at = 2;
    for (int number = 0; number < 3; number++) {
        while (at < size && (strchr(" \t\n\r\v\f", d[at]) || d[at] == '#')) {
            if (d[at] == '#')
                while (at < size && d[at] != '\n' && d[at] != '\r')
                    at++;
            else
                at++;
        }
        size_t digits = 0;
        while (at < size && d[at] >= '0' && d[at] <= '9')
            at++, digits++;
        if (digits > 9)
            return false;
    }
    return true;
}

/* The facts of an image whose header stb could read: w, h, n (stb's channels). */
static const char *image_facts_of(const char *format, const uint8_t *d, size_t size, int w,
                                  int h, int n, image_facts *f)
{
    f->w = (unsigned long long)llabs((long long)w);
    f->h = (unsigned long long)llabs((long long)h);
    const unsigned long long pixels = f->w * f->h; /* < 2^62 */
    f->channels = n > 0 ? n : 4;
    f->bytes = stbi_is_16_bit_from_memory(d, (int)size) ? 2 : 1;
    f->least = 0;
    unsigned long long per_sample = f->bytes;
    if (format[0] == 'J') {
        /* a component of full resolution has pixels / 64 blocks, each at least one bit */
        int components, scans;
        bool progressive, huffman_ok;
        jpeg_frame(d, size, &components, &progressive, &scans, &huffman_ok);
        if (scans > MAX_JPEG_SCANS)
            return "scans";
        if (!huffman_ok)
            return "huffman";
        f->channels = components > f->channels ? components : f->channels;
        per_sample = progressive ? 3 : 1; /* 16-bit coefficients kept for every block */
        f->least = pixels / 512;
    } else if (format[0] == 'B' && size >= 30) { /* rows padded to 4 bytes, at the offset */
        const unsigned long long offset = d[10] | (unsigned)d[11] << 8 |
                                          (unsigned long long)d[12] << 16 |
                                          (unsigned long long)d[13] << 24;
        const unsigned header = d[14] | (unsigned)d[15] << 8;
        const unsigned bpp = header == 12 ? (d[24] | (unsigned)d[25] << 8)
                                          : (d[28] | (unsigned)d[29] << 8);
        f->least = offset + (f->w * bpp + 31) / 32 * 4 * f->h;
    } else if (format[0] == 'P' && format[1] == 'N' && size >= 26) {
        /* deflate's best ratio over the raw rows: each a filter byte and samples of `depth`
         * bits (one for a palette index) */
        static const int samples_of_type[7] = {1, 0, 3, 1, 2, 0, 4};
        const unsigned depth = d[24], type = d[25] < 7 ? d[25] : 0;
        const unsigned long long row = (f->w * (unsigned)samples_of_type[type] * depth + 7) / 8 + 1;
        f->least = row * f->h / KNN__DEFLATE_MAX_RATIO;
    } else if (format[0] == 'P') { /* PGM, PPM: raw samples */
        f->least = pixels * (unsigned)f->channels * f->bytes;
    } else if (format[0] == 'G') { /* the whole screen, its background and history, each frame */
        per_sample = 2;
    }
    f->work = pixels * (unsigned)f->channels * per_sample;
    return NULL;
}

/* The reduction 1/d (d = 8, 4 or 2) at which a JPEG of w x h still covers fit_w x fit_h
 * (libjpeg's scaled sides round up: TJSCALED), or 1. */
static int jpeg_reduction(unsigned long long w, unsigned long long h, int fit_w, int fit_h)
{
    if (fit_w < 1 || fit_h < 1)
        return 1;
    for (unsigned d = 8; d > 1; d /= 2)
        if ((w + d - 1) / d >= (unsigned)fit_w && (h + d - 1) / d >= (unsigned)fit_h)
            return (int)d;
    return 1;
}

/* A JPEG's width and height read by libjpeg-turbo, and its samples per pixel (1 gray, 4
 * CMYK or YCCK, else 3); NULL, or a malloc'd reason. stb's JPEG header parser is never
 * given an untrusted file: Debian's stb_image 2.27 builds Huffman tables from counts it does
 * not check, and a table of more than 256 codes overran them (found by fuzzing once the
 * corpus held JPEG seeds; libjpeg-turbo refuses such tables). */
static char *jpeg_header(const uint8_t *data, size_t size, int *w, int *h, int *n)
{
    tjhandle tj = tjInitDecompress();
    if (!tj)
        return knn__asprintf("out of memory");
    int subsampling = 0, colours = 0;
    char *why = NULL;
    if (tjDecompressHeader3(tj, data, (unsigned long)size, w, h, &subsampling, &colours))
        why = knn__asprintf("a JPEG image whose header cannot be read (%s)", tjGetErrorStr2(tj));
    *n = colours == TJCS_GRAY ? 1 : colours == TJCS_CMYK || colours == TJCS_YCCK ? 4 : 3;
    tjDestroy(tj);
    return why;
}

/* stb_image's product of two bytes over 255 (stbi__blinn_8x8), for CMYK. */
static uint8_t blinn(unsigned x, unsigned y)
{
    const unsigned t = x * y + 128;
    return (uint8_t)((t + (t >> 8)) >> 8);
}

/* Decodes a JPEG whose facts were checked, by libjpeg-turbo, into `want` (1 or 3) channels
 * at 1/d scale; NULL with *pixels set, or a malloc'd reason. Any warning refuses the image:
 * TurboJPEG 2.1 reports a fatal error that follows a warning as a warning, with rows never
 * written (a progressive JPEG writes none before its last scan), so its output is never
 * trusted then; a file cut short is refused, as stb refused it. CMYK and YCCK JPEGs (print
 * workflows; Adobe's inverted inks) come as CMYK and are converted as stb converts them:
 * red = C x K / 255, and so on; gray from those by the luma. */
static char *jpeg_decode(const uint8_t *data, size_t size, int want, int d, bool cmyk,
                         const image_facts *f, uint8_t **pixels, int *width, int *height)
{
    *pixels = NULL;
    tjhandle tj = tjInitDecompress();
    if (!tj)
        return knn__asprintf("out of memory");
    /* the header was read by jpeg_header (f: its sides; cmyk: 4 samples a pixel) */
    char *why = NULL;
    const int w = (int)f->w, h = (int)f->h;
    const int sw = (w + d - 1) / d, sh = (h + d - 1) / d; /* TJSCALED(w, {1, d}) */
    const size_t px = (size_t)sw * (size_t)sh;
    uint8_t *out = why ? NULL : malloc(px * (cmyk ? 4 : (size_t)want));
    if (!why && !out)
        why = knn__asprintf("out of memory");
    /* TJFLAG_LIMITSCANS: libjpeg-turbo's own bound on progressive scans (500), behind knn's */
    if (!why && tjDecompress2(tj, data, (unsigned long)size, out, sw, 0, sh,
                              cmyk ? TJPF_CMYK : want == 1 ? TJPF_GRAY : TJPF_RGB,
                              TJFLAG_LIMITSCANS | TJFLAG_STOPONWARNING) != 0)
        why = knn__asprintf("a JPEG image that cannot be decoded (%s)", tjGetErrorStr2(tj));
    tjDestroy(tj);
    if (!why && cmyk) { /* in place: each pixel's output is no wider than its CMYK */
        for (size_t p = 0; p < px; p++) {
            const uint8_t *in = out + 4 * p;
            const uint8_t r = blinn(in[0], in[3]), g = blinn(in[1], in[3]),
                          b = blinn(in[2], in[3]);
            if (want == 1) {
                out[p] = (uint8_t)((r * 77 + g * 150 + b * 29) >> 8);
            } else {
                out[3 * p] = r;
                out[3 * p + 1] = g;
                out[3 * p + 2] = b;
            }
        }
    }
    if (why) {
        free(out);
        return why;
    }
    *pixels = out;
    *width = sw;
    *height = sh;
    return NULL;
}

char *knn__image_decode(const uint8_t *data, size_t size, int want, int fit_w, int fit_h,
                        unsigned flags, uint8_t **pixels, int *width, int *height,
                        int *channels)
{
    *pixels = NULL;
    const char *format = knn__image_format(data, size);
    if (!format)
        return knn__asprintf("not a JPEG, PNG, BMP, GIF or PGM/PPM image");
    if (size > (size_t)INT_MAX)
        return knn__asprintf("a file of %zu bytes is too large to decode", size);
    if (format[0] == 'P' && format[1] != 'N' && !pnm_numbers_fit(data, size))
        return knn__asprintf("a %s image whose header has a number of more than 9 digits",
                             format);
    int w = 0, h = 0, n = 0;
    const bool turbo = format[0] == 'J' && !(flags & KNN__DECODE_STB) && (want == 1 || want == 3);
    if (turbo) {
        char *why = jpeg_header(data, size, &w, &h, &n);
        if (why)
            return why;
    } else if (!header_info(format, data, size, &w, &h, &n)) {
        return knn__asprintf("a %s image whose header cannot be read (%s)", format,
                             stbi_failure_reason() ? stbi_failure_reason() : "corrupt");
    }
    image_facts f;
    const char *refused = image_facts_of(format, data, size, w, h, n, &f);
    if (refused)
        return strcmp(refused, "scans") == 0
                   ? knn__asprintf("a JPEG image of more than %d scans", MAX_JPEG_SCANS)
                   : knn__asprintf("a JPEG image with a corrupt Huffman table (more than 256 "
                                   "codes, or cut short)");
    if (f.w < 1 || f.h < 1)
        return knn__asprintf("a %s image of %d x %d pixels", format, w, h);
    if (f.w * f.h > KNN_MAX_IMAGE_PIXELS)
        return knn__asprintf("a %s image of %llu x %llu pixels is larger than the limit of %zu "
                             "megapixels",
                             format, f.w, f.h, KNN_MAX_IMAGE_PIXELS >> 20);
    if (f.work > KNN_MAX_IMAGE_WORK)
        return knn__asprintf("a %s image of %llu x %llu pixels, %d channels of %llu bits, "
                             "needs %llu MiB to decode, more than the limit of %zu MiB",
                             format, f.w, f.h, f.channels, 8 * f.bytes, f.work >> 20,
                             KNN_MAX_IMAGE_WORK >> 20);
    if (f.least > size)
        return knn__asprintf("a %s image of %llu x %llu pixels needs at least %llu bytes, the "
                             "file has %zu: truncated or corrupt",
                             format, f.w, f.h, f.least, size);
    /* stb converts to the channels wanted (a colour JPEG's gray is its own luma channel),
     * except for 16-bit PGM/PPM, where its conversion reads past its buffer (CVE-2021-42716,
     * found here by fuzzing): those come in their own channels, for the caller to convert */
    if (turbo) {
        *channels = want;
        return jpeg_decode(data, size, want, jpeg_reduction(f.w, f.h, fit_w, fit_h), n == 4, &f,
                           pixels, width, height);
    }
    const bool pnm16 = format[0] == 'P' && format[1] != 'N' && f.bytes == 2;
    const int req = pnm16 ? 0 : want;
    int dw = 0, dh = 0, dn = 0;
    /* twice the samples for any one buffer: the decoders' largest (inflated rows, JPEG
     * coefficients, the output and its conversion) stay below it */
    allocation_budget = (size_t)(2 * f.work + (16u << 20));
    unsigned char *decoded = stbi_load_from_memory(data, (int)size, &dw, &dh, &dn, req);
    allocation_budget = (size_t)-1;
    if (!decoded)
        return knn__asprintf("a %s image that cannot be decoded (%s)", format,
                             stbi_failure_reason() ? stbi_failure_reason() : "corrupt");
    if (dw < 1 || dh < 1 || dn < 1 || dn > 4 ||
        (unsigned long long)dw * (unsigned long long)dh > f.w * f.h) {
        /* the decoder disagrees with the header it was checked against */
        stbi_image_free(decoded);
        return knn__asprintf("a %s image of %d x %d pixels whose header says %llu x %llu",
                             format, dw, dh, f.w, f.h);
    }
    *pixels = decoded;
    *width = dw;
    *height = dh;
    *channels = req ? req : dn;
    return NULL;
}
