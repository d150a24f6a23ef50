/* knn_bench.c: knn's side of `make bench`. On one training and one test set it measures, in
 * one process, and prints as JSON lines:
 *   peak     the machine's rate for the instruction each uint8 kernel is built on, from a
 *            tiny loop of independent instructions (one thread, then all threads);
 *   search   the full search + vote for L2 and L1 at K = 5: time, accuracy, and the rate
 *            achieved in useful operations (nq x ntrain x dim) per second;
 *   kernel   every kernel table this processor runs, alone on one thread, on one search
 *            tile's worth of rows: its rate against one thread's peak of its instruction;
 *   latency  one query at a time (as `predict` on one image), median over many queries,
 *            against the time to read the training set once from memory;
 *   minima   the cost of each class's nearest training image (the ranking of the classes
 *            without a vote): the search with them (labelled training rows) and without
 *            (the same rows unlabelled), for the 10 classes and for the rows relabelled
 *            into 1,000 classes by index (i mod 1000: accuracy at chance, cost only); the
 *            vote's ranking with them and in label order (the old rule, read off the
 *            unlabelled search); top-5 accuracy both ways, at K = 5 and at K = 1;
 *   long     rows of 256 x 256 RGB (196,608 values, past one 65,536-value chunk of the
 *            kernels): 2,000 training rows of random dark values (0..63) and 200 query rows
 *            of random bright ones (192..255), so that every squared L2 distance passes 2^32
 *            (about 7.4e9); the search at K = 5 for L2 and L1, and its first queries'
 *            neighbours against the scalar reference search (knn__search_reference), bit for
 *            bit.
 * The Python driver (bench.py) runs the peers and prints the side-by-side table. */
#include "internal.h"
#include "kernels/kernels.h"
#include "knn.h"

#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#define PEAK_ITERS 50000000L

/* Each loop issues 12 independent instructions per iteration (12 chains: more than the
 * latency times the throughput of any of these instructions, 5 x 2 at most, and few enough
 * for AVX2's 16 registers), so latency never limits it. KEEP pins the chains to registers:
 * without it GCC copied each vpdpbusd's accumulator in and out with a vmovdqa, which made
 * the measured vpdpbusd peak a quarter low on an AMD EPYC (4.7 instead of 6.5 G/s a
 * thread). */
#define PEAK_CHAINS 12
#define KEEP(a0, a1, a2, a3, a4, a5)                                                           \
    __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5))
#define PEAK_LOOP(name, isa, type, set1, op, add, first)                                       \
    __attribute__((target(isa))) static int name(long iters)                                   \
    {                                                                                          \
        type b = set1(3), a0 = set1(1), a1 = set1(2), a2 = set1(3), a3 = set1(4);              \
        type a4 = set1(5), a5 = set1(6), c0 = a0, c1 = a1, c2 = a2, c3 = a3, c4 = a4, c5 = a5;  \
        for (long n = 0; n < iters; n++) {                                                     \
            a0 = op(a0, b), a1 = op(a1, b), a2 = op(a2, b), a3 = op(a3, b);                    \
            a4 = op(a4, b), a5 = op(a5, b), c0 = op(c0, b), c1 = op(c1, b);                    \
            c2 = op(c2, b), c3 = op(c3, b), c4 = op(c4, b), c5 = op(c5, b);                    \
            KEEP(a0, a1, a2, a3, a4, a5);                                                      \
            KEEP(c0, c1, c2, c3, c4, c5);                                                      \
        }                                                                                      \
        type s = add(add(add(a0, a1), add(a2, a3)), add(add(a4, a5), add(c0, c1)));            \
        return first(add(s, add(add(c2, c3), add(c4, c5))));                                   \
    }

