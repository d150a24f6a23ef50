/* hnsw.c: the graph index, a hierarchical navigable small world (Malkov & Yashunin 2018),
 * for fast approximate search of large training sets (DESIGN.md decision 14).
 *
 * The graph. Every row is a node with a level drawn from the seed (P(level >= l) = M^-l);
 * on each of its levels it keeps a list of neighbours: at most 2M on level 0, M above. A
 * search descends greedily from the entry point (the node of the highest level) through the
 * upper levels, then keeps the `ef` nearest rows met on level 0 (a best-first walk that stops
 * when the nearest unexplored candidate is farther than the ef-th nearest found). Distances
 * are knn's own list kernels (kernels.h: one query against the rows a list names, with
 * prefetch), exact integers on uint8 rows: the approximation is only in which rows are
 * looked at. Every comparison is on (distance, row index), the order of the exact search, so
 * a walk that meets every row returns exactly the exact search's neighbours on uint8 rows;
 * on float32 rows the list kernels sum in their own order (kernels.h), so distances may
 * differ from the exact search's in the last bits and near-ties may swap.
 *
 * A deterministic parallel build. hnswlib and faiss insert rows from several threads at
 * once, each locking the lists it changes, so the graph depends on the threads' timing
 * (hnswlib #28, #540). Here rows are inserted in batches in row order:
 *   1. every row of a batch searches the graph as it stood before the batch (frozen: no list
 *      of an inserted row changes during this step) and chooses its own neighbours with the
 *      paper's heuristic (a candidate is kept unless it is closer to a chosen neighbour than
 *      to the row): rows in parallel, each writing only its own lists;
 *   2. the links back: every (level, chosen neighbour v, new row i) pair, sorted, and each
 *      v's list takes its new rows in row order, or where it overflows is chosen again by the
 *      same heuristic from its old and new rows: in parallel over the v, each writing only
 *      its own list;
 *   3. the entry point moves to a new row of a higher level, in row order.
 * Each step's result depends on the frozen graph and the rows only, never on which thread
 * did what, and float distances are summed in the one order every kernel table shares, so
 * the graph is the same bytes for any thread count and any instruction set. The price: rows
 * of one batch do not see each other while choosing; batches are kept to 1/64 of the rows
 * already inserted (at most 4096), so each new row misses at most 1.6% of the graph, and the
 * links back join the batch's rows through their common neighbours. A row whose level rises
 * above the graph's top ends its batch, so that the new levels are built one row at a time
 * as in the paper (such rows are one in M^top).
 *
 * Stored in a model file as its last section (model.c), mapped like the rows and checked
 * before use: sizes, list lengths, every neighbour id in range and present on the list's
 * level, the entry point, the levels' offsets. A walk always ends: it visits each row at most
 * once, and the descent moves only to strictly nearer rows. */
#include "internal.h"
#include "parallel.h"

#include <stdlib.h>
#include <string.h>

#define MAX_LEVEL 31
#define BATCH_SHARE 64   /* a batch is at most 1/64 of the rows inserted ... */
#define MAX_BATCH 4096   /* ... and at most this many rows                    */
#define SECTION_MAGIC "KNNHNSW1"

struct knn__hnsw {
    uint32_t M, M0, ef_construction;
    knn_metric metric;
    uint64_t seed;
    size_t count;
    uint32_t entry;
    int max_level;
    uint32_t *level0;   /* (count, 1 + M0): a count, then the ids                    */
    uint8_t *levels;    /* (count)                                                    */
    uint32_t *upper_at; /* (count) node i's level-1 list is upper list upper_at[i]   */
    uint32_t *upper;    /* (nupper, 1 + M): node i's level l at upper_at[i] + l - 1  */
    size_t nupper, edges;
    bool owned; /* arrays of our own (built), else inside a model file's mapping */
};

typedef struct {
    uint64_t d;
    uint32_t id;
} cand;

static inline bool less(cand a, cand b) { return a.d < b.d || (a.d == b.d && a.id < b.id); }

static inline uint32_t *list_of(const knn__hnsw *g, uint32_t id, int level)
{
    return level == 0 ? g->level0 + (size_t)id * (1 + g->M0)
                      : g->upper + ((size_t)g->upper_at[id] + (size_t)level - 1) * (1 + g->M);
}

/* ---- how distances are measured -------------------------------------------------------- */

typedef struct {
    knn__list_fn fn;
    const uint8_t *base; /* the rows measured: the data set's, or for cosine at unit length */
    size_t stride;
} measure;

