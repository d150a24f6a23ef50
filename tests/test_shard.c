/* test_shard.c: shards (knn_shard) without MPI: R threads of this process play R processes,
 * their collective operations a rendezvous in memory. Each loads its shard of a model file
 * or an IDX set; its search, classification and cross-validation must equal the whole set's
 * on every thread, bit for bit; what needs every row refuses a shard. (tests/test_mpi.py runs
 * knn-mpi itself over Open MPI.) */
#include "check.h"
#include "knn.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_RANKS 5

/* The rendezvous: each operation, every rank posts its buffer, rank 0 (or the root) has
 * the result, every rank copies it. */
typedef struct {
    pthread_barrier_t barrier;
    void *posted[MAX_RANKS];
} bus;

typedef struct {
    bus *bus;
    int rank, ranks;
    knn_shard shard;
    const char *spec;
    const knn_dataset *test;
    int k, threads; /* search_rank's search; graph: the shard must hold a graph of M = 8 */
    bool graph;
    /* results, compared with the whole set's by the main thread */
    knn_neighbors *nb;
    int32_t *pred, *ranking; /* (nq), (nq, C) */
    double cv[2 * 3];
    knn_status st;
} rank_job;

static knn_status bus_reduce(void *records, size_t n, size_t bytes, knn_merge_fn merge,
                             const void *ctx, void *user, char *message, size_t size)
{
    (void)message;
    (void)size;
    rank_job *j = user;
    bus *b = j->bus;
    b->posted[j->rank] = records;
    pthread_barrier_wait(&b->barrier);
    if (j->rank == 0) /* into rank 0's, from the last rank down: the order must not matter */
        for (int r = j->ranks - 1; r > 0; r--)
            merge(b->posted[r], records, n, ctx);
    pthread_barrier_wait(&b->barrier);
    if (j->rank != 0)
        memcpy(records, b->posted[0], n * bytes);
    pthread_barrier_wait(&b->barrier);
    return KNN_OK;
}

static knn_status bus_broadcast(void *data, size_t bytes, int root, void *user, char *message,
                                size_t size)
{
    (void)message;
    (void)size;
    rank_job *j = user;
    bus *b = j->bus;
    if (j->rank == root)
        b->posted[root] = data;
    pthread_barrier_wait(&b->barrier);
    if (j->rank != root)
        memcpy(data, b->posted[root], bytes);
    pthread_barrier_wait(&b->barrier);
    return KNN_OK;
}

static const int cv_ks[3] = {1, 4, 9};
static const knn_metric cv_metrics[2] = {KNN_L1, KNN_L2};

static knn_cv_options cv_options(void)
{
    knn_cv_options o = knn_cv_options_default();
    o.folds = 4;
    o.ks = cv_ks;
    o.nk = 3;
    o.metrics = cv_metrics;
    o.nmetrics = 2;
    o.threads = 1;
    return o;
}

/* j's shard of j->spec, its operations the rendezvous. */
static knn_status load_shard(rank_job *j, knn_dataset **train)
{
    j->shard = (knn_shard){.index = j->rank, .count = j->ranks, .reduce = bus_reduce,
                           .broadcast = bus_broadcast, .user = j};
    knn_load_options o = {.shard = &j->shard};
    return knn_dataset_load(j->spec, &o, train);
}

static void *run_rank(void *arg)
{
    rank_job *j = arg;
    knn_dataset *train = NULL;
    knn_predictions *pr = NULL;
    knn_cv_result *cv = NULL;
    knn_params p = knn_params_default();
    p.k = 6;
    p.threads = 1 + j->rank % 2; /* the thread count must not matter either */
    p.exact = 1; /* where the model holds a graph index: graph_per_shard */
    knn_cv_options co = cv_options();
    if ((j->st = load_shard(j, &train)) ||
        (j->st = knn_search(train, j->test, &p, &j->nb)) ||
        (j->st = knn_classify(train, j->test, &p, &pr)) ||
        (j->st = knn_cross_validate(train, &co, &cv)))
        goto done;
    const size_t nq = knn_predictions_count(pr), C = (size_t)knn_predictions_classes(pr);
    j->pred = malloc(nq * sizeof *j->pred);
    j->ranking = malloc(nq * C * sizeof *j->ranking);
    for (size_t q = 0; j->pred && j->ranking && q < nq; q++) {
        j->pred[q] = knn_predictions_label(pr, q);
        memcpy(j->ranking + q * C, knn_predictions_ranking(pr, q), C * sizeof *j->ranking);
    }
    for (int m = 0; m < 2; m++)
        for (int k = 0; k < 3; k++)
            j->cv[m * 3 + k] = knn_cv_mean(cv, m, k);
    /* its own rows only; nothing that needs them all */
    size_t lo, hi;
    CHECK(knn_dataset_shard(train, &lo, &hi));
    size_t want_lo, want_hi;
    knn_shard_rows(knn_dataset_count(train), j->rank, j->ranks, &want_lo, &want_hi);
    CHECK_EQ(lo, want_lo);
    CHECK_EQ(hi, want_hi);
    CHECK(lo == 0 || knn_dataset_row(train, lo - 1) == NULL);
    CHECK(hi == lo || knn_dataset_row(train, lo) != NULL);
    CHECK(knn_dataset_row(train, hi) == NULL);
    FILE *f = tmpfile();
    CHECK_EQ(knn_model_write(train, &p, f), KNN_ERR_ARG);
    fclose(f);
done:
    knn_cv_result_free(cv);
    knn_predictions_free(pr);
    knn_dataset_free(train);
    return NULL;
}

