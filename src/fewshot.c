/* fewshot.c: N-way K-shot episodes, the way few-shot learning is measured (Omniglot was made
 * for it): many small classification problems, each with a handful of labelled support images
 * per class, instead of one problem with a large training set. Nearest neighbour on pixels is
 * the baseline such papers start from; this runs it with the library's own search and vote.
 *
 * Determinism: every random choice of episode e comes from its own SplitMix64 stream, seeded
 * from (seed, e) (random.h), and is drawn in a fixed order: the classes first, then, class by
 * class in the order drawn, its support images followed by its query images. Episodes share
 * nothing else, so threads can take them in any order and the per-episode results, and
 * everything computed from them in episode order, are the same for every thread count.
 *
 * Each episode copies its few rows into two small data sets (support and queries, rows padded
 * like any data set), so that knn_search and knn_vote run unchanged on them, one thread each:
 * the parallelism is across episodes, which are many and equal in work. */
#include "internal.h"
#include "parallel.h"
#include "random.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct knn_fewshot_result {
    int episodes, classes;
    size_t per_episode; /* queries in an episode: way x query           */
    size_t *correct;    /* (episodes) queries classified right          */
    double mean, std;
};

/* The rows of each class, and the classes that can fill an episode. */
typedef struct {
    size_t *start;     /* (C + 1) class c's rows are rows[start[c] .. start[c + 1]) */
    size_t *rows;      /* (n) row indices grouped by class, increasing within a class */
    size_t *eligible;  /* (neligible) classes with at least shot + query rows, increasing */
    int neligible;
    size_t largest;    /* rows in the largest class */
} class_index;

/* What every episode reads. */
typedef struct {
    const knn_dataset *ds;
    const knn_fewshot_options *o;
    const class_index *ci;
} fewshot_job;

/* What one thread draws into, reused from episode to episode. */
typedef struct {
    size_t *classes;  /* (neligible) a partly shuffled copy of ci->eligible; the first `way`
                         are the episode's classes */
    size_t *rows;     /* (largest) a partly shuffled copy of one class's rows              */
    int32_t *pred;    /* (way x query) the vote's labels                                  */
} scratch;

/* The failure of the lowest-numbered failing episode, kept with its message: messages are
 * per thread, and the caller reads the calling thread's. */
typedef struct {
    knn__lock lock;
    int flag;          /* raised by any failure: the other threads stop taking episodes */
    int episode;
    knn_status status;
    char message[1024];
} failure;

knn_fewshot_options knn_fewshot_options_default(void)
{
    return (knn_fewshot_options){.way = 5, .shot = 1, .query = 15, .episodes = 1000,
                                 .seed = 0, .k = 1, .metric = KNN_L2,
                                 .weights = KNN_WEIGHTS_UNIFORM, .ties = KNN_TIES_NEAREST,
                                 .threads = 0, .progress = NULL, .progress_user = NULL};
}

/* ---- checks ----------------------------------------------------------------------------- */

/* The settings that do not depend on the data's classes. */
static knn_status check_options(const knn_dataset *ds, const knn_fewshot_options *o)
{
    if (!ds->labels)
        return knn__fail(KNN_ERR_ARG, "%s has no labels: episodes are drawn from its classes",
                         ds->source);
    if (o->way < 2)
        return knn__fail(KNN_ERR_ARG, "way = %d: an episode needs at least 2 classes", o->way);
    if (o->shot < 1)
        return knn__fail(KNN_ERR_ARG, "shot = %d: an episode needs at least 1 support image "
                                      "per class",
                         o->shot);
    if (o->query < 1)
        return knn__fail(KNN_ERR_ARG, "query = %d: an episode needs at least 1 query image "
                                      "per class",
                         o->query);
    if (o->episodes < 1)
        return knn__fail(KNN_ERR_ARG, "%d episodes: give at least 1", o->episodes);
    if (o->k < 1)
        return knn__fail(KNN_ERR_ARG, "K = %d: K must be at least 1", o->k);
    if ((size_t)o->k > (size_t)o->way * (size_t)o->shot)
        return knn__fail(KNN_ERR_ARG,
                         "K = %d is more than the %zu support images of a %d-way %d-shot "
                         "episode",
                         o->k, (size_t)o->way * (size_t)o->shot, o->way, o->shot);
    knn_status mst = knn__metric_check(o->metric, ds); /* cosine: float32 only */
    if (mst)
        return mst;
    if (o->weights != KNN_WEIGHTS_UNIFORM && o->weights != KNN_WEIGHTS_DISTANCE)
        return knn__fail(KNN_ERR_ARG, "unknown weights %d", (int)o->weights);
    if (o->ties != KNN_TIES_NEAREST && o->ties != KNN_TIES_SMALLEST_LABEL)
        return knn__fail(KNN_ERR_ARG, "unknown tie rule %d", (int)o->ties);
    if (o->threads < 0)
        return knn__fail(KNN_ERR_ARG, "%d threads: give 0 (automatic) or more", o->threads);
    return KNN_OK;
}

