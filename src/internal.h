/* internal.h: definitions shared by the library's files, never installed.
 *
 * The data set layout (DESIGN.md decision 1): one 64-byte-aligned block of `count` rows, each
 * `stride` bytes, stride = dim x the value's size rounded up to a multiple of 64 with zero
 * padding, so kernels load whole vectors and never need a scalar tail; the zeros add nothing
 * to L1 or L2. */
#ifndef KNN_INTERNAL_H
#define KNN_INTERNAL_H

#include "kernels/kernels.h"
#include "knn.h"

#include <stdarg.h>
#include <stdbool.h>

#define KNN__ALIGN 64

struct knn_dataset {
    size_t count;       /* rows                                         */
    size_t dim;         /* values per row                               */
    knn_dtype dtype;    /* uint8 or float32 values                      */
    size_t stride;      /* bytes per row, a multiple of KNN__ALIGN      */
    uint8_t *rows;      /* (count, stride), 64-byte aligned             */
    int32_t *labels;    /* (count), or NULL for an unlabelled set      */
    int num_classes;
    char **class_names; /* (num_classes), or NULL                       */
    int height, width, channels;
    int crop;           /* images: resized on the short side and cropped (1) or stretched  */
    char **paths;       /* (count) image files, or NULL                                      */
    char **skipped;     /* (nskipped) "PATH: reason" of images that could not be read       */
    size_t nskipped;
    char *source;
    /* model files: rows and labels point into a read-only mapping of the file */
    void *map;
    size_t map_bytes;
    bool map_is_copy; /* map is our own aligned copy of the file (private_copy), not mmap'd */
    bool labels_copied; /* labels were rewritten into memory of their own (class matching) */
    bool rows_borrowed; /* rows are the caller's (knn_dataset_view): never freed here     */
    bool is_model;
    int model_k, model_metric, model_weights, model_ties;
    /* The training rows' norms for the L2 kernels, computed at the first L2 search and kept
     * (searches take the data set as const, and may run at once: set by compare-and-swap). */
    _Atomic(struct knn__norms_cache *) norms;
    /* The rows scaled to unit length (float32, same layout), for cosine: computed at the
     * first cosine search and kept, set by compare-and-swap like the norms. */
    _Atomic(uint8_t *) unit_rows;
    /* Features (features.c): the network the rows were computed with (a reference of the
     * data set's own), and the conversion of the images they were computed from, which test
     * sets and photos get too. NULL and zeros elsewhere. */
    const knn_features *features;
    int input_height, input_width, input_channels, input_crop;
    /* ... and those images themselves, where they fit KNN__MAX_PICTURES (pictures for the
     * server and the report): count rows of input_channels planes of input_height x
     * input_width, pictures_stride bytes apart (64-byte multiples); in a model file they
     * point into its mapping (pictures_owned false). NULL where not kept. */
    uint8_t *pictures;
    size_t pictures_stride;
    bool pictures_owned;
    /* The graph index (hnsw.c), or NULL: built, or inside a model file's mapping. */
    struct knn__hnsw *index;
    /* Text (dtype KNN_SPARSE; text.h): the rows and documents, and the vectoriser (a
     * reference of the data set's own). rows is NULL and stride 0. */
    struct knn__sparse *sparse;
    const knn_text *text;
    /* A shard (knn_load_options.shard): rows holds rows [row_lo, row_hi) of count, row_lo's
     * first; labels, class names and paths are the whole set's. `shard` is the caller's
     * (its collective operations). Elsewhere sharded is false and rows holds all count. */
    bool sharded;
    size_t row_lo, row_hi;
    knn_shard shard;
};

/* The rows a data set holds: count, or a shard's. */
static inline size_t knn__held(const knn_dataset *ds)
{
    return ds->sharded ? ds->row_hi - ds->row_lo : ds->count;
}
/* KNN_ERR_ARG naming the data set and `what` when ds is a shard, else KNN_OK. */
knn_status knn__whole(const knn_dataset *ds, const char *what);
/* Sets up ds (count rows, all loaded or mapped) as opt's shard, when opt asks for one: the
 * rows outside [lo, hi) are left alone; the caller has put rows lo.. at ds->rows. */