#define MADD_Y(a, b) _mm256_madd_epi16(a, b)
#define SAD_Y(a, b) _mm256_sad_epu8(a, b)
#define DPBUSD_Y(a, b) _mm256_dpbusd_avx_epi32(a, b, b)
#define DPBUSD_Z(a, b) _mm512_dpbusd_epi32(a, b, b)
#define SAD_Z(a, b) _mm512_sad_epu8(a, b)
#define FIRST_Y(s) _mm256_extract_epi32(s, 0)
#define FIRST_Z(s) _mm_cvtsi128_si32(_mm512_castsi512_si128(s))
PEAK_LOOP(peak_vpmaddwd_ymm, "avx2", __m256i, _mm256_set1_epi8, MADD_Y, _mm256_add_epi32, FIRST_Y)
PEAK_LOOP(peak_vpsadbw_ymm, "avx2", __m256i, _mm256_set1_epi8, SAD_Y, _mm256_add_epi32, FIRST_Y)
PEAK_LOOP(peak_vpdpbusd_ymm, "avx2,avxvnni", __m256i, _mm256_set1_epi8, DPBUSD_Y,
          _mm256_add_epi32, FIRST_Y)
PEAK_LOOP(peak_vpdpbusd_zmm, "avx512f,avx512bw,avx512vnni", __m512i, _mm512_set1_epi8,
          DPBUSD_Z, _mm512_add_epi32, FIRST_Z)
PEAK_LOOP(peak_vpsadbw_zmm, "avx512f,avx512bw", __m512i, _mm512_set1_epi8, SAD_Z,
          _mm512_add_epi32, FIRST_Z)

typedef struct {
    const char *metric, *instruction;
    int ops_per_instruction; /* byte multiply-adds (L2) or byte |a-b| (L1); vpmaddwd does 16
                                16-bit multiply-adds, 16 byte pairs per 32-byte instruction */
    int (*loop)(long);
} peak_kind;

/* The instructions each kernel table is built on, L2 then L1. */
static const struct {
    const char *isa;
    peak_kind kinds[2];
} table_peaks[] = {
    {"avx2", {{"l2", "vpmaddwd ymm", 16, peak_vpmaddwd_ymm}, {"l1", "vpsadbw ymm", 32, peak_vpsadbw_ymm}}},
    {"avxvnni", {{"l2", "vpdpbusd ymm (VEX)", 32, peak_vpdpbusd_ymm}, {"l1", "vpsadbw ymm", 32, peak_vpsadbw_ymm}}},
    {"avx512", {{"l2", "vpdpbusd zmm", 64, peak_vpdpbusd_zmm}, {"l1", "vpsadbw zmm", 64, peak_vpsadbw_zmm}}},
};
#define N_TABLE_PEAKS (sizeof table_peaks / sizeof *table_peaks)

/* Instructions per second: one thread, and all threads together; the best of 5 runs of
 * 0.1 to 0.3 s each, since a peak is what the machine can do, not what a neighbour left. */
static void measure_peak(const peak_kind *k, double *one, double *all)
{
    volatile int sink = 0;
    *one = 0;
    if (all) /* NULL: one thread only */
        *all = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t = now();
        sink += k->loop(PEAK_ITERS);
        double r = (double)PEAK_CHAINS * PEAK_ITERS / (now() - t);
        *one = r > *one ? r : *one;
        if (!all)
            continue;
        t = now();
#pragma omp parallel reduction(+ : sink)
        sink += k->loop(PEAK_ITERS);
        r = (double)PEAK_CHAINS * PEAK_ITERS * omp_get_max_threads() / (now() - t);
        *all = r > *all ? r : *all;
    }
    (void)sink;
}

static int fail(const char *what)
{
    fprintf(stderr, "knn_bench: %s: %s\n", what, knn_last_error());
    return 1;
}

/* Searches and votes; returns seconds, sets *accuracy. */
static double classify(const knn_dataset *train, const knn_dataset *test, knn_params *p,
                       double *accuracy)
{
    size_t n = knn_dataset_count(test);
    int32_t *pred = malloc(n * sizeof *pred);
    double t = now();
    knn_neighbors *nb;
    if (knn_search(train, test, p, &nb) || knn_vote(train, nb, p, pred, NULL, NULL)) {
        fail("search");
        exit(1);
    }
    t = now() - t;
    size_t correct = 0;
    for (size_t i = 0; i < n; i++)
        correct += pred[i] == knn_dataset_label(test, i);
    *accuracy = (double)correct / (double)n;
    knn_neighbors_free(nb);
    free(pred);
    return t;
}

