/* test_index.c: the graph index (hnsw.c): its list kernels against the scalar reference, a
 * walk that meets every row equal to the exact search, the same bytes for any thread count
 * and instruction set, the model file's section (round trip, and corrupt sections refused),
 * recall. */
#include "check.h"
#include "internal.h"
#include "kernels/kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static const char *const isas[] = {"scalar", "avx2", "avxvnni", "avx512"};
#define N_ISAS ((int)(sizeof isas / sizeof *isas))

static uint64_t rng_state = 12345;
static uint32_t rnd(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng_state >> 33);
}

/* n rows of dim values in `clusters` loose clusters (a graph on clustered rows is harder to
 * walk than on uniform noise), labels by cluster. */
static knn_dataset *make_u8(size_t n, size_t dim, int clusters)
{
    uint8_t *data = malloc(n * dim), *centre = malloc((size_t)clusters * dim);
    int32_t *labels = malloc(n * sizeof *labels);
    for (size_t i = 0; i < (size_t)clusters * dim; i++)
        centre[i] = (uint8_t)rnd();
    for (size_t i = 0; i < n; i++) {
        int c = (int)(rnd() % (uint32_t)clusters);
        labels[i] = c;
        for (size_t d = 0; d < dim; d++) {
            int v = centre[(size_t)c * dim + d] + (int)(rnd() % 61) - 30;
            data[i * dim + d] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
    knn_dataset *ds = NULL;
    knn_dataset_create(n, dim, data, labels, clusters, (int)dim, 1, 1, &ds);
    free(data);
    free(centre);
    free(labels);
    return ds;
}

static knn_dataset *make_f32(size_t n, size_t dim, int clusters)
{
    knn_dataset *u = make_u8(n, dim, clusters);
    float *data = malloc(n * dim * sizeof *data);
    int32_t *labels = malloc(n * sizeof *labels);
    for (size_t i = 0; i < n; i++) {
        labels[i] = knn_dataset_label(u, i);
        for (size_t d = 0; d < dim; d++)
            data[i * dim + d] = (float)knn_dataset_row(u, i)[d] / 37.0f - 3.0f;
    }
    knn_dataset *ds = NULL;
    knn_dataset_create_f32(n, dim, data, labels, clusters, &ds);
    free(data);
    free(labels);
    knn_dataset_free(u);
    return ds;
}

/* Every list kernel of every table this processor runs: uint8 exactly the scalar reference,
 * float32 the same bits in every table (and near the plain sums). */
static void test_list_kernels(void)
{
    const size_t dims[] = {1, 63, 64, 784, 3072, 70000}; /* 70,000: past one 32-bit chunk */
    for (size_t di = 0; di < sizeof dims / sizeof *dims; di++) {
        const size_t dim = dims[di], n = 9;
        knn_dataset *u = make_u8(n, dim, 3), *f = dim <= 3072 ? make_f32(n, dim, 3) : NULL;
        uint32_t ids[8] = {8, 0, 3, 3, 7, 1, 2, 5};
        for (int s = 0; s < N_ISAS; s++) {
            const knn__kernels *k = knn__kernels_find(isas[s]);
            if (!k)
                continue;
            uint64_t got[8], want[8];
            k->l1_u8_list(u->rows + 4 * u->stride, u->rows, u->stride, u->stride, ids, 8, got);
            for (int j = 0; j < 8; j++)
                CHECK_EQ(got[j], knn__l1_u8_scalar(u->rows + 4 * u->stride,
                                                   u->rows + ids[j] * u->stride, dim));
            k->l2_u8_list(u->rows + 4 * u->stride, u->rows, u->stride, u->stride, ids, 8, got);
            for (int j = 0; j < 8; j++)
                CHECK_EQ(got[j], knn__l2sq_u8_scalar(u->rows + 4 * u->stride,
                                                     u->rows + ids[j] * u->stride, dim));
            if (!f)
                continue;
            const knn__list_fn fs[3][2] = {
                {knn__kernels_scalar.l1_f32_list, k->l1_f32_list},
                {knn__kernels_scalar.l2_f32_list, k->l2_f32_list},
                {knn__kernels_scalar.ip_f32_list, k->ip_f32_list}};
            const uint8_t *q = f->rows + 4 * f->stride;
            for (int m = 0; m < 3; m++) {
                fs[m][0](q, f->rows, f->stride, f->stride, ids, 8, want);
                fs[m][1](q, f->rows, f->stride, f->stride, ids, 8, got);
                for (int j = 0; j < 8; j++) {
                    CHECK_EQ(got[j], want[j]); /* the same bits */
                    float v, ref;
                    uint32_t bits = (uint32_t)got[j];
                    memcpy(&v, &bits, 4);
                    const float *a = (const float *)(const void *)q,
                                *b = (const float *)(const void *)(f->rows + ids[j] * f->stride);
                    ref = m == 0   ? knn__l1_f32_scalar(a, b, dim)
                          : m == 1 ? knn__l2sq_f32_scalar(a, b, dim)
                                   : knn__cosine_f32_scalar(a, b, dim);
                    if (m < 2)
                        CHECK(fabsf(v - ref) <= 1e-4f * (1 + ref));
                }
            }
        }
        knn_dataset_free(u);
        knn_dataset_free(f);
    }
}

/* knn_search of train with p, exact or through the index. */
static knn_neighbors *search(const knn_dataset *train, const knn_dataset *q, int k, knn_metric m,
                             int ef, int exact)
{
    knn_params p = knn_params_default();
    p.k = k;
    p.metric = m;
    p.ef = ef;
    p.exact = exact;
    knn_neighbors *nb = NULL;
    knn_status st = knn_search(train, q, &p, &nb);
    CHECK_EQ(st, KNN_OK);
    return nb;
}

/* With ef as large as the training set the walk meets every row it can reach: the answers
 * are the exact search's, rows and distances (uint8: bit for bit; float32: the same rows,
 * distances within rounding: the index sums in its own fixed order). Also with the class
 * minima the vote ranks by. */
static void check_exhaustive(knn_dataset *train, knn_dataset *queries, knn_metric m, int M)
{
    knn_index_options o = knn_index_options_default();
    o.metric = m;
    o.M = M;
    o.ef_construction = 40;
    CHECK_EQ(knn_dataset_build_index(train, &o), KNN_OK);
    const int k = train->count < 7 ? (int)train->count : 7;
    knn_neighbors *a = search(train, queries, k, m, (int)train->count, 0);
    knn_neighbors *b = search(train, queries, k, m, 0, 1);
    if (!a || !b)
        return;
    const bool f32 = train->dtype == KNN_F32;
    size_t differ = 0;
    for (size_t q = 0; q < queries->count; q++)
        for (int j = 0; j < k; j++) {
            if (f32) {
                double x = knn_neighbors_distance(a, q, j), y = knn_neighbors_distance(b, q, j);
                differ += fabs(x - y) > 1e-5 * (1 + y);
            } else {
                differ += knn_neighbors_index(a, q, j) != knn_neighbors_index(b, q, j) ||
                          knn_neighbors_raw_distance(a, q, j) != knn_neighbors_raw_distance(b, q, j);
            }
        }
    CHECK_EQ(differ, 0);
    double recall = 0;
    CHECK_EQ(knn_neighbors_recall(a, b, &recall), KNN_OK);
    if (f32)
        CHECK(recall > 0.99); /* a tie broken by a last bit may swap a row */
    else
        CHECK(recall == 1.0);
    /* every class's nearest row: the same as the exact search's (the walk met them all) */
    for (size_t q = 0; !f32 && q < queries->count; q++)
        for (int c = 0; c < a->classes; c++)
            CHECK_EQ(a->class_index[q * (size_t)a->classes + (size_t)c],
                     b->class_index[q * (size_t)b->classes + (size_t)c]);
    knn_neighbors_free(a);
    knn_neighbors_free(b);
}

static void test_exhaustive_equals_exact(void)
{
    knn_dataset *train = make_u8(600, 40, 12), *queries = make_u8(50, 40, 12);
    check_exhaustive(train, queries, KNN_L2, 4);
    check_exhaustive(train, queries, KNN_L1, 4);
    check_exhaustive(train, queries, KNN_L2, 16);
    knn_dataset_free(train);
    knn_dataset_free(queries);
    knn_dataset *ftrain = make_f32(500, 24, 10), *fq = make_f32(40, 24, 10);
    check_exhaustive(ftrain, fq, KNN_L2, 6);
    check_exhaustive(ftrain, fq, KNN_L1, 6);
    check_exhaustive(ftrain, fq, KNN_COSINE, 6);
    knn_dataset_free(ftrain);
    knn_dataset_free(fq);
}

/* Fewer rows than M (and one row): the graph is built and searched. */
static void test_few_rows(void)
{
    for (size_t n = 1; n <= 20; n += 19) {
        knn_dataset *train = make_u8(n, 16, 2), *queries = make_u8(5, 16, 2);
        check_exhaustive(train, queries, KNN_L2, 16);
        knn_neighbors *a = search(train, queries, (int)n, KNN_L2, 0, 0),
                      *b = search(train, queries, (int)n, KNN_L2, 0, 1);
        for (size_t q = 0; a && b && q < 5; q++)
            for (int j = 0; j < (int)n; j++)
                CHECK_EQ(knn_neighbors_index(a, q, j), knn_neighbors_index(b, q, j));
        knn_neighbors_free(a);
        knn_neighbors_free(b);
        knn_dataset_free(train);
        knn_dataset_free(queries);
    }
}

/* The model file of train (with its index) in memory. */
static unsigned char *model_bytes(const knn_dataset *train, size_t *size)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, size);
    knn_params p = knn_params_default();
    CHECK_EQ(knn_model_write(train, &p, f), KNN_OK);
    fclose(f);
    return (unsigned char *)buf;
}

