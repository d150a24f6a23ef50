/* cv.c: choosing K and the metric by cross-validation, with one search per metric
 * (DESIGN.md decision 6).
 *
 * The naive way (scikit-learn's GridSearchCV, the course's knn_cross_validate) runs a new
 * search for every fold and every K: folds x Ks searches, each of (n/folds) x n(1 - 1/folds)
 * distances. Here every row's neighbours among the rows of the *other* folds are found once,
 * at the largest K, and each smaller K is read off the same sorted list. The n x n distances
 * are computed in blocks of BLOCK rows over pairs of blocks (I, J) with I <= J only: one
 * distance tile serves the rows of I (as a row of candidates) and the rows of J (as a column),
 * with the candidates of a row's own fold excluded. Pairs of blocks that lie wholly inside one
 * fold are skipped. So each pair of rows in different folds costs one distance, for both.
 *
 * Threads take pairs of blocks; a row's top-K list may be fed by any thread, so each block's
 * lists have a lock. The final lists do not depend on the order of the offers (the order on
 * (distance, index) is total), hence not on the thread count either. Each list is exactly
 * what a separate search of that row against the other folds would return, so every
 * accuracy equals the naive computation's, which the tests check fold by fold.
 *
 * Rows of more than 65,536 uint8 values get their tiles chunk by chunk, summed in 64 bits
 * (knn__distance_tile, search.c); the lists are 64-bit in either case. */
#include "internal.h"
#include "random.h"
#include "text.h"
#include "parallel.h"
#include "topk.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK 128

struct knn_cv_result {
    int nmetrics, nk, folds;
    size_t *fold_size; /* (folds) validation rows in each fold                */
    size_t *correct;   /* (nmetrics, nk, folds) rows predicted right          */
    int *k_order;      /* (nk) indices of the Ks, by increasing K             */
};

/* ---- folds ----------------------------------------------------------------------------- */

/* perm: a permutation of 0..n-1 drawn from seed (Fisher-Yates), or the identity. */
static void permutation(size_t *perm, size_t n, bool shuffle, uint64_t seed)
{
    for (size_t i = 0; i < n; i++)
        perm[i] = i;
    for (size_t i = n; shuffle && i > 1; i--) {
        size_t j = knn__random_below(&seed, i);
        size_t t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
    }
}

/* The rows in permuted order, grouped by class (a counting sort); NULL if a label is
 * outside 0..KNN_MAX_CLASSES-1 or memory runs out. */
static size_t *by_class(const size_t *perm, const int32_t *labels, size_t n)
{
    size_t *start = calloc((size_t)KNN_MAX_CLASSES + 1, sizeof *start);
    size_t *order = malloc((n ? n : 1) * sizeof *order);
    bool ok = start && order;
    for (size_t i = 0; ok && i < n; i++)
        if (labels[i] < 0 || labels[i] >= KNN_MAX_CLASSES)
            ok = false;
        else
            start[labels[i] + 1]++;
    for (size_t c = 1; ok && c <= (size_t)KNN_MAX_CLASSES; c++)
        start[c] += start[c - 1];
    for (size_t p = 0; ok && p < n; p++)
        order[start[labels[perm[p]]]++] = perm[p];
    free(start);
    if (!ok) {
        free(order);
        return NULL;
    }
    return order;
}

