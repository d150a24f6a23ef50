/* cmd_eval.c: `knn eval TRAIN TEST`: classify every test image by its K nearest training
 * images and report accuracy in the course's words, top-5 accuracy, per-class accuracy and,
 * on request, the confusion matrix; or all of it as one JSON object. */
#include "cli.h"

#include <getopt.h>
#include <string.h>

static const char help[] =
    "usage: knn eval TRAIN TEST [OPTIONS]\n"
    "\n"
    "Classify every TEST image by its K nearest TRAIN images and measure the result.\n"
    "\n"
    "  -k K|auto          neighbours that vote (default 1); auto: chosen, with the metric\n"
    "                     unless --metric is given, by cross-validation on TRAIN (5\n"
    "                     stratified folds unless the options below say otherwise)\n"
    "  --metric l1|l2|cosine  distance (default l2, or cosine for text; cosine = 1 - cos,\n"
    "                     for float32 features and text, which has only cosine)\n"
    "  --weights uniform|distance\n"
    "                     each neighbour votes 1, or 1/distance; neighbours at distance 0\n"
    "                     decide alone (default uniform)\n"
    "  --ties nearest|smallest-label\n"
    "                     a tied vote goes to the tied class holding the nearest neighbour,\n"
    "                     or to the smallest label (default nearest)\n"
    "  --confusion        also print the confusion matrix\n"
    CLI_INDEX_HELP
    "  --recall           with an index: also run the exact search on the same test images\n"
    "                     and print recall@K (the share of the true K nearest found) and\n"
    "                     both searches' queries/s (use --limit N for a quick check)\n"
    "  --json             print one JSON object instead of text\n" CLI_TEST_HELP CLI_FOLD_HELP
    CLI_COMMON_HELP
    "\n"
    "example: knn eval fashion-mnist:train fashion-mnist:test -k 5 --metric l2\n";

typedef struct {
    const char *train_spec, *test_spec;
    knn_params params;
    bool confusion, json, recall;
    double seconds;
    char search[96];    /* how it searched: cli_search_name           */
    bool indexed;       /* TRAIN has an index (the text says how it searched) */
    double recall_at_k; /* --recall: recall@K against the exact search */
    double exact_seconds;
} eval_run;

static void print_text(const eval_run *r, const knn_dataset *train, const knn_metrics *m,
                       bool quiet)
{
    char buf[16];
    const int C = m->num_classes;
    if (!quiet)
        printf("k = %d, metric %s, weights %s, ties %s: %.2f s (%s kernels%s%s)\n", r->params.k,
               knn_metric_name(r->params.metric), knn_weights_name(r->params.weights),
               knn_ties_name(r->params.ties), r->seconds, knn_isa(),
               r->indexed ? ", " : "", r->indexed ? r->search : "");
    if (r->recall)
        printf("Recall@%d against the exact search: %.4f (%.0f queries/s; exact %.0f "
               "queries/s, %.2f s)\n",
               r->params.k, r->recall_at_k, (double)m->total / (r->seconds > 0 ? r->seconds : 1e-9),
               (double)m->total / (r->exact_seconds > 0 ? r->exact_seconds : 1e-9),
               r->exact_seconds);
    printf("Got %zu / %zu correct; accuracy is %.2f%%\n", m->correct, m->total,
           100 * m->accuracy);
    printf("Top-5: got %zu / %zu correct; top-5 accuracy is %.2f%%\n", m->top5_correct,
           m->total, 100 * m->top5_accuracy);
    printf("Per-class accuracy:\n");
    for (int c = 0; c < C && !ferror(stdout); c++) { /* stops at a failed write: main() reports it */
        if (!m->class_total[c])
            continue;
        printf("  %3d %-20s %6.2f%%  (%zu / %zu)\n", c, cli_class_name(train, c, buf),
               100.0 * (double)m->class_correct[c] / (double)m->class_total[c],
               m->class_correct[c], m->class_total[c]);
    }
    if (!r->confusion)
        return;
    if (!m->confusion) { /* the library does not tabulate that many classes */
        printf("Confusion matrix: omitted for %d classes (at most %d)\n", C,
               KNN_MAX_CONFUSION_CLASSES);
        return;
    }
    printf("Confusion matrix (rows: true class, columns: predicted class):\n      ");
    for (int c = 0; c < C; c++)
        printf(" %5d", c);
    printf("\n");
    for (int t = 0; t < C && !ferror(stdout); t++) {
        printf("  %3d ", t);
        for (int c = 0; c < C; c++)
            printf(" %5zu", m->confusion[(size_t)t * (size_t)C + (size_t)c]);
        printf("   %s\n", cli_class_name(train, t, buf));
    }
}

