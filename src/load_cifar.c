/* load_cifar.c: CIFAR-10 and CIFAR-100 binary batches.
 *
 * The files have no magic number: a CIFAR-10 record is 1 label byte + 3072 pixel bytes, a
 * CIFAR-100 record 1 coarse label byte + 1 fine label byte + 3072 pixels, the pixels being
 * the red, green and blue 32x32 planes in turn. The variant is told from the standard file
 * names (data_batch_N.bin / test_batch.bin; train.bin / test.bin) or else from the file size,
 * and then confirmed by the labels: every one must lie in the variant's class range. The
 * class names are read from batches.meta.txt (CIFAR-10) or fine_label_names.txt /
 * coarse_label_names.txt (CIFAR-100) beside the first batch, where present. */
#include "io.h"
#include "load.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CIFAR_DIM 3072

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static int variant_from_name(const char *path)
{
    const char *b = base_name(path);
    if (strncmp(b, "data_batch_", 11) == 0 || strcmp(b, "test_batch.bin") == 0)
        return 10;
    if (strcmp(b, "train.bin") == 0 || strcmp(b, "test.bin") == 0)
        return 100;
    return 0;
}

static knn_status detect_variant(const char *path, uint64_t size, int *variant)
{
    int by_name = variant_from_name(path);
    bool fits10 = size % (CIFAR_DIM + 1) == 0, fits100 = size % (CIFAR_DIM + 2) == 0;
    if (by_name == 10 ? fits10 : by_name == 100 ? fits100 : false) {
        *variant = by_name;
        return KNN_OK;
    }
    if (fits10 != fits100) {
        *variant = fits10 ? 10 : 100;
        return KNN_OK;
    }
    return knn__fail(KNN_ERR_FORMAT,
                     "%s: not an IDX file, and its %llu bytes are not a whole number of "
                     "CIFAR-10 (3073-byte) or CIFAR-100 (3074-byte) records",
                     path, (unsigned long long)size);
}

/* Reads the class names file `name` beside `first_batch` into ds, if that file exists: one
 * name a line, blank lines ignored. It is read whole, at most 1 MiB, and only if it is a
 * regular file (a link to /dev/zero must not stream forever). */