/* kernel: each kernel table this processor runs, alone on one thread: its uint8 L2 and L1
 * tiles over the first 128 test rows and 48 training rows (one tile of the search at
 * Fashion-MNIST's size, QUERY_TILE x the block of 48 KiB / 832 rows in whole 16s, in the
 * caches), called over and over;
 * its rate in the operations it performs (each row padded to 832 bytes) against one thread's
 * peak of its instruction, and its tile against the scalar table's, bit for bit. The search's
 * fraction counts the useful 784 values and includes all the rest: the selection, the
 * class minima, and the training rows read from memory by every query tile. */
static void kernel_section(const knn_dataset *train, const knn_dataset *test)
{
    enum { KQ = 128, KT = 48 };
    if (train->count < KT || test->count < KQ || train->dtype != KNN_U8)
        return;
    const size_t stride = train->stride, len = stride;
    uint32_t qn[KQ], tn[KT], tn_scalar[KT];
    uint32_t *out = malloc(KQ * KT * sizeof *out), *want = malloc(KQ * KT * sizeof *want);
    knn__sqnorm_u8(test->rows, KQ, len, stride, qn);
    knn__sqnorm_u8(train->rows, KT, len, stride, tn_scalar);
    for (size_t i = 0; out && want && i < N_TABLE_PEAKS; i++) {
        const knn__kernels *k = knn__kernels_find(table_peaks[i].isa);
        if (!k)
            continue;
        k->train_norms(train->rows, KT, len, stride, tn);
        for (int m = 0; m < 2; m++) {
            const peak_kind *pk = &table_peaks[i].kinds[m];
            knn__tile_fn fn = m ? k->l1_tile : k->l2_tile;
            knn__tile_fn ref = m ? knn__kernels_scalar.l1_tile : knn__kernels_scalar.l2_tile;
            ref(test->rows, KQ, train->rows, KT, len, stride, qn, tn_scalar, want);
            fn(test->rows, KQ, train->rows, KT, len, stride, qn, tn, out);
            const bool equal = !memcmp(out, want, KQ * KT * sizeof *out);
            const long calls = 2000;
            double best = 1e9;
            for (int rep = 0; rep < 5; rep++) {
                double t = now();
                for (long c = 0; c < calls; c++) {
                    fn(test->rows, KQ, train->rows, KT, len, stride, qn, tn, out);
                    __asm__ volatile("" : : "r"(out) : "memory");
                }
                t = now() - t;
                best = t < best ? t : best;
            }
            double one;
            measure_peak(pk, &one, NULL);
            const double gops = (double)calls * KQ * KT * (double)len / best * 1e-9;
            const double peak = one * pk->ops_per_instruction * 1e-9;
            printf("{\"what\": \"kernel\", \"isa\": \"%s\", \"metric\": \"%s\", "
                   "\"instruction\": \"%s\", \"bytes_per_row\": %zu, "
                   "\"gops_per_thread\": %.1f, \"peak_gops_per_thread\": %.1f, "
                   "\"fraction_of_peak\": %.3f, \"equal_scalar\": %s}\n",
                   k->name, pk->metric, pk->instruction, len, gops, peak, gops / peak,
                   equal ? "true" : "false");
            fflush(stdout);
        }
    }
    free(out);
    free(want);
}

/* A copy of ds's rows with other labels (NULL: unlabelled). */
static knn_dataset *relabelled(const knn_dataset *ds, const int32_t *labels, int classes)
{
    size_t n = knn_dataset_count(ds), dim = knn_dataset_dim(ds);
    uint8_t *data = malloc(n * dim);
    for (size_t i = 0; i < n; i++)
        memcpy(data + i * dim, knn_dataset_row(ds, i), dim);
    knn_dataset *out;
    if (knn_dataset_create(n, dim, data, labels, classes, knn_dataset_height(ds),
                           knn_dataset_width(ds), knn_dataset_channels(ds), &out)) {
        fail("relabel");
        exit(1);
    }
    free(data);
    return out;
}

static double timed_search(const knn_dataset *train, const knn_dataset *test,
                           const knn_params *p, knn_neighbors **nb)
{
    double t = now();
    if (knn_search(train, test, p, nb)) {
        fail("search");
        exit(1);
    }
    return now() - t;
}