void knn__shard_set(knn_dataset *ds, const knn_shard *shard, size_t lo, size_t hi);
/* A shard's collective operations, their failure turned into the thread's message. */
knn_status knn__shard_reduce(const knn_dataset *ds, void *records, size_t n, size_t bytes,
                             knn_merge_fn merge, const void *ctx);
knn_status knn__shard_broadcast(const knn_shard *s, void *data, size_t bytes, int root);

/* Feature data sets keep the images they were computed from up to this many bytes. */
#define KNN__MAX_PICTURES ((size_t)256 << 20)

/* Norms of a data set's rows as one kernel table's train_norms function computes them. */
struct knn__norms_cache {
    const void *fn;  /* the knn__norms_fn that computed them */
    uint32_t *norms; /* (chunks, count) chunk-major: see knn__distances */
};

/* Neighbour lists. Distances are stored in 64 bits: squared L2 of uint8 rows longer than
 * 65,536 values passes 2^32 (255^2 x 2^24 < 2^40); float32 distances are the float's bits,
 * zero-extended. Widening the stored lists and minima cost the search nothing measurable on
 * Fashion-MNIST (bench/README.md; the vote's ranking of 1,000 classes 10%): the tiles, where
 * the time goes, stay 32-bit for rows of at most KNN__CHUNK values. */
struct knn_neighbors {
    size_t nq;
    int k;
    knn_metric metric;
    knn_dtype dtype; /* of the data: float32 distances are stored as their bits */
    uint32_t *index; /* (nq, k) */
    uint64_t *dist;  /* (nq, k) */
    /* Each class's nearest training row, for ranking the classes without a vote (vote.c):
     * its raw distance and index, per query. knn_search fills them when the training set has
     * labels; elsewhere (cross-validation, neighbours built by hand) classes is 0 and both
     * are NULL. A class without rows keeps KNN__NO_DIST and KNN__NO_ROW. */
    int classes;           /* C, or 0: no class minima                     */
    uint64_t *class_dist;  /* (nq, classes)                                */
    uint32_t *class_index; /* (nq, classes)                                */
};

/* The class minima's marks for "no row met yet": above every real distance (< 2^40) and
 * every row index (KNN_MAX_ROWS < 2^31). */
#define KNN__NO_DIST UINT64_MAX
#define KNN__NO_ROW UINT32_MAX

/* How the distances between rows of one shape are computed: the kernel table's tile for the
 * metric and the value type and, for uint8 rows longer than KNN__CHUNK bytes, the chunks
 * whose 32-bit tiles are summed into a 64-bit ("wide") tile. Norms (L2 on uint8 only) are
 * kept chunk-major: chunk c of row i at norms[c x pitch + i]. */
typedef struct {
    knn__tile_fn tile;
    bool norms;    /* the tile reads norms: uint8 L2                          */
    size_t stride; /* bytes per row                                           */
    size_t chunks; /* 1, or ceil(stride / KNN__CHUNK) for long uint8 rows     */
} knn__distances;

knn__distances knn__distances_of(const knn_dataset *ds, knn_metric metric,
                                 const knn__kernels *kern);
/* Tiles of more than one chunk hold uint64 distances, others uint32. */
static inline bool knn__wide(const knn__distances *d) { return d->chunks > 1; }
/* The squared norms of n rows for the tile's queries: out (chunks, pitch), chunk-major. */
void knn__query_norms(const knn__distances *d, const uint8_t *rows, size_t n, size_t pitch,
                      uint32_t *out);
/* out (nq, nt), uint32 or (wide) uint64: the distances between queries q (their norms at
 * qnorm, chunk-major with pitch qpitch) and training rows t (tnorm, tpitch); the norms are
 * NULL for tiles without them. scratch: nq x nt uint32 for wide tiles, else unused. */
void knn__distance_tile(const knn__distances *d, const uint8_t *q, size_t nq,
                        const uint32_t *qnorm, size_t qpitch, const uint8_t *t, size_t nt,
                        const uint32_t *tnorm, size_t tpitch, uint32_t *scratch, void *out);

/* The training rows' norms as `fn` computes them, (chunks, count) chunk-major (cached in the
 * data set by the first call; *owned: the caller must free them). NULL when out of memory. */
const uint32_t *knn__train_norms(const knn_dataset *train, knn__norms_fn fn, int threads,
                                 bool *owned);

