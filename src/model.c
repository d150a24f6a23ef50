/* model.c: model files, a training set and its settings in one file that loads by mapping.
 *
 * Layout (little-endian, every section 64-byte aligned so the mapped rows are aligned as
 * the search requires):
 *     header   256 bytes: the fields of model_header below
 *     rows     count x stride bytes, exactly the in-memory layout (zero padded rows)
 *     labels   count x int32 (if has_labels)
 *     names    num_classes NUL-terminated class names (names_bytes; 0 if none)
 *     paths    count NUL-terminated image paths (paths_bytes; 0 if none)
 *     network  version 2 only: the ONNX file the rows were computed with (network_bytes),
 *              its preprocessing and the image conversion of its inputs in the header
 *     scales   version 2, quantised features only: dim float32 minima, then dim steps
 *     pictures version 2, where kept: the images the features were computed from, count rows
 *              of the input conversion's planes, each padded to a multiple of 64 bytes
 *     index    version 3, where built: the graph index (hnsw.c: its own header, the lists of
 *              level 0, the levels, the upper lists), to the end of the file
 *     text     version 4, text data sets (dtype KNN_SPARSE, rows of 0 bytes): the vectoriser
 *              and the sparse rows and documents (text.c: a 128-byte header, then the idf,
 *              the terms, the rows in CSR, the documents), to the end of the file
 * The CRC-32 covers the whole file with the checksum field taken as zero. Loading checks the
 * magic, the version (a newer file is refused, by name), every size and offset against the
 * file's length with overflow-checked arithmetic, the checksum, and the labels' range, so a
 * truncated, corrupt or foreign file is an error and never a crash.
 *
 * A mapped file is untrusted memory even after these checks: whoever can write the file can
 * change it while it is in use. The vote checks every label it reads again, and a server
 * loads with `private_copy`, reading the file into memory of its own, which nothing done to
 * the file can reach (truncating a mapped file gives SIGBUS on the next read of a lost page). */
#include "io.h"
#include "text.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define MAGIC "KNNMODEL"
#define HEADER_BYTES 256

typedef struct {
    char magic[8];
    uint32_t version, header_bytes;
    uint64_t file_bytes, checksum;
    uint64_t count, dim;
    uint32_t dtype, stride;
    int32_t num_classes, height, width, channels, crop;
    int32_t k, metric, weights, ties;
    uint32_t has_labels;
    uint64_t rows_offset, labels_offset, names_offset, names_bytes, paths_offset, paths_bytes;
    /* version 2: features (all zero in version 1 files, whose header is zero-filled) */
    uint64_t network_offset, network_bytes;
    int32_t input_height, input_width, input_channels, input_crop;
    float scale, mean[3], std[3];
    int32_t bgr, batch;
    uint64_t scales_offset, scales_bytes; /* quantised features: 8 x dim, else 0 */
    uint64_t pictures_offset, pictures_bytes; /* the images behind the features, or 0 */
    /* version 3: the graph index, from here to the end of the file (0: none) */
    uint64_t index_offset;
    /* version 4: text (dtype KNN_SPARSE): the text section follows the paths, 64-byte
     * aligned, to the end of the file (the header has no room for another offset) */
} model_header;

/* Where a text model's text section starts (its paths' end, aligned); 0 for other models. */
static uint64_t text_offset(const model_header *h)
{
    return h->dtype == KNN_SPARSE ? knn__align64(h->paths_offset + h->paths_bytes) : 0;
}

_Static_assert(sizeof(model_header) <= HEADER_BYTES, "the header fits its 256 bytes");

bool knn__is_model_file(const char *path)
{
    char magic[8];
    int fd;
    uint64_t size;
    if (knn__open_regular(path, &fd, &size))
        return false;
    bool yes = read(fd, magic, 8) == 8 && memcmp(magic, MAGIC, 8) == 0;
    close(fd);
    return yes;
}

static size_t strings_bytes(char *const *s, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; s && i < n; i++)
        total += strlen(s[i] ? s[i] : "") + 1;
    return s ? total : 0;
}

/* Feeds n bytes to the checksum and, when f is not NULL, to the file. */
static bool emit(FILE *f, const void *buf, size_t n, uLong *crc)
{
    const unsigned char *p = buf;
    for (size_t at = 0; at < n;) {
        size_t chunk = n - at > (1u << 30) ? (1u << 30) : n - at;
        *crc = crc32(*crc, p + at, (uInt)chunk);
        at += chunk;
    }
    return !f || n == 0 || fwrite(buf, 1, n, f) == n; /* n = 0: text's rows, buf NULL */
}

static bool emit_strings(FILE *f, char *const *s, size_t n, uLong *crc)
{
    for (size_t i = 0; s && i < n; i++) {
        const char *v = s[i] ? s[i] : "";
        if (!emit(f, v, strlen(v) + 1, crc))
            return false;
    }
    return true;
}

static bool emit_zeros(FILE *f, size_t n, uLong *crc)
{
    static const char zeros[64]; /* padding: always less than 64 bytes */
    return emit(f, zeros, n, crc);
}