/* The graph's bytes for 1 and 2 threads and every instruction set this processor runs: the
 * same, on uint8 and on float32 rows. */
static void test_deterministic_build(void)
{
    knn_dataset *sets[2] = {make_u8(3000, 48, 20), make_f32(1500, 32, 10)};
    const knn_metric metrics[2] = {KNN_L2, KNN_COSINE};
    for (int s = 0; s < 2; s++) {
        unsigned char *first = NULL;
        size_t first_size = 0;
        for (int isa = 0; isa < N_ISAS; isa++) {
            if (!knn__kernels_find(isas[isa]))
                continue;
            CHECK_EQ(knn_set_isa(isas[isa]), KNN_OK);
            for (int threads = 1; threads <= 2; threads++) {
                knn_index_options o = knn_index_options_default();
                o.metric = metrics[s];
                o.threads = threads;
                o.ef_construction = 64;
                CHECK_EQ(knn_dataset_build_index(sets[s], &o), KNN_OK);
                size_t size;
                unsigned char *bytes = model_bytes(sets[s], &size);
                if (!first) {
                    first = bytes;
                    first_size = size;
                    continue;
                }
                CHECK(size == first_size && memcmp(bytes, first, size) == 0);
                free(bytes);
            }
        }
        knn_set_isa("best");
        free(first);
        knn_dataset_free(sets[s]);
    }
}

