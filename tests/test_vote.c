/* test_vote.c: the vote rules of DESIGN.md decision 4, and the metrics. */
#include "check.h"
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One query whose j-th neighbour is training row j, with label labels[j] and distance
 * dist[j] (raw: L1, or squared L2). */
typedef struct {
    knn_dataset *train;
    knn_neighbors nb;
    uint32_t index[16];
    uint64_t dist[16];
} one_query;

static void one_query_init(one_query *o, int k, const int32_t *labels, const uint64_t *dist,
                           int classes, knn_metric metric)
{
    uint8_t rows[16] = {0};
    CHECK_EQ(knn_dataset_create((size_t)k, 1, rows, labels, classes, 1, 1, 1, &o->train),
             KNN_OK);
    for (int j = 0; j < k; j++) {
        o->index[j] = (uint32_t)j;
        o->dist[j] = dist ? dist[j] : (uint64_t)j + 1;
    }
    o->nb = (knn_neighbors){.nq = 1, .k = k, .metric = metric, .dtype = KNN_U8,
                            .index = o->index, .dist = o->dist};
}

static int32_t vote_one(one_query *o, int k, knn_weights w, knn_ties t, float *scores,
                        int32_t *ranking)
{
    knn_params p = knn_params_default();
    p.k = k;
    p.weights = w;
    p.ties = t;
    int32_t pred = -1;
    CHECK_EQ(knn_vote(o->train, &o->nb, &p, &pred, scores, ranking), KNN_OK);
    return pred;
}

static void vote_course_example_smallest_label_gives_1(void)
{
    const int32_t labels[5] = {1, 2, 1, 2, 3};
    one_query o;
    one_query_init(&o, 5, labels, NULL, 4, KNN_L2);
    CHECK_EQ(vote_one(&o, 5, KNN_WEIGHTS_UNIFORM, KNN_TIES_SMALLEST_LABEL, NULL, NULL), 1);
    CHECK_EQ(vote_one(&o, 5, KNN_WEIGHTS_UNIFORM, KNN_TIES_NEAREST, NULL, NULL), 1);
    knn_dataset_free(o.train);
}

static void vote_tie_prefers_nearest_class(void)
{
    const int32_t labels[4] = {2, 1, 1, 2}; /* 2 votes each; class 2 holds the nearest */
    one_query o;
    one_query_init(&o, 4, labels, NULL, 3, KNN_L2);
    CHECK_EQ(vote_one(&o, 4, KNN_WEIGHTS_UNIFORM, KNN_TIES_NEAREST, NULL, NULL), 2);
    CHECK_EQ(vote_one(&o, 4, KNN_WEIGHTS_UNIFORM, KNN_TIES_SMALLEST_LABEL, NULL, NULL), 1);
    /* a smaller K read off the same list: K = 3 gives class 1 two votes to one */
    CHECK_EQ(vote_one(&o, 3, KNN_WEIGHTS_UNIFORM, KNN_TIES_NEAREST, NULL, NULL), 1);
    knn_dataset_free(o.train);
}

static void vote_distance_weights_let_zero_distances_decide_alone(void)
{
    const int32_t labels[4] = {3, 1, 1, 1};
    const uint64_t dist[4] = {0, 1, 1, 1};
    one_query o;
    one_query_init(&o, 4, labels, dist, 4, KNN_L1);
    float scores[4];
    CHECK_EQ(vote_one(&o, 4, KNN_WEIGHTS_DISTANCE, KNN_TIES_NEAREST, scores, NULL), 3);
    CHECK(scores[3] == 1.0f && scores[1] == 0.0f);
    /* uniform weights: the three 1s win */
    CHECK_EQ(vote_one(&o, 4, KNN_WEIGHTS_UNIFORM, KNN_TIES_NEAREST, NULL, NULL), 1);
    knn_dataset_free(o.train);

    const int32_t labels2[3] = {2, 1, 1};
    const uint64_t dist2[3] = {0, 0, 0}; /* three exact matches: 1 wins two to one */
    one_query_init(&o, 3, labels2, dist2, 3, KNN_L2);
    CHECK_EQ(vote_one(&o, 3, KNN_WEIGHTS_DISTANCE, KNN_TIES_NEAREST, NULL, NULL), 1);
    knn_dataset_free(o.train);
}

