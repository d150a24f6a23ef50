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
    const int32_t *fold_of;     /* (n) by position in the pass (see cv_grouping)     */
    const int64_t *slot;        /* (n) the row's list in nb, or -1: no list wanted  */
    const uint32_t *id;         /* (n) the row's index in ds: the lists' index      */
    knn__distances dist;
    const uint32_t *qnorm;      /* (chunks, n) |row|^2, uint8 L2 only               */
    const uint32_t *tnorm;      /* (chunks, n) the kernels' train norms, likewise   */
    const uint8_t *rows;        /* the rows measured: ds's, or at unit length (cosine) */
    knn_neighbors *nb;          /* (wanted rows, kmax + buffer): see cv_select       */
    int *size;                  /* (wanted rows) entries in each row's list          */
    uint64_t *threshold;        /* (wanted rows) the list's K-th distance, once full */
    uint32_t *threshold_index;  /* (wanted rows) and the K-th's index                */
} cv_job;

/* ---- the lists: buffered selection ------------------------------------------------------
 *
 * Each wanted row's list is an unsorted array of K + BUFFER entries (distance, index), and a
 * threshold: the K-th smallest (distance, index) at the last selection. A candidate before
 * it is appended (16 distances tested at once against its distance); when the array is full, the K smallest by (distance, index) are
 * selected into its first K places (cv_select, a quickselect: O(K + BUFFER)) and the
 * threshold falls to the K-th. A binary heap paid a sift through its K entries, scattered in
 * memory, for every candidate it took; at K = 100 that was a fifth of a 60,000-row pass. The
 * K smallest of a set are the same whatever the order they came in, so the lists are the
 * heap's: the tests compare them with separate searches. Memory: twice the lists while the
 * pass runs (BUFFER = K: a selection of 2K entries for every K taken, as cheap per candidate
 * as a heap of 5 and far cheaper at 100), shrunk to K entries at the end. */
#define BUFFER_OF(k) (k)

static inline void entry_swap(uint64_t *d, uint32_t *x, size_t a, size_t b)
{
    const uint64_t td = d[a];
    const uint32_t tx = x[a];
    d[a] = d[b], x[a] = x[b];
    d[b] = td, x[b] = tx;
}

/* A quickselect's step once the pivot has settled at `store`: true when it is the k-th,
 * else the range [lo, hi] that holds the k-th shrinks to its side. */
static inline bool select_narrow(size_t store, size_t k, size_t *lo, size_t *hi)
{
    if (store == k - 1)
        return true;
    if (store < k - 1)
        *lo = store + 1;
    else
        *hi = store - 1;
    return false;
}

/* cv_select on (distance, index) packed into one 64-bit key (distance < 2^32), one compare
 * and one swap a step: the same order, the same k smallest. */
static void select_keys(uint64_t *key, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        const size_t mid = lo + (hi - lo) / 2;
        uint64_t t;
#define KEY_SWAP(a, b) (t = key[a], key[a] = key[b], key[b] = t)
        if (key[lo] > key[mid])
            KEY_SWAP(lo, mid);
        if (key[mid] > key[hi])
            KEY_SWAP(mid, hi);
        if (key[lo] > key[mid])
            KEY_SWAP(lo, mid);
        KEY_SWAP(mid, hi);
        const uint64_t pivot = key[hi];
        size_t store = lo;
        for (size_t i = lo; i < hi; i++)
            if (key[i] < pivot)
                KEY_SWAP(i, store), store++;
        KEY_SWAP(store, hi);
#undef KEY_SWAP
        if (select_narrow(store, k, &lo, &hi))
            return;
    }
}

/* Lists of up to this many entries are selected as packed keys, on the stack. */
#define PACKED_MAX 1024

/* Puts the k smallest of n entries (by distance, then index) first, the k-th at k - 1.
 * `known_narrow`: every distance is known to be below 2^32 (32-bit tiles); else they are
 * looked at. */
