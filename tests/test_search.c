/* test_search.c: distances against hand-computed values, and the blocked, threaded search
 * against the scalar reference, bit for bit, on many shapes. */
#include "check.h"
#include "internal.h"
#include "kernels/kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}

/* A random data set; values in [0, range), labels in [0, classes). */
static knn_dataset *random_dataset(size_t n, size_t dim, unsigned range, int classes)
{
    uint8_t *data = malloc(n * dim + 1);
    int32_t *labels = malloc((n + 1) * sizeof *labels);
    for (size_t i = 0; i < n * dim; i++)
        data[i] = (uint8_t)(rng() % range);
    for (size_t i = 0; i < n; i++)
        labels[i] = (int32_t)(rng() % (unsigned)classes);
    knn_dataset *ds = NULL;
    knn_status st = knn_dataset_create(n, dim, data, labels, classes, (int)dim, 1, 1, &ds);
    CHECK_EQ(st, KNN_OK);
    free(data);
    free(labels);
    return ds;
}

static void distances_match_hand_computed_values(void)
{
    const uint8_t a[3] = {0, 255, 3}, b[3] = {255, 0, 1};
    CHECK_EQ(knn__l1_u8_scalar(a, b, 3), 255 + 255 + 2);
    CHECK_EQ(knn__l2sq_u8_scalar(a, b, 3), 255 * 255 * 2 + 4);
    CHECK_EQ(knn__l1_u8_scalar(a, a, 3), 0);
    /* the tile kernels on padded rows: the padding adds nothing */
    knn_dataset *q, *t;
    CHECK_EQ(knn_dataset_create(1, 3, a, NULL, 0, 3, 1, 1, &q), KNN_OK);
    CHECK_EQ(knn_dataset_create(1, 3, b, NULL, 0, 3, 1, 1, &t), KNN_OK);
    uint32_t qn, tn, d;
    const knn__kernels *k = knn__kernels_select();
    knn__sqnorm_u8(q->rows, 1, q->stride, q->stride, &qn);
    CHECK_EQ(qn, 255 * 255 + 9);
    k->train_norms(t->rows, 1, t->stride, t->stride, &tn); /* what this table's L2 tile expects */
    k->l1_tile(q->rows, 1, t->rows, 1, q->stride, q->stride, &qn, &tn, &d);
    CHECK_EQ(d, 512);
    k->l2_tile(q->rows, 1, t->rows, 1, q->stride, q->stride, &qn, &tn, &d);
    CHECK_EQ(d, 255 * 255 * 2 + 4);
    knn_dataset_free(q);
    knn_dataset_free(t);
}

static const char *const isas[] = {"scalar", "avx2", "avxvnni", "avx512"};
#define N_ISAS ((int)(sizeof isas / sizeof *isas))

/* Every kernel table this processor runs fills tiles exactly as the scalar one does, for
 * every block shape and edge (nq, nt from 1 to 9; to 5 for the longest rows), tiles of
 * whole and part slabs of 16 rows (the AVX-512 L2 kernel's: 4 x 16, 13 x 37, 8 x 32,
 * 5 x 40, 8 x 37, 13 x 32, and 257 x 16, past the 256 queries a slab call takes) and padded
 * row sizes, up to one whole chunk (KNN__CHUNK = 65,536 values, whose extreme squared L2,
 * 4,261,478,400, is the largest a 32-bit tile holds). Every cell is written: the output
 * is filled with a mark first, and a mark past the tile must stay. */
#define KROWS 40
#define KQUERIES 257
static void kernels_equal_scalar_bit_for_bit(void)
{
    /* 4096 and 4097: the last row size whose queries the VNNI and AVX2 L2 tiles prepare
     * once per group of 4 (FLIP_MAX, WIDEN_MAX) and whose rows AVX-512's takes in slabs
     * (SLAB_MAX), and the first they do not */
    const size_t dims[] = {1, 63, 64, 65, 784, 3072, 4096, 4097, KNN__CHUNK - 63, KNN__CHUNK};
    const size_t slabs[][2] = {{4, 16}, {13, 37}, {8, 32}, {5, 40}, {8, 37}, {13, 32}, {257, 16}};
    const size_t nslabs = sizeof slabs / sizeof *slabs;
    for (size_t di = 0; di < sizeof dims / sizeof *dims; di++)
        for (int extreme = 0; extreme < 2; extreme++) {
            size_t dim = dims[di], most = dim > 4096 ? 5 : 9;
            const size_t nqrows = dim > 4096 ? KROWS : KQUERIES;
            knn_dataset *q = random_dataset(nqrows, dim, 256, 2);
            knn_dataset *t = random_dataset(KROWS, dim, 256, 2);
            if (extreme) { /* the largest distances: 255 against 0 everywhere */
                for (size_t i = 0; i < nqrows; i++)
                    memset(q->rows + i * q->stride, 255, dim);
                for (size_t i = 0; i < KROWS; i++)
                    memset(t->rows + i * t->stride, 0, dim);
            }
            const size_t cells = KQUERIES * KROWS + 1;
            uint32_t qn[KQUERIES], *want = malloc(cells * 4), *got = malloc(cells * 4);
            const size_t stride = q->stride;
            knn__sqnorm_u8(q->rows, nqrows, stride, stride, qn);
            for (int s = 0; s < N_ISAS; s++) {
                const knn__kernels *k = knn__kernels_find(isas[s]);
                if (!k)
                    continue;
                uint32_t tn[KROWS], tn_scalar[KROWS];
                k->train_norms(t->rows, KROWS, stride, stride, tn);
                knn__sqnorm_u8(t->rows, KROWS, stride, stride, tn_scalar);
                const size_t shapes = most * most + (dim > 4096 ? 0 : nslabs);
                for (size_t shape = 0; shape < shapes; shape++)
                    for (int metric = 0; metric < 2; metric++) {
                        const size_t nq = shape < most * most ? 1 + shape / most
                                                              : slabs[shape - most * most][0];
                        const size_t nt = shape < most * most ? 1 + shape % most
                                                              : slabs[shape - most * most][1];
                        knn__tile_fn ref = metric ? knn__kernels_scalar.l2_tile
                                                  : knn__kernels_scalar.l1_tile;
                        knn__tile_fn fn = metric ? k->l2_tile : k->l1_tile;
                        ref(q->rows, nq, t->rows, nt, stride, stride, qn, tn_scalar, want);
                        for (size_t c = 0; c < cells; c++)
                            got[c] = 0xA5A5A5A5u; /* a mark no distance here equals */
                        fn(q->rows, nq, t->rows, nt, stride, stride, qn, tn, got);
                        if (memcmp(want, got, nq * nt * sizeof *got) ||
                            got[nq * nt] != 0xA5A5A5A5u) {
                            fprintf(stderr, "    %s %s, dim %zu, %zu x %zu%s\n", k->name,
                                    metric ? "l2" : "l1", dim, nq, nt,
                                    extreme ? ", extreme values" : "");
                            CHECK(!"kernel equals scalar");
                        }
                    }
                if (extreme) /* the last tile, L2 */
                    CHECK_EQ(got[0], (uint32_t)(255u * 255u * dim));
            }
            free(want);
            free(got);
            knn_dataset_free(q);
            knn_dataset_free(t);
        }
}