static unsigned char *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(*size);
    if (fread(buf, 1, *size, f) != *size) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

/* Writes bytes to path with the model header's checksum made right again, so that the load
 * gets past it to the section's own checks. */
static void write_fixed(const char *path, unsigned char *buf, size_t size)
{
    memset(buf + 24, 0, 8); /* the checksum field: magic 8, version 4, header_bytes 4, size 8 */
    uint64_t crc = crc32(crc32(0, Z_NULL, 0), buf, (uInt)size);
    memcpy(buf + 24, &crc, 8);
    FILE *f = fopen(path, "wb");
    fwrite(buf, 1, size, f);
    fclose(f);
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* A model file keeps the graph: loaded, it is the same index and searches the same; cut with
 * a limit it has none; corrupt sections are refused, naming the part. */
static void test_model_section(void)
{
    knn_dataset *train = make_u8(800, 30, 8), *queries = make_u8(30, 30, 8);
    knn_index_options o = knn_index_options_default();
    o.M = 6;
    CHECK_EQ(knn_dataset_build_index(train, &o), KNN_OK);
    char path[512], bad[512];
    snprintf(path, sizeof path, "%s/index.knn", test_dir());
    snprintf(bad, sizeof bad, "%s/index-bad.knn", test_dir());
    knn_params p = knn_params_default();
    CHECK_EQ(write_model(train, &p, path), KNN_OK);
    knn_dataset *loaded = NULL;
    CHECK_EQ(knn_dataset_load(path, NULL, &loaded), KNN_OK);
    knn_index_info a, b;
    CHECK(knn_dataset_index_info(train, &a));
    CHECK(loaded && knn_dataset_index_info(loaded, &b));
    CHECK(a.M == b.M && a.levels == b.levels && a.edges == b.edges && a.bytes == b.bytes);
    knn_neighbors *x = search(train, queries, 5, KNN_L2, 20, 0),
                  *y = loaded ? search(loaded, queries, 5, KNN_L2, 20, 0) : NULL;
    for (size_t q = 0; x && y && q < queries->count; q++)
        for (int j = 0; j < 5; j++)
            CHECK_EQ(knn_neighbors_index(x, q, j), knn_neighbors_index(y, q, j));
    knn_neighbors_free(x);
    knn_neighbors_free(y);
    knn_dataset_free(loaded);
    knn_load_options lo = {.limit = 100};
    CHECK_EQ(knn_dataset_load(path, &lo, &loaded), KNN_OK);
    CHECK(loaded && !knn_dataset_index_info(loaded, &b));
    knn_dataset_free(loaded);

    size_t size;
    unsigned char *good = read_all(path, &size);
    CHECK(good != NULL);
    if (!good)
        return;
    const uint64_t at = get64(good + 248); /* the header's index_offset */
    CHECK(at > 0 && at % 64 == 0 && at < size);
    const size_t level0 = (size_t)at + 64;
    struct {
        size_t offset;
        uint32_t value;
        const char *says;
    } cases[] = {
        {(size_t)at + 8, 1, "header"},                   /* M = 1                 */
        {level0, 13, "a neighbour list"},               /* more than 2M links    */
        {level0 + 4, 800, "a neighbour list"},          /* an id past the rows   */
        {level0 + 4, 0xFFFFFFFFu, "a neighbour list"},
        {(size_t)at + 56, 800, "header"},               /* entry point past rows */
        {(size_t)at + 60, 9, "the entry point"},        /* a top level it lacks  */
        {level0 + 800 * 13 * 4, 31, "a level"},         /* a level above the top */
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        unsigned char *buf = malloc(size);
        memcpy(buf, good, size);
        memcpy(buf + cases[c].offset, &cases[c].value, 4);
        write_fixed(bad, buf, size);
        free(buf);
        knn_dataset *ds = NULL;
        knn_status st = knn_dataset_load(bad, NULL, &ds);
        CHECK_EQ(st, KNN_ERR_FORMAT);
        CHECK(ds == NULL);
        CHECK(strstr(knn_last_error(), "index") != NULL);
    }
    /* cut short inside the section: the header's size no longer fits */
    unsigned char *cut = malloc(size);
    memcpy(cut, good, size);
    uint64_t shorter = size - 64;
    memcpy(cut + 16, &shorter, 8);
    write_fixed(bad, cut, (size_t)shorter);
    knn_dataset *ds = NULL;
    CHECK_EQ(knn_dataset_load(bad, NULL, &ds), KNN_ERR_FORMAT);
    CHECK(strstr(knn_last_error(), "index section") != NULL);
    free(cut);
    free(good);
    knn_dataset_free(train);
    knn_dataset_free(queries);
}

/* Bad options and searches, each refused in one line. */
static void test_index_arguments(void)
{
    knn_dataset *u = make_u8(50, 8, 2), *f = make_f32(50, 8, 2);
    knn_index_options o = knn_index_options_default();
    o.M = 1;
    CHECK_EQ(knn_dataset_build_index(u, &o), KNN_ERR_ARG);
    o = knn_index_options_default();
    o.ef_construction = -3;
    CHECK_EQ(knn_dataset_build_index(u, &o), KNN_ERR_ARG);
    o = knn_index_options_default();
    o.metric = KNN_COSINE;
    CHECK_EQ(knn_dataset_build_index(u, &o), KNN_ERR_ARG); /* cosine: float32 only */
    CHECK_EQ(knn_dataset_build_index(f, &o), KNN_OK);
    knn_params p = knn_params_default();
    p.ef = -1;
    knn_neighbors *nb = NULL;
    CHECK_EQ(knn_search(u, u, &p, &nb), KNN_ERR_ARG);
    CHECK(nb == NULL);
    /* an index for another metric: the exact search */
    CHECK_EQ(knn_dataset_build_index(u, NULL), KNN_OK);
    p = knn_params_default();
    p.metric = KNN_L1;
    p.k = 3;
    CHECK(!knn__hnsw_applies(u, &p));
    p.metric = KNN_L2;
    CHECK(knn__hnsw_applies(u, &p));
    p.exact = 1;
    CHECK(!knn__hnsw_applies(u, &p));
    knn_neighbors *a = search(u, u, 3, KNN_L2, 0, 0), *b = NULL;
    CHECK(a != NULL);
    p = knn_params_default();
    CHECK_EQ(knn_search(u, f, &p, &b), KNN_ERR_SHAPE); /* uint8 against float32 */
    CHECK(b == NULL);
    knn_neighbors *c = search(u, u, 2, KNN_L2, 0, 0);
    double r;
    CHECK_EQ(knn_neighbors_recall(a, c, &r), KNN_ERR_ARG);
    CHECK_EQ(knn_neighbors_recall(a, a, &r), KNN_OK);
    CHECK(r == 1.0);
    knn_neighbors_free(a);
    knn_neighbors_free(c);
    knn_dataset_free(u);
    knn_dataset_free(f);
}

const test_case index_tests[] = {{"index_list_kernels", test_list_kernels},
                                 {"index_exhaustive_equals_exact", test_exhaustive_equals_exact},
                                 {"index_few_rows", test_few_rows},
                                 {"index_deterministic_build", test_deterministic_build},
                                 {"index_model_section", test_model_section},
                                 {"index_arguments", test_index_arguments},
                                 {NULL, NULL}};