/* Votes nb at K = k against `train`; returns seconds, sets the accuracy and top-5. */
static double timed_vote(const knn_dataset *train, const knn_neighbors *nb, int k,
                         const int32_t *truth, double *accuracy, double *top5)
{
    size_t n = knn_neighbors_count(nb);
    int C = knn_dataset_num_classes(train);
    int32_t *pred = malloc(n * sizeof *pred), *ranking = malloc(n * (size_t)C * sizeof *ranking);
    knn_params p = knn_params_default();
    p.k = k;
    double t = now();
    knn_metrics m;
    if (knn_vote(train, nb, &p, pred, NULL, ranking)) {
        fail("vote");
        exit(1);
    }
    t = now() - t;
    if (knn_metrics_compute(truth, ranking, n, C, &m)) {
        fail("metrics");
        exit(1);
    }
    *accuracy = m.accuracy;
    *top5 = m.top5_accuracy;
    knn_metrics_free(&m);
    free(pred);
    free(ranking);
    return t;
}

/* The minima's cost for one labelling of the training rows: the best of 3 searches with and
 * without them, taken in turns so that the machine's noise falls on both alike. */
static void measure_minima(const knn_dataset *train, const knn_dataset *bare,
                           const knn_dataset *test, const int32_t *truth, knn_metric metric)
{
    knn_params p = knn_params_default();
    p.k = 5;
    p.metric = metric;
    double with = 1e9, without = 1e9;
    knn_neighbors *nb = NULL, *nb_bare = NULL;
    for (int rep = 0; rep < 3; rep++) {
        knn_neighbors_free(nb);
        knn_neighbors_free(nb_bare);
        double t = timed_search(bare, test, &p, &nb_bare);
        without = t < without ? t : without;
        t = timed_search(train, test, &p, &nb);
        with = t < with ? t : with;
    }
    double acc, acc1, top5_old, top5_new, k1_old, k1_new;
    double vote_old = timed_vote(train, nb_bare, 5, truth, &acc, &top5_old);
    double vote_new = timed_vote(train, nb, 5, truth, &acc, &top5_new);
    timed_vote(train, nb_bare, 1, truth, &acc1, &k1_old);
    timed_vote(train, nb, 1, truth, &acc1, &k1_new);
    printf("{\"what\": \"minima\", \"metric\": \"%s\", \"classes\": %d, \"k\": 5, "
           "\"search_without_s\": %.3f, \"search_with_s\": %.3f, \"cost\": %.4f, "
           "\"vote_label_order_s\": %.3f, \"vote_nearest_s\": %.3f, \"accuracy\": %.4f, "
           "\"top5_label_order\": %.4f, \"top5_nearest\": %.4f, \"k1_accuracy\": %.4f, "
           "\"k1_top5_label_order\": %.4f, \"k1_top5_nearest\": %.4f}\n",
           knn_metric_name(metric), knn_dataset_num_classes(train), without, with,
           with / without - 1, vote_old, vote_new, acc, top5_old, top5_new, acc1, k1_old,
           k1_new);
    fflush(stdout);
    knn_neighbors_free(nb);
    knn_neighbors_free(nb_bare);
}

/* The minima at 10 classes and at 1,000 (rows relabelled i mod 1000), L2 and L1. */
static void minima_section(const knn_dataset *train, const knn_dataset *test)
{
    const size_t nt = knn_dataset_count(train), nq = knn_dataset_count(test);
    int32_t *labels = malloc(nt * sizeof *labels), *truth = malloc(nq * sizeof *truth);
    int32_t *truth1000 = malloc(nq * sizeof *truth1000);
    for (size_t i = 0; i < nt; i++)
        labels[i] = (int32_t)(i % 1000);
    for (size_t i = 0; i < nq; i++) {
        truth[i] = knn_dataset_label(test, i);
        truth1000[i] = (int32_t)(i % 1000);
    }
    knn_dataset *bare = relabelled(train, NULL, 0), *train1000 = relabelled(train, labels, 1000);
    for (int m = 0; m < 2; m++) {
        knn_metric metric = m == 0 ? KNN_L2 : KNN_L1;
        measure_minima(train, bare, test, truth, metric);
        measure_minima(train1000, bare, test, truth1000, metric);
    }
    knn_dataset_free(bare);
    knn_dataset_free(train1000);
    free(labels);
    free(truth);
    free(truth1000);
}

