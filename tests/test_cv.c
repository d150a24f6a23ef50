/* test_cv.c: cross-validation against the naive way (a separate reference search for every
 * fold and every K), fold assignment, the choice of the best setting, and bad options. */
#include "check.h"
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t state = 12345;
static uint32_t next_random(void)
{
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(state >> 33);
}

static knn_dataset *small_problem(size_t n, size_t dim, unsigned range, int classes)
{
    uint8_t *data = malloc(n * dim);
    int32_t *labels = malloc(n * sizeof *labels);
    for (size_t i = 0; i < n * dim; i++)
        data[i] = (uint8_t)(next_random() % range);
    for (size_t i = 0; i < n; i++)
        labels[i] = (int32_t)(next_random() % (unsigned)classes);
    knn_dataset *ds = NULL;
    CHECK_EQ(knn_dataset_create(n, dim, data, labels, classes, (int)dim, 1, 1, &ds), KNN_OK);
    free(data);
    free(labels);
    return ds;
}

/* Correct predictions of `valid` (true labels `lva`) by K nearest in `train`, with
 * knn_search or the reference search; frees both data sets. */
static size_t split_correct(knn_dataset *train, knn_dataset *valid, const int32_t *lva, int k,
                            knn_metric metric, knn_weights w, knn_ties t, bool reference)
{
    knn_params p = knn_params_default();
    p.k = k;
    p.metric = metric;
    p.weights = w;
    p.ties = t;
    knn_neighbors *nb = NULL;
    CHECK_EQ((reference ? knn__search_reference : knn_search)(train, valid, &p, &nb), KNN_OK);
    size_t nva = valid->count;
    int32_t *pred = malloc((nva + 1) * sizeof *pred);
    CHECK_EQ(knn_vote(train, nb, &p, pred, NULL, NULL), KNN_OK);
    size_t correct = 0;
    for (size_t i = 0; i < nva; i++)
        correct += pred[i] == lva[i];
    free(pred);
    knn_neighbors_free(nb);
    knn_dataset_free(train);
    knn_dataset_free(valid);
    return correct;
}

/* Correct predictions of fold f's rows by K nearest among the other folds, the naive way:
 * the reference search, or (`fast`, for long rows) knn_search, itself checked against it. */
static size_t naive_search_correct(const knn_dataset *ds, const int32_t *fold_of, int f, int k,
                                   knn_metric metric, knn_weights w, knn_ties t, bool fast)
{
    size_t n = ds->count, ntr = 0, nva = 0;
    uint8_t *tr = malloc(n * ds->dim), *va = malloc(n * ds->dim);
    int32_t *ltr = malloc(n * sizeof *ltr), *lva = malloc(n * sizeof *lva);
    for (size_t i = 0; i < n; i++) {
        bool val = fold_of[i] == f;
        memcpy((val ? va + nva * ds->dim : tr + ntr * ds->dim), knn_dataset_row(ds, i), ds->dim);
        if (val)
            lva[nva++] = ds->labels[i];
        else
            ltr[ntr++] = ds->labels[i];
    }
    knn_dataset *train, *valid;
    knn_dataset_create(ntr, ds->dim, tr, ltr, ds->num_classes, (int)ds->dim, 1, 1, &train);
    knn_dataset_create(nva, ds->dim, va, lva, ds->num_classes, (int)ds->dim, 1, 1, &valid);
    size_t correct = split_correct(train, valid, lva, k, metric, w, t, !fast);
    free(tr);
    free(va);
    free(ltr);
    free(lva);
    return correct;
}

static size_t naive_correct(const knn_dataset *ds, const int32_t *fold_of, int f, int k,
                            knn_metric metric, knn_weights w, knn_ties t)
{
    return naive_search_correct(ds, fold_of, f, k, metric, w, t, false);
}

