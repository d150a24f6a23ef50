/* options.c: the command line's shared words: the options every command takes (the common
 * ones, the classifier's, the folds of cross-validation, the test set's), usage errors in one
 * line with exit status 2, and the library's errors in one line with 1. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

const char *cli_command = "";

int cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "knn %s: ", cli_command);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "; see 'knn %s --help'\n", cli_command);
    va_end(ap);
    return EXIT_USAGE;
}

int cli_getopt_error(int opt, char **argv)
{
    const char *arg = argv[optind - 1];
    if (opt == ':')
        return cli_usage_error("%s needs a value", arg);
    if (optopt && strncmp(arg, "--", 2) != 0)
        return cli_usage_error("unknown option '-%c'", optopt);
    return cli_usage_error("unknown option '%s'", arg);
}

int cli_library_error(knn_status st)
{
    fprintf(stderr, "knn %s: %s\n", cli_command, knn_last_error());
    return st == KNN_ERR_ARG ? EXIT_USAGE : EXIT_ERROR;
}

bool cli_parse_long(const char *name, const char *arg, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (errno || end == arg || *end || v < min || v > max) {
        if (max == LONG_MAX)
            cli_usage_error("%s '%s': give a whole number of at least %ld", name, arg, min);
        else
            cli_usage_error("%s '%s': give a whole number from %ld to %ld", name, arg, min, max);
        return false;
    }
    *out = v;
    return true;
}

/* The classifier's options: -k, --metric, --weights, --ties. */
static int params_option(int opt, const char *arg, knn_params *p, bool *handled)
{
    long v = 0;
    knn_status st = KNN_OK;
    *handled = true;
    switch (opt) {
    case 'k':
        if (!cli_parse_long("-k", arg, 1, 1 << 20, &v))
            return EXIT_USAGE;
        p->k = (int)v;
        return 0;
    case OPT_METRIC: st = knn_metric_parse(arg, &p->metric); break;
    case OPT_WEIGHTS: st = knn_weights_parse(arg, &p->weights); break;
    case OPT_TIES: st = knn_ties_parse(arg, &p->ties); break;
    case OPT_EF:
        if (!cli_parse_long("--ef", arg, 1, 1 << 20, &v))
            return EXIT_USAGE;
        p->ef = (int)v;
        return 0;
    case OPT_EXACT: p->exact = 1; return 0;
    default: *handled = false; return 0;
    }
    return st ? cli_library_error(st) : 0;
}

/* "a" (every channel) or "a,b,c" (one each). */
static bool parse_channels(const char *name, const char *arg, float out[3])
{
    double v[3];
    int n = 0;
    const char *at = arg;
    char *end;
    for (;;) {
        errno = 0;
        double x = strtod(at, &end);
        if (errno || end == at || !isfinite(x) || fabs(x) > 1e30 || n == 3) {
            n = -1;
            break;
        }
        v[n++] = x;
        if (*end != ',') {
            n = *end ? -1 : n;
            break;
        }
        at = end + 1;
    }
    if (n != 1 && n != 3) {
        cli_usage_error("%s '%s': give one number, or three separated by commas", name, arg);
        return false;
    }
    for (int c = 0; c < 3; c++)
        out[c] = (float)v[n == 1 ? 0 : c];
    return true;
}

/* --features and its preprocessing. */
static int features_option(int opt, const char *arg, cli_common *c)
{
    if (!c->features_set) {
        c->features = knn_features_options_default();
        c->features_set = true;
    }
    knn_features_options *o = &c->features;
    long v;
    char *end;
    switch (opt) {
    case OPT_FEATURES: c->features_path = arg; return 0;
    case OPT_BGR: o->bgr = 1; return 0;
    case OPT_BATCH:
        if (!cli_parse_long("--batch", arg, 1, 4096, &v))
            return EXIT_USAGE;
        o->batch = (int)v;
        return 0;
    case OPT_SCALE: {
        errno = 0;
        double s = strtod(arg, &end);
        if (errno || end == arg || *end || !isfinite(s) || s == 0 || s > 1e30 || s < -1e30)
            return cli_usage_error("--scale '%s': give a non-zero number, e.g. 0.00392157", arg);
        o->scale = (float)s;
        return 0;
    }
    case OPT_MEAN: return parse_channels("--mean", arg, o->mean) ? 0 : EXIT_USAGE;
    default:
        if (!parse_channels("--std", arg, o->std))
            return EXIT_USAGE;
        if (o->std[0] == 0 || o->std[1] == 0 || o->std[2] == 0)
            return cli_usage_error("--std '%s': a standard deviation cannot be 0", arg);
        return 0;
    }
}

