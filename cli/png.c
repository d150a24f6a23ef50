/* png.c: pictures of rows for pages and the server: a row's picture (knn_dataset_picture: the
 * image itself, or the one its features came from; channel planes, as knn holds images)
 * encoded as PNG by stb_image_write, and bytes as base64 for data: URLs. */
#include "cli.h"

#include <stb/stb_image_write.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    unsigned char *data;
    size_t n, cap;
    bool failed;
} byte_buf;

static void append(void *ctx, void *data, int size)
{
    byte_buf *b = ctx;
    if (b->failed)
        return;
    if (b->n + (size_t)size > b->cap) {
        size_t cap = (b->n + (size_t)size) * 2;
        unsigned char *grown = realloc(b->data, cap);
        if (!grown) {
            b->failed = true;
            return;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->n, data, (size_t)size);
    b->n += (size_t)size;
}

unsigned char *cli_row_png(const knn_dataset *ds, size_t i, size_t *n)
{
    *n = 0;
    knn_load_options o = {0}; /* the pictures' size: the images', or those behind features */
    const uint8_t *row = knn_dataset_picture(ds, i);
    if (!row || !knn_load_options_like(ds, &o))
        return NULL;
    const int w = o.width, h = o.height, c = o.channels;
    if ((c != 1 && c != 3) || w < 2 || h < 2)
        return NULL;
    const size_t plane = (size_t)w * (size_t)h;
    unsigned char *px = malloc(plane * (size_t)c);
    byte_buf png = {0};
    if (!px)
        return NULL;
    for (int ch = 0; ch < c; ch++) /* planes to interleaved */
        for (size_t p = 0; p < plane; p++)
            px[p * (size_t)c + (size_t)ch] = row[(size_t)ch * plane + p];
    if (!stbi_write_png_to_func(append, &png, w, h, c, px, w * c) || png.failed) {
        free(png.data);
        png.data = NULL;
    }
    free(px);
    *n = png.data ? png.n : 0;
    return png.data;
}

char *cli_base64(const unsigned char *data, size_t n)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    for (size_t k = 0; out && k < n; k += 3) {
        unsigned v = (unsigned)data[k] << 16 | (k + 1 < n ? (unsigned)data[k + 1] << 8 : 0) |
                     (k + 2 < n ? data[k + 2] : 0);
        *o++ = b64[v >> 18 & 63];
        *o++ = b64[v >> 12 & 63];
        *o++ = k + 1 < n ? b64[v >> 6 & 63] : '=';
        *o++ = k + 2 < n ? b64[v & 63] : '=';
    }
    if (out)
        *o = '\0';
    return out;
}