/* Enough classes with enough images? The message says what would work instead. */
static knn_status check_classes(const knn_dataset *ds, const knn_fewshot_options *o,
                                const class_index *ci)
{
    const size_t need = (size_t)o->shot + (size_t)o->query;
    char images[96]; /* "16 images (1 shot + 15 queries)" */
    snprintf(images, sizeof images, "%zu images (%d shot%s + %d quer%s)", need, o->shot,
             o->shot == 1 ? "" : "s", o->query, o->query == 1 ? "y" : "ies");
    if (ci->neligible >= o->way)
        return KNN_OK;
    if (ds->num_classes < 2)
        return knn__fail(KNN_ERR_ARG, "%s has %d class%s: an episode needs at least 2",
                         ds->source, ds->num_classes, ds->num_classes == 1 ? "" : "es");
    if (ci->neligible == ds->num_classes)
        return knn__fail(KNN_ERR_ARG, "%s has %d classes, fewer than way = %d: use way %d or "
                                      "less",
                         ds->source, ds->num_classes, o->way, ds->num_classes);
    if (ci->neligible == 0)
        return knn__fail(KNN_ERR_ARG,
                         "no class of %s has %s; the largest has %zu: use shot + query of %zu "
                         "or less",
                         ds->source, images, ci->largest, ci->largest);
    if (ci->neligible == 1)
        return knn__fail(KNN_ERR_ARG,
                         "only 1 of the %d classes of %s has at least %s, and an episode "
                         "needs 2: use fewer shots or queries",
                         ds->num_classes, ds->source, images);
    return knn__fail(KNN_ERR_ARG,
                     "only %d of the %d classes of %s have at least %s: use way %d or less, "
                     "or fewer shots or queries",
                     ci->neligible, ds->num_classes, ds->source, images, ci->neligible);
}

/* ---- the classes' rows ------------------------------------------------------------------ */

static void class_index_free(class_index *ci)
{
    free(ci->start);
    free(ci->rows);
    free(ci->eligible);
}

/* Groups the rows by class (a counting sort) and lists the classes with at least `need`
 * rows. The labels are checked once more, as the vote does: a mapped model is memory that
 * passed its checks at loading, and a bad label here would write out of bounds. */
static knn_status class_index_build(const knn_dataset *ds, size_t need, class_index *ci)
{
    const size_t n = ds->count, C = (size_t)ds->num_classes;
    *ci = (class_index){0};
    ci->start = calloc(C + 1, sizeof *ci->start);
    ci->rows = malloc((n ? n : 1) * sizeof *ci->rows);
    ci->eligible = malloc((C ? C : 1) * sizeof *ci->eligible);
    if (!ci->start || !ci->rows || !ci->eligible) {
        class_index_free(ci);
        return knn__fail(KNN_ERR_NOMEM, "out of memory for the classes of %s", ds->source);
    }
    for (size_t i = 0; i < n; i++) {
        if (ds->labels[i] < 0 || (size_t)ds->labels[i] >= C) {
            class_index_free(ci);
            return knn__fail(KNN_ERR_FORMAT, "%s: label %d of row %zu is outside 0..%zu",
                             ds->source, (int)ds->labels[i], i, C - 1);
        }
        ci->start[ds->labels[i] + 1]++;
    }
    for (size_t c = 0; c < C; c++) {
        const size_t size = ci->start[c + 1];
        ci->largest = size > ci->largest ? size : ci->largest;
        if (size >= need)
            ci->eligible[ci->neligible++] = c;
        ci->start[c + 1] += ci->start[c];
    }
    size_t *next = ci->start; /* filled in place, then shifted back */
    for (size_t i = 0; i < n; i++)
        ci->rows[next[ds->labels[i]]++] = i;
    memmove(ci->start + 1, ci->start, C * sizeof *ci->start);
    ci->start[0] = 0;
    return KNN_OK;
}

/* ---- one episode ------------------------------------------------------------------------ */

/* The first m of items[0..n) become a uniform random choice of m of them, in random order
 * (a partial Fisher-Yates shuffle: m draws, whatever n is). */