static void vote_distance_weights_are_inverse_true_distances(void)
{
    /* L2 squared distances 1, 4, 4: true distances 1, 2, 2, weights 1, 0.5, 0.5: a tie */
    const int32_t labels[3] = {1, 0, 0};
    const uint64_t dist[3] = {1, 4, 4};
    one_query o;
    one_query_init(&o, 3, labels, dist, 2, KNN_L2);
    float scores[2];
    int32_t ranking[2];
    CHECK_EQ(vote_one(&o, 3, KNN_WEIGHTS_DISTANCE, KNN_TIES_NEAREST, scores, ranking), 1);
    CHECK(fabsf(scores[0] - 0.5f) < 1e-6f && fabsf(scores[1] - 0.5f) < 1e-6f);
    CHECK(ranking[0] == 1 && ranking[1] == 0);
    CHECK_EQ(vote_one(&o, 3, KNN_WEIGHTS_DISTANCE, KNN_TIES_SMALLEST_LABEL, NULL, NULL), 0);
    /* L1 with the same numbers: weights 1, 0.25, 0.25: class 1 wins */
    o.nb.metric = KNN_L1;
    CHECK_EQ(vote_one(&o, 3, KNN_WEIGHTS_DISTANCE, KNN_TIES_SMALLEST_LABEL, NULL, NULL), 1);
    /* float32 distances are stored as their bits, zero-extended: L2 squared 1.0f, 4.0f, 4.0f
     * is a tie again */
    const float fd[3] = {1.0f, 4.0f, 4.0f};
    for (int j = 0; j < 3; j++) {
        uint32_t bits;
        memcpy(&bits, &fd[j], sizeof bits);
        o.dist[j] = bits;
    }
    o.nb.dtype = KNN_F32;
    o.nb.metric = KNN_L2;
    CHECK_EQ(vote_one(&o, 3, KNN_WEIGHTS_DISTANCE, KNN_TIES_NEAREST, scores, NULL), 1);
    CHECK(fabsf(scores[0] - 0.5f) < 1e-6f);
    CHECK_EQ(vote_one(&o, 3, KNN_WEIGHTS_DISTANCE, KNN_TIES_SMALLEST_LABEL, NULL, NULL), 0);
    knn_dataset_free(o.train);
}

static void vote_ranking_lists_every_class_best_first(void)
{
    const int32_t labels[5] = {4, 2, 4, 0, 2}; /* 4: 2 votes, 2: 2 votes, 0: 1 vote */
    one_query o;
    one_query_init(&o, 5, labels, NULL, 6, KNN_L2);
    float scores[6];
    int32_t ranking[6];
    CHECK_EQ(vote_one(&o, 5, KNN_WEIGHTS_UNIFORM, KNN_TIES_NEAREST, scores, ranking), 4);
    const int32_t want[6] = {4, 2, 0, 1, 3, 5}; /* voted classes, then the rest by label */
    for (int c = 0; c < 6; c++)
        CHECK_EQ(ranking[c], want[c]);
    float sum = 0;
    for (int c = 0; c < 6; c++)
        sum += scores[c];
    CHECK(fabsf(sum - 1.0f) < 1e-6f && fabsf(scores[4] - 0.4f) < 1e-6f);
    CHECK_EQ(vote_one(&o, 5, KNN_WEIGHTS_UNIFORM, KNN_TIES_SMALLEST_LABEL, NULL, ranking), 2);
    CHECK(ranking[0] == 2 && ranking[1] == 4 && ranking[2] == 0);
    knn_dataset_free(o.train);
}

/* Beside an exact match, the other neighbours get no vote: their classes rank with the
 * classes that got none (a review found them ranked by position); here, without class
 * minima, by label. */
static void vote_exact_match_leaves_other_classes_unvoted(void)
{
    const int32_t labels[5] = {0, 4, 3, 2, 1};
    const uint64_t dist[5] = {0, 5, 6, 7, 8};
    one_query o;
    one_query_init(&o, 5, labels, dist, 5, KNN_L1);
    int32_t ranking[5];
    CHECK_EQ(vote_one(&o, 5, KNN_WEIGHTS_DISTANCE, KNN_TIES_NEAREST, NULL, ranking), 0);
    for (int c = 0; c < 5; c++)
        CHECK_EQ(ranking[c], c);
    knn_dataset_free(o.train);
}

/* Float distances that overflowed to infinity give no 1/distance weight: such neighbours
 * vote as uniform ones (a review found the prediction left unset). */