static void cv_equals_naive_search_per_fold_and_k(void)
{
    knn_dataset *ds = small_problem(303, 17, 4, 4); /* 303 rows: uneven folds, many ties */
    const int ks[] = {9, 1, 2, 5};
    const knn_metric metrics[] = {KNN_L2, KNN_L1};
    const knn_fold_mode modes[] = {KNN_FOLDS_CONTIGUOUS, KNN_FOLDS_SHUFFLED, KNN_FOLDS_STRATIFIED};
    const char *isas[] = {"scalar", "avx2", "avxvnni", "avx512"};
    int32_t *fold_of = malloc(303 * sizeof *fold_of);
    for (int mode = 0; mode < 3; mode++)
        for (int w = 0; w < 2; w++)
            for (int t = 0; t < 2; t++) {
                knn_cv_options o = {5, modes[mode], 77, 0, ks, 4, metrics, 2,
                                    (knn_weights)w, (knn_ties)t, 1 + (mode + w + t) % 3,
                                    NULL, NULL};
                CHECK_EQ(knn_set_isa(isas[(mode + t) % 4]) == KNN_OK ||
                             knn_set_isa("best") == KNN_OK,
                         1);
                knn_cv_result *r = NULL;
                CHECK_EQ(knn_cross_validate(ds, &o, &r), KNN_OK);
                CHECK_EQ(knn_folds_assign(303, ds->labels, 5, modes[mode], 77, fold_of), KNN_OK);
                for (int m = 0; r && m < 2; m++)
                    for (int k = 0; k < 4; k++)
                        for (int f = 0; f < 5; f++) {
                            size_t want = naive_correct(ds, fold_of, f, ks[k], metrics[m],
                                                        (knn_weights)w, (knn_ties)t);
                            double got = knn_cv_accuracy(r, m, k, f) * (double)knn_cv_fold_size(r, f);
                            if (fabs(got - (double)want) > 1e-6) {
                                fprintf(stderr, "    mode %d, weights %d, ties %d, %s, K %d, "
                                                "fold %d: %g != %zu\n",
                                        mode, w, t, knn_metric_name(metrics[m]), ks[k], f, got,
                                        want);
                                CHECK(!"cv equals the naive computation");
                            }
                        }
                knn_cv_result_free(r);
            }
    knn_set_isa("best");
    free(fold_of);
    knn_dataset_free(ds);
}

/* Large K through the vote (cv.c's buffered selection: K = 60 selects a few times per row,
 * K = 150 once), with many ties at every distance (3 values a pixel) and distance weights,
 * whose vote reads every neighbour's distance. */
static void cv_large_k_equals_naive(void)
{
    knn_dataset *ds = small_problem(600, 9, 3, 5);
    const int ks[] = {150, 60, 1};
    const knn_metric metrics[] = {KNN_L2, KNN_L1};
    int32_t fold_of[600];
    for (int threads = 1; threads <= 2; threads++) {
        knn_cv_options o = {3, KNN_FOLDS_SHUFFLED, 9, 0, ks, 3, metrics, 2,
                            KNN_WEIGHTS_DISTANCE, KNN_TIES_NEAREST, threads, NULL, NULL};
        knn_cv_result *r = NULL;
        CHECK_EQ(knn_cross_validate(ds, &o, &r), KNN_OK);
        CHECK_EQ(knn_folds_assign(600, ds->labels, 3, KNN_FOLDS_SHUFFLED, 9, fold_of), KNN_OK);
        for (int m = 0; r && m < 2; m++)
            for (int k = 0; k < 3; k++)
                for (int f = 0; f < 3; f++) {
                    size_t want = naive_correct(ds, fold_of, f, ks[k], metrics[m],
                                                KNN_WEIGHTS_DISTANCE, KNN_TIES_NEAREST);
                    double got = knn_cv_accuracy(r, m, k, f) * (double)knn_cv_fold_size(r, f);
                    CHECK(fabs(got - (double)want) < 1e-6);
                }
        knn_cv_result_free(r);
    }
    knn_dataset_free(ds);
}

/* The pass's lists themselves, row by row, against the reference search of each fold among
 * the others: indices mapped back, distances bit for bit. K = 7 fills each row's buffer
 * (2K entries) a hundred times, K = 120 a few times before the final selection, K = 520
 * selects lists past the 1,024 entries selected as packed keys; 3 values a pixel make ties
 * at every distance. */
