/* test_images.c: image folders written here with stb_image_write (PNG and JPEG, gray and RGB,
 * odd sizes, a corrupt file, a file that is no image, an empty class folder), loaded,
 * converted and checked. */
#include "check.h"
#include "internal.h"
#include "io.h"

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
    /* an empty folder is no class (a class is a folder holding images), and is reported */
    CHECK_EQ(knn_dataset_num_classes(ds), 2);
    CHECK(!strcmp(knn_dataset_class_name(ds, 0), "cat"));
    CHECK(!strcmp(knn_dataset_class_name(ds, 1), "dog"));
    CHECK(knn_dataset_label(ds, 0) == 0 && knn_dataset_label(ds, 1) == 0 &&
          knn_dataset_label(ds, 2) == 1);
    CHECK(knn_dataset_width(ds) == 8 && knn_dataset_height(ds) == 6 &&
          knn_dataset_channels(ds) == 3 && knn_dataset_dim(ds) == 144);
    CHECK(strstr(knn_dataset_path(ds, 1), "pets/cat/b.jpg") != NULL);
    CHECK_EQ(knn_dataset_skipped(ds), 4);
    CHECK(strstr(knn_dataset_skipped_reason(ds, 3), "pets/empty: an empty folder, no class"));
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
    CHECK(strstr(knn_last_error(), "no class folders") != NULL);
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
    CHECK_EQ(write_model(ds, &p, model), KNN_OK);
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
    copy_altered(model, in_dir("future.knn"), 8, 4, 0); /* version 1 -> 5 */
    CHECK_EQ(knn_dataset_load(in_dir("future.knn"), NULL, &back), KNN_ERR_FORMAT);
    CHECK(strstr(knn_last_error(), "version 5 is newer") != NULL);
    copy_altered(model, in_dir("tiny.knn"), -1, 0, 20);
    CHECK_EQ(knn_dataset_load(in_dir("tiny.knn"), NULL, &back), KNN_ERR_FORMAT);
    CHECK(back == NULL);
    knn_dataset_free(ds);
}

/* knn_model_write_folder: the bytes of knn_dataset_load then knn_model_write, the model it
 * gives back mapped and whole (with the load's skipped images); what it refuses. The
 * command-line tests cover batches, limits and splits (test_folders.py). */
