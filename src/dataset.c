/* dataset.c: the in-memory data set, one aligned block of padded uint8 rows plus labels and
 * class names (layout in internal.h). Loaders fill it; the search reads it in place, so a
 * data set is held in memory once, in its native type. */
#include "internal.h"
#include "text.h"

#include <math.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

char *knn__strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *copy = malloc(n);
    if (copy)
        memcpy(copy, s, n);
    return copy;
}

knn_status knn__dataset_alloc(size_t count, size_t dim, knn_dtype dtype, bool with_labels,
                              const char *what, knn_dataset **out)
{
    return knn__dataset_alloc_shard(count, dim, dtype, with_labels, NULL, what, out);
}

void knn_shard_rows(size_t n, int index, int count, size_t *lo, size_t *hi)
{
    if (count < 1 || index < 0 || index >= count) {
        *lo = *hi = 0;
        return;
    }
    /* n <= KNN_MAX_ROWS < 2^31 and count < 2^31: the products fit in 64 bits */
    *lo = (size_t)((uint64_t)n * (uint64_t)index / (uint64_t)count);
    *hi = (size_t)((uint64_t)n * (uint64_t)(index + 1) / (uint64_t)count);
}

int knn_dataset_shard(const knn_dataset *ds, size_t *lo, size_t *hi)
{
    *lo = ds->sharded ? ds->row_lo : 0;
    *hi = ds->sharded ? ds->row_hi : ds->count;
    return ds->sharded;
}

knn_status knn__whole(const knn_dataset *ds, const char *what)
{
    if (!ds->sharded)
        return KNN_OK;
    return knn__fail(KNN_ERR_ARG, "%s: holds only shard %d of %d of its %s (rows %zu..%zu); "
                                  "%s needs all of them",
                     ds->source, ds->shard.index + 1, ds->shard.count, knn__rows_word(ds),
                     ds->row_lo, ds->row_hi, what);
}

void knn__shard_set(knn_dataset *ds, const knn_shard *shard, size_t lo, size_t hi)
{
    if (!shard)
        return;
    ds->sharded = true;
    ds->shard = *shard;
    ds->row_lo = lo;
    ds->row_hi = hi;
}

/* The message a failed collective operation leaves, made the thread's. */
static knn_status shard_failed(knn_status st, const char *message)
{
    return knn__fail(st, "%s", *message ? message : "a process of the job failed");
}

knn_status knn__shard_reduce(const knn_dataset *ds, void *records, size_t n, size_t bytes,
                             knn_merge_fn merge, const void *ctx)
{
    char message[1024] = "";
    knn_status st = ds->shard.reduce(records, n, bytes, merge, ctx, ds->shard.user, message,
                                     sizeof message);
    return st ? shard_failed(st, message) : KNN_OK;
}

knn_status knn__shard_broadcast(const knn_shard *s, void *data, size_t bytes, int root)
{
    char message[1024] = "";
    knn_status st = s->broadcast(data, bytes, root, s->user, message, sizeof message);
    return st ? shard_failed(st, message) : KNN_OK;
}

knn_status knn__dataset_alloc_shard(size_t count, size_t dim, knn_dtype dtype, bool with_labels,
                                    const knn_shard *shard, const char *what, knn_dataset **out)
{
    *out = NULL;
    size_t lo = 0, hi = count;
    if (shard)
        knn_shard_rows(count, shard->index, shard->count, &lo, &hi);
    const size_t held = hi - lo;
    if (dim == 0)
        return knn__fail(KNN_ERR_LIMIT, "%s: rows of 0 values", what);
    if (dim > KNN_MAX_DIM)
        return knn__fail(KNN_ERR_LIMIT,
                         "%s: %zu values per row is more than the limit of %zu values (2,364 x "
                         "2,364 RGB); load images smaller (knn: --size)",
                         what, dim, KNN_MAX_DIM);
    if (count > KNN_MAX_ROWS)
        return knn__fail(KNN_ERR_LIMIT, "%s: %zu rows is more than the limit of %zu", what,
                         count, KNN_MAX_ROWS);
    const size_t row_bytes = dim * knn__dtype_size(dtype); /* dim <= KNN_MAX_DIM: no overflow */
    size_t stride = (row_bytes + KNN__ALIGN - 1) / KNN__ALIGN * KNN__ALIGN;
    size_t bytes;
    if (!knn__mul_ok(held ? held : 1, stride, &bytes))
        return knn__fail(KNN_ERR_LIMIT, "%s: %zu rows of %zu bytes overflow memory sizes", what,
                         count, stride);
    if (!knn__memory_fits(bytes))
        return knn__fail(KNN_ERR_NOMEM, "%s: %zu rows of %zu bytes need %.1f GiB, more than the "
                                        "memory available",
                         what, count, stride, (double)bytes / (1 << 30));
    knn_dataset *ds = calloc(1, sizeof *ds);
    if (!ds)
        return knn__fail(KNN_ERR_NOMEM, "%s: out of memory", what);
    ds->count = count;
    ds->dim = dim;
    ds->dtype = dtype;
    ds->stride = stride;
    ds->height = (int)dim;
    ds->width = 1;
    ds->channels = 1;
    ds->source = knn__strdup(what);
    ds->rows = aligned_alloc(KNN__ALIGN, bytes);
    if (with_labels)
        ds->labels = malloc((count ? count : 1) * sizeof *ds->labels);
    if (!ds->source || !ds->rows || (with_labels && !ds->labels)) {
        knn_dataset_free(ds);
        return knn__fail(KNN_ERR_NOMEM, "%s: cannot allocate %zu MiB for %zu rows", what,
                         bytes >> 20, count);
    }
    if (stride > row_bytes) /* padding only: the rows themselves are about to be written */
        for (size_t i = 0; i < held; i++)
            memset(ds->rows + i * stride + row_bytes, 0, stride - row_bytes);
    knn__shard_set(ds, shard, lo, hi);
    *out = ds;
    return KNN_OK;
}

