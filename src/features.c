/* features.c: a ConvNet as a load step (DESIGN.md decision 13). A knn_features holds an ONNX
 * network's bytes, its preprocessing and, once needed, the network itself (onnx.h: OpenCV dnn
 * where it is built in); knn_features_compute turns uint8 image rows into float32 feature
 * rows, batch by batch, and the data set it returns keeps a reference to the network, so
 * test sets, photos and model files are embedded the same way.
 *
 * A network is hostile input like every file: the runner parses it (and says why it cannot),
 * its input shape is read here with a bounded protobuf walk that never fails a load (an
 * unreadable shape is "not stated"), images that do not fit that shape are refused before
 * any forward pass, and every output value is checked to be finite. */
#include "features/onnx.h"
#include "io.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ONNX_BYTES ((size_t)1 << 30)
#define MAX_BATCH 4096

struct knn_features {
    atomic_int refs;
    uint8_t *bytes; /* the ONNX file */
    size_t size;
    char *name;
    knn_features_options o;
    int in_c, in_h, in_w; /* the stated input shape; 0 = not fixed */
    pthread_mutex_t lock; /* one forward pass at a time, and the opening of `net` */
    knn__onnx *net;       /* opened by knn_features_open, or at the first use (model files) */
    /* quantised features (knn_load_options.quantize): code = round((x - qmin[d]) / qstep[d])
     * clamped to 0..255, the scales fitted on a training set; NULL for float32 features */
    float *qmin, *qstep;
    size_t qdim;
};

static knn_status copy_description(const knn_dataset *images, knn_dataset *ds);

knn_features_options knn_features_options_default(void)
{
    return (knn_features_options){.scale = 1.0f / 255.0f,
                                  .mean = {0, 0, 0},
                                  .std = {1, 1, 1},
                                  .bgr = 0,
                                  .batch = 64};
}

int knn_features_available(void) { return knn__onnx_available(); }

/* ---- the input shape: ModelProto.graph.input[first].type.tensor_type.shape ------------- */

typedef struct {
    const uint8_t *p, *end;
} pb;

static bool pb_varint(pb *b, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64 && b->p < b->end; shift += 7) {
        uint8_t byte = *b->p++;
        *v |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80))
            return true;
    }
    return false;
}

/* The next field: its number, for varints their value, for length-delimited fields their
 * bytes (sub; else sub.p is NULL); fixed-size fields are skipped. False at the end or on
 * malformed input. */
static bool pb_next(pb *b, uint32_t *field, pb *sub, uint64_t *value)
{
    uint64_t key, len;
    *value = 0; /* only varints have one: a fixed-size field never passes for a dimension */
    sub->p = sub->end = NULL;
    if (b->p >= b->end || !pb_varint(b, &key))
        return false;
    *field = (uint32_t)(key >> 3);
    switch (key & 7) {
    case 0:
        return pb_varint(b, value);
    case 1:
    case 5: {
        const ptrdiff_t n = (key & 7) == 1 ? 8 : 4;
        if (b->end - b->p < n)
            return false;
        b->p += n;
        return true;
    }
    case 2:
        if (!pb_varint(b, &len) || len > (uint64_t)(b->end - b->p))
            return false;
        sub->p = b->p;
        sub->end = b->p + len;
        b->p += len;
        return true;
    default: /* groups (deprecated) and unknown wire types: not ONNX as we know it */
        return false;
    }
}

/* The first length-delimited field `want` of b, into *out. */
static bool pb_find(pb b, uint32_t want, pb *out)
{
    uint32_t field;
    uint64_t value;
    pb sub;
    while (pb_next(&b, &field, &sub, &value))
        if (field == want && sub.p) {
            *out = sub;
            return true;
        }
    return false;
}

static bool pb_same(pb a, pb b)
{
    return a.end - a.p == b.end - b.p && memcmp(a.p, b.p, (size_t)(a.end - a.p)) == 0;
}

/* True if `name` names one of the graph's initializers (weights listed as inputs, as older
 * exporters did). At most 100,000 of the graph's fields are looked at, and an initializer's
 * name is looked for among its first 64 fields, so that the walk over up to 64 inputs stays
 * within a few million steps whatever the file holds (an unreadable shape is "not stated"). */
