/* common.c: what the subcommands share (see cli.h). */
#define _XOPEN_SOURCE 700 /* realpath */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
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
    return c->metric_given ? cli_choose_k(train, p, &p->metric, 1, c)
                           : cli_choose_k(train, p, both, 2, c);
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
    /* the votes hold a row of all C classes per image: with many classes, the most memory */
    const bool no_memory = !st && (!ranking || !pred || !truth || (keep && !scores));
    if (no_memory) {
        fprintf(stderr, "knn %s: out of memory for the votes of %zu images over %d classes\n",
                cli_command, n, C);
        st = KNN_ERR_NOMEM;
    }
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
    return no_memory ? EXIT_ERROR : st ? cli_library_error(st) : 0;
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
    case OPT_ISA: {
        knn_status st = knn_set_isa(optarg);
        return st ? cli_library_error(st) : 0;
    }
    case 'q': c->quiet = true; return 0;
    case ':': return cli_getopt_error(':', argv);
    default: return cli_getopt_error('?', argv);
    }
}

/* cli_load, with a labels file for a flat folder (test and query sets only). */
static knn_status load_with_labels(const char *spec, const cli_common *c, size_t limit,
                                   bool labels_optional, const char *labels_file,
                                   knn_dataset **out)
{
    cli_progress progress;
    cli_progress_init(&progress, "loading images", c->quiet);
    knn_load_options o = {.limit = limit,
                          .coarse_labels = c->coarse,
                          .labels_optional = labels_optional,
                          .width = c->width,
                          .height = c->height,
                          .channels = c->channels,
                          .crop = !c->crop_none,
                          .class_depth = c->class_depth,
                          .labels_file = labels_file,
                          .strict = c->strict,
                          .progress = cli_progress_update,
                          .progress_user = &progress,
                          .private_copy = c->private_copy};
    knn_status st = knn_dataset_load(spec, &o, out);
    cli_progress_done(&progress);
    /* skipped images: one warning line each, then a count */
    size_t skipped = st ? 0 : knn_dataset_skipped(*out);
    for (size_t i = 0; i < skipped && i < 10; i++)
        fprintf(stderr, "knn %s: warning: skipped %s\n", cli_command,
                knn_dataset_skipped_reason(*out, i));
    if (skipped > 10)
        fprintf(stderr, "knn %s: warning: skipped %zu more (unreadable images, empty folders)\n",
                cli_command, skipped - 10);
    return st;
}

knn_status cli_load(const char *spec, const cli_common *c, size_t limit, bool labels_optional,
                    knn_dataset **out)
{
    return load_with_labels(spec, c, limit, labels_optional, NULL, out);
}

knn_fold_mode cli_fold_mode(const cli_common *c)
{
    return c->fold_mode_given ? c->fold_mode : KNN_FOLDS_STRATIFIED;
}

int cli_load_test(const char *spec, const cli_common *c, bool labels_optional,
                  const knn_dataset *train, knn_dataset **out)
{
    cli_common like = *c;
    knn_load_options o = {0};
    if (knn_load_options_like(train, &o)) { /* what the command line does not say */
        if (!c->size_given) {
            like.width = o.width;
            like.height = o.height;
        }
        if (!c->channels_given)
            like.channels = o.channels;
        if (!c->crop_given)
            like.crop_none = !o.crop;
    }
    knn_status st = load_with_labels(spec, &like, c->limit, labels_optional, c->labels_file, out);
    /* queries need no labels: folders of them that are not training classes (photos sorted
     * by date) are classified all the same, their true class unknown */
    if (!st)
        st = knn_dataset_match_classes(*out, train, c->unknown_wrong || labels_optional);
    if (st) {
        knn_dataset_free(*out);
        *out = NULL;
        return cli_library_error(st);
    }
    return 0;
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

/* ---- text from file systems: UTF-8 -------------------------------------------------- */

/* U+FFFD, which stands for every byte that is not part of valid UTF-8. */
static const char replacement[] = "\xEF\xBF\xBD";

/* The length (1 to 4) of the well-formed UTF-8 sequence at s, or 0 if s[0] starts none:
 * Unicode's table of well-formed byte sequences, which excludes overlong forms, surrogates
 * (U+D800..U+DFFF) and code points above U+10FFFF. s is NUL-terminated, and NUL is never a
 * continuation byte, so nothing past the end is read. */
static size_t utf8_sequence(const unsigned char *s)
{
    const unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; /* the range of the second byte */
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80; /* no overlong forms */
        hi = c == 0xED ? 0x9F : 0xBF; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        lo = c == 0xF0 ? 0x90 : 0x80; /* no overlong forms */
        hi = c == 0xF4 ? 0x8F : 0xBF; /* nothing above U+10FFFF */
    } else {
        return 0; /* a continuation byte, C0, C1 (always overlong) or F5..FF */
    }
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return n;
}