/* The same lists and the same class minima (each class's nearest row), bit for bit. */
static bool same_neighbors(const knn_neighbors *a, const knn_neighbors *b)
{
    size_t n = a->nq * (size_t)a->k, nc = a->nq * (size_t)a->classes;
    return a->nq == b->nq && a->k == b->k && a->classes == b->classes &&
           memcmp(a->index, b->index, n * sizeof *a->index) == 0 &&
           memcmp(a->dist, b->dist, n * sizeof *a->dist) == 0 &&
           (!nc || (memcmp(a->class_dist, b->class_dist, nc * sizeof *a->class_dist) == 0 &&
                    memcmp(a->class_index, b->class_index, nc * sizeof *a->class_index) == 0));
}

/* knn_search with every kernel table the CPU has, on 1 to 3 threads, equals `ref` bit for
 * bit; `what` names the check and `where` the case in a failure's message. Leaves p->threads
 * at 3 and the kernels at "best". */
static void every_isa_equals(const knn_dataset *train, const knn_dataset *q, knn_params *p,
                             const knn_neighbors *ref, const char *what, const char *where)
{
    for (int s = 0; s < N_ISAS; s++)
        for (int threads = 1; threads <= 3; threads++) {
            if (knn_set_isa(isas[s]) != KNN_OK)
                continue;
            p->threads = threads;
            knn_neighbors *nb = NULL;
            CHECK_EQ(knn_search(train, q, p, &nb), KNN_OK);
            if (!nb || !ref || !same_neighbors(nb, ref)) {
                fprintf(stderr, "    %s: %s, K %d, %s, %d threads\n", isas[s], where, p->k,
                        knn_metric_name(p->metric), threads);
                CHECK(!what);
            }
            knn_neighbors_free(nb);
        }
    knn_set_isa("best");
}

static void search_equals_reference_for_many_shapes(void)
{
    const size_t dims[] = {1, 3, 63, 64, 65, 784, 3072};
    const int ks[] = {1, 2, 7, 100};
    const unsigned ranges[] = {256, 3}; /* 3: many equal distances, so the tie order matters */
    for (size_t di = 0; di < sizeof dims / sizeof *dims; di++)
        for (size_t ri = 0; ri < 2; ri++) {
            size_t ntrain = dims[di] >= 784 ? 140 : 300, nq = 37;
            knn_dataset *train = random_dataset(ntrain, dims[di], ranges[ri], 10);
            knn_dataset *queries = random_dataset(nq, dims[di], ranges[ri], 10);
            for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++)
                for (int metric = KNN_L1; metric <= KNN_L2; metric++) {
                    knn_params p = knn_params_default();
                    p.k = ks[ki];
                    p.metric = (knn_metric)metric;
                    knn_neighbors *ref = NULL;
                    CHECK_EQ(knn__search_reference(train, queries, &p, &ref), KNN_OK);
                    char where[64];
                    snprintf(where, sizeof where, "dim %zu, range %u", dims[di], ranges[ri]);
                    every_isa_equals(train, queries, &p, ref,
                                     "blocked search equals the reference", where);
                    knn_neighbors_free(ref);
                }
            knn_dataset_free(train);
            knn_dataset_free(queries);
        }
}

/* Many queries: several query tiles shared by the threads, with a partial last tile. */
static void search_many_query_tiles_equals_reference(void)
{
    knn_dataset *train = random_dataset(700, 65, 5, 3), *q = random_dataset(333, 65, 5, 3);
    for (int metric = KNN_L1; metric <= KNN_L2; metric++) {
        knn_params p = knn_params_default();
        p.k = 7;
        p.metric = (knn_metric)metric;
        knn_neighbors *ref = NULL;
        CHECK_EQ(knn__search_reference(train, q, &p, &ref), KNN_OK);
        every_isa_equals(train, q, &p, ref, "search of many tiles equals the reference",
                         "333 queries");
        knn_neighbors_free(ref);
    }
    knn_dataset_free(train);
    knn_dataset_free(q);
}

/* Few queries: the training set is split between threads and the parts merged. */
static void search_split_over_training_rows_equals_reference(void)
{
    knn_dataset *train = random_dataset(1000, 65, 4, 3), *q = random_dataset(3, 65, 4, 3);
    const int ks[] = {1, 7, 100, 1000};
    for (size_t ki = 0; ki < 4; ki++)
        for (int metric = KNN_L1; metric <= KNN_L2; metric++) {
            knn_params p = knn_params_default();
            p.k = ks[ki];
            p.metric = (knn_metric)metric;
            knn_neighbors *ref = NULL;
            CHECK_EQ(knn__search_reference(train, q, &p, &ref), KNN_OK);
            for (int threads = 1; threads <= 5; threads++) {
                p.threads = threads;
                knn_neighbors *nb = NULL;
                CHECK_EQ(knn_search(train, q, &p, &nb), KNN_OK);
                if (!nb || !ref || !same_neighbors(nb, ref)) {
                    fprintf(stderr, "    K %d, %s, %d threads\n", p.k,
                            knn_metric_name(p.metric), threads);
                    CHECK(!"split search equals the reference");
                }
                knn_neighbors_free(nb);
            }
            knn_neighbors_free(ref);
        }
    knn_dataset_free(train);
    knn_dataset_free(q);
}

/* Part by part (a training set larger than the page cache: each part for every query tile
 * before the next): the same lists and class minima as the reference, for several parts,
 * query tiles (300 queries: 3 tiles of 128), metrics and thread counts. */