static bool is_initializer(pb graph, pb name)
{
    uint32_t field;
    uint64_t value;
    pb sub;
    for (int steps = 0; steps < 100000 && pb_next(&graph, &field, &sub, &value); steps++) {
        if (field != 5 || !sub.p)
            continue;
        uint32_t f2;
        pb v;
        for (int k = 0; k < 64 && pb_next(&sub, &f2, &v, &value); k++)
            if (f2 == 8 && v.p) {
                if (pb_same(v, name))
                    return true;
                break;
            }
    }
    return false;
}

/* Reads dims (N, C, H, W) of the network's first real input: each 0 where not a fixed value
 * in 1..65536, all 0 where the file says nothing readable. */
static void input_shape(const uint8_t *bytes, size_t size, int *c, int *h, int *w)
{
    *c = *h = *w = 0;
    pb model = {bytes, bytes + size}, graph, in, name, type, tensor, shape;
    if (!pb_find(model, 7, &graph))
        return;
    uint32_t field;
    uint64_t value;
    pb g = graph;
    for (int tries = 0; tries < 64 && pb_next(&g, &field, &in, &value);) {
        if (field != 11 || !in.p)
            continue;
        tries++;
        if (pb_find(in, 1, &name) && is_initializer(graph, name))
            continue;
        if (!pb_find(in, 2, &type) || !pb_find(type, 1, &tensor) || !pb_find(tensor, 2, &shape))
            return;
        int dims[5] = {0, 0, 0, 0, 0};
        int n = 0;
        pb dim, s = shape;
        while (n < 5 && pb_next(&s, &field, &dim, &value)) {
            if (field != 1 || !dim.p)
                continue;
            /* Dimension: dim_value (1, a varint) or dim_param (2, a name: not fixed) */
            pb d = dim, v;
            uint32_t f2;
            while (pb_next(&d, &f2, &v, &value))
                if (f2 == 1 && !v.p)
                    dims[n] = value >= 1 && value <= 65536 ? (int)value : 0;
            n++;
        }
        if (n == 4) {
            *c = dims[1];
            *h = dims[2];
            *w = dims[3];
        }
        return;
    }
}

/* ---- opening -------------------------------------------------------------------------- */

static knn_status check_options(const char *name, const knn_features_options *o)
{
    if (!isfinite(o->scale) || o->scale == 0.0f)
        return knn__fail(KNN_ERR_ARG, "%s: the pixel scale must be a finite non-zero number",
                         name);
    for (int c = 0; c < 3; c++)
        if (!isfinite(o->mean[c]) || !isfinite(o->std[c]) || o->std[c] == 0.0f)
            return knn__fail(KNN_ERR_ARG, "%s: means must be finite and standard deviations "
                                          "finite and non-zero",
                             name);
    if (o->batch < 1 || o->batch > MAX_BATCH)
        return knn__fail(KNN_ERR_ARG, "%s: a batch of %d images: 1 to %d", name, o->batch,
                         MAX_BATCH);
    if (o->bgr != 0 && o->bgr != 1)
        return knn__fail(KNN_ERR_ARG, "%s: bgr is 0 or 1", name);
    return KNN_OK;
}

/* Opens the runner's network (under the lock): KNN_OK, or the runner's reason. */
static knn_status open_net(knn_features *f)
{
    if (f->net)
        return KNN_OK;
    knn__onnx *net = NULL;
    char *why = knn__onnx_open(f->bytes, f->size, &net);
    if (!why && !net)
        return knn__fail(KNN_ERR_NOMEM, "%s: out of memory", f->name);
    if (why) {
        knn_status st = knn__fail(knn__onnx_available() ? KNN_ERR_FORMAT : KNN_ERR_ARG, "%s: %s",
                                  f->name, why);
        free(why);
        return st;
    }
    f->net = net;
    return KNN_OK;
}