knn_status knn_folds_assign(size_t n, const int32_t *labels, int folds, knn_fold_mode mode,
                            uint64_t seed, int32_t *fold_of)
{
    if (folds < 2)
        return knn__fail(KNN_ERR_ARG, "%d folds: cross-validation needs at least 2", folds);
    if ((size_t)folds > n)
        return knn__fail(KNN_ERR_ARG, "%d folds for %zu rows: at most one fold per row", folds,
                         n);
    if (mode != KNN_FOLDS_CONTIGUOUS && mode != KNN_FOLDS_SHUFFLED &&
        mode != KNN_FOLDS_STRATIFIED)
        return knn__fail(KNN_ERR_ARG, "unknown fold mode %d", (int)mode);
    if (mode == KNN_FOLDS_STRATIFIED && !labels)
        return knn__fail(KNN_ERR_ARG, "stratified folds need labels");
    size_t *perm = malloc(n * sizeof *perm);
    if (!perm)
        return knn__fail(KNN_ERR_NOMEM, "out of memory for %zu fold assignments", n);
    permutation(perm, n, mode != KNN_FOLDS_CONTIGUOUS, seed);
    if (mode != KNN_FOLDS_STRATIFIED) {
        /* chunks of the permutation: the first n % folds chunks one row larger */
        size_t q = n / (size_t)folds, r = n % (size_t)folds, at = 0;
        for (size_t f = 0; f < (size_t)folds; f++)
            for (size_t c = 0; c < q + (f < r); c++)
                fold_of[perm[at++]] = (int32_t)f;
    } else {
        /* deal the rows class by class, in permuted order, round-robin over the folds,
         * continuing where the previous class stopped so that fold sizes stay even */
        size_t *order = by_class(perm, labels, n);
        if (!order) {
            free(perm);
            return knn__fail(KNN_ERR_ARG, "stratified folds need labels from 0 to %d",
                             KNN_MAX_CLASSES - 1);
        }
        for (size_t p = 0; p < n; p++)
            fold_of[order[p]] = (int32_t)(p % (size_t)folds);
        free(order);
    }
    free(perm);
    return KNN_OK;
}

/* Hold-out: rows of the validation split get fold 1, the others fold 0. */
static knn_status holdout_assign(size_t n, const int32_t *labels, double fraction,
                                 knn_fold_mode mode, uint64_t seed, int32_t *fold_of)
{
    size_t nval = (size_t)llround(fraction * (double)n);
    if (!(fraction > 0 && fraction < 1) || nval < 1 || nval >= n)
        return knn__fail(KNN_ERR_ARG,
                         "a validation fraction of %g of %zu rows leaves no validation or no "
                         "training rows",
                         fraction, n);
    size_t *perm = malloc(n * sizeof *perm);
    if (!perm)
        return knn__fail(KNN_ERR_NOMEM, "out of memory");
    permutation(perm, n, mode != KNN_FOLDS_CONTIGUOUS, seed);
    for (size_t i = 0; i < n; i++)
        fold_of[i] = 0;
    if (mode != KNN_FOLDS_STRATIFIED) {
        for (size_t p = n - nval; p < n; p++)
            fold_of[perm[p]] = 1;
    } else { /* the same fraction of every class: the first of each class in permuted order */
        size_t *order = by_class(perm, labels, n);
        if (!order) {
            free(perm);
            return knn__fail(KNN_ERR_ARG, "stratified splits need labels from 0 to %d",
                             KNN_MAX_CLASSES - 1);
        }
        for (size_t a = 0; a < n;) {
            size_t b = a;
            while (b < n && labels[order[b]] == labels[order[a]])
                b++;
            size_t want = (size_t)llround(fraction * (double)(b - a));
            for (size_t p = a; p < a + want; p++)
                fold_of[order[p]] = 1;
            a = b;
        }
        free(order);
    }
    free(perm);
    size_t validating = 0;
    for (size_t i = 0; i < n; i++)
        validating += fold_of[i] == 1;
    if (validating == 0 || validating == n)
        return knn__fail(KNN_ERR_ARG,
                         "a validation fraction of %g of %zu rows leaves no validation or no "
                         "training rows in any class",
                         fraction, n);
    return KNN_OK;
}

/* ---- one search for all folds ---------------------------------------------------------- */

typedef struct {
    const knn_dataset *ds;
    const int32_t *fold_of;     /* (n)                                              */
    const int64_t *slot;        /* (n) the row's list in nb, or -1: no list wanted  */
    knn__distances dist;
    const uint32_t *qnorm;      /* (chunks, n) |row|^2, uint8 L2 only               */
    const uint32_t *tnorm;      /* (chunks, n) the kernels' train norms, likewise   */
    const uint8_t *rows;        /* the rows measured: ds's, or at unit length (cosine) */
    knn_neighbors *nb;          /* (wanted rows, kmax)                              */
    int *size;                  /* (wanted rows) entries in each heap               */
} cv_job;