/* The header of train's model file with settings p; the checksum field is 0. */
static void make_header(const knn_dataset *train, const knn_params *p, model_header *h)
{
    memset(h, 0, sizeof *h);
    memcpy(h->magic, MAGIC, 8);
    h->version = train->text ? 4 : train->index ? 3 : train->features ? 2 : 1; /* the oldest */
    h->header_bytes = HEADER_BYTES;
    h->count = train->count;
    h->dim = train->dim;
    h->dtype = (uint32_t)train->dtype;
    h->stride = (uint32_t)train->stride;
    h->num_classes = train->num_classes;
    h->height = train->height;
    h->width = train->width;
    h->channels = train->channels;
    h->crop = train->crop;
    h->k = p->k;
    h->metric = (int32_t)p->metric;
    h->weights = (int32_t)p->weights;
    h->ties = (int32_t)p->ties;
    h->has_labels = train->labels != NULL;
    h->rows_offset = HEADER_BYTES;
    h->labels_offset = h->rows_offset + (uint64_t)train->count * train->stride;
    uint64_t labels_bytes = h->has_labels ? (uint64_t)train->count * 4 : 0;
    h->names_offset = knn__align64(h->labels_offset + labels_bytes);
    h->names_bytes = strings_bytes(train->class_names, (size_t)train->num_classes);
    h->paths_offset = knn__align64(h->names_offset + h->names_bytes);
    h->paths_bytes = strings_bytes(train->paths, train->count);
    h->file_bytes = h->paths_offset + h->paths_bytes;
    if (train->features) {
        size_t size;
        knn__features_bytes(train->features, &size);
        knn_features_options o = knn_features_get_options(train->features);
        h->network_offset = knn__align64(h->file_bytes);
        h->network_bytes = size;
        h->file_bytes = h->network_offset + size;
        if (knn_features_quantized(train->features)) {
            h->scales_offset = knn__align64(h->file_bytes);
            h->scales_bytes = 8 * (uint64_t)train->dim;
            h->file_bytes = h->scales_offset + h->scales_bytes;
        }
        if (train->pictures) {
            h->pictures_offset = knn__align64(h->file_bytes);
            h->pictures_bytes = (uint64_t)train->count * train->pictures_stride;
            h->file_bytes = h->pictures_offset + h->pictures_bytes;
        }
        h->input_height = train->input_height;
        h->input_width = train->input_width;
        h->input_channels = train->input_channels;
        h->input_crop = train->input_crop;
        h->scale = o.scale;
        memcpy(h->mean, o.mean, sizeof h->mean);
        memcpy(h->std, o.std, sizeof h->std);
        h->bgr = o.bgr;
        h->batch = o.batch;
    }
    if (train->index) {
        h->index_offset = knn__align64(h->file_bytes);
        h->file_bytes = h->index_offset + knn__hnsw_section_bytes(train->index);
    }
    if (train->text) { /* text sets have no network or index */
        h->height = h->width = h->channels = 1;
        h->file_bytes = text_offset(h) + knn__text_section_bytes(train);
    }
}

/* The text section, after the padding that aligns it: its header, then its parts, each at a
 * multiple of 64 bytes from the section's start. */
static bool emit_text(FILE *f, const knn_dataset *train, const model_header *h, uint64_t end,
                      uLong *crc)
{
    unsigned char header[KNN__TEXT_HEADER_BYTES];
    const void *ptr[KNN__TEXT_PARTS];
    uint64_t bytes[KNN__TEXT_PARTS];
    int parts = knn__text_parts(train, header, ptr, bytes);
    bool ok = emit_zeros(f, (size_t)(text_offset(h) - end), crc) &&
              emit(f, header, sizeof header, crc);
    uint64_t at = sizeof header;
    for (int i = 0; ok && i < parts; i++) {
        const uint64_t start = i ? knn__align64(at) : at;
        ok = emit_zeros(f, (size_t)(start - at), crc) && emit(f, ptr[i], (size_t)bytes[i], crc);
        at = start + bytes[i];
    }
    return ok;
}

/* The index section, after the padding that aligns it (the file's end at `end`). */
static bool emit_index(FILE *f, const knn_dataset *train, const model_header *h, uint64_t end,
                       uLong *crc)
{
    unsigned char header[64];
    const void *ptr[5];
    uint64_t bytes[5];
    int parts = knn__hnsw_parts(train->index, header, ptr, bytes);
    bool ok = emit_zeros(f, (size_t)(h->index_offset - end), crc);
    for (int i = 0; ok && i < parts; i++)
        ok = emit(f, ptr[i], (size_t)bytes[i], crc) &&
             (i == parts - 1 || emit_zeros(f, (size_t)(knn__align64(bytes[i]) - bytes[i]), crc));
    return ok;
}