char *cli_utf8_copy(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    char *out = malloc(3 * strlen(s) + 1), *o = out; /* each byte becomes at most 3 */
    while (out && *p) {
        size_t n = utf8_sequence(p);
        memcpy(o, n ? (const char *)p : replacement, n ? n : 3);
        o += n ? n : 3;
        p += n ? n : 1;
    }
    if (out)
        *o = '\0';
    return out;
}

/* Writes s as valid UTF-8 (see cli_utf8_copy), passing each ASCII character to `ascii`,
 * which escapes it for the format. */
static void write_utf8(FILE *f, const char *s, void (*ascii)(FILE *, unsigned char))
{
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t n = utf8_sequence(p);
        if (n == 1)
            ascii(f, *p);
        else
            fwrite(n ? (const char *)p : replacement, 1, n ? n : 3, f);
        p += n ? n : 1;
    }
}

static void xml_ascii(FILE *f, unsigned char c)
{
    if (c == '<')
        fputs("&lt;", f);
    else if (c == '>')
        fputs("&gt;", f);
    else if (c == '&')
        fputs("&amp;", f);
    else if (c == '"')
        fputs("&quot;", f);
    else if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
        fputs(replacement, f); /* control characters are not allowed in XML (SVG) */
    else
        fputc(c, f);
}

void cli_xml_text(FILE *f, const char *s)
{
    write_utf8(f, s, xml_ascii);
}

static void json_ascii(FILE *f, unsigned char c)
{
    if (c == '"' || c == '\\')
        fprintf(f, "\\%c", c);
    else if (c < 0x20)
        fprintf(f, "\\u%04x", c);
    else
        fputc(c, f);
}

void cli_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    write_utf8(f, s, json_ascii);
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
    p->drawn = 0;
    p->enabled = !quiet && isatty(STDERR_FILENO);
    p->shown = false;
}

void cli_progress_update(size_t done, size_t total, void *progress)
{
    cli_progress *p = progress;
    const double now = cli_now(), elapsed = now - p->start;
    /* at most 10 redraws a second: cross-validation reports tens of thousands of steps, and
     * redrawing each cost a third of its time and megabytes of terminal output */
    if (!p->enabled || elapsed < 1.0 || total == 0 || (now - p->drawn < 0.1 && done < total))
        return;
    p->drawn = now;
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

/* ---- atomic output and signals --------------------------------------------------------- */

/* The temporary output file, for the signal handlers: tmp_path is complete whenever tmp_set
 * is 1 (set after it is written, cleared before it changes). */
static volatile sig_atomic_t tmp_set;
static char tmp_path[PATH_MAX];
static char bus_message[160];
static size_t bus_message_len;

static void track_tmp(const char *path)
{
    tmp_set = 0;
    atomic_signal_fence(memory_order_seq_cst);
    if (path) {
        memcpy(tmp_path, path, strlen(path) + 1);
        atomic_signal_fence(memory_order_seq_cst);
        tmp_set = 1;
    }
}

/* SIGINT, SIGTERM, SIGHUP (installed with SA_RESETHAND): remove the temporary file, then die
 * of the same signal, as the caller expects of a killed process. */
static void remove_tmp_and_die(int sig)
{
    if (tmp_set)
        unlink(tmp_path);
    raise(sig);
}

/* SIGBUS: the library maps model files, and one truncated while in use faults on access.
 * Only async-signal-safe calls here. */
static void remove_tmp_and_exit(int sig)
{
    (void)sig;
    if (tmp_set)
        unlink(tmp_path);
    ssize_t said = write(STDERR_FILENO, bus_message, bus_message_len);
    (void)said; /* if stderr fails too, nothing more can be done */
    _exit(EXIT_ERROR);
}

void cli_catch_sigbus(void)
{
    int n = snprintf(bus_message, sizeof bus_message,
                     "knn %s: a mapped file changed or was truncated while in use\n",
                     cli_command);
    bus_message_len = n > 0 && (size_t)n < sizeof bus_message ? (size_t)n : 0;
    struct sigaction sa = {0};
    sa.sa_handler = remove_tmp_and_exit;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, NULL);
}

/* Installed only when a temporary file is made, not at start (`knn serve` waits for SIGINT
 * and SIGTERM with sigwait), and not over an ignored signal: nohup and background jobs ignore
 * SIGHUP or SIGINT so that the command survives them. */