/* Checks the labels given to a _create function. */
static knn_status check_labels(size_t count, const int32_t *labels, int num_classes,
                               const char *fn)
{
    if (labels && (num_classes < 1 || num_classes > KNN_MAX_CLASSES))
        return knn__fail(KNN_ERR_ARG, "%s: %d classes is outside 1..%d", fn, num_classes,
                         KNN_MAX_CLASSES);
    for (size_t i = 0; labels && i < count; i++)
        if (labels[i] < 0 || labels[i] >= num_classes)
            return knn__fail(KNN_ERR_ARG, "%s: label %d of row %zu is outside 0..%d", fn,
                             (int)labels[i], i, num_classes - 1);
    return KNN_OK;
}

/* Allocates and fills a data set from `data` (count rows of dim values of dtype). */
static knn_status create(size_t count, size_t dim, knn_dtype dtype, const void *data,
                         const int32_t *labels, int num_classes, knn_dataset **out)
{
    knn_dataset *ds;
    knn_status st = knn__dataset_alloc(count, dim, dtype, labels != NULL, "memory", &ds);
    if (st)
        return st;
    const size_t row_bytes = dim * knn__dtype_size(dtype);
    for (size_t i = 0; i < count; i++)
        memcpy(ds->rows + i * ds->stride, (const uint8_t *)data + i * row_bytes, row_bytes);
    if (labels)
        memcpy(ds->labels, labels, count * sizeof *labels);
    ds->num_classes = labels ? num_classes : 0;
    *out = ds;
    return KNN_OK;
}

knn_status knn_dataset_create(size_t count, size_t dim, const uint8_t *data,
                              const int32_t *labels, int num_classes, int height, int width,
                              int channels, knn_dataset **out)
{
    *out = NULL;
    if (!data && count)
        return knn__fail(KNN_ERR_ARG, "knn_dataset_create: data is NULL");
    if (height < 1 || width < 1 || channels < 1 ||
        (size_t)height * (size_t)width * (size_t)channels != dim)
        return knn__fail(KNN_ERR_ARG,
                         "knn_dataset_create: shape %d x %d x %d does not hold %zu values",
                         height, width, channels, dim);
    knn_status st = check_labels(count, labels, num_classes, "knn_dataset_create");
    if (!st)
        st = create(count, dim, KNN_U8, data, labels, num_classes, out);
    if (!st) {
        (*out)->height = height;
        (*out)->width = width;
        (*out)->channels = channels;
    }
    return st;
}

knn_status knn_dataset_create_f32(size_t count, size_t dim, const float *data,
                                  const int32_t *labels, int num_classes, knn_dataset **out)
{
    *out = NULL;
    if (!data && count)
        return knn__fail(KNN_ERR_ARG, "knn_dataset_create_f32: data is NULL");
    /* the sizes are checked (by the allocation) before a value is read */
    knn_status st = check_labels(count, labels, num_classes, "knn_dataset_create_f32");
    if (!st)
        st = create(count, dim, KNN_F32, data, labels, num_classes, out);
    for (size_t i = 0; !st && i < count; i++) {
        const float *row = (const float *)(const void *)((*out)->rows + i * (*out)->stride);
        for (size_t d = 0; d < dim; d++)
            if (!isfinite(row[d])) {
                st = knn__fail(KNN_ERR_ARG, "knn_dataset_create_f32: value %zu of row %zu is %g",
                               d, i, (double)row[d]);
                knn_dataset_free(*out);
                *out = NULL;
                break;
            }
    }
    return st;
}

