/* index_bench.c: the graph index on Fashion-MNIST, for bench/index.py. Prints JSON lines:
 *   exact  the exact search of every test image (K = 10): seconds on all threads, and
 *          queries/s on one thread (over the first `single` queries)
 *   build  the index's build seconds (all threads) and its bytes
 *   point  one point of the curve: ef, queries/s on one thread, recall@10 against the exact
 *          search, accuracy of the K = 10 vote
 * and writes the exact neighbours (int32, queries x 10) to TRUTH, for the peers' recall.
 *
 * usage: index_bench TRAIN TEST l1|l2 TRUTH [shifted]
 *   shifted: the training set is every image and its 8 copies shifted by one pixel
 *   (540,000 rows), the scale check; fewer points. */
#include "knn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define K 10

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int fail(const char *what)
{
    fprintf(stderr, "index_bench: %s: %s\n", what, knn_last_error());
    return 1;
}

/* Every image of ds and its 8 copies moved one pixel (up, down, left, right, diagonals),
 * the uncovered edge black: 9 x the rows, the labels repeated. */
static knn_dataset *shifted(const knn_dataset *ds)
{
    const size_t n = knn_dataset_count(ds), dim = knn_dataset_dim(ds);
    const int h = knn_dataset_height(ds), w = knn_dataset_width(ds);
    uint8_t *data = calloc(9 * n, dim);
    int32_t *labels = malloc(9 * n * sizeof *labels);
    if (!data || !labels)
        return NULL;
    size_t at = 0;
    for (int dy = -1; dy <= 1; dy++)
        for (int dx = -1; dx <= 1; dx++)
            for (size_t i = 0; i < n; i++, at++) {
                const uint8_t *src = knn_dataset_row(ds, i);
                uint8_t *dst = data + at * dim;
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++) {
                        int sy = y - dy, sx = x - dx;
                        if (sy >= 0 && sy < h && sx >= 0 && sx < w)
                            dst[y * w + x] = src[sy * w + sx];
                    }
                labels[at] = knn_dataset_label(ds, i);
            }
    knn_dataset *out = NULL;
    knn_dataset_create(9 * n, dim, data, labels, knn_dataset_num_classes(ds), h, w, 1, &out);
    free(data);
    free(labels);
    return out;
}

/* Accuracy of the K = 10 vote on nb. */
static double accuracy(const knn_dataset *train, const knn_dataset *test, const knn_neighbors *nb)
{
    knn_params p = knn_params_default();
    p.k = K;
    const size_t nq = knn_dataset_count(test);
    int32_t *pred = malloc(nq * sizeof *pred);
    size_t right = 0;
    if (pred && !knn_vote(train, nb, &p, pred, NULL, NULL))
        for (size_t q = 0; q < nq; q++)
            right += pred[q] == knn_dataset_label(test, q);
    free(pred);
    return nq ? (double)right / (double)nq : 0;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: index_bench TRAIN TEST l1|l2 TRUTH [shifted]\n");
        return 2;
    }
    const int scale = argc > 5 && !strcmp(argv[5], "shifted");
    knn_dataset *train = NULL, *test = NULL;
    if (knn_dataset_load(argv[1], NULL, &train))
        return fail(argv[1]);
    if (knn_dataset_load(argv[2], NULL, &test))
        return fail(argv[2]);
    if (scale) {
        knn_dataset *big = shifted(train);
        if (!big)
            return fail("shifted copies");
        knn_dataset_free(train);
        train = big;
    }
    knn_params p = knn_params_default();
    p.k = K;
    if (knn_metric_parse(argv[3], &p.metric))
        return fail(argv[3]);
    const size_t nq = knn_dataset_count(test), ntrain = knn_dataset_count(train);

    /* the exact answers: all threads for the truth, one thread for the rate */
    knn_neighbors *exact = NULL;
    double t = now();
    if (knn_search(train, test, &p, &exact))
        return fail("exact search");
    const double exact_all = now() - t;
    FILE *f = fopen(argv[4], "wb");
    for (size_t q = 0; f && q < nq; q++)
        for (int j = 0; j < K; j++) {
            int32_t id = (int32_t)knn_neighbors_index(exact, q, j);
            fwrite(&id, 4, 1, f);
        }
    if (!f || fclose(f))
        return fail(argv[4]);
    const size_t single = scale ? 500 : 2000;
    knn_dataset *few = NULL;
    knn_load_options lo = {.limit = single};
    if (knn_dataset_load(argv[2], &lo, &few))
        return fail(argv[2]);
    knn_params one = p;
    one.threads = 1;
    knn_neighbors *nb = NULL;
    t = now();
    if (knn_search(train, few, &one, &nb))
        return fail("exact search, one thread");
    const double exact_one = now() - t;
    knn_neighbors_free(nb);
    knn_dataset_free(few);
    printf("{\"what\": \"exact\", \"metric\": \"%s\", \"train\": %zu, \"queries\": %zu, "
           "\"isa\": \"%s\", \"seconds_all_threads\": %.3f, \"qps_one_thread\": %.1f, "
           "\"accuracy\": %.6f}\n",
           argv[3], ntrain, nq, knn_isa(), exact_all, (double)single / exact_one,
           accuracy(train, test, exact));
    fflush(stdout);

    /* the index: M = 16, ef_construction = 200, all threads */
    knn_index_options o = knn_index_options_default();
    o.metric = p.metric;
    t = now();
    if (knn_dataset_build_index(train, &o))
        return fail("build");
    const double build = now() - t;
    knn_index_info info;
    knn_dataset_index_info(train, &info);
    printf("{\"what\": \"build\", \"metric\": \"%s\", \"seconds\": %.3f, \"index_bytes\": %zu, "
           "\"rows_bytes\": %zu, \"levels\": %d, \"edges\": %zu}\n",
           argv[3], build, info.bytes, ntrain * ((knn_dataset_dim(train) + 63) / 64 * 64),
           info.levels, info.edges);
    fflush(stdout);

    static const int ladder[] = {10, 12, 16, 20, 24, 32, 40, 48, 64, 96, 128, 192, 256, 384};
    static const int scale_ladder[] = {16, 24, 32, 48, 64, 96, 128, 192};
    const int *efs = scale ? scale_ladder : ladder;
    const size_t nef = scale ? sizeof scale_ladder / sizeof *scale_ladder
                             : sizeof ladder / sizeof *ladder;
    for (size_t e = 0; e < nef; e++) {
        one.ef = efs[e];
        t = now();
        if (knn_search(train, test, &one, &nb))
            return fail("index search");
        const double secs = now() - t;
        double recall;
        knn_neighbors_recall(nb, exact, &recall);
        printf("{\"what\": \"point\", \"metric\": \"%s\", \"ef\": %d, \"qps\": %.1f, "
               "\"recall\": %.6f, \"accuracy\": %.6f}\n",
               argv[3], efs[e], (double)nq / secs, recall, accuracy(train, test, nb));
        fflush(stdout);
        knn_neighbors_free(nb);
    }
    knn_neighbors_free(exact);
    knn_dataset_free(train);
    knn_dataset_free(test);
    return 0;
}