static void cv_lists_equal_reference_searches(void)
{
    const size_t n = 1400, dim = 7;
    knn_dataset *ds = small_problem(n, dim, 3, 4);
    int32_t fold_of[1400];
    CHECK_EQ(knn_folds_assign(n, ds->labels, 4, KNN_FOLDS_SHUFFLED, 3, fold_of), KNN_OK);
    const knn_metric metrics[] = {KNN_L2, KNN_L1};
    const int ks[] = {120, 7, 520};
    uint8_t *tr = malloc(n * dim), *va = malloc(n * dim);
    size_t *map = malloc(n * sizeof *map), *vmap = malloc(n * sizeof *vmap);
    for (int m = 0; m < 2; m++)
        for (int kk = 0; kk < 3; kk++)
            for (int threads = 1; threads <= 2; threads++) {
                knn_neighbors *got = NULL;
                CHECK_EQ(knn__cv_lists(ds, fold_of, metrics[m], ks[kk], threads, &got), KNN_OK);
                for (int f = 0; got && f < 4; f++) {
                    size_t ntr = 0, nva = 0;
                    for (size_t i = 0; i < n; i++) {
                        const bool val = fold_of[i] == f;
                        memcpy(val ? va + nva * dim : tr + ntr * dim, knn_dataset_row(ds, i),
                               dim);
                        if (val)
                            vmap[nva++] = i;
                        else
                            map[ntr++] = i;
                    }
                    knn_dataset *train = NULL, *valid = NULL;
                    knn_dataset_create(ntr, dim, tr, NULL, 0, (int)dim, 1, 1, &train);
                    knn_dataset_create(nva, dim, va, NULL, 0, (int)dim, 1, 1, &valid);
                    knn_params p = knn_params_default();
                    p.k = ks[kk];
                    p.metric = metrics[m];
                    knn_neighbors *want = NULL;
                    CHECK_EQ(knn__search_reference(train, valid, &p, &want), KNN_OK);
                    size_t wrong = 0;
                    for (size_t q = 0; want && q < nva; q++)
                        for (int j = 0; j < ks[kk]; j++)
                            wrong += knn_neighbors_index(got, vmap[q], j) !=
                                         map[knn_neighbors_index(want, q, j)] ||
                                     knn_neighbors_raw_distance(got, vmap[q], j) !=
                                         knn_neighbors_raw_distance(want, q, j);
                    CHECK_EQ(wrong, 0);
                    knn_neighbors_free(want);
                    knn_dataset_free(train);
                    knn_dataset_free(valid);
                }
                knn_neighbors_free(got);
            }
    free(tr);
    free(va);
    free(map);
    free(vmap);
    knn_dataset_free(ds);
}

/* Float32 rows for cosine: small integers, so that many rows are multiples of one another
 * (equal unit rows: exact ties), a few zero rows (distance 1 to everything). */
static knn_dataset *cosine_problem(size_t n, size_t dim, int classes)
{
    float *data = malloc(n * dim * sizeof *data);
    int32_t *labels = malloc(n * sizeof *labels);
    for (size_t i = 0; i < n * dim; i++)
        data[i] = (float)(next_random() % 3) * (i / dim % 3 == 1 ? 2.0f : 1.0f);
    for (size_t i = 0; i < n; i++)
        labels[i] = (int32_t)(next_random() % (unsigned)classes);
    knn_dataset *ds = NULL;
    CHECK_EQ(knn_dataset_create_f32(n, dim, data, labels, classes, &ds), KNN_OK);
    free(data);
    free(labels);
    return ds;
}

/* Correct predictions of fold f by K nearest among the other folds, for float32 rows: a
 * separate search (knn_search with the kernels in use, or the reference). */
