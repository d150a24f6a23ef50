/* sparse.c: the cosine search of text data sets (DESIGN.md decision 15).
 *
 * Rows are unit-length tf-idf vectors, so 1 - cos is 1 - the dot product. The training rows
 * are turned once into an inverted index (for each term, the rows holding it, in increasing
 * order, with their weights; cached in the data set like the norms of the dense search).
 * A query's dot products are accumulated into one float per training row: for each of its
 * terms in increasing order, the term's postings add w_query x w_row. Every row's sum thus
 * adds the products of the terms it shares with the query in increasing term order, which is
 * exactly what a dense scan summing q[t] x r[t] over every t in order computes (the zero
 * products add nothing, exactly), so the dense reference below gives the same bits. Then
 * the distances 1 - dot (clamped at 0) go through the same bounded top-K as every search,
 * ordered by (distance, index), and each class's nearest row is kept for the ranking.
 *
 * Threads take queries; each holds one accumulator of training-set size. Memory: the
 * postings (nnz x 8 bytes), plus 12 bytes a training row per thread (the accumulator, the
 * list of rows touched, the distances of the full scan). */
#include "parallel.h"
#include "text.h"
#include "topk.h"

#include <stdlib.h>
#include <string.h>

struct knn__postings {
    uint64_t *start; /* (terms + 1) */
    uint32_t *row;   /* (nnz) */
    float *w;        /* (nnz) */
};

void knn__postings_free(struct knn__postings *p)
{
    if (!p)
        return;
    free(p->start);
    free(p->row);
    free(p->w);
    free(p);
}

/* The inverted index of ds's rows (the first count of them), built by the first search and
 * kept (compare-and-swap: searches may run at once); NULL when out of memory. */
static const struct knn__postings *postings_of(const knn_dataset *ds)
{
    struct knn__postings *p = atomic_load(&ds->sparse->postings);
    if (p)
        return p;
    const size_t n = ds->count, terms = ds->dim;
    const uint64_t *indptr = ds->sparse->indptr;
    const size_t nnz = (size_t)indptr[n];
    if (!knn__memory_fits(nnz * 8 + (terms + 1) * 8))
        return NULL;
    p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->start = calloc(terms + 1, sizeof *p->start);
    p->row = malloc((nnz ? nnz : 1) * sizeof *p->row);
    p->w = malloc((nnz ? nnz : 1) * sizeof *p->w);
    if (!p->start || !p->row || !p->w) {
        knn__postings_free(p);
        return NULL;
    }
    for (size_t j = 0; j < nnz; j++)
        p->start[ds->sparse->indices[j] + 1]++;
    for (size_t t = 0; t < terms; t++)
        p->start[t + 1] += p->start[t];
    uint64_t *fill = malloc((terms ? terms : 1) * sizeof *fill);
    if (!fill) {
        knn__postings_free(p);
        return NULL;
    }
    memcpy(fill, p->start, terms * sizeof *fill);
    for (size_t i = 0; i < n; i++) /* rows in increasing order within each term */
        for (uint64_t j = indptr[i]; j < indptr[i + 1]; j++) {
            const uint64_t at = fill[ds->sparse->indices[j]]++;
            p->row[at] = (uint32_t)i;
            p->w[at] = ds->sparse->values[j];
        }
    free(fill);
    struct knn__postings *expected = NULL;
    if (!atomic_compare_exchange_strong(&ds->sparse->postings, &expected, p)) {
        knn__postings_free(p); /* another search built it first */
        return expected;
    }
    return p;
}

/* The threads of a search: t, or OpenMP's default for 0. */
static int threads_of(int t)
{
#ifdef _OPENMP
    return t > 0 ? t : omp_get_max_threads();
#else
    (void)t;
    return 1;
#endif
}

/* A distance as stored: the bits of the non-negative float 1 - dot. */
static inline uint32_t cosine_bits(float dot)
{
    float d = 1.0f - dot;
    if (!(d > 0.0f))
        d = 0.0f;
    uint32_t bits;
    memcpy(&bits, &d, sizeof bits);
    return bits;
}

/* One thread's memory for its queries: an accumulator per training row (zero between
 * queries), the rows it touched (those with a non-zero dot product, in the order met), and
 * room for every row's distance where the full scan is needed. */