knn_status knn__features_create(const void *onnx, size_t size, const char *name,
                                const knn_features_options *o, bool open_now,
                                knn_features **out)
{
    *out = NULL;
    knn_features_options defaults = knn_features_options_default();
    if (!o)
        o = &defaults;
    if (!name)
        name = "network";
    knn_status st = check_options(name, o);
    if (st)
        return st;
    if (size == 0)
        return knn__fail(KNN_ERR_FORMAT, "%s: empty file: not an ONNX network", name);
    if (size > MAX_ONNX_BYTES)
        return knn__fail(KNN_ERR_LIMIT, "%s: %zu bytes: networks up to 1 GiB", name, size);
    knn_features *f = calloc(1, sizeof *f);
    if (!f || !(f->bytes = malloc(size)) || !(f->name = knn__strdup(name))) {
        if (f)
            free(f->bytes);
        free(f);
        return knn__fail(KNN_ERR_NOMEM, "%s: out of memory", name);
    }
    memcpy(f->bytes, onnx, size);
    f->size = size;
    f->o = *o;
    atomic_init(&f->refs, 1);
    pthread_mutex_init(&f->lock, NULL);
    input_shape(f->bytes, size, &f->in_c, &f->in_h, &f->in_w);
    if (open_now && (st = open_net(f))) {
        knn_features_free(f);
        return st;
    }
    *out = f;
    return KNN_OK;
}

knn_status knn_features_open_memory(const void *onnx, size_t size, const char *name,
                                    const knn_features_options *o, knn_features **out)
{
    return knn__features_create(onnx, size, name, o, true, out);
}

knn_status knn_features_open(const char *path, const knn_features_options *o,
                             knn_features **out)
{
    *out = NULL;
    uint8_t *data;
    size_t size;
    knn_status st = knn__read_whole(path, MAX_ONNX_BYTES, "an ONNX network", &data, &size);
    if (st)
        return st;
    st = knn__features_create(data, size, path, o, true, out);
    free(data);
    return st;
}

const knn_features *knn__features_ref(const knn_features *f)
{
    if (f)
        atomic_fetch_add(&((knn_features *)f)->refs, 1);
    return f;
}

void knn_features_free(const knn_features *cf)
{
    knn_features *f = (knn_features *)cf;
    if (!f || atomic_fetch_sub(&f->refs, 1) != 1)
        return;
    knn__onnx_free(f->net);
    pthread_mutex_destroy(&f->lock);
    free(f->qmin);
    free(f->qstep);
    free(f->bytes);
    free(f->name);
    free(f);
}

void knn_features_input(const knn_features *f, int *channels, int *height, int *width)
{
    *channels = f->in_c;
    *height = f->in_h;
    *width = f->in_w;
}

const char *knn_features_name(const knn_features *f) { return f->name; }
knn_features_options knn_features_get_options(const knn_features *f) { return f->o; }
const uint8_t *knn__features_bytes(const knn_features *f, size_t *size)
{
    *size = f->size;
    return f->bytes;
}

const knn_features *knn_dataset_features(const knn_dataset *ds) { return ds->features; }

bool knn__features_same_network(const knn_features *a, const knn_features *b)
{
    return a == b || (a->size == b->size && memcmp(a->bytes, b->bytes, a->size) == 0 &&
                      memcmp(&a->o, &b->o, sizeof a->o) == 0);
}

bool knn__features_same_scales(const knn_features *a, const knn_features *b)
{
    return a->qdim == b->qdim &&
           (!a->qdim || (memcmp(a->qmin, b->qmin, a->qdim * sizeof(float)) == 0 &&
                         memcmp(a->qstep, b->qstep, a->qdim * sizeof(float)) == 0));
}

size_t knn_features_quantized(const knn_features *f) { return f->qdim; }

const float *knn__features_scales(const knn_features *f, const float **qstep)
{
    *qstep = f->qstep;
    return f->qmin;
}