static void cv_select(uint64_t *d, uint32_t *x, size_t n, size_t k, bool known_narrow)
{
    bool narrow = n <= PACKED_MAX;
    for (size_t i = 0; narrow && !known_narrow && i < n; i++)
        narrow = d[i] <= UINT32_MAX;
    if (narrow) {
        uint64_t key[PACKED_MAX];
        for (size_t i = 0; i < n; i++)
            key[i] = d[i] << 32 | x[i];
        select_keys(key, n, k);
        for (size_t i = 0; i < n; i++) {
            d[i] = key[i] >> 32;
            x[i] = (uint32_t)key[i];
        }
        return;
    }
    size_t lo = 0, hi = n - 1; /* the k-th lies in [lo, hi] */
    while (lo < hi) {
        const size_t mid = lo + (hi - lo) / 2; /* median of three as the pivot, at hi */
        if (knn__worse(d[lo], x[lo], d[mid], x[mid]))
            entry_swap(d, x, lo, mid);
        if (knn__worse(d[mid], x[mid], d[hi], x[hi]))
            entry_swap(d, x, mid, hi);
        if (knn__worse(d[lo], x[lo], d[mid], x[mid]))
            entry_swap(d, x, lo, mid);
        entry_swap(d, x, mid, hi);
        const uint64_t pd = d[hi];
        const uint32_t px = x[hi];
        size_t store = lo;
        for (size_t i = lo; i < hi; i++)
            if (knn__worse(pd, px, d[i], x[i])) /* entry i before the pivot */
                entry_swap(d, x, i, store++);
        entry_swap(d, x, store, hi);
        if (select_narrow(store, k, &lo, &hi))
            return;
    }
}

/* Offers candidates [0, n) of a tile row of the given width, with indices ids[j], to list s. */
KNN__ALWAYS_INLINE void list_offer(const cv_job *job, size_t s, const void *dist, bool wide,
                                   size_t n, const uint32_t *ids)
{
    const size_t k = (size_t)job->nb->k, cap = k + BUFFER_OF(k);
    uint64_t *ld = job->nb->dist + s * cap;
    uint32_t *lx = job->nb->index + s * cap;
    size_t size = (size_t)job->size[s];
    uint64_t threshold = job->threshold[s];
    uint32_t threshold_index = job->threshold_index[s];
    for (size_t j = 0; j < n; j += 16) {
        const size_t m = n - j < 16 ? n - j : 16;
        unsigned bits = 0;
        if (!wide && m == 16)
            bits = knn__at_most16((const uint32_t *)dist + j, (uint32_t)threshold);
        else
            for (size_t t = 0; t < m; t++)
                bits |= (unsigned)(knn__tile_get(dist, wide, j + t) <= threshold) << t;
        for (; bits; bits &= bits - 1) {
            const size_t c = j + (size_t)__builtin_ctz(bits);
            const uint64_t d = knn__tile_get(dist, wide, c);
            /* after the K-th (the threshold may have fallen within this group; equal
             * distances, as of duplicate rows, are told apart by index) */
            if (knn__worse(d, ids[c], threshold, threshold_index))
                continue;
            ld[size] = d;
            lx[size++] = ids[c];
            if (size == cap) {
                cv_select(ld, lx, cap, k, !wide);
                size = k;
                threshold = ld[k - 1];
                threshold_index = lx[k - 1];
            }
        }
    }
    job->size[s] = (int)size;
    job->threshold[s] = threshold;
    job->threshold_index[s] = threshold_index;
}


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
    list_offer(job, (size_t)job->slot[r], dist, wide, n, job->id + first);
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

/* The columns' side of a pair of blocks without a transposition (32-bit tiles, no
 * exclusions): the tile is read row by row, 16 columns at a time, each distance against its
 * own column's threshold (thr, at most 2^32 - 1, kept as the lists' thresholds fall), and a
 * candidate goes to its column's list as list_offer would take it. Each column's list gets
 * its candidates in row order, as from the transposed row, so the lists are the same. The
 * transposition and the second pass over it were a tenth of a 60,000-row pass. */