/* Offers candidates [first, first + n) at dist (a tile row of the given width) to the list
 * of row r; with `mask`, those of r's own fold are excluded first (in buf). */
KNN__ALWAYS_INLINE void offer_width(const cv_job *job, size_t r, const void *dist, bool wide,
                                    size_t n, size_t first, bool mask, void *buf)
{
    if (mask) {
        const int32_t f = job->fold_of[r];
        for (size_t j = 0; j < n; j++)
            knn__tile_put(buf, wide, j,
                          job->fold_of[first + j] == f ? knn__tile_max(wide)
                                                       : knn__tile_get(dist, wide, j));
        dist = buf;
    }
    size_t s = (size_t)job->slot[r], k = (size_t)job->nb->k;
    topk_offer(job->nb->dist + s * k, job->nb->index + s * k, job->nb->k, &job->size[s], dist,
               wide, n, (uint32_t)first);
}

/* The same for row i of a tile of nj columns. */
static void offer(const cv_job *job, size_t r, const void *tile, size_t i, size_t n,
                  size_t first, bool mask, void *buf)
{
    if (knn__wide(&job->dist))
        offer_width(job, r, (const uint64_t *)tile + i * n, true, n, first, mask, buf);
    else
        offer_width(job, r, (const uint32_t *)tile + i * n, false, n, first, mask, buf);
}

/* out (nj, ni) = the transpose of tile (ni, nj), both of the given width. */
KNN__ALWAYS_INLINE void transpose(const void *tile, bool wide, size_t ni, size_t nj, void *out)
{
    for (size_t i = 0; i < ni; i++)
        for (size_t j = 0; j < nj; j++)
            knn__tile_put(out, wide, j * ni + i, knn__tile_get(tile, wide, i * nj + j));
}

/* Neighbour lists for the rows with a slot; progress reported as part `part` of `parts`. */
/* The pairs of blocks the pass walks: every pair (I <= J) but those inside one fold, and
 * those where neither block holds a wanted row; a lock per block for the lists it feeds. */
typedef struct {
    size_t nblk, npairs;
    int32_t *block_fold;    /* (nblk) the fold of all the block's rows, or -1 if mixed */
    bool *block_wanted;     /* (nblk) does the block hold a row whose list is wanted   */
    uint32_t (*pairs)[2];   /* (npairs) block pairs                                    */
    knn__lock *locks;       /* (nblk)                                                  */
} cv_plan;

static void cv_plan_free(cv_plan *pl)
{
    for (size_t b = 0; pl->locks && b < pl->nblk; b++)
        knn__lock_destroy(&pl->locks[b]);
    free(pl->locks);
    free(pl->block_fold);
    free(pl->block_wanted);
    free(pl->pairs);
}

static bool cv_plan_make(cv_plan *pl, size_t n, const int32_t *fold_of, const int64_t *slot)
{
    memset(pl, 0, sizeof *pl);
    pl->nblk = (n + BLOCK - 1) / BLOCK;
    pl->block_fold = malloc((pl->nblk ? pl->nblk : 1) * sizeof *pl->block_fold);
    pl->block_wanted = calloc(pl->nblk ? pl->nblk : 1, sizeof *pl->block_wanted);
    pl->pairs = malloc((pl->nblk * (pl->nblk + 1) / 2 + 1) * sizeof *pl->pairs);
    knn__lock *locks = malloc((pl->nblk ? pl->nblk : 1) * sizeof *locks);
    if (!pl->block_fold || !pl->block_wanted || !pl->pairs || !locks) {
        free(locks);
        return false;
    }
    for (size_t b = 0; b < pl->nblk; b++) {
        size_t lo = b * BLOCK, hi = lo + BLOCK < n ? lo + BLOCK : n;
        pl->block_fold[b] = fold_of[lo];
        for (size_t i = lo; i < hi; i++) {
            if (fold_of[i] != pl->block_fold[b])
                pl->block_fold[b] = -1;
            pl->block_wanted[b] |= slot[i] >= 0;
        }
        knn__lock_init(&locks[b]);
    }
    pl->locks = locks; /* initialised: cv_plan_free destroys them */
    for (size_t I = 0; I < pl->nblk; I++)
        for (size_t J = I; J < pl->nblk; J++) {
            bool one_fold = pl->block_fold[I] >= 0 && pl->block_fold[I] == pl->block_fold[J];
            if (!one_fold && (pl->block_wanted[I] || pl->block_wanted[J]))
                pl->pairs[pl->npairs][0] = (uint32_t)I, pl->pairs[pl->npairs++][1] = (uint32_t)J;
        }
    return true;
}