static void search_part_by_part_equals_reference(void)
{
    knn_dataset *train = random_dataset(1500, 33, 4, 5), *q = random_dataset(300, 33, 4, 5);
    const int parts[] = {1, 2, 3, 7, 64};
    for (int metric = KNN_L1; metric <= KNN_L2; metric++) {
        knn_params p = knn_params_default();
        p.k = 9;
        p.metric = (knn_metric)metric;
        knn_neighbors *ref = NULL;
        CHECK_EQ(knn__search_reference(train, q, &p, &ref), KNN_OK);
        for (int i = 0; i < 5; i++)
            for (int threads = 1; threads <= 2; threads++) {
                p.threads = threads;
                knn_neighbors *nb = NULL;
                CHECK_EQ(knn__search_parts(train, q, &p, parts[i], &nb), KNN_OK);
                if (!nb || !ref || !same_neighbors(nb, ref)) {
                    fprintf(stderr, "    %d parts, %s, %d threads\n", parts[i],
                            knn_metric_name(p.metric), threads);
                    CHECK(!"part-by-part search equals the reference");
                }
                knn_neighbors_free(nb);
            }
        knn_neighbors_free(ref);
    }
    /* a model file, mapped: each part is read ahead (posix_madvise) as the one before it is
     * searched */
    char path[4096];
    snprintf(path, sizeof path, "%s/parts.knn", test_dir());
    knn_params p = knn_params_default();
    p.k = 9;
    knn_dataset *mapped = NULL;
    knn_neighbors *nb = NULL, *ref = NULL;
    CHECK_EQ(write_model(train, &p, path), KNN_OK);
    CHECK_EQ(knn_dataset_load(path, NULL, &mapped), KNN_OK);
    CHECK(mapped && mapped->map && !mapped->map_is_copy);
    CHECK_EQ(knn__search_reference(train, q, &p, &ref), KNN_OK);
    for (int i = 1; mapped && i < 5; i++) {
        CHECK_EQ(knn__search_parts(mapped, q, &p, parts[i], &nb), KNN_OK);
        CHECK(nb && ref && same_neighbors(nb, ref));
        knn_neighbors_free(nb);
        nb = NULL;
    }
    knn_neighbors_free(ref);
    knn_dataset_free(mapped);
    p = knn_params_default();
    CHECK_EQ(knn__search_parts(train, q, &p, 0, &nb), KNN_ERR_ARG);
    CHECK(nb == NULL);
    knn_dataset_free(train);
    knn_dataset_free(q);
}

/* Long rows for the chunked tiles: row i all 0, all 255, random, or half 0 and half 255 by
 * turns (i mod 4), so that equal rows tie and squared L2 passes 2^32 (255^2 x 66,052) from
 * 66,052 values on; labels in [0, classes). */
static knn_dataset *long_rows(size_t n, size_t dim, int classes)
{
    knn_dataset *ds = random_dataset(n, dim, 256, classes);
    for (size_t i = 0; i < n; i++) {
        uint8_t *row = ds->rows + i * ds->stride;
        if (i % 4 < 2)
            memset(row, i % 4 ? 255 : 0, dim);
        else if (i % 4 == 3)
            for (size_t d = 0; d < dim; d++)
                row[d] = rng() % 2 ? 255 : 0;
    }
    return ds;
}

/* Rows longer than one chunk (65,536 values): the 64-bit tiles summed chunk by chunk equal
 * the reference's whole-row 64-bit sums, lists and class minima bit for bit, for both
 * metrics, every kernel table, 1 to 3 threads (few queries: the training set split between
 * threads), at 65,536 and 65,537 values (one chunk and a 64-byte second one), 196,608
 * (256 x 256 RGB, distances past 2^32) and the cap, 2^24 (255^2 x 2^24 < 2^40). */
static void search_long_rows_equals_reference(void)
{
    const size_t dims[] = {KNN__CHUNK, KNN__CHUNK + 1, 196608, KNN_MAX_DIM};
    for (size_t di = 0; di < 4; di++) {
        const bool cap = dims[di] == KNN_MAX_DIM;
        const size_t ntrain = cap ? 4 : 14, nq = cap ? 2 : 5;
        knn_dataset *train = long_rows(ntrain, dims[di], 5), *q = long_rows(nq, dims[di], 5);
        memset(q->rows, 255, dims[di]); /* query 0: all 255, against train row 0: all 0 */
        for (int metric = KNN_L1; metric <= KNN_L2; metric++) {
            knn_params p = knn_params_default();
            p.k = cap ? 3 : 12;
            p.metric = (knn_metric)metric;
            knn_neighbors *ref = NULL;
            CHECK_EQ(knn__search_reference(train, q, &p, &ref), KNN_OK);
            if (!ref)
                continue;
            /* the farthest pair, all 255 against all 0, is the last neighbour of query 0 */
            const uint64_t far = (metric == KNN_L1 ? 255ull : 255ull * 255) * dims[di];
            uint64_t last = 0;
            for (int j = 0; j < p.k; j++)
                last = knn_neighbors_raw_distance(ref, 0, j) > last
                           ? knn_neighbors_raw_distance(ref, 0, j)
                           : last;
            CHECK(cap || last == far); /* at the cap, K = 3 of 4 rows leaves it out */
            CHECK(far <= 255ull * 255 * KNN_MAX_DIM);
            char where[32];
            snprintf(where, sizeof where, "dim %zu", dims[di]);
            every_isa_equals(train, q, &p, ref, "search of long rows equals the reference", where);
            if (cap) { /* the cap's extreme pair, whole: 255^2 x 2^24 = 1,090,921,693,184 */
                p.k = 4;
                knn_neighbors *nb = NULL;
                CHECK_EQ(knn_search(train, q, &p, &nb), KNN_OK);
                CHECK(nb && knn_neighbors_raw_distance(nb, 0, 3) == far);
                CHECK(nb && knn_neighbors_index(nb, 0, 3) == 0);
                CHECK(nb && knn_neighbors_distance(nb, 0, 3) ==
                                (metric == KNN_L1 ? (double)far : 255.0 * 4096));
                knn_neighbors_free(nb);
            }
            knn_neighbors_free(ref);
        }
        knn_dataset_free(train);
        knn_dataset_free(q);
    }
}

/* A row of more than KNN_MAX_DIM values is refused, and the message says the cap (no rows:
 * the row size alone is refused, before any data). */
