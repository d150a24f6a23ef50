/* classify.c: the classifier as one object (DESIGN.md "the flow of data": search, then vote),
 * so that every caller (the commands, the server, the decision-boundary demo, bindings) gets
 * the same neighbours, labels, scores and ranking from one call instead of writing out
 * "search, allocate n x C arrays, vote" itself; and K chosen by cross-validation, once.
 *
 * Memory: the neighbours (nq x K) plus, per query, one label and C scores and C ranked
 * labels: 8 x C bytes a query, which is what many classes cost (10,000 queries of 65,536
 * classes: 5 GiB). It is checked against the memory available before anything is computed. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

struct knn_predictions {
    size_t count;       /* queries                                       */
    int classes;        /* C                                             */
    knn_neighbors *nb;  /* (count, K)                                    */
    int32_t *label;     /* (count) predicted                             */
    float *scores;      /* (count, C) each class's share of the vote     */
    int32_t *ranking;   /* (count, C) classes, best first                */
};

void knn_predictions_free(knn_predictions *r)
{
    if (!r)
        return;
    knn_neighbors_free(r->nb);
    free(r->label);
    free(r->scores);
    free(r->ranking);
    free(r);
}

/* The prediction arrays for n queries of C classes, checked against the memory first. */
static knn_status predictions_alloc(size_t n, int C, knn_predictions **out)
{
    size_t cells, bytes;
    if (!knn__mul_ok(n ? n : 1, (size_t)C, &cells) || !knn__mul_ok(cells, 8, &bytes))
        return knn__fail(KNN_ERR_LIMIT, "the votes of %zu queries over %d classes overflow "
                                        "memory sizes",
                         n, C);
    if (!knn__memory_fits(bytes))
        return knn__fail(KNN_ERR_NOMEM, "the votes of %zu queries over %d classes need %.1f GiB, "
                                        "more than the memory available",
                         n, C, (double)bytes / (1 << 30));
    knn_predictions *r = calloc(1, sizeof *r);
    if (r) {
        r->count = n;
        r->classes = C;
        r->label = malloc((n ? n : 1) * sizeof *r->label);
        r->scores = malloc(cells * sizeof *r->scores);
        r->ranking = malloc(cells * sizeof *r->ranking);
    }
    if (!r || !r->label || !r->scores || !r->ranking) {
        knn_predictions_free(r);
        return knn__fail(KNN_ERR_NOMEM, "out of memory for the votes of %zu queries over %d "
                                        "classes",
                         n, C);
    }
    *out = r;
    return KNN_OK;
}

knn_status knn_classify(const knn_dataset *train, const knn_dataset *queries, const knn_params *p,
                        knn_predictions **out)
{
    *out = NULL;
    if (!train->labels)
        return knn__fail(KNN_ERR_ARG, "%s: the training set has no labels", train->source);
    knn_predictions *r = NULL;
    knn_status st = predictions_alloc(queries->count, train->num_classes, &r);
    if (!st)
        st = knn_search(train, queries, p, &r->nb);
    if (!st)
        st = knn_vote(train, r->nb, p, r->label, r->scores, r->ranking);
    if (st) {
        knn_predictions_free(r);
        return st;
    }
    *out = r;
    return KNN_OK;
}

size_t knn_predictions_count(const knn_predictions *r) { return r->count; }
int knn_predictions_classes(const knn_predictions *r) { return r->classes; }
const knn_neighbors *knn_predictions_neighbors(const knn_predictions *r) { return r->nb; }

int32_t knn_predictions_label(const knn_predictions *r, size_t q)
{
    return q < r->count ? r->label[q] : -1;
}

const float *knn_predictions_scores(const knn_predictions *r, size_t q)
{
    return q < r->count ? r->scores + q * (size_t)r->classes : NULL;
}

const int32_t *knn_predictions_ranking(const knn_predictions *r, size_t q)
{
    return q < r->count ? r->ranking + q * (size_t)r->classes : NULL;
}

knn_status knn_predictions_metrics(const knn_predictions *r, const knn_dataset *queries,
                                   knn_metrics *m)
{
    memset(m, 0, sizeof *m);
    if (!queries->labels)
        return knn__fail(KNN_ERR_ARG, "%s: the queries have no labels to score against",
                         queries->source);
    if (queries->count != r->count)
        return knn__fail(KNN_ERR_ARG, "%s: %zu queries, but %zu were classified",
                         queries->source, queries->count, r->count);
    for (size_t i = 0; i < r->count; i++)
        if (queries->labels[i] >= r->classes)
            return knn__fail(KNN_ERR_FORMAT,
                             "%s: label %d of %s %zu is not a class of the training set "
                             "(0..%d)",
                             queries->source, (int)queries->labels[i], knn__row_word(queries), i,
                             r->classes - 1);
    return knn_metrics_compute(queries->labels, r->ranking, r->count, r->classes, m);
}

/* ---- choosing K ------------------------------------------------------------------------ */

/* The K values tried by default: the lecture's plot. */
static const int default_ks[] = {1, 3, 5, 8, 10, 12, 15, 20, 50, 100};

knn_cv_options knn_cv_options_default(void)
{
    static const knn_metric both[2] = {KNN_L1, KNN_L2};
    knn_cv_options o = {5, KNN_FOLDS_STRATIFIED, 0, 0, default_ks,
                        (int)(sizeof default_ks / sizeof *default_ks), both, 2,
                        KNN_WEIGHTS_UNIFORM, KNN_TIES_NEAREST, 0, NULL, NULL};
    return o;
}

int knn_cv_usable_ks(const knn_dataset *train, const knn_cv_options *o, int *ks)
{
    /* the rows outside the largest held-out part: folds of chunks differ by at most one row,
     * stratified ones by at most one row a class */
    const size_t rows = train->count;
    const int folds = o->val_fraction > 0 ? 2 : o->folds;
    size_t held = o->val_fraction > 0 ? (size_t)((double)rows * o->val_fraction) + 1
                  : folds > 1         ? (rows + (size_t)folds - 1) / (size_t)folds
                                      : rows;
    if (o->mode == KNN_FOLDS_STRATIFIED)
        held += (size_t)train->num_classes;
    const size_t others = rows > held ? rows - held : 0;
    int nk = 0;
    for (int a = 0; a < o->nk; a++)
        if (o->ks[a] >= 1 && (size_t)o->ks[a] <= others)
            ks[nk++] = o->ks[a];
    return nk;
}

knn_status knn_choose_k(const knn_dataset *train, const knn_cv_options *o, knn_params *p,
                        knn_cv_result **out)
{
    if (out)
        *out = NULL;
    if (o->nk < 1)
        return knn__fail(KNN_ERR_ARG, "%s: %zu training images are too few to cross-validate "
                                      "K",
                         train->source, train->count);
    knn_cv_result *r = NULL;
    knn_status st = knn_cross_validate(train, o, &r);
    if (!st) {
        int m, k;
        knn_cv_best(r, &m, &k);
        p->k = o->ks[k];
        p->metric = o->metrics[m];
    }
    if (st || !out)
        knn_cv_result_free(r);
    else
        *out = r;
    return st;
}