/* The network section, after the paths' padding, then its scales and pictures. */
static bool emit_network(FILE *f, const knn_dataset *train, const model_header *h, uLong *crc)
{
    size_t size;
    const uint8_t *bytes = knn__features_bytes(train->features, &size);
    const float *step, *lo = knn__features_scales(train->features, &step);
    uint64_t end = h->network_offset + h->network_bytes;
    bool ok = emit_zeros(f, (size_t)(h->network_offset - h->paths_offset - h->paths_bytes), crc) &&
              emit(f, bytes, size, crc);
    if (ok && h->scales_bytes) {
        ok = emit_zeros(f, (size_t)(h->scales_offset - end), crc) &&
             emit(f, lo, (size_t)h->scales_bytes / 2, crc) &&
             emit(f, step, (size_t)h->scales_bytes / 2, crc);
        end = h->scales_offset + h->scales_bytes;
    }
    if (ok && h->pictures_bytes)
        ok = emit_zeros(f, (size_t)(h->pictures_offset - end), crc) &&
             emit(f, train->pictures, (size_t)h->pictures_bytes, crc);
    return ok;
}

/* Where the sections before the index end. */
static uint64_t body_end(const model_header *h)
{
    return h->pictures_bytes  ? h->pictures_offset + h->pictures_bytes
           : h->scales_bytes  ? h->scales_offset + h->scales_bytes
           : h->network_bytes ? h->network_offset + h->network_bytes
                              : h->paths_offset + h->paths_bytes;
}

/* The file after the rows, to f (or only to the checksum when f is NULL). */
static bool emit_tail(FILE *f, const knn_dataset *train, const model_header *h, uLong *crc)
{
    uint64_t labels_bytes = h->has_labels ? (uint64_t)train->count * 4 : 0;
    return (!h->has_labels || emit(f, train->labels, (size_t)labels_bytes, crc)) &&
           emit_zeros(f, (size_t)(h->names_offset - h->labels_offset - labels_bytes), crc) &&
           emit_strings(f, train->class_names, (size_t)train->num_classes, crc) &&
           emit_zeros(f, (size_t)(h->paths_offset - h->names_offset - h->names_bytes), crc) &&
           emit_strings(f, train->paths, train->count, crc) &&
           (!h->network_bytes || emit_network(f, train, h, crc)) &&
           (!h->index_offset || emit_index(f, train, h, body_end(h), crc)) &&
           (!train->text || emit_text(f, train, h, body_end(h), crc));
}

/* The whole file after the header. */
static bool emit_body(FILE *f, const knn_dataset *train, const model_header *h, uLong *crc)
{
    return emit(f, train->rows, (size_t)train->count * train->stride, crc) &&
           emit_tail(f, train, h, crc);
}

knn_status knn_model_write(const knn_dataset *train, const knn_params *p, FILE *f)
{
    knn_status st = knn__metric_check(p->metric, train); /* cosine: float32 only */
    if (!st)
        st = knn__whole(train, "a model file");
    if (st)
        return st;
    model_header h;
    make_header(train, p, &h);
    unsigned char header[HEADER_BYTES] = {0};
    memcpy(header, &h, sizeof h);
    /* first the checksum, then the file: it is written front to back, once */
    uLong crc = crc32(0, Z_NULL, 0);
    emit(NULL, header, HEADER_BYTES, &crc);
    emit_body(NULL, train, &h, &crc);
    h.checksum = crc;
    memcpy(header, &h, sizeof h);
    uLong ignored = 0;
    if (!emit(f, header, HEADER_BYTES, &ignored) || !emit_body(f, train, &h, &ignored))
        return knn__fail(KNN_ERR_IO, "writing the model failed: %s", strerror(errno));
    return KNN_OK;
}

/* The whole model file: mapped read-only, or with `copy` read into 64-byte-aligned memory of
 * our own, so that nothing done to the file later (truncation: SIGBUS; rewriting in place:
 * labels out of range after their check) can reach the loaded data set. */