static void folder_model_written_as_decoded_equals_loaded(void)
{
    mkdirs("w/a");
    mkdirs("w/b");
    write_image("w/a/1.png", 12, 9, 3, 10, 20, 30, false);
    write_image("w/a/2.jpg", 30, 20, 3, 12, 22, 33, true);
    write_image("w/b/3.png", 7, 12, 1, 200, 150, 100, false);
    write_text("w/b/4.png", "\x89PNG\r\n\x1a\n not the rest");
    knn_load_options o = {0};
    o.width = 5;
    o.height = 3;
    knn_params p = knn_params_default();
    p.k = 2;
    p.weights = KNN_WEIGHTS_DISTANCE;
    knn_dataset *ds = NULL, *written = NULL;
    CHECK_EQ(knn_model_streams(in_dir("w"), &o), 1);
    CHECK_EQ(knn_dataset_load(in_dir("w"), &o, &ds), KNN_OK);
    CHECK_EQ(write_model(ds, &p, in_dir("w-loaded.knn")), KNN_OK);
    FILE *f = fopen(in_dir("w-streamed.knn"), "w+b");
    CHECK_EQ(knn_model_write_folder(in_dir("w"), &o, &p, f, &written), KNN_OK);
    CHECK(f && fclose(f) == 0);
    uint8_t *a = NULL, *b = NULL;
    size_t n1 = 0, n2 = 0;
    CHECK_EQ(knn__read_whole(in_dir("w-loaded.knn"), SIZE_MAX, "a model", &a, &n1), KNN_OK);
    CHECK_EQ(knn__read_whole(in_dir("w-streamed.knn"), SIZE_MAX, "a model", &b, &n2), KNN_OK);
    CHECK(a && b && n1 == n2 && !memcmp(a, b, n1));
    free(a);
    free(b);
    if (written && ds) { /* usable after its file is closed: a mapping */
        knn_params q = knn_params_default();
        CHECK_EQ(knn_model_params(written, &q), 1);
        CHECK(q.k == 2 && q.weights == KNN_WEIGHTS_DISTANCE);
        CHECK(knn_dataset_count(written) == 3 && knn_dataset_skipped(written) == 1);
        CHECK(strstr(knn_dataset_skipped_reason(written, 0), "w/b/4.png") != NULL);
        CHECK(!memcmp(knn_dataset_row(written, 1), knn_dataset_row(ds, 1), 45));
        CHECK(knn_dataset_label(written, 2) == 1);
        knn_neighbors *nb = NULL;
        CHECK_EQ(knn_search(written, ds, &p, &nb), KNN_OK);
        knn_neighbors_free(nb);
    }
    knn_dataset_free(written);
    knn_dataset_free(ds);
    written = NULL;
    /* refused: a write-only or non-empty file, cosine on uint8 rows, what is no image folder */
    f = fopen(in_dir("w-wo.knn"), "wb");
    CHECK_EQ(knn_model_write_folder(in_dir("w"), &o, &p, f, &written), KNN_ERR_ARG);
    CHECK(strstr(knn_last_error(), "open for reading and writing") != NULL);
    CHECK(f && fputs("x", f) >= 0 && fclose(f) == 0);
    f = fopen(in_dir("w-wo.knn"), "r+b");
    CHECK_EQ(knn_model_write_folder(in_dir("w"), &o, &p, f, &written), KNN_ERR_ARG);
    p.metric = KNN_COSINE;
    CHECK_EQ(knn_model_write_folder(in_dir("w"), &o, &p, f, &written), KNN_ERR_ARG);
    CHECK(strstr(knn_last_error(), "cosine is for float32") != NULL);
    p.metric = KNN_L2;
    CHECK_EQ(knn_model_streams(in_dir("w-loaded.knn"), &o), 0);
    CHECK_EQ(knn_model_write_folder(in_dir("w-loaded.knn"), &o, &p, f, &written), KNN_ERR_ARG);
    o.labels_file = in_dir("labels.csv");
    CHECK_EQ(knn_model_streams(in_dir("w"), &o), 0);
    CHECK(written == NULL);
    if (f)
        fclose(f);
}

static void image_at_the_target_size_is_copied_not_filtered(void)
{
    mkdirs("exact/a");
    unsigned char px[4 * 6 * 3];
    for (int i = 0; i < (int)sizeof px; i++)
        px[i] = (unsigned char)(i * 37 + 11);
    CHECK(stbi_write_png(in_dir("exact/a/x.png"), 6, 4, 3, px, 6 * 3));
    knn_load_options o = {0};
    o.width = 6;
    o.height = 4;
    o.channels = 3;
    o.crop = 1;
    knn_dataset *ds = NULL;
    CHECK_EQ(knn_dataset_load(in_dir("exact"), &o, &ds), KNN_OK);
    for (int c = 0; ds && c < 3; c++) /* planes of the very pixels: no resampling blur */
        for (int p = 0; p < 24; p++)
            CHECK_EQ(knn_dataset_row(ds, 0)[c * 24 + p], px[p * 3 + c]);
    knn_dataset_free(ds);
}

