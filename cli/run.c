/* run.c: what the commands do between parsing and printing: load the training and test
 * sets with the common options (a test set converted and classed as TRAIN is), settle K and
 * the metric (a model's own, or -k auto), and classify a test set into its metrics. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

int cli_settings(const knn_dataset *train, const cli_common *c, knn_params *p)
{
    if (!c->metric_given && knn_dataset_text(train)) /* text: cosine, the one it has */
        p->metric = KNN_COSINE;
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
    int n;
    const knn_metric *metrics = cli_auto_metrics(train, &n);
    return c->metric_given ? cli_choose_k(train, p, &p->metric, 1, c, NULL)
                           : cli_choose_k(train, p, metrics, n, c, NULL);
}

const knn_metric *cli_auto_metrics(const knn_dataset *train, int *n)
{
    static const knn_metric all[3] = {KNN_L1, KNN_L2, KNN_COSINE};
    const knn_dtype t = knn_dataset_dtype(train);
    *n = t == KNN_F32 ? 3 : t == KNN_SPARSE ? 1 : 2;
    return t == KNN_SPARSE ? all + 2 : all;
}

int cli_evaluate(const knn_dataset *train, const knn_dataset *test, knn_params *p, bool quiet,
                 knn_metrics *m, knn_predictions **keep)
{
    cli_progress progress;
    cli_progress_init(&progress, "searching", quiet);
    p->progress = cli_progress_update;
    p->progress_user = &progress;
    knn_predictions *pr = NULL;
    knn_status st = knn_classify(train, test, p, &pr);
    cli_progress_done(&progress);
    p->progress = NULL;
    if (!st)
        st = knn_predictions_metrics(pr, test, m);
    if (keep && !st)
        *keep = pr;
    else
        knn_predictions_free(pr);
    return st ? cli_library_error(st) : 0;
}

knn_status cli_features(const cli_common *c, const knn_features **out)
{
    static knn_features *opened; /* freed at exit by the operating system */
    *out = NULL;
    if (!c->features_path)
        return KNN_OK;
    knn_status st = opened ? KNN_OK : knn_features_open(c->features_path, &c->features, &opened);
    *out = opened;
    return st;
}

/* The load options of the command line, with a labels file for a flat folder (test and
 * query sets only), the network images are run through (or NULL) and whether to quantise
 * (a training set); progress to *progress. */
static knn_load_options load_options(const cli_common *c, size_t limit, bool labels_optional,
                                     const char *labels_file, const knn_features *features,
                                     bool quantize, const knn_text *text,
                                     cli_progress *progress)
{
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
                          .progress_user = progress,
                          .private_copy = c->private_copy,
                          .features = features,
                          .quantize = quantize,
                          .text = text,
                          .text_options = c->text_set ? &c->text : NULL};
    return o;
}

/* Skipped images: one warning line each, then a count. */
static void warn_skipped(const knn_dataset *ds)
{
    size_t skipped = knn_dataset_skipped(ds);
    for (size_t i = 0; i < skipped && i < 10; i++)
        fprintf(stderr, "knn %s: warning: skipped %s\n", cli_command,
                knn_dataset_skipped_reason(ds, i));
    if (skipped > 10)
        fprintf(stderr, "knn %s: warning: skipped %zu more (unreadable images, empty folders)\n",
                cli_command, skipped - 10);
}

/* cli_load, with load_options' extras. */
static knn_status load_with_labels(const char *spec, const cli_common *c, size_t limit,
                                   bool labels_optional, const char *labels_file,
                                   const knn_features *features, bool quantize,
                                   const knn_text *text, const knn_shard *shard,
                                   knn_dataset **out)
{
    cli_progress progress;
    cli_progress_init(&progress, "loading images", c->quiet);
    knn_load_options o = load_options(c, limit, labels_optional, labels_file, features, quantize,
                                      text, &progress);
    o.shard = shard;
    knn_status st = knn_dataset_load(spec, &o, out);
    cli_progress_done(&progress);
    if (!st)
        warn_skipped(*out);
    return st;
}

bool cli_streams(const char *spec, const cli_common *c)
{
    knn_load_options o = load_options(c, c->train_limit, false, NULL, NULL, c->quantize, NULL,
                                      NULL);
    return !c->features_path && knn_model_streams(spec, &o);
}

knn_status cli_fit_streamed(const char *spec, const cli_common *c, const knn_params *p, FILE *f,
                            knn_dataset **out)
{
    cli_progress progress;
    cli_progress_init(&progress, "loading images", c->quiet);
    knn_load_options o = load_options(c, c->train_limit, false, NULL, NULL, c->quantize, NULL,
                                      &progress);
    knn_status st = knn_model_write_folder(spec, &o, p, f, out);
    cli_progress_done(&progress);
    if (!st)
        warn_skipped(*out);
    return st;
}

const knn_shard *cli_shard;
bool cli_discard_output;

