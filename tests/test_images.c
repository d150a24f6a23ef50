/* test_images.c: image folders written here with stb_image_write (PNG and JPEG, gray and RGB,
 * odd sizes, a corrupt file, a file that is no image, an empty class folder), loaded,
 * converted and checked. */
#include "check.h"
#include "internal.h"

#include <stb/stb_image_write.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char *in_dir(const char *rel)
{
    static char buf[8][600];
    static int next;
    char *p = buf[next++ % 8];
    snprintf(p, 600, "%s/%s", test_dir(), rel);
    return p;
}

static void mkdirs(const char *rel)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", test_dir(), rel);
    for (char *s = p + strlen(test_dir()) + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            mkdir(p, 0755);
            *s = '/';
        }
    mkdir(p, 0755);
}

/* A w x h image of n channels, every pixel (r, g, b) (gray: r). */
static void write_image(const char *rel, int w, int h, int n, int r, int g, int b, bool jpeg)
{
    unsigned char *px = malloc((size_t)w * h * n);
    for (int i = 0; i < w * h; i++) {
        px[i * n] = (unsigned char)r;
        if (n == 3) {
            px[i * n + 1] = (unsigned char)g;
            px[i * n + 2] = (unsigned char)b;
        }
    }
    int ok = jpeg ? stbi_write_jpg(in_dir(rel), w, h, n, px, 100)
                  : stbi_write_png(in_dir(rel), w, h, n, px, w * n);
    CHECK(ok);
    free(px);
}