static knn_status map_or_copy(const char *path, bool copy, void **map, size_t *bytes)
{
    int fd;
    uint64_t size;
    knn_status st = knn__open_regular(path, &fd, &size);
    if (st)
        return st;
    if (size < HEADER_BYTES || size > SIZE_MAX / 2) {
        close(fd);
        return knn__fail(KNN_ERR_FORMAT, "%s: truncated model file (%llu bytes)", path,
                         (unsigned long long)size);
    }
    *bytes = (size_t)size;
    if (!copy) {
        *map = mmap(NULL, *bytes, PROT_READ, MAP_PRIVATE, fd, 0);
        close(fd);
        if (*map == MAP_FAILED)
            return knn__fail(KNN_ERR_IO, "%s: cannot map the model: %s", path, strerror(errno));
        return KNN_OK;
    }
    if (!knn__memory_fits(*bytes)) {
        close(fd);
        return knn__fail(KNN_ERR_NOMEM, "%s: a copy of the model needs %.1f GiB, more than the "
                                        "memory available",
                         path, (double)*bytes / (1 << 30));
    }
    uint8_t *buf = aligned_alloc(KNN__ALIGN, knn__align64(*bytes));
    size_t got = 0;
    while (buf && got < *bytes) {
        ssize_t r = read(fd, buf + got, *bytes - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    int err = errno;
    close(fd);
    if (!buf)
        return knn__fail(KNN_ERR_NOMEM, "%s: out of memory for a copy of the model", path);
    if (got < *bytes) {
        free(buf);
        return knn__fail(KNN_ERR_IO, "%s: %s", path,
                         err ? strerror(err) : "the file shrank while being read");
    }
    *map = buf;
    return KNN_OK;
}

/* Reads n NUL-terminated strings from [p, p + bytes) into a new array; NULL if they do not
 * fit exactly. */
static char **read_strings(const char *p, uint64_t bytes, size_t n)
{
    char **out = calloc(n ? n : 1, sizeof *out);
    size_t at = 0;
    for (size_t i = 0; out && i < n; i++) {
        const char *end = at < bytes ? memchr(p + at, '\0', (size_t)(bytes - at)) : NULL;
        if (!end || !(out[i] = knn__strdup(p + at))) {
            for (size_t j = 0; j < i; j++)
                free(out[j]);
            free(out);
            return NULL;
        }
        at = (size_t)(end - p) + 1;
    }
    if (out && at != bytes) {
        for (size_t j = 0; j < n; j++)
            free(out[j]);
        free(out);
        return NULL;
    }
    return out;
}

/* The sections after the paths of a model with a network, in overflow-safe arithmetic (every
 * offset is first checked to lie within the file). */
static bool network_parts_fit(const model_header *h, uint64_t paths_end, uint64_t bytes)
{
    /* bytes: where these sections must end (the file's end, or the index's padded start) */
    if (h->network_offset != knn__align64(paths_end) || h->network_offset > bytes ||
        h->network_bytes > bytes - h->network_offset)
        return false;
    uint64_t end = h->network_offset + h->network_bytes;
    if (h->scales_bytes) {
        if (h->dtype != KNN_U8 || h->scales_bytes != 8 * h->dim ||
            h->scales_offset != knn__align64(end) || h->scales_offset > bytes ||
            h->scales_bytes > bytes - h->scales_offset)
            return false;
        end = h->scales_offset + h->scales_bytes;
    } else if (h->dtype != KNN_F32 || h->scales_offset != 0) {
        return false;
    }
    if (h->pictures_bytes) {
        uint64_t row = knn__align64((uint64_t)h->input_height * (uint64_t)h->input_width *
                               (uint64_t)h->input_channels),
                 all;
        if (h->input_height < 1 || h->input_height > 65536 || h->input_width < 1 ||
            h->input_width > 65536 || h->input_channels < 1 || h->input_channels > 3 ||
            __builtin_mul_overflow(row, h->count, &all) || h->pictures_bytes != all ||
            h->pictures_offset != knn__align64(end) || h->pictures_offset > bytes ||
            h->pictures_bytes > bytes - h->pictures_offset)
            return false;
        end = h->pictures_offset + h->pictures_bytes;
    } else if (h->pictures_offset != 0) {
        return false;
    }
    return end == bytes || (h->index_offset && knn__align64(end) == bytes);
}

/* The header's own fields: magic, version, the file's length, and sizes that add up to
 * exactly the file, in overflow-safe arithmetic (every factor is capped first). */
static knn_status check_header(const char *path, const model_header *h, size_t bytes)
{
    if (memcmp(h->magic, MAGIC, 8) != 0)
        return knn__fail(KNN_ERR_FORMAT, "%s: not a knn model file", path);
    if (h->version > KNN_MODEL_VERSION)
        return knn__fail(KNN_ERR_FORMAT,
                         "%s: model file version %u is newer than this knn reads (%d); use a "
                         "newer knn",
                         path, h->version, KNN_MODEL_VERSION);
    if (h->version < 1 || h->header_bytes != HEADER_BYTES)
        return knn__fail(KNN_ERR_FORMAT, "%s: corrupt model header", path);
    if (h->file_bytes != bytes)
        return knn__fail(KNN_ERR_FORMAT, "%s: the model file has %zu bytes, its header says "
                                         "%llu: truncated or corrupt",
                         path, bytes, (unsigned long long)h->file_bytes);
    /* the index, where there is one, is the last section: the others end before it */
    if (h->index_offset && (h->version < 3 || h->index_offset % 64 || h->index_offset > bytes ||
                            h->index_offset < HEADER_BYTES))
        return knn__fail(KNN_ERR_FORMAT, "%s: corrupt model header (the index's offset)", path);
    if (h->index_offset)
        bytes = (size_t)h->index_offset;
    /* text: the last section, with rows of 0 bytes, no network and no index */
    const bool text = h->dtype == KNN_SPARSE;
    if (text && (h->version < 4 || h->paths_offset > bytes ||
                 h->paths_bytes > bytes - h->paths_offset ||
                 text_offset(h) > bytes || h->index_offset || h->network_bytes ||
                 h->stride != 0 || h->dim >= UINT32_MAX || h->height != 1 || h->width != 1 ||
                 h->channels != 1 || h->metric != KNN_COSINE))
        return knn__fail(KNN_ERR_FORMAT, "%s: corrupt model header (its text section)", path);
    if (text)
        bytes = (size_t)text_offset(h);
    const uint64_t expect_stride =
        text ? 0 : knn__align64(h->dim * (h->dtype == KNN_F32 ? 4 : 1));
    bool sizes = h->dim >= 1 && (text || h->dim <= KNN_MAX_DIM) && h->count <= KNN_MAX_ROWS &&
                 (h->dtype == KNN_U8 || h->dtype == KNN_F32 || text) &&
                 h->stride == expect_stride &&
                 h->num_classes >= 0 && h->num_classes <= KNN_MAX_CLASSES &&
                 (h->has_labels == 0 || h->num_classes >= 1) && h->height >= 1 &&
                 h->width >= 1 && h->channels >= 1 &&
                 (text ||
                  (uint64_t)h->height * (uint64_t)h->width * (uint64_t)h->channels == h->dim) &&
                 h->k >= 1 &&
                 (h->metric == KNN_L1 || h->metric == KNN_L2 ||
                  (h->metric == KNN_COSINE && h->dtype != KNN_U8)) &&
                 (h->weights == 0 || h->weights == 1) && (h->ties == 0 || h->ties == 1);
    const uint64_t rows_bytes = h->count * h->stride; /* < 2^31 x 2^26: no overflow */
    const uint64_t labels_end = h->labels_offset + (h->has_labels ? h->count * 4 : 0);
    sizes = sizes && h->rows_offset == HEADER_BYTES &&
            h->labels_offset == h->rows_offset + rows_bytes && labels_end <= h->names_offset &&
            h->names_offset % 64 == 0 && h->names_offset <= bytes &&
            h->names_bytes <= bytes - h->names_offset &&
            h->names_offset + h->names_bytes <= h->paths_offset && h->paths_offset <= bytes &&
            h->paths_bytes <= bytes - h->paths_offset;
    const uint64_t paths_end = h->paths_offset + h->paths_bytes;
    if (!h->network_bytes) /* no network: the paths end the file (or come before the index or
                              the text) */
        sizes = sizes && h->network_offset == 0 &&
                (paths_end == bytes ||
                 ((h->index_offset || text) && knn__align64(paths_end) == bytes));
    else /* the network, then the scales (quantised: uint8 codes; else float32 features),
            then the pictures, each 64-byte aligned, the last ending the file */
        sizes = sizes && h->version >= 2 && network_parts_fit(h, paths_end, bytes) &&
                (h->input_channels == 1 || h->input_channels == 3) && h->input_height >= 1 &&
                h->input_height <= 65536 && h->input_width >= 1 && h->input_width <= 65536 &&
                (h->input_crop == 0 || h->input_crop == 1);
    return sizes ? KNN_OK
                 : knn__fail(KNN_ERR_FORMAT, "%s: corrupt model header (sizes do not add up)",
                             path);
}

/* crc extended by the n bytes at p, in pieces that zlib's uInt holds. */
static uLong crc_bytes(uLong crc, const unsigned char *p, uint64_t n)
{
    for (uint64_t at = 0; at < n;) {
        const uint64_t chunk = n - at > (1u << 30) ? (1u << 30) : n - at;
        crc = crc32(crc, p + at, (uInt)chunk);
        at += chunk;
    }
    return crc;
}

/* The CRC-32 of the whole file with the checksum field taken as zero. A shard
 * (knn_load_options.shard) reads only its own rows: the rows are split over the processes like
 * the shards, each process's CRC-32 of its part passed to all (knn_shard's broadcast) and put
 * together with the header's and the sections' after the rows (zlib's crc32_combine), so
 * that all reach one verdict. */
static knn_status check_checksum(const char *path, const model_header *h, const void *map,
                                 size_t bytes, const knn_shard *shard)
{
    model_header zeroed = *h;
    zeroed.checksum = 0;
    unsigned char header[HEADER_BYTES];
    memcpy(header, map, HEADER_BYTES);
    memcpy(header, &zeroed, sizeof zeroed);
    const unsigned char *base = map;
    uLong crc = crc32(crc32(0, Z_NULL, 0), header, HEADER_BYTES);
    if (!shard) {
        crc = crc_bytes(crc, base + HEADER_BYTES, bytes - HEADER_BYTES);
    } else {
        /* check_header: rows_offset is HEADER_BYTES and the rows end inside the file */
        const uint64_t rows_end = h->rows_offset + h->count * h->stride;
        for (int j = 0; j < shard->count; j++) {
            size_t lo, hi;
            knn_shard_rows((size_t)h->count, j, shard->count, &lo, &hi);
            const uint64_t len = (uint64_t)(hi - lo) * h->stride;
            uint64_t part = j != shard->index ? 0
                            : crc_bytes(crc32(0, Z_NULL, 0),
                                        base + h->rows_offset + lo * h->stride, len);
            knn_status st = knn__shard_broadcast(shard, &part, sizeof part, j);
            if (st)
                return st;
            crc = crc32_combine(crc, (uLong)part, (z_off_t)len);
        }
        crc = crc32_combine(crc, crc_bytes(crc32(0, Z_NULL, 0), base + rows_end, bytes - rows_end),
                            (z_off_t)(bytes - rows_end));
    }
    return crc == h->checksum
               ? KNN_OK
               : knn__fail(KNN_ERR_FORMAT, "%s: checksum mismatch: the model file is corrupt",
                           path);
}

/* What the kernels and the vote rely on, row by row: zero padding (kernels sum whole padded
 * rows), finite floats, labels among the classes. `rows_known`: the rows were written by
 * this process (knn_model_write_folder), their padding zero; only the labels are read. */
static knn_status check_rows(const char *path, const model_header *h, const knn_dataset *ds,
                             bool rows_known)
{
    const size_t row_bytes = h->dim * (h->dtype == KNN_F32 ? 4 : 1);
    /* the rows held: a shard's own (ds->rows points at row_lo's), else all of the file's */
    const size_t held = ds->sharded ? knn__held(ds) : h->count;
    for (size_t r = 0; !rows_known && h->dtype != KNN_SPARSE && r < held; r++) {
        /* text: text.c checks */
        const size_t i = r + ds->row_lo;
        const uint8_t *row = ds->rows + r * h->stride;
        for (size_t b = row_bytes; b < h->stride; b++)
            if (row[b])
                return knn__fail(KNN_ERR_FORMAT, "%s: row %zu has non-zero padding", path, i);
        for (size_t d = 0; h->dtype == KNN_F32 && d < h->dim; d++) {
            float v;
            memcpy(&v, row + 4 * d, 4);
            if (!isfinite(v))
                return knn__fail(KNN_ERR_FORMAT, "%s: value %zu of row %zu is not finite",
                                 path, d, i);
        }
    }
    for (size_t i = 0; ds->labels && i < h->count; i++)
        if (ds->labels[i] < 0 || ds->labels[i] >= h->num_classes)
            return knn__fail(KNN_ERR_FORMAT, "%s: label %d of row %zu is outside 0..%d", path,
                             (int)ds->labels[i], i, h->num_classes - 1);
    return KNN_OK;
}

/* A shard of a model with a graph index: the file's graph (ds->index, checked) links rows of
 * other shards, so the shard gets a graph of its own rows, built with the file's settings
 * (M, ef_construction, metric, seed): each process searches its graph and the lists are
 * merged as the exact search's are (faiss's IndexShards). A shard without rows gets none. */
static knn_status shard_index(knn_dataset *ds)
{
    knn_index_info info;
    knn_dataset_index_info(ds, &info);
    knn__hnsw_free(ds->index);
    ds->index = NULL;
    if (knn__held(ds) == 0)
        return KNN_OK;
    knn_index_options o = knn_index_options_default();
    o.M = info.M;
    o.ef_construction = info.ef_construction;
    o.metric = info.metric;
    o.seed = info.seed;
    return knn_dataset_build_index(ds, &o);
}

/* The data set over the checked file: rows and labels in place, settings from the header,
 * class names and the first `count` image paths copied out. rows_known: see check_rows. */
static knn_status build_dataset(const char *path, const model_header *h, void *map,
                                size_t count, bool rows_known, const knn_shard *shard,
                                knn_dataset *ds)
{
    ds->count = count;
    ds->dim = h->dim;
    ds->dtype = (knn_dtype)h->dtype;
    ds->stride = h->stride;
    ds->rows = h->dtype == KNN_SPARSE ? NULL /* text: rows in the text section */
                                      : (uint8_t *)map + h->rows_offset; /* read-only */
    ds->labels = h->has_labels ? (int32_t *)(void *)((uint8_t *)map + h->labels_offset) : NULL;
    ds->num_classes = h->num_classes;
    ds->height = h->height;
    ds->width = h->width;
    ds->channels = h->channels;
    ds->crop = h->crop;
    ds->is_model = true;
    ds->model_k = h->k;
    ds->model_metric = h->metric;
    ds->model_weights = h->weights;
    ds->model_ties = h->ties;
    if (!(ds->source = knn__strdup(path)))
        return knn__fail(KNN_ERR_NOMEM, "out of memory");
    if (shard) { /* its own rows of the first `count` */
        size_t lo, hi;
        knn_shard_rows(count, shard->index, shard->count, &lo, &hi);
        knn__shard_set(ds, shard, lo, hi);
        ds->rows += lo * h->stride;
    }
    knn_status st = check_rows(path, h, ds, rows_known);
    const char *base = map;
    if (!st && h->names_bytes &&
        !(ds->class_names = read_strings(base + h->names_offset, h->names_bytes,
                                         (size_t)h->num_classes)))
        st = knn__fail(KNN_ERR_FORMAT, "%s: corrupt class names", path);
    char **paths = NULL;
    if (!st && h->paths_bytes &&
        !(paths = read_strings(base + h->paths_offset, h->paths_bytes, h->count)))
        st = knn__fail(KNN_ERR_FORMAT, "%s: corrupt image paths", path);
    if (paths) { /* keep the first `count` of them */
        for (size_t i = count; i < h->count; i++)
            free(paths[i]);
        ds->paths = paths;
    }
    if (!st && h->network_bytes) { /* parsed at its first use: the rows need no runtime */
        knn_features_options o = {.scale = h->scale, .bgr = h->bgr, .batch = h->batch};
        memcpy(o.mean, h->mean, sizeof o.mean);
        memcpy(o.std, h->std, sizeof o.std);
        char *name = knn__asprintf("%s (its network)", path);
        knn_features *net = NULL;
        st = name ? knn__features_create(base + h->network_offset, (size_t)h->network_bytes, name,
                                         &o, false, &net)
                  : knn__fail(KNN_ERR_NOMEM, "out of memory");
        free(name);
        if (!st && h->scales_bytes) { /* quantised: the scales go with the network */
            const size_t dim = (size_t)h->dim;
            float *lo = malloc(dim * sizeof(float)), *step = malloc(dim * sizeof(float));
            knn_features *q = NULL;
            if (!lo || !step) {
                st = knn__fail(KNN_ERR_NOMEM, "out of memory");
            } else {
                memcpy(lo, base + h->scales_offset, dim * sizeof(float));
                memcpy(step, base + h->scales_offset + dim * sizeof(float), dim * sizeof(float));
                st = knn__features_with_scales(net, lo, step, dim, &q);
            }
            free(lo);
            free(step);
            knn_features_free(net);
            net = q;
        }
        ds->features = net;
        if (h->pictures_bytes) { /* in the mapping, like the rows */
            ds->pictures = (uint8_t *)map + h->pictures_offset;
            ds->pictures_stride = (size_t)(h->pictures_bytes / (h->count ? h->count : 1));
        }
        ds->input_height = h->input_height;
        ds->input_width = h->input_width;
        ds->input_channels = h->input_channels;
        ds->input_crop = h->input_crop;
    }
    /* the graph: checked, then searched in place; a data set cut to fewer rows drops it (its
     * lists name the rows left out) */
    if (!st && h->dtype == KNN_SPARSE) /* copied out of the mapping, checked */
        st = knn__text_open(path, (const uint8_t *)base + text_offset(h),
                            h->file_bytes - text_offset(h), (size_t)h->count, count, ds);
    if (!st && h->index_offset && count == h->count) {
        const knn_dataset whole = {.count = (size_t)h->count, .dtype = (knn_dtype)h->dtype,
                                   .source = ds->source};
        st = knn__hnsw_open(path, (const uint8_t *)base + h->index_offset, h->file_bytes - h->index_offset,
                            &whole, &ds->index);
        if (!st && shard) /* a graph of the shard's own rows, built as the file's was */
            st = shard_index(ds);
    }
    return st;
}

knn_status knn__load_model(const char *path, const knn_load_options *opt, knn_dataset **out)
{
    *out = NULL;
    const bool copy = opt->private_copy != 0;
    void *map = NULL;
    size_t bytes = 0;
    knn_status st = map_or_copy(path, copy, &map, &bytes);
    if (st)
        return st;
    model_header h;
    memcpy(&h, map, sizeof h);
    knn_dataset *ds = NULL;
    if (!(st = check_header(path, &h, bytes)) && opt->shard && h.dtype == KNN_SPARSE)
        st = knn__fail(KNN_ERR_ARG, "%s: a text model cannot be split into shards", path);
    if (!st)
        st = check_checksum(path, &h, map, bytes, opt->shard);
    if (!st && !(ds = calloc(1, sizeof *ds)))
        st = knn__fail(KNN_ERR_NOMEM, "out of memory");
    if (ds) { /* from here the data set owns the mapping (or the copy) */
        ds->map = map;
        ds->map_bytes = bytes;
        ds->map_is_copy = copy;
        st = build_dataset(path, &h, map, opt->limit && opt->limit < h.count ? opt->limit : h.count,
                           false, opt->shard, ds);
    }
    if (!st) {
        *out = ds;
        return KNN_OK;
    }
    if (ds)
        knn_dataset_free(ds); /* unmaps, or frees the copy */
    else if (copy)
        free(map);
    else
        munmap(map, bytes);
    return st;
}

int knn_model_params(const knn_dataset *ds, knn_params *p)
{
    if (!ds->is_model)
        return 0;
    p->k = ds->model_k;
    p->metric = (knn_metric)ds->model_metric;
    p->weights = (knn_weights)ds->model_weights;
    p->ties = (knn_ties)ds->model_ties;
    return 1;
}

/* ---- a folder's model, written as its images are decoded ------------------------------ */

typedef struct {
    knn__row_sink sink; /* first: the load calls back with its address */
    FILE *f;
    uLong crc; /* of the file after the header, so far */
} file_sink;

static knn_status file_sink_write(knn__row_sink *s, const uint8_t *row, size_t bytes)
{
    file_sink *fs = (file_sink *)(void *)s;
    return emit(fs->f, row, bytes, &fs->crc)
               ? KNN_OK
               : knn__fail(KNN_ERR_IO, "writing the model failed: %s", strerror(errno));
}

int knn_model_streams(const char *spec, const knn_load_options *opt)
{
    static const knn_load_options defaults = {0};
    if (!opt)
        opt = &defaults;
    if (opt->features || opt->quantize || opt->labels_file || opt->text)
        return 0;
    char *root = knn__image_folder_root(spec);
    const int ok = root && !knn__folder_is_text(root);
    free(root);
    return ok;
}

/* The header goes last: a zeroed one first, the rows as they come (their CRC-32 as they
 * pass), the sections after them from what the load kept (model_header and emit_tail, as
 * knn_model_write), then the header with the whole file's CRC-32 put together from the
 * header's and the rest's (zlib's crc32_combine), over the zeroed one. */
knn_status knn_model_write_folder(const char *spec, const knn_load_options *opt,
                                  const knn_params *p, FILE *f, knn_dataset **out)
{
    static const knn_load_options defaults = {0};
    static const unsigned char zeros[HEADER_BYTES];
    *out = NULL;
    if (!opt)
        opt = &defaults;
    /* knn_model_streams, less what knn__stream_image_folder checks again (a labels file,
     * text): a folder is looked at once */
    char *root =
        opt->features || opt->quantize || opt->text ? NULL : knn__image_folder_root(spec);
    if (!root)
        return knn__fail(KNN_ERR_ARG, "%s: only a folder of class folders of images (no "
                                      "network, no labels file) is written as it is decoded",
                         spec);
    if (p->k < 1 || (p->weights != KNN_WEIGHTS_UNIFORM && p->weights != KNN_WEIGHTS_DISTANCE) ||
        (p->ties != KNN_TIES_NEAREST && p->ties != KNN_TIES_SMALLEST_LABEL)) {
        free(root);
        return knn__fail(KNN_ERR_ARG, "model settings: K %d (at least 1), weights %d, ties %d",
                         p->k, (int)p->weights, (int)p->ties);
    }
    const knn_dataset images = {.dtype = KNN_U8, .source = root};
    knn_status st = knn__metric_check(p->metric, &images); /* cosine: float32 only */
    if (st) {
        free(root);
        return st;
    }
    const int fd = fileno(f), mode = fd >= 0 ? fcntl(fd, F_GETFL) : -1;
    struct stat sb;
    if (mode < 0 || (mode & O_ACCMODE) != O_RDWR || fstat(fd, &sb) != 0 ||
        !S_ISREG(sb.st_mode) || sb.st_size != 0 || ftello(f) != 0)
        st = knn__fail(KNN_ERR_ARG, "%s: a model written as it is decoded needs an empty "
                                    "regular file open for reading and writing",
                       spec);
    else if (fwrite(zeros, 1, HEADER_BYTES, f) != HEADER_BYTES)
        st = knn__fail(KNN_ERR_IO, "writing the model failed: %s", strerror(errno));
    file_sink fs = {{file_sink_write, &sb}, f, crc32(0L, Z_NULL, 0)};
    knn_dataset *kept = NULL; /* the load without its rows */
    if (!st)
        st = knn__stream_image_folder(root, opt, &fs.sink, &kept);
    free(root);
    if (st)
        return st;
    model_header h;
    make_header(kept, p, &h);
    unsigned char header[HEADER_BYTES] = {0};
    memcpy(header, &h, sizeof h); /* the checksum field 0, as the checksum takes it */
    if (!emit_tail(f, kept, &h, &fs.crc))
        st = knn__fail(KNN_ERR_IO, "writing the model failed: %s", strerror(errno));
    /* z_off_t is 64 bits where off_t is (LP64 Linux); a 32-bit build stops at 2 GiB */
    if (!st && (sizeof(z_off_t) < 8 && h.file_bytes - HEADER_BYTES > 0x7fffffffu))
        st = knn__fail(KNN_ERR_LIMIT, "%s: a model of %llu bytes is past this build's 2 GiB "
                                      "(zlib's offsets are 32 bits)",
                       spec, (unsigned long long)h.file_bytes);
    h.checksum = crc32_combine(crc32(crc32(0L, Z_NULL, 0), header, HEADER_BYTES), fs.crc,
                               (z_off_t)(h.file_bytes - HEADER_BYTES));
    memcpy(header, &h, sizeof h);
    if (!st && (fflush(f) != 0 || fseeko(f, 0, SEEK_SET) != 0 ||
                fwrite(header, 1, HEADER_BYTES, f) != HEADER_BYTES || fflush(f) != 0 ||
                fseeko(f, 0, SEEK_END) != 0))
        st = knn__fail(KNN_ERR_IO, "writing the model failed: %s", strerror(errno));
    if (!st && (uint64_t)ftello(f) != h.file_bytes) /* what make_header promised */
        st = knn__fail(KNN_ERR_IO, "writing the model failed: %llu bytes written, %llu meant",
                       (unsigned long long)ftello(f), (unsigned long long)h.file_bytes);
    void *map = MAP_FAILED;
    if (!st && (map = mmap(NULL, (size_t)h.file_bytes, PROT_READ, MAP_PRIVATE, fd, 0)) ==
                   MAP_FAILED)
        st = knn__fail(KNN_ERR_IO, "%s: cannot map the model written: %s", spec,
                       strerror(errno));
    knn_dataset *ds = NULL;
    if (!st && !(ds = calloc(1, sizeof *ds))) {
        munmap(map, (size_t)h.file_bytes);
        st = knn__fail(KNN_ERR_NOMEM, "out of memory");
    }
    if (ds) { /* the mapped file, as knn__load_model gives it, with the load's notes */
        ds->map = map;
        ds->map_bytes = (size_t)h.file_bytes;
        st = check_header(spec, &h, ds->map_bytes);
        if (!st) /* the rows not read back: a folder larger than memory stays on the disk */
            st = build_dataset(spec, &h, map, (size_t)h.count, true, NULL, ds);
        ds->skipped = kept->skipped;
        ds->nskipped = kept->nskipped;
        kept->skipped = NULL;
        kept->nskipped = 0;
    }
    knn_dataset_free(kept);
    if (st) {
        knn_dataset_free(ds);
        return st;
    }
    *out = ds;
    return KNN_OK;
}