typedef struct {
    float *acc;
    uint32_t *touched, *bits;
    size_t ntouched;
} scratch;

static bool scratch_init(scratch *s, size_t n)
{
    s->acc = calloc(n ? n : 1, sizeof *s->acc);
    s->touched = malloc((n ? n : 1) * sizeof *s->touched);
    s->bits = malloc((n ? n : 1) * sizeof *s->bits);
    s->ntouched = 0;
    return s->acc && s->touched && s->bits;
}

static void scratch_free(scratch *s)
{
    free(s->acc);
    free(s->touched);
    free(s->bits);
}

/* s->acc := the dot products of the query row (terms, values, m) with the training rows; a
 * row is listed in s->touched when its sum first becomes non-zero (products are positive,
 * so it never returns to zero: each row is listed once). */
static void accumulate(const struct knn__postings *p, const uint32_t *terms,
                       const float *values, size_t m, scratch *s)
{
    float *acc = s->acc;
    for (size_t j = 0; j < m; j++) {
        const float wq = values[j];
        const uint64_t end = p->start[terms[j] + 1];
        for (uint64_t a = p->start[terms[j]]; a < end; a++) {
            const uint32_t r = p->row[a];
            const float before = acc[r], product = wq * p->w[a];
            acc[r] = before + product;
            if (before == 0.0f && acc[r] != 0.0f)
                s->touched[s->ntouched++] = r;
        }
    }
}

/* Zeroes what the last query touched. */
static void clear(scratch *s)
{
    for (size_t i = 0; i < s->ntouched; i++)
        s->acc[s->touched[i]] = 0.0f;
    s->ntouched = 0;
}

static inline void offer(uint64_t *hd, uint32_t *hi, int k, int *size, uint64_t d, uint32_t r)
{
    if (*size < k) {
        hd[*size] = d;
        hi[*size] = r;
        heap_sift_up(hd, hi, (*size)++);
    } else if (knn__worse(hd[0], hi[0], d, r)) {
        hd[0] = d;
        hi[0] = r;
        heap_sift_down(hd, hi, k, 0);
    }
}

#define ONE_BITS 0x3F800000u /* 1.0f: the distance of every row the query does not touch */

/* The query's sorted top-k into (dist, index) among the n training rows, leaving out the
 * rows of fold `own` where fold_of is not NULL. Rows not touched are at distance exactly 1,
 * so where k touched rows are nearer, the touched rows alone decide; otherwise every row's
 * distance is scanned, in index order. Either way the lists equal a scan of every row. */
static void select_query(scratch *s, size_t n, int k, const int32_t *fold_of, int32_t own,
                         uint64_t *dist, uint32_t *index)
{
    int size = 0;
    size_t nearer = 0;
    for (size_t i = 0; i < s->ntouched; i++) {
        const uint32_t r = s->touched[i];
        if (fold_of && fold_of[r] == own)
            continue;
        const uint32_t b = cosine_bits(s->acc[r]);
        nearer += b < ONE_BITS;
        offer(dist, index, k, &size, b, r);
    }
    if (nearer < (size_t)k) { /* some untouched rows belong in the list: scan them all */
        size = 0;
        for (size_t r = 0; r < n; r++)
            s->bits[r] = fold_of && fold_of[r] == own ? UINT32_MAX : cosine_bits(s->acc[r]);
        topk_offer(dist, index, k, &size, s->bits, false, n, 0);
    }
    heap_sort(dist, index, size);
    for (int j = size; j < k; j++) { /* fewer candidates than k: only in a caller's error */
        dist[j] = KNN__NO_DIST;
        index[j] = KNN__NO_ROW;
    }
}

/* Each class's nearest row (the first in (distance, index) order): untouched rows are at
 * distance 1, so a class's first row at 1 (first[c]; KNN__NO_ROW for a class without rows)
 * stands for all of them, and the touched rows are weighed one by one. False: a label out of
 * range (a mapped model changed under the search). */