static void image_folder_classes_at_any_depth_places_layout(void)
{
    /* Places: a/abbey holds images, a/apartment_building holds only the folder outdoor */
    mkdirs("places/a/abbey");
    mkdirs("places/a/apartment_building/outdoor");
    mkdirs("places/b/bamboo_forest");
    mkdirs("places/b/empty");
    write_image("places/a/abbey/1.png", 8, 8, 3, 10, 10, 10, false);
    write_image("places/a/apartment_building/outdoor/1.png", 8, 8, 3, 90, 90, 90, false);
    write_image("places/a/apartment_building/outdoor/2.png", 8, 8, 3, 95, 90, 90, false);
    write_image("places/b/bamboo_forest/1.png", 8, 8, 3, 200, 10, 10, false);
    write_text("places/stray.txt", "not in a class");
    knn_load_options o = {0};
    o.width = o.height = 8;
    knn_dataset *ds = NULL;
    CHECK_EQ(knn_dataset_load(in_dir("places"), &o, &ds), KNN_OK);
    if (!ds)
        return;
    CHECK_EQ(knn_dataset_num_classes(ds), 3);
    CHECK(!strcmp(knn_dataset_class_name(ds, 0), "a/abbey"));
    CHECK(!strcmp(knn_dataset_class_name(ds, 1), "a/apartment_building/outdoor"));
    CHECK(!strcmp(knn_dataset_class_name(ds, 2), "b/bamboo_forest"));
    CHECK_EQ(knn_dataset_count(ds), 4);
    CHECK(knn_dataset_label(ds, 2) == 1 && knn_dataset_label(ds, 3) == 2);
    /* nothing left out without a word: the stray file and the empty folder */
    CHECK_EQ(knn_dataset_skipped(ds), 2);
    CHECK(strstr(knn_dataset_skipped_reason(ds, 0), "places: 1 file(s) in no class folder"));
    CHECK(strstr(knn_dataset_skipped_reason(ds, 1), "places/b/empty: an empty folder"));

    /* a test folder lacking a class, and with one TRAIN lacks: matched by name */
    mkdirs("ptest/b/bamboo_forest");
    mkdirs("ptest/a/abbey");
    mkdirs("ptest/c/canyon");
    write_image("ptest/b/bamboo_forest/1.png", 8, 8, 3, 200, 10, 10, false);
    write_image("ptest/a/abbey/1.png", 8, 8, 3, 10, 10, 10, false);
    write_image("ptest/c/canyon/1.png", 8, 8, 3, 10, 10, 10, false);
    knn_dataset *test = NULL;
    CHECK_EQ(knn_dataset_load(in_dir("ptest"), &o, &test), KNN_OK);
    if (test) {
        CHECK_EQ(knn_dataset_match_classes(test, ds, 0), KNN_ERR_FORMAT);
        CHECK(strstr(knn_last_error(), "1 of its 3 classes are not classes of") &&
              strstr(knn_last_error(), "'c/canyon'"));
        CHECK_EQ(knn_dataset_match_classes(test, ds, 1), KNN_OK);
        CHECK_EQ(knn_dataset_num_classes(test), 3);
        /* test order: a/abbey, b/bamboo_forest, c/canyon -> train labels 0, 2, unknown */
        CHECK(knn_dataset_label(test, 0) == 0 && knn_dataset_label(test, 1) == 2 &&
              knn_dataset_label(test, 2) == -1);
        CHECK(!strcmp(knn_dataset_class_name(test, 1), "a/apartment_building/outdoor"));
    }
    knn_dataset_free(test);
    knn_dataset_free(ds);
}

