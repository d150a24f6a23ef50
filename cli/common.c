/* common.c: what the subcommands share (see cli.h). */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

static int by_string(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
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

int cli_settings(const knn_dataset *train, const cli_common *c, knn_params *p)
{
    knn_params model = *p;
    if (knn_model_params(train, &model)) { /* the model's settings, unless overridden */
        if (!c->k_given && !c->k_auto)
            p->k = model.k;
        if (!c->metric_given)
            p->metric = model.metric;
        if (!c->weights_given)
            p->weights = model.weights;
        if (!c->ties_given)
            p->ties = model.ties;
    }
    if (!c->k_auto)
        return 0;
    static const knn_metric both[2] = {KNN_L1, KNN_L2};
    return c->metric_given ? cli_choose_k(train, p, &p->metric, 1, c->quiet)
                           : cli_choose_k(train, p, both, 2, c->quiet);
}

int cli_evaluate(const knn_dataset *train, const knn_dataset *test, const char *test_spec,
                 knn_params *p, bool quiet, knn_metrics *m, cli_evaluation *keep)
{
    const size_t n = knn_dataset_count(test);
    const int C = knn_dataset_num_classes(train);
    for (size_t i = 0; i < n; i++)
        if (knn_dataset_label(test, i) >= C) {
            fprintf(stderr,
                    "knn %s: %s: label %d of image %zu is not a class of the training set "
                    "(0..%d)\n",
                    cli_command, test_spec, (int)knn_dataset_label(test, i), i, C - 1);
            return EXIT_ERROR;
        }
    cli_progress progress;
    cli_progress_init(&progress, "searching", quiet);
    p->progress = cli_progress_update;
    p->progress_user = &progress;
    knn_neighbors *nb = NULL;
    knn_status st = knn_search(train, test, p, &nb);
    cli_progress_done(&progress);
    p->progress = NULL;
    int32_t *ranking = malloc((n ? n : 1) * (size_t)C * sizeof *ranking);
    int32_t *pred = malloc((n ? n : 1) * sizeof *pred);
    int32_t *truth = malloc((n ? n : 1) * sizeof *truth);
    float *scores = keep ? malloc((n ? n : 1) * (size_t)C * sizeof *scores) : NULL;
    if (!st && (!ranking || !pred || !truth || (keep && !scores)))
        st = KNN_ERR_NOMEM;
    for (size_t i = 0; !st && i < n; i++)
        truth[i] = knn_dataset_label(test, i);
    if (!st)
        st = knn_vote(train, nb, p, pred, scores, ranking);
    if (!st)
        st = knn_metrics_compute(truth, ranking, n, C, m);
    free(truth);
    if (keep && !st) {
        *keep = (cli_evaluation){nb, pred, ranking, scores};
        return 0;
    }
    free(ranking);
    free(pred);
    free(scores);
    knn_neighbors_free(nb);
    return st ? cli_library_error(st) : 0;
}

void cli_evaluation_free(cli_evaluation *e)
{
    knn_neighbors_free(e->nb);
    free(e->pred);
    free(e->ranking);
    free(e->scores);
    memset(e, 0, sizeof *e);
}

bool cli_is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* Visits the non-hidden entries of dir; want_dirs: folders, else regular files. */
static size_t list_entries(const char *dir, bool want_dirs, char ***out)
{
    DIR *d = opendir(dir);
    char **names = NULL;
    size_t n = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        char *path = malloc(len);
        if (!path)
            break;
        snprintf(path, len, "%s/%s", dir, e->d_name);
        struct stat sb;
        bool keep = stat(path, &sb) == 0 && (want_dirs ? S_ISDIR(sb.st_mode) : S_ISREG(sb.st_mode));
        char **grown = keep ? realloc(names, (n + 1) * sizeof *names) : NULL;
        if (!grown) {
            free(path);
            if (keep)
                break;
            continue;
        }
        names = grown;
        names[n++] = path;
    }
    if (d)
        closedir(d);
    if (n)
        qsort(names, n, sizeof *names, by_string);
    *out = names;
    return n;
}

