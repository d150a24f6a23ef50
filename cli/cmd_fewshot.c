/* cmd_fewshot.c: `knn fewshot DATASET`: N-way K-shot episodes, the protocol Omniglot was made
 * for. Each episode is a small classification problem (a few classes, a few labelled images
 * of each); nearest neighbour among the support images is the baseline few-shot papers start
 * from, and the mean accuracy over many episodes with its 95% confidence interval is the
 * number they report. Prints that line, the spread over the episodes and the time, or one
 * JSON object with every episode's accuracy. */
#include "cli.h"

#include <getopt.h>
#include <limits.h>
#include <string.h>

/* This command's own option codes, far above the shared ones of cli.h. */
enum { OPT_WAY = 1000, OPT_SHOT, OPT_QUERY, OPT_EPISODES };

static const char help[] =
    "usage: knn fewshot DATASET [OPTIONS]\n"
    "\n"
    "N-way K-shot episodes, as few-shot learning is measured (Omniglot): each episode draws\n"
    "N classes among those with at least K + Q images, then K support and Q query images of\n"
    "each, and classifies the queries by their nearest support images. Prints the mean\n"
    "accuracy over the episodes with its 95% confidence interval (1.96 x std / sqrt(E)).\n"
    "Episodes come from the seed alone: the same for any number of threads.\n"
    "\n"
    "  --way N            classes per episode (default 5)\n"
    "  --shot K           support images per class (default 1)\n"
    "  --query Q          query images per class (default 15)\n"
    "  --episodes E       episodes to run (default 1000)\n"
    "  --seed S           the episodes' seed (default 0)\n"
    "  -k K               support images that vote (default 1: nearest neighbour)\n"
    "  --metric l1|l2|cosine  distance (default l2; cosine: float32 features only)\n"
    "  --weights uniform|distance, --ties nearest|smallest-label   as in 'knn eval --help'\n"
    "  --json             print one JSON object, with every episode's accuracy, instead of\n"
    "                     text\n" CLI_COMMON_HELP
    "\n"
    "Omniglot, as the papers use it (105 x 105 images at 28 x 28; a class is a character):\n"
    "  knn fewshot omniglot/images_evaluation --size 28 --gray --way 20 --shot 1\n"
    "(its 659 evaluation characters; the root, omniglot, holds all 1623).\n"
    "\n"
    "example: knn fewshot fashion-mnist:test --way 5 --shot 5 --episodes 1000\n";

typedef struct {
    const char *spec;
    knn_fewshot_options o;
    bool json;
    double seconds;
} fewshot_run;

/* The lowest and highest accuracy of any episode. */
static void spread(const knn_fewshot_result *r, double *lo, double *hi)
{
    *lo = 1, *hi = 0;
    for (int e = 0; e < knn_fewshot_episodes(r); e++) {
        const double a = knn_fewshot_accuracy(r, e);
        *lo = a < *lo ? a : *lo;
        *hi = a > *hi ? a : *hi;
    }
}

static void print_text(const fewshot_run *run, const knn_dataset *ds,
                       const knn_fewshot_result *r, bool quiet)
{
    const knn_fewshot_options *o = &run->o;
    printf("%d-way %d-shot, %d quer%s per class, %d episode%s on %s (%d classes", o->way,
           o->shot, o->query, o->query == 1 ? "y" : "ies", o->episodes,
           o->episodes == 1 ? "" : "s", run->spec, knn_dataset_num_classes(ds));
    if (knn_fewshot_classes(r) < knn_dataset_num_classes(ds))
        printf(", %d with %d images or more", knn_fewshot_classes(r), o->shot + o->query);
    printf(", %zu images, %dx%dx%d): accuracy %.2f%% +- %.2f (95%% confidence)\n",
           knn_dataset_count(ds), knn_dataset_height(ds), knn_dataset_width(ds),
           knn_dataset_channels(ds), 100 * knn_fewshot_mean(r), 100 * knn_fewshot_ci95(r));
    if (quiet)
        return;
    double lo, hi;
    spread(r, &lo, &hi);
    printf("episodes: min %.2f%%, max %.2f%%, std %.2f; k = %d, %s, seed %llu: %.2f s "
           "(%s kernels)\n",
           100 * lo, 100 * hi, 100 * knn_fewshot_std(r), o->k, knn_metric_name(o->metric),
           (unsigned long long)o->seed, run->seconds, knn_isa());
}

