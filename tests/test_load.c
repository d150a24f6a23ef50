/* test_load.c: the loaders on small IDX and CIFAR files that the test writes itself, raw and
 * gzip, and every kind of bad file: each must fail with a clear status and message. */
#include "check.h"
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

static char *path_in(const char *sub, const char *name)
{
    static char buf[8][512];
    static int next;
    char *p = buf[next++ % 8];
    snprintf(p, 512, "%s/%s%s%s", test_dir(), sub, *sub ? "/" : "", name);
    return p;
}

static void make_dir(const char *sub)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", test_dir(), sub);
    mkdir(p, 0755);
}

static void write_bytes(const char *path, const uint8_t *data, size_t n)
{
    size_t len = strlen(path);
    if (len > 3 && !strcmp(path + len - 3, ".gz")) {
        gzFile gz = gzopen(path, "wb");
        CHECK(gz && gzwrite(gz, data, (unsigned)n) == (int)n);
        gzclose(gz);
    } else {
        FILE *f = fopen(path, "wb");
        CHECK(f && fwrite(data, 1, n, f) == n);
        if (f)
            fclose(f);
    }
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint8_t pixel_value(size_t i, size_t d) { return (uint8_t)(i * 31 + d * 7); }

/* An IDX images file of n images of h x w, pixel (i, d) = pixel_value(i, d). */
static void write_idx_images(const char *path, uint32_t n, uint32_t h, uint32_t w)
{
    size_t dim = (size_t)h * w, size = 16 + n * dim;
    uint8_t *buf = malloc(size);
    put_be32(buf, 0x0803);
    put_be32(buf + 4, n);
    put_be32(buf + 8, h);
    put_be32(buf + 12, w);
    for (size_t i = 0; i < n; i++)
        for (size_t d = 0; d < dim; d++)
            buf[16 + i * dim + d] = pixel_value(i, d);
    write_bytes(path, buf, size);
    free(buf);
}

/* An IDX labels file: label i = (i * 3 + 1) % classes, with an optional bad one at `bad`. */
static void write_idx_labels(const char *path, uint32_t n, int classes, long bad_at, int bad)
{
    uint8_t *buf = malloc(8 + n);
    put_be32(buf, 0x0801);
    put_be32(buf + 4, n);
    for (uint32_t i = 0; i < n; i++)
        buf[8 + i] = (uint8_t)(i == bad_at ? bad : (int)((i * 3 + 1) % (uint32_t)classes));
    write_bytes(path, buf, 8 + n);
    free(buf);
}

static knn_status load(const char *spec, knn_dataset **ds)
{
    return knn_dataset_load(spec, NULL, ds);
}

static void check_idx_content(const knn_dataset *ds, size_t n, int h, int w)
{
    CHECK_EQ(knn_dataset_count(ds), n);
    CHECK_EQ(knn_dataset_height(ds), h);
    CHECK_EQ(knn_dataset_width(ds), w);
    CHECK_EQ(knn_dataset_channels(ds), 1);
    CHECK_EQ(knn_dataset_dim(ds), (size_t)(h * w));
    for (size_t i = 0; i < n; i++) {
        const uint8_t *row = knn_dataset_row(ds, i);
        CHECK(((uintptr_t)row & 63) == 0);
        for (size_t d = 0; d < (size_t)(h * w); d++)
            if (row[d] != pixel_value(i, d)) {
                CHECK_EQ(row[d], pixel_value(i, d));
                return;
            }
        for (size_t d = (size_t)(h * w); d < ds->stride; d++)
            CHECK_EQ(row[d], 0);
        CHECK_EQ(knn_dataset_label(ds, i), (int32_t)((i * 3 + 1) % 4));
    }
}

static void load_idx_raw_and_gzip(void)
{
    make_dir("raw");
    make_dir("gz");
    write_idx_images(path_in("raw", "train-images-idx3-ubyte"), 7, 4, 5);
    write_idx_labels(path_in("raw", "train-labels-idx1-ubyte"), 7, 4, -1, 0);
    write_idx_images(path_in("gz", "train-images-idx3-ubyte.gz"), 7, 4, 5);
    write_idx_labels(path_in("gz", "train-labels-idx1-ubyte.gz"), 7, 4, -1, 0);
    knn_dataset *a = NULL, *b = NULL;
    CHECK_EQ(load(path_in("raw", "train-images-idx3-ubyte"), &a), KNN_OK);
    CHECK_EQ(load(path_in("gz", "train-images-idx3-ubyte.gz"), &b), KNN_OK);
    if (a && b) {
        check_idx_content(a, 7, 4, 5);
        check_idx_content(b, 7, 4, 5);
        CHECK_EQ(knn_dataset_num_classes(a), 4); /* max label + 1 */
        CHECK(knn_dataset_class_name(a, 0) == NULL);
    }
    knn_dataset_free(a);
    knn_dataset_free(b);
    /* the split of a folder; a raw images file with gzip labels beside it */
    write_idx_images(path_in("gz", "t10k-images-idx3-ubyte"), 3, 4, 5);
    write_idx_labels(path_in("gz", "t10k-labels-idx1-ubyte.gz"), 3, 4, -1, 0);
    char spec[600];
    snprintf(spec, sizeof spec, "%s:test", path_in("gz", ""));
    CHECK_EQ(load(spec, &a), KNN_OK);
    if (a)
        check_idx_content(a, 3, 4, 5);
    knn_dataset_free(a);
}

static void load_named_set_from_knn_data_with_class_names(void)
{
    make_dir("root");
    make_dir("root/fashion-mnist");
    write_idx_images(path_in("root/fashion-mnist", "train-images-idx3-ubyte.gz"), 9, 2, 3);
    write_idx_labels(path_in("root/fashion-mnist", "train-labels-idx1-ubyte.gz"), 9, 4, -1, 0);
    char env[600];
    snprintf(env, sizeof env, "/nonexistent:%s", path_in("root", ""));
    setenv("KNN_DATA", env, 1);
    knn_dataset *ds = NULL;
    CHECK_EQ(load("fashion-mnist:train", &ds), KNN_OK);
    if (ds) {
        check_idx_content(ds, 9, 2, 3);
        CHECK_EQ(knn_dataset_num_classes(ds), 10);
        CHECK(!strcmp(knn_dataset_class_name(ds, 0), "T-shirt/top"));
        CHECK(!strcmp(knn_dataset_class_name(ds, 9), "Ankle boot"));
    }
    knn_dataset_free(ds);
    knn_load_options o = {.limit = 4};
    CHECK_EQ(knn_dataset_load("fashion-mnist:train", &o, &ds), KNN_OK);
    if (ds)
        check_idx_content(ds, 4, 2, 3);
    knn_dataset_free(ds);
    CHECK_EQ(load("kmnist:test", &ds), KNN_ERR_IO); /* in none of the roots */
    CHECK(strstr(knn_last_error(), "not found") != NULL);
    CHECK_EQ(load("imagenet:train", &ds), KNN_ERR_ARG);
    CHECK(strstr(knn_last_error(), "not a known data set") != NULL);
    CHECK_EQ(load("fashion-mnist:val", &ds), KNN_ERR_ARG);
    CHECK(strstr(knn_last_error(), "unknown split 'val'") != NULL);
    CHECK_EQ(load(path_in("root", "fashion-mnist"), &ds), KNN_ERR_ARG);
    CHECK(strstr(knn_last_error(), "is a folder") != NULL);
    unsetenv("KNN_DATA");
}

/* A CIFAR batch of n records; record i has label labels[i] (and coarse label i % 20). */
static void write_cifar(const char *path, int variant, size_t n, const int *labels)
{
    size_t rec = 3072 + (variant == 100 ? 2 : 1);
    uint8_t *buf = malloc(n * rec);
    for (size_t i = 0; i < n; i++) {
        uint8_t *r = buf + i * rec;
        if (variant == 100)
            *r++ = (uint8_t)(i % 20);
        *r++ = (uint8_t)labels[i];
        for (size_t d = 0; d < 3072; d++)
            r[d] = pixel_value(i, d);
    }
    write_bytes(path, buf, n * rec);
    free(buf);
}

static void load_idx_float32_features(void)
{
    make_dir("f32");
    /* 3 rows of 2 x 2 big-endian floats: row i = {i, -0.5, 1e-3, 2.5e6} */
    uint8_t buf[16 + 3 * 16];
    put_be32(buf, 0x0D03);
    put_be32(buf + 4, 3);
    put_be32(buf + 8, 2);
    put_be32(buf + 12, 2);
    for (int i = 0; i < 3; i++) {
        const float v[4] = {(float)i, -0.5f, 1e-3f, 2.5e6f};
        for (int d = 0; d < 4; d++) {
            uint32_t bits;
            memcpy(&bits, &v[d], 4);
            put_be32(buf + 16 + 16 * i + 4 * d, bits);
        }
    }
    write_bytes(path_in("f32", "feat-images-idx3-ubyte.gz"), buf, sizeof buf);
    write_idx_labels(path_in("f32", "feat-labels-idx1-ubyte.gz"), 3, 4, -1, 0);
    knn_dataset *ds = NULL;
    CHECK_EQ(load(path_in("f32", "feat-images-idx3-ubyte.gz"), &ds), KNN_OK);
    if (!ds)
        return;
    CHECK_EQ(knn_dataset_dtype(ds), KNN_F32);
    CHECK_EQ(knn_dataset_dim(ds), 4);
    CHECK(knn_dataset_row(ds, 0) == NULL);
    const float *r = knn_dataset_row_f32(ds, 2);
    CHECK(r[0] == 2.0f && r[1] == -0.5f && r[2] == 1e-3f && r[3] == 2.5e6f);
    CHECK(r[4] == 0.0f && r[15] == 0.0f); /* zero padding up to 64 bytes */
    CHECK_EQ(knn_dataset_label(ds, 1), 0);
    knn_dataset_free(ds);
}

static void load_cifar10_batches_and_names(void)
{
    make_dir("c10");
    const int l1[3] = {0, 9, 4}, l2[2] = {7, 1}, lt[2] = {3, 3};
    write_cifar(path_in("c10", "data_batch_1.bin"), 10, 3, l1);
    write_cifar(path_in("c10", "data_batch_2.bin"), 10, 2, l2);
    write_cifar(path_in("c10", "test_batch.bin"), 10, 2, lt);
    static const char names[] =
        "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n";
    write_bytes(path_in("c10", "batches.meta.txt"), (const uint8_t *)names, sizeof names - 1);
    char spec[600];
    snprintf(spec, sizeof spec, "%s:train", path_in("c10", ""));
    knn_dataset *ds = NULL;
    CHECK_EQ(load(spec, &ds), KNN_OK);
    if (ds) {
        CHECK_EQ(knn_dataset_count(ds), 5);
        CHECK_EQ(knn_dataset_channels(ds), 3);
        CHECK_EQ(knn_dataset_height(ds), 32);
        CHECK_EQ(knn_dataset_num_classes(ds), 10);
        CHECK_EQ(knn_dataset_label(ds, 1), 9);
        CHECK_EQ(knn_dataset_label(ds, 3), 7); /* first record of the second batch */
        CHECK_EQ(knn_dataset_row(ds, 3)[100], pixel_value(0, 100));
        CHECK_EQ(knn_dataset_row(ds, 2)[3071], pixel_value(2, 3071));
        CHECK(!strcmp(knn_dataset_class_name(ds, 9), "truck"));
    }
    knn_dataset_free(ds);
    /* one batch as a file, told by its name; then a renamed copy, told by its size */
    CHECK_EQ(load(path_in("c10", "test_batch.bin"), &ds), KNN_OK);
    CHECK(ds && knn_dataset_count(ds) == 2 && knn_dataset_label(ds, 0) == 3);
    knn_dataset_free(ds);
    write_cifar(path_in("c10", "mine.bin"), 10, 2, lt);
    CHECK_EQ(load(path_in("c10", "mine.bin"), &ds), KNN_OK);
    CHECK(ds && knn_dataset_count(ds) == 2);
    knn_dataset_free(ds);
    knn_load_options o = {.limit = 4};
    CHECK_EQ(knn_dataset_load(spec, &o, &ds), KNN_OK);
    CHECK(ds && knn_dataset_count(ds) == 4 && knn_dataset_label(ds, 3) == 7);
    knn_dataset_free(ds);
    o.limit = 0;
    o.coarse_labels = 1;
    CHECK_EQ(knn_dataset_load(spec, &o, &ds), KNN_ERR_ARG);
}

static void load_cifar100_fine_and_coarse_labels(void)
{
    make_dir("c100");
    const int fine[4] = {99, 0, 50, 7};
    write_cifar(path_in("c100", "train.bin"), 100, 4, fine);
    char spec[600];
    snprintf(spec, sizeof spec, "%s:train", path_in("c100", ""));
    knn_dataset *ds = NULL;
    CHECK_EQ(load(spec, &ds), KNN_OK);
    CHECK(ds && knn_dataset_num_classes(ds) == 100 && knn_dataset_label(ds, 0) == 99 &&
          knn_dataset_label(ds, 2) == 50);
    CHECK(ds && knn_dataset_row(ds, 1)[5] == pixel_value(1, 5));
    knn_dataset_free(ds);
    knn_load_options o = {.coarse_labels = 1};
    CHECK_EQ(knn_dataset_load(spec, &o, &ds), KNN_OK);
    CHECK(ds && knn_dataset_num_classes(ds) == 20 && knn_dataset_label(ds, 3) == 3);
    knn_dataset_free(ds);
}

/* Expects `spec` to fail with `status` and a message holding `words`. */
static void expect_failure(const char *spec, const knn_load_options *o, knn_status status,
                           const char *words)
{
    knn_dataset *ds = (knn_dataset *)1;
    knn_status st = knn_dataset_load(spec, o, &ds);
    if (st != status || ds != NULL || !strstr(knn_last_error(), words)) {
        fprintf(stderr, "    %s: status %d (want %d), message '%s' (want '%s')\n", spec, st,
                status, knn_last_error(), words);
        CHECK(!"the expected failure");
    }
    if (st == KNN_OK)
        knn_dataset_free(ds);
}

static void load_rejects_bad_files_with_clear_errors(void)
{
    make_dir("bad");
    char *p;
    expect_failure(path_in("bad", "missing-images-idx3-ubyte"), NULL, KNN_ERR_IO,
                   "No such file");
    write_bytes(p = path_in("bad", "empty-images-idx3-ubyte"), (const uint8_t *)"", 0);
    expect_failure(p, NULL, KNN_ERR_FORMAT, "empty");

    /* truncated: the header promises 10 images, the file holds 9.5 */
    write_idx_images(p = path_in("bad", "trunc-images-idx3-ubyte"), 10, 4, 4);
    write_idx_labels(path_in("bad", "trunc-labels-idx1-ubyte"), 10, 4, -1, 0);
    CHECK(truncate(p, 16 + 9 * 16 + 8) == 0);
    expect_failure(p, NULL, KNN_ERR_FORMAT, "truncated");
    {
        FILE *f = fopen(p, "rb");
        uint8_t buf[200];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        write_bytes(path_in("bad", "tgz-images-idx3-ubyte.gz"), buf, n);
        write_idx_labels(path_in("bad", "tgz-labels-idx1-ubyte.gz"), 10, 4, -1, 0);
        expect_failure(path_in("bad", "tgz-images-idx3-ubyte.gz"), NULL, KNN_ERR_FORMAT,
                       "truncated");
    }

    /* a gzip file cut in the middle of its compressed stream */
    write_idx_images(p = path_in("bad", "cut-images-idx3-ubyte.gz"), 50, 28, 28);
    write_idx_labels(path_in("bad", "cut-labels-idx1-ubyte.gz"), 50, 4, -1, 0);
    CHECK(truncate(p, 300) == 0);
    expect_failure(p, NULL, KNN_ERR_FORMAT, "cut-images");

    /* corrupt gzip: a valid gzip header followed by garbage */
    {
        uint8_t junk[64] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
        for (int i = 10; i < 64; i++)
            junk[i] = (uint8_t)(i * 37);
        write_bytes(p = path_in("bad", "junk-images-idx3-ubyte"), junk, sizeof junk);
        expect_failure(p, NULL, KNN_ERR_FORMAT, "gzip");
    }

    /* wrong magic: neither IDX nor a whole number of CIFAR records (nor text: a NUL) */
    write_bytes(p = path_in("bad", "binary.bin"), (const uint8_t *)"\x81\x92\0\xfe\x07\x10\0\x99\xa0\0\x01\x02\x03", 13);
    expect_failure(p, NULL, KNN_ERR_FORMAT, "not an IDX file");
    /* text without labels, where labels are needed */
    write_bytes(p = path_in("bad", "text.bin"), (const uint8_t *)"hello, world\n", 13);
    expect_failure(p, NULL, KNN_ERR_FORMAT, "no labels: line 1 has no tab");

    /* int16 IDX: a type knn does not read */
    {
        uint8_t h[16 + 4] = {0, 0, 0x0B, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1};
        write_bytes(p = path_in("bad", "short-images-idx3-ubyte"), h, sizeof h);
        expect_failure(p, NULL, KNN_ERR_FORMAT, "int16");
    }
    /* float32 IDX holding a NaN */
    {
        uint8_t h[16 + 8] = {0, 0, 0x0D, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1,
                             0x3f, 0x80, 0, 0, 0x7f, 0xc0, 0, 0};
        write_bytes(p = path_in("bad", "nan-images-idx3-ubyte"), h, sizeof h);
        write_idx_labels(path_in("bad", "nan-labels-idx1-ubyte"), 1, 2, -1, 0);
        expect_failure(p, NULL, KNN_ERR_FORMAT, "not a finite number");
    }

    /* absurd dimensions: 2^31 images of 2^31 x 2^31 */
    {
        uint8_t h[16] = {0, 0, 8, 3};
        put_be32(h + 4, 0x80000000u);
        put_be32(h + 8, 0x80000000u);
        put_be32(h + 12, 0x80000000u);
        write_bytes(p = path_in("bad", "huge-images-idx3-ubyte"), h, sizeof h);
        expect_failure(p, NULL, KNN_ERR_LIMIT, "values");
        /* 2^31 - 1 images of 28 x 28 in a 16-byte file: refused before allocating */
        put_be32(h + 4, 0x7fffffffu);
        put_be32(h + 8, 28);
        put_be32(h + 12, 28);
        write_bytes(p = path_in("bad", "many-images-idx3-ubyte"), h, sizeof h);
        expect_failure(p, NULL, KNN_ERR_FORMAT, "truncated");
    }

    /* labels: missing, wrong count, out of range for a known data set */
    write_idx_images(p = path_in("bad", "nolab-images-idx3-ubyte"), 3, 2, 2);
    expect_failure(p, NULL, KNN_ERR_IO, "no labels file");
    knn_load_options optional = {.labels_optional = 1};
    knn_dataset *ds = NULL;
    CHECK_EQ(knn_dataset_load(p, &optional, &ds), KNN_OK);
    CHECK(ds && !knn_dataset_has_labels(ds) && knn_dataset_label(ds, 0) == -1);
    knn_dataset_free(ds);
    write_idx_images(p = path_in("bad", "count-images-idx3-ubyte"), 5, 2, 2);
    write_idx_labels(path_in("bad", "count-labels-idx1-ubyte"), 4, 4, -1, 0);
    expect_failure(p, NULL, KNN_ERR_FORMAT, "4 labels for 5 images");
    make_dir("bad/fashion");
    write_idx_images(p = path_in("bad/fashion", "train-images-idx3-ubyte"), 5, 2, 2);
    write_idx_labels(path_in("bad/fashion", "train-labels-idx1-ubyte"), 5, 4, 2, 10);
    expect_failure(p, NULL, KNN_ERR_FORMAT, "label 10 of image 2");
    write_idx_images(p = path_in("bad", "lab-images-idx3-ubyte"), 2, 2, 2);
    write_idx_images(path_in("bad", "lab-labels-idx1-ubyte"), 2, 2, 2); /* images, not labels */
    expect_failure(p, NULL, KNN_ERR_FORMAT, "1 dimension");
    expect_failure(path_in("bad", "trunc-labels-idx1-ubyte"), NULL, KNN_ERR_FORMAT,
                   "holds labels, not images");

    /* CIFAR: a label out of range; a batch cut short */
    const int labels[2] = {3, 10};
    write_cifar(p = path_in("bad", "data_batch_1.bin"), 10, 2, labels);
    expect_failure(p, NULL, KNN_ERR_FORMAT, "label 10 of record 1");
    const int ok[2] = {3, 4};
    write_cifar(p = path_in("bad", "test_batch.bin"), 10, 2, ok);
    CHECK(truncate(p, 3073 + 100) == 0);
    expect_failure(p, NULL, KNN_ERR_FORMAT, "not a whole number");
    expect_failure("", NULL, KNN_ERR_ARG, "empty");
    /* requests beyond the memory available are refused before allocating */
    CHECK(!knn__memory_fits(SIZE_MAX / 2));
    CHECK(knn__memory_fits(1 << 20));
}

const test_case load_tests[] = {
    {"load_idx_raw_and_gzip", load_idx_raw_and_gzip},
    {"load_named_set_from_knn_data_with_class_names",
     load_named_set_from_knn_data_with_class_names},
    {"load_idx_float32_features", load_idx_float32_features},
    {"load_cifar10_batches_and_names", load_cifar10_batches_and_names},
    {"load_cifar100_fine_and_coarse_labels", load_cifar100_fine_and_coarse_labels},
    {"load_rejects_bad_files_with_clear_errors", load_rejects_bad_files_with_clear_errors},
    {NULL, NULL}};