static void rows_beyond_the_cap_are_refused(void)
{
    knn_dataset *ds = (knn_dataset *)1;
    CHECK_EQ(knn_dataset_create(0, KNN_MAX_DIM + 1, NULL, NULL, 0, (int)KNN_MAX_DIM + 1, 1, 1,
                                &ds),
             KNN_ERR_LIMIT);
    CHECK(ds == NULL);
    CHECK(strstr(knn_last_error(), "16777217 values per row is more than the limit of "
                                   "16777216") != NULL);
    CHECK_EQ(knn_dataset_create_f32(0, KNN_MAX_DIM + 1, NULL, NULL, 0, &ds), KNN_ERR_LIMIT);
    CHECK(strstr(knn_last_error(), "limit of 16777216") != NULL);
    CHECK_EQ(knn_dataset_create(0, KNN_MAX_DIM, NULL, NULL, 0, (int)KNN_MAX_DIM, 1, 1, &ds),
             KNN_OK); /* the cap itself is a row size */
    knn_dataset_free(ds);
}

static void set_isa_accepts_known_names_only(void)
{
    CHECK_EQ(knn_set_isa("scalar"), KNN_OK);
    CHECK(!strcmp(knn_isa(), "scalar"));
    CHECK_EQ(knn_set_isa("neon"), KNN_ERR_ARG);
    CHECK(strstr(knn_last_error(), "unknown instruction set 'neon'") != NULL);
    CHECK_EQ(knn_set_isa("best"), KNN_OK);
    CHECK(knn__kernels_find(knn_isa()) != NULL);
}

/* A float32 copy of a uint8 data set (or of random floats in [-range/2, range/2)). */
static knn_dataset *float_copy(const knn_dataset *u8, bool random_values, float range)
{
    size_t n = u8->count, dim = u8->dim;
    float *data = malloc(n * dim * sizeof *data + 1);
    for (size_t i = 0; i < n; i++)
        for (size_t d = 0; d < dim; d++)
            data[i * dim + d] = random_values
                                    ? ((float)(rng() % 1000000) / 1e6f - 0.5f) * range
                                    : (float)knn_dataset_row(u8, i)[d];
    knn_dataset *ds = NULL;
    CHECK_EQ(knn_dataset_create_f32(n, dim, data, u8->labels, u8->num_classes, &ds), KNN_OK);
    free(data);
    return ds;
}

/* Integer-valued floats with small sums (below 2^24) are exact in every order of summation:
 * every table must find exactly the uint8 search's neighbours, at the same distances. Long
 * rows too (floats are never chunked): 196,608 values below 8 sum to at most 9,633,792. */
static void search_f32_on_integers_equals_u8_search(void)
{
    const size_t dims[] = {1, 15, 16, 17, 784, KNN__CHUNK + 1, 196608};
    for (size_t di = 0; di < 7; di++) {
        const bool long_row = dims[di] > KNN__CHUNK;
        const size_t nq = long_row ? 5 : 37;
        knn_dataset *train = random_dataset(long_row ? 14 : 300, dims[di], long_row ? 8 : 16, 5);
        knn_dataset *q = random_dataset(nq, dims[di], long_row ? 8 : 16, 5);
        knn_dataset *ftrain = float_copy(train, false, 0), *fq = float_copy(q, false, 0);
        for (int metric = KNN_L1; metric <= KNN_L2; metric++) {
            knn_params p = knn_params_default();
            p.k = 7;
            p.metric = (knn_metric)metric;
            knn_neighbors *want = NULL;
            CHECK_EQ(knn__search_reference(train, q, &p, &want), KNN_OK);
            for (int s = 0; s < N_ISAS && want; s++) {
                if (knn_set_isa(isas[s]) != KNN_OK)
                    continue;
                knn_neighbors *got = NULL;
                CHECK_EQ(knn_search(ftrain, fq, &p, &got), KNN_OK);
                for (size_t i = 0; got && i < nq; i++)
                    for (int j = 0; j < 7; j++)
                        if (knn_neighbors_index(got, i, j) != knn_neighbors_index(want, i, j) ||
                            knn_neighbors_distance(got, i, j) !=
                                knn_neighbors_distance(want, i, j)) {
                            fprintf(stderr, "    %s, dim %zu, %s, query %zu, #%d\n", isas[s],
                                    dims[di], knn_metric_name(p.metric), i, j);
                            CHECK(!"float32 search equals the uint8 search");
                            i = nq;
                            break;
                        }
                for (size_t c = 0; got && c < nq * 5; c++) {
                    const uint32_t bits = (uint32_t)got->class_dist[c];
                    float f;
                    memcpy(&f, &bits, sizeof f);
                    if (got->class_index[c] != want->class_index[c] ||
                        (want->class_dist[c] == KNN__NO_DIST
                             ? got->class_dist[c] != KNN__NO_DIST
                             : f != (float)want->class_dist[c])) {
                        fprintf(stderr, "    %s, dim %zu, %s, class minimum %zu\n", isas[s],
                                dims[di], knn_metric_name(p.metric), c);
                        CHECK(!"float32 class minima equal the uint8 search's");
                        break;
                    }
                }
                knn_neighbors_free(got);
            }
            knn_set_isa("best");
            knn_neighbors_free(want);
        }
        knn_dataset_free(train);
        knn_dataset_free(q);
        knn_dataset_free(ftrain);
        knn_dataset_free(fq);
    }
}

/* The true distance, in double precision. */
static double exact_distance(const knn_dataset *a, size_t i, const knn_dataset *b, size_t j,
                             knn_metric metric)
{
    const float *x = knn_dataset_row_f32(a, i), *y = knn_dataset_row_f32(b, j);
    double sum = 0;
    if (metric == KNN_COSINE) { /* 1 - cos; a zero vector is at distance 1 */
        double xx = 0, yy = 0;
        for (size_t d = 0; d < a->dim; d++) {
            sum += (double)x[d] * (double)y[d];
            xx += (double)x[d] * (double)x[d];
            yy += (double)y[d] * (double)y[d];
        }
        return xx == 0 || yy == 0 ? 1.0 : 1.0 - sum / sqrt(xx * yy);
    }
    for (size_t d = 0; d < a->dim; d++) {
        double diff = (double)x[d] - (double)y[d];
        sum += metric == KNN_L1 ? fabs(diff) : diff * diff;
    }
    return metric == KNN_L1 ? sum : sqrt(sum);
}