/* One pair of blocks: its distances, offered to the wanted rows of both blocks. */
static void cv_pair(const cv_job *job, const cv_plan *pl, size_t I, size_t J, bool wide,
                    uint32_t *chunk_tile, void *tile, void *transposed, void *buf)
{
    const knn_dataset *ds = job->ds;
    const size_t n = ds->count, i0 = I * BLOCK, j0 = J * BLOCK;
    const size_t ni = n - i0 < BLOCK ? n - i0 : BLOCK, nj = n - j0 < BLOCK ? n - j0 : BLOCK;
    const bool norms = job->dist.norms;
    knn__distance_tile(&job->dist, job->rows + i0 * ds->stride, ni,
                       norms ? job->qnorm + i0 : NULL, n, job->rows + j0 * ds->stride, nj,
                       norms ? job->tnorm + j0 : NULL, n, chunk_tile, tile);
    /* blocks each wholly in one fold (different ones: same-fold pairs were skipped) need no
     * exclusions */
    const bool mask = I == J || pl->block_fold[I] < 0 || pl->block_fold[J] < 0;
    if (pl->block_wanted[I]) {
        knn__lock_take(&pl->locks[I]);
        for (size_t i = 0; i < ni; i++)
            if (job->slot[i0 + i] >= 0)
                offer(job, i0 + i, tile, i, nj, j0, mask, buf);
        knn__lock_give(&pl->locks[I]);
    }
    if (I != J && pl->block_wanted[J]) {
        if (wide)
            transpose(tile, true, ni, nj, transposed);
        else
            transpose(tile, false, ni, nj, transposed);
        knn__lock_take(&pl->locks[J]);
        for (size_t j = 0; j < nj; j++)
            if (job->slot[j0 + j] >= 0)
                offer(job, j0 + j, transposed, j, ni, i0, mask, buf);
        knn__lock_give(&pl->locks[J]);
    }
}

/* Walks every pair of the plan on `threads` threads; false when a thread's tiles could not be
 * allocated. */
static bool cv_run(const cv_job *job, const cv_plan *pl, int threads, const knn_cv_options *o,
                   int part, int parts)
{
    const bool wide = knn__wide(&job->dist);
    size_t done_pairs = 0;
    int failed = 0;
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
#endif
    {
        const size_t width = wide ? sizeof(uint64_t) : sizeof(uint32_t);
        void *tile = malloc(BLOCK * BLOCK * width), *transposed = malloc(BLOCK * BLOCK * width);
        void *buf = malloc(BLOCK * width);
        uint32_t *chunk_tile = wide ? malloc(BLOCK * BLOCK * sizeof *chunk_tile) : NULL;
        if (!tile || !transposed || !buf || (wide && !chunk_tile))
            knn__flag_raise(&failed);
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
        for (size_t w = 0; w < pl->npairs; w++) {
            if (knn__flag_read(&failed))
                continue;
            cv_pair(job, pl, pl->pairs[w][0], pl->pairs[w][1], wide, chunk_tile, tile,
                    transposed, buf);
            size_t done = knn__work_done(&done_pairs);
            if (o->progress && done)
                o->progress((size_t)part * pl->npairs + done, (size_t)parts * pl->npairs,
                            o->progress_user);
        }
        free(tile);
        free(transposed);
        free(buf);
        free(chunk_tile);
    }
    return !failed;
}

/* The lists of cross-validation's pass: nwanted rows of kmax (index, distance); false when out
 * of memory (nb then freed by its owner). */