/* Long rows: random 256 x 256 x 3 uint8 rows, dark training rows and bright queries,
 * searched at K = 5; the first LONG_CHECKED queries' lists compared with the reference's
 * (which takes about a second a query). */
enum { LONG_TRAIN = 2000, LONG_QUERIES = 200, LONG_CHECKED = 4 };
static void long_rows_section(void)
{
    const size_t dim = 256 * 256 * 3, n = LONG_TRAIN + LONG_QUERIES;
    uint8_t *data = malloc(n * dim);
    int32_t *labels = malloc(n * sizeof *labels);
    uint64_t state = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < n * dim; i += 8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        const uint64_t bits = i < LONG_TRAIN * dim ? state & 0x3F3F3F3F3F3F3F3Full
                                                   : state | 0xC0C0C0C0C0C0C0C0ull;
        memcpy(data + i, &bits, 8); /* dim is a multiple of 8 */
    }
    for (size_t i = 0; i < n; i++)
        labels[i] = (int32_t)(i % 10);
    knn_dataset *train, *queries, *checked;
    if (knn_dataset_create(LONG_TRAIN, dim, data, labels, 10, 256, 256, 3, &train) ||
        knn_dataset_create(LONG_QUERIES, dim, data + LONG_TRAIN * dim, NULL, 0, 256, 256, 3,
                           &queries) ||
        knn_dataset_create(LONG_CHECKED, dim, data + LONG_TRAIN * dim, NULL, 0, 256, 256, 3,
                           &checked)) {
        fail("long rows");
        exit(1);
    }
    free(data);
    free(labels);
    for (int m = 0; m < 2; m++) {
        knn_params p = knn_params_default();
        p.k = 5;
        p.metric = m == 0 ? KNN_L2 : KNN_L1;
        knn_neighbors *nb, *ref;
        double t = timed_search(train, queries, &p, &nb);
        if (knn__search_reference(train, checked, &p, &ref)) {
            fail("reference");
            exit(1);
        }
        int equal = 1;
        uint64_t largest = 0;
        for (size_t q = 0; q < LONG_CHECKED; q++)
            for (int j = 0; j < p.k; j++) {
                equal &= knn_neighbors_index(nb, q, j) == knn_neighbors_index(ref, q, j) &&
                         knn_neighbors_raw_distance(nb, q, j) ==
                             knn_neighbors_raw_distance(ref, q, j);
                if (knn_neighbors_raw_distance(ref, q, j) > largest)
                    largest = knn_neighbors_raw_distance(ref, q, j);
            }
        printf("{\"what\": \"long\", \"metric\": \"%s\", \"k\": 5, \"isa\": \"%s\", "
               "\"dim\": %zu, \"queries\": %d, \"train\": %d, \"seconds\": %.3f, "
               "\"gops\": %.1f, \"checked_queries\": %d, \"equal_reference\": %s, "
               "\"largest_raw_distance\": %llu}\n",
               knn_metric_name(p.metric), knn_isa(), dim, LONG_QUERIES, LONG_TRAIN, t,
               (double)LONG_QUERIES * LONG_TRAIN * (double)dim / t * 1e-9, LONG_CHECKED,
               equal ? "true" : "false", (unsigned long long)largest);
        fflush(stdout);
        knn_neighbors_free(nb);
        knn_neighbors_free(ref);
    }
    knn_dataset_free(train);
    knn_dataset_free(queries);
    knn_dataset_free(checked);
}