knn_status knn_dataset_view(size_t count, size_t dim, knn_dtype dtype, const void *rows,
                            size_t stride, const int32_t *labels, int num_classes,
                            knn_dataset **out)
{
    *out = NULL;
    if (dtype != KNN_U8 && dtype != KNN_F32)
        return knn__fail(KNN_ERR_ARG, "knn_dataset_view: dtype %d: uint8 or float32 rows (text "
                                      "comes from knn_text_dataset_create)",
                         (int)dtype);
    const size_t row_bytes = dim * knn__dtype_size(dtype);
    if (dim == 0 || dim > KNN_MAX_DIM || count > KNN_MAX_ROWS)
        return knn__fail(KNN_ERR_LIMIT, "knn_dataset_view: %zu rows of %zu values", count, dim);
    if (stride % KNN__ALIGN || stride < row_bytes || (uintptr_t)rows % KNN__ALIGN ||
        (!rows && count))
        return knn__fail(KNN_ERR_ARG, "knn_dataset_view: rows must be %d-byte aligned and "
                                      "%d-byte multiples of at least %zu bytes (stride %zu)",
                         KNN__ALIGN, KNN__ALIGN, row_bytes, stride);
    knn_status st = check_labels(count, labels, num_classes, "knn_dataset_view");
    const uint8_t *r = rows;
    for (size_t i = 0; !st && i < count; i++) { /* the kernels sum the padding too */
        for (size_t b = row_bytes; b < stride && !st; b++)
            if (r[i * stride + b])
                st = knn__fail(KNN_ERR_ARG, "knn_dataset_view: row %zu has non-zero padding", i);
        for (size_t d = 0; dtype == KNN_F32 && d < dim && !st; d++) {
            float v;
            memcpy(&v, r + i * stride + 4 * d, 4);
            if (!isfinite(v))
                st = knn__fail(KNN_ERR_ARG, "knn_dataset_view: value %zu of row %zu is %g", d, i,
                               (double)v);
        }
    }
    knn_dataset *ds = st ? NULL : calloc(1, sizeof *ds);
    if (!st && (!ds || !(ds->source = knn__strdup("memory"))))
        st = knn__fail(KNN_ERR_NOMEM, "out of memory");
    if (!st && labels && !(ds->labels = malloc((count ? count : 1) * sizeof *ds->labels)))
        st = knn__fail(KNN_ERR_NOMEM, "out of memory");
    if (st) {
        knn_dataset_free(ds);
        return st;
    }
    ds->count = count;
    ds->dim = dim;
    ds->dtype = dtype;
    ds->stride = stride;
    ds->rows = (uint8_t *)(uintptr_t)rows; /* read only: the search never writes rows */
    ds->rows_borrowed = true;
    if (labels)
        memcpy(ds->labels, labels, count * sizeof *labels);
    ds->num_classes = labels ? num_classes : 0;
    ds->height = (int)dim;
    ds->width = ds->channels = 1;
    *out = ds;
    return KNN_OK;
}

/* The memory the machine can give now without swapping: MemAvailable from /proc/meminfo
 * (free memory plus the caches the kernel can drop), which is what an allocation competes
 * for; total memory would let a request that can only end in the OOM killer through. 0 when
 * unknown. */
static double available_bytes(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[128];
    unsigned long long kib = 0;
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f))
        found = sscanf(line, "MemAvailable: %llu kB", &kib) == 1;
    if (f)
        fclose(f);
    if (found)
        return (double)kib * 1024.0;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && page > 0 ? (double)pages * (double)page : 0.0;
}

double knn__memory_available(void)
{
    return available_bytes();
}

bool knn__memory_fits(size_t bytes)
{
    double avail = available_bytes();
    return avail <= 0.0 || (double)bytes <= avail; /* unknown: let the allocation decide */
}