static void flat_folder_with_a_labels_csv_or_imagenet_solution(void)
{
    mkdirs("val");
    write_image("val/ILSVRC2012_val_00000001.JPEG", 8, 8, 3, 10, 10, 10, false);
    write_image("val/ILSVRC2012_val_00000002.JPEG", 8, 8, 3, 200, 10, 10, false);
    write_image("val/ILSVRC2012_val_00000003.JPEG", 8, 8, 3, 200, 10, 10, false);
    write_text("loc.csv", "ImageId,PredictionString\n"
                          "ILSVRC2012_val_00000002,n01751748 10 20 30 40 n01751748 1 2 3 4\n"
                          "ILSVRC2012_val_00000001,n01440764 0 0 5 5\n"
                          "ILSVRC2012_val_00000099,n01440764 0 0 5 5\n");
    knn_load_options o = {0};
    o.width = o.height = 8;
    char loc[600];
    snprintf(loc, sizeof loc, "%s", in_dir("loc.csv"));
    o.labels_file = loc;
    knn_dataset *ds = NULL;
    CHECK_EQ(knn_dataset_load(in_dir("val"), &o, &ds), KNN_OK);
    if (ds) {
        CHECK_EQ(knn_dataset_count(ds), 2);
        CHECK_EQ(knn_dataset_num_classes(ds), 2);
        CHECK(!strcmp(knn_dataset_class_name(ds, 0), "n01440764"));
        CHECK(knn_dataset_label(ds, 0) == 0 && knn_dataset_label(ds, 1) == 1);
        /* the image without a label, and the label without an image, are named */
        CHECK_EQ(knn_dataset_skipped(ds), 2);
        CHECK(strstr(knn_dataset_skipped_reason(ds, 0), "val_00000003.JPEG: no label in"));
        CHECK(strstr(knn_dataset_skipped_reason(ds, 1), "1 label(s) name no image") &&
              strstr(knn_dataset_skipped_reason(ds, 1), "val_00000099.JPEG"));
    }
    knn_dataset_free(ds);
    /* a plain file,class CSV with a header line */
    write_text("plain.csv", "file,class\nILSVRC2012_val_00000003.JPEG,red\n"
                            "ILSVRC2012_val_00000001.JPEG,dark\n");
    snprintf(loc, sizeof loc, "%s", in_dir("plain.csv"));
    CHECK_EQ(knn_dataset_load(in_dir("val"), &o, &ds), KNN_OK);
    if (ds) {
        CHECK_EQ(knn_dataset_count(ds), 2);
        CHECK(!strcmp(knn_dataset_class_name(ds, 1), "red") && knn_dataset_label(ds, 1) == 1);
        CHECK_EQ(knn_dataset_skipped(ds), 1); /* image 2; the header is no orphan label */
    }
    knn_dataset_free(ds);
    write_text("bad.csv", "just one field\n");
    snprintf(loc, sizeof loc, "%s", in_dir("bad.csv"));
    CHECK_EQ(knn_dataset_load(in_dir("val"), &o, &ds), KNN_ERR_FORMAT);
    CHECK(strstr(knn_last_error(), "bad.csv: line 1: expected file,class"));
}

static void folder_list_gives_sorted_paths_without_hidden_entries(void)
{
    mkdirs("listing/b_folder");
    mkdirs("listing/a_folder");
    write_text("listing/z.txt", "z");
    write_text("listing/c.png", "c");
    write_text("listing/.hidden", "h");
    char **paths = NULL;
    size_t n = 0;
    CHECK_EQ(knn_folder_list(in_dir("listing"), 0, &paths, &n), KNN_OK);
    CHECK_EQ(n, 2);
    if (n == 2)
        CHECK(strstr(paths[0], "listing/c.png") && strstr(paths[1], "listing/z.txt"));
    knn_paths_free(paths, n);
    CHECK_EQ(knn_folder_list(in_dir("listing"), 1, &paths, &n), KNN_OK);
    CHECK(n == 2 && strstr(paths[0], "listing/a_folder") && strstr(paths[1], "listing/b_folder"));
    knn_paths_free(paths, n);
    CHECK_EQ(knn_folder_list(in_dir("listing/none"), 0, &paths, &n), KNN_ERR_IO);
    CHECK(paths == NULL && n == 0);
}

const test_case image_tests[] = {
    {"folder_list_gives_sorted_paths_without_hidden_entries",
     folder_list_gives_sorted_paths_without_hidden_entries},
    {"image_at_the_target_size_is_copied_not_filtered",
     image_at_the_target_size_is_copied_not_filtered},
    {"image_folder_classes_at_any_depth_places_layout",
     image_folder_classes_at_any_depth_places_layout},
    {"flat_folder_with_a_labels_csv_or_imagenet_solution",
     flat_folder_with_a_labels_csv_or_imagenet_solution},
    {"model_round_trip_and_damaged_files", model_round_trip_and_damaged_files},
    {"folder_model_written_as_decoded_equals_loaded",
     folder_model_written_as_decoded_equals_loaded},
    {"image_folder_loads_classes_in_order_and_skips_bad_files",
     image_folder_loads_classes_in_order_and_skips_bad_files},
    {"image_crop_keeps_the_middle", image_crop_keeps_the_middle},
    {"image_folders_two_levels_and_splits", image_folders_two_levels_and_splits},
    {NULL, NULL}};