/* A rank that loads its shard and searches (j->k, j->threads): few queries on 2 threads
 * split the rows into parts, which an empty shard must survive; a model with a graph index
 * is walked through the shard's own graph. */
static void *search_rank(void *arg)
{
    rank_job *j = arg;
    knn_dataset *train = NULL;
    knn_params p = knn_params_default();
    p.k = j->k;
    p.threads = j->threads;
    knn_index_info info;
    if (!(j->st = load_shard(j, &train))) {
        CHECK(!j->graph || (knn_dataset_index_info(train, &info) && info.M == 8));
        j->st = knn_search(train, j->test, &p, &j->nb);
    }
    knn_dataset_free(train);
    return NULL;
}

/* Runs `fn` on `ranks` threads, each a rank of a shard of `spec`, into jobs. */
static void run_ranks(const char *spec, const knn_dataset *test, int ranks,
                      void *(*fn)(void *), const rank_job *like, rank_job *jobs)
{
    bus b;
    pthread_barrier_init(&b.barrier, NULL, (unsigned)ranks);
    pthread_t threads[MAX_RANKS];
    for (int r = 0; r < ranks; r++) {
        jobs[r] = (rank_job){.bus = &b, .rank = r, .ranks = ranks, .spec = spec, .test = test,
                             .k = like->k, .threads = like->threads, .graph = like->graph};
        pthread_create(&threads[r], NULL, fn, &jobs[r]);
    }
    for (int r = 0; r < ranks; r++)
        pthread_join(threads[r], NULL);
    pthread_barrier_destroy(&b.barrier);
}

/* The whole set's answers against `ranks` threads' shards of `spec`. */
static void compare_shards(const char *spec, const knn_dataset *whole, const knn_dataset *test,
                           int ranks)
{
    knn_params p = knn_params_default();
    p.k = 6;
    knn_neighbors *nb = NULL;
    knn_predictions *pr = NULL;
    knn_cv_result *cv = NULL;
    knn_cv_options co = cv_options();
    CHECK_EQ(knn_search(whole, test, &p, &nb), KNN_OK);
    CHECK_EQ(knn_classify(whole, test, &p, &pr), KNN_OK);
    CHECK_EQ(knn_cross_validate(whole, &co, &cv), KNN_OK);
    if (!nb || !pr || !cv)
        return;
    rank_job jobs[MAX_RANKS];
    run_ranks(spec, test, ranks, run_rank, &(rank_job){0}, jobs);
    const size_t nq = knn_dataset_count(test);
    for (int r = 0; r < ranks; r++) {
        rank_job *j = &jobs[r];
        CHECK_EQ(j->st, KNN_OK);
        if (j->st || !j->nb || !j->pred || !j->ranking)
            continue;
        const size_t C = (size_t)knn_predictions_classes(pr);
        size_t differ = 0;
        for (size_t q = 0; q < nq; q++) {
            for (int i = 0; i < p.k; i++)
                differ += knn_neighbors_index(j->nb, q, i) != knn_neighbors_index(nb, q, i) ||
                          knn_neighbors_raw_distance(j->nb, q, i) !=
                              knn_neighbors_raw_distance(nb, q, i);
            differ += j->pred[q] != knn_predictions_label(pr, q);
            /* the ranking reads each class's nearest row: merged across the shards too */
            differ += memcmp(j->ranking + q * C, knn_predictions_ranking(pr, q),
                             C * sizeof *j->ranking) != 0;
        }
        CHECK_EQ(differ, 0);
        for (int m = 0; m < 2; m++)
            for (int k = 0; k < 3; k++)
                CHECK(j->cv[m * 3 + k] == knn_cv_mean(cv, m, k));
    }
    for (int r = 0; r < ranks; r++) {
        knn_neighbors_free(jobs[r].nb);
        free(jobs[r].pred);
        free(jobs[r].ranking);
    }
    knn_cv_result_free(cv);
    knn_predictions_free(pr);
    knn_neighbors_free(nb);
}