/* Random floats: the scalar table equals the reference bit for bit; every table's
 * distances are within 1e-5 (relative; for cosine, whose distances lie in [0, 2], absolute)
 * of the exact ones (double precision) and its neighbours are true neighbours within that
 * tolerance; results do not depend on the thread count. */
static void search_f32_within_tolerance_under_every_isa(void)
{
    const double tol = 1e-5;
    const size_t dims[] = {3, 64, 100, 784};
    for (size_t di = 0; di < 4; di++) {
        knn_dataset *proto = random_dataset(400, dims[di], 2, 4), *qproto = random_dataset(29, dims[di], 2, 4);
        knn_dataset *train = float_copy(proto, true, 10), *q = float_copy(qproto, true, 10);
        for (int metric = KNN_L1; metric <= KNN_COSINE; metric++) {
            knn_params p = knn_params_default();
            p.k = 5;
            p.metric = (knn_metric)metric;
            knn_neighbors *ref = NULL;
            CHECK_EQ(knn__search_reference(train, q, &p, &ref), KNN_OK);
            for (int s = 0; s < N_ISAS && ref; s++) {
                if (knn_set_isa(isas[s]) != KNN_OK)
                    continue;
                knn_neighbors *one = NULL, *many = NULL;
                p.threads = 1;
                CHECK_EQ(knn_search(train, q, &p, &one), KNN_OK);
                p.threads = 3;
                CHECK_EQ(knn_search(train, q, &p, &many), KNN_OK);
                if (!one || !many)
                    continue;
                CHECK(same_neighbors(one, many));
                if (!strcmp(isas[s], "scalar"))
                    CHECK(same_neighbors(one, ref));
                for (size_t i = 0; i < 29; i++) {
                    double kth = exact_distance(q, i, train, knn_neighbors_index(ref, i, 4), p.metric);
                    for (int j = 0; j < 5; j++) {
                        uint32_t t = knn_neighbors_index(one, i, j);
                        double exact = exact_distance(q, i, train, t, p.metric);
                        double got = knn_neighbors_distance(one, i, j);
                        const double scale = p.metric == KNN_COSINE ? 1 : exact;
                        const double kscale = p.metric == KNN_COSINE ? 1 : kth;
                        if (fabs(got - exact) > tol * scale || exact > kth + tol * kscale) {
                            fprintf(stderr, "    %s, dim %zu, %s, query %zu: %.9g vs %.9g\n",
                                    isas[s], dims[di], knn_metric_name(p.metric), i, got, exact);
                            CHECK(!"float32 neighbours within tolerance");
                        }
                    }
                }
                knn_neighbors_free(one);
                knn_neighbors_free(many);
            }
            knn_set_isa("best");
            knn_neighbors_free(ref);
        }
        knn_dataset_free(proto);
        knn_dataset_free(qproto);
        knn_dataset_free(train);
        knn_dataset_free(q);
    }
}

/* Cosine rows for the tests: random floats with zero rows, rows that are positive multiples
 * of earlier ones (distance 0, exactly, after normalisation: ties broken by index) and exact
 * duplicates; labels in [0, classes). */
static knn_dataset *cosine_rows(size_t n, size_t dim, int classes)
{
    float *data = malloc(n * dim * sizeof *data + 1);
    int32_t *labels = malloc((n + 1) * sizeof *labels);
    for (size_t i = 0; i < n; i++) {
        for (size_t d = 0; d < dim; d++)
            data[i * dim + d] =
                i % 7 == 3   ? 0.0f
                : i % 5 == 4 ? data[(i / 2) * dim + d] * (i % 2 ? 4.0f : 1.0f)
                             : ((float)(rng() % 1000000) / 1e6f - 0.5f) * 10;
        labels[i] = (int32_t)(rng() % (unsigned)classes);
    }
    knn_dataset *ds = NULL;
    CHECK_EQ(knn_dataset_create_f32(n, dim, data, labels, classes, &ds), KNN_OK);
    free(data);
    free(labels);
    return ds;
}

/* The cosine tiles of every table against the scalar tile, every shape up to 9 x 9 blocks:
 * within 1e-5 (the tables sum in their own orders); never negative; a zero row is at 1. */
static void cosine_kernels_equal_scalar_within_tolerance(void)
{
    const size_t dims[] = {1, 15, 16, 17, 100, 784};
    for (size_t di = 0; di < sizeof dims / sizeof *dims; di++) {
        knn_dataset *q = cosine_rows(9, dims[di], 2), *t = cosine_rows(9, dims[di], 2);
        const size_t stride = q->stride;
        uint8_t *uq = aligned_alloc(64, 9 * stride), *ut = aligned_alloc(64, 9 * stride);
        knn__unit_rows(q->rows, 9, q->dim, stride, uq);
        knn__unit_rows(t->rows, 9, t->dim, stride, ut);
        uint32_t want[81], got[81];
        for (int s = 0; s < N_ISAS; s++) {
            const knn__kernels *k = knn__kernels_find(isas[s]);
            if (!k)
                continue;
            for (size_t nq = 1; nq <= 9; nq++)
                for (size_t nt = 1; nt <= 9; nt++) {
                    knn__kernels_scalar.ip_f32_tile(uq, nq, ut, nt, stride, stride, NULL, NULL,
                                                    want);
                    k->ip_f32_tile(uq, nq, ut, nt, stride, stride, NULL, NULL, got);
                    for (size_t c = 0; c < nq * nt; c++) {
                        float w, g;
                        memcpy(&w, &want[c], 4);
                        memcpy(&g, &got[c], 4);
                        const bool zero = c / nt == 3 || c % nt == 3; /* row 3 is 0 */
                        if (!(fabsf(w - g) <= 1e-5f) || !(g >= 0) || (zero && g != 1.0f)) {
                            fprintf(stderr, "    %s cosine, dim %zu, %zu x %zu, cell %zu: %.9g "
                                            "vs %.9g\n",
                                    k->name, dims[di], nq, nt, c, g, w);
                            CHECK(!"cosine kernel within tolerance of scalar");
                            nq = nt = 10;
                            break;
                        }
                    }
                }
        }
        free(uq);
        free(ut);
        knn_dataset_free(q);
        knn_dataset_free(t);
    }
}

