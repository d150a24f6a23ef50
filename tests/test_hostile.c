/* test_hostile.c: the library against inputs made to hurt it (DESIGN.md decision 11): the
 * crafted images kept in fuzz/corpus/image (refused by their first bytes or by their
 * header's dimensions, quickly), devices and FIFOs where files are expected (refused without
 * blocking), gzip files whose header and trailer lie (refused before allocating), concatenated
 * gzip members (read), a model file changed after it was loaded (a private copy is immune; a
 * mapped one is caught by the vote), and a confusion matrix too large to keep. */
#include "check.h"
#include "io.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

static char *temp_path(const char *name)
{
    static char buf[4][512];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, 512, "%s/%s", test_dir(), name);
    return p;
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(data, 1, n, f) == n);
    if (f)
        fclose(f);
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A one-row data set of 8 x 8 x `channels` to convert images like. */
static knn_dataset *image_like(int channels)
{
    uint8_t zeros[3 * 64] = {0};
    knn_dataset *like = NULL;
    CHECK_EQ(knn_dataset_create(1, 64 * (size_t)channels, zeros, NULL, 0, 8, 8, channels, &like),
             KNN_OK);
    return like;
}

/* Loads fuzz/corpus/image/NAME as a photo (run from the repository's root, as make does) and
 * expects it refused with `words` in the message, within a second. */
static void expect_image_refused(const char *name, const char *words)
{
    char path[256];
    snprintf(path, sizeof path, "fuzz/corpus/image/%s", name);
    CHECK(knn__is_file(path));
    knn_dataset *like = image_like(3), *q = NULL;
    const char *paths[1] = {path};
    double t = seconds_now();
    alarm(20); /* a regression to a hang fails the run instead of stalling it */
    knn_status st = knn_images_load(paths, 1, like, &q);
    alarm(0);
    double took = seconds_now() - t;
    CHECK_EQ(st, KNN_ERR_FORMAT);
    if (!strstr(knn_last_error(), words)) {
        fprintf(stderr, "    %s: '%s' lacks '%s'\n", name, knn_last_error(), words);
        CHECK(!"the expected message");
    }
    CHECK(took < 1.0);
    CHECK(q == NULL);
    knn_dataset_free(like);
}

static void images_undocumented_formats_are_refused_before_decoding(void)
{
    expect_image_refused("hang-hdr-rle-count-zero", "not a JPEG, PNG, BMP, GIF or PGM/PPM");
    expect_image_refused("crash-softimage-pic", "not a JPEG, PNG, BMP, GIF or PGM/PPM");
    CHECK(!knn_is_image_file("fuzz/corpus/image/hang-hdr-rle-count-zero"));
    CHECK(knn_is_image_file("fuzz/corpus/image/red.png"));
}

