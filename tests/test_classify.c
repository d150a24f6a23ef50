/* test_classify.c: the classifier object against the calls it is made of (knn_search then
 * knn_vote; knn_metrics_compute), and knn_choose_k against knn_cross_validate's best. */
#include "check.h"
#include "knn.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* n rows of dim small values (many equal distances) in C classes, from seed. */
static knn_dataset *random_set(size_t n, size_t dim, int C, unsigned seed, bool labelled)
{
    uint8_t *rows = malloc(n * dim);
    int32_t *labels = malloc(n * sizeof *labels);
    srand(seed);
    for (size_t i = 0; i < n * dim; i++)
        rows[i] = (uint8_t)(rand() % 6);
    for (size_t i = 0; i < n; i++)
        labels[i] = rand() % C;
    knn_dataset *ds = NULL;
    CHECK_EQ(knn_dataset_create(n, dim, rows, labelled ? labels : NULL, labelled ? C : 0, 1,
                                (int)dim, 1, &ds),
             KNN_OK);
    free(rows);
    free(labels);
    return ds;
}

static void classify_equals_search_then_vote(void)
{
    knn_dataset *train = random_set(300, 24, 7, 1, true), *test = random_set(50, 24, 7, 2, true);
    knn_params p = knn_params_default();
    p.k = 6;
    p.weights = KNN_WEIGHTS_DISTANCE;
    knn_predictions *pr = NULL;
    knn_neighbors *nb = NULL;
    int32_t pred[50], ranking[50 * 7];
    float scores[50 * 7];
    CHECK_EQ(knn_classify(train, test, &p, &pr), KNN_OK);
    CHECK_EQ(knn_search(train, test, &p, &nb), KNN_OK);
    CHECK_EQ(knn_vote(train, nb, &p, pred, scores, ranking), KNN_OK);
    if (pr && nb) {
        CHECK_EQ(knn_predictions_count(pr), 50);
        CHECK_EQ(knn_predictions_classes(pr), 7);
        for (size_t q = 0; q < 50; q++) {
            CHECK_EQ(knn_predictions_label(pr, q), pred[q]);
            CHECK(!memcmp(knn_predictions_ranking(pr, q), ranking + q * 7, 7 * sizeof *ranking));
            CHECK(!memcmp(knn_predictions_scores(pr, q), scores + q * 7, 7 * sizeof *scores));
            for (int j = 0; j < 6; j++)
                CHECK_EQ(knn_neighbors_index(knn_predictions_neighbors(pr), q, j),
                         knn_neighbors_index(nb, q, j));
        }
        knn_metrics a, b;
        int32_t truth[50];
        for (size_t q = 0; q < 50; q++)
            truth[q] = knn_dataset_label(test, q);
        CHECK_EQ(knn_predictions_metrics(pr, test, &a), KNN_OK);
        CHECK_EQ(knn_metrics_compute(truth, ranking, 50, 7, &b), KNN_OK);
        CHECK(a.correct == b.correct && a.top5_correct == b.top5_correct);
        knn_metrics_free(&a);
        knn_metrics_free(&b);
        CHECK_EQ(knn_predictions_metrics(pr, train, &a), KNN_ERR_ARG); /* 300 rows, not 50 */
        CHECK_EQ(knn_predictions_label(pr, 50), -1);
        CHECK(knn_predictions_ranking(pr, 50) == NULL);
    }
    knn_predictions_free(pr);
    knn_neighbors_free(nb);
    knn_dataset *unlabelled = random_set(10, 24, 7, 3, false);
    CHECK_EQ(knn_classify(unlabelled, test, &p, &pr), KNN_ERR_ARG);
    CHECK(pr == NULL);
    knn_dataset_free(unlabelled);
    knn_dataset_free(train);
    knn_dataset_free(test);
}

