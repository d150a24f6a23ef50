/* cmd_cv.c: `knn cv TRAIN`: choose K and the metric by k-fold cross-validation (or a hold-out
 * validation split) on the training set, then, with --test, evaluate the chosen setting once
 * on the test set: the recipe of the lecture. Prints a table of every fold's accuracy with the
 * mean and standard deviation for each (metric, K), or one JSON object, and draws the figure. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_KS "1,3,5,8,10,12,15,20,50,100"
#define MAX_LIST 64

static const char help[] =
    "usage: knn cv TRAIN [OPTIONS]\n"
    "\n"
    "Choose K and the metric by cross-validation on TRAIN: each fold in turn is held out and\n"
    "classified by its K nearest images in the other folds. One search per metric serves\n"
    "every fold and every K. The best setting has the highest mean accuracy; ties go to the\n"
    "smaller K, then to the metric listed first. With --test, the chosen setting is evaluated\n"
    "once on TEST: the only look at the test set.\n"
    "\n"
    "  -k LIST            K values to try (default " DEFAULT_KS ")\n"
    "  --metric LIST      metrics to try, comma-separated among l1, l2 and cosine (cosine:\n"
    "                     float32 features and text; default l1,l2, and cosine alone for\n"
    "                     text)\n"
    "  --weights uniform|distance, --ties nearest|smallest-label   as in 'knn eval --help'\n"
    CLI_FOLD_HELP
    "  --val-fraction F   hold out this fraction as one validation split instead of folds\n"
    "                     (stratified, shuffled or the last images, as the folds would be)\n"
    "  --test TEST        evaluate the chosen setting once on TEST\n"
    CLI_TEST_HELP
    "  --plot FILE.svg|FILE.png   draw the accuracy of every fold against K (a numeric\n"
    "                     axis, logarithmic when the Ks span more than a factor of 20),\n"
    "                     with means and spread; .png through librsvg:\n"
    CLI_OUTPUT_HELP
    "  --json             print one JSON object instead of text\n" CLI_COMMON_HELP
    "\n"
    "example: knn cv fashion-mnist:train --test fashion-mnist:test --plot cv.svg\n";

/* Parses "1,3,5" into ks; false after printing the error. */
static bool parse_ks(const char *arg, int *ks, int *nk)
{
    *nk = 0;
    const char *p = arg;
    while (*p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 1 || v > (1 << 20) || (*end && *end != ',')) {
            cli_usage_error("-k '%s': give K values like 1,3,5 (each at least 1)", arg);
            return false;
        }
        if (*nk == MAX_LIST) {
            cli_usage_error("-k '%s': at most %d values", arg, MAX_LIST);
            return false;
        }
        ks[(*nk)++] = (int)v;
        p = *end ? end + 1 : end;
    }
    if (*nk == 0) {
        cli_usage_error("-k: the list of K values is empty");
        return false;
    }
    return true;
}

/* Parses "l1,l2"; false after printing the error. */
static bool parse_metrics(const char *arg, knn_metric *metrics, int *n)
{
    char buf[64];
    *n = 0;
    if (strlen(arg) >= sizeof buf || !*arg) {
        cli_usage_error("--metric '%s': give l1, l2, cosine or a list such as l1,l2", arg);
        return false;
    }
    strcpy(buf, arg);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (*n == 3 || knn_metric_parse(tok, &metrics[*n]) != KNN_OK) {
            cli_usage_error("--metric '%s': give l1, l2, cosine or a list such as l1,l2", arg);
            return false;
        }
        (*n)++;
    }
    return *n > 0;
}

const char *cli_fold_mode_name(knn_fold_mode mode)
{
    return mode == KNN_FOLDS_STRATIFIED ? "stratified"
           : mode == KNN_FOLDS_SHUFFLED ? "shuffled"
                                        : "contiguous";
}