static bool cv_lists(knn_neighbors *nb, size_t nwanted, int kmax, knn_metric metric,
                     knn_dtype dtype)
{
    nb->nq = nwanted;
    nb->k = kmax;
    nb->metric = metric;
    nb->dtype = dtype;
    nb->index = malloc((nwanted ? nwanted : 1) * (size_t)kmax * sizeof *nb->index);
    nb->dist = malloc((nwanted ? nwanted : 1) * (size_t)kmax * sizeof *nb->dist);
    return nb->index && nb->dist;
}

/* Text: every validation row's list among the other folds' rows, one query at a time through
 * the inverted index (no symmetric pass: a sparse dot product serves one pair of rows only
 * where both hold a term, so halving the pairs would save little). */
static knn_status sparse_cv_search(const knn_dataset *ds, const int32_t *fold_of,
                                   const int64_t *slot, size_t nwanted, int kmax,
                                   const knn_cv_options *o, knn_neighbors **out)
{
    knn_neighbors *nb = calloc(1, sizeof *nb);
    if (!nb || !cv_lists(nb, nwanted, kmax, KNN_COSINE, ds->dtype)) {
        knn_neighbors_free(nb);
        return knn__fail(KNN_ERR_NOMEM, "out of memory for cross-validating %zu rows",
                         ds->count);
    }
    knn_status st = knn__sparse_cv(ds, fold_of, slot, kmax, o->threads, o->progress,
                                   o->progress_user, nb);
    if (st)
        knn_neighbors_free(nb);
    else
        *out = nb;
    return st;
}

static knn_status cv_search(const knn_dataset *ds, const int32_t *fold_of, const int64_t *slot,
                            size_t nwanted, knn_metric metric, int kmax, const knn_cv_options *o,
                            int part, int parts, knn_neighbors **out)
{
    const size_t n = ds->count;
    if (ds->dtype == KNN_SPARSE) /* text: each row through the inverted index (sparse.c) */
        return sparse_cv_search(ds, fold_of, slot, nwanted, kmax, o, out);
    const knn__kernels *kern = knn__kernels_select();
    const knn__distances dist = knn__distances_of(ds, metric, kern);
    const bool norms = dist.norms;
    int threads = 1;
#ifdef _OPENMP
    threads = o->threads > 0 ? o->threads : omp_get_max_threads();
#endif
    knn_neighbors *nb = calloc(1, sizeof *nb);
    int *size = calloc(nwanted ? nwanted : 1, sizeof *size);
    uint32_t *qnorm = norms ? malloc((n ? n : 1) * dist.chunks * sizeof *qnorm) : NULL;
    bool tnorm_owned = false;
    const uint32_t *tnorm = norms ? knn__train_norms(ds, kern->train_norms, threads, &tnorm_owned)
                                  : NULL;
    /* cosine: the rows at unit length, cached in the data set */
    const uint8_t *rows = metric == KNN_COSINE ? knn__dataset_unit_rows(ds, threads) : ds->rows;
    cv_plan plan;
    bool ok = cv_plan_make(&plan, n, fold_of, slot) && nb && size && rows &&
              (!norms || (qnorm && tnorm));
    if (ok)
        ok = cv_lists(nb, nwanted, kmax, metric, ds->dtype);
    const char *what = "out of memory for cross-validating %zu rows";
    if (ok) {
        if (norms)
            knn__query_norms(&dist, ds->rows, n, n, qnorm);
        cv_job job = {ds, fold_of, slot, dist, qnorm, tnorm, rows, nb, size};
        ok = cv_run(&job, &plan, threads, o, part, parts);
        what = "out of memory for the cross-validation's tiles of %zu rows";
    }
    for (size_t s = 0; ok && s < nwanted; s++)
        heap_sort(nb->dist + s * (size_t)kmax, nb->index + s * (size_t)kmax, size[s]);
    cv_plan_free(&plan);
    free(size);
    free(qnorm);
    if (tnorm_owned)
        free((void *)tnorm);
    if (!ok) {
        knn_neighbors_free(nb);
        return knn__fail(KNN_ERR_NOMEM, what, n);
    }
    *out = nb;
    return KNN_OK;
}

/* ---- the cross-validation -------------------------------------------------------------- */