static void choose_k_takes_the_cross_validations_best(void)
{
    knn_dataset *train = random_set(200, 16, 3, 4, true);
    knn_cv_options o = knn_cv_options_default();
    CHECK(o.folds == 5 && o.mode == KNN_FOLDS_STRATIFIED && o.nk == 10 && o.nmetrics == 2);
    int ks[10];
    o.nk = knn_cv_usable_ks(train, &o, ks);
    o.ks = ks;
    CHECK_EQ(o.nk, 10); /* K = 100 <= the 157 rows outside a fold of 40 (+ 3, stratified) */
    knn_dataset *some = random_set(120, 16, 3, 6, true);
    int fewer[10];
    CHECK_EQ(knn_cv_usable_ks(some, &o, fewer), 9); /* 100 > 120 - 24 - 3 */
    knn_dataset_free(some);
    knn_params p = knn_params_default();
    knn_cv_result *r = NULL;
    CHECK_EQ(knn_choose_k(train, &o, &p, &r), KNN_OK);
    if (r) {
        int m, k;
        knn_cv_best(r, &m, &k);
        CHECK(p.k == ks[k] && p.metric == o.metrics[m]);
    }
    knn_cv_result_free(r);
    knn_dataset *few = random_set(4, 16, 2, 5, true);
    knn_cv_options small = knn_cv_options_default();
    small.nk = knn_cv_usable_ks(few, &small, ks);
    small.ks = ks;
    CHECK_EQ(small.nk, 1); /* K = 1 only, and 4 rows cannot make 5 folds */
    CHECK_EQ(knn_choose_k(few, &small, &p, NULL), KNN_ERR_ARG);
    small.nk = 0;
    CHECK_EQ(knn_choose_k(few, &small, &p, NULL), KNN_ERR_ARG);
    CHECK(strstr(knn_last_error(), "too few to cross-validate K") != NULL);
    knn_dataset_free(few);
    knn_dataset_free(train);
}

static void view_searches_the_callers_rows_without_a_copy(void)
{
    enum { N = 40, DIM = 24, STRIDE = 64 };
    uint8_t *rows = aligned_alloc(64, N * STRIDE);
    uint8_t packed[N * DIM];
    int32_t labels[N];
    memset(rows, 0, N * STRIDE);
    for (int i = 0; i < N; i++) {
        labels[i] = i % 3;
        for (int d = 0; d < DIM; d++)
            rows[i * STRIDE + d] = packed[i * DIM + d] = (uint8_t)((i * 7 + d * 3) % 11);
    }
    knn_dataset *view = NULL, *copy = NULL;
    CHECK_EQ(knn_dataset_view(N, DIM, KNN_U8, rows, STRIDE, labels, 3, &view), KNN_OK);
    CHECK_EQ(knn_dataset_create(N, DIM, packed, labels, 3, 1, DIM, 1, &copy), KNN_OK);
    CHECK(view && knn_dataset_row(view, 5) == rows + 5 * STRIDE); /* the caller's memory */
    knn_params p = knn_params_default();
    p.k = 4;
    knn_predictions *a = NULL, *b = NULL;
    CHECK_EQ(knn_classify(view, view, &p, &a), KNN_OK);
    CHECK_EQ(knn_classify(copy, copy, &p, &b), KNN_OK);
    for (size_t q = 0; a && b && q < N; q++)
        for (int j = 0; j < 4; j++)
            CHECK_EQ(knn_neighbors_index(knn_predictions_neighbors(a), q, j),
                     knn_neighbors_index(knn_predictions_neighbors(b), q, j));
    knn_predictions_free(a);
    knn_predictions_free(b);
    knn_dataset_free(view); /* leaves the rows alone */
    knn_dataset_free(copy);
    rows[3 * STRIDE + 40] = 1;
    CHECK_EQ(knn_dataset_view(N, DIM, KNN_U8, rows, STRIDE, NULL, 0, &view), KNN_ERR_ARG);
    CHECK(strstr(knn_last_error(), "row 3 has non-zero padding") != NULL);
    CHECK_EQ(knn_dataset_view(N - 1, DIM, KNN_U8, rows + 1, STRIDE, NULL, 0, &view), KNN_ERR_ARG);
    CHECK_EQ(knn_dataset_view(N, DIM, KNN_U8, rows, 32, NULL, 0, &view), KNN_ERR_ARG);
    free(rows);
}

const test_case classify_tests[] = {
    {"view_searches_the_callers_rows_without_a_copy",
     view_searches_the_callers_rows_without_a_copy},
    {"classify_equals_search_then_vote", classify_equals_search_then_vote},
    {"choose_k_takes_the_cross_validations_best", choose_k_takes_the_cross_validations_best},
    {NULL, NULL}};