static void print_text(const cli_cv_report *rep, size_t n, const char *rows)
{
    const knn_cv_options *o = rep->options;
    const knn_cv_result *r = rep->result;
    const int folds = knn_cv_folds(r);
    if (o->val_fraction > 0)
        printf("Hold-out validation on %s: %zu of %zu %s validate (%s split)\n",
               rep->train_spec, knn_cv_fold_size(r, 0), n, rows, cli_fold_mode_name(o->mode));
    else
        printf("%d-fold cross-validation on %s: %zu %s, %s folds\n", folds, rep->train_spec,
               n, rows, cli_fold_mode_name(o->mode));
    const bool holdout = o->val_fraction > 0; /* one validation split: no folds, no spread */
    const bool show_folds = folds <= 10 && !holdout;
    for (int m = 0; m < o->nmetrics; m++) {
        printf("\nmetric %s, weights %s, ties %s\n", knn_metric_name(o->metrics[m]),
               knn_weights_name(o->weights), knn_ties_name(o->ties));
        printf("      K");
        for (int f = 0; show_folds && f < folds; f++)
            printf("  fold %-2d", f + 1);
        printf(holdout ? "  validation\n" : "     mean      std\n");
        for (int a = 0; a < o->nk; a++) {
            printf("  %5d", o->ks[a]);
            for (int f = 0; show_folds && f < folds; f++)
                printf("  %6.2f%%", 100 * knn_cv_accuracy(r, m, a, f));
            if (holdout)
                printf("     %6.2f%%", 100 * knn_cv_mean(r, m, a));
            else
                printf("  %6.2f%%  %6.2f", 100 * knn_cv_mean(r, m, a),
                       100 * knn_cv_std(r, m, a));
            printf("%s\n", m == rep->best_m && a == rep->best_k ? "   <- best" : "");
        }
    }
    if (holdout)
        printf("\nBest: K = %d with %s: validation accuracy %.2f%%\n", o->ks[rep->best_k],
               knn_metric_name(o->metrics[rep->best_m]),
               100 * knn_cv_mean(r, rep->best_m, rep->best_k));
    else
        printf("\nBest: K = %d with %s: mean accuracy %.2f%% (std %.2f) over %d folds\n",
               o->ks[rep->best_k], knn_metric_name(o->metrics[rep->best_m]),
               100 * knn_cv_mean(r, rep->best_m, rep->best_k),
               100 * knn_cv_std(r, rep->best_m, rep->best_k), folds);
}

static void print_json(const cli_cv_report *rep, size_t n, const knn_metrics *test)
{
    const knn_cv_options *o = rep->options;
    const knn_cv_result *r = rep->result;
    printf("{\"train\": ");
    cli_json_string(stdout, rep->train_spec);
    printf(", \"images\": %zu, \"folds\": %d, \"mode\": \"%s\", \"holdout\": %s, "
           "\"weights\": \"%s\", \"ties\": \"%s\",\n \"fold_sizes\": [",
           n, knn_cv_folds(r), cli_fold_mode_name(o->mode), o->val_fraction > 0 ? "true" : "false",
           knn_weights_name(o->weights), knn_ties_name(o->ties));
    for (int f = 0; f < knn_cv_folds(r); f++)
        printf("%s%zu", f ? ", " : "", knn_cv_fold_size(r, f));
    printf("],\n \"results\": [");
    for (int m = 0; m < o->nmetrics; m++)
        for (int a = 0; a < o->nk; a++) {
            printf("%s\n  {\"metric\": \"%s\", \"k\": %d, \"fold_accuracy\": [",
                   m || a ? "," : "", knn_metric_name(o->metrics[m]), o->ks[a]);
            for (int f = 0; f < knn_cv_folds(r); f++)
                printf("%s%.6f", f ? ", " : "", knn_cv_accuracy(r, m, a, f));
            printf("], \"mean\": %.6f, \"std\": %.6f}", knn_cv_mean(r, m, a),
                   knn_cv_std(r, m, a));
        }
    printf("],\n \"best\": {\"metric\": \"%s\", \"k\": %d, \"mean\": %.6f, \"std\": %.6f}",
           knn_metric_name(o->metrics[rep->best_m]), o->ks[rep->best_k],
           knn_cv_mean(r, rep->best_m, rep->best_k), knn_cv_std(r, rep->best_m, rep->best_k));
    if (test)
        printf(",\n \"test\": {\"correct\": %zu, \"total\": %zu, \"accuracy\": %.6f, "
               "\"top5_accuracy\": %.6f}",
               test->correct, test->total, test->accuracy, test->top5_accuracy);
    printf("}\n");
}