static void print_json(const fewshot_run *run, const knn_dataset *ds,
                       const knn_fewshot_result *r)
{
    const knn_fewshot_options *o = &run->o;
    double lo, hi;
    spread(r, &lo, &hi);
    printf("{\"data\": ");
    cli_json_string(stdout, run->spec);
    printf(", \"images\": %zu, \"height\": %d, \"width\": %d, \"channels\": %d, "
           "\"classes\": %d, \"eligible_classes\": %d,\n",
           knn_dataset_count(ds), knn_dataset_height(ds), knn_dataset_width(ds),
           knn_dataset_channels(ds), knn_dataset_num_classes(ds), knn_fewshot_classes(r));
    printf(" \"way\": %d, \"shot\": %d, \"query\": %d, \"episodes\": %d, \"seed\": %llu, "
           "\"k\": %d, \"metric\": \"%s\", \"weights\": \"%s\", \"ties\": \"%s\",\n",
           o->way, o->shot, o->query, o->episodes, (unsigned long long)o->seed, o->k,
           knn_metric_name(o->metric), knn_weights_name(o->weights), knn_ties_name(o->ties));
    printf(" \"mean\": %.6f, \"std\": %.6f, \"ci95\": %.6f, \"min\": %.6f, \"max\": %.6f, "
           "\"seconds\": %.3f,\n \"queries_per_episode\": %d,\n \"correct\": [",
           knn_fewshot_mean(r), knn_fewshot_std(r), knn_fewshot_ci95(r), lo, hi,
           run->seconds, o->way * o->query);
    for (int e = 0; e < o->episodes && !ferror(stdout); e++)
        printf("%s%zu", e ? ", " : "", knn_fewshot_correct(r, e));
    printf("],\n \"accuracy\": [");
    for (int e = 0; e < o->episodes && !ferror(stdout); e++)
        printf("%s%.6f", e ? ", " : "", knn_fewshot_accuracy(r, e));
    printf("]}\n");
}

/* This command's own options; false after printing the error. */
static bool episode_option(int opt, knn_fewshot_options *o)
{
    long v;
    switch (opt) {
    case OPT_WAY:
        if (!cli_parse_long("--way", optarg, 2, KNN_MAX_CLASSES, &v))
            return false;
        o->way = (int)v;
        return true;
    case OPT_SHOT:
    case OPT_QUERY:
        if (!cli_parse_long(opt == OPT_SHOT ? "--shot" : "--query", optarg, 1, 1 << 24, &v))
            return false;
        *(opt == OPT_SHOT ? &o->shot : &o->query) = (int)v;
        return true;
    case OPT_EPISODES:
        if (!cli_parse_long("--episodes", optarg, 1, 1 << 24, &v))
            return false;
        o->episodes = (int)v;
        return true;
    default: /* OPT_SEED */
        if (!cli_parse_long("--seed", optarg, 0, LONG_MAX, &v))
            return false;
        o->seed = (uint64_t)v;
        return true;
    }
}

static int run_episodes(fewshot_run *run, const cli_common *c)
{
    knn_dataset *ds = NULL;
    knn_fewshot_result *r = NULL;
    knn_status st = cli_load(run->spec, c, c->limit, false, &ds);
    if (st)
        return cli_library_error(st);
    cli_progress progress;
    cli_progress_init(&progress, "episodes", c->quiet);
    run->o.progress = cli_progress_update;
    run->o.progress_user = &progress;
    const double t0 = cli_now();
    st = knn_fewshot(ds, &run->o, &r);
    run->seconds = cli_now() - t0;
    cli_progress_done(&progress);
    if (!st) {
        if (run->json)
            print_json(run, ds, r);
        else
            print_text(run, ds, r, c->quiet);
    }
    knn_fewshot_result_free(r);
    knn_dataset_free(ds);
    return st ? cli_library_error(st) : 0;
}

int cmd_fewshot(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"way", required_argument, NULL, OPT_WAY},
        {"shot", required_argument, NULL, OPT_SHOT},
        {"query", required_argument, NULL, OPT_QUERY},
        {"episodes", required_argument, NULL, OPT_EPISODES},
        {"seed", required_argument, NULL, OPT_SEED},
        {"metric", required_argument, NULL, OPT_METRIC},
        {"weights", required_argument, NULL, OPT_WEIGHTS},
        {"ties", required_argument, NULL, OPT_TIES},
        {"json", no_argument, NULL, OPT_JSON},
        CLI_COMMON_LONG_OPTIONS,
        {NULL, 0, NULL, 0}};
    fewshot_run run = {.o = knn_fewshot_options_default()};
    knn_params p = knn_params_default();
    cli_common common = {0};
    int opt, code;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":k:qh", longopts, NULL)) != -1) {
        switch (opt) {
        case OPT_WAY:
        case OPT_SHOT:
        case OPT_QUERY:
        case OPT_EPISODES:
        case OPT_SEED:
            if (!episode_option(opt, &run.o))
                return EXIT_USAGE;
            break;
        case OPT_JSON: run.json = true; break;
        case 'h': fputs(help, stdout); return 0;
        default:
            if ((code = cli_shared_option(opt, argv, &common, &p)))
                return code;
        }
    }
    if (common.k_auto)
        return cli_usage_error("-k auto: an episode has too few support images to "
                               "cross-validate; give a number");
    if (argc - optind != 1)
        return cli_usage_error("give one DATASET (%d given)", argc - optind);
    run.spec = argv[optind];
    run.o.k = p.k;
    run.o.metric = p.metric;
    run.o.weights = p.weights;
    run.o.ties = p.ties;
    run.o.threads = common.threads;
    return run_episodes(&run, &common);
}