knn_status knn__features_with_scales(const knn_features *f, const float *qmin,
                                     const float *qstep, size_t dim, knn_features **out)
{
    *out = NULL;
    for (size_t d = 0; d < dim; d++)
        if (!isfinite(qmin[d]) || !isfinite(qstep[d]) || !(qstep[d] > 0))
            return knn__fail(KNN_ERR_FORMAT, "%s: the scale of feature %zu is not a positive "
                                             "finite number",
                             f->name, d);
    knn_features *q;
    knn_status st = knn__features_create(f->bytes, f->size, f->name, &f->o, false, &q);
    if (st)
        return st;
    if (!(q->qmin = malloc(dim * sizeof(float))) || !(q->qstep = malloc(dim * sizeof(float)))) {
        knn_features_free(q);
        return knn__fail(KNN_ERR_NOMEM, "%s: out of memory", f->name);
    }
    memcpy(q->qmin, qmin, dim * sizeof(float));
    memcpy(q->qstep, qstep, dim * sizeof(float));
    q->qdim = dim;
    *out = q;
    return KNN_OK;
}

/* A feature data set's description: its shape (dim x 1 x 1), its network, the conversion of
 * the images behind it and, where they fit KNN__MAX_PICTURES, those images themselves
 * (pictures, `stride` bytes a row: copied; NULL where there are none or ds has them). */
static void set_features_of(knn_dataset *ds, const knn_features *f, int height, int width,
                            int channels, int crop, const uint8_t *pictures, size_t stride)
{
    ds->height = (int)ds->dim;
    ds->width = ds->channels = 1;
    ds->features = knn__features_ref(f);
    ds->input_height = height;
    ds->input_width = width;
    ds->input_channels = channels;
    ds->input_crop = crop;
    size_t bytes;
    if (pictures && !ds->pictures && knn__mul_ok(ds->count, stride, &bytes) &&
        bytes <= KNN__MAX_PICTURES && (ds->pictures = malloc(bytes ? bytes : 1))) {
        memcpy(ds->pictures, pictures, bytes); /* else simply not kept */
        ds->pictures_stride = stride;
        ds->pictures_owned = true;
    }
}

/* The uint8 codes of float32 features with q's scales: a new data set with ds's labels,
 * classes, paths, input conversion and pictures (taken from ds where it owns them: ds is
 * about to be freed), carrying q. */
static knn_status quantize_with(knn_dataset *ds, const knn_features *q, knn_dataset **out)
{
    *out = NULL;
    const char *what = ds->source ? ds->source : "features";
    if (ds->dtype != KNN_F32 || ds->dim != q->qdim)
        return knn__fail(KNN_ERR_SHAPE, "%s: %zu features per image; %s's scales are for %zu",
                         what, ds->dim, q->name, q->qdim);
    knn_dataset *u;
    knn_status st = knn__dataset_alloc(ds->count, ds->dim, KNN_U8, ds->labels != NULL, what, &u);
    if (!st)
        st = copy_description(ds, u);
    if (st) {
        knn_dataset_free(u);
        return st;
    }
    for (size_t i = 0; i < ds->count; i++) {
        const float *x = (const float *)(const void *)(ds->rows + i * ds->stride);
        uint8_t *code = u->rows + i * u->stride;
        for (size_t d = 0; d < ds->dim; d++) {
            float v = (x[d] - q->qmin[d]) / q->qstep[d];
            v = v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v;
            code[d] = (uint8_t)(v + 0.5f);
        }
    }
    if (ds->pictures_owned) { /* ds is freed next: its pictures move, not copied */
        u->pictures = ds->pictures;
        u->pictures_stride = ds->pictures_stride;
        u->pictures_owned = true;
        ds->pictures = NULL;
        ds->pictures_owned = false;
    }
    set_features_of(u, q, ds->input_height, ds->input_width, ds->input_channels, ds->input_crop,
                    ds->pictures, ds->pictures_stride);
    *out = u;
    return KNN_OK;
}

