/* load_idx.c: the IDX format of MNIST, Fashion-MNIST, KMNIST and EMNIST, raw or gzip.
 *
 * An IDX file starts with a magic number 0x0000TTNN (TT: element type, 0x08 = uint8, 0x0D =
 * float32; NN: the number of dimensions), then NN big-endian uint32 sizes, then the data
 * (float32 big-endian too: real-valued features, read into a float32 data set). Images files have
 * 3 dimensions (count, rows, columns) or more; labels files have one (count). The labels file
 * is found beside the images by the standard naming: "images" -> "labels", "idx3" -> "idx1",
 * with or without ".gz". Every size is checked against the caps and against the file's
 * length (for gzip, the most its compressed bytes can hold) before anything is allocated, so
 * an absurd header costs nothing; the data is then read to its end, so a file holding more
 * or less than its header says is refused. Concatenated gzip members read as one stream. */
#include "io.h"
#include "load.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IDX_MAX_DIMS 8

const char *const knn__fashion_mnist_names[10] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
const char *const knn__mnist_names[10] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
const char *const knn__kmnist_names[10] = {"o", "ki", "su", "tsu", "na",
                                           "ha", "ma", "ya", "re", "wo"};

typedef struct {
    int ndims;
    knn_dtype dtype;
    uint32_t size[IDX_MAX_DIMS];
    size_t header_bytes;
} idx_header;

static const char *idx_type_name(unsigned t)
{
    switch (t) {
    case 0x08: return "uint8";
    case 0x09: return "int8";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    }
    return NULL;
}

static knn_status idx_read_header(knn__file *f, idx_header *h)
{
    unsigned char m[4];
    knn_status st = knn__file_read(f, m, 4, "the IDX magic number");
    if (st)
        return st;
    const char *type = idx_type_name(m[2]);
    if (m[0] != 0 || m[1] != 0 || !type || m[3] == 0)
        return knn__fail(KNN_ERR_FORMAT,
                         "%s: not an IDX file (magic number %02x %02x %02x %02x)", f->path,
                         m[0], m[1], m[2], m[3]);
    if (m[2] != 0x08 && m[2] != 0x0D)
        return knn__fail(KNN_ERR_FORMAT,
                         "%s: IDX elements are %s; knn reads uint8 and float32 only", f->path,
                         type);
    h->dtype = m[2] == 0x0D ? KNN_F32 : KNN_U8;
    if (m[3] > IDX_MAX_DIMS)
        return knn__fail(KNN_ERR_FORMAT, "%s: IDX header has %u dimensions (at most %d)",
                         f->path, m[3], IDX_MAX_DIMS);
    h->ndims = m[3];
    unsigned char s[4 * IDX_MAX_DIMS];
    st = knn__file_read(f, s, 4 * (size_t)h->ndims, "the IDX header");
    if (st)
        return st;
    for (int i = 0; i < h->ndims; i++)
        h->size[i] = (uint32_t)s[4 * i] << 24 | (uint32_t)s[4 * i + 1] << 16 |
                     (uint32_t)s[4 * i + 2] << 8 | (uint32_t)s[4 * i + 3];
    h->header_bytes = 4 + 4 * (size_t)h->ndims;
    return KNN_OK;
}

/* The labels file that goes with `images_path`, or NULL with *tried listing the names. */
static char *find_labels_file(const char *images_path, char *tried, size_t tried_size)
{
    size_t n = strlen(images_path);
    char *base = malloc(n + 4);
    if (!base)
        return NULL;
    memcpy(base, images_path, n + 1);
    char *slash = strrchr(base, '/');
    char *name = slash ? slash + 1 : base;
    char *found = NULL;
    char *last = NULL;
    for (char *p = strstr(name, "images"); p; p = strstr(p + 1, "images"))
        last = p;
    if (last) {
        memcpy(last, "labels", 6);
        char *idx3 = strstr(name, "idx3");
        if (idx3)
            idx3[3] = '1';
        size_t len = strlen(base);
        bool gz = len > 3 && strcmp(base + len - 3, ".gz") == 0;
        snprintf(tried, tried_size, "%s", base);
        if (knn__is_file(base)) {
            found = base;
        } else {
            if (gz)
                base[len - 3] = '\0';
            else
                memcpy(base + len, ".gz", 4);
            size_t used = strlen(tried);
            snprintf(tried + used, tried_size - used, " or %s", base);
            if (knn__is_file(base))
                found = base;
        }
    } else {
        snprintf(tried, tried_size, "a name with \"labels\" in place of \"images\"");
    }
    if (!found)
        free(base);
    return found;
}

/* Reads a row of ds into `row`: uint8 as is; float32 from big-endian, each value checked
 * finite. */
static knn_status read_row(knn__file *f, const knn_dataset *ds, uint8_t *row, const char *what)
{
    knn_status st = knn__file_read(f, row, ds->dim * knn__dtype_size(ds->dtype), what);
    if (st || ds->dtype == KNN_U8)
        return st;
    for (size_t d = 0; d < ds->dim; d++) {
        uint8_t *b = row + 4 * d;
        uint32_t bits = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
        float v;
        memcpy(&v, &bits, 4);
        if (!isfinite(v))
            return knn__fail(KNN_ERR_FORMAT, "%s: value %zu of %s is %g: not a finite number",
                             f->path, d, what, (double)v);
        memcpy(b, &v, 4);
    }
    return KNN_OK;
}