/* A document-frequency bound: a whole number of documents, or a fraction (with a point). */
static int df_option(const char *name, const char *arg, double *v, int *fraction)
{
    char *end;
    errno = 0;
    double x = strtod(arg, &end);
    const bool point = strpbrk(arg, ".eE") != NULL;
    if (errno || end == arg || *end || !isfinite(x) || x < 0 || (point && x > 1) ||
        (!point && x != floor(x)))
        return cli_usage_error("%s '%s': give a number of documents (2) or a fraction of them "
                               "from 0.0 to 1.0 (0.5)",
                               name, arg);
    *v = x;
    *fraction = point;
    return 0;
}

/* The text options: --ngrams, --min-df, --max-df, --max-features, --stop-words. */
static int text_option(int opt, const char *arg, cli_common *c)
{
    if (!c->text_set) {
        c->text = knn_text_options_default();
        c->text_set = true;
    }
    long v;
    switch (opt) {
    case OPT_NGRAMS: {
        int lo = 0, hi = 0;
        char tail;
        if ((sscanf(arg, "%d,%d%c", &lo, &hi, &tail) == 2 ||
             (sscanf(arg, "%d%c", &lo, &tail) == 1 && (hi = lo))) &&
            lo >= 1 && hi >= lo && hi <= 8) {
            c->text.ngram_min = lo;
            c->text.ngram_max = hi;
            return 0;
        }
        return cli_usage_error("--ngrams '%s': give MIN,MAX with 1 <= MIN <= MAX <= 8 (1,2)",
                               arg);
    }
    case OPT_MIN_DF: return df_option("--min-df", arg, &c->text.min_df, &c->text.min_df_fraction);
    case OPT_MAX_DF: return df_option("--max-df", arg, &c->text.max_df, &c->text.max_df_fraction);
    case OPT_MAX_FEATURES:
        if (!cli_parse_long("--max-features", arg, 1, LONG_MAX, &v))
            return EXIT_USAGE;
        c->text.max_features = (size_t)v;
        return 0;
    default:
        if (strcmp(arg, "english") && strcmp(arg, "none"))
            return cli_usage_error("--stop-words '%s': english or none", arg);
        c->text.stop_words = !strcmp(arg, "english");
        return 0;
    }
}