size_t cli_list_files(const char *dir, char ***out)
{
    return list_entries(dir, false, out);
}

bool cli_has_subdirs(const char *dir)
{
    char **names = NULL;
    size_t n = list_entries(dir, true, &names);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return n > 0;
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
    default: *handled = false; return 0;
    }
    return st ? cli_library_error(st) : 0;
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
                return 0;
            }
        }
        return cli_usage_error("--size '%s': give N or WxH, sides from 1 to 4096", optarg);
    }
    case OPT_CROP:
        if (strcmp(optarg, "center") && strcmp(optarg, "none"))
            return cli_usage_error("--crop '%s': center or none", optarg);
        c->crop_none = !strcmp(optarg, "none");
        return 0;
    case OPT_GRAY: c->channels = 1; return 0;
    case OPT_RGB: c->channels = 3; return 0;
    case OPT_CLASS_DEPTH:
        if (!cli_parse_long("--class-depth", optarg, 1, 2, &v))
            return EXIT_USAGE;
        c->class_depth = (int)v;
        return 0;
    case OPT_STRICT: c->strict = true; return 0;
    case OPT_ISA: {
        knn_status st = knn_set_isa(optarg);
        return st ? cli_library_error(st) : 0;
    }
    case 'q': c->quiet = true; return 0;
    case ':': return cli_getopt_error(':', argv);
    default: return cli_getopt_error('?', argv);
    }
}

knn_status cli_load(const char *spec, const cli_common *c, size_t limit, bool labels_optional,
                    knn_dataset **out)
{
    cli_progress progress;
    cli_progress_init(&progress, "loading images", c->quiet);
    knn_load_options o = {limit, c->coarse, labels_optional, c->width, c->height, c->channels,
                          !c->crop_none, c->class_depth, c->strict, cli_progress_update,
                          &progress, 0};
    knn_status st = knn_dataset_load(spec, &o, out);
    cli_progress_done(&progress);
    /* skipped images: one warning line each, then a count */
    size_t skipped = st ? 0 : knn_dataset_skipped(*out);
    for (size_t i = 0; i < skipped && i < 10; i++)
        fprintf(stderr, "knn %s: warning: skipped %s\n", cli_command,
                knn_dataset_skipped_reason(*out, i));
    if (skipped > 10)
        fprintf(stderr, "knn %s: warning: skipped %zu more unreadable images\n", cli_command,
                skipped - 10);
    return st;
}

void cli_describe(FILE *f, const char *role, const char *spec, const knn_dataset *ds)
{
    fprintf(f, "%-6s %s: %zu images of %dx%d", role, spec, knn_dataset_count(ds),
            knn_dataset_height(ds), knn_dataset_width(ds));
    if (knn_dataset_channels(ds) > 1)
        fprintf(f, "x%d", knn_dataset_channels(ds));
    if (knn_dataset_has_labels(ds))
        fprintf(f, ", %d classes", knn_dataset_num_classes(ds));
    else
        fprintf(f, ", unlabelled");
    fputc('\n', f);
}

const char *cli_class_name(const knn_dataset *ds, int label, char *buf)
{
    const char *name = knn_dataset_class_name(ds, label);
    if (name)
        return name;
    snprintf(buf, 16, "%d", label);
    return buf;
}

void cli_xml_text(FILE *f, const char *s)
{
    for (; *s; s++)
        if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else if (*s == '&')
            fputs("&amp;", f);
        else if (*s == '"')
            fputs("&quot;", f);
        else
            fputc(*s, f);
}

void cli_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* ---- progress ------------------------------------------------------------------------- */

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void cli_progress_init(cli_progress *p, const char *what, bool quiet)
{
    p->what = what;
    p->start = cli_now();
    p->enabled = !quiet && isatty(STDERR_FILENO);
    p->shown = false;
}