knn_status cli_load(const char *spec, const cli_common *c, size_t limit, bool labels_optional,
                    knn_dataset **out)
{
    const knn_features *features;
    knn_status st = cli_features(c, &features);
    return st ? st
              : load_with_labels(spec, c, limit, labels_optional, NULL, features, c->quantize,
                                 NULL, cli_shard, out);
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
    /* test and query sets are embedded as TRAIN was (its network, e.g. a model file's) */
    knn_status st = load_with_labels(spec, &like, c->limit, labels_optional, c->labels_file,
                                     knn_dataset_features(train), false, knn_dataset_text(train),
                                     NULL, out);
    if (!st && !knn_dataset_text(train) && knn_dataset_text(*out)) {
        fprintf(stderr, "knn %s: %s holds text, not %s like %s\n", cli_command, spec,
                knn_dataset_features(train) ? "features" : "images", "the training set");
        knn_dataset_free(*out);
        *out = NULL;
        return EXIT_ERROR;
    }
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

const char *cli_rows_name(const knn_dataset *ds)
{
    return knn_dataset_text(ds) ? "documents" : "images";
}

/* Room for one more string in a growing array (*cap doubled); false when out of memory. */
static bool grow_strings(char ***items, size_t n, size_t *cap)
{
    if (n < *cap)
        return true;
    size_t c = *cap ? 2 * *cap : 16;
    char **grown = realloc(*items, c * sizeof *grown);
    if (!grown)
        return false;
    *items = grown;
    *cap = c;
    return true;
}

int cli_load_texts(char **args, int nargs, const knn_dataset *train, size_t limit,
                   knn_dataset **out)
{
    char **docs = NULL, *line = NULL; /* copies, of the arguments too */
    size_t n = 0, cap = 0, len = 0, lines = 0, bad = 0;
    bool from_stdin = false, nomem = false, nul = false, zero = false;
    for (int a = 0; a < nargs && !nomem && !nul; a++) {
        const bool read = !strcmp(args[a], "-");
        from_stdin |= read;
        ssize_t got = 0;
        while (!nomem && (read ? (got = getline(&line, &len, stdin)) >= 0 : got++ == 0)) {
            if (read) {
                lines++;
                while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
                    line[--got] = '\0';
                if (got == 0)
                    continue;
                if ((nul = (bad = cli_utf8_check(line, (size_t)got)) < (size_t)got)) {
                    zero = line[bad] == '\0';
                    break; /* a NUL or invalid UTF-8: named by its line */
                }
            }
            char *doc = strdup(read ? line : args[a]);
            if (!doc || !grow_strings(&docs, n, &cap)) {
                free(doc);
                nomem = true;
                break;
            }
            docs[n++] = doc;
        }
    }
    free(line);
    knn_status st = KNN_OK;
    int code = EXIT_ERROR;
    if (nomem)
        fprintf(stderr, "knn %s: out of memory\n", cli_command);
    else if (nul)
        fprintf(stderr, "knn %s: standard input: line %zu: %s at byte %zu\n", cli_command, lines,
                zero ? "a NUL byte" : "invalid UTF-8", bad + 1);
    else if (n == 0)
        fprintf(stderr, "knn %s: no text to classify\n", cli_command);
    else if ((st = knn_text_dataset_create((const char *const *)docs,
                                           limit && limit < n ? limit : n, NULL, 0, NULL, train,
                                           from_stdin ? "standard input" : "the query", out)))
        code = cli_library_error(st);
    else
        code = 0;
    for (size_t i = 0; i < n; i++)
        free(docs[i]);
    free(docs);
    return code;
}

void cli_describe(FILE *f, const char *role, const char *spec, const knn_dataset *ds)
{
    const knn_features *net = knn_dataset_features(ds);
    if (knn_dataset_text(ds))
        fprintf(f, "%-6s %s: %zu documents, tf-idf over %zu terms", role, spec,
                knn_dataset_count(ds), knn_dataset_dim(ds));
    else if (net)
        fprintf(f, "%-6s %s: %zu images as %zu features of %s", role, spec,
                knn_dataset_count(ds), knn_dataset_dim(ds), knn_features_name(net));
    else
        fprintf(f, "%-6s %s: %zu images of %dx%d", role, spec, knn_dataset_count(ds),
                knn_dataset_height(ds), knn_dataset_width(ds));
    if (!net && !knn_dataset_text(ds) && knn_dataset_channels(ds) > 1)
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

const char *cli_search_name(const knn_dataset *train, const knn_params *p, char *buf,
                            size_t size)
{
    knn_index_info info;
    const int ef = p->ef ? p->ef : KNN_DEFAULT_EF;
    if (!knn_dataset_index_info(train, &info))
        snprintf(buf, size, "exact search");
    else if (p->exact)
        snprintf(buf, size, "exact search (--exact)");
    else if (info.metric != p->metric)
        snprintf(buf, size, "exact search (the index is for %s)", knn_metric_name(info.metric));
    else
        snprintf(buf, size, "HNSW index, ef = %d", ef > p->k ? ef : p->k);
    return buf;
}