static size_t naive_f32_correct(const knn_dataset *ds, const int32_t *fold_of, int f, int k,
                                knn_metric metric, knn_weights w, knn_ties t, bool reference)
{
    size_t n = ds->count, ntr = 0, nva = 0, dim = ds->dim;
    float *tr = malloc(n * dim * sizeof *tr), *va = malloc(n * dim * sizeof *va);
    int32_t *ltr = malloc(n * sizeof *ltr), *lva = malloc(n * sizeof *lva);
    for (size_t i = 0; i < n; i++) {
        bool val = fold_of[i] == f;
        memcpy(val ? va + nva * dim : tr + ntr * dim, knn_dataset_row_f32(ds, i),
               dim * sizeof *tr);
        if (val)
            lva[nva++] = ds->labels[i];
        else
            ltr[ntr++] = ds->labels[i];
    }
    knn_dataset *train = NULL, *valid = NULL;
    CHECK_EQ(knn_dataset_create_f32(ntr, dim, tr, ltr, ds->num_classes, &train), KNN_OK);
    CHECK_EQ(knn_dataset_create_f32(nva, dim, va, lva, ds->num_classes, &valid), KNN_OK);
    size_t correct = split_correct(train, valid, lva, k, metric, w, t, reference);
    free(tr);
    free(va);
    free(ltr);
    free(lva);
    return correct;
}

/* Cosine (with L2 beside it) on float32 rows: the one-search cross-validation equals a
 * separate search per fold and K with the same kernels (and, for the scalar kernels, the
 * reference), for every table, 1 to 3 threads, both weights and tie rules. */
static void cv_cosine_equals_separate_searches(void)
{
    knn_dataset *ds = cosine_problem(211, 9, 3);
    const int ks[] = {7, 1, 4};
    const knn_metric metrics[] = {KNN_COSINE, KNN_L2};
    const char *isas[] = {"scalar", "avx2", "avxvnni", "avx512"};
    int32_t *fold_of = malloc(211 * sizeof *fold_of);
    for (int s = 0; s < 4; s++) {
        if (knn_set_isa(isas[s]) != KNN_OK)
            continue;
        for (int w = 0; w < 2; w++)
            for (int t = 0; t < 2; t++) {
                knn_cv_options o = {4, KNN_FOLDS_SHUFFLED, 5, 0, ks, 3, metrics, 2,
                                    (knn_weights)w, (knn_ties)t, 1 + (s + w + t) % 3,
                                    NULL, NULL};
                knn_cv_result *r = NULL;
                CHECK_EQ(knn_cross_validate(ds, &o, &r), KNN_OK);
                CHECK_EQ(knn_folds_assign(211, ds->labels, 4, KNN_FOLDS_SHUFFLED, 5, fold_of),
                         KNN_OK);
                for (int m = 0; r && m < 2; m++)
                    for (int k = 0; k < 3; k++)
                        for (int f = 0; f < 4; f++) {
                            size_t want = naive_f32_correct(ds, fold_of, f, ks[k], metrics[m],
                                                            (knn_weights)w, (knn_ties)t, false);
                            if (s == 0)
                                CHECK_EQ(want, naive_f32_correct(ds, fold_of, f, ks[k],
                                                                 metrics[m], (knn_weights)w,
                                                                 (knn_ties)t, true));
                            double got = knn_cv_accuracy(r, m, k, f) *
                                         (double)knn_cv_fold_size(r, f);
                            if (fabs(got - (double)want) > 1e-6) {
                                fprintf(stderr, "    %s, weights %d, ties %d, %s, K %d, fold "
                                                "%d: %g != %zu\n",
                                        isas[s], w, t, knn_metric_name(metrics[m]), ks[k], f,
                                        got, want);
                                CHECK(!"cosine cv equals separate searches");
                            }
                        }
                knn_cv_result_free(r);
            }
    }
    knn_set_isa("best");
    free(fold_of);
    knn_dataset_free(ds);
}