void knn_dataset_free(knn_dataset *ds)
{
    if (!ds)
        return;
    if (ds->class_names)
        for (int c = 0; c < ds->num_classes; c++)
            free(ds->class_names[c]);
    free(ds->class_names);
    for (size_t i = 0; ds->paths && i < ds->count; i++)
        free(ds->paths[i]);
    free(ds->paths);
    for (size_t i = 0; i < ds->nskipped; i++)
        free(ds->skipped[i]);
    free(ds->skipped);
    struct knn__norms_cache *cache = atomic_load(&ds->norms);
    if (cache)
        free(cache->norms);
    free(cache);
    free(atomic_load(&ds->unit_rows));
    knn_features_free(ds->features);
    if (ds->pictures_owned)
        free(ds->pictures);
    knn__hnsw_free(ds->index);
    knn__sparse_free(ds->sparse);
    knn__text_free(ds->text);
    if (ds->labels_copied)
        free(ds->labels);
    if (ds->map && ds->map_is_copy) {
        free(ds->map);
    } else if (ds->map) {
        munmap(ds->map, ds->map_bytes);
    } else {
        if (!ds->rows_borrowed)
            free(ds->rows);
        free(ds->labels);
    }
    free(ds->source);
    free(ds);
}

knn_status knn_dataset_set_class_names(knn_dataset *ds, const char *const *names)
{
    char **copy = calloc((size_t)(ds->num_classes ? ds->num_classes : 1), sizeof *copy);
    if (!copy)
        return knn__fail(KNN_ERR_NOMEM, "out of memory for class names");
    for (int c = 0; c < ds->num_classes; c++) {
        copy[c] = knn__strdup(names[c] ? names[c] : "");
        if (!copy[c]) {
            for (int d = 0; d < c; d++)
                free(copy[d]);
            free(copy);
            return knn__fail(KNN_ERR_NOMEM, "out of memory for class names");
        }
    }
    if (ds->class_names)
        for (int c = 0; c < ds->num_classes; c++)
            free(ds->class_names[c]);
    free(ds->class_names);
    ds->class_names = copy;
    return KNN_OK;
}

size_t knn_dataset_count(const knn_dataset *ds) { return ds->count; }
size_t knn_dataset_dim(const knn_dataset *ds) { return ds->dim; }
knn_dtype knn_dataset_dtype(const knn_dataset *ds) { return ds->dtype; }
int knn_dataset_height(const knn_dataset *ds) { return ds->height; }
int knn_dataset_width(const knn_dataset *ds) { return ds->width; }
int knn_dataset_channels(const knn_dataset *ds) { return ds->channels; }
int knn_dataset_has_labels(const knn_dataset *ds) { return ds->labels != NULL; }
int knn_dataset_num_classes(const knn_dataset *ds) { return ds->num_classes; }
const char *knn_dataset_source(const knn_dataset *ds) { return ds->source; }

const char *knn_dataset_path(const knn_dataset *ds, size_t i)
{
    return ds->paths && i < ds->count ? ds->paths[i] : NULL;
}

size_t knn_dataset_skipped(const knn_dataset *ds) { return ds->nskipped; }

const char *knn_dataset_skipped_reason(const knn_dataset *ds, size_t i)
{
    return i < ds->nskipped ? ds->skipped[i] : NULL;
}