static knn__list_fn list_fn(const knn__kernels *k, knn_dtype t, knn_metric m)
{
    if (t == KNN_U8)
        return m == KNN_L1 ? k->l1_u8_list : k->l2_u8_list;
    return m == KNN_L1 ? k->l1_f32_list : m == KNN_L2 ? k->l2_f32_list : k->ip_f32_list;
}

static bool measure_of(const knn_dataset *ds, knn_metric m, int threads, measure *out)
{
    out->fn = list_fn(knn__kernels_select(), ds->dtype, m);
    out->stride = ds->stride;
    out->base = m == KNN_COSINE ? knn__dataset_unit_rows(ds, threads) : ds->rows;
    return out->base != NULL;
}

/* ---- one thread's walk ----------------------------------------------------------------- */

typedef struct {
    uint32_t *mark; /* (count) the epoch of the walk that last met the row */
    uint32_t epoch;
    cand *heap;     /* candidates to explore: a min-heap                  */
    size_t nheap, capheap;
    cand *res;      /* the ef nearest met: a max-heap                     */
    size_t nres, capres;
    uint32_t *ids;  /* a list's unmet rows, and their distances           */
    uint64_t *dist;
    size_t caplist;
    cand *pool;     /* the build's candidates of one link-back            */
    size_t cappool;
    /* the search's class minima: each class's nearest row met (labels, C, per query) */
    const int32_t *labels;
    uint32_t classes;
    uint64_t *class_dist;
    uint32_t *class_index;
    bool bad_label;
} walker;

static bool grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return true;
    size_t n = *cap ? *cap : 64;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * size);
    if (!q)
        return false;
    *p = q;
    *cap = n;
    return true;
}

static bool walker_init(walker *w, size_t count, size_t list)
{
    memset(w, 0, sizeof *w);
    w->mark = calloc(count ? count : 1, sizeof *w->mark);
    return w->mark && grow((void **)&w->ids, &w->caplist, list, sizeof *w->ids) &&
           (w->dist = malloc(w->caplist * sizeof *w->dist)) != NULL;
}

static void walker_free(walker *w)
{
    free(w->mark);
    free(w->heap);
    free(w->res);
    free(w->ids);
    free(w->dist);
    free(w->pool);
}

static void new_walk(walker *w, size_t count)
{
    if (++w->epoch == 0) { /* wrapped: forget every mark */
        memset(w->mark, 0, count * sizeof *w->mark);
        w->epoch = 1;
    }
    w->nheap = w->nres = 0;
}

static bool heap_push(walker *w, cand c) /* min-heap */
{
    if (!grow((void **)&w->heap, &w->capheap, w->nheap + 1, sizeof *w->heap))
        return false;
    size_t i = w->nheap++;
    while (i && less(c, w->heap[(i - 1) / 2])) {
        w->heap[i] = w->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    w->heap[i] = c;
    return true;
}

static cand heap_pop(walker *w)
{
    cand top = w->heap[0], last = w->heap[--w->nheap];
    size_t i = 0, n = w->nheap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && less(w->heap[c + 1], w->heap[c]))
            c++;
        if (!less(w->heap[c], last))
            break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (n)
        w->heap[i] = last;
    return top;
}