static void cv_leave_one_out_and_holdout_equal_naive(void)
{
    knn_dataset *ds = small_problem(40, 9, 3, 3);
    const int ks[] = {1, 3};
    const knn_metric metrics[] = {KNN_L1};
    int32_t fold_of[40];
    knn_cv_options o = {40, KNN_FOLDS_CONTIGUOUS, 0, 0, ks, 2, metrics, 1,
                        KNN_WEIGHTS_UNIFORM, KNN_TIES_NEAREST, 2, NULL, NULL};
    knn_cv_result *r = NULL;
    CHECK_EQ(knn_cross_validate(ds, &o, &r), KNN_OK);
    CHECK(r && knn_cv_folds(r) == 40);
    for (int i = 0; i < 40; i++)
        fold_of[i] = i;
    for (int f = 0; r && f < 40; f++) {
        CHECK_EQ(knn_cv_fold_size(r, f), 1);
        for (int k = 0; k < 2; k++)
            CHECK_EQ(knn_cv_accuracy(r, 0, k, f),
                     naive_correct(ds, fold_of, f, ks[k], KNN_L1, KNN_WEIGHTS_UNIFORM,
                                   KNN_TIES_NEAREST));
    }
    knn_cv_result_free(r);
    /* hold-out: the last quarter validates */
    o.val_fraction = 0.25;
    CHECK_EQ(knn_cross_validate(ds, &o, &r), KNN_OK);
    CHECK(r && knn_cv_folds(r) == 1 && knn_cv_fold_size(r, 0) == 10);
    for (int i = 0; i < 40; i++)
        fold_of[i] = i >= 30;
    for (int k = 0; r && k < 2; k++)
        CHECK_EQ((size_t)llround(knn_cv_accuracy(r, 0, k, 0) * 10),
                 naive_correct(ds, fold_of, 1, ks[k], KNN_L1, KNN_WEIGHTS_UNIFORM,
                               KNN_TIES_NEAREST));
    knn_cv_result_free(r);
    knn_dataset_free(ds);
}

/* Rows of 70,000 values (two chunks: 65,536 + 4,480 bytes), each value 0 or 255 with a
 * chance that varies by row (all 0 and all 255 among them), so that squared L2 reaches
 * 65,025 x 70,000 > 2^32, and 140 rows: two blocks, so that one tile serves both rows and
 * columns. Every kernel table, with 1 and 2 threads, contiguous folds and uniform weights,
 * shuffled folds and distance weights, equals the naive way fold by fold. */
static void cv_long_rows_equal_naive(void)
{
    const size_t n = 140, dim = 70000;
    uint8_t *data = malloc(n * dim);
    int32_t labels[140];
    for (size_t i = 0; i < n; i++) {
        unsigned chance = (unsigned)(i * 7 % 11); /* in tenths */
        for (size_t d = 0; d < dim; d++)
            data[i * dim + d] = next_random() % 10 < chance ? 255 : 0;
        labels[i] = (int32_t)(next_random() % 3);
    }
    knn_dataset *ds = NULL;
    CHECK_EQ(knn_dataset_create(n, dim, data, labels, 3, (int)dim, 1, 1, &ds), KNN_OK);
    free(data);
    const int ks[] = {1, 4, 9};
    const knn_metric metrics[] = {KNN_L2, KNN_L1};
    const char *isas[] = {"scalar", "avx2", "avxvnni", "avx512"};
    int32_t fold_of[140];
    for (int mode = 0; ds && mode < 2; mode++) {
        const knn_fold_mode fm = mode ? KNN_FOLDS_SHUFFLED : KNN_FOLDS_CONTIGUOUS;
        const knn_weights w = mode ? KNN_WEIGHTS_DISTANCE : KNN_WEIGHTS_UNIFORM;
        CHECK_EQ(knn_folds_assign(n, labels, 3, fm, 5, fold_of), KNN_OK);
        size_t want[2][3][3];
        for (int m = 0; m < 2; m++)
            for (int k = 0; k < 3; k++)
                for (int f = 0; f < 3; f++)
                    want[m][k][f] = naive_search_correct(ds, fold_of, f, ks[k], metrics[m], w,
                                                         KNN_TIES_NEAREST, true);
        for (int s = 0; s < 4; s++) {
            if (knn_set_isa(isas[s]) != KNN_OK)
                continue;
            const int threads = 1 + (s + mode) % 2;
            knn_cv_options o = {3, fm, 5, 0, ks, 3, metrics, 2, w, KNN_TIES_NEAREST, threads,
                                NULL, NULL};
            knn_cv_result *r = NULL;
            CHECK_EQ(knn_cross_validate(ds, &o, &r), KNN_OK);
            for (int m = 0; r && m < 2; m++)
                for (int k = 0; k < 3; k++)
                    for (int f = 0; f < 3; f++) {
                        double got = knn_cv_accuracy(r, m, k, f) * (double)knn_cv_fold_size(r, f);
                        if (fabs(got - (double)want[m][k][f]) > 1e-6) {
                            fprintf(stderr, "    %s, %d threads, mode %d, %s, K %d, fold %d: "
                                            "%g != %zu\n",
                                    isas[s], threads, mode, knn_metric_name(metrics[m]), ks[k],
                                    f, got, want[m][k][f]);
                            CHECK(!"cv of long rows equals the naive computation");
                        }
                    }
            knn_cv_result_free(r);
        }
        knn_set_isa("best");
    }
    knn_dataset_free(ds);
}