/* KNN_OK if metric m is known and applies to ds's values (cosine: float32 only); ds may be
 * NULL (the metric alone is checked). */
knn_status knn__metric_check(knn_metric m, const knn_dataset *ds);
/* Writes n float32 rows of dim values (rows `stride` bytes apart, zero-padded) scaled to unit
 * length into out (same layout): the squares summed in double in index order, so the result
 * is the same on every machine and thread; a zero row stays zero. */
void knn__unit_rows(const uint8_t *rows, size_t n, size_t dim, size_t stride, uint8_t *out);
/* The data set's rows at unit length, cached in it by the first call; NULL when out of
 * memory. */
const uint8_t *knn__dataset_unit_rows(const knn_dataset *ds, int threads);

/* A stored distance in the metric's own units: L1, the Euclidean distance, or 1 - cos. */
double knn__distance_value(const knn_neighbors *nb, uint64_t raw);

/* Sets the thread's error message and returns `status`, so that failures read
 * `return knn__fail(KNN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));`. */
knn_status knn__fail(knn_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Allocates a data set of `count` rows x `dim` values of `dtype` with zeroed padding (rows
 * themselves uninitialised) and, if `with_labels`, a label array. Checks the caps and the
 * size arithmetic; `what` names the origin for messages. */
/* The same with only shard's rows allocated where shard is not NULL (knn__shard_set). */
knn_status knn__dataset_alloc_shard(size_t count, size_t dim, knn_dtype dtype, bool with_labels,
                                    const knn_shard *shard, const char *what, knn_dataset **out);
knn_status knn__dataset_alloc(size_t count, size_t dim, knn_dtype dtype, bool with_labels,
                              const char *what, knn_dataset **out);
/* The graph index (hnsw.c, DESIGN.md decision 14). */
typedef struct knn__hnsw knn__hnsw;
void knn__hnsw_free(knn__hnsw *g);
/* True where knn_search of train with p walks train's index. */
bool knn__hnsw_applies(const knn_dataset *train, const knn_params *p);
/* The search through the index into nb (from knn__search_prepare). */
knn_status knn__hnsw_search(const knn_dataset *train, const knn_dataset *queries,
                            const knn_params *p, knn_neighbors *nb);
/* A model file's index section: its parts, each written 64-byte aligned after the one before
 * (header: 64 bytes of room; returns the number of parts, at most 5), and its size. */
int knn__hnsw_parts(const knn__hnsw *g, void *header, const void **ptr, uint64_t *bytes);
uint64_t knn__hnsw_section_bytes(const knn__hnsw *g);
/* The index section of `bytes` bytes at p (in ds's mapping), checked against ds. */
knn_status knn__hnsw_open(const char *path, const uint8_t *p, uint64_t bytes,
                          const knn_dataset *ds, knn__hnsw **out);

/* n rounded up to a multiple of 64: model file sections and their parts start there. */
static inline uint64_t knn__align64(uint64_t n) { return (n + 63) / 64 * 64; }

/* What a data set's rows are, for messages: "images" (uint8), "rows" (features) or
 * "documents" (text); knn__row_word: one of them. */
static inline const char *knn__rows_word(const knn_dataset *ds)
{
    return ds->dtype == KNN_SPARSE ? "documents" : ds->dtype == KNN_F32 ? "rows" : "images";
}
static inline const char *knn__row_word(const knn_dataset *ds)
{
    return ds->dtype == KNN_SPARSE ? "document" : ds->dtype == KNN_F32 ? "row" : "image";
}

/* Bytes per value. */
static inline size_t knn__dtype_size(knn_dtype t) { return t == KNN_F32 ? 4 : 1; }
/* A model file (model.c): true if the file starts with the model magic. */
bool knn__is_model_file(const char *path);
knn_status knn__load_model(const char *path, const knn_load_options *opt, knn_dataset **out);

/* Features (features.c). A network from memory (copied), parsed now (open_now) or at its
 * first use (model files: they load, and their rows are searched, where the runner is not
 * built in). */
knn_status knn__features_create(const void *onnx, size_t size, const char *name,
                                const knn_features_options *o, bool open_now,
                                knn_features **out);
/* Another reference to f (NULL stays NULL). */
const knn_features *knn__features_ref(const knn_features *f);
/* True if a and b are the same network with the same preprocessing; if they quantise alike
 * (both not, or with the same scales). */
bool knn__features_same_network(const knn_features *a, const knn_features *b);
bool knn__features_same_scales(const knn_features *a, const knn_features *b);
/* Quantised features: a copy of f with these scales (dim of each, checked positive and
 * finite); the scales of a quantised one (qmin, and *qstep), NULL for float features. */
knn_status knn__features_with_scales(const knn_features *f, const float *qmin,
                                     const float *qstep, size_t dim, knn_features **out);
const float *knn__features_scales(const knn_features *f, const float **qstep);
/* Replaces the float32 feature set *ds (freed either way) by its uint8 codes: with q's scales,
 * or (q NULL) with scales fitted on *ds itself, each dimension's range in 255 steps. */
knn_status knn__features_quantize(knn_dataset **ds, const knn_features *q);
/* The ONNX bytes, for model files. */
const uint8_t *knn__features_bytes(const knn_features *f, size_t *size);
/* Replaces the image data set *ds by its features (freed either way; NULL on failure). */
knn_status knn__features_embed(const knn_features *f, knn_dataset **ds, knn_progress_fn progress,
                               void *progress_user);

/* Loads an image folder (load_images.c); `root` is the folder holding the class folders. */
knn_status knn__load_image_folder(const char *root, const knn_load_options *opt,
                                  knn_dataset **out);
/* Where an image folder's decoded rows go when they are not kept (a model file written as
 * the images are decoded, model.c): `write` takes each readable image's row, in order, and
 * returns an error status (with its message set) to stop the load. */
typedef struct knn__row_sink {
    knn_status (*write)(struct knn__row_sink *sink, const uint8_t *row, size_t bytes);
    const struct stat *skip; /* the file written, never listed as an image if in the folder */
} knn__row_sink;
/* knn__load_image_folder with the rows handed to `sink` as they are decoded, in batches of
 * about 64 MiB (at least 16 rows), instead of kept: *out is the data set without its rows (rows NULL; count,
 * labels, class names, paths and skipped list as the load gives them), for the model file's
 * header and its sections after the rows, and never to be searched. Memory: one batch, and
 * each image's path and label. Image folders of images only: not text, not a labels file. */
knn_status knn__stream_image_folder(const char *root, const knn_load_options *opt,
                                    knn__row_sink *sink, knn_dataset **out);
/* The folder of class folders `spec` names (DIR, or DIR:SPLIT as ImageNet's train), as a new
 * string; NULL where spec names something else (a file, a standard data set) (load.c). */
char *knn__image_folder_root(const char *spec);
/* A growable list of malloc'd strings (load_images.c). */
typedef struct {
    char **items;
    size_t n, cap;
} knn__name_list;
/* Appends s (taken over); false, with s freed, when s is NULL or memory runs out. */
bool knn__list_push(knn__name_list *l, char *s);
void knn__name_list_free(knn__name_list *l);
/* The entries of `dir` (sorted, no hidden ones) that are folders (want_dirs) or regular
 * files: names, not paths. */
knn_status knn__list_dir(const char *dir, bool want_dirs, knn__name_list *out);
/* Decodes n image files (paths) of the given classes (labels (n) index `classes`) into a
 * data set, as the folder loaders do: unreadable files skipped or fatal (opt->strict), and
 * `notes` (what was left out, "PATH: reason") added to the skipped list with the classes
 * that kept no image. `root` names the data set. */
knn_status knn__load_files_labelled(const char *root, char **paths, const int32_t *labels,
                                   size_t n, const char *const *classes, int nclasses,
                                   knn__name_list *notes, const knn_load_options *opt,
                                   knn_dataset **out);
/* A flat folder of images whose classes come from opt->labels_file (load_labels.c). */
knn_status knn__load_labelled_folder(const char *root, const knn_load_options *opt,
                                     knn_dataset **out);
/* Cross-validation's pass alone (cv.c), for the tests: every row's kmax nearest among the
 * rows of the other folds (fold_of), in knn_search's order, indices into ds. */
knn_status knn__cv_lists(const knn_dataset *ds, const int32_t *fold_of, knn_metric metric,
                         int kmax, int threads, knn_neighbors **out);
/* Images (image.c). The documented format that `data` starts with ("JPEG", "PNG", "BMP",
 * "GIF", "PGM", "PPM"), or NULL: only the first bytes are looked at. */
const char *knn__image_format(const uint8_t *data, size_t size);
/* Decodes an image held in memory into `want` (1 or 3) channels of 8 bits, interleaved:
 * *pixels (width x height x channels; malloc'd, freed with free()). *channels is `want`,
 * except for 16-bit PGM/PPM, which come in their own channels (1 or 3) for the caller to
 * convert. The format and the caps (KNN_MAX_IMAGE_PIXELS, KNN_MAX_IMAGE_WORK) are checked
 * before decoding. A JPEG may come reduced to 1/2, 1/4 or 1/8 of its sides (DCT-domain
 * scaling), never below fit_w x fit_h (0 x 0: full size). Returns NULL, or a malloc'd reason
 * (without the file's name). */
#define KNN__DECODE_STB 1u /* flags: JPEGs too by stb_image, at full size (the reference) */
char *knn__image_decode(const uint8_t *data, size_t size, int want, int fit_w, int fit_h,
                        unsigned flags, uint8_t **pixels, int *width, int *height,
                        int *channels);
/* Resamples cw x ch pixels of C interleaved channels (rows `stride` bytes apart) into C planes
 * of W x H at dst (resize.c): Mitchell to shrink, Catmull-Rom to enlarge, an unchanged axis
 * copied. False when out of memory. */
#define KNN__RESIZE_PLAIN 1u /* flags: the plain loops only, no SSE2 (the tests' reference) */
bool knn__resize_to_planes(const uint8_t *src, size_t stride, int cw, int ch, int C,
                           uint8_t *dst, int W, int H, unsigned flags);
/* dir + "/" + name in a malloc'd string, no slash doubled, just name when dir is "" (NULL
 * when out of memory): the one way the library joins paths (load.c). */
char *knn__path_join(const char *dir, const char *name);
/* A malloc'd printf. NULL when out of memory. */
char *knn__asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* True unless `bytes` is more than the memory available now (MemAvailable): requests that
 * cannot be met are refused up front, with a message, instead of being left to the OOM
 * killer. */
bool knn__memory_fits(size_t bytes);
/* MemAvailable in bytes (free memory and the caches the kernel can drop); 0 when unknown. */
double knn__memory_available(void);
/* The exact search with the training set split into `parts` searched one after the other,
 * each for every query tile (as for a training set larger than the page cache), for the
 * tests: the same lists as knn_search. */
knn_status knn__search_parts(const knn_dataset *train, const knn_dataset *queries,
                             const knn_params *p, int parts, knn_neighbors **out);
/* Cross-validation over shards (cv.c): the k nearest of train's rows (its own, a shard's)
 * to each query, the pairs of a query and a row of the same fold (qfold (nq), tfold by
 * training row) left out; places left empty hold KNN__NO_DIST and KNN__NO_ROW, or a row of
 * the same fold at the tile's largest distance. No class minima. */
knn_status knn__search_folds(const knn_dataset *train, const knn_dataset *queries,
                             knn_metric metric, int k, int threads, const int32_t *qfold,
                             const int32_t *tfold, knn_neighbors **out);
/* nb's lists, a shard's (the places of missing rows KNN__NO_DIST and KNN__NO_ROW), merged
 * in place with every other process's (the shard's reduce). */
knn_status knn__neighbors_reduce(const knn_dataset *train, knn_neighbors *nb);
/* Returns a malloc'd copy of s (NULL on failure). */
char *knn__strdup(const char *s);
/* Checked multiplication: false on overflow. */
static inline bool knn__mul_ok(size_t a, size_t b, size_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}

/* The exact scalar reference search: every distance, a full sort by (distance, index).
 * The specification that knn_search is tested against. Same contract as knn_search. */
knn_status knn__search_reference(const knn_dataset *train, const knn_dataset *queries,
                                 const knn_params *p, knn_neighbors **out);
/* Checks what knn_search and the reference both require and allocates the result. */
knn_status knn__search_prepare(const knn_dataset *train, const knn_dataset *queries,
                               const knn_params *p, knn_neighbors **out);

#endif