static bool class_minima(const scratch *s, const int32_t *labels, const uint32_t *first,
                         int classes, uint64_t *cdist, uint32_t *cindex)
{
    for (int c = 0; c < classes; c++) {
        cdist[c] = first[c] == KNN__NO_ROW ? KNN__NO_DIST : ONE_BITS;
        cindex[c] = first[c];
    }
    for (size_t i = 0; i < s->ntouched; i++) {
        const uint32_t r = s->touched[i];
        const int32_t c = labels[r];
        if (c < 0 || c >= classes)
            return false;
        const uint32_t b = cosine_bits(s->acc[r]);
        if (b < cdist[c] || (b == cdist[c] && r < cindex[c])) {
            cdist[c] = b;
            cindex[c] = r;
        }
    }
    return true;
}

/* The first row of each class (KNN__NO_ROW where none); false: a label out of range. */
static bool first_rows(const int32_t *labels, size_t n, int classes, uint32_t *first)
{
    for (int c = 0; c < classes; c++)
        first[c] = KNN__NO_ROW;
    for (size_t r = n; r-- > 0;) {
        if (labels[r] < 0 || labels[r] >= classes)
            return false;
        first[labels[r]] = (uint32_t)r;
    }
    return true;
}

static knn_status check_pair(const knn_dataset *train, const knn_dataset *queries)
{
    if (!train->sparse || !train->text || !queries->sparse || !queries->text)
        return knn__fail(KNN_ERR_SHAPE, "%s is not vectorised", train->text ? queries->source
                                                                            : train->source);
    if (!knn__text_same(train->text, queries->text))
        return knn__fail(KNN_ERR_SHAPE, "%s and %s were vectorised with different vocabularies "
                                        "(load the queries like the training set)",
                         train->source, queries->source);
    return KNN_OK;
}

knn_status knn__sparse_search(const knn_dataset *train, const knn_dataset *queries,
                              const knn_params *p, knn_neighbors *nb)
{
    knn_status st = check_pair(train, queries);
    if (st)
        return st;
    const struct knn__postings *post = postings_of(train);
    if (!post)
        return knn__fail(KNN_ERR_NOMEM, "out of memory for the inverted index of %s",
                         train->source);
    const size_t n = train->count, nq = queries->count;
    const int k = p->k, classes = nb->classes;
    int failed = 0, bad_label = 0;
    size_t done = 0;
    uint32_t *first = malloc((classes ? (size_t)classes : 1) * sizeof *first);
    if (!first)
        return knn__fail(KNN_ERR_NOMEM, "out of memory");
    if (classes && !first_rows(train->labels, n, classes, first))
        bad_label = 1;
#pragma omp parallel num_threads(threads_of(p->threads)) if (nq > 1 && !bad_label)
    {
        scratch s;
        if (!scratch_init(&s, n))
            knn__flag_raise(&failed);
#pragma omp for schedule(dynamic, 4)
        for (size_t q = 0; q < nq; q++) {
            if (knn__flag_read(&failed) || knn__flag_read(&bad_label))
                continue;
            const uint32_t *terms;
            const float *values;
            size_t m = knn_dataset_row_sparse(queries, q, &terms, &values);
            accumulate(post, terms, values, m, &s);
            select_query(&s, n, k, NULL, 0, nb->dist + q * (size_t)k, nb->index + q * (size_t)k);
            if (classes && !class_minima(&s, train->labels, first, classes,
                                         nb->class_dist + q * (size_t)classes,
                                         nb->class_index + q * (size_t)classes))
                knn__flag_raise(&bad_label);
            clear(&s);
            size_t now = knn__work_done(&done);
            if (p->progress && now && now % 64 == 0)
                p->progress(now, nq, p->progress_user);
        }
        scratch_free(&s);
    }
    free(first);
    if (failed)
        return knn__fail(KNN_ERR_NOMEM, "out of memory for the search of %zu x %zu rows", nq, n);
    if (bad_label)
        return knn__fail(KNN_ERR_FORMAT, "%s: a label outside 0..%d (the model file changed "
                                         "while in use?)",
                         train->source, train->num_classes - 1);
    return KNN_OK;
}