static void folds_contiguous_shuffled_stratified(void)
{
    int32_t f[10], g[10];
    CHECK_EQ(knn_folds_assign(10, NULL, 4, KNN_FOLDS_CONTIGUOUS, 0, f), KNN_OK);
    const int32_t want[10] = {0, 0, 0, 1, 1, 1, 2, 2, 3, 3}; /* sizes 3, 3, 2, 2 */
    for (int i = 0; i < 10; i++)
        CHECK_EQ(f[i], want[i]);
    CHECK_EQ(knn_folds_assign(10, NULL, 4, KNN_FOLDS_SHUFFLED, 5, f), KNN_OK);
    CHECK_EQ(knn_folds_assign(10, NULL, 4, KNN_FOLDS_SHUFFLED, 5, g), KNN_OK);
    CHECK(memcmp(f, g, sizeof f) == 0); /* same seed, same folds */
    int sizes[4] = {0};
    for (int i = 0; i < 10; i++)
        sizes[f[i]]++;
    CHECK(sizes[0] == 3 && sizes[1] == 3 && sizes[2] == 2 && sizes[3] == 2);
    bool differs = false;
    for (uint64_t seed = 6; seed < 12 && !differs; seed++) {
        CHECK_EQ(knn_folds_assign(10, NULL, 4, KNN_FOLDS_SHUFFLED, seed, g), KNN_OK);
        differs = memcmp(f, g, sizeof f) != 0;
    }
    CHECK(differs);
    /* stratified: 30 rows, classes of 12, 9 and 9 over 3 folds: 4, 3, 3 of each per fold */
    int32_t labels[30], h[30];
    for (int i = 0; i < 30; i++)
        labels[i] = i < 12 ? 0 : i < 21 ? 1 : 2;
    CHECK_EQ(knn_folds_assign(30, labels, 3, KNN_FOLDS_STRATIFIED, 9, h), KNN_OK);
    int per[3][3] = {{0}};
    for (int i = 0; i < 30; i++)
        per[h[i]][labels[i]]++;
    for (int fold = 0; fold < 3; fold++)
        CHECK(per[fold][0] == 4 && per[fold][1] == 3 && per[fold][2] == 3);
    /* leave-one-out */
    CHECK_EQ(knn_folds_assign(10, NULL, 10, KNN_FOLDS_CONTIGUOUS, 0, f), KNN_OK);
    for (int i = 0; i < 10; i++)
        CHECK_EQ(f[i], i);
    CHECK_EQ(knn_folds_assign(10, NULL, 1, KNN_FOLDS_CONTIGUOUS, 0, f), KNN_ERR_ARG);
    CHECK_EQ(knn_folds_assign(10, NULL, 11, KNN_FOLDS_CONTIGUOUS, 0, f), KNN_ERR_ARG);
    CHECK(strstr(knn_last_error(), "11 folds for 10 rows") != NULL);
}

static void cv_best_ties_go_to_smaller_k_then_first_metric(void)
{
    /* one class only: every setting is 100% right; the best is the smallest K, first metric */
    uint8_t data[20];
    int32_t labels[20] = {0};
    for (int i = 0; i < 20; i++)
        data[i] = (uint8_t)i;
    knn_dataset *ds;
    CHECK_EQ(knn_dataset_create(20, 1, data, labels, 1, 1, 1, 1, &ds), KNN_OK);
    const int ks[] = {7, 3, 5};
    const knn_metric metrics[] = {KNN_L2, KNN_L1};
    knn_cv_options o = {4, KNN_FOLDS_CONTIGUOUS, 0, 0, ks, 3, metrics, 2,
                        KNN_WEIGHTS_UNIFORM, KNN_TIES_NEAREST, 0, NULL, NULL};
    knn_cv_result *r = NULL;
    CHECK_EQ(knn_cross_validate(ds, &o, &r), KNN_OK);
    int m = -1, k = -1;
    if (r)
        knn_cv_best(r, &m, &k);
    CHECK_EQ(k, 1); /* K = 3 */
    CHECK_EQ(m, 0); /* l2, listed first */
    CHECK(r && knn_cv_mean(r, 1, 2) == 1.0 && knn_cv_std(r, 1, 2) == 0.0);
    knn_cv_result_free(r);
    knn_dataset_free(ds);
}