/* Cosine searches: for every table and 1 to 3 threads, with few queries (the training set
 * split between threads) and many (query tiles), the lists and each class's nearest row equal
 * the one-thread search bit for bit, and the scalar table equals the reference; exact
 * matches (multiples of a row) come first at distance 0, by index; the queries as the
 * training set itself (the shared cache) give the same answer as a copy. */
static void search_cosine_equals_reference_split_and_class_minima(void)
{
    for (int many = 0; many < 2; many++) {
        knn_dataset *train = cosine_rows(400, 20, 300), *q = cosine_rows(many ? 150 : 3, 20, 2);
        knn_params p = knn_params_default();
        p.k = 7;
        p.metric = KNN_COSINE;
        knn_neighbors *ref = NULL;
        CHECK_EQ(knn__search_reference(train, q, &p, &ref), KNN_OK);
        for (int s = 0; s < N_ISAS && ref; s++) {
            if (knn_set_isa(isas[s]) != KNN_OK)
                continue;
            knn_neighbors *one = NULL;
            p.threads = 1;
            CHECK_EQ(knn_search(train, q, &p, &one), KNN_OK);
            for (int threads = 1; threads <= 5 && one; threads++) {
                p.threads = threads;
                knn_neighbors *nb = NULL;
                CHECK_EQ(knn_search(train, q, &p, &nb), KNN_OK);
                if (!nb || !same_neighbors(nb, one) ||
                    (!strcmp(isas[s], "scalar") && !same_neighbors(nb, ref))) {
                    fprintf(stderr, "    %s, %zu queries, %d threads\n", isas[s], q->count,
                            threads);
                    CHECK(!"cosine search equals the reference");
                }
                knn_neighbors_free(nb);
            }
            for (size_t i = 0; one && i < q->count; i++)
                for (int j = 1; j < p.k; j++) { /* sorted by (distance, index), >= 0 */
                    uint64_t d0 = knn_neighbors_raw_distance(one, i, j - 1);
                    uint64_t d1 = knn_neighbors_raw_distance(one, i, j);
                    CHECK(d0 < d1 || (d0 == d1 && knn_neighbors_index(one, i, j - 1) <
                                                      knn_neighbors_index(one, i, j)));
                    CHECK(knn_neighbors_distance(one, i, j - 1) >= 0);
                }
            knn_neighbors_free(one);
        }
        knn_set_isa("best");
        knn_neighbors_free(ref);
        knn_dataset_free(q);
        /* the training set as its own queries: row i (not zero) finds itself, or an earlier
         * multiple of itself (the same unit row, bit for bit: an exact tie, broken by index),
         * at distance 0 up to float rounding (1 - u.u); zero rows are at 1 from everything */
        p.threads = 2;
        knn_neighbors *self = NULL;
        CHECK_EQ(knn_search(train, train, &p, &self), KNN_OK);
        for (size_t i = 0; self && i < train->count; i++) {
            double d = knn_neighbors_distance(self, i, 0);
            if (exact_distance(train, i, train, i, KNN_COSINE) == 1.0) /* a zero row */
                CHECK(d == 1.0);
            else
                CHECK(d < 1e-6 && knn_neighbors_index(self, i, 0) <= i);
        }
        knn_neighbors_free(self);
        knn_dataset_free(train);
    }
}

/* Cosine is for float32 features: a uint8 data set is refused in the search, the
 * cross-validation and the model file, with a message that says so; the name parses in any
 * case, and a model file keeps the metric. */
static void cosine_refuses_uint8_and_round_trips_in_models(void)
{
    knn_metric m;
    CHECK(knn_metric_parse("Cosine", &m) == KNN_OK && m == KNN_COSINE);
    CHECK(!strcmp(knn_metric_name(KNN_COSINE), "cosine"));
    knn_dataset *u8 = random_dataset(20, 8, 256, 2);
    knn_params p = knn_params_default();
    p.metric = KNN_COSINE;
    knn_neighbors *nb = NULL;
    CHECK_EQ(knn_search(u8, u8, &p, &nb), KNN_ERR_ARG);
    CHECK(strstr(knn_last_error(), "cosine is for float32 features") != NULL);
    const int ks[] = {1};
    const knn_metric metrics[] = {KNN_COSINE};
    knn_cv_options o = knn_cv_options_default();
    o.ks = ks;
    o.nk = 1;
    o.metrics = metrics;
    o.nmetrics = 1;
    knn_cv_result *r = NULL;
    CHECK_EQ(knn_cross_validate(u8, &o, &r), KNN_ERR_ARG);
    CHECK(strstr(knn_last_error(), "cosine is for float32 features") != NULL);
    FILE *f = tmpfile();
    CHECK(f != NULL);
    if (f) {
        CHECK_EQ(knn_model_write(u8, &p, f), KNN_ERR_ARG);
        CHECK(strstr(knn_last_error(), "cosine is for float32 features") != NULL);
        fclose(f);
    }
    knn_dataset_free(u8);

    knn_dataset *train = cosine_rows(50, 12, 3), *q = cosine_rows(9, 12, 3);
    p.k = 3;
    const char *path = "knn-test-cosine.knn";
    char full[600];
    snprintf(full, sizeof full, "%s/%s", test_dir(), path);
    CHECK_EQ(write_model(train, &p, full), KNN_OK);
    knn_dataset *model = NULL;
    CHECK_EQ(knn_dataset_load(full, NULL, &model), KNN_OK);
    knn_params back = knn_params_default();
    if (model) {
        CHECK(knn_model_params(model, &back));
        CHECK_EQ(back.metric, KNN_COSINE);
        CHECK_EQ(back.k, 3);
        knn_neighbors *a = NULL, *b = NULL;
        CHECK_EQ(knn_search(train, q, &p, &a), KNN_OK);
        CHECK_EQ(knn_search(model, q, &back, &b), KNN_OK);
        CHECK(a && b && same_neighbors(a, b));
        knn_neighbors_free(a);
        knn_neighbors_free(b);
    }
    knn_dataset_free(model);
    knn_dataset_free(train);
    knn_dataset_free(q);
}

/* Many classes, a third of them without a row: each class's nearest row equals the
 * reference's for every kernel table and thread count, with few queries (the training set
 * split between threads, the parts' minima merged) and many (query tiles), uint8 and float. */
