/* vote.c: from neighbours to labels and class scores (DESIGN.md decision 4).
 *
 * Each of the first K neighbours votes for its label: weight 1 (uniform), or 1 / distance
 * (distance weights, true L2 distance for L2); neighbours at distance 0, if any, decide alone
 * with weight 1 each. Classes are ranked by total vote, and a tie is broken by the rule:
 * `nearest` prefers the tied class whose nearest neighbour comes first in the sorted list,
 * `smallest-label` the smallest label. Only the classes that got votes (at most K) are
 * sorted that way, so the vote costs O(K^2 + C) per query without a ranking.
 *
 * Classes that got no vote follow, ordered by the distance of their own nearest training
 * row to the query (then its index, then the label), which knn_search records per class.
 * Listing them by label instead gave low labels free top-5 hits: Fashion-MNIST's test set
 * at K = 1 had 92.58% top-5 accuracy that way against 99.68% ranked by distance
 * (bench/README.md). Neighbours without those minima (cross-validation's own pass, or
 * built by hand) keep the label order. The ranking sorts the C - n unvoted classes:
 * O(C log C) per query, 33 us at 1,000 classes. */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    double *score;  /* (C) total vote                                  */
    int *first_pos; /* (C) position of the class's nearest neighbour, or -1 */
    int32_t *voted; /* (K) the classes that got votes, in order met    */
} vote_work;

/* Does class a rank before class b? */
static bool ranks_before(const vote_work *w, knn_ties ties, int32_t a, int32_t b)
{
    if (w->score[a] != w->score[b])
        return w->score[a] > w->score[b];
    if (ties == KNN_TIES_NEAREST && w->first_pos[a] != w->first_pos[b])
        return w->first_pos[a] < w->first_pos[b];
    return a < b;
}

/* A class without a vote, keyed by its nearest training row: (distance, index), or for a
 * class without rows (KNN__NO_DIST, label), above every real key (real distances stay below
 * 2^40), so that those follow by label. Keys are distinct: one row belongs to one class. Two
 * fields, since a distance of a long row (up to 2^40) and an index (2^31) pass 64 bits. */
typedef struct {
    uint64_t dist;
    uint32_t tie; /* the row's index, or the label of a class without rows */
    int32_t label;
} unvoted;

static inline bool key_less(const unvoted *a, uint64_t dist, uint32_t tie)
{
    return a->dist < dist || (a->dist == dist && a->tie < tie);
}

static inline bool key_greater(const unvoted *a, uint64_t dist, uint32_t tie)
{
    return a->dist > dist || (a->dist == dist && a->tie > tie);
}

static void swap_unvoted(unvoted *a, unvoted *b)
{
    unvoted t = *a;
    *a = *b;
    *b = t;
}

/* Sorts by key: a quicksort with the comparison inlined, which took the vote's ranking of
 * 1,000 classes from 0.77 s (qsort) to 0.36 s for 10,000 queries (bench/README.md). */
static void sort_unvoted(unvoted *a, size_t n)
{
    while (n > 16) {
        const unvoted *x = &a[0], *y = &a[n / 2], *z = &a[n - 1];
        const unvoted *median = key_less(x, y->dist, y->tie)
                                    ? (key_less(y, z->dist, z->tie)   ? y
                                       : key_less(x, z->dist, z->tie) ? z
                                                                      : x)
                                    : (key_less(x, z->dist, z->tie)   ? x
                                       : key_less(y, z->dist, z->tie) ? z
                                                                      : y);
        const uint64_t pivot = median->dist;
        const uint32_t pivot_tie = median->tie;
        size_t i = 0, j = n - 1;
        for (;;) { /* Hoare: the pivot's key stops both scans, so neither leaves the array */
            while (key_less(&a[i], pivot, pivot_tie))
                i++;
            while (key_greater(&a[j], pivot, pivot_tie))
                j--;
            if (i >= j)
                break;
            swap_unvoted(&a[i++], &a[j--]);
        }
        /* [0, j] <= pivot <= [j + 1, n): sort the smaller part by recursion (depth log n) */
        if (j + 1 < n - j - 1) {
            sort_unvoted(a, j + 1);
            a += j + 1;
            n -= j + 1;
        } else {
            sort_unvoted(a + j + 1, n - j - 1);
            n = j + 1;
        }
    }
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && key_less(&a[j], a[j - 1].dist, a[j - 1].tie); j--)
            swap_unvoted(&a[j], &a[j - 1]);
}

/* Fills r[at .. C) with the classes not `seen`: ordered by their nearest training row to
 * query q when nb has the class minima (buf: C entries), by label otherwise (buf NULL). */
static void rank_unvoted(const knn_neighbors *nb, size_t q, int C, const bool *seen, int at,
                         unvoted *buf, int32_t *r)
{
    if (!buf) {
        for (int32_t c = 0; c < C; c++)
            if (!seen[c])
                r[at++] = c;
        return;
    }
    const uint64_t *md = nb->class_dist + q * (size_t)C;
    const uint32_t *mi = nb->class_index + q * (size_t)C;
    size_t n = 0;
    for (int32_t c = 0; c < C; c++)
        if (!seen[c])
            buf[n++] = mi[c] == KNN__NO_ROW ? (unvoted){KNN__NO_DIST, (uint32_t)c, c}
                                            : (unvoted){md[c], mi[c], c};
    sort_unvoted(buf, n);
    for (size_t i = 0; i < n; i++)
        r[at + (int)i] = buf[i].label;
}