/* Evaluates the chosen setting once on the test set. */
static int evaluate_test(const knn_dataset *train, const char *test_spec, const cli_common *c,
                         knn_params *p, knn_metrics *m)
{
    knn_dataset *test = NULL;
    int code = cli_load_test(test_spec, c, false, train, &test);
    if (code)
        return code;
    code = cli_evaluate(train, test, p, c->quiet, m, NULL);
    knn_dataset_free(test);
    return code;
}

int cmd_cv(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"metric", required_argument, NULL, OPT_METRIC},
        {"weights", required_argument, NULL, OPT_WEIGHTS},
        {"ties", required_argument, NULL, OPT_TIES},
        {"val-fraction", required_argument, NULL, OPT_VAL_FRACTION},
        {"test", required_argument, NULL, OPT_TEST},
        {"plot", required_argument, NULL, OPT_PLOT},
        {"json", no_argument, NULL, OPT_JSON},
        CLI_FOLD_LONG_OPTIONS,
        CLI_TEST_LONG_OPTIONS,
        CLI_COMMON_LONG_OPTIONS,
        {NULL, 0, NULL, 0}};
    int ks[MAX_LIST], nk = 0;
    knn_metric metrics[3] = {KNN_L1, KNN_L2, KNN_COSINE}; /* the default: the first two */
    int nmetrics = 2;
    knn_cv_options o = knn_cv_options_default(); /* its K list is DEFAULT_KS */
    o.ks = ks;
    o.metrics = metrics;
    cli_common common = {0};
    const char *test_spec = NULL, *plot = NULL;
    bool json = false;
    int opt, code = 0;
    knn_status st;
    opterr = 0;
    parse_ks(DEFAULT_KS, ks, &nk);
    while ((opt = getopt_long(argc, argv, ":k:qh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'k':
            if (!parse_ks(optarg, ks, &nk))
                return EXIT_USAGE;
            break;
        case OPT_METRIC:
            if (!parse_metrics(optarg, metrics, &nmetrics))
                return EXIT_USAGE;
            common.metric_given = true;
            break;
        case OPT_WEIGHTS:
            if ((st = knn_weights_parse(optarg, &o.weights)))
                return cli_library_error(st);
            break;
        case OPT_TIES:
            if ((st = knn_ties_parse(optarg, &o.ties)))
                return cli_library_error(st);
            break;
        case OPT_VAL_FRACTION: {
            char *end;
            o.val_fraction = strtod(optarg, &end);
            if (*end || end == optarg || !(o.val_fraction > 0 && o.val_fraction < 1))
                return cli_usage_error("--val-fraction '%s': give a number between 0 and 1",
                                       optarg);
            break;
        }
        case OPT_TEST: test_spec = optarg; break;
        case OPT_PLOT:
            if (!cli_output_is_stdout(optarg) && !cli_ends_with(optarg, ".svg") &&
                !cli_ends_with(optarg, ".png"))
                return cli_usage_error("--plot '%s': give a name ending in .svg or .png",
                                       optarg);
            if (cli_ends_with(optarg, ".png") && !cli_png_available())
                return cli_usage_error("--plot '%s': this knn was built without PNG output "
                                       "(install librsvg2-dev and rebuild); use .svg",
                                       optarg);
            plot = optarg;
            break;
        case OPT_JSON: json = true; break;
        case 'h': fputs(help, stdout); return 0;
        default:
            if ((code = cli_shared_option(opt, argv, &common, NULL)))
                return code;
        }
    }
    if (argc - optind != 1)
        return cli_usage_error("give one TRAIN data set (%d given)", argc - optind);
    o.nk = nk;
    o.nmetrics = nmetrics;
    o.threads = common.threads;
    o.folds = common.folds ? common.folds : 5;
    o.mode = cli_fold_mode(&common);
    o.seed = common.seed;
    const char *train_spec = argv[optind];

    knn_dataset *train = NULL;
    knn_cv_result *r = NULL;
    knn_metrics test = {0};
    if ((st = cli_load(train_spec, &common, common.train_limit, false, &train)))
        return cli_library_error(st);
    if (!common.metric_given && knn_dataset_text(train)) /* text: cosine alone */
        o.metrics = cli_auto_metrics(train, &o.nmetrics);
    cli_progress progress;
    cli_progress_init(&progress, "cross-validating", common.quiet);
    o.progress = cli_progress_update;
    o.progress_user = &progress;
    st = knn_cross_validate(train, &o, &r);
    cli_progress_done(&progress);
    if (st) {
        code = cli_library_error(st);
        goto done;
    }
    cli_cv_report rep = {train_spec, &o, r, 0, 0};
    knn_cv_best(r, &rep.best_m, &rep.best_k);
    if (!json)
        print_text(&rep, knn_dataset_count(train), cli_rows_name(train));
    if (test_spec) {
        knn_params p = knn_params_default();
        p.k = ks[rep.best_k];
        p.metric = o.metrics[rep.best_m];
        p.weights = o.weights;
        p.ties = o.ties;
        p.threads = common.threads;
        fflush(stdout);
        if ((code = evaluate_test(train, test_spec, &common, &p, &test)))
            goto done;
        if (!json)
            printf("\nTest set %s, the only look at it, with K = %d and %s:\n"
                   "Got %zu / %zu correct; accuracy is %.2f%%\n",
                   test_spec, p.k, knn_metric_name(p.metric), test.correct, test.total,
                   100 * test.accuracy);
    }
    if (json)
        print_json(&rep, knn_dataset_count(train), test_spec ? &test : NULL);
    if (plot) {
        cli_output out;
        if (!cli_output_open(&out, plot)) {
            code = EXIT_ERROR;
            goto done;
        }
        const bool to_stdout = out.f == stdout;
        if (cli_ends_with(plot, ".png") ? !cli_plot_cv_png(out.f, &rep)
                                         : (cli_plot_cv_svg(out.f, &rep), false)) {
            fprintf(stderr, "knn cv: %s: the figure could not be rendered as PNG\n", plot);
            cli_output_abort(&out);
            code = EXIT_ERROR;
            goto done;
        }
        if (!cli_output_commit(&out)) {
            code = EXIT_ERROR;
            goto done;
        }
        if (!json && !common.quiet && !to_stdout)
            printf("\nWrote the plot to %s\n", plot);
    }
done:
    knn_metrics_free(&test);
    knn_cv_result_free(r);
    knn_dataset_free(train);
    return code;
}