void cli_progress_update(size_t done, size_t total, void *progress)
{
    cli_progress *p = progress;
    double elapsed = cli_now() - p->start;
    if (!p->enabled || elapsed < 1.0 || total == 0)
        return;
    double frac = (double)done / (double)total;
    int width = 30, filled = (int)(frac * width);
    char bar[32];
    for (int i = 0; i < width; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[width] = '\0';
    double eta = frac > 0 ? elapsed * (1 - frac) / frac : 0;
    fprintf(stderr, "\r%s [%s] %3.0f%% %zu/%zu, %.1f s, about %.0f s left ", p->what, bar,
            100 * frac, done, total, elapsed, eta);
    p->shown = true;
}

void cli_progress_done(cli_progress *p)
{
    if (p->shown)
        fprintf(stderr, "\r%*s\r", 78, "");
    p->shown = false;
}

/* ---- atomic output -------------------------------------------------------------------- */

static volatile sig_atomic_t interrupted_tmp_set;
static char interrupted_tmp[PATH_MAX];

static void remove_tmp_and_exit(int sig)
{
    if (interrupted_tmp_set)
        unlink(interrupted_tmp);
    signal(sig, SIG_DFL);
    raise(sig);
}

bool cli_output_open(cli_output *o, const char *path)
{
    memset(o, 0, sizeof *o);
    if (!path || !strcmp(path, "-")) {
        o->f = stdout;
        return true;
    }
    size_t n = strlen(path);
    o->path = strdup(path);
    o->tmp = malloc(n + 16);
    if (!o->path || !o->tmp || n + 16 > sizeof interrupted_tmp) {
        fprintf(stderr, "knn %s: %s: path too long or out of memory\n", cli_command, path);
        cli_output_abort(o);
        return false;
    }
    snprintf(o->tmp, n + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(o->tmp);
    /* mkstemp makes the file private (0600); the output gets the usual 0666 less the umask */
    mode_t mask = umask(0);
    umask(mask);
    if (fd >= 0 && fchmod(fd, 0666 & ~mask) != 0) {
        close(fd);
        unlink(o->tmp);
        fd = -1;
    }
    if (fd < 0 || !(o->f = fdopen(fd, "w"))) {
        fprintf(stderr, "knn %s: %s: cannot write: %s\n", cli_command, path, strerror(errno));
        if (fd >= 0)
            close(fd);
        free(o->tmp);
        o->tmp = NULL;
        cli_output_abort(o);
        return false;
    }
    memcpy(interrupted_tmp, o->tmp, strlen(o->tmp) + 1);
    interrupted_tmp_set = 1;
    signal(SIGINT, remove_tmp_and_exit);
    signal(SIGTERM, remove_tmp_and_exit);
    return true;
}

bool cli_output_commit(cli_output *o)
{
    if (o->f == stdout) {
        if (fflush(stdout) != 0 || ferror(stdout)) {
            fprintf(stderr, "knn %s: writing the output failed: %s\n", cli_command,
                    strerror(errno));
            return false;
        }
        return true;
    }
    bool ok = !ferror(o->f) && fflush(o->f) == 0 && fsync(fileno(o->f)) == 0;
    int err = errno;
    ok = fclose(o->f) == 0 && ok;
    o->f = NULL;
    if (ok && rename(o->tmp, o->path) != 0) {
        ok = false;
        err = errno;
    }
    if (!ok) {
        fprintf(stderr, "knn %s: %s: writing failed: %s\n", cli_command, o->path,
                strerror(err));
        cli_output_abort(o);
        return false;
    }
    interrupted_tmp_set = 0;
    free(o->tmp);
    free(o->path);
    o->tmp = o->path = NULL;
    return true;
}

void cli_output_abort(cli_output *o)
{
    if (o->f && o->f != stdout)
        fclose(o->f);
    if (o->tmp)
        unlink(o->tmp);
    interrupted_tmp_set = 0;
    free(o->tmp);
    free(o->path);
    memset(o, 0, sizeof *o);
}