static int by_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: knn_bench TRAIN TEST\n");
        return 2;
    }
    knn_dataset *train, *test;
    if (knn_dataset_load(argv[1], NULL, &train))
        return fail(argv[1]);
    if (knn_dataset_load(argv[2], NULL, &test))
        return fail(argv[2]);
    const char *isa = knn_isa();
    const int threads = omp_get_max_threads();
    const size_t nt = knn_dataset_count(train), nq = knn_dataset_count(test);
    const size_t dim = knn_dataset_dim(train);

    const peak_kind *kinds = NULL;
    for (size_t i = 0; i < N_TABLE_PEAKS; i++)
        if (!strcmp(isa, table_peaks[i].isa))
            kinds = table_peaks[i].kinds;
    double peak_ops[2] = {0, 0};
    for (int m = 0; kinds && m < 2; m++) {
        double one, all;
        measure_peak(&kinds[m], &one, &all);
        double ops = kinds[m].ops_per_instruction;
        peak_ops[m] = all * ops;
        printf("{\"what\": \"peak\", \"metric\": \"%s\", \"instruction\": \"%s\", "
               "\"per_thread_ginstr\": %.3f, \"all_threads_ginstr\": %.3f, "
               "\"ops_per_instruction\": %.0f, \"peak_gops\": %.1f, \"threads\": %d}\n",
               kinds[m].metric, kinds[m].instruction, one * 1e-9, all * 1e-9, ops,
               peak_ops[m] * 1e-9, threads);
        fflush(stdout);
    }

    for (int m = 0; m < 2; m++) {
        knn_params p = knn_params_default();
        p.k = 5;
        p.metric = m == 0 ? KNN_L2 : KNN_L1;
        double acc, t = classify(train, test, &p, &acc);
        double gops = (double)nq * (double)nt * (double)dim / t * 1e-9;
        printf("{\"what\": \"search\", \"metric\": \"%s\", \"k\": 5, \"isa\": \"%s\", "
               "\"threads\": %d, \"queries\": %zu, \"train\": %zu, \"seconds\": %.3f, "
               "\"accuracy\": %.4f, \"gops\": %.1f, \"fraction_of_peak\": %.3f}\n",
               m == 0 ? "l2" : "l1", isa, threads, nq, nt, t, acc, gops,
               peak_ops[m] > 0 ? gops * 1e9 / peak_ops[m] : 0.0);
        fflush(stdout);
    }

    /* the memory floor: read every training row once, all threads */
    double floor_s = 1e9;
    for (int rep = 0; rep < 5; rep++) {
        uint64_t sum = 0;
        double t = now();
#pragma omp parallel for reduction(+ : sum) schedule(static)
        for (size_t i = 0; i < nt; i++) {
            const uint64_t *row = (const uint64_t *)knn_dataset_row(train, i);
            for (size_t d = 0; d < (dim + 63) / 64 * 8; d++)
                sum += row[d];
        }
        t = now() - t;
        if (t < floor_s && sum != 1)
            floor_s = t;
    }
    enum { LATENCY_QUERIES = 41 };
    for (int m = 0; m < 2; m++) {
        double times[LATENCY_QUERIES];
        knn_params p = knn_params_default();
        p.k = 5;
        p.metric = m == 0 ? KNN_L2 : KNN_L1;
        for (int i = 0; i < LATENCY_QUERIES; i++) {
            knn_dataset *one;
            knn_dataset_create(1, dim, knn_dataset_row(test, (size_t)i), NULL, 0,
                               knn_dataset_height(test), knn_dataset_width(test),
                               knn_dataset_channels(test), &one);
            knn_neighbors *nb;
            double t = now();
            if (knn_search(train, one, &p, &nb))
                return fail("latency search");
            times[i] = now() - t;
            knn_neighbors_free(nb);
            knn_dataset_free(one);
        }
        qsort(times, LATENCY_QUERIES, sizeof *times, by_double);
        printf("{\"what\": \"latency\", \"metric\": \"%s\", \"isa\": \"%s\", \"threads\": %d, "
               "\"median_ms\": %.3f, \"memory_floor_ms\": %.3f, \"ratio\": %.2f}\n",
               m == 0 ? "l2" : "l1", isa, threads, times[LATENCY_QUERIES / 2] * 1e3,
               floor_s * 1e3, times[LATENCY_QUERIES / 2] / floor_s);
        fflush(stdout);
    }
    kernel_section(train, test);
    minima_section(train, test);
    long_rows_section();
    knn_dataset_free(train);
    knn_dataset_free(test);
    return 0;
}