static void catch_termination(void)
{
    static const int signals[] = {SIGINT, SIGTERM, SIGHUP};
    struct sigaction sa = {0}, old;
    sa.sa_handler = remove_tmp_and_die;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof signals / sizeof *signals; i++)
        if (sigaction(signals[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
            sigaction(signals[i], &sa, NULL);
}

int cli_flush_error(FILE *f)
{
    if (fflush(f) != 0)
        return errno;
    /* an earlier write failed and stdio kept nothing to retry: its reason is lost */
    return ferror(f) ? EIO : 0;
}

/* Creates TARGET.tmp.XXXXXX (six random letters and digits) for writing, never an existing
 * file or link (O_EXCL), with mode 0666 less the umask as the kernel applies it, and hands
 * its name to the signal handlers. Returns the descriptor, or -1 with errno set. tmp holds
 * strlen(target) + 12 bytes. */
static int create_tmp(const char *target, char *tmp)
{
    static const char digits[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    for (int attempt = 0; attempt < 100; attempt++) {
        uint64_t r;
        if (getentropy(&r, sizeof r) != 0) /* no entropy yet: unique enough, as O_EXCL checks */
            r = (uint64_t)getpid() << 32 ^ (uint64_t)(cli_now() * 1e9) ^ (uint64_t)attempt;
        char *p = tmp + sprintf(tmp, "%s.tmp.", target);
        for (int i = 0; i < 6; i++, r /= sizeof digits - 1)
            *p++ = digits[r % (sizeof digits - 1)];
        *p = '\0';
        /* The handlers learn the name before the file exists, so that a signal just after
         * the open still removes it; one between a failed open and the line after it would
         * remove a file of this random name that was there before: no one's in practice. */
        track_tmp(tmp);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0)
            return fd;
        track_tmp(NULL);
        if (errno != EEXIST)
            return -1;
    }
    return -1; /* errno is EEXIST */
}

static bool output_error(cli_output *o, const char *what, const char *why)
{
    fprintf(stderr, "knn %s: %s: %s%s\n", cli_command, o->name, what, why);
    cli_output_abort(o);
    return false;
}

bool cli_output_is_stdout(const char *path)
{
    return !path || !strcmp(path, "-") || !strcmp(path, "/dev/stdout");
}

bool cli_output_open(cli_output *o, const char *path)
{
    memset(o, 0, sizeof *o);
    o->name = path;
    if (cli_output_is_stdout(path)) {
        o->f = stdout; /* itself: reopening /dev/stdout would start a file at its beginning */
        return true;
    }
    struct stat sb;
    const bool exists = stat(path, &sb) == 0; /* follows links */
    if (!exists && errno != ENOENT)
        return output_error(o, "cannot write: ", strerror(errno));
    if (!exists && lstat(path, &sb) == 0) { /* a link to nothing */
        char target[PATH_MAX];
        ssize_t n = readlink(path, target, sizeof target - 1);
        target[n > 0 ? n : 0] = '\0';
        return output_error(o, "cannot write: a link to a missing file: ", target);
    }
    if (exists && S_ISDIR(sb.st_mode))
        return output_error(o, "cannot write: ", strerror(EISDIR));
    if (exists && !S_ISREG(sb.st_mode)) { /* a device or FIFO (a socket fails to open) */
        int fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC);
        if (fd < 0 || !(o->f = fdopen(fd, "w"))) {
            if (fd >= 0)
                close(fd);
            return output_error(o, "cannot write: ", strerror(errno));
        }
        return true;
    }
    /* a regular file, or nothing yet: the link's final target, or path itself */
    o->path = exists ? realpath(path, NULL) : strdup(path);
    size_t n = o->path ? strlen(o->path) + 12 : 0;
    if (n > sizeof tmp_path)
        return output_error(o, "cannot write: ", "the path is too long");
    if (!o->path || !(o->tmp = malloc(n)))
        return output_error(o, "cannot write: ", strerror(errno));
    catch_termination();
    int fd = create_tmp(o->path, o->tmp);
    if (fd >= 0 && (o->f = fdopen(fd, "w")))
        return true;
    int err = errno;
    if (fd < 0) { /* nothing made: the name is not ours to remove */
        free(o->tmp);
        o->tmp = NULL;
    } else {
        close(fd); /* and cli_output_abort removes the file */
    }
    return output_error(o, "cannot write: ", strerror(err));
}

bool cli_output_commit(cli_output *o)
{
    if (o->f == stdout) { /* checked once for every command, in main() */
        memset(o, 0, sizeof *o);
        return true;
    }
    int err = cli_flush_error(o->f);
    if (!err && o->tmp && fsync(fileno(o->f)) != 0)
        err = errno;
    if (fclose(o->f) != 0 && !err)
        err = errno;
    o->f = NULL;
    if (!err && o->tmp && rename(o->tmp, o->path) != 0)
        err = errno;
    if (err)
        return output_error(o, "writing failed: ", strerror(err));
    track_tmp(NULL);
    free(o->tmp);
    free(o->path);
    memset(o, 0, sizeof *o);
    return true;
}

void cli_output_abort(cli_output *o)
{
    if (o->f && o->f != stdout)
        fclose(o->f);
    if (o->tmp)
        unlink(o->tmp);
    track_tmp(NULL);
    free(o->tmp);
    free(o->path);
    memset(o, 0, sizeof *o);
}