/* The results: a max-heap of at most ef. */
static void res_push(walker *w, cand c, size_t ef)
{
    size_t i = w->nres++;
    while (i && less(w->res[(i - 1) / 2], c)) {
        w->res[i] = w->res[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    w->res[i] = c;
    if (w->nres > ef) { /* drop the farthest */
        cand last = w->res[--w->nres];
        size_t n = w->nres;
        i = 0;
        for (;;) {
            size_t ch = 2 * i + 1;
            if (ch >= n)
                break;
            if (ch + 1 < n && less(w->res[ch], w->res[ch + 1]))
                ch++;
            if (!less(last, w->res[ch]))
                break;
            w->res[i] = w->res[ch];
            i = ch;
        }
        if (n)
            w->res[i] = last;
    }
}

static int cand_cmp(const void *a, const void *b)
{
    cand x = *(const cand *)a, y = *(const cand *)b;
    return less(x, y) ? -1 : less(y, x) ? 1 : 0;
}

/* Lowers the class minima with row c (searches only). */
static inline void offer_class(walker *w, cand c)
{
    if (!w->classes)
        return;
    uint32_t label = (uint32_t)w->labels[c.id];
    if (label >= w->classes) {
        w->bad_label = true;
        return;
    }
    if (c.d < w->class_dist[label] || (c.d == w->class_dist[label] && c.id < w->class_index[label])) {
        w->class_dist[label] = c.d;
        w->class_index[label] = c.id;
    }
}

/* The distances from q to the rows of w->ids[0..n) into w->dist. */
static inline void measure_list(const measure *m, const uint8_t *q, walker *w, size_t n)
{
    m->fn(q, m->base, m->stride, m->stride, w->ids, n, w->dist);
}

/* Greedy descent from `cur` through levels top .. bottom + 1, to the nearest row found. */
static cand descend(const knn__hnsw *g, const measure *m, walker *w, const uint8_t *q, cand cur,
                    int top, int bottom)
{
    for (int l = top; l > bottom; l--)
        for (;;) {
            const uint32_t *list = list_of(g, cur.id, l);
            const size_t n = list[0];
            m->fn(q, m->base, m->stride, m->stride, list + 1, n, w->dist); /* in place */
            cand best = cur;
            for (size_t j = 0; j < n; j++) {
                cand c = {w->dist[j], list[1 + j]};
                offer_class(w, c);
                if (less(c, best))
                    best = c;
            }
            if (best.id == cur.id)
                break;
            cur = best;
        }
    return cur;
}

/* The best-first walk of one level from `ep`: w->res holds the ef nearest rows met (a
 * max-heap). False when memory runs out. */
static bool walk_level(const knn__hnsw *g, const measure *m, walker *w, const uint8_t *q, cand ep,
                       size_t ef, int level)
{
    new_walk(w, g->count);
    if (!grow((void **)&w->res, &w->capres, ef + 1, sizeof *w->res))
        return false;
    w->mark[ep.id] = w->epoch;
    if (!heap_push(w, ep))
        return false;
    res_push(w, ep, ef);
    while (w->nheap) {
        cand c = heap_pop(w);
        if (w->nres >= ef && less(w->res[0], c))
            break; /* nothing left nearer than the ef-th found */
        const uint32_t *list = list_of(g, c.id, level);
        const size_t n = list[0];
        size_t fresh = 0;
        for (size_t j = 1; j <= n; j++) {
            uint32_t id = list[j];
            if (w->mark[id] != w->epoch) {
                w->mark[id] = w->epoch;
                w->ids[fresh++] = id;
            }
        }
        measure_list(m, q, w, fresh);
        for (size_t j = 0; j < fresh; j++) {
            cand x = {w->dist[j], w->ids[j]};
            offer_class(w, x);
            if (w->nres < ef || less(x, w->res[0])) {
                if (!heap_push(w, x))
                    return false;
                res_push(w, x, ef);
            }
        }
    }
    return true;
}

/* ---- the build ------------------------------------------------------------------------- */

/* The paper's neighbour heuristic (its algorithm 4, without extending the candidates or
 * keeping the pruned): from the candidates sorted nearest first, keep each one that is no
 * nearer to a neighbour already kept than to the base row, up to m. Writes the kept ids to
 * out and returns how many. */
static size_t choose(const measure *m, walker *w, const cand *sorted, size_t n, size_t max,
                     uint32_t *out)
{
    size_t kept = 0;
    for (size_t i = 0; i < n && kept < max; i++) {
        if (n <= max) { /* room for all */
            out[kept++] = sorted[i].id;
            continue;
        }
        m->fn(m->base + (size_t)sorted[i].id * m->stride, m->base, m->stride, m->stride, out,
              kept, w->dist);
        bool good = true;
        for (size_t j = 0; j < kept && good; j++)
            good = w->dist[j] >= sorted[i].d;
        if (good)
            out[kept++] = sorted[i].id;
    }
    return kept;
}

/* Step 1 for row i: its lists, from the frozen graph (entry, top level). */
static bool insert_search(knn__hnsw *g, const measure *m, walker *w, uint32_t i, uint32_t entry,
                          int top)
{
    const uint8_t *q = m->base + (size_t)i * m->stride;
    w->ids[0] = entry;
    measure_list(m, q, w, 1);
    cand cur = {w->dist[0], entry};
    const int level = g->levels[i];
    cur = descend(g, m, w, q, cur, top, level < top ? level : top);
    for (int l = level < top ? level : top; l >= 0; l--) {
        if (!walk_level(g, m, w, q, cur, g->ef_construction, l))
            return false;
        qsort(w->res, w->nres, sizeof *w->res, cand_cmp);
        cur = w->res[0];
        uint32_t *list = list_of(g, i, l);
        list[0] = (uint32_t)choose(m, w, w->res, w->nres, g->M, list + 1);
    }
    return true;
}

typedef struct {
    uint32_t level, v, i;
} link;

static int link_cmp(const void *a, const void *b)
{
    const link *x = a, *y = b;
    if (x->level != y->level)
        return x->level < y->level ? -1 : 1;
    if (x->v != y->v)
        return x->v < y->v ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* Step 2 for one v and level: the new rows links[0..n) join v's list. */
static bool link_back(knn__hnsw *g, const measure *m, walker *w, const link *links, size_t n)
{
    const int level = (int)links[0].level;
    const uint32_t v = links[0].v, max = level ? g->M : g->M0;
    uint32_t *list = list_of(g, v, level);
    const size_t old = list[0];
    if (old + n <= max) {
        for (size_t j = 0; j < n; j++)
            list[1 + old + j] = links[j].i;
        list[0] = (uint32_t)(old + n);
        return true;
    }
    const size_t all = old + n;
    if (!grow((void **)&w->pool, &w->cappool, all, sizeof *w->pool) ||
        !grow((void **)&w->ids, &w->caplist, all, sizeof *w->ids))
        return false;
    uint64_t *dist = realloc(w->dist, w->caplist * sizeof *w->dist);
    if (!dist)
        return false; /* w->dist stays, freed with the walker */
    w->dist = dist;
    for (size_t j = 0; j < all; j++)
        w->ids[j] = j < old ? list[1 + j] : links[j - old].i;
    measure_list(m, m->base + (size_t)v * m->stride, w, all);
    for (size_t j = 0; j < all; j++)
        w->pool[j] = (cand){w->dist[j], w->ids[j]};
    qsort(w->pool, all, sizeof *w->pool, cand_cmp);
    list[0] = (uint32_t)choose(m, w, w->pool, all, max, list + 1);
    return true;
}

/* Node i's level: the largest l with h < 2^64 / M^l, h a 64-bit hash of (seed, i), so that
 * P(level >= l) = M^-l exactly as integers compute it (no logarithm, the same everywhere). */
static int level_of(uint64_t seed, uint64_t i, uint32_t M)
{
    uint64_t h = seed + 0x9E3779B97F4A7C15ull * (i + 1); /* splitmix64 */
    h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ull;
    h = (h ^ (h >> 27)) * 0x94D049BB133111EBull;
    h ^= h >> 31;
    uint64_t bound = UINT64_MAX;
    int l = 0;
    while (l < MAX_LEVEL && (bound /= M) > h)
        l++;
    return l;
}

void knn__hnsw_free(knn__hnsw *g)
{
    if (!g)
        return;
    if (g->owned) {
        free(g->level0);
        free(g->levels);
        free(g->upper_at);
        free(g->upper);
    }
    free(g);
}

knn_index_options knn_index_options_default(void)
{
    knn_index_options o = {16, 200, KNN_L2, 0, 0, NULL, NULL};
    return o;
}

static knn_status alloc_graph(const knn_dataset *ds, const knn_index_options *o, knn__hnsw **out)
{
    *out = NULL;
    knn__hnsw *g = calloc(1, sizeof *g);
    if (!g)
        return knn__fail(KNN_ERR_NOMEM, "out of memory");
    g->owned = true;
    g->M = (uint32_t)o->M;
    g->M0 = 2 * g->M;
    g->ef_construction = (uint32_t)o->ef_construction;
    g->metric = o->metric;
    g->seed = o->seed;
    const size_t count = knn__held(ds); /* a shard's graph links its own rows */
    g->count = count;
    g->levels = malloc(count ? count : 1);
    g->upper_at = malloc((count ? count : 1) * sizeof *g->upper_at);
    if (!g->levels || !g->upper_at) {
        knn__hnsw_free(g);
        return knn__fail(KNN_ERR_NOMEM, "out of memory for the index of %zu rows", count);
    }
    for (size_t i = 0; i < count; i++) {
        g->levels[i] = (uint8_t)level_of(o->seed, i, g->M);
        g->upper_at[i] = (uint32_t)g->nupper;
        g->nupper += g->levels[i];
        if (g->nupper > UINT32_MAX) {
            knn__hnsw_free(g);
            return knn__fail(KNN_ERR_LIMIT, "%s: too many rows for the index", ds->source);
        }
    }
    size_t b0, bu, total;
    if (!knn__mul_ok(count ? count : 1, (size_t)(1 + g->M0) * 4, &b0) ||
        !knn__mul_ok(g->nupper, (size_t)(1 + g->M) * 4, &bu) ||
        __builtin_add_overflow(b0, bu, &total) || !knn__memory_fits(total)) {
        knn__hnsw_free(g);
        return knn__fail(KNN_ERR_NOMEM, "%s: the index of %zu rows needs more memory than "
                                        "is available",
                         ds->source, count);
    }
    g->level0 = calloc(b0 / 4, 4); /* every list empty */
    g->upper = calloc(bu ? bu / 4 : 1, 4);
    if (!g->level0 || !g->upper) {
        knn__hnsw_free(g);
        return knn__fail(KNN_ERR_NOMEM, "out of memory for the index of %zu rows", count);
    }
    *out = g;
    return KNN_OK;
}

/* Step 2 for a whole batch [first, end): the links back, in parallel over (level, v). */
static bool link_batch(knn__hnsw *g, const measure *m, walker *walkers, int threads, size_t first,
                       size_t end, link **links, size_t *cap)
{
    size_t n = 0;
    for (size_t i = first; i < end; i++)
        for (int l = g->levels[i] < g->max_level ? g->levels[i] : g->max_level; l >= 0; l--) {
            const uint32_t *list = list_of(g, (uint32_t)i, l);
            if (!grow((void **)links, cap, n + list[0], sizeof **links))
                return false;
            for (uint32_t j = 1; j <= list[0]; j++)
                (*links)[n++] = (link){(uint32_t)l, list[j], (uint32_t)i};
        }
    qsort(*links, n, sizeof **links, link_cmp);
    /* the groups' starts, each (level, v) once */
    size_t groups = 0;
    for (size_t j = 0; j < n; j++)
        if (!j || (*links)[j].v != (*links)[j - 1].v || (*links)[j].level != (*links)[j - 1].level)
            groups++;
    size_t *start = malloc((groups + 1) * sizeof *start);
    if (!start)
        return false;
    groups = 0;
    for (size_t j = 0; j < n; j++)
        if (!j || (*links)[j].v != (*links)[j - 1].v || (*links)[j].level != (*links)[j - 1].level)
            start[groups++] = j;
    start[groups] = n;
    int failed = 0;
    const link *all = *links;
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(dynamic, 16)
#endif
    for (size_t s = 0; s < groups; s++) {
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        if (!knn__flag_read(&failed) &&
            !link_back(g, m, &walkers[t], all + start[s], start[s + 1] - start[s]))
            knn__flag_raise(&failed);
    }
    (void)threads;
    free(start);
    return !failed;
}

knn_status knn_dataset_build_index(knn_dataset *ds, const knn_index_options *opt)
{
    knn_index_options o = opt ? *opt : knn_index_options_default();
    /* a shard's graph: of its own rows, ids from 0 (search adds row_lo) */
    const size_t count = knn__held(ds);
    if (ds->dtype == KNN_SPARSE)
        return knn__fail(KNN_ERR_ARG, "%s holds text, searched through its inverted index: the "
                                      "graph index is for images and features",
                         ds->source);
    if (o.M == 0)
        o.M = 16;
    if (o.ef_construction == 0)
        o.ef_construction = 200;
    if (o.M < 2 || o.M > 128)
        return knn__fail(KNN_ERR_ARG, "M = %d: give 2 to 128 links a row (16 is usual)", o.M);
    if (o.ef_construction < 1 || o.ef_construction > 65536)
        return knn__fail(KNN_ERR_ARG, "ef_construction = %d: give 1 to 65536 (200 is usual)",
                         o.ef_construction);
    if (o.threads < 0)
        return knn__fail(KNN_ERR_ARG, "%d threads: give 0 (automatic) or more", o.threads);
    knn_status st = knn__metric_check(o.metric, ds);
    if (st)
        return st;
    if (count == 0)
        return knn__fail(KNN_ERR_ARG, "%s: no rows to index", ds->source);
    if (count >= UINT32_MAX)
        return knn__fail(KNN_ERR_LIMIT, "%s: too many rows for the index", ds->source);
    int threads = 1;
#ifdef _OPENMP
    threads = o.threads > 0 ? o.threads : omp_get_max_threads();
#endif
    knn__hnsw *g;
    if ((st = alloc_graph(ds, &o, &g)))
        return st;
    measure m;
    walker *walkers = calloc((size_t)threads, sizeof *walkers);
    bool ok = walkers && measure_of(ds, o.metric, threads, &m);
    for (int t = 0; ok && t < threads; t++)
        ok = walker_init(&walkers[t], count, (size_t)g->M0 + 1);
    link *links = NULL;
    size_t cap = 0;
    g->entry = 0;
    g->max_level = g->levels[0];
    for (size_t inserted = 1; ok && inserted < count;) {
        size_t b = inserted / BATCH_SHARE;
        b = b < 1 ? 1 : b > MAX_BATCH ? MAX_BATCH : b;
        b = b < count - inserted ? b : count - inserted;
        const uint32_t entry = g->entry;
        const int top = g->max_level;
        /* a row that rises above the top ends its batch: the rows after it find it as the
         * entry point and link to it on the new levels, as in a one-by-one insertion */
        for (size_t i = inserted; i < inserted + b; i++)
            if (g->levels[i] > top) {
                b = i - inserted + 1;
                break;
            }
        int failed = 0;
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1) if (b > 1)
#endif
        for (size_t i = inserted; i < inserted + b; i++) {
            int t = 0;
#ifdef _OPENMP
            t = omp_get_thread_num();
#endif
            if (!knn__flag_read(&failed) &&
                !insert_search(g, &m, &walkers[t], (uint32_t)i, entry, top))
                knn__flag_raise(&failed);
        }
        ok = !failed && link_batch(g, &m, walkers, threads, inserted, inserted + b, &links, &cap);
        for (size_t i = inserted; i < inserted + b; i++)
            if (g->levels[i] > g->max_level) {
                g->max_level = g->levels[i];
                g->entry = (uint32_t)i;
            }
        inserted += b;
        if (o.progress)
            o.progress(inserted, count, o.progress_user);
    }
    for (int t = 0; walkers && t < threads; t++)
        walker_free(&walkers[t]);
    free(walkers);
    free(links);
    if (!ok) {
        knn__hnsw_free(g);
        return knn__fail(KNN_ERR_NOMEM, "out of memory while indexing %zu rows of %s",
                         count, ds->source);
    }
    for (size_t i = 0; i < count; i++) {
        g->edges += g->level0[i * (1 + g->M0)];
        for (int l = 1; l <= g->levels[i]; l++)
            g->edges += list_of(g, (uint32_t)i, l)[0];
    }
    knn__hnsw_free(ds->index);
    ds->index = g;
    return KNN_OK;
}

/* ---- the search ------------------------------------------------------------------------ */

/* Query q's k nearest by a full scan through the list kernel: for the rare walk that meets
 * fewer than k rows (a graph whose pruning cut rows off, with k near their number). */
static void scan_all(const knn__hnsw *g, const measure *m, walker *w, const uint8_t *q, size_t k)
{
    w->nres = 0;
    for (size_t at = 0; at < g->count;) {
        size_t n = g->count - at < w->caplist ? g->count - at : w->caplist;
        for (size_t j = 0; j < n; j++)
            w->ids[j] = (uint32_t)(at + j);
        measure_list(m, q, w, n);
        for (size_t j = 0; j < n; j++) {
            cand c = {w->dist[j], w->ids[j]};
            offer_class(w, c);
            if (w->nres < k || less(c, w->res[0]))
                res_push(w, c, k);
        }
        at += n;
    }
}

knn_status knn__hnsw_search(const knn_dataset *train, const knn_dataset *queries,
                            const knn_params *p, knn_neighbors *nb)
{
    const knn__hnsw *g = train->index;
    int threads = 1;
#ifdef _OPENMP
    threads = p->threads > 0 ? p->threads : omp_get_max_threads();
#endif
    const size_t nq = queries->count, k = (size_t)p->k;
    size_t ef = p->ef > 0 ? (size_t)p->ef : KNN_DEFAULT_EF;
    ef = ef > g->count ? g->count : ef; /* more can never be kept */
    ef = ef < k ? k : ef;
    /* per thread: a mark per row, and the walk's heaps */
    size_t marks;
    if (!knn__mul_ok(g->count, sizeof(uint32_t) + 2 * sizeof(cand), &marks) ||
        !knn__mul_ok(marks, (size_t)threads, &marks) || !knn__memory_fits(marks))
        return knn__fail(KNN_ERR_NOMEM, "%s: walking the index on %d threads needs %.1f GiB, "
                                        "more than the memory available",
                         train->source, threads, (double)marks / (1 << 30));
    measure m;
    if (!measure_of(train, g->metric, threads, &m))
        return knn__fail(KNN_ERR_NOMEM, "out of memory for the search of %s", train->source);
    int failed = 0, bad = 0;
    size_t done_count = 0;
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
#endif
    {
        walker w;
        uint8_t *unit = NULL; /* cosine: the query at unit length */
        if (!walker_init(&w, g->count, (size_t)g->M0 + 256) ||
            !grow((void **)&w.res, &w.capres, ef + 1, sizeof *w.res) ||
            (g->metric == KNN_COSINE && !(unit = aligned_alloc(KNN__ALIGN, queries->stride))))
            knn__flag_raise(&failed);
        w.labels = train->labels ? train->labels + train->row_lo : NULL; /* ids from row_lo */
        w.classes = (uint32_t)nb->classes;
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 8)
#endif
        for (size_t q = 0; q < nq; q++) {
            if (knn__flag_read(&failed) || knn__flag_read(&bad))
                continue;
            const uint8_t *row = queries->rows + q * queries->stride;
            if (unit) {
                knn__unit_rows(row, 1, queries->dim, queries->stride, unit);
                row = unit;
            }
            if (w.classes) {
                w.class_dist = nb->class_dist + q * w.classes;
                w.class_index = nb->class_index + q * w.classes;
                for (uint32_t c = 0; c < w.classes; c++) {
                    w.class_dist[c] = KNN__NO_DIST;
                    w.class_index[c] = KNN__NO_ROW;
                }
            }
            w.ids[0] = g->entry;
            measure_list(&m, row, &w, 1);
            cand cur = {w.dist[0], g->entry};
            offer_class(&w, cur);
            cur = descend(g, &m, &w, row, cur, g->max_level, 0);
            if (!walk_level(g, &m, &w, row, cur, ef, 0)) {
                knn__flag_raise(&failed);
                continue;
            }
            if (w.nres < k)
                scan_all(g, &m, &w, row, k);
            qsort(w.res, w.nres, sizeof *w.res, cand_cmp);
            /* a shard's ids are its rows' from row_lo; one of fewer rows than k leaves the
             * places of the missing rows marked, for the merge */
            const uint32_t first = (uint32_t)train->row_lo;
            for (size_t j = 0; j < k; j++) {
                nb->dist[q * k + j] = j < w.nres ? w.res[j].d : KNN__NO_DIST;
                nb->index[q * k + j] = j < w.nres ? w.res[j].id + first : KNN__NO_ROW;
            }
            for (uint32_t c = 0; first && c < w.classes; c++)
                if (w.class_index[c] != KNN__NO_ROW)
                    w.class_index[c] += first;
            if (w.bad_label)
                knn__flag_raise(&bad);
            size_t done = knn__work_done(&done_count);
            if (p->progress && done && done % 256 == 0)
                p->progress(done, nq, p->progress_user);
        }
        walker_free(&w);
        free(unit);
    }
    if (failed)
        return knn__fail(KNN_ERR_NOMEM, "out of memory for the search of %s", train->source);
    if (bad)
        return knn__fail(KNN_ERR_FORMAT, "%s: a label outside 0..%d (did the file change while "
                                         "in use?)",
                         train->source, train->num_classes - 1);
    return KNN_OK;
}

bool knn__hnsw_applies(const knn_dataset *train, const knn_params *p)
{
    return train->index && !p->exact && train->index->metric == p->metric &&
           train->index->count == knn__held(train);
}

int knn_dataset_index_info(const knn_dataset *ds, knn_index_info *info)
{
    const knn__hnsw *g = ds->index;
    if (!g)
        return 0;
    memset(info, 0, sizeof *info);
    info->M = (int)g->M;
    info->ef_construction = (int)g->ef_construction;
    info->metric = g->metric;
    info->seed = g->seed;
    info->levels = g->max_level + 1;
    info->edges = g->edges;
    info->bytes = g->count * ((size_t)(1 + g->M0) * 4 + 1 + 4) + g->nupper * (1 + g->M) * 4;
    return 1;
}

/* ---- the model file's section ---------------------------------------------------------- */

typedef struct {
    char magic[8];
    uint32_t M, M0, ef_construction, metric;
    uint64_t count, seed, nupper, edges;
    uint32_t entry, max_level;
} section_header;

_Static_assert(sizeof(section_header) == 64, "the section header is 64 bytes");

int knn__hnsw_parts(const knn__hnsw *g, void *header, const void **ptr, uint64_t *bytes)
{
    section_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, SECTION_MAGIC, 8);
    h.M = g->M;
    h.M0 = g->M0;
    h.ef_construction = g->ef_construction;
    h.metric = (uint32_t)g->metric;
    h.count = g->count;
    h.seed = g->seed;
    h.nupper = g->nupper;
    h.edges = g->edges;
    h.entry = g->entry;
    h.max_level = (uint32_t)g->max_level;
    memcpy(header, &h, sizeof h);
    ptr[0] = header;
    bytes[0] = sizeof h;
    ptr[1] = g->level0;
    bytes[1] = (uint64_t)g->count * (1 + g->M0) * 4;
    ptr[2] = g->levels;
    bytes[2] = g->count;
    ptr[3] = g->upper_at;
    bytes[3] = (uint64_t)g->count * 4;
    ptr[4] = g->upper;
    bytes[4] = (uint64_t)g->nupper * (1 + g->M) * 4;
    return 5;
}