char *knn__asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s) {
        va_start(ap, fmt);
        vsnprintf(s, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    return s;
}

const char *knn_dataset_class_name(const knn_dataset *ds, int label)
{
    if (!ds->class_names || label < 0 || label >= ds->num_classes)
        return NULL;
    return ds->class_names[label];
}

/* Row i where the data set holds it (all rows but a shard's), else NULL. */
static const uint8_t *held_row(const knn_dataset *ds, size_t i)
{
    if (!ds->rows || i >= ds->count || (ds->sharded && (i < ds->row_lo || i >= ds->row_hi)))
        return NULL;
    return ds->rows + (i - ds->row_lo) * ds->stride;
}

const uint8_t *knn_dataset_picture(const knn_dataset *ds, size_t i)
{
    if (i >= ds->count)
        return NULL;
    if (ds->features)
        return ds->pictures ? ds->pictures + i * ds->pictures_stride : NULL;
    return ds->dtype == KNN_U8 && (ds->channels == 1 || ds->channels == 3) ? held_row(ds, i)
                                                                           : NULL;
}

const uint8_t *knn_dataset_row(const knn_dataset *ds, size_t i)
{
    return ds->dtype == KNN_U8 ? held_row(ds, i) : NULL;
}

const float *knn_dataset_row_f32(const knn_dataset *ds, size_t i)
{
    return ds->dtype == KNN_F32 ? (const float *)(const void *)held_row(ds, i) : NULL;
}

int32_t knn_dataset_label(const knn_dataset *ds, size_t i)
{
    return ds->labels ? ds->labels[i] : -1;
}

/* Classes by name: an index of like's class names sorted, for bsearch. */
typedef struct {
    const char *name;
    int32_t label;
} named_class;

static int by_class_name(const void *a, const void *b)
{
    return strcmp(((const named_class *)a)->name, ((const named_class *)b)->name);
}

/* map (ds->num_classes): ds's label -> like's, or -1 where like lacks the class; *unknown
 * counts those that label a row of ds (a class without rows matters to no one), and `list`
 * names the first of them. */
static knn_status class_map(const knn_dataset *ds, const knn_dataset *like, int32_t *map,
                            size_t *unknown, char *list, size_t list_size)
{
    named_class *index = malloc((size_t)(like->num_classes ? like->num_classes : 1) *
                                sizeof *index);
    bool *present = calloc((size_t)(ds->num_classes ? ds->num_classes : 1), sizeof *present);
    if (!index || !present) {
        free(index);
        free(present);
        return knn__fail(KNN_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < ds->count; i++)
        if (ds->labels[i] >= 0 && ds->labels[i] < ds->num_classes)
            present[ds->labels[i]] = true;
    for (int c = 0; c < like->num_classes; c++)
        index[c] = (named_class){like->class_names[c], c};
    qsort(index, (size_t)like->num_classes, sizeof *index, by_class_name);
    *unknown = 0;
    list[0] = '\0';
    for (int c = 0; c < ds->num_classes; c++) {
        named_class key = {ds->class_names[c], 0};
        const named_class *hit =
            bsearch(&key, index, (size_t)like->num_classes, sizeof *index, by_class_name);
        map[c] = hit ? hit->label : -1;
        if (!hit && present[c] && (*unknown)++ < 5) {
            size_t used = strlen(list);
            snprintf(list + used, list_size - used, "%s'%s'", used ? ", " : "", key.name);
        }
    }
    free(index);
    free(present);
    return KNN_OK;
}

knn_status knn_dataset_match_classes(knn_dataset *ds, const knn_dataset *like, int unknown_wrong)
{
    if (!ds->labels)
        return KNN_OK;
    if (!ds->class_names || !like->class_names) { /* by number */
        for (size_t i = 0; i < ds->count; i++)
            if (ds->labels[i] >= like->num_classes)
                return knn__fail(KNN_ERR_FORMAT,
                                 "%s: label %d of %s %zu is not a class of %s (0..%d)",
                                 ds->source, (int)ds->labels[i], knn__row_word(ds), i,
                                 like->source, like->num_classes - 1);
        return KNN_OK;
    }
    int32_t *map = malloc((size_t)(ds->num_classes ? ds->num_classes : 1) * sizeof *map);
    char list[512];
    size_t unknown = 0;
    knn_status st = map ? class_map(ds, like, map, &unknown, list, sizeof list)
                        : knn__fail(KNN_ERR_NOMEM, "out of memory");
    if (!st && unknown && !unknown_wrong)
        st = knn__fail(KNN_ERR_FORMAT,
                       "%s: %zu of its %d classes are not classes of %s: %s%s (count their "
                       "%s as wrong with --unknown-classes wrong)",
                       ds->source, unknown, ds->num_classes, like->source, list,
                       unknown > 5 ? ", ..." : "", knn__rows_word(ds));
    /* a mapped model's labels are read-only: the new ones go to memory of our own */
    int32_t *labels = st ? NULL : ds->map ? malloc((ds->count ? ds->count : 1) * sizeof *labels)
                                          : ds->labels;
    if (!st && !labels)
        st = knn__fail(KNN_ERR_NOMEM, "out of memory");
    for (size_t i = 0; !st && i < ds->count; i++)
        labels[i] = map[ds->labels[i]];
    if (!st && ds->map) {
        ds->labels = labels;
        ds->labels_copied = true;
    }
    if (!st) {
        int old = ds->num_classes;
        for (int c = 0; c < old; c++)
            free(ds->class_names[c]);
        free(ds->class_names);
        ds->class_names = NULL;
        ds->num_classes = like->num_classes;
        st = knn_dataset_set_class_names(ds, (const char *const *)like->class_names);
    }
    free(map);
    return st;
}

int knn_load_options_like(const knn_dataset *like, knn_load_options *o)
{
    if (like->text) {
        o->text = like->text;
        return 1;
    }
    if (like->features) {
        o->width = like->input_width;
        o->height = like->input_height;
        o->channels = like->input_channels;
        o->crop = like->input_crop;
        o->features = like->features;
        return 1;
    }
    if (like->dtype != KNN_U8 || (like->channels != 1 && like->channels != 3))
        return 0;
    o->width = like->width;
    o->height = like->height;
    o->channels = like->channels;
    o->crop = like->crop;
    return 1;
}