/* Rows of values 0..3: ties everywhere, decided by the training index across shards. */
static knn_dataset *tied_rows(size_t n, size_t dim, int classes, unsigned seed)
{
    uint8_t *data = malloc(n * dim);
    int32_t *labels = malloc(n * sizeof *labels);
    for (size_t i = 0; i < n * dim; i++)
        data[i] = (uint8_t)((seed = seed * 1103515245u + 12345u) >> 16 & 3);
    for (size_t i = 0; i < n; i++)
        labels[i] = (int32_t)((seed = seed * 1103515245u + 12345u) >> 16) % classes;
    knn_dataset *ds = NULL;
    knn_dataset_create(n, dim, data, labels, classes, (int)dim, 1, 1, &ds);
    free(data);
    free(labels);
    return ds;
}

static void shards_of_a_model_equal_the_whole(void)
{
    knn_dataset *whole = tied_rows(203, 24, 5, 7), *test = tied_rows(37, 24, 5, 8);
    char path[256];
    snprintf(path, sizeof path, "%s/shards.knn", test_dir());
    knn_params p = knn_params_default();
    CHECK_EQ(write_model(whole, &p, path), KNN_OK);
    for (int ranks = 1; ranks <= MAX_RANKS; ranks++)
        compare_shards(path, whole, test, ranks);
    knn_dataset_free(whole);
    knn_dataset_free(test);
}

static void shards_of_idx_equal_the_whole(void)
{
    knn_dataset *whole = tied_rows(150, 12, 4, 3), *test = tied_rows(20, 12, 4, 4);
    char dir[256], images[300], labels[300];
    snprintf(dir, sizeof dir, "%s", test_dir());
    snprintf(images, sizeof images, "%s/shard-images-idx3-ubyte", dir);
    snprintf(labels, sizeof labels, "%s/shard-labels-idx1-ubyte", dir);
    FILE *f = fopen(images, "wb"), *g = fopen(labels, "wb");
    const uint8_t ih[16] = {0, 0, 8, 3, 0, 0, 0, 150, 0, 0, 0, 3, 0, 0, 0, 4};
    const uint8_t lh[8] = {0, 0, 8, 1, 0, 0, 0, 150};
    fwrite(ih, 1, sizeof ih, f);
    fwrite(lh, 1, sizeof lh, g);
    for (size_t i = 0; i < 150; i++) {
        fwrite(knn_dataset_row(whole, i), 1, 12, f);
        uint8_t label = (uint8_t)knn_dataset_label(whole, i);
        fwrite(&label, 1, 1, g);
    }
    fclose(f);
    fclose(g);
    knn_dataset *loaded = NULL;
    CHECK_EQ(knn_dataset_load(images, NULL, &loaded), KNN_OK);
    if (loaded)
        for (int ranks = 2; ranks <= 4; ranks++)
            compare_shards(images, loaded, test, ranks);
    knn_dataset_free(loaded);
    knn_dataset_free(whole);
    knn_dataset_free(test);
}

/* More processes than rows: some shards hold none, and the lists come from the others. */
static void shards_without_rows(void)
{
    knn_dataset *whole = tied_rows(3, 8, 2, 5), *test = tied_rows(9, 8, 2, 6);
    char path[256];
    snprintf(path, sizeof path, "%s/three.knn", test_dir());
    knn_params p = knn_params_default();
    CHECK_EQ(write_model(whole, &p, path), KNN_OK);
    p.k = 2;
    knn_neighbors *want = NULL;
    CHECK_EQ(knn_search(whole, test, &p, &want), KNN_OK);
    enum { RANKS = 5 };
    rank_job jobs[RANKS];
    run_ranks(path, test, RANKS, search_rank, &(rank_job){.k = 2, .threads = 2}, jobs);
    for (int r = 0; r < RANKS; r++) {
        CHECK_EQ(jobs[r].st, KNN_OK);
        for (size_t q = 0; want && jobs[r].nb && q < 9; q++)
            for (int i = 0; i < 2; i++) {
                CHECK_EQ(knn_neighbors_index(jobs[r].nb, q, i), knn_neighbors_index(want, q, i));
                CHECK_EQ(knn_neighbors_raw_distance(jobs[r].nb, q, i),
                         knn_neighbors_raw_distance(want, q, i));
            }
        knn_neighbors_free(jobs[r].nb);
    }
    knn_neighbors_free(want);
    knn_dataset_free(whole);
    knn_dataset_free(test);
}