static void cv_rejects_bad_options(void)
{
    knn_dataset *ds = small_problem(20, 4, 4, 2);
    const int ks[] = {1, 17}, dup[] = {3, 3};
    const knn_metric metrics[] = {KNN_L2};
    knn_cv_options o = {5, KNN_FOLDS_CONTIGUOUS, 0, 0, ks, 2, metrics, 1,
                        KNN_WEIGHTS_UNIFORM, KNN_TIES_NEAREST, 0, NULL, NULL};
    knn_cv_result *r = (knn_cv_result *)1;
    CHECK_EQ(knn_cross_validate(ds, &o, &r), KNN_ERR_ARG); /* 17 > 16 rows left */
    CHECK(r == NULL && strstr(knn_last_error(), "K = 17 is more than the 16 training rows"));
    o.folds = 1;
    o.nk = 1;
    CHECK_EQ(knn_cross_validate(ds, &o, &r), KNN_ERR_ARG);
    o.folds = 21;
    CHECK_EQ(knn_cross_validate(ds, &o, &r), KNN_ERR_ARG);
    o.folds = 5;
    o.nk = 0;
    CHECK_EQ(knn_cross_validate(ds, &o, &r), KNN_ERR_ARG);
    CHECK(strstr(knn_last_error(), "no K values") != NULL);
    o.ks = dup;
    o.nk = 2;
    CHECK_EQ(knn_cross_validate(ds, &o, &r), KNN_ERR_ARG);
    CHECK(strstr(knn_last_error(), "K = 3 is listed twice") != NULL);
    o.nk = 1;
    o.val_fraction = 1.5;
    CHECK_EQ(knn_cross_validate(ds, &o, &r), KNN_ERR_ARG);
    knn_dataset_free(ds);
    /* stratified hold-out of 0.3 of ten classes of one row each: no class gives a row */
    uint8_t data[10] = {0};
    int32_t labels[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    CHECK_EQ(knn_dataset_create(10, 1, data, labels, 10, 1, 1, 1, &ds), KNN_OK);
    o.ks = ks;
    o.val_fraction = 0.3;
    o.mode = KNN_FOLDS_STRATIFIED;
    CHECK_EQ(knn_cross_validate(ds, &o, &r), KNN_ERR_ARG);
    CHECK(strstr(knn_last_error(), "no validation") != NULL);
    knn_dataset_free(ds);
    int32_t fold_of[3];
    const int32_t bad_labels[3] = {0, -1, 1};
    CHECK_EQ(knn_folds_assign(3, bad_labels, 2, KNN_FOLDS_STRATIFIED, 0, fold_of), KNN_ERR_ARG);
}

const test_case cv_tests[] = {
    {"cv_equals_naive_search_per_fold_and_k", cv_equals_naive_search_per_fold_and_k},
    {"cv_large_k_equals_naive", cv_large_k_equals_naive},
    {"cv_lists_equal_reference_searches", cv_lists_equal_reference_searches},
    {"cv_cosine_equals_separate_searches", cv_cosine_equals_separate_searches},
    {"cv_leave_one_out_and_holdout_equal_naive", cv_leave_one_out_and_holdout_equal_naive},
    {"cv_long_rows_equal_naive", cv_long_rows_equal_naive},
    {"folds_contiguous_shuffled_stratified", folds_contiguous_shuffled_stratified},
    {"cv_best_ties_go_to_smaller_k_then_first_metric",
     cv_best_ties_go_to_smaller_k_then_first_metric},
    {"cv_rejects_bad_options", cv_rejects_bad_options},
    {NULL, NULL}};