knn_status knn__sparse_search_dense(const knn_dataset *train, const knn_dataset *queries,
                                    const knn_params *p, knn_neighbors *nb)
{
    knn_status st = check_pair(train, queries);
    if (st)
        return st;
    const size_t n = train->count, dim = train->dim;
    float *q = calloc(dim ? dim : 1, sizeof *q), *r = calloc(dim ? dim : 1, sizeof *r);
    uint32_t *bits = malloc((n ? n : 1) * sizeof *bits);
    bool ok = q && r && bits;
    for (size_t i = 0; ok && i < queries->count; i++) {
        const uint32_t *qt, *rt;
        const float *qv, *rv;
        size_t qm = knn_dataset_row_sparse(queries, i, &qt, &qv);
        for (size_t j = 0; j < qm; j++)
            q[qt[j]] = qv[j];
        for (size_t t = 0; t < n; t++) { /* every term, in order, zeros included */
            size_t rm = knn_dataset_row_sparse(train, t, &rt, &rv);
            for (size_t j = 0; j < rm; j++)
                r[rt[j]] = rv[j];
            float dot = 0;
            for (size_t d = 0; d < dim; d++) {
                const float product = q[d] * r[d];
                dot += product;
            }
            bits[t] = cosine_bits(dot);
            for (size_t j = 0; j < rm; j++)
                r[rt[j]] = 0;
        }
        for (size_t j = 0; j < qm; j++)
            q[qt[j]] = 0;
        /* the plain order: the j-th nearest is the smallest (distance, index) after the
         * (j-1)-th, found by a scan of every row; the class minima by a scan too */
        uint64_t pd = 0;
        uint32_t pi = 0;
        for (int j = 0; j < p->k; j++) {
            uint64_t bd = KNN__NO_DIST;
            uint32_t bi = KNN__NO_ROW;
            for (size_t t = 0; t < n; t++) {
                const bool after = j == 0 || bits[t] > pd || (bits[t] == pd && t > pi);
                if (after && (bits[t] < bd || (bits[t] == bd && t < bi))) {
                    bd = bits[t];
                    bi = (uint32_t)t;
                }
            }
            nb->dist[i * (size_t)p->k + (size_t)j] = pd = bd;
            nb->index[i * (size_t)p->k + (size_t)j] = pi = bi;
        }
        for (int c = 0; c < nb->classes; c++) {
            uint64_t *cd = nb->class_dist + i * (size_t)nb->classes + c;
            uint32_t *ci = nb->class_index + i * (size_t)nb->classes + c;
            *cd = KNN__NO_DIST;
            *ci = KNN__NO_ROW;
            for (size_t t = 0; t < n; t++)
                if (train->labels[t] == c && bits[t] < *cd) {
                    *cd = bits[t];
                    *ci = (uint32_t)t;
                }
        }
    }
    free(q);
    free(r);
    free(bits);
    return ok ? KNN_OK : knn__fail(KNN_ERR_NOMEM, "out of memory");
}

knn_status knn__sparse_cv(const knn_dataset *ds, const int32_t *fold_of, const int64_t *slot,
                          int k, int threads, knn_progress_fn progress, void *user,
                          knn_neighbors *nb)
{
    knn_status st = check_pair(ds, ds);
    if (st)
        return st;
    const struct knn__postings *post = postings_of(ds);
    if (!post)
        return knn__fail(KNN_ERR_NOMEM, "out of memory for the inverted index of %s",
                         ds->source);
    const size_t n = ds->count;
    int failed = 0;
    size_t done = 0;
#pragma omp parallel num_threads(threads_of(threads)) if (n > 1)
    {
        scratch s;
        if (!scratch_init(&s, n))
            knn__flag_raise(&failed);
#pragma omp for schedule(dynamic, 4)
        for (size_t i = 0; i < n; i++) {
            if (knn__flag_read(&failed) || slot[i] < 0)
                continue;
            const uint32_t *terms;
            const float *values;
            size_t m = knn_dataset_row_sparse(ds, i, &terms, &values);
            accumulate(post, terms, values, m, &s);
            const size_t at = (size_t)slot[i] * (size_t)k;
            /* the rows of i's own fold (i among them) are not candidates */
            select_query(&s, n, k, fold_of, fold_of[i], nb->dist + at, nb->index + at);
            clear(&s);
            size_t now = knn__work_done(&done);
            if (progress && now && now % 64 == 0)
                progress(now, n, user);
        }
        scratch_free(&s);
    }
    return failed ? knn__fail(KNN_ERR_NOMEM, "out of memory for cross-validating %zu rows", n)
                  : KNN_OK;
}