static void offer_columns(const cv_job *job, const uint32_t *tile, size_t ni, size_t nj,
                          size_t i0, size_t j0)
{
    const size_t k = (size_t)job->nb->k, cap = k + BUFFER_OF(k);
    uint32_t thr[BLOCK];
    unsigned want[BLOCK / 16] = {0};
    for (size_t j = 0; j < nj; j++) {
        const int64_t s = job->slot[j0 + j];
        const uint64_t t = s < 0 ? 0 : job->threshold[s];
        thr[j] = t > UINT32_MAX ? UINT32_MAX : (uint32_t)t;
        want[j / 16] |= (unsigned)(s >= 0) << (j % 16);
    }
    for (size_t i = 0; i < ni; i++) {
        const uint32_t *row = tile + i * nj, id = job->id[i0 + i];
        for (size_t j = 0; j < nj; j += 16) {
            unsigned bits = 0;
            if (nj - j >= 16)
                bits = knn__at_most16_each(row + j, thr + j);
            else
                for (size_t t = 0; j + t < nj; t++)
                    bits |= (unsigned)(row[j + t] <= thr[j + t]) << t;
            for (bits &= want[j / 16]; bits; bits &= bits - 1) {
                const size_t c = j + (size_t)__builtin_ctz(bits);
                const size_t s = (size_t)job->slot[j0 + c];
                const uint64_t d = row[c];
                if (knn__worse(d, id, job->threshold[s], job->threshold_index[s]))
                    continue;
                uint64_t *ld = job->nb->dist + s * cap;
                uint32_t *lx = job->nb->index + s * cap;
                size_t size = (size_t)job->size[s];
                ld[size] = d;
                lx[size++] = id;
                if (size == cap) {
                    cv_select(ld, lx, cap, k, true);
                    size = k;
                    job->threshold[s] = ld[k - 1];
                    job->threshold_index[s] = lx[k - 1];
                    thr[c] = ld[k - 1] > UINT32_MAX ? UINT32_MAX : (uint32_t)ld[k - 1];
                }
                job->size[s] = (int)size;
            }
        }
    }
}