/* A model with a graph index: each shard builds one of its own rows with the file's settings
 * and the merged walks find nearly all the exact neighbours, every row index valid; the
 * exact search (p.exact) stays the whole set's (shards_of_a_model_equal_the_whole). */
static void graph_per_shard(void)
{
    knn_dataset *whole = tied_rows(400, 16, 4, 9), *test = tied_rows(30, 16, 4, 10);
    knn_index_options io = knn_index_options_default();
    io.M = 8;
    CHECK_EQ(knn_dataset_build_index(whole, &io), KNN_OK);
    char path[256];
    snprintf(path, sizeof path, "%s/graph.knn", test_dir());
    knn_params p = knn_params_default();
    CHECK_EQ(write_model(whole, &p, path), KNN_OK);
    p.k = 5;
    p.exact = 1;
    knn_neighbors *exact = NULL;
    CHECK_EQ(knn_search(whole, test, &p, &exact), KNN_OK);
    compare_shards(path, whole, test, 3);
    enum { RANKS = 3 };
    rank_job jobs[RANKS];
    run_ranks(path, test, RANKS, search_rank,
              &(rank_job){.k = 5, .threads = 1, .graph = true}, jobs);
    for (int r = 0; r < RANKS; r++) {
        CHECK_EQ(jobs[r].st, KNN_OK);
        double recall = 0;
        if (jobs[r].nb && exact) {
            CHECK_EQ(knn_neighbors_recall(jobs[r].nb, exact, &recall), KNN_OK);
            for (size_t q = 0; q < 30; q++)
                for (int i = 0; i < 5; i++)
                    CHECK(knn_neighbors_index(jobs[r].nb, q, i) < 400);
            /* every rank merged the same lists */
            for (size_t q = 0; r > 0 && jobs[0].nb && q < 30; q++)
                for (int i = 0; i < 5; i++)
                    CHECK_EQ(knn_neighbors_index(jobs[r].nb, q, i),
                             knn_neighbors_index(jobs[0].nb, q, i));
        }
        CHECK(recall >= 0.9);
    }
    for (int r = 0; r < RANKS; r++)
        knn_neighbors_free(jobs[r].nb);
    knn_neighbors_free(exact);
    knn_dataset_free(whole);
    knn_dataset_free(test);
}

static void shards_refuse_what_they_cannot_split(void)
{
    knn_shard s = {.index = 0, .count = 2, .reduce = bus_reduce, .broadcast = bus_broadcast};
    knn_load_options o = {.shard = &s};
    knn_dataset *ds = NULL;
    char path[256];
    snprintf(path, sizeof path, "%s/shard-photos", test_dir());
    mkdir(path, 0700);
    CHECK_EQ(knn_dataset_load(path, &o, &ds), KNN_ERR_ARG); /* a folder: refused at once */
    CHECK(strstr(knn_last_error(), "cannot be split into shards") != NULL);
    snprintf(path, sizeof path, "%s/refuse.knn", test_dir());
    knn_dataset *whole = tied_rows(10, 4, 2, 1);
    knn_params p = knn_params_default();
    CHECK_EQ(write_model(whole, &p, path), KNN_OK);
    knn_dataset_free(whole);
    s.index = 2; /* not one of 2 */
    CHECK_EQ(knn_dataset_load(path, &o, &ds), KNN_ERR_ARG);
    s.index = 0;
    s.reduce = NULL; /* no operations */
    CHECK_EQ(knn_dataset_load(path, &o, &ds), KNN_ERR_ARG);
    CHECK(ds == NULL);
    size_t lo, hi;
    knn_shard_rows(10, 2, 2, &lo, &hi);
    CHECK_EQ(hi - lo, 0);
    knn_shard_rows(10, 1, 3, &lo, &hi);
    CHECK_EQ(lo, 3);
    CHECK_EQ(hi, 6);
}

const test_case shard_tests[] = {
    {"shards_of_a_model_equal_the_whole", shards_of_a_model_equal_the_whole},
    {"shards_of_idx_equal_the_whole", shards_of_idx_equal_the_whole},
    {"shards_without_rows", shards_without_rows},
    {"graph_per_shard", graph_per_shard},
    {"shards_refuse_what_they_cannot_split", shards_refuse_what_they_cannot_split},
    {NULL, NULL},
};