static knn_status read_class_names(const char *first_batch, const char *name, knn_dataset *ds)
{
    size_t dir_len = (size_t)(base_name(first_batch) - first_batch);
    char *path = malloc(dir_len + strlen(name) + 1);
    if (!path)
        return knn__fail(KNN_ERR_NOMEM, "out of memory");
    memcpy(path, first_batch, dir_len);
    strcpy(path + dir_len, name);
    struct stat sb;
    if (lstat(path, &sb) != 0 && errno == ENOENT) {
        free(path);
        return KNN_OK; /* names are optional */
    }
    uint8_t *text = NULL;
    size_t size = 0;
    knn_status st = knn__read_whole(path, 1 << 20, "a class names file", &text, &size);
    char **names = st ? NULL : calloc((size_t)ds->num_classes, sizeof *names);
    if (!st && !names)
        st = knn__fail(KNN_ERR_NOMEM, "out of memory");
    int n = 0;
    for (size_t at = 0; !st && at < size;) {
        const uint8_t *nl = memchr(text + at, '\n', size - at);
        size_t line_end = nl ? (size_t)(nl - text) : size, len = line_end - at;
        while (len > 0 && (text[at + len - 1] == '\r' || text[at + len - 1] == ' ' ||
                           text[at + len - 1] == '\t'))
            len--;
        if (len > 0 && memchr(text + at, '\0', len))
            st = knn__fail(KNN_ERR_FORMAT, "%s: a NUL byte in a class name", path);
        else if (len > 0 && n == ds->num_classes)
            st = knn__fail(KNN_ERR_FORMAT, "%s: more than %d class names", path,
                           ds->num_classes);
        else if (len > 0 &&
                 !(names[n++] = knn__asprintf("%.*s", (int)len, (const char *)text + at)))
            st = knn__fail(KNN_ERR_NOMEM, "out of memory");
        at = line_end + 1;
    }
    free(text);
    if (!st && n != ds->num_classes)
        st = knn__fail(KNN_ERR_FORMAT, "%s: %d class names for %d classes", path, n,
                       ds->num_classes);
    if (!st)
        st = knn_dataset_set_class_names(ds, (const char *const *)names);
    for (int i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
    free(path);
    return st;
}

/* Reads `count` records of `f` into rows [first, first + count) of ds (a shard: the labels
 * of all, the rows of its own; the others read into `skip`). */
static knn_status read_records(knn__file *f, knn_dataset *ds, size_t first, size_t count,
                               int variant, bool coarse, uint8_t *skip)
{
    size_t label_bytes = variant == 100 ? 2 : 1;
    int num_classes = variant == 10 ? 10 : coarse ? 20 : 100;
    char what[64];
    for (size_t i = 0; i < count; i++) {
        unsigned char lab[2];
        snprintf(what, sizeof what, "record %zu", i);
        knn_status st = knn__file_read(f, lab, label_bytes, what);
        const size_t r = first + i;
        const bool own = !ds->sharded || (r >= ds->row_lo && r < ds->row_hi);
        if (!st)
            st = knn__file_read(f, own ? ds->rows + (r - ds->row_lo) * ds->stride : skip,
                                CIFAR_DIM, what);
        if (st)
            return st;
        int label = variant == 10 ? lab[0] : coarse ? lab[0] : lab[1];
        if (label >= num_classes)
            return knn__fail(KNN_ERR_FORMAT,
                             "%s: label %d of record %zu is outside CIFAR-%d's %d %sclasses "
                             "(0..%d)",
                             f->path, label, i, variant, num_classes,
                             variant == 100 ? (coarse ? "coarse " : "fine ") : "",
                             num_classes - 1);
        ds->labels[first + i] = label;
    }
    return KNN_OK;
}

knn_status knn__load_cifar(const char *const *paths, int npaths, int variant,
                           const knn_load_options *opt, knn_dataset **out)
{
    *out = NULL;
    size_t counts[16];
    if (npaths < 1 || npaths > 16)
        return knn__fail(KNN_ERR_ARG, "CIFAR: %d batch files (1..16)", npaths);
    size_t total = 0;
    for (int i = 0; i < npaths; i++) {
        knn__file f;
        knn_status st = knn__file_open(&f, paths[i]);
        int v = variant;
        if (!st && f.compressed) /* the record count comes from the size: it must be known */
            st = knn__fail(KNN_ERR_FORMAT,
                           "%s: a gzip file that is not IDX; CIFAR batches are read "
                           "uncompressed (gunzip it first)",
                           paths[i]);
        if (!st && !v)
            st = detect_variant(paths[i], f.max_size, &v);
        knn__file_close(&f);
        if (st)
            return st;
        if (i > 0 && v != variant)
            return knn__fail(KNN_ERR_FORMAT, "%s: a CIFAR-%d batch among CIFAR-%d batches",
                             paths[i], v, variant);
        if (f.max_size % (CIFAR_DIM + (v == 100 ? 2 : 1)) != 0)
            return knn__fail(KNN_ERR_FORMAT,
                             "%s: %llu bytes is not a whole number of CIFAR-%d records",
                             paths[i], (unsigned long long)f.max_size, v);
        variant = v;
        counts[i] = (size_t)(f.max_size / (CIFAR_DIM + (v == 100 ? 2 : 1)));
        total += counts[i];
    }
    if (opt->coarse_labels && variant != 100)
        return knn__fail(KNN_ERR_ARG, "%s: coarse labels exist in CIFAR-100 only", paths[0]);
    size_t keep = opt->limit && opt->limit < total ? opt->limit : total;
    knn_dataset *ds;
    knn_status st = knn__dataset_alloc_shard(keep, CIFAR_DIM, KNN_U8, true, opt->shard, paths[0],
                                             &ds);
    if (st)
        return st;
    uint8_t *skip = malloc(CIFAR_DIM); /* the rows outside a shard */
    if (!skip) {
        knn_dataset_free(ds);
        return knn__fail(KNN_ERR_NOMEM, "%s: out of memory", paths[0]);
    }
    ds->height = 32;
    ds->width = 32;
    ds->channels = 3;
    ds->num_classes = variant == 10 ? 10 : opt->coarse_labels ? 20 : 100;
    size_t first = 0;
    for (int i = 0; !st && i < npaths && first < keep; i++) {
        knn__file f;
        st = knn__file_open(&f, paths[i]);
        size_t n = counts[i] < keep - first ? counts[i] : keep - first;
        if (!st)
            st = read_records(&f, ds, first, n, variant, opt->coarse_labels != 0, skip);
        knn__file_close(&f);
        first += n;
    }
    free(skip);
    if (!st)
        st = read_class_names(paths[0],
                              variant == 10          ? "batches.meta.txt"
                              : opt->coarse_labels ? "coarse_label_names.txt"
                                                   : "fine_label_names.txt",
                              ds);
    if (st) {
        knn_dataset_free(ds);
        return st;
    }
    *out = ds;
    return KNN_OK;
}