static knn_status read_labels(const char *path, knn_dataset *ds, size_t image_count,
                              const char *const *names, int n_names)
{
    knn__file f;
    knn_status st = knn__file_open(&f, path);
    idx_header h;
    if (!st)
        st = idx_read_header(&f, &h);
    if (!st && h.ndims != 1)
        st = knn__fail(KNN_ERR_FORMAT, "%s: a labels file has 1 dimension, this one has %d",
                       path, h.ndims);
    if (!st && h.size[0] != image_count)
        st = knn__fail(KNN_ERR_FORMAT, "%s: %u labels for %zu images", path, h.size[0],
                       image_count);
    if (!st)
        st = knn__file_expect_size(&f, h.header_bytes + (uint64_t)h.size[0], "the IDX header");
    uint8_t *raw = NULL;
    if (!st && !(raw = malloc(ds->count ? ds->count : 1)))
        st = knn__fail(KNN_ERR_NOMEM, "%s: out of memory", path);
    if (!st)
        st = knn__file_read(&f, raw, ds->count, "the labels");
    if (!st && ds->count == image_count)
        st = knn__file_expect_end(&f, "the IDX header");
    knn__file_close(&f);
    int max_label = -1;
    for (size_t i = 0; !st && i < ds->count; i++) {
        if (names && raw[i] >= n_names)
            st = knn__fail(KNN_ERR_FORMAT,
                           "%s: label %u of image %zu is outside the %d classes (0..%d)", path,
                           raw[i], i, n_names, n_names - 1);
        ds->labels[i] = raw[i];
        if (raw[i] > max_label)
            max_label = raw[i];
    }
    free(raw);
    if (st)
        return st;
    ds->num_classes = names ? n_names : max_label + 1;
    return names ? knn_dataset_set_class_names(ds, names) : KNN_OK;
}

knn_status knn__load_idx(const char *images_path, const char *const *names, int n_names,
                         const knn_load_options *opt, knn_dataset **out)
{
    *out = NULL;
    if (opt->coarse_labels)
        return knn__fail(KNN_ERR_ARG, "%s: coarse labels exist in CIFAR-100 only", images_path);
    knn__file f;
    knn_status st = knn__file_open(&f, images_path);
    if (st)
        return st;
    idx_header h;
    st = idx_read_header(&f, &h);
    if (!st && h.ndims < 2)
        st = knn__fail(KNN_ERR_FORMAT,
                       "%s: an IDX file of %d dimension(s) holds labels, not images; give the "
                       "images file",
                       images_path, h.ndims);
    size_t dim = 1;
    for (int i = 1; !st && i < h.ndims; i++)
        if (!knn__mul_ok(dim, h.size[i], &dim) || dim > KNN_MAX_DIM || h.size[i] == 0)
            st = knn__fail(KNN_ERR_LIMIT,
                           "%s: images of %u values in dimension %d make rows outside 1..%zu "
                           "values",
                           images_path, h.size[i], i, KNN_MAX_DIM);
    size_t count = st ? 0 : h.size[0];
    /* count < 2^32, dim <= KNN_MAX_DIM, 4 bytes a value at most: no overflow */
    uint64_t data_bytes = (uint64_t)count * dim * (st ? 1 : knn__dtype_size(h.dtype));
    char header[128];
    snprintf(header, sizeof header, "the header (%zu images of %zu values)", count, dim);
    if (!st && count > KNN_MAX_ROWS)
        st = knn__fail(KNN_ERR_LIMIT, "%s: %zu images is more than the limit of %zu",
                       images_path, count, KNN_MAX_ROWS);
    if (!st)
        st = knn__file_expect_size(&f, h.header_bytes + data_bytes, header);

    size_t keep = opt->limit && opt->limit < count ? opt->limit : count;
    char tried[2 * 4096 + 8] = "";
    char *labels_path = NULL;
    if (!st) {
        labels_path = find_labels_file(images_path, tried, sizeof tried);
        if (!labels_path && !opt->labels_optional)
            st = knn__fail(KNN_ERR_IO, "%s: no labels file beside it (looked for %s)",
                           images_path, tried);
    }
    knn_dataset *ds = NULL;
    if (!st)
        st = knn__dataset_alloc_shard(keep, dim, h.dtype, labels_path != NULL, opt->shard,
                                      images_path, &ds);
    uint8_t *skip = NULL; /* a shard reads the rows before its own into this, and stops */
    if (!st && ds->sharded && ds->row_lo > 0 &&
        !(skip = aligned_alloc(KNN__ALIGN, ds->stride)))
        st = knn__fail(KNN_ERR_NOMEM, "%s: out of memory", images_path);
    if (!st) {
        ds->height = h.ndims >= 2 ? (int)h.size[1] : 1;
        ds->width = h.ndims >= 3 ? (int)h.size[2] : 1;
        ds->channels = (int)(dim / ((size_t)ds->height * (size_t)ds->width));
        const size_t lo = ds->row_lo, end = ds->sharded ? ds->row_hi : keep;
        char what[64];
        for (size_t i = 0; !st && i < end; i++) {
            snprintf(what, sizeof what, "image %zu of %zu", i, count);
            st = read_row(&f, ds, i < lo ? skip : ds->rows + (i - lo) * ds->stride, what);
        }
        if (!st && end == count)
            st = knn__file_expect_end(&f, header);
    }
    free(skip);
    knn__file_close(&f);
    if (!st && labels_path)
        st = read_labels(labels_path, ds, count, names, n_names);
    free(labels_path);
    if (st) {
        knn_dataset_free(ds);
        return st;
    }
    *out = ds;
    return KNN_OK;
}