knn_status knn__features_quantize(knn_dataset **ds, const knn_features *q)
{
    knn_dataset *f32 = *ds, *codes = NULL;
    knn_features *fitted = NULL;
    knn_status st = KNN_OK;
    if (!q) { /* fit: each dimension's range over these rows, in 255 steps */
        const size_t dim = f32->dim;
        float *lo = malloc(dim * sizeof(float)), *step = malloc(dim * sizeof(float));
        if (!lo || !step) {
            st = knn__fail(KNN_ERR_NOMEM, "out of memory");
        } else {
            for (size_t d = 0; d < dim; d++) {
                float mn = INFINITY, mx = -INFINITY;
                for (size_t i = 0; i < f32->count; i++) {
                    float v = ((const float *)(const void *)(f32->rows + i * f32->stride))[d];
                    mn = v < mn ? v : mn;
                    mx = v > mx ? v : mx;
                }
                lo[d] = f32->count ? mn : 0.0f;
                /* mx / 255 - mn / 255: (mx - mn) could overflow to infinity */
                step[d] = f32->count && mx > mn ? mx / 255.0f - mn / 255.0f : 1.0f;
                if (!(step[d] > 0.0f) || !isfinite(step[d])) /* a range below float's reach */
                    step[d] = 1.0f;
            }
            st = knn__features_with_scales(f32->features, lo, step, dim, &fitted);
        }
        free(lo);
        free(step);
        q = fitted;
    }
    if (!st)
        st = quantize_with(f32, q, &codes);
    knn_features_free(fitted); /* the codes hold their own reference */
    knn_dataset_free(f32);
    *ds = st ? NULL : codes;
    if (st)
        knn_dataset_free(codes);
    return st;
}

/* ---- embedding ------------------------------------------------------------------------ */

/* Copies what describes the rows (labels, classes, paths, skipped images, source) from
 * images to the feature set. */
static knn_status copy_description(const knn_dataset *images, knn_dataset *ds)
{
    if (images->labels)
        memcpy(ds->labels, images->labels, images->count * sizeof *ds->labels);
    ds->num_classes = images->num_classes;
    knn_status st = KNN_OK;
    if (images->class_names &&
        (st = knn_dataset_set_class_names(ds, (const char *const *)images->class_names)))
        return st;
    if (images->paths) {
        if (!(ds->paths = calloc(images->count ? images->count : 1, sizeof *ds->paths)))
            return knn__fail(KNN_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < images->count; i++)
            if (images->paths[i] && !(ds->paths[i] = knn__strdup(images->paths[i])))
                return knn__fail(KNN_ERR_NOMEM, "out of memory");
    }
    if (images->nskipped) {
        if (!(ds->skipped = calloc(images->nskipped, sizeof *ds->skipped)))
            return knn__fail(KNN_ERR_NOMEM, "out of memory");
        for (; ds->nskipped < images->nskipped; ds->nskipped++)
            if (!(ds->skipped[ds->nskipped] = knn__strdup(images->skipped[ds->nskipped])))
                return knn__fail(KNN_ERR_NOMEM, "out of memory");
    }
    if (images->source) {
        free(ds->source);
        if (!(ds->source = knn__strdup(images->source)))
            return knn__fail(KNN_ERR_NOMEM, "out of memory");
    }
    return KNN_OK;
}

/* Rows [first, first + n) of images as the network's float32 NCHW input. */
static void preprocess(const knn_features *f, const knn_dataset *images, size_t first, size_t n,
                       float *in)
{
    const int C = images->channels;
    const size_t plane = (size_t)images->height * (size_t)images->width;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *row = images->rows + (first + i) * images->stride;
        for (int c = 0; c < C; c++) {
            const int src = f->o.bgr && C == 3 ? 2 - c : c; /* input channel c */
            const float scale = f->o.scale / f->o.std[c], shift = f->o.mean[c] / f->o.std[c];
            const uint8_t *p = row + (size_t)src * plane;
            float *q = in + (i * (size_t)C + (size_t)c) * plane;
            for (size_t k = 0; k < plane; k++)
                q[k] = (float)p[k] * scale - shift;
        }
    }
}