static void search_class_minima_equal_reference_with_many_classes(void)
{
    for (int many = 0; many < 2; many++) {
        knn_dataset *train = random_dataset(400, 20, 3, 600);
        knn_dataset *q = random_dataset(many ? 150 : 3, 20, 3, 2);
        knn_dataset *ftrain = float_copy(train, true, 10), *fq = float_copy(q, true, 10);
        for (int metric = KNN_L1; metric <= KNN_L2; metric++) {
            knn_params p = knn_params_default();
            p.k = 3;
            p.metric = (knn_metric)metric;
            knn_neighbors *ref = NULL, *fref = NULL;
            CHECK_EQ(knn__search_reference(train, q, &p, &ref), KNN_OK);
            CHECK_EQ(knn__search_reference(ftrain, fq, &p, &fref), KNN_OK);
            for (int s = 0; s < N_ISAS && ref && fref; s++)
                for (int threads = 1; threads <= 3; threads++) {
                    if (knn_set_isa(isas[s]) != KNN_OK)
                        continue;
                    p.threads = threads;
                    knn_neighbors *nb = NULL, *fnb = NULL, *fone = NULL;
                    CHECK_EQ(knn_search(train, q, &p, &nb), KNN_OK);
                    CHECK_EQ(knn_search(ftrain, fq, &p, &fnb), KNN_OK);
                    p.threads = 1;
                    CHECK_EQ(knn_search(ftrain, fq, &p, &fone), KNN_OK);
                    if (!nb || !fnb || !fone || !same_neighbors(nb, ref) ||
                        !same_neighbors(fnb, fone) ||
                        (!strcmp(isas[s], "scalar") && !same_neighbors(fnb, fref))) {
                        fprintf(stderr, "    %s, %s, %zu queries, %d threads\n", isas[s],
                                knn_metric_name(p.metric), q->count, threads);
                        CHECK(!"class minima equal the reference");
                    }
                    knn_neighbors_free(nb);
                    knn_neighbors_free(fnb);
                    knn_neighbors_free(fone);
                }
            knn_set_isa("best");
            CHECK(ref && ref->classes == 600);
            size_t empty = 0; /* the test means something only with classes without rows */
            for (size_t c = 0; ref && c < 600; c++)
                empty += ref->class_index[c] == KNN__NO_ROW;
            CHECK(empty > 100);
            knn_neighbors_free(ref);
            knn_neighbors_free(fref);
        }
        knn_dataset_free(train);
        knn_dataset_free(q);
        knn_dataset_free(ftrain);
        knn_dataset_free(fq);
    }
}

/* Equal distances within a class: the class keeps its row of the smallest index, also when
 * the rows fall in different parts of a split training set. */
static void search_class_minimum_takes_the_smallest_index(void)
{
    uint8_t rows[600];
    int32_t labels[600];
    for (int i = 0; i < 600; i++) {
        rows[i] = (uint8_t)(i % 2 ? 9 : 5); /* distances from 5: 0 and 16 */
        labels[i] = i < 300 ? 1 : 0;        /* class 1's rows come first   */
    }
    rows[0] = 9;   /* class 1's first row at distance 0: row 1 is at 16, row 3 too ... */
    rows[1] = 200; /* ... so class 1's nearest is row 2 (distance 0); class 0's is 300 */
    const uint8_t query[1] = {5};
    knn_dataset *train, *q;
    CHECK_EQ(knn_dataset_create(600, 1, rows, labels, 3, 1, 1, 1, &train), KNN_OK);
    CHECK_EQ(knn_dataset_create(1, 1, query, NULL, 0, 1, 1, 1, &q), KNN_OK);
    knn_params p = knn_params_default();
    for (p.threads = 1; p.threads <= 4; p.threads++) {
        knn_neighbors *nb = NULL;
        CHECK_EQ(knn_search(train, q, &p, &nb), KNN_OK);
        CHECK(nb && nb->classes == 3);
        if (!nb)
            continue;
        CHECK_EQ(nb->class_index[0], 300);
        CHECK_EQ(nb->class_dist[0], 0);
        CHECK_EQ(nb->class_index[1], 2);
        CHECK_EQ(nb->class_dist[1], 0);
        CHECK_EQ(nb->class_index[2], KNN__NO_ROW); /* class 2 has no rows */
        knn_neighbors_free(nb);
    }
    knn_dataset_free(train);
    knn_dataset_free(q);
}

/* No labels, no class minima; a label that is not a class (a mapped model changed under
 * the search) fails the search instead of writing outside the minima. */
static void search_class_minima_need_valid_labels(void)
{
    knn_dataset *train = random_dataset(50, 8, 256, 4), *q = random_dataset(5, 8, 256, 4);
    uint8_t data[50 * 8];
    for (size_t i = 0; i < 50; i++)
        memcpy(data + i * 8, knn_dataset_row(train, i), 8);
    knn_dataset *unlabelled;
    CHECK_EQ(knn_dataset_create(50, 8, data, NULL, 0, 8, 1, 1, &unlabelled), KNN_OK);
    knn_params p = knn_params_default();
    knn_neighbors *nb = NULL;
    CHECK_EQ(knn_search(unlabelled, q, &p, &nb), KNN_OK);
    CHECK(nb && nb->classes == 0 && !nb->class_dist && !nb->class_index);
    knn_neighbors_free(nb);
    train->labels[37] = 4;
    nb = (knn_neighbors *)1;
    CHECK_EQ(knn_search(train, q, &p, &nb), KNN_ERR_FORMAT);
    CHECK(nb == NULL);
    CHECK(strstr(knn_last_error(), "label 4 of row 37 is outside 0..3") != NULL);
    knn_dataset_free(train);
    knn_dataset_free(unlabelled);
    knn_dataset_free(q);
}

static void search_rejects_mixed_value_types(void)
{
    knn_dataset *u8 = random_dataset(5, 8, 256, 2), *f = float_copy(u8, false, 0);
    knn_params p = knn_params_default();
    knn_neighbors *nb;
    CHECK_EQ(knn_search(u8, f, &p, &nb), KNN_ERR_SHAPE);
    CHECK(strstr(knn_last_error(), "float32") != NULL);
    const float bad[2] = {1.0f, NAN};
    knn_dataset *ds = (knn_dataset *)1;
    CHECK_EQ(knn_dataset_create_f32(1, 2, bad, NULL, 0, &ds), KNN_ERR_ARG);
    CHECK(ds == NULL);
    knn_dataset_free(u8);
    knn_dataset_free(f);
}