static void draw(size_t *items, size_t n, size_t m, uint64_t *state)
{
    for (size_t i = 0; i < m; i++) {
        const size_t j = i + knn__random_below(state, n - i);
        const size_t t = items[i];
        items[i] = items[j];
        items[j] = t;
    }
}

/* An empty data set of `count` rows shaped like ds. */
static knn_status episode_set(const knn_dataset *ds, size_t count, bool labelled,
                              const char *what, knn_dataset **out)
{
    knn_status st = knn__dataset_alloc(count, ds->dim, ds->dtype, labelled, what, out);
    if (st)
        return st;
    (*out)->height = ds->height;
    (*out)->width = ds->width;
    (*out)->channels = ds->channels;
    return KNN_OK;
}

static void copy_row(knn_dataset *to, size_t at, const knn_dataset *from, size_t row)
{
    memcpy(to->rows + at * to->stride, from->rows + row * from->stride, from->stride);
}

/* Draws the episode's classes and images into support and queries (labels 0..way-1 in the
 * order the classes were drawn). */
static void draw_episode(const fewshot_job *job, uint64_t *state, scratch *s,
                         knn_dataset *support, knn_dataset *queries)
{
    const knn_fewshot_options *o = job->o;
    const class_index *ci = job->ci;
    /* start from the same list every episode: what a thread drew before must not matter */
    memcpy(s->classes, ci->eligible, (size_t)ci->neligible * sizeof *s->classes);
    draw(s->classes, (size_t)ci->neligible, (size_t)o->way, state);
    for (int c = 0; c < o->way; c++) {
        const size_t first = ci->start[s->classes[c]];
        const size_t size = ci->start[s->classes[c] + 1] - first;
        memcpy(s->rows, ci->rows + first, size * sizeof *s->rows);
        draw(s->rows, size, (size_t)o->shot + (size_t)o->query, state);
        for (int j = 0; j < o->shot; j++) {
            const size_t at = (size_t)c * (size_t)o->shot + (size_t)j;
            copy_row(support, at, job->ds, s->rows[j]);
            support->labels[at] = c;
        }
        for (int j = 0; j < o->query; j++)
            copy_row(queries, (size_t)c * (size_t)o->query + (size_t)j, job->ds,
                     s->rows[o->shot + j]);
    }
}

/* Classifies the queries by their support neighbours; counts the right ones (query i is of
 * class i / query). */
static knn_status classify(const fewshot_job *job, const knn_dataset *support,
                           const knn_dataset *queries, int32_t *pred, size_t *correct)
{
    const knn_fewshot_options *o = job->o;
    /* one thread per episode: the episodes are what runs in parallel */
    knn_params p = {o->k, o->metric, o->weights, o->ties, 1, NULL, NULL, 0, 0};
    knn_neighbors *nb = NULL;
    knn_status st = knn_search(support, queries, &p, &nb);
    if (!st)
        st = knn_vote(support, nb, &p, pred, NULL, NULL);
    knn_neighbors_free(nb);
    *correct = 0;
    for (size_t i = 0; !st && i < queries->count; i++)
        *correct += pred[i] == (int32_t)(i / (size_t)o->query);
    return st;
}

static knn_status run_episode(const fewshot_job *job, int e, scratch *s, size_t *correct)
{
    const knn_fewshot_options *o = job->o;
    uint64_t state = knn__random_task_state(o->seed, (uint64_t)e);
    knn_dataset *support = NULL, *queries = NULL;
    knn_status st = episode_set(job->ds, (size_t)o->way * (size_t)o->shot, true,
                                "an episode's support images", &support);
    if (!st)
        st = episode_set(job->ds, (size_t)o->way * (size_t)o->query, false,
                         "an episode's query images", &queries);
    if (!st) {
        support->num_classes = o->way;
        draw_episode(job, &state, s, support, queries);
        st = classify(job, support, queries, s->pred, correct);
    }
    knn_dataset_free(support);
    knn_dataset_free(queries);
    return st;
}

/* ---- all episodes ----------------------------------------------------------------------- */

static bool scratch_alloc(scratch *s, const fewshot_job *job)
{
    const class_index *ci = job->ci;
    s->classes = malloc((size_t)ci->neligible * sizeof *s->classes);
    s->rows = malloc(ci->largest * sizeof *s->rows);
    s->pred = malloc((size_t)job->o->way * (size_t)job->o->query * sizeof *s->pred);
    return s->classes && s->rows && s->pred;
}

static void scratch_free(scratch *s)
{
    free(s->classes);
    free(s->rows);
    free(s->pred);
}