static void write_text(const char *rel, const char *text)
{
    FILE *f = fopen(in_dir(rel), "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void image_folder_loads_classes_in_order_and_skips_bad_files(void)
{
    mkdirs("pets/cat");
    mkdirs("pets/dog");
    mkdirs("pets/empty");
    write_image("pets/cat/a.png", 40, 30, 3, 200, 10, 50, false);
    write_image("pets/cat/b.jpg", 17, 23, 1, 90, 0, 0, true);
    write_image("pets/dog/c.png", 5, 5, 1, 255, 0, 0, false);
    write_text("pets/dog/corrupt.png", "\x89PNG\r\n\x1a\n this is not the rest of a PNG");
    write_text("pets/dog/notes.txt", "not an image");
    /* 0 x 0: stb_image accepts the header and its resizer asserted (found by fuzzing; the
     * fuzzed file itself is in fuzz/corpus/image) */
    write_text("pets/dog/zero.pgm", "P5\n0 0\n255\n");
    knn_load_options o = {0};
    o.width = 8;
    o.height = 6;
    o.channels = 3;
    o.crop = 1;
    knn_dataset *ds = NULL;
    CHECK_EQ(knn_dataset_load(in_dir("pets"), &o, &ds), KNN_OK);
    if (!ds)
        return;
    CHECK_EQ(knn_dataset_count(ds), 3);
    CHECK_EQ(knn_dataset_num_classes(ds), 3);
    CHECK(!strcmp(knn_dataset_class_name(ds, 0), "cat"));
    CHECK(!strcmp(knn_dataset_class_name(ds, 2), "empty"));
    CHECK(knn_dataset_label(ds, 0) == 0 && knn_dataset_label(ds, 1) == 0 &&
          knn_dataset_label(ds, 2) == 1);
    CHECK(knn_dataset_width(ds) == 8 && knn_dataset_height(ds) == 6 &&
          knn_dataset_channels(ds) == 3 && knn_dataset_dim(ds) == 144);
    CHECK(strstr(knn_dataset_path(ds, 1), "pets/cat/b.jpg") != NULL);
    CHECK_EQ(knn_dataset_skipped(ds), 3);
    CHECK(strstr(knn_dataset_skipped_reason(ds, 0), "pets/dog/corrupt.png: ") != NULL);
    CHECK(strstr(knn_dataset_skipped_reason(ds, 1), "pets/dog/notes.txt: ") != NULL);
    CHECK(strstr(knn_dataset_skipped_reason(ds, 2), "pets/dog/zero.pgm: a PGM image of 0 x 0") != NULL);
    /* uniform images stay uniform: planes R, G, B of image 0; gray image 2 copied to RGB */
    const uint8_t *r0 = knn_dataset_row(ds, 0), *r2 = knn_dataset_row(ds, 2);
    for (int p = 0; p < 48; p++) {
        CHECK_EQ(r0[p], 200);
        CHECK_EQ(r0[48 + p], 10);
        CHECK_EQ(r0[96 + p], 50);
        CHECK(r2[p] == 255 && r2[48 + p] == 255 && r2[96 + p] == 255);
    }
    /* the JPEG (quality 100) of a uniform gray 90 */
    CHECK(abs((int)knn_dataset_row(ds, 1)[20] - 90) <= 2);
    /* the same files as queries, converted like the data set */
    const char *files[2] = {knn_dataset_path(ds, 2), knn_dataset_path(ds, 0)};
    knn_dataset *q = NULL;
    CHECK_EQ(knn_images_load(files, 2, ds, &q), KNN_OK);
    CHECK(q && !knn_dataset_has_labels(q) &&
          !memcmp(knn_dataset_row(q, 0), knn_dataset_row(ds, 2), 144) &&
          !memcmp(knn_dataset_row(q, 1), knn_dataset_row(ds, 0), 144));
    knn_dataset_free(q);
    knn_dataset_free(ds);
    o.strict = 1;
    CHECK_EQ(knn_dataset_load(in_dir("pets"), &o, &ds), KNN_ERR_FORMAT);
    CHECK(strstr(knn_last_error(), "pets/dog/corrupt.png") != NULL);
}

static void image_crop_keeps_the_middle(void)
{
    /* 90 x 30: red, green and blue thirds; the centre crop to a square is all green */
    mkdirs("stripes/s");
    unsigned char px[90 * 30 * 3];
    for (int y = 0; y < 30; y++)
        for (int x = 0; x < 90; x++) {
            unsigned char *p = px + (y * 90 + x) * 3;
            p[0] = x < 30 ? 255 : 0;
            p[1] = x >= 30 && x < 60 ? 255 : 0;
            p[2] = x >= 60 ? 255 : 0;
        }
    CHECK(stbi_write_png(in_dir("stripes/s/x.png"), 90, 30, 3, px, 90 * 3));
    knn_load_options o = {0};
    o.width = o.height = 8;
    o.crop = 1;
    knn_dataset *ds = NULL;
    CHECK_EQ(knn_dataset_load(in_dir("stripes"), &o, &ds), KNN_OK);
    for (int p = 0; ds && p < 64; p++) {
        CHECK_EQ(knn_dataset_row(ds, 0)[p], 0);        /* red plane   */
        CHECK_EQ(knn_dataset_row(ds, 0)[64 + p], 255); /* green plane */
    }
    knn_dataset_free(ds);
    o.crop = 0; /* stretched: all three colours survive */
    CHECK_EQ(knn_dataset_load(in_dir("stripes"), &o, &ds), KNN_OK);
    CHECK(ds && knn_dataset_row(ds, 0)[0] > 200 && knn_dataset_row(ds, 0)[128 + 7] > 200);
    knn_dataset_free(ds);
}

static void image_folders_two_levels_and_splits(void)
{
    mkdirs("omni/alpha/char1");
    mkdirs("omni/alpha/char2");
    mkdirs("omni/beta/char1");
    write_image("omni/alpha/char1/x.png", 105, 105, 1, 0, 0, 0, false);
    write_image("omni/alpha/char2/y.png", 105, 105, 1, 255, 0, 0, false);
    write_image("omni/beta/char1/z.png", 105, 105, 1, 128, 0, 0, false);
    knn_load_options o = {0};
    o.width = o.height = 28;
    o.channels = 1;
    knn_dataset *ds = NULL;
    CHECK_EQ(knn_dataset_load(in_dir("omni"), &o, &ds), KNN_OK);
    CHECK(ds && knn_dataset_num_classes(ds) == 3 &&
          !strcmp(knn_dataset_class_name(ds, 1), "alpha/char2") &&
          !strcmp(knn_dataset_class_name(ds, 2), "beta/char1") && knn_dataset_label(ds, 2) == 2);
    knn_dataset_free(ds);
    mkdirs("inet/train/a");
    mkdirs("inet/val/a");
    write_image("inet/train/a/1.png", 9, 9, 3, 1, 2, 3, false);
    write_image("inet/val/a/2.png", 9, 9, 3, 1, 2, 3, false);
    char spec[700];
    snprintf(spec, sizeof spec, "%s:val", in_dir("inet"));
    CHECK_EQ(knn_dataset_load(spec, &o, &ds), KNN_OK);
    CHECK(ds && knn_dataset_count(ds) == 1 && strstr(knn_dataset_path(ds, 0), "val/a/2.png"));
    knn_dataset_free(ds);
    mkdirs("nothing/a");
    CHECK_EQ(knn_dataset_load(in_dir("nothing"), &o, &ds), KNN_ERR_FORMAT);
    CHECK(strstr(knn_last_error(), "hold no files") != NULL);
}

/* Copies file a to b, changing byte `at` by `delta` (0: unchanged) and keeping `keep` bytes
 * (0: all). */
static void copy_altered(const char *a, const char *b, long at, int delta, long keep)
{
    FILE *in = fopen(a, "rb"), *out = fopen(b, "wb");
    CHECK(in && out);
    long i = 0;
    for (int c; in && out && (c = fgetc(in)) != EOF && (!keep || i < keep); i++)
        fputc(i == at ? (c + delta) & 255 : c, out);
    if (in)
        fclose(in);
    if (out)
        fclose(out);
}

static void model_round_trip_and_damaged_files(void)
{
    mkdirs("m/a");
    mkdirs("m/b");
    write_image("m/a/1.png", 12, 12, 3, 10, 20, 30, false);
    write_image("m/a/2.png", 12, 12, 3, 12, 22, 33, false);
    write_image("m/b/3.png", 12, 12, 3, 200, 150, 100, false);
    knn_load_options o = {0};
    o.width = o.height = 4;
    o.crop = 1;
    knn_dataset *ds = NULL, *back = NULL;
    CHECK_EQ(knn_dataset_load(in_dir("m"), &o, &ds), KNN_OK);
    if (!ds)
        return;
    knn_params p = knn_params_default();
    p.k = 2;
    p.metric = KNN_L1;
    p.ties = KNN_TIES_SMALLEST_LABEL;
    const char *model = in_dir("m.knn");
    CHECK_EQ(knn_model_save(ds, &p, model), KNN_OK);
    CHECK_EQ(knn_dataset_load(model, NULL, &back), KNN_OK);
    if (back) {
        knn_params q = knn_params_default();
        CHECK_EQ(knn_model_params(back, &q), 1);
        CHECK(q.k == 2 && q.metric == KNN_L1 && q.ties == KNN_TIES_SMALLEST_LABEL);
        CHECK_EQ(knn_model_params(ds, &q), 0);
        CHECK(knn_dataset_count(back) == 3 && knn_dataset_num_classes(back) == 2);
        CHECK(!memcmp(knn_dataset_row(back, 2), knn_dataset_row(ds, 2), 48));
        CHECK(knn_dataset_label(back, 2) == 1 && !strcmp(knn_dataset_class_name(back, 1), "b"));
        CHECK(!strcmp(knn_dataset_path(back, 0), knn_dataset_path(ds, 0)));
        CHECK(back->crop == 1 && knn_dataset_width(back) == 4);
        CHECK(((uintptr_t)knn_dataset_row(back, 1) & 63) == 0);
        /* predictions from the model equal those from the data set */
        knn_neighbors *n1 = NULL, *n2 = NULL;
        CHECK_EQ(knn_search(ds, ds, &p, &n1), KNN_OK);
        CHECK_EQ(knn_search(back, ds, &p, &n2), KNN_OK);
        for (size_t i = 0; n1 && n2 && i < 3; i++)
            for (int j = 0; j < 2; j++)
                CHECK_EQ(knn_neighbors_index(n1, i, j), knn_neighbors_index(n2, i, j));
        knn_neighbors_free(n1);
        knn_neighbors_free(n2);
    }
    knn_dataset_free(back);
    /* damaged copies */
    copy_altered(model, in_dir("flip.knn"), 300, 1, 0);
    CHECK_EQ(knn_dataset_load(in_dir("flip.knn"), NULL, &back), KNN_ERR_FORMAT);
    CHECK(strstr(knn_last_error(), "checksum mismatch") != NULL);
    copy_altered(model, in_dir("short.knn"), -1, 0, 400);
    CHECK_EQ(knn_dataset_load(in_dir("short.knn"), NULL, &back), KNN_ERR_FORMAT);
    CHECK(strstr(knn_last_error(), "truncated") != NULL);
    copy_altered(model, in_dir("future.knn"), 8, 1, 0); /* version 1 -> 2 */
    CHECK_EQ(knn_dataset_load(in_dir("future.knn"), NULL, &back), KNN_ERR_FORMAT);
    CHECK(strstr(knn_last_error(), "version 2 is newer") != NULL);
    copy_altered(model, in_dir("tiny.knn"), -1, 0, 20);
    CHECK_EQ(knn_dataset_load(in_dir("tiny.knn"), NULL, &back), KNN_ERR_FORMAT);
    CHECK(back == NULL);
    knn_dataset_free(ds);
}

const test_case image_tests[] = {
    {"model_round_trip_and_damaged_files", model_round_trip_and_damaged_files},
    {"image_folder_loads_classes_in_order_and_skips_bad_files",
     image_folder_loads_classes_in_order_and_skips_bad_files},
    {"image_crop_keeps_the_middle", image_crop_keeps_the_middle},
    {"image_folders_two_levels_and_splits", image_folders_two_levels_and_splits},
    {NULL, NULL}};