uint64_t knn__hnsw_section_bytes(const knn__hnsw *g)
{
    return 64 + knn__align64((uint64_t)g->count * (1 + g->M0) * 4) + knn__align64(g->count) +
           knn__align64((uint64_t)g->count * 4) + (uint64_t)g->nupper * (1 + g->M) * 4;
}

/* Checks one list: its length and every id (in range, present on the level). */
static bool list_ok(const knn__hnsw *g, const uint32_t *list, uint32_t max, int level)
{
    if (list[0] > max)
        return false;
    for (uint32_t j = 1; j <= list[0]; j++)
        if (list[j] >= g->count || g->levels[list[j]] < level)
            return false;
    return true;
}

knn_status knn__hnsw_open(const char *path, const uint8_t *p, uint64_t bytes,
                          const knn_dataset *ds, knn__hnsw **out)
{
    *out = NULL;
    section_header h;
    if (bytes < sizeof h)
        return knn__fail(KNN_ERR_FORMAT, "%s: truncated index section", path);
    memcpy(&h, p, sizeof h);
    if (memcmp(h.magic, SECTION_MAGIC, 8) != 0)
        return knn__fail(KNN_ERR_FORMAT, "%s: corrupt index section (bad magic)", path);
    if (h.M < 2 || h.M > 128 || h.M0 != 2 * h.M || h.ef_construction < 1 ||
        h.ef_construction > 65536 || h.metric > KNN_COSINE ||
        (h.metric == KNN_COSINE && ds->dtype != KNN_F32) || h.count != ds->count ||
        h.max_level > MAX_LEVEL || h.entry >= h.count || h.nupper > h.count * MAX_LEVEL)
        return knn__fail(KNN_ERR_FORMAT, "%s: corrupt index section (header)", path);
    knn__hnsw *g = calloc(1, sizeof *g);
    if (!g)
        return knn__fail(KNN_ERR_NOMEM, "out of memory");
    g->M = h.M;
    g->M0 = h.M0;
    g->ef_construction = h.ef_construction;
    g->metric = (knn_metric)h.metric;
    g->seed = h.seed;
    g->count = (size_t)h.count;
    g->entry = h.entry;
    g->max_level = (int)h.max_level;
    g->nupper = (size_t)h.nupper;
    const uint64_t expect = knn__hnsw_section_bytes(g);
    if (expect != bytes) {
        free(g); /* nothing of its own yet */
        return knn__fail(KNN_ERR_FORMAT, "%s: corrupt index section (its size is %llu bytes, "
                                         "its header asks for %llu)",
                         path, (unsigned long long)bytes, (unsigned long long)expect);
    }
    uint64_t at = 64;
    g->level0 = (uint32_t *)(void *)(p + at);
    at += knn__align64((uint64_t)g->count * (1 + g->M0) * 4);
    g->levels = (uint8_t *)(p + at);
    at += knn__align64(g->count);
    g->upper_at = (uint32_t *)(void *)(p + at);
    at += knn__align64((uint64_t)g->count * 4);
    g->upper = (uint32_t *)(void *)(p + at);
    const char *what = NULL;
    size_t sum = 0, edges = 0;
    for (size_t i = 0; i < g->count && !what; i++) {
        if (g->levels[i] > g->max_level)
            what = "a level above the top";
        else if (g->upper_at[i] != sum)
            what = "the levels' offsets";
        sum += g->levels[i];
    }
    if (!what && (sum != g->nupper || g->levels[g->entry] != g->max_level))
        what = sum != g->nupper ? "the levels' offsets" : "the entry point";
    for (size_t i = 0; i < g->count && !what; i++)
        for (int l = 0; l <= g->levels[i] && !what; l++) {
            const uint32_t *list = list_of(g, (uint32_t)i, l);
            if (!list_ok(g, list, l ? g->M : g->M0, l))
                what = "a neighbour list";
            else
                edges += list[0];
        }
    if (!what && edges != h.edges)
        what = "the edge count";
    if (what) {
        free(g); /* nothing of its own yet */
        return knn__fail(KNN_ERR_FORMAT, "%s: corrupt index section (%s)", path, what);
    }
    g->edges = edges;
    *out = g;
    return KNN_OK;
}