static void vote_infinite_distances_fall_back_to_uniform_votes(void)
{
    const int32_t labels[3] = {1, 0, 1};
    one_query o;
    one_query_init(&o, 3, labels, NULL, 2, KNN_L2);
    const float inf = INFINITY;
    for (int j = 0; j < 3; j++)
        memcpy(&o.dist[j], &inf, sizeof inf);
    o.nb.dtype = KNN_F32;
    float scores[2];
    int32_t ranking[2];
    CHECK_EQ(vote_one(&o, 3, KNN_WEIGHTS_DISTANCE, KNN_TIES_NEAREST, scores, ranking), 1);
    CHECK(ranking[0] == 1 && fabsf(scores[1] - 2.0f / 3) < 1e-6f);
    knn_dataset_free(o.train);
}

/* Gives o's query the class minima (distance, index) of classes [0, classes). */
static void set_class_minima(one_query *o, int classes, const uint64_t *dist,
                             const uint32_t *index, uint64_t *dist_buf, uint32_t *index_buf)
{
    memcpy(dist_buf, dist, (size_t)classes * sizeof *dist);
    memcpy(index_buf, index, (size_t)classes * sizeof *index);
    o->nb.classes = classes;
    o->nb.class_dist = dist_buf;
    o->nb.class_index = index_buf;
}

/* The old rule listed the classes without a vote by label, so low labels got free top-5
 * hits. Here K = 1 votes for class 5; class 9's nearest image (distance 4) is nearer than
 * class 0's (9) and 3's (16): 9 ranks second and is in the top 5, as a search finds it. */
static void vote_unvoted_classes_follow_by_their_nearest_image(void)
{
    const uint8_t rows[4] = {10, 12, 13, 14};
    const int32_t labels[4] = {5, 9, 0, 3};
    const uint8_t query[1] = {10};
    knn_dataset *train, *q;
    CHECK_EQ(knn_dataset_create(4, 1, rows, labels, 10, 1, 1, 1, &train), KNN_OK);
    CHECK_EQ(knn_dataset_create(1, 1, query, NULL, 0, 1, 1, 1, &q), KNN_OK);
    knn_params p = knn_params_default();
    knn_neighbors *nb = NULL;
    CHECK_EQ(knn_search(train, q, &p, &nb), KNN_OK);
    int32_t pred = -1, ranking[10];
    CHECK_EQ(knn_vote(train, nb, &p, &pred, NULL, ranking), KNN_OK);
    const int32_t want[10] = {5, 9, 0, 3, 1, 2, 4, 6, 7, 8}; /* classes without rows: by label */
    for (int c = 0; c < 10; c++)
        CHECK_EQ(ranking[c], want[c]);
    const int32_t truth[1] = {9};
    knn_metrics m;
    CHECK_EQ(knn_metrics_compute(truth, ranking, 1, 10, &m), KNN_OK);
    CHECK_EQ(m.top5_correct, 1); /* the old rule ranked 9 last: {5, 0, 1, 2, 3, ...} */
    knn_metrics_free(&m);
    knn_neighbors_free(nb);
    knn_dataset_free(train);
    knn_dataset_free(q);
}

/* A class with a vote is never ranked behind one without, whatever their nearest images. */
static void vote_voted_classes_rank_before_unvoted_ones(void)
{
    const int32_t labels[3] = {2, 0, 2};
    const uint64_t dist[3] = {0, 1, 1}; /* distance weights: the exact match votes alone */
    one_query o;
    one_query_init(&o, 3, labels, dist, 4, KNN_L1);
    uint64_t md[4];
    uint32_t mi[4];
    const uint64_t cd[4] = {1, 0, 0, 0};
    const uint32_t ci[4] = {1, 7, 0, 8}; /* 1 and 3: as near as 2 */
    set_class_minima(&o, 4, cd, ci, md, mi);
    int32_t ranking[4];
    CHECK_EQ(vote_one(&o, 3, KNN_WEIGHTS_DISTANCE, KNN_TIES_NEAREST, NULL, ranking), 2);
    const int32_t want[4] = {2, 1, 3, 0}; /* then by distance, index: 1 (0, 7), 3 (0, 8), 0 */
    for (int c = 0; c < 4; c++)
        CHECK_EQ(ranking[c], want[c]);
    knn_dataset_free(o.train);
}

/* Unvoted classes at the same distance: the smaller index of their nearest image first;
 * classes without any image last, by label. */