/* Tallies query q's votes into w and sets *nvoted to the number of classes voted for. A
 * neighbour that is not a row of train, or whose label is not a class, is an error: the
 * labels were checked when loaded, but a model file is mapped, and a mapped file is untrusted
 * memory that can change after its checks. */
static knn_status tally(const knn_dataset *train, const knn_neighbors *nb, const knn_params *p,
                        size_t q, vote_work *w, double *total, int *nvoted_out)
{
    const uint32_t *idx = nb->index + q * (size_t)nb->k;
    const uint64_t *dist = nb->dist + q * (size_t)nb->k;
    bool exact_match = p->weights == KNN_WEIGHTS_DISTANCE && dist[0] == 0;
    int nvoted = 0;
    *total = 0;
    for (int j = 0; j < p->k; j++) {
        if (idx[j] >= train->count)
            return knn__fail(KNN_ERR_ARG, "%s: neighbour %u is not one of its %zu rows: the "
                                          "neighbours come from another training set",
                             train->source, idx[j], train->count);
        int32_t c = train->labels[idx[j]];
        if (c < 0 || c >= train->num_classes)
            return knn__fail(KNN_ERR_FORMAT, "%s: label %d of row %u is outside 0..%d (did the "
                                             "file change while in use?)",
                             train->source, (int)c, idx[j], train->num_classes - 1);
        double weight = 1.0;
        if (exact_match)
            weight = dist[j] == 0 ? 1.0 : 0.0;
        else if (p->weights == KNN_WEIGHTS_DISTANCE)
            weight = 1.0 / knn__distance_value(nb, dist[j]);
        if (weight == 0.0 && exact_match)
            continue; /* beside an exact match: no vote at all, ranked with the unvoted */
        if (!(weight > 0.0)) /* infinite float distances: count them as uniform votes */
            weight = 1.0;
        if (w->first_pos[c] < 0) {
            w->first_pos[c] = j;
            w->voted[nvoted++] = c;
        }
        w->score[c] += weight;
        *total += weight;
    }
    *nvoted_out = nvoted;
    return KNN_OK;
}

knn_status knn_vote(const knn_dataset *train, const knn_neighbors *nb, const knn_params *p,
                    int32_t *pred, float *scores, int32_t *ranking)
{
    if (!train->labels)
        return knn__fail(KNN_ERR_ARG, "%s: the training set has no labels", train->source);
    if (p->k < 1 || p->k > nb->k)
        return knn__fail(KNN_ERR_ARG, "vote with K = %d needs 1 <= K <= %d (the search's K)",
                         p->k, nb->k);
    const int C = train->num_classes;
    vote_work w;
    w.score = calloc((size_t)C, sizeof *w.score);
    w.first_pos = malloc((size_t)C * sizeof *w.first_pos);
    w.voted = malloc((size_t)p->k * sizeof *w.voted);
    bool *seen = ranking ? calloc((size_t)C, sizeof *seen) : NULL;
    /* the class minima of another training set (other C) cannot rank these classes */
    const bool minima = ranking && nb->classes == C && nb->class_dist && nb->class_index;
    unvoted *buf = minima ? malloc((size_t)C * sizeof *buf) : NULL;
    if (!w.score || !w.first_pos || !w.voted || (ranking && !seen) || (minima && !buf)) {
        free(w.score);
        free(w.first_pos);
        free(w.voted);
        free(seen);
        free(buf);
        return knn__fail(KNN_ERR_NOMEM, "out of memory for the vote");
    }
    memset(w.first_pos, -1, (size_t)C * sizeof *w.first_pos);
    knn_status st = KNN_OK;
    for (size_t q = 0; q < nb->nq; q++) {
        double total;
        int n = 0;
        if ((st = tally(train, nb, p, q, &w, &total, &n)))
            break;
        /* insertion sort of the voted classes: n <= K */
        for (int i = 1; i < n; i++) {
            int32_t c = w.voted[i];
            int j = i;
            for (; j > 0 && ranks_before(&w, p->ties, c, w.voted[j - 1]); j--)
                w.voted[j] = w.voted[j - 1];
            w.voted[j] = c;
        }
        pred[q] = w.voted[0];
        if (scores) {
            float *s = scores + q * (size_t)C;
            memset(s, 0, (size_t)C * sizeof *s);
            for (int i = 0; i < n; i++)
                s[w.voted[i]] = (float)(w.score[w.voted[i]] / total);
        }
        if (ranking) {
            int32_t *r = ranking + q * (size_t)C;
            for (int i = 0; i < n; i++) {
                r[i] = w.voted[i];
                seen[w.voted[i]] = true;
            }
            rank_unvoted(nb, q, C, seen, n, buf, r);
            for (int i = 0; i < n; i++)
                seen[w.voted[i]] = false;
        }
        for (int i = 0; i < n; i++) {
            w.score[w.voted[i]] = 0;
            w.first_pos[w.voted[i]] = -1;
        }
    }
    free(w.score);
    free(w.first_pos);
    free(w.voted);
    free(seen);
    free(buf);
    return st;
}