/* Keeps the failure of the lowest-numbered episode, with this thread's message. */
static void failure_record(failure *f, int episode, knn_status st)
{
    knn__lock_take(&f->lock);
    if (!f->status || episode < f->episode) {
        f->status = st;
        f->episode = episode;
        snprintf(f->message, sizeof f->message, "%s", knn_last_error());
    }
    knn__lock_give(&f->lock);
    knn__flag_raise(&f->flag);
}

/* Runs every episode into correct (episodes). */
static knn_status run_episodes(const fewshot_job *job, size_t *correct)
{
    const knn_fewshot_options *o = job->o;
    int threads = 1;
#ifdef _OPENMP
    threads = o->threads > 0 ? o->threads : omp_get_max_threads();
#endif
    failure f = {.status = KNN_OK};
    knn__lock_init(&f.lock);
    size_t done_episodes = 0;
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
#endif
    {
        scratch s;
        if (!scratch_alloc(&s, job))
            failure_record(&f, -1, knn__fail(KNN_ERR_NOMEM, "out of memory for episodes"));
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 4)
#endif
        for (int e = 0; e < o->episodes; e++) {
            if (knn__flag_read(&f.flag))
                continue;
            knn_status st = run_episode(job, e, &s, &correct[e]);
            if (st)
                failure_record(&f, e, st);
            size_t done = knn__work_done(&done_episodes);
            if (o->progress && done)
                o->progress(done, (size_t)o->episodes, o->progress_user);
        }
        scratch_free(&s);
    }
    (void)threads; /* without OpenMP */
    knn__lock_destroy(&f.lock);
    return f.status ? knn__fail(f.status, "%s", f.message) : KNN_OK;
}

/* Mean and sample standard deviation of the episodes' accuracies, summed in episode order. */
static void summarise(knn_fewshot_result *r)
{
    double sum = 0, sq = 0;
    for (int e = 0; e < r->episodes; e++)
        sum += knn_fewshot_accuracy(r, e);
    r->mean = sum / r->episodes;
    for (int e = 0; e < r->episodes; e++) {
        const double d = knn_fewshot_accuracy(r, e) - r->mean;
        sq += d * d;
    }
    r->std = r->episodes > 1 ? sqrt(sq / (r->episodes - 1)) : 0.0;
}

knn_status knn_fewshot(const knn_dataset *ds, const knn_fewshot_options *o,
                       knn_fewshot_result **out)
{
    *out = NULL;
    if (ds->sharded)
        return knn__whole(ds, "few-shot episodes");
    if (ds->dtype == KNN_SPARSE)
        return knn__fail(KNN_ERR_ARG, "%s holds text: few-shot episodes are for images and "
                                      "features",
                         ds->source);
    knn_status st = check_options(ds, o);
    if (st)
        return st;
    class_index ci;
    if ((st = class_index_build(ds, (size_t)o->shot + (size_t)o->query, &ci)))
        return st;
    knn_fewshot_result *r = NULL;
    if (!(st = check_classes(ds, o, &ci))) {
        r = calloc(1, sizeof *r);
        if (r)
            r->correct = malloc((size_t)o->episodes * sizeof *r->correct);
        if (!r || !r->correct)
            st = knn__fail(KNN_ERR_NOMEM, "out of memory for %d episodes", o->episodes);
    }
    if (!st) {
        r->episodes = o->episodes;
        r->classes = ci.neligible;
        r->per_episode = (size_t)o->way * (size_t)o->query;
        const fewshot_job job = {ds, o, &ci};
        st = run_episodes(&job, r->correct);
    }
    class_index_free(&ci);
    if (st) {
        knn_fewshot_result_free(r);
        return st;
    }
    summarise(r);
    if (o->progress)
        o->progress((size_t)o->episodes, (size_t)o->episodes, o->progress_user);
    *out = r;
    return KNN_OK;
}

void knn_fewshot_result_free(knn_fewshot_result *r)
{
    if (!r)
        return;
    free(r->correct);
    free(r);
}

int knn_fewshot_episodes(const knn_fewshot_result *r) { return r->episodes; }
int knn_fewshot_classes(const knn_fewshot_result *r) { return r->classes; }
size_t knn_fewshot_correct(const knn_fewshot_result *r, int e) { return r->correct[e]; }

double knn_fewshot_accuracy(const knn_fewshot_result *r, int e)
{
    return (double)r->correct[e] / (double)r->per_episode;
}

double knn_fewshot_mean(const knn_fewshot_result *r) { return r->mean; }
double knn_fewshot_std(const knn_fewshot_result *r) { return r->std; }

double knn_fewshot_ci95(const knn_fewshot_result *r)
{
    return 1.96 * r->std / sqrt((double)r->episodes);
}