static void vote_unvoted_ties_go_to_the_smaller_index_then_label(void)
{
    const int32_t labels[1] = {4};
    one_query o;
    one_query_init(&o, 1, labels, NULL, 6, KNN_L2);
    uint64_t md[6];
    uint32_t mi[6];
    const uint64_t cd[6] = {KNN__NO_DIST, 9, KNN__NO_DIST, 9, 1, 9};
    const uint32_t ci[6] = {KNN__NO_ROW, 6, KNN__NO_ROW, 2, 0, 4};
    set_class_minima(&o, 6, cd, ci, md, mi);
    int32_t ranking[6];
    CHECK_EQ(vote_one(&o, 1, KNN_WEIGHTS_UNIFORM, KNN_TIES_SMALLEST_LABEL, NULL, ranking), 4);
    const int32_t want[6] = {4, 3, 5, 1, 0, 2};
    for (int c = 0; c < 6; c++)
        CHECK_EQ(ranking[c], want[c]);
    knn_dataset_free(o.train);
}

/* Class minima of another training set (another number of classes) are not used: the
 * classes without a vote then follow by label, as for neighbours without minima. */
static void vote_ignores_class_minima_of_another_training_set(void)
{
    const int32_t labels[1] = {2};
    one_query o;
    one_query_init(&o, 1, labels, NULL, 4, KNN_L2);
    uint64_t md[5];
    uint32_t mi[5];
    const uint64_t cd[5] = {9, 8, 1, 2, 3};
    const uint32_t ci[5] = {0, 1, 2, 3, 4};
    set_class_minima(&o, 5, cd, ci, md, mi);
    int32_t ranking[4];
    CHECK_EQ(vote_one(&o, 1, KNN_WEIGHTS_UNIFORM, KNN_TIES_NEAREST, NULL, ranking), 2);
    const int32_t want[4] = {2, 0, 1, 3};
    for (int c = 0; c < 4; c++)
        CHECK_EQ(ranking[c], want[c]);
    knn_dataset_free(o.train);
}

/* Distances of long rows pass 32 bits (up to 255^2 x 2^24 < 2^40): the ranking of the
 * unvoted classes and the distance weights use them whole. Truncated to 32 bits, 2^32 + 5
 * would rank before 7 and weigh like 5. */
static void vote_uses_distances_beyond_32_bits(void)
{
    const int32_t labels[3] = {1, 2, 2};
    const uint64_t dist[3] = {(1ull << 32) + 5, 1ull << 36, 1ull << 36};
    one_query o;
    one_query_init(&o, 3, labels, dist, 5, KNN_L2);
    uint64_t md[5];
    uint32_t mi[5];
    const uint64_t cd[5] = {(1ull << 33) + 1, (1ull << 32) + 5, 1ull << 34, 7, KNN__NO_DIST};
    const uint32_t ci[5] = {9, 0, 1, 8, KNN__NO_ROW};
    set_class_minima(&o, 5, cd, ci, md, mi);
    float scores[5];
    int32_t ranking[5];
    /* weights 1 / sqrt(d): class 1 about 2^-16, class 2 two times 2^-18 (truncated, 2^36
     * would be an exact match and decide alone) */
    CHECK_EQ(vote_one(&o, 3, KNN_WEIGHTS_DISTANCE, KNN_TIES_NEAREST, scores, ranking), 1);
    const double w1 = 1 / sqrt(4294967301.0), w2 = 2 / sqrt(68719476736.0);
    CHECK(fabsf(scores[1] - (float)(w1 / (w1 + w2))) < 1e-6f);
    const int32_t want[5] = {1, 2, 3, 0, 4}; /* unvoted: 3 (7), 0 (2^33 + 1), 4 (no rows) */
    for (int c = 0; c < 5; c++)
        CHECK_EQ(ranking[c], want[c]);
    knn_dataset_free(o.train);
}

static void vote_rejects_k_beyond_the_search(void)
{
    const int32_t labels[2] = {0, 1};
    one_query o;
    one_query_init(&o, 2, labels, NULL, 2, KNN_L2);
    knn_params p = knn_params_default();
    p.k = 3;
    int32_t pred;
    CHECK_EQ(knn_vote(o.train, &o.nb, &p, &pred, NULL, NULL), KNN_ERR_ARG);
    knn_dataset_free(o.train);
}