int cli_choose_k(const knn_dataset *train, knn_params *p, const knn_metric *metrics,
                 int nmetrics, const cli_common *c, cli_auto_k *keep)
{
    cli_auto_k own, *a = keep ? keep : &own;
    memset(a, 0, sizeof *a);
    a->options = knn_cv_options_default();
    a->options.folds = c->folds ? c->folds : a->options.folds;
    a->options.mode = cli_fold_mode(c);
    a->options.seed = c->seed;
    a->options.weights = p->weights;
    a->options.ties = p->ties;
    a->options.threads = p->threads;
    memcpy(a->metrics, metrics, (size_t)nmetrics * sizeof *metrics);
    a->options.metrics = a->metrics;
    a->options.nmetrics = nmetrics;
    a->options.nk = knn_cv_usable_ks(train, &a->options, a->ks);
    a->options.ks = a->ks;
    cli_progress progress;
    cli_progress_init(&progress, "choosing K", c->quiet);
    a->options.progress = cli_progress_update;
    a->options.progress_user = &progress;
    knn_status st = knn_choose_k(train, &a->options, p, &a->result);
    cli_progress_done(&progress);
    a->options.progress = NULL;
    if (st)
        return cli_library_error(st);
    knn_cv_best(a->result, &a->best_m, &a->best_k);
    if (!c->quiet)
        fprintf(stderr, "knn %s: -k auto: K = %d with %s, by %d-fold %s cross-validation on the "
                        "training set (mean accuracy %.2f%%)\n",
                cli_command, p->k, knn_metric_name(p->metric), a->options.folds,
                cli_fold_mode_name(a->options.mode),
                100 * knn_cv_mean(a->result, a->best_m, a->best_k));
    if (!keep)
        knn_cv_result_free(a->result);
    return 0;
}