static knn_status check_options(const knn_dataset *train, const knn_cv_options *o)
{
    if (!train->labels)
        return knn__fail(KNN_ERR_ARG, "%s: cross-validation needs labels", train->source);
    if (o->nk < 1 || !o->ks)
        return knn__fail(KNN_ERR_ARG, "no K values to try");
    if (o->nmetrics < 1 || !o->metrics)
        return knn__fail(KNN_ERR_ARG, "no metrics to try");
    for (int a = 0; a < o->nk; a++) {
        if (o->ks[a] < 1)
            return knn__fail(KNN_ERR_ARG, "K = %d: K must be at least 1", o->ks[a]);
        for (int b = 0; b < a; b++)
            if (o->ks[a] == o->ks[b])
                return knn__fail(KNN_ERR_ARG, "K = %d is listed twice", o->ks[a]);
    }
    for (int a = 0; a < o->nmetrics; a++) {
        knn_status st = knn__metric_check(o->metrics[a], train);
        if (st)
            return st;
        for (int b = 0; b < a; b++)
            if (o->metrics[a] == o->metrics[b])
                return knn__fail(KNN_ERR_ARG, "metric %s is listed twice",
                                 knn_metric_name(o->metrics[a]));
    }
    if (o->threads < 0)
        return knn__fail(KNN_ERR_ARG, "%d threads: give 0 (automatic) or more", o->threads);
    if (o->mode != KNN_FOLDS_CONTIGUOUS && o->mode != KNN_FOLDS_SHUFFLED &&
        o->mode != KNN_FOLDS_STRATIFIED)
        return knn__fail(KNN_ERR_ARG, "unknown fold mode %d", (int)o->mode);
    if (o->weights != KNN_WEIGHTS_UNIFORM && o->weights != KNN_WEIGHTS_DISTANCE)
        return knn__fail(KNN_ERR_ARG, "unknown weights %d", (int)o->weights);
    if (o->ties != KNN_TIES_NEAREST && o->ties != KNN_TIES_SMALLEST_LABEL)
        return knn__fail(KNN_ERR_ARG, "unknown tie rule %d", (int)o->ties);
    return KNN_OK;
}