static void images_over_the_caps_are_refused_before_decoding(void)
{
    expect_image_refused("bmp-negative-height", "larger than the limit of 64 megapixels");
    expect_image_refused("png16-8192x8192", "needs 384 MiB to decode, more than the limit");
    expect_image_refused("hang-bmp-62-bytes-2x8323073",
                         "needs at least 66584638 bytes, the file has 62");
    /* found by a red-team review of these caps */
    expect_image_refused("hang-jpeg-200-scans-8192x8192", "a JPEG image of more than 64 scans");
    expect_image_refused("bomb-png-1x1-inflating-to-64mib", "cannot be decoded (outofmem)");
    expect_image_refused("gif-screen-8192x8192-frame-1x1", "needs 512 MiB to decode");
    expect_image_refused("pgm-width-of-10-digits", "a number of more than 9 digits");
    /* beyond stb's own bound: its reason, not the last format tried's ("unknown image type") */
    static const uint8_t png[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0N\x20\0\0N\x20\x08\x02\0\0\0";
    knn_dataset *like = image_like(3), *q = NULL;
    CHECK_EQ(knn_image_load_memory(png, sizeof png - 1, "big.png", like, &q), KNN_ERR_FORMAT);
    CHECK(strstr(knn_last_error(), "big.png: a PNG image whose header cannot be read (too large)"));
    knn_dataset_free(like);
}

static void images_compressed_well_are_not_taken_for_truncated(void)
{
    /* the file-size bound counts a PNG's real bits per pixel: palette indices, 1-bit gray */
    const char *names[2] = {"fuzz/corpus/image/png-palette-800x800",
                            "fuzz/corpus/image/png-1bit-800x800"};
    knn_dataset *like = image_like(3), *q = NULL;
    CHECK_EQ(knn_images_load(names, 2, like, &q), KNN_OK);
    if (q) { /* every pixel palette entry 1, blue (0, 0, 255) */
        CHECK_EQ(knn_dataset_row(q, 0)[128 + 10], 255);
        CHECK_EQ(knn_dataset_row(q, 0)[10], 0);
    }
    knn_dataset_free(q);
    knn_dataset_free(like);
}

static void images_of_16_bits_convert_between_channel_counts(void)
{
    /* stb's own conversion read past its buffer here (crash-pgm16-as-rgb) */
    static const uint8_t pgm[] = "P5\n1 1\n65535\n\xab\xcd";
    knn_dataset *rgb = image_like(3), *gray = image_like(1), *q3 = NULL, *q1 = NULL;
    CHECK_EQ(knn_image_load_memory(pgm, sizeof pgm - 1, "pgm16", rgb, &q3), KNN_OK);
    CHECK_EQ(knn_image_load_memory(pgm, sizeof pgm - 1, "pgm16", gray, &q1), KNN_OK);
    for (int c = 0; q1 && q3 && c < 3; c++) /* gray copied to red, green and blue */
        CHECK(!memcmp(knn_dataset_row(q3, 0) + c * 64, knn_dataset_row(q1, 0), 64));
    CHECK(q1 && knn_dataset_row(q1, 0)[17] != 0);
    knn_dataset_free(q1);
    knn_dataset_free(q3);
    knn_dataset_free(gray);
    knn_dataset_free(rgb);
}

static void image_from_memory_equals_image_from_file(void)
{
    const char *path = "fuzz/corpus/image/red.png";
    uint8_t *data;
    size_t size;
    CHECK_EQ(knn__read_whole(path, 1 << 20, "an image", &data, &size), KNN_OK);
    for (int channels = 1; channels <= 3; channels += 2) {
        knn_dataset *like = image_like(channels), *a = NULL, *b = NULL;
        const char *paths[1] = {path};
        CHECK_EQ(knn_images_load(paths, 1, like, &a), KNN_OK);
        CHECK_EQ(knn_image_load_memory(data, size, "upload", like, &b), KNN_OK);
        if (a && b)
            CHECK(!memcmp(knn_dataset_row(a, 0), knn_dataset_row(b, 0), 64 * (size_t)channels));
        knn_dataset_free(b);
        CHECK_EQ(knn_image_load_memory("GIF89a", 6, "upload", like, &b), KNN_ERR_FORMAT);
        CHECK(strstr(knn_last_error(), "upload: a GIF image of 0 x 0 pixels") != NULL);
        knn_dataset_free(a);
        knn_dataset_free(like);
    }
    free(data);
}

/* Loading `path` fails at once, with `words` in the message, without blocking. */
static void expect_load_refused(const char *spec, const char *words)
{
    knn_dataset *ds = NULL;
    alarm(20);
    knn_status st = knn_dataset_load(spec, NULL, &ds);
    alarm(0);
    CHECK(st != KNN_OK);
    CHECK(ds == NULL);
    if (!strstr(knn_last_error(), words)) {
        fprintf(stderr, "    %s: '%s' lacks '%s'\n", spec, knn_last_error(), words);
        CHECK(!"the expected message");
    }
}

static void devices_and_fifos_are_refused_without_blocking(void)
{
    char *fifo = temp_path("fifo-images-idx3-ubyte");
    CHECK(mkfifo(fifo, 0600) == 0);
    uint8_t *data;
    size_t size;
    CHECK_EQ(knn__read_whole(fifo, 100, "an image", &data, &size), KNN_ERR_IO);
    CHECK(strstr(knn_last_error(), "is a FIFO, not a regular file") != NULL);
    CHECK(!knn_is_image_file(fifo));
    CHECK(!knn_is_image_file("/dev/zero"));
    knn__file f;
    CHECK_EQ(knn__file_open(&f, "/dev/zero"), KNN_ERR_IO);
    CHECK(strstr(knn_last_error(), "/dev/zero: is a device, not a regular file") != NULL);
    CHECK_EQ(knn__file_open(&f, fifo), KNN_ERR_IO);
    expect_load_refused(fifo, "is a FIFO, not a regular file");
    expect_load_refused("/dev/zero", "/dev/zero: is a device, not a regular file");
    knn_dataset *like = image_like(1), *q = NULL;
    const char *paths[2] = {fifo, "/dev/zero"};
    CHECK_EQ(knn_images_load(paths, 2, like, &q), KNN_ERR_FORMAT);
    knn_dataset_free(like);
    unlink(fifo);

    /* CIFAR's class names beside the batches: a link to /dev/zero streamed zeros forever */
    char *batch = temp_path("data_batch_1.bin");
    uint8_t record[3073] = {3};
    write_file(batch, record, sizeof record);
    CHECK(symlink("/dev/zero", temp_path("batches.meta.txt")) == 0);
    expect_load_refused(batch, "batches.meta.txt: is a device, not a regular file");
    unlink(temp_path("batches.meta.txt"));
    unlink(batch);
}

/* A gzip file of `n` bytes of `data` in one member (or two, split at `split`), its trailer's
 * size field replaced by `isize` unless it is 0. */
static void write_gzip(const char *path, const uint8_t *data, size_t n, size_t split,
                       uint32_t isize)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    size_t parts[2][2] = {{0, split ? split : n}, {split, n}};
    for (int m = 0; f && m < (split ? 2 : 1); m++) {
        uLongf cap = compressBound(n) + 64;
        uint8_t *z = malloc(cap);
        z_stream s = {0};
        CHECK(deflateInit2(&s, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
        s.next_in = (Bytef *)(uintptr_t)(data + parts[m][0]);
        s.avail_in = (uInt)(parts[m][1] - parts[m][0]);
        s.next_out = z;
        s.avail_out = (uInt)cap;
        CHECK(deflate(&s, Z_FINISH) == Z_STREAM_END);
        size_t zn = cap - s.avail_out;
        deflateEnd(&s);
        if (isize)
            memcpy(z + zn - 4, &isize, 4); /* little-endian, as x86 stores it */
        CHECK(fwrite(z, 1, zn, f) == zn);
        free(z);
    }
    if (f)
        fclose(f);
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void gzip_sizes_come_from_the_data_not_the_trailer(void)
{
    /* 4 KB of data claiming 50 million 28 x 28 images, refused before anything is allocated:
     * its few dozen bytes of gzip cannot hold 39 GB (fuzz/corpus/idx/gzip-bomb-50m-rows has a
     * forged trailer too; the trailer is no longer read) */
    uint8_t head[16 + 4000] = {0};
    put_be32(head, 0x0803);
    put_be32(head + 4, 50000000);
    put_be32(head + 8, 28);
    put_be32(head + 12, 28);
    write_gzip(temp_path("bomb-images-idx3-ubyte.gz"), head, sizeof head, 0, 0);
    uint8_t labels_head[8] = {0, 0, 8, 1};
    put_be32(labels_head + 4, 50000000);
    write_gzip(temp_path("bomb-labels-idx1-ubyte.gz"), labels_head, 8, 0, 0);
    expect_load_refused(temp_path("bomb-images-idx3-ubyte.gz"), "gzip data can hold");

    /* concatenated members (as `cat a.gz b.gz` makes) read as one stream, as zcat does */
    enum { N = 6, D = 20 };
    uint8_t images[16 + N * D], labels[8 + N];
    put_be32(images, 0x0803), put_be32(images + 4, N), put_be32(images + 8, 4);
    put_be32(images + 12, 5);
    put_be32(labels, 0x0801), put_be32(labels + 4, N);
    for (int i = 0; i < N * D; i++)
        images[16 + i] = (uint8_t)(i * 7);
    for (int i = 0; i < N; i++)
        labels[8 + i] = (uint8_t)(i % 3);
    write_gzip(temp_path("multi-images-idx3-ubyte.gz"), images, sizeof images, 37, 0);
    write_gzip(temp_path("multi-labels-idx1-ubyte.gz"), labels, sizeof labels, 9, 0);
    knn_dataset *ds = NULL;
    CHECK_EQ(knn_dataset_load(temp_path("multi-images-idx3-ubyte.gz"), NULL, &ds), KNN_OK);
    if (ds) {
        CHECK_EQ(knn_dataset_count(ds), N);
        CHECK_EQ(knn_dataset_row(ds, 5)[19], (uint8_t)((5 * D + 19) * 7));
        CHECK_EQ(knn_dataset_label(ds, 5), 2);
    }
    knn_dataset_free(ds);

    /* a stream longer than its header says is refused, as a raw file's extra bytes are */
    uint8_t longer[sizeof images + 3] = {0};
    memcpy(longer, images, sizeof images);
    write_gzip(temp_path("long-images-idx3-ubyte.gz"), longer, sizeof longer, 0, 0);
    write_gzip(temp_path("long-labels-idx1-ubyte.gz"), labels, sizeof labels, 0, 0);
    expect_load_refused(temp_path("long-images-idx3-ubyte.gz"), "more data after");
}

/* A model of 4 rows x 12 values in 3 classes, saved to `name`; returns its path. */
static char *save_model(const char *name)
{
    uint8_t rows[4 * 12];
    for (int i = 0; i < 48; i++)
        rows[i] = (uint8_t)(i * 5);
    const int32_t labels[4] = {0, 1, 2, 1};
    knn_dataset *ds = NULL;
    CHECK_EQ(knn_dataset_create(4, 12, rows, labels, 3, 3, 4, 1, &ds), KNN_OK);
    knn_params p = knn_params_default();
    char *path = temp_path(name);
    CHECK_EQ(write_model(ds, &p, path), KNN_OK);
    knn_dataset_free(ds);
    return path;
}

/* The labels of save_model's file start after the 256-byte header and 4 rows of 64 bytes. */
#define MODEL_LABELS_OFFSET (256 + 4 * 64)

static void overwrite(const char *path, long offset, const void *data, size_t n)
{
    FILE *f = fopen(path, "r+b");
    CHECK(f && fseek(f, offset, SEEK_SET) == 0 && fwrite(data, 1, n, f) == n);
    if (f)
        fclose(f);
}

static void model_private_copy_ignores_later_changes_to_the_file(void)
{
    char *path = save_model("copy.knn");
    knn_load_options o = {0};
    o.private_copy = 1;
    knn_dataset *m = NULL;
    CHECK_EQ(knn_dataset_load(path, &o, &m), KNN_OK);
    const int32_t bad = 1000000;
    overwrite(path, MODEL_LABELS_OFFSET, &bad, 4);
    CHECK(truncate(path, 100) == 0); /* a mapping would now give SIGBUS */
    if (m) {
        CHECK_EQ(knn_dataset_label(m, 3), 1);
        CHECK_EQ(knn_dataset_row(m, 3)[11], (uint8_t)(47 * 5));
    }
    knn_dataset_free(m);
}

static void vote_catches_labels_changed_in_a_mapped_model(void)
{
    char *path = save_model("mapped.knn");
    knn_dataset *m = NULL;
    CHECK_EQ(knn_dataset_load(path, NULL, &m), KNN_OK);
    if (!m)
        return;
    knn_params p = knn_params_default();
    p.k = 4;
    knn_neighbors *nb = NULL;
    CHECK_EQ(knn_search(m, m, &p, &nb), KNN_OK);
    const int32_t bad = 1000000;
    overwrite(path, MODEL_LABELS_OFFSET + 4, &bad, 4); /* row 1's label, seen by the mapping */
    int32_t pred[4], ranking[4 * 3];
    CHECK_EQ(knn_vote(m, nb, &p, pred, NULL, ranking), KNN_ERR_FORMAT);
    CHECK(strstr(knn_last_error(), "label 1000000 of row 1 is outside 0..2") != NULL);
    knn_neighbors_free(nb);
    const int32_t good = 1;
    overwrite(path, MODEL_LABELS_OFFSET + 4, &good, 4);

    /* neighbours from another, larger training set name rows this one lacks */
    uint8_t rows[6 * 12] = {0};
    const int32_t labels[6] = {0, 0, 0, 0, 0, 0};
    knn_dataset *big = NULL;
    CHECK_EQ(knn_dataset_create(6, 12, rows, labels, 1, 3, 4, 1, &big), KNN_OK);
    knn_params p1 = knn_params_default();
    p1.k = 6;
    CHECK_EQ(knn_search(big, big, &p1, &nb), KNN_OK);
    int32_t pred6[6];
    CHECK_EQ(knn_vote(m, nb, &p1, pred6, NULL, NULL), KNN_ERR_ARG);
    knn_neighbors_free(nb);
    knn_dataset_free(big);
    knn_dataset_free(m);
}

static void metrics_omit_the_confusion_matrix_beyond_its_cap(void)
{
    const int C = KNN_MAX_CLASSES; /* 65,536 classes would ask for 32 GiB */
    int32_t truth[2] = {7, C - 1};
    int32_t *ranking = malloc(2 * (size_t)C * sizeof *ranking);
    for (int q = 0; q < 2; q++)
        for (int c = 0; c < C; c++)
            ranking[(size_t)q * (size_t)C + (size_t)c] = (c + 7) % C;
    knn_metrics m;
    CHECK_EQ(knn_metrics_compute(truth, ranking, 2, C, &m), KNN_OK);
    CHECK(m.confusion == NULL);
    CHECK_EQ(m.correct, 1);
    CHECK_EQ(m.class_correct[7], 1);
    knn_metrics_free(&m);
    CHECK_EQ(knn_metrics_compute(truth, ranking, 1, KNN_MAX_CONFUSION_CLASSES, &m), KNN_OK);
    CHECK(m.confusion != NULL && m.confusion[7 * (size_t)KNN_MAX_CONFUSION_CLASSES + 7] == 1);
    knn_metrics_free(&m);
    free(ranking);
}

/* Wraps `len` bytes at `in` as a length-delimited protobuf field `field` into out. */
static size_t pb_wrap(uint8_t *out, int field, const uint8_t *in, size_t len)
{
    size_t n = 0;
    out[n++] = (uint8_t)(field << 3 | 2);
    out[n++] = (uint8_t)len; /* the test's messages are short */
    memmove(out + n, in, len);
    return n + len;
}

/* An ONNX graph input of the given shape dims (each a Dimension message), as bytes. */
static size_t onnx_with_dims(uint8_t *out, const uint8_t *dims, size_t dims_len)
{
    uint8_t a[256], b[256];
    size_t n = pb_wrap(a, 2, dims, dims_len);          /* TensorShapeProto in Tensor.shape */
    n = pb_wrap(b, 1, a, n);                           /* TypeProto.tensor_type            */
    n = pb_wrap(a, 2, b, n);                           /* ValueInfoProto.type              */
    uint8_t named[256] = {0x0a, 0x01, 'x'};            /* ValueInfoProto.name = "x"        */
    memcpy(named + 3, a, n);
    n = pb_wrap(b, 11, named, n + 3);                  /* GraphProto.input                 */
    return pb_wrap(out, 7, b, n);                      /* ModelProto.graph                 */
}

static void onnx_input_shape_is_read_within_bounds_or_not_at_all(void)
{
    /* (1, 3, 8, 8) as varint dim_values: stated */
    uint8_t dims[64], file[512];
    size_t n = 0;
    const uint8_t sizes[4] = {1, 3, 8, 8};
    for (int d = 0; d < 4; d++) {
        dims[n++] = 0x0a, dims[n++] = 2, dims[n++] = 0x08, dims[n++] = sizes[d];
    }
    knn_features *f = NULL;
    int c, h, w;
    CHECK_EQ(knn__features_create(file, onnx_with_dims(file, dims, n), "shape.onnx", NULL, false,
                                  &f),
             KNN_OK);
    knn_features_input(f, &c, &h, &w);
    CHECK(c == 3 && h == 8 && w == 8);
    knn_features_free(f);
    /* a dimension written as fixed64, not a varint: not a size (was read uninitialised) */
    n = 0;
    for (int d = 0; d < 4; d++) {
        dims[n++] = 0x0a, dims[n++] = 9, dims[n++] = 0x09;
        memset(dims + n, d == 1 ? 3 : 8, 8);
        n += 8;
    }
    CHECK_EQ(knn__features_create(file, onnx_with_dims(file, dims, n), "fixed.onnx", NULL, false,
                                  &f),
             KNN_OK);
    knn_features_input(f, &c, &h, &w);
    CHECK(c == 0 && h == 0 && w == 0);
    knn_features_free(f);
    /* every truncation of the file: no read past its end (ASan, valgrind), no shape error */
    size_t total = onnx_with_dims(file, dims, n);
    for (size_t cut = 1; cut < total; cut++) {
        uint8_t *copy = malloc(cut);
        memcpy(copy, file, cut);
        CHECK_EQ(knn__features_create(copy, cut, "cut.onnx", NULL, false, &f), KNN_OK);
        knn_features_free(f);
        free(copy);
    }
}

static void create_f32_checks_sizes_before_reading_a_value(void)
{
    const float four[4] = {1, 2, 3, 4};
    knn_dataset *ds = NULL;
    /* a claim of 2^40 rows over a buffer of four floats: refused by its size, nothing read */
    CHECK_EQ(knn_dataset_create_f32((size_t)1 << 40, 4, four, NULL, 0, &ds), KNN_ERR_LIMIT);
    CHECK(ds == NULL);
    CHECK_EQ(knn_dataset_create_f32(1, (size_t)1 << 40, four, NULL, 0, &ds), KNN_ERR_LIMIT);
    CHECK_EQ(knn_dataset_create_f32(1, 0, four, NULL, 0, &ds), KNN_ERR_LIMIT);
    const float bad[4] = {1, 2, NAN, 4};
    CHECK_EQ(knn_dataset_create_f32(2, 2, bad, NULL, 0, &ds), KNN_ERR_ARG);
    CHECK(ds == NULL && strstr(knn_last_error(), "value 0 of row 1") != NULL);
    CHECK_EQ(knn_dataset_create_f32(2, 2, four, NULL, 0, &ds), KNN_OK);
    CHECK(knn_dataset_row_f32(ds, 1)[1] == 4);
    knn_dataset_free(ds);
}

const test_case hostile_tests[] = {
    {"create_f32_checks_sizes_before_reading_a_value",
     create_f32_checks_sizes_before_reading_a_value},
    {"onnx_input_shape_is_read_within_bounds_or_not_at_all",
     onnx_input_shape_is_read_within_bounds_or_not_at_all},
    {"images_undocumented_formats_are_refused_before_decoding",
     images_undocumented_formats_are_refused_before_decoding},
    {"images_over_the_caps_are_refused_before_decoding",
     images_over_the_caps_are_refused_before_decoding},
    {"images_compressed_well_are_not_taken_for_truncated",
     images_compressed_well_are_not_taken_for_truncated},
    {"images_of_16_bits_convert_between_channel_counts",
     images_of_16_bits_convert_between_channel_counts},
    {"image_from_memory_equals_image_from_file", image_from_memory_equals_image_from_file},
    {"devices_and_fifos_are_refused_without_blocking",
     devices_and_fifos_are_refused_without_blocking},
    {"gzip_sizes_come_from_the_data_not_the_trailer",
     gzip_sizes_come_from_the_data_not_the_trailer},
    {"model_private_copy_ignores_later_changes_to_the_file",
     model_private_copy_ignores_later_changes_to_the_file},
    {"vote_catches_labels_changed_in_a_mapped_model",
     vote_catches_labels_changed_in_a_mapped_model},
    {"metrics_omit_the_confusion_matrix_beyond_its_cap",
     metrics_omit_the_confusion_matrix_beyond_its_cap},
    {NULL, NULL}};