static void print_json(const eval_run *r, const knn_dataset *train, const knn_metrics *m)
{
    char buf[16];
    const int C = m->num_classes;
    printf("{\"train\": ");
    cli_json_string(stdout, r->train_spec);
    printf(", \"test\": ");
    cli_json_string(stdout, r->test_spec);
    printf(", \"k\": %d, \"metric\": \"%s\", \"weights\": \"%s\", \"ties\": \"%s\",\n",
           r->params.k, knn_metric_name(r->params.metric), knn_weights_name(r->params.weights),
           knn_ties_name(r->params.ties));
    printf(" \"total\": %zu, \"correct\": %zu, \"accuracy\": %.6f,"
           " \"top5_correct\": %zu, \"top5_accuracy\": %.6f, \"seconds\": %.3f,"
           " \"isa\": \"%s\",\n",
           m->total, m->correct, m->accuracy, m->top5_correct, m->top5_accuracy, r->seconds,
           knn_isa());
    printf(" \"search\": ");
    cli_json_string(stdout, r->search);
    if (r->recall)
        printf(", \"recall\": %.6f, \"exact_seconds\": %.3f", r->recall_at_k, r->exact_seconds);
    printf(",\n");
    printf(" \"classes\": [");
    for (int c = 0; c < C; c++) {
        printf(c ? ", " : "");
        cli_json_string(stdout, cli_class_name(train, c, buf));
    }
    printf("],\n \"per_class\": [");
    for (int c = 0; c < C && !ferror(stdout); c++) {
        printf("%s\n  {\"label\": %d, \"name\": ", c ? "," : "", c);
        cli_json_string(stdout, cli_class_name(train, c, buf));
        double acc = m->class_total[c]
                         ? (double)m->class_correct[c] / (double)m->class_total[c]
                         : 0.0;
        printf(", \"correct\": %zu, \"total\": %zu, \"accuracy\": %.6f}", m->class_correct[c],
               m->class_total[c], acc);
    }
    if (!m->confusion) { /* more classes than the library tabulates */
        printf("],\n \"confusion\": null}\n");
        return;
    }
    printf("],\n \"confusion\": [");
    for (int t = 0; t < C && !ferror(stdout); t++) {
        printf("%s\n  [", t ? "," : "");
        for (int c = 0; c < C; c++)
            printf("%s%zu", c ? ", " : "", m->confusion[(size_t)t * (size_t)C + (size_t)c]);
        printf("]");
    }
    printf("]}\n");
}

int cmd_eval(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"metric", required_argument, NULL, OPT_METRIC},
        {"weights", required_argument, NULL, OPT_WEIGHTS},
        {"ties", required_argument, NULL, OPT_TIES},
        {"confusion", no_argument, NULL, OPT_CONFUSION},
        {"json", no_argument, NULL, OPT_JSON},
        {"recall", no_argument, NULL, OPT_RECALL},
        CLI_INDEX_LONG_OPTIONS,
        CLI_FOLD_LONG_OPTIONS,
        CLI_TEST_LONG_OPTIONS,
        CLI_COMMON_LONG_OPTIONS,
        {NULL, 0, NULL, 0}};
    eval_run r = {0};
    r.params = knn_params_default();
    cli_common common = {0};
    int opt, code = 0;
    opterr = 0;
    knn_status st;
    while ((opt = getopt_long(argc, argv, ":k:qh", longopts, NULL)) != -1) {
        switch (opt) {
        case OPT_CONFUSION: r.confusion = true; break;
        case OPT_JSON: r.json = true; break;
        case OPT_RECALL: r.recall = true; break;
        case 'h': fputs(help, stdout); return 0;
        default:
            if ((code = cli_shared_option(opt, argv, &common, &r.params)))
                return code;
        }
    }
    if (argc - optind != 2)
        return cli_usage_error("give TRAIN and TEST data sets (%d given)", argc - optind);
    r.train_spec = argv[optind];
    r.test_spec = argv[optind + 1];

    knn_dataset *train = NULL, *test = NULL;
    knn_metrics m = {0};
    int exit_code = 0;
    if ((st = cli_load(r.train_spec, &common, common.train_limit, false, &train))) {
        exit_code = cli_library_error(st);
        goto done;
    }
    if ((exit_code = cli_load_test(r.test_spec, &common, false, train, &test)))
        goto done;
    if ((exit_code = cli_settings(train, &common, &r.params)))
        goto done;
    cli_search_name(train, &r.params, r.search, sizeof r.search);
    knn_index_info info;
    r.indexed = knn_dataset_index_info(train, &info);
    if (r.recall && !r.indexed) {
        exit_code = cli_usage_error("--recall measures an index: %s has none (knn fit --index "
                                    "hnsw)",
                                    r.train_spec);
        goto done;
    }
    knn_predictions *pr = NULL;
    double t0 = cli_now();
    if ((exit_code = cli_evaluate(train, test, &r.params, common.quiet, &m, r.recall ? &pr : NULL)))
        goto done;
    r.seconds = cli_now() - t0;
    if (r.recall) { /* the exact search of the same queries, timed alike */
        knn_params exact = r.params;
        exact.exact = 1;
        knn_predictions *all = NULL;
        t0 = cli_now();
        st = knn_classify(train, test, &exact, &all);
        r.exact_seconds = cli_now() - t0;
        if (!st)
            st = knn_neighbors_recall(knn_predictions_neighbors(pr),
                                      knn_predictions_neighbors(all), &r.recall_at_k);
        knn_predictions_free(all);
        knn_predictions_free(pr);
        if (st) {
            exit_code = cli_library_error(st);
            goto done;
        }
    }
    if (!common.quiet && !r.json) {
        cli_describe(stdout, "train", r.train_spec, train);
        cli_describe(stdout, "test", r.test_spec, test);
    }
    if (r.json)
        print_json(&r, train, &m);
    else
        print_text(&r, train, &m, common.quiet);
done:
    knn_metrics_free(&m);
    knn_dataset_free(train);
    knn_dataset_free(test);
    return exit_code;
}