knn_status knn_features_compute(const knn_features *cf, const knn_dataset *images,
                                knn_progress_fn progress, void *progress_user, knn_dataset **out)
{
    knn_features *f = (knn_features *)cf;
    *out = NULL;
    if (images->sharded)
        return knn__whole(images, "a network");
    const char *what = images->source ? images->source : "images";
    if (images->dtype != KNN_U8 || (images->channels != 1 && images->channels != 3) ||
        (size_t)images->height * (size_t)images->width * (size_t)images->channels !=
            images->dim)
        return knn__fail(KNN_ERR_ARG,
                         "%s: holds no images (uint8, 1 or 3 channels) to run %s on%s", what,
                         f->name, images->features ? ": its rows are features already" : "");
    if ((f->in_c && f->in_c != images->channels) || (f->in_h && f->in_h != images->height) ||
        (f->in_w && f->in_w != images->width))
        return knn__fail(KNN_ERR_ARG,
                         "%s: takes %d x %d x %d inputs (channels x height x width); the images "
                         "of %s are %d x %d x %d%s",
                         f->name, f->in_c, f->in_h, f->in_w, what, images->channels,
                         images->height, images->width,
                         f->in_c && f->in_c != images->channels
                             ? " (image folders: --gray or --rgb)"
                             : " (image folders: --size)");
    const size_t plane = (size_t)images->height * (size_t)images->width * (size_t)images->channels;
    const size_t batch = (size_t)f->o.batch;
    size_t in_bytes;
    if (!knn__mul_ok(plane * sizeof(float), batch, &in_bytes) || !knn__memory_fits(in_bytes))
        return knn__fail(KNN_ERR_NOMEM, "%s: a batch of %zu images does not fit in memory", what,
                         batch);
    float *in = malloc(in_bytes ? in_bytes : 1);
    if (!in)
        return knn__fail(KNN_ERR_NOMEM, "%s: out of memory", what);
    knn_dataset *ds = NULL;
    knn_status st = KNN_OK;
    size_t dim = 0;
    for (size_t first = 0; first < images->count && !st; first += batch) {
        const size_t n = images->count - first < batch ? images->count - first : batch;
        preprocess(f, images, first, n, in);
        float *y = NULL;
        size_t d = 0;
        char *why = NULL;
        pthread_mutex_lock(&f->lock);
        st = open_net(f);
        if (!st)
            why = knn__onnx_forward(f->net, in, (int)n, images->channels, images->height,
                                    images->width, &y, &d);
        pthread_mutex_unlock(&f->lock);
        if (st)
            break;
        if (why || !y) {
            st = knn__fail(why ? KNN_ERR_FORMAT : KNN_ERR_NOMEM, "%s on %s: %s", f->name, what,
                           why ? why : "out of memory");
            free(why);
            free(y);
            break;
        }
        if (!ds) { /* the first batch tells the features' length */
            dim = d;
            if (!(st = knn__dataset_alloc(images->count, dim, KNN_F32, images->labels != NULL,
                                          what, &ds)))
                st = copy_description(images, ds);
        } else if (d != dim) {
            st = knn__fail(KNN_ERR_FORMAT, "%s: gave %zu values per image, then %zu", f->name,
                           dim, d);
        }
        for (size_t i = 0; !st && i < n; i++) {
            for (size_t k = 0; k < dim && !st; k++)
                if (!isfinite(y[i * dim + k]))
                    st = knn__fail(KNN_ERR_FORMAT,
                                   "%s: feature %zu of image %zu%s%s is not finite (%g)", f->name,
                                   k, first + i, images->paths ? ", " : "",
                                   images->paths ? images->paths[first + i] : "",
                                   (double)y[i * dim + k]);
            if (!st)
                memcpy(ds->rows + (first + i) * ds->stride, y + i * dim, dim * sizeof(float));
        }
        free(y);
        if (!st && progress)
            progress(first + n, images->count, progress_user);
    }
    free(in);
    if (!st && !ds) /* no images: nothing ran, nothing to say about the features' length */
        st = knn__fail(KNN_ERR_ARG, "%s: no images to run %s on", what, f->name);
    if (st) {
        knn_dataset_free(ds);
        return st;
    }
    set_features_of(ds, f, images->height, images->width, images->channels, images->crop,
                    images->rows, images->stride);
    if (f->qdim && (st = knn__features_quantize(&ds, f))) /* a quantised network: its codes */
        return st;
    *out = ds;
    return KNN_OK;
}

knn_status knn__features_embed(const knn_features *f, knn_dataset **ds, knn_progress_fn progress,
                               void *progress_user)
{
    knn_dataset *embedded;
    knn_status st = knn_features_compute(f, *ds, progress, progress_user, &embedded);
    knn_dataset_free(*ds);
    *ds = st ? NULL : embedded;
    return st;
}
