/* decode_bench.c: knn's side of make bench's photo section (bench/images.py). For a folder of
 * photos in class folders it times, in one process:
 *   knn      knn_dataset_load at SIZE x SIZE RGB, centre crop: the path every command takes
 *            (libjpeg-turbo with DCT-domain scaling, knn's resizer, all threads);
 *   stb      the same files decoded by stb_image at full size (the decoder knn used before)
 *            and resized by the same resizer, in parallel the same way;
 * and the largest difference between the two data sets' pixels (the scaled decode against the
 * full one), as JSON lines. Files are read once before timing, so both read from the page
 * cache. */
#include "internal.h"
#include "io.h"
#include "knn.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: decode_bench DIR SIZE\n");
        return 2;
    }
    const int size = atoi(argv[2]);
    knn_load_options o = {0};
    o.width = o.height = size;
    o.channels = 3;
    o.crop = 1;
    knn_dataset *ds;
    if (knn_dataset_load(argv[1], &o, &ds)) { /* warms the page cache */
        fprintf(stderr, "decode_bench: %s\n", knn_last_error());
        return 1;
    }
    knn_dataset_free(ds);
    double t = now();
    if (knn_dataset_load(argv[1], &o, &ds)) {
        fprintf(stderr, "decode_bench: %s\n", knn_last_error());
        return 1;
    }
    const double knn_s = now() - t;
    const size_t n = knn_dataset_count(ds), dim = knn_dataset_dim(ds);
    uint8_t *ref = malloc(n * dim);
    bool *unread = calloc(n ? n : 1, sizeof *unread);
    if (!ref || !unread) {
        fprintf(stderr, "decode_bench: out of memory\n");
        return 1;
    }
    size_t bad = 0;
    t = now();
#pragma omp parallel for schedule(dynamic, 16) reduction(+ : bad)
    for (size_t i = 0; i < n; i++) {
        uint8_t *data, *pix;
        size_t bytes;
        int w, h, c;
        if (knn__read_whole(knn_dataset_path(ds, i), KNN_MAX_IMAGE_FILE, "an image", &data,
                            &bytes)) {
            bad++, unread[i] = true;
            continue;
        }
        char *why = knn__image_decode(data, bytes, 3, 0, 0, KNN__DECODE_STB, &pix, &w, &h, &c);
        free(data);
        if (why) {
            free(why);
            bad++, unread[i] = true;
            continue;
        }
        const int s = w < h ? w : h; /* the centre square, as knn's crop for a square size */
        const uint8_t *region = pix + ((size_t)((h - s) / 2) * w + (size_t)(w - s) / 2) * 3;
        if (!knn__resize_to_planes(region, (size_t)w * 3, s, s, 3, ref + i * dim, size, size, 0))
            bad++, unread[i] = true;
        free(pix);
    }
    const double stb_s = now() - t;
    int most = 0;
    double total = 0;
    size_t compared = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < dim && !unread[i]; j++, compared++) {
            const int d = abs((int)knn_dataset_row(ds, i)[j] - (int)ref[i * dim + j]);
            most = d > most ? d : most;
            total += d;
        }
    printf("{\"size\": %d, \"images\": %zu, \"threads\": %d, \"knn_seconds\": %.4f, "
           "\"stb_seconds\": %.4f, \"unreadable\": %zu, \"max_difference\": %d, "
           "\"mean_difference\": %.4f}\n",
           size, n, omp_get_max_threads(), knn_s, stb_s, bad, most,
           compared ? total / (double)compared : 0.0);
    free(ref);
    free(unread);
    knn_dataset_free(ds);
    return 0;
}