int cli_shared_option(int opt, char **argv, cli_common *c, knn_params *p)
{
    long v = 0;
    bool handled = false;
    if (p && opt == 'k' && !strcmp(optarg, "auto")) {
        c->k_auto = true;
        return 0;
    }
    if (p && opt == OPT_METRIC)
        c->metric_given = true;
    if (p && opt == 'k')
        c->k_given = true;
    if (p && opt == OPT_WEIGHTS)
        c->weights_given = true;
    if (p && opt == OPT_TIES)
        c->ties_given = true;
    if (p) {
        int code = params_option(opt, optarg, p, &handled);
        if (handled)
            return code;
    }
    switch (opt) {
    case OPT_THREADS:
        if (!cli_parse_long("--threads", optarg, 1, 4096, &v))
            return EXIT_USAGE;
        c->threads = (int)v;
        if (p)
            p->threads = c->threads;
        return 0;
    case OPT_LIMIT:
        if (!cli_parse_long("--limit", optarg, 1, LONG_MAX, &v))
            return EXIT_USAGE;
        c->limit = (size_t)v;
        return 0;
    case OPT_TRAIN_LIMIT:
        if (!cli_parse_long("--train-limit", optarg, 1, LONG_MAX, &v))
            return EXIT_USAGE;
        c->train_limit = (size_t)v;
        return 0;
    case OPT_COARSE: c->coarse = true; return 0;
    case OPT_SIZE: {
        int w = 0, h = 0;
        char tail;
        if (sscanf(optarg, "%dx%d%c", &w, &h, &tail) == 2 ||
            (sscanf(optarg, "%d%c", &w, &tail) == 1 && (h = w))) {
            if (w >= 1 && h >= 1 && w <= 4096 && h <= 4096) {
                c->width = w;
                c->height = h;
                c->size_given = true;
                return 0;
            }
        }
        return cli_usage_error("--size '%s': give N or WxH, sides from 1 to 4096", optarg);
    }
    case OPT_CROP:
        if (strcmp(optarg, "center") && strcmp(optarg, "none"))
            return cli_usage_error("--crop '%s': center or none", optarg);
        c->crop_none = !strcmp(optarg, "none");
        c->crop_given = true;
        return 0;
    case OPT_GRAY: c->channels = 1; c->channels_given = true; return 0;
    case OPT_RGB: c->channels = 3; c->channels_given = true; return 0;
    case OPT_CLASS_DEPTH:
        if (!cli_parse_long("--class-depth", optarg, 1, 32, &v))
            return EXIT_USAGE;
        c->class_depth = (int)v;
        return 0;
    case OPT_FOLDS: {
        char *end;
        errno = 0;
        v = strtol(optarg, &end, 10);
        if (errno || end == optarg || *end || v < 2 || v > INT_MAX)
            return cli_usage_error("--folds '%s': give a whole number from 2 to the number of "
                                   "training images (that many folds is leave-one-out)",
                                   optarg);
        c->folds = (int)v;
        return 0;
    }
    case OPT_CONTIGUOUS:
    case OPT_SHUFFLE:
    case OPT_STRATIFIED:
        c->fold_mode = opt == OPT_CONTIGUOUS ? KNN_FOLDS_CONTIGUOUS
                       : opt == OPT_SHUFFLE  ? KNN_FOLDS_SHUFFLED
                                             : KNN_FOLDS_STRATIFIED;
        c->fold_mode_given = true;
        return 0;
    case OPT_SEED:
        if (!cli_parse_long("--seed", optarg, 0, LONG_MAX, &v))
            return EXIT_USAGE;
        c->seed = (uint64_t)v;
        return 0;
    case OPT_LABELS: c->labels_file = optarg; return 0;
    case OPT_UNKNOWN:
        if (strcmp(optarg, "error") && strcmp(optarg, "wrong"))
            return cli_usage_error("--unknown-classes '%s': error or wrong", optarg);
        c->unknown_wrong = !strcmp(optarg, "wrong");
        return 0;
    case OPT_STRICT: c->strict = true; return 0;
    case OPT_QUANTIZE: c->quantize = true; return 0;
    case OPT_NGRAMS:
    case OPT_MIN_DF:
    case OPT_MAX_DF:
    case OPT_MAX_FEATURES:
    case OPT_STOP_WORDS: return text_option(opt, optarg, c);
    case OPT_FEATURES:
    case OPT_SCALE:
    case OPT_MEAN:
    case OPT_STD:
    case OPT_BGR:
    case OPT_BATCH: return features_option(opt, optarg, c);
    case OPT_ISA: {
        knn_status st = knn_set_isa(optarg);
        return st ? cli_library_error(st) : 0;
    }
    case 'q': c->quiet = true; return 0;
    case ':': return cli_getopt_error(':', argv);
    default: return cli_getopt_error('?', argv);
    }
}

knn_fold_mode cli_fold_mode(const cli_common *c)
{
    return c->fold_mode_given ? c->fold_mode : KNN_FOLDS_STRATIFIED;
}