static void search_orders_equal_distances_by_training_index(void)
{
    const uint8_t rows[4] = {5, 7, 3, 5}; /* distances from 5: 0, 2, 2, 0 */
    const int32_t labels[4] = {0, 1, 2, 3};
    const uint8_t query[1] = {5};
    knn_dataset *train, *q;
    CHECK_EQ(knn_dataset_create(4, 1, rows, labels, 4, 1, 1, 1, &train), KNN_OK);
    CHECK_EQ(knn_dataset_create(1, 1, query, NULL, 0, 1, 1, 1, &q), KNN_OK);
    knn_params p = knn_params_default();
    p.k = 4;
    knn_neighbors *nb;
    CHECK_EQ(knn_search(train, q, &p, &nb), KNN_OK);
    const uint32_t want_index[4] = {0, 3, 1, 2}, want_dist[4] = {0, 0, 4, 4};
    for (int j = 0; j < 4; j++) {
        CHECK_EQ(knn_neighbors_index(nb, 0, j), want_index[j]);
        CHECK_EQ(knn_neighbors_raw_distance(nb, 0, j), want_dist[j]);
    }
    CHECK(knn_neighbors_distance(nb, 0, 2) == 2.0); /* L2 in its own units: sqrt(4) */
    knn_neighbors_free(nb);
    knn_dataset_free(train);
    knn_dataset_free(q);
}

static void search_rejects_bad_parameters(void)
{
    knn_dataset *train = random_dataset(5, 8, 256, 2), *q = random_dataset(3, 8, 256, 2);
    knn_dataset *other = random_dataset(3, 9, 256, 2);
    knn_params p = knn_params_default();
    knn_neighbors *nb = (knn_neighbors *)1;
    p.k = 6; /* more than the 5 training rows */
    CHECK_EQ(knn_search(train, q, &p, &nb), KNN_ERR_ARG);
    CHECK(nb == NULL);
    CHECK(strstr(knn_last_error(), "K = 6 is more than the 5 training images") != NULL);
    p.k = 0;
    CHECK_EQ(knn_search(train, q, &p, &nb), KNN_ERR_ARG);
    p.k = 1;
    p.metric = (knn_metric)7;
    CHECK_EQ(knn_search(train, q, &p, &nb), KNN_ERR_ARG);
    p.metric = KNN_L1;
    CHECK_EQ(knn_search(train, other, &p, &nb), KNN_ERR_SHAPE);
    CHECK(strstr(knn_last_error(), "8") && strstr(knn_last_error(), "9"));
    p.k = 5; /* K equal to the training set is fine: every row, sorted */
    CHECK_EQ(knn_search(train, q, &p, &nb), KNN_OK);
    for (size_t i = 0; nb && i < 3; i++)
        for (int j = 1; j < 5; j++)
            CHECK(knn_neighbors_raw_distance(nb, i, j - 1) <= knn_neighbors_raw_distance(nb, i, j));
    knn_neighbors_free(nb);
    knn_dataset_free(train);
    knn_dataset_free(q);
    knn_dataset_free(other);
}

static void search_of_no_queries_returns_an_empty_list(void)
{
    knn_dataset *train = random_dataset(5, 8, 256, 2), *q = random_dataset(0, 8, 256, 2);
    knn_params p = knn_params_default();
    knn_neighbors *nb = NULL;
    CHECK_EQ(knn_search(train, q, &p, &nb), KNN_OK);
    CHECK(nb && knn_neighbors_count(nb) == 0);
    knn_neighbors_free(nb);
    knn_dataset_free(train);
    knn_dataset_free(q);
}

static size_t progress_calls, progress_last;
static void count_progress(size_t done, size_t total, void *user)
{
    (void)user;
    CHECK(done <= total);
    progress_calls++;
    progress_last = done;
}

static void search_reports_progress_up_to_the_total(void)
{
    knn_dataset *train = random_dataset(50, 16, 256, 2), *q = random_dataset(100, 16, 256, 2);
    knn_params p = knn_params_default();
    p.progress = count_progress;
    knn_neighbors *nb = NULL;
    CHECK_EQ(knn_search(train, q, &p, &nb), KNN_OK);
    CHECK(progress_calls >= 1);
    CHECK_EQ(progress_last, 100);
    knn_neighbors_free(nb);
    knn_dataset_free(train);
    knn_dataset_free(q);
}

const test_case search_tests[] = {
    {"distances_match_hand_computed_values", distances_match_hand_computed_values},
    {"kernels_equal_scalar_bit_for_bit", kernels_equal_scalar_bit_for_bit},
    {"search_equals_reference_for_many_shapes", search_equals_reference_for_many_shapes},
    {"search_many_query_tiles_equals_reference", search_many_query_tiles_equals_reference},
    {"search_part_by_part_equals_reference", search_part_by_part_equals_reference},
    {"search_split_over_training_rows_equals_reference",
     search_split_over_training_rows_equals_reference},
    {"search_class_minima_equal_reference_with_many_classes",
     search_class_minima_equal_reference_with_many_classes},
    {"search_class_minimum_takes_the_smallest_index",
     search_class_minimum_takes_the_smallest_index},
    {"search_class_minima_need_valid_labels", search_class_minima_need_valid_labels},
    {"search_long_rows_equals_reference", search_long_rows_equals_reference},
    {"rows_beyond_the_cap_are_refused", rows_beyond_the_cap_are_refused},
    {"set_isa_accepts_known_names_only", set_isa_accepts_known_names_only},
    {"search_f32_on_integers_equals_u8_search", search_f32_on_integers_equals_u8_search},
    {"search_f32_within_tolerance_under_every_isa",
     search_f32_within_tolerance_under_every_isa},
    {"cosine_kernels_equal_scalar_within_tolerance", cosine_kernels_equal_scalar_within_tolerance},
    {"search_cosine_equals_reference_split_and_class_minima",
     search_cosine_equals_reference_split_and_class_minima},
    {"cosine_refuses_uint8_and_round_trips_in_models",
     cosine_refuses_uint8_and_round_trips_in_models},
    {"search_rejects_mixed_value_types", search_rejects_mixed_value_types},
    {"search_orders_equal_distances_by_training_index",
     search_orders_equal_distances_by_training_index},
    {"search_rejects_bad_parameters", search_rejects_bad_parameters},
    {"search_of_no_queries_returns_an_empty_list", search_of_no_queries_returns_an_empty_list},
    {"search_reports_progress_up_to_the_total", search_reports_progress_up_to_the_total},
    {NULL, NULL}};