static void metrics_count_accuracy_top5_and_confusion(void)
{
    /* 3 classes, 4 queries; rankings of all classes per query */
    const int32_t truth[4] = {0, 1, 2, 2};
    const int32_t ranking[12] = {0, 1, 2, /* right */ 2, 1, 0, /* wrong */
                                 2, 0, 1, /* right */ 1, 0, 2 /* wrong */};
    knn_metrics m;
    CHECK_EQ(knn_metrics_compute(truth, ranking, 4, 3, &m), KNN_OK);
    CHECK_EQ(m.correct, 2);
    CHECK_EQ(m.total, 4);
    CHECK(m.accuracy == 0.5);
    CHECK_EQ(m.top5_correct, 4); /* 3 classes: every label is in the top 5 */
    CHECK_EQ(m.class_total[2], 2);
    CHECK_EQ(m.class_correct[2], 1);
    CHECK_EQ(m.confusion[1 * 3 + 2], 1); /* true 1 predicted 2 */
    CHECK_EQ(m.confusion[2 * 3 + 1], 1);
    CHECK_EQ(m.confusion[0], 1);
    knn_metrics_free(&m);
    const int32_t bad[1] = {3};
    CHECK_EQ(knn_metrics_compute(bad, ranking, 1, 3, &m), KNN_ERR_ARG);
}

static void metrics_top5_looks_at_five_classes_only(void)
{
    const int32_t truth[2] = {5, 4};
    const int32_t ranking[12] = {0, 1, 2, 3, 4, 5, /* 5 is sixth: not in the top 5 */
                                 0, 1, 2, 3, 4, 5};
    knn_metrics m;
    CHECK_EQ(knn_metrics_compute(truth, ranking, 2, 6, &m), KNN_OK);
    CHECK_EQ(m.top5_correct, 1);
    CHECK_EQ(m.correct, 0);
    knn_metrics_free(&m);
}

static void parse_names_accept_documented_values_only(void)
{
    knn_metric m;
    knn_weights w;
    knn_ties t;
    CHECK(knn_metric_parse("l1", &m) == KNN_OK && m == KNN_L1);
    CHECK(knn_metric_parse("l2", &m) == KNN_OK && m == KNN_L2);
    CHECK(knn_metric_parse("COSINE", &m) == KNN_OK && m == KNN_COSINE);
    CHECK_EQ(knn_metric_parse("angular", &m), KNN_ERR_ARG);
    CHECK(strstr(knn_last_error(), "cosine") != NULL);
    CHECK(knn_weights_parse("distance", &w) == KNN_OK && w == KNN_WEIGHTS_DISTANCE);
    CHECK(knn_ties_parse("smallest-label", &t) == KNN_OK && t == KNN_TIES_SMALLEST_LABEL);
    CHECK_EQ(knn_ties_parse("random", &t), KNN_ERR_ARG);
}

const test_case vote_tests[] = {
    {"vote_course_example_smallest_label_gives_1", vote_course_example_smallest_label_gives_1},
    {"vote_tie_prefers_nearest_class", vote_tie_prefers_nearest_class},
    {"vote_distance_weights_let_zero_distances_decide_alone",
     vote_distance_weights_let_zero_distances_decide_alone},
    {"vote_distance_weights_are_inverse_true_distances",
     vote_distance_weights_are_inverse_true_distances},
    {"vote_ranking_lists_every_class_best_first", vote_ranking_lists_every_class_best_first},
    {"vote_exact_match_leaves_other_classes_unvoted",
     vote_exact_match_leaves_other_classes_unvoted},
    {"vote_infinite_distances_fall_back_to_uniform_votes",
     vote_infinite_distances_fall_back_to_uniform_votes},
    {"vote_unvoted_classes_follow_by_their_nearest_image",
     vote_unvoted_classes_follow_by_their_nearest_image},
    {"vote_voted_classes_rank_before_unvoted_ones", vote_voted_classes_rank_before_unvoted_ones},
    {"vote_unvoted_ties_go_to_the_smaller_index_then_label",
     vote_unvoted_ties_go_to_the_smaller_index_then_label},
    {"vote_ignores_class_minima_of_another_training_set",
     vote_ignores_class_minima_of_another_training_set},
    {"vote_uses_distances_beyond_32_bits", vote_uses_distances_beyond_32_bits},
    {"vote_rejects_k_beyond_the_search", vote_rejects_k_beyond_the_search},
    {"metrics_count_accuracy_top5_and_confusion", metrics_count_accuracy_top5_and_confusion},
    {"metrics_top5_looks_at_five_classes_only", metrics_top5_looks_at_five_classes_only},
    {"parse_names_accept_documented_values_only", parse_names_accept_documented_values_only},
    {NULL, NULL}};