knn_status knn_cross_validate(const knn_dataset *train, const knn_cv_options *o,
                              knn_cv_result **out)
{
    *out = NULL;
    knn_status st = check_options(train, o);
    if (st)
        return st;
    const size_t n = train->count;
    const bool holdout = o->val_fraction > 0;
    const int nfolds = holdout ? 2 : o->folds; /* hold-out: fold 1 validates */
    int32_t *fold_of = malloc((n ? n : 1) * sizeof *fold_of);
    int64_t *slot = malloc((n ? n : 1) * sizeof *slot);
    size_t *in_fold = calloc((size_t)(nfolds > 0 ? nfolds : 1), sizeof *in_fold);
    knn_cv_result *r = calloc(1, sizeof *r);
    int32_t *pred = malloc((n ? n : 1) * sizeof *pred);
    if (!fold_of || !slot || !in_fold || !r || !pred) {
        st = knn__fail(KNN_ERR_NOMEM, "out of memory for cross-validating %zu rows", n);
        goto done;
    }
    st = holdout ? holdout_assign(n, train->labels, o->val_fraction, o->mode, o->seed, fold_of)
                 : knn_folds_assign(n, train->labels, o->folds, o->mode, o->seed, fold_of);
    if (st)
        goto done;
    for (size_t i = 0; i < n; i++)
        in_fold[fold_of[i]]++;
    int kmax = 0;
    for (int a = 0; a < o->nk; a++)
        kmax = o->ks[a] > kmax ? o->ks[a] : kmax;
    const int first_fold = holdout ? 1 : 0; /* the folds whose rows are validated */
    for (int f = first_fold; f < nfolds; f++)
        if ((size_t)kmax > n - in_fold[f]) {
            st = knn__fail(KNN_ERR_ARG,
                           "K = %d is more than the %zu training rows left when fold %d of %zu "
                           "rows is held out",
                           kmax, n - in_fold[f], f + 1 - first_fold, in_fold[f]);
            goto done;
        }
    size_t nwanted = 0;
    for (size_t i = 0; i < n; i++)
        slot[i] = fold_of[i] >= first_fold ? (int64_t)nwanted++ : -1;

    r->nmetrics = o->nmetrics;
    r->nk = o->nk;
    r->folds = nfolds - first_fold;
    r->fold_size = calloc((size_t)r->folds, sizeof *r->fold_size);
    size_t cells;
    if (!knn__mul_ok((size_t)r->nmetrics * (size_t)r->nk, (size_t)r->folds, &cells)) {
        st = knn__fail(KNN_ERR_LIMIT, "%d metrics x %d Ks x %d folds is too many", r->nmetrics,
                       r->nk, r->folds);
        goto done;
    }
    r->correct = calloc(cells ? cells : 1, sizeof *r->correct);
    r->k_order = malloc((size_t)r->nk * sizeof *r->k_order);
    if (!r->fold_size || !r->correct || !r->k_order) {
        st = knn__fail(KNN_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int f = 0; f < r->folds; f++)
        r->fold_size[f] = in_fold[f + first_fold];
    for (int a = 0; a < r->nk; a++) { /* insertion sort of the K indices by K */
        int b = a;
        for (; b > 0 && o->ks[r->k_order[b - 1]] > o->ks[a]; b--)
            r->k_order[b] = r->k_order[b - 1];
        r->k_order[b] = a;
    }
    for (int m = 0; m < o->nmetrics && !st; m++) {
        knn_neighbors *nb = NULL;
        st = cv_search(train, fold_of, slot, nwanted, o->metrics[m], kmax, o, m, o->nmetrics,
                       &nb);
        for (int a = 0; a < o->nk && !st; a++) {
            knn_params p = knn_params_default();
            p.k = o->ks[a];
            p.metric = o->metrics[m];
            p.weights = o->weights;
            p.ties = o->ties;
            st = knn_vote(train, nb, &p, pred, NULL, NULL);
            for (size_t i = 0; i < n && !st; i++)
                if (slot[i] >= 0 && pred[slot[i]] == train->labels[i])
                    r->correct[((size_t)m * (size_t)r->nk + (size_t)a) * (size_t)r->folds +
                               (size_t)(fold_of[i] - first_fold)]++;
        }
        knn_neighbors_free(nb);
    }
    if (!st && o->progress)
        o->progress(1, 1, o->progress_user);
done:
    free(fold_of);
    free(slot);
    free(in_fold);
    free(pred);
    if (st) {
        knn_cv_result_free(r);
        return st;
    }
    *out = r;
    return KNN_OK;
}

void knn_cv_result_free(knn_cv_result *r)
{
    if (!r)
        return;
    free(r->fold_size);
    free(r->correct);
    free(r->k_order);
    free(r);
}

int knn_cv_folds(const knn_cv_result *r) { return r->folds; }
size_t knn_cv_fold_size(const knn_cv_result *r, int fold) { return r->fold_size[fold]; }

double knn_cv_accuracy(const knn_cv_result *r, int m, int k, int fold)
{
    const size_t cell = ((size_t)m * (size_t)r->nk + (size_t)k) * (size_t)r->folds + (size_t)fold;
    size_t c = r->correct[cell];
    return r->fold_size[fold] ? (double)c / (double)r->fold_size[fold] : 0.0;
}

double knn_cv_mean(const knn_cv_result *r, int m, int k)
{
    double sum = 0;
    for (int f = 0; f < r->folds; f++)
        sum += knn_cv_accuracy(r, m, k, f);
    return sum / r->folds;
}

double knn_cv_std(const knn_cv_result *r, int m, int k)
{
    double mean = knn_cv_mean(r, m, k), sum = 0;
    for (int f = 0; f < r->folds; f++) {
        double d = knn_cv_accuracy(r, m, k, f) - mean;
        sum += d * d;
    }
    return sqrt(sum / r->folds);
}

void knn_cv_best(const knn_cv_result *r, int *m, int *k)
{
    double best = -1;
    for (int a = 0; a < r->nk; a++) /* by increasing K, then metrics in the order listed */
        for (int b = 0; b < r->nmetrics; b++) {
            double mean = knn_cv_mean(r, b, r->k_order[a]);
            if (mean > best) {
                best = mean;
                *m = b;
                *k = r->k_order[a];
            }
        }
}
