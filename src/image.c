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
 * size, which must be able to hold that many pixels (decoders read past the end as zeros). */
#include "io.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_STDIO
/* stb's pixels are freed with free(), like every other buffer of knn's */
#define STBI_MALLOC(n) malloc(n)
#define STBI_REALLOC(p, n) realloc(p, n)
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

/* The fewest bytes a file of this format must have to hold w x h pixels of n channels of
 * `bytes` each: all of them for the uncompressed formats (BMP rows padded to 4 bytes, at the
 * offset its header gives; PGM/PPM), 1/1032 of them for PNG (deflate's best ratio); 0 where
 * no useful bound exists (JPEG, GIF). Decoders read past the end of a file as zeros, so a
 * 62-byte BMP claiming 2 x 8,323,073 pixels cost seconds before this check. */
static unsigned long long least_file_bytes(const char *format, const uint8_t *data, size_t size,
                                           unsigned long long w, unsigned long long h, int n,
                                           unsigned long long bytes)
{
    if (format[0] == 'B' && size >= 30) {
        const unsigned long long offset = data[10] | (unsigned)data[11] << 8 |
                                          (unsigned long long)data[12] << 16 |
                                          (unsigned long long)data[13] << 24;
        const unsigned header = data[14] | (unsigned)data[15] << 8;
        const unsigned bpp = header == 12 ? (data[24] | (unsigned)data[25] << 8)
                                          : (data[28] | (unsigned)data[29] << 8);
        return offset + (w * bpp + 31) / 32 * 4 * h;
    }
    if (format[0] == 'P' && format[1] != 'N') /* PGM, PPM */
        return w * h * (unsigned long long)n * bytes;
    if (format[0] == 'P') /* PNG: each row has a filter byte */
        return (w * (unsigned long long)n * bytes + 1) * h / KNN__DEFLATE_MAX_RATIO;
    return 0;
}

char *knn__image_decode(const uint8_t *data, size_t size, int want, uint8_t **pixels,
                        int *width, int *height, int *channels)
{
    *pixels = NULL;
    const char *format = knn__image_format(data, size);
    if (!format)
        return knn__asprintf("not a JPEG, PNG, BMP, GIF or PGM/PPM image");
    if (size > (size_t)INT_MAX)
        return knn__asprintf("a file of %zu bytes is too large to decode", size);
    int w = 0, h = 0, n = 0;
    if (!header_info(format, data, size, &w, &h, &n))
        return knn__asprintf("a %s image whose header cannot be read (%s)", format,
                             stbi_failure_reason() ? stbi_failure_reason() : "corrupt");
    const unsigned long long aw = (unsigned long long)llabs((long long)w);
    const unsigned long long ah = (unsigned long long)llabs((long long)h);
    const unsigned long long bytes_per_sample =
        stbi_is_16_bit_from_memory(data, (int)size) ? 2 : 1;
    const unsigned long long pixels_in = aw * ah; /* < 2^62: no overflow */
    if (aw < 1 || ah < 1)
        return knn__asprintf("a %s image of %d x %d pixels", format, w, h);
    if (pixels_in > KNN_MAX_IMAGE_PIXELS)
        return knn__asprintf("a %s image of %llu x %llu pixels is larger than the limit of %zu "
                             "megapixels",
                             format, aw, ah, KNN_MAX_IMAGE_PIXELS >> 20);
    const unsigned long long work = pixels_in * (unsigned long long)(n > 0 ? n : 4) *
                                    bytes_per_sample;
    if (work > KNN_MAX_IMAGE_WORK)
        return knn__asprintf("a %s image of %llu x %llu pixels, %d channels of %llu bits, "
                             "needs %llu MiB to decode, more than the limit of %zu MiB",
                             format, aw, ah, n, 8 * bytes_per_sample, work >> 20,
                             KNN_MAX_IMAGE_WORK >> 20);
    const unsigned long long least =
        least_file_bytes(format, data, size, aw, ah, n, bytes_per_sample);
    if (least > size)
        return knn__asprintf("a %s image of %llu x %llu pixels needs at least %llu bytes, the "
                             "file has %zu: truncated or corrupt",
                             format, aw, ah, least, size);
    /* stb converts to the channels wanted (a colour JPEG's gray is its own luma channel),
     * except for 16-bit PGM/PPM, where its conversion reads past its buffer (CVE-2021-42716,
     * found here by fuzzing): those come in their own channels, for the caller to convert */
    const bool pnm16 = format[0] == 'P' && format[1] != 'N' && bytes_per_sample == 2;
    const int req = pnm16 ? 0 : want;
    int dw = 0, dh = 0, dn = 0;
    unsigned char *decoded = stbi_load_from_memory(data, (int)size, &dw, &dh, &dn, req);
    if (!decoded)
        return knn__asprintf("a %s image that cannot be decoded (%s)", format,
                             stbi_failure_reason() ? stbi_failure_reason() : "corrupt");
    if (dw < 1 || dh < 1 || dn < 1 || dn > 4 ||
        (unsigned long long)dw * (unsigned long long)dh > pixels_in) {
        /* the decoder disagrees with the header it was checked against */
        stbi_image_free(decoded);
        return knn__asprintf("a %s image of %d x %d pixels whose header says %llu x %llu",
                             format, dw, dh, aw, ah);
    }
    *pixels = decoded;
    *width = dw;
    *height = dh;
    *channels = req ? req : dn;
    return NULL;
}