/* out (nj, ni) = the transpose of tile (ni, nj), both of the given width. */
KNN__ALWAYS_INLINE void transpose(const void *tile, bool wide, size_t ni, size_t nj, void *out)
{
    /* in 16 x 16 blocks: a row at a time, the stores fell on 128 lines 512 bytes apart, which
     * share a few cache sets (5% of a 60,000-row pass) */
    for (size_t i0 = 0; i0 < ni; i0 += 16)
        for (size_t j0 = 0; j0 < nj; j0 += 16)
            for (size_t j = j0; j < j0 + 16 && j < nj; j++)
                for (size_t i = i0; i < i0 + 16 && i < ni; i++)
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
    if (I != J && pl->block_wanted[J] && !wide && !mask) {
        knn__lock_take(&pl->locks[J]);
        offer_columns(job, (const uint32_t *)tile, ni, nj, i0, j0);
        knn__lock_give(&pl->locks[J]);
    } else if (I != J && pl->block_wanted[J]) { /* wide tiles, or exclusions: transposed */
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
static bool cv_lists(knn_neighbors *nb, size_t nwanted, int kmax, size_t room,
                     knn_metric metric, knn_dtype dtype)
{
    nb->nq = nwanted;
    nb->k = kmax;
    nb->metric = metric;
    nb->dtype = dtype;
    nb->index = malloc((nwanted ? nwanted : 1) * room * sizeof *nb->index);
    nb->dist = malloc((nwanted ? nwanted : 1) * room * sizeof *nb->dist);
    return nb->index && nb->dist;
}

/* The buffered lists (room entries a row, size[s] used) into nb's own: each row's K smallest
 * in increasing (distance, index) order, K entries a row. */
static void cv_lists_finish(knn_neighbors *nb, size_t room, const int *size)
{
    const size_t k = (size_t)nb->k;
    for (size_t s = 0; s < nb->nq; s++) {
        uint64_t *ld = nb->dist + s * room;
        uint32_t *lx = nb->index + s * room;
        size_t n = (size_t)size[s];
        if (n > k) {
            cv_select(ld, lx, n, k, false);
            n = k;
        }
        for (size_t i = n / 2; i-- > 0;) /* a max-heap, then its ascending order */
            heap_sift_down(ld, lx, (int)n, (int)i);
        heap_sort(ld, lx, (int)n);
        memmove(nb->dist + s * k, ld, n * sizeof *ld); /* rows move down, in order */
        memmove(nb->index + s * k, lx, n * sizeof *lx);
        for (size_t j = n; j < k; j++) { /* fewer candidates than K (not from knn_cv) */
            nb->dist[s * k + j] = KNN__NO_DIST;
            nb->index[s * k + j] = KNN__NO_ROW;
        }
    }
    const size_t rows = nb->nq ? nb->nq : 1;
    uint64_t *d = realloc(nb->dist, rows * k * sizeof *d);
    uint32_t *x = realloc(nb->index, rows * k * sizeof *x);
    nb->dist = d ? d : nb->dist;
    nb->index = x ? x : nb->index;
}

/* Text: every validation row's list among the other folds' rows, one query at a time through
 * the inverted index (no symmetric pass: a sparse dot product serves one pair of rows only
 * where both hold a term, so halving the pairs would save little). */
static knn_status sparse_cv_search(const knn_dataset *ds, const int32_t *fold_of,
                                   const int64_t *slot, size_t nwanted, int kmax,
                                   const knn_cv_options *o, knn_neighbors **out)
{
    knn_neighbors *nb = calloc(1, sizeof *nb);
    if (!nb || !cv_lists(nb, nwanted, kmax, (size_t)kmax, KNN_COSINE, ds->dtype)) {
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

/* The pass runs over the rows grouped by fold, each fold's rows in their order (a stable
 * counting sort), so that a block lies in one fold except at the folds' boundaries: pairs of
 * blocks inside one fold are skipped, and no other pair needs its own fold's candidates
 * masked. Where folds are drawn at random, every block of the data set's own order mixes
 * all folds: every distance of a row's own fold was computed and then masked, a fifth of
 * the work at 5 folds, and every candidate went through the mask. The rows, their norms,
 * folds and slots are gathered in that order; the lists keep the data set's indices (`id`),
 * so they, and their order on (distance, index), do not change. Where memory is short for
 * the copy, the pass runs on the data set's own order. */
typedef struct {
    uint32_t *id;            /* (n) position -> row of ds                               */
    int32_t *fold_of;        /* (n) by position                                         */
    int64_t *slot;           /* (n) by position                                         */
    uint8_t *rows;           /* the rows gathered (aligned), or NULL: ds's own order    */
    uint32_t *qnorm, *tnorm; /* (chunks, n) gathered, or NULL                          */
} cv_grouping;

static void cv_grouping_free(cv_grouping *g)
{
    free(g->id);
    free(g->fold_of);
    free(g->slot);
    free(g->rows);
    free(g->qnorm);
    free(g->tnorm);
}

static bool cv_grouping_make(cv_grouping *g, const knn_dataset *ds, const uint8_t *rows,
                             const int32_t *fold_of, const int64_t *slot, size_t chunks,
                             const uint32_t *qnorm, const uint32_t *tnorm)
{
    memset(g, 0, sizeof *g);
    const size_t n = ds->count;
    int32_t folds = 0;
    for (size_t i = 0; i < n; i++)
        folds = fold_of[i] + 1 > folds ? fold_of[i] + 1 : folds;
    size_t *start = calloc((size_t)folds + 1, sizeof *start);
    g->id = malloc((n ? n : 1) * sizeof *g->id);
    g->fold_of = malloc((n ? n : 1) * sizeof *g->fold_of);
    g->slot = malloc((n ? n : 1) * sizeof *g->slot);
    if (!start || !g->id || !g->fold_of || !g->slot) {
        free(start);
        return false;
    }
    for (size_t i = 0; i < n; i++)
        start[fold_of[i] + 1]++;
    for (int32_t f = 0; f < folds; f++)
        start[f + 1] += start[f];
    bool identity = true;
    for (size_t i = 0; i < n; i++) {
        const size_t p = start[fold_of[i]]++;
        g->id[p] = (uint32_t)i;
        identity &= p == i;
    }
    free(start);
    for (size_t p = 0; p < n; p++) {
        g->fold_of[p] = fold_of[g->id[p]];
        g->slot[p] = slot[g->id[p]];
    }
    const size_t bytes = (n * ds->stride + KNN__ALIGN - 1) / KNN__ALIGN * KNN__ALIGN;
    if (identity)
        return true; /* folds already contiguous: ds's own rows and norms */
    if (knn__memory_fits(bytes + 2 * chunks * n * sizeof(uint32_t))) {
        g->rows = aligned_alloc(KNN__ALIGN, bytes ? bytes : KNN__ALIGN);
        g->qnorm = qnorm ? malloc(chunks * n * sizeof *g->qnorm) : NULL;
        g->tnorm = tnorm ? malloc(chunks * n * sizeof *g->tnorm) : NULL;
    }
    if (!g->rows || (qnorm && !g->qnorm) || (tnorm && !g->tnorm)) {
        /* no room for the copy: the pass on ds's own order, as with contiguous folds */
        free(g->rows), free(g->qnorm), free(g->tnorm);
        g->rows = NULL, g->qnorm = g->tnorm = NULL;
        for (size_t i = 0; i < n; i++) {
            g->id[i] = (uint32_t)i;
            g->fold_of[i] = fold_of[i];
            g->slot[i] = slot[i];
        }
        return true;
    }
    for (size_t p = 0; p < n; p++)
        memcpy(g->rows + p * ds->stride, rows + (size_t)g->id[p] * ds->stride, ds->stride);
    for (size_t c = 0; c < chunks && qnorm; c++)
        for (size_t p = 0; p < n; p++) {
            g->qnorm[c * n + p] = qnorm[c * n + g->id[p]];
            g->tnorm[c * n + p] = tnorm[c * n + g->id[p]];
        }
    return true;
}

/* The pass over a shard (knn_shard): each shard's validated rows are passed to every
 * process in turn (its broadcast), in chunks of at most 64 MiB (or one row), and every
 * process lists each row's nearest among its own rows of the other folds
 * (knn__search_folds); the lists of all processes are then merged (its reduce) into each
 * row's list among all rows of the other folds, the single process's list. Every pair of a
 * validated row and another costs a distance for the validated row, where the single
 * process's symmetric pass serves both rows of a pair with one. */
static knn_status shard_cv_search(const knn_dataset *ds, const int32_t *fold_of,
                                  const int64_t *slot, size_t nwanted, knn_metric metric,
                                  int kmax, const knn_cv_options *o, knn_neighbors **out)
{
    const size_t n = ds->count, k = (size_t)kmax, stride = ds->stride;
    /* whole query tiles of 128 rows where 64 MiB holds them; else as many rows as it holds
     * (at least one: long rows) */
    size_t chunk = ((size_t)64 << 20) / stride;
    chunk = chunk >= 128 ? chunk / 128 * 128 : chunk ? chunk : 1;
    const int count = ds->shard.count;
    knn_neighbors *nb = calloc(1, sizeof *nb);
    uint8_t *rows = aligned_alloc(KNN__ALIGN, chunk * stride);
    /* the validated rows (slot >= 0, numbered in increasing order): all rows in k-fold
     * cross-validation, the held-out ones in hold-out mode; only they travel and are
     * searched. Shard j's are wanted[from[j], from[j + 1]). */
    size_t *wanted = malloc((nwanted ? nwanted : 1) * sizeof *wanted);
    size_t *from = malloc(((size_t)count + 1) * sizeof *from);
    int32_t *qfold = malloc(chunk * sizeof *qfold);
    size_t entries = 0;
    if (!nb || !rows || !wanted || !from || !qfold ||
        !knn__mul_ok(nwanted ? nwanted : 1, k, &entries) ||
        !cv_lists(nb, nwanted, kmax, k, metric, ds->dtype)) {
        knn_neighbors_free(nb);
        free(rows);
        free(wanted);
        free(from);
        free(qfold);
        return knn__fail(KNN_ERR_NOMEM, "out of memory for cross-validating %zu rows", n);
    }
    for (size_t i = 0; i < n; i++)
        if (slot[i] >= 0)
            wanted[slot[i]] = i;
    size_t chunks_done = 0, chunks = 0;
    from[0] = 0;
    for (int j = 0; j < count; j++) {
        size_t lo, hi, b = from[j];
        knn_shard_rows(n, j, count, &lo, &hi);
        while (b < nwanted && wanted[b] < hi)
            b++;
        from[j + 1] = b;
        chunks += (b - from[j] + chunk - 1) / chunk;
    }
    knn_status st = KNN_OK;
    for (int j = 0; !st && j < count; j++) {
        for (size_t c0 = from[j]; !st && c0 < from[j + 1]; c0 += chunk) {
            const size_t b = from[j + 1];
            const size_t m = b - c0 < chunk ? b - c0 : chunk;
            for (size_t i = 0; j == ds->shard.index && i < m; i++)
                memcpy(rows + i * stride, ds->rows + (wanted[c0 + i] - ds->row_lo) * stride,
                       stride);
            if ((st = knn__shard_broadcast(&ds->shard, rows, m * stride, j)))
                break;
            /* the chunk as queries: a data set over the rows received (never freed) */
            knn_dataset q = {.count = m, .dim = ds->dim, .dtype = ds->dtype, .stride = stride,
                             .rows = rows, .source = ds->source};
            for (size_t i = 0; i < m; i++)
                qfold[i] = fold_of[wanted[c0 + i]];
            knn_neighbors *part = NULL;
            st = knn__search_folds(ds, &q, metric, kmax, o->threads, qfold, fold_of, &part);
            if (!st) { /* the lists of validated rows c0.. are nb's rows c0.. */
                memcpy(nb->dist + c0 * k, part->dist, m * k * 8);
                memcpy(nb->index + c0 * k, part->index, m * k * 4);
            }
            knn_neighbors_free(part);
            if (!st && o->progress)
                o->progress(++chunks_done, chunks + 1, o->progress_user);
        }
    }
    free(wanted);
    free(from);
    free(qfold);
    free(rows);
    if (!st)
        st = knn__neighbors_reduce(ds, nb);
    if (st) {
        knn_neighbors_free(nb);
        return st;
    }
    *out = nb;
    return KNN_OK;
}

static knn_status cv_search(const knn_dataset *ds, const int32_t *fold_of, const int64_t *slot,
                            size_t nwanted, knn_metric metric, int kmax, const knn_cv_options *o,
                            int part, int parts, knn_neighbors **out)
{
    const size_t n = ds->count;
    if (ds->sharded)
        return shard_cv_search(ds, fold_of, slot, nwanted, metric, kmax, o, out);
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
    bool ok = nb && size && rows && (!norms || (qnorm && tnorm));
    if (ok && norms)
        knn__query_norms(&dist, ds->rows, n, n, qnorm);
    /* the lists first (twice their final size while the pass runs), so that the copy of
     * the rows by fold is only made where memory remains for it */
    size_t room = 0, entries = 0;
    ok = ok && knn__mul_ok((size_t)kmax, 2, &room) && knn__mul_ok(nwanted, room, &entries) &&
         knn__mul_ok(entries, sizeof(uint64_t) + sizeof(uint32_t), &entries);
    uint64_t *threshold = malloc((nwanted ? nwanted : 1) * sizeof *threshold);
    uint32_t *threshold_index = malloc((nwanted ? nwanted : 1) * sizeof *threshold_index);
    ok = ok && threshold && threshold_index &&
         cv_lists(nb, nwanted, kmax, room, metric, ds->dtype);
    for (size_t s = 0; ok && s < nwanted; s++) { /* nothing taken yet: all but excluded rows */
        threshold[s] = knn__tile_max(knn__wide(&dist)) - 1;
        threshold_index[s] = UINT32_MAX;
    }
    cv_grouping g = {0};
    ok = ok && cv_grouping_make(&g, ds, rows, fold_of, slot, norms ? dist.chunks : 0,
                                norms ? qnorm : NULL, norms ? tnorm : NULL);
    cv_plan plan = {0};
    ok = ok && cv_plan_make(&plan, n, g.fold_of, g.slot);
    const char *what = "out of memory for cross-validating %zu rows";
    if (ok) {
        cv_job job = {ds,
                      g.fold_of,
                      g.slot,
                      g.id,
                      dist,
                      g.qnorm ? g.qnorm : qnorm,
                      g.tnorm ? g.tnorm : tnorm,
                      g.rows ? g.rows : rows,
                      nb,
                      size,
                      threshold,
                      threshold_index};
        ok = cv_run(&job, &plan, threads, o, part, parts);
        what = "out of memory for the cross-validation's tiles of %zu rows";
    }
    if (ok)
        cv_lists_finish(nb, room, size);
    cv_plan_free(&plan);
    free(threshold);
    free(threshold_index);
    cv_grouping_free(&g);
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

/* Every row's list among the other folds, for the tests (internal.h). */
knn_status knn__cv_lists(const knn_dataset *ds, const int32_t *fold_of, knn_metric metric,
                         int kmax, int threads, knn_neighbors **out)
{
    *out = NULL;
    const size_t n = ds->count;
    if (kmax < 1 || (size_t)kmax > n)
        return knn__fail(KNN_ERR_ARG, "K = %d for %zu rows", kmax, n);
    int64_t *slot = malloc((n ? n : 1) * sizeof *slot);
    if (!slot)
        return knn__fail(KNN_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        slot[i] = (int64_t)i;
    knn_cv_options o;
    memset(&o, 0, sizeof o);
    o.threads = threads;
    const knn_status st = cv_search(ds, fold_of, slot, n, metric, kmax, &o, 0, 1, out);
    free(slot);
    return st;
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
