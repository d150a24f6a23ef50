/* knn.h: exact k-nearest-neighbour image classification, the public API of libknn.
 *
 * The flow of data (see DESIGN.md):
 *
 *     knn_dataset_load ──▶ knn_search ──▶ knn_vote ──▶ knn_metrics_compute
 *     (spec -> rows)       (K nearest)    (labels,     (accuracy, top-5,
 *                                          scores)      per class, confusion)
 *
 * Conventions
 *   - Every call that can fail returns a knn_status; on failure knn_last_error() returns a
 *     one-line, human message naming the file or argument and the problem. The message is
 *     thread-local and stays valid until the next failing call on the same thread.
 *   - The library never prints and never exits.
 *   - Objects returned through `**out` belong to the caller and are released with the matching
 *     _free function (which accepts NULL). On failure `*out` is set to NULL.
 *   - Shapes are stated as (rows, columns); "nq" is the number of queries.
 *
 * Data: a data set holds `count` rows of `dim` values (an image flattened in the order of its
 * file: row-major for IDX, channel planes R, G, B for CIFAR), one int32 label per row (or
 * none, for unlabelled queries), and optional class names. Values are uint8 (images) or
 * float32 (real-valued features: IDX float files, knn_dataset_create_f32).
 *
 * Distances on uint8 are exact integers: L1 = sum |a - b|, L2 is ordered and reported by its
 * square, sum (a - b)^2, in 64 bits (a long row's squared L2 passes 2^32). On float32 they
 * are float sums, the same for every thread count but rounded differently by each
 * instruction set (see knn_set_isa). Neighbours are totally ordered by (distance, training
 * index), so results do not depend on the thread count or on how the search is tiled.
 */
#ifndef KNN_H
#define KNN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What the shared library exports: these declarations only. The library is built with
 * -fvisibility=hidden, so its internal functions (knn__*) stay internal. */
#if defined(__GNUC__) && !defined(KNN_STATIC)
#define KNN_API __attribute__((visibility("default")))
#else
#define KNN_API
#endif

#define KNN_VERSION "0.1.0"

/* ---- status ---------------------------------------------------------------------------- */

typedef enum {
    KNN_OK = 0,
    KNN_ERR_ARG,    /* an invalid argument: K < 1, K > training rows, unknown name, ...     */
    KNN_ERR_IO,     /* a file could not be opened or read                                  */
    KNN_ERR_FORMAT, /* a file's content is wrong: magic, truncation, corrupt gzip, labels  */
    KNN_ERR_SHAPE,  /* two data sets do not fit together (different row sizes)             */
    KNN_ERR_LIMIT,  /* a size is beyond the library's hard caps (see KNN_MAX_*)            */
    KNN_ERR_NOMEM   /* memory could not be allocated                                       */
} knn_status;

/* The message of the last failure on this thread ("" if none). */
KNN_API const char *knn_last_error(void);
/* A short name for a status: "ok", "invalid argument", "i/o error", ... */
KNN_API const char *knn_status_name(knn_status status);

/* Hard caps checked on every size read from a file or passed in. */
/* Values per row: 2^24, 512 x 512 RGB photos (786,432 values) and far beyond; uint8 distances
 * stay exact (squared L2 below 2^40, in 64 bits). */
#define KNN_MAX_DIM ((size_t)16777216)
#define KNN_MAX_ROWS ((size_t)2147483647)  /* rows in one data set                              */
#define KNN_MAX_CLASSES 65536              /* distinct labels                                   */

/* ---- data sets ------------------------------------------------------------------------- */

typedef struct knn_dataset knn_dataset; /* opaque: rows, labels, class names, source */

/* KNN_SPARSE: text, each row a sparse float32 tf-idf vector of unit length (see "text"). */
typedef enum { KNN_U8 = 0, KNN_F32 = 1, KNN_SPARSE = 2 } knn_dtype;
typedef struct knn_text knn_text;                   /* a fitted tf-idf vectoriser ("text") */
typedef struct knn_text_options knn_text_options;

/* Called now and then during long work from the calling thread: `done` of `total` units
 * (queries searched, images decoded, pairs of blocks cross-validated). */
typedef void (*knn_progress_fn)(size_t done, size_t total, void *user);

typedef struct {
    size_t limit;        /* keep only the first `limit` rows; 0 = all                          */
    int coarse_labels;   /* CIFAR-100: the 20 superclasses instead of the 100 fine labels     */
    int labels_optional; /* load images even where no labels exist (queries for prediction)   */
    /* Image folders and image files: every image is converted to width x height x channels */
    int width, height;   /* 0: 32 x 32                                                        */
    int channels;        /* 1 (gray) or 3 (RGB); 0: 3                                         */
    int crop;            /* 1: resize the short side and crop the middle; 0: stretch to fit   */
    int class_depth;     /* 0 (default): a class is every folder that directly holds images,
                            at any depth, named by its path from the root (ImageNet's
                            ROOT/class, Places' ROOT/a/abbey and ROOT/a/apartment_building/
                            outdoor, Omniglot's ROOT/alphabet/character); N > 0: exactly the
                            folders N levels below the root                                   */
    int strict;          /* 1: an unreadable image fails the load; 0: it is skipped, listed  */
    knn_progress_fn progress; /* images decoded so far; may be NULL                          */
    void *progress_user;
    const char *labels_file; /* a flat folder of images (ImageNet's val): a CSV of file,class
                            (header optional), or ImageNet's LOC_val_solution.csv (ImageId,
                            PredictionString: the class is its first word, the file
                            ImageId.JPEG); files without a label and labels without a file are
                            listed with the skipped images                                    */
    int private_copy;    /* model files: 1 reads the file into memory instead of mapping it,
                            so nothing done to the file later reaches the data set (servers);
                            0 maps it (fast start; the file must not change while in use)    */
    const struct knn_features *features; /* not NULL: the images are run through this
                            network (knn_features_compute) and the data set holds their
                            features; where width, height and channels are 0, an image folder
                            is converted to the network's input shape when it states one    */
    int quantize;        /* 1: the features (of `features`, or of a feature set loaded) are
                            stored as 8-bit codes, each dimension's range over these rows in
                            255 steps (a training set: sets loaded like it get its scales),
                            and searched with the integer kernels                           */
    /* Text (.tsv files, folders of text files): vectorised by `text` where it is set (a test
     * or query set: knn_load_options_like sets it), else by a vectoriser fitted on these
     * documents with `text_options` (NULL: knn_text_options_default) */
    const knn_text *text;
    const knn_text_options *text_options;
    /* Not NULL: load only this process's shard of the rows (see "shards" below): model
     * files, IDX and CIFAR sets; other data sets, networks and quantising are refused */
    const struct knn_shard *shard;
} knn_load_options;

/* Loads a data set named by `spec`, the format detected from the content:
 *   FILE          an IDX images file (raw or gzip; its labels file is found beside it by the
 *                 standard naming) or a CIFAR-10 / CIFAR-100 binary batch;
 *   DIR:SPLIT     a folder holding a standard data set, SPLIT = train | test;
 *   NAME:SPLIT    mnist, fashion-mnist, kmnist, cifar10, cifar100 looked up in $KNN_DATA
 *                 (a colon-separated list of folders), ./data and /usr/share/datasets;
 *   DIR           a folder of images in class folders (ImageNet, Places: DIR/class/image;
 *                 Omniglot: DIR/alphabet/character/image), classes named by their folders in
 *                 sorted order; DIR:SPLIT for DIR/SPLIT/class/image. JPEG, PNG, BMP, GIF,
 *                 PGM/PPM, decoded by libjpeg-turbo (JPEG, scaled in the DCT domain where
 *                 the target allows) or stb_image, resized by knn's integer resizer
 *                 (Mitchell to shrink, Catmull-Rom to enlarge).
 * `opt` may be NULL (all rows, fine labels, labels required). */
KNN_API knn_status knn_dataset_load(const char *spec, const knn_load_options *opt, knn_dataset **out);

/* Builds a data set from memory (copied). data: (count, dim) uint8, row-major.
 * labels: (count) in [0, num_classes), or NULL for an unlabelled set (then num_classes may be
 * 0). height * width * channels must equal dim (pass dim, 1, 1 for plain vectors). */
KNN_API knn_status knn_dataset_create(size_t count, size_t dim, const uint8_t *data,
                              const int32_t *labels, int num_classes, int height, int width,
                              int channels, knn_dataset **out);
/* The same for float32 features: data (count, dim) float32; every value must be finite. */
KNN_API knn_status knn_dataset_create_f32(size_t count, size_t dim, const float *data,
                                  const int32_t *labels, int num_classes, knn_dataset **out);
/* A data set over the caller's rows, not copied (e.g. a numpy array): row i of `dim` values
 * of `dtype` at rows + i x stride, with rows 64-byte aligned, stride a multiple of 64 of at
 * least dim values, and the padding zero (checked, with every float finite). The rows must
 * outlive the data set and not change while it is searched; labels (count, or NULL) are
 * copied. Shape dim x 1 x 1. Where the layout does not fit, use knn_dataset_create (one
 * copy). */
KNN_API knn_status knn_dataset_view(size_t count, size_t dim, knn_dtype dtype, const void *rows,
                            size_t stride, const int32_t *labels, int num_classes,
                            knn_dataset **out);
KNN_API void knn_dataset_free(knn_dataset *ds);

KNN_API size_t knn_dataset_count(const knn_dataset *ds);    /* rows                              */
KNN_API size_t knn_dataset_dim(const knn_dataset *ds);      /* values per row                    */
KNN_API knn_dtype knn_dataset_dtype(const knn_dataset *ds); /* KNN_U8, KNN_F32 or KNN_SPARSE    */
KNN_API int knn_dataset_height(const knn_dataset *ds);      /* image shape: height x width x ch. */
KNN_API int knn_dataset_width(const knn_dataset *ds);
KNN_API int knn_dataset_channels(const knn_dataset *ds);
KNN_API int knn_dataset_has_labels(const knn_dataset *ds);
KNN_API int knn_dataset_num_classes(const knn_dataset *ds); /* labels lie in [0, num_classes)    */
/* The name of a class, or NULL where the data set has none. */
KNN_API const char *knn_dataset_class_name(const knn_dataset *ds, int label);
/* Sets the class names (copied); `names` has num_classes entries. */
KNN_API knn_status knn_dataset_set_class_names(knn_dataset *ds, const char *const *names);
/* Matches ds's classes to like's by name (a test or query set to its training set): every
 * label of ds is rewritten to the label of the class of the same name in like, and ds takes
 * like's class list. A class of ds that like lacks is an error naming them, unless
 * `unknown_wrong`: its rows are then labelled -1, which knn_metrics_compute counts as wrong.
 * Where either set has no class names, the labels are kept as they are (matched by number)
 * and must lie among like's classes. */
KNN_API knn_status knn_dataset_match_classes(knn_dataset *ds, const knn_dataset *like, int unknown_wrong);
/* Sets the image conversion of `o` (width, height, channels, crop) to like's, where like holds
 * images (uint8, 1 or 3 channels), or to that of the images like's features were computed
 * from, with o->features set to like's network (knn_dataset_features); for a text data set,
 * o->text to its vectoriser (knn_dataset_text) alone; other fields untouched. Returns 1 if it
 * did, else 0. */
KNN_API int knn_load_options_like(const knn_dataset *like, knn_load_options *o);
/* The entries of folder `dir` that are regular files (folders = 0) or folders (folders = 1),
 * hidden ones left out, sorted by name, as malloc'd paths "dir/name" (*paths, *n; freed with
 * knn_paths_free): the listing the folder loaders use, for callers that gather photos. */
KNN_API knn_status knn_folder_list(const char *dir, int folders, char ***paths, size_t *n);
KNN_API void knn_paths_free(char **paths, size_t n);
/* Image folders: the file each row came from (NULL for other data sets). */
KNN_API const char *knn_dataset_path(const knn_dataset *ds, size_t i);
/* Images that could not be read and were skipped, each as "PATH: reason". */
KNN_API size_t knn_dataset_skipped(const knn_dataset *ds);
KNN_API const char *knn_dataset_skipped_reason(const knn_dataset *ds, size_t i);
/* Photos: JPEG, PNG, BMP, GIF and binary PGM/PPM only, told by their first bytes before any
 * decoder runs; at most KNN_MAX_IMAGE_PIXELS pixels, checked before decoding, and at most
 * KNN_MAX_IMAGE_WORK bytes of decoded samples (pixels x channels x bytes per sample), so a
 * small file cannot ask for gigabytes; files must be regular files of at most
 * KNN_MAX_IMAGE_FILE bytes. */
#define KNN_MAX_IMAGE_PIXELS ((size_t)64 << 20) /* 64 megapixels                        */
#define KNN_MAX_IMAGE_WORK ((size_t)256 << 20)  /* 256 MiB of decoded samples            */
#define KNN_MAX_IMAGE_FILE ((size_t)256 << 20)  /* 256 MiB of file                       */
/* True if `path` is a regular file that starts like one of the formats above (only the first
 * bytes are read: no decoder runs). */
KNN_API int knn_is_image_file(const char *path);
/* Loads image files as unlabelled queries, converted like `like` (its size, channels, and
 * crop): the way to classify photos with a model trained on an image folder. */
KNN_API knn_status knn_images_load(const char *const *paths, size_t n, const knn_dataset *like,
                           knn_dataset **out);
/* The same for one image held in memory (`size` bytes, e.g. an upload): a data set of one
 * unlabelled row. `name` names it in messages (may be NULL: "image"); no file is written. */
KNN_API knn_status knn_image_load_memory(const void *data, size_t size, const char *name,
                                 const knn_dataset *like, knn_dataset **out);
/* The same, converted as `o` says (width, height, channels: 0 for 32 x 32 x 3; crop) and run
 * through o->features where it is set: e.g. the pixels of a photo for a features model
 * (knn_load_options_like, then features = NULL). */
KNN_API knn_status knn_image_load_memory_with(const void *data, size_t size, const char *name,
                                              const knn_load_options *o, knn_dataset **out);
/* Where the data came from, for messages ("/usr/share/.../train-images-idx3-ubyte.gz"). */
KNN_API const char *knn_dataset_source(const knn_dataset *ds);
/* Row i: dim values (followed by zero padding; the pointer is 64-byte aligned); uint8 rows,
 * and float32 rows of a KNN_F32 data set (NULL for the other type). */
KNN_API const uint8_t *knn_dataset_row(const knn_dataset *ds, size_t i);
KNN_API const float *knn_dataset_row_f32(const knn_dataset *ds, size_t i);
/* The picture of row i: an image data set's row itself, or the image a feature row was
 * computed from where the data set kept it (feature sets keep up to 256 MiB of them, also in
 * model files); channel planes of the size knn_load_options_like gives. NULL otherwise. */
KNN_API const uint8_t *knn_dataset_picture(const knn_dataset *ds, size_t i);
/* Label of row i, or -1 for an unlabelled set. */
KNN_API int32_t knn_dataset_label(const knn_dataset *ds, size_t i);

/* ---- search ---------------------------------------------------------------------------- */

/* KNN_COSINE: 1 - cos(a, b), for float32 features and text (a uint8 data set is refused
 * with KNN_ERR_ARG); a zero vector is at distance 1 from everything. Text is searched by
 * cosine only. */
typedef enum { KNN_L1 = 0, KNN_L2 = 1, KNN_COSINE = 2 } knn_metric;
typedef enum { KNN_WEIGHTS_UNIFORM = 0, KNN_WEIGHTS_DISTANCE = 1 } knn_weights;
typedef enum { KNN_TIES_NEAREST = 0, KNN_TIES_SMALLEST_LABEL = 1 } knn_ties;


typedef struct {
    int k;                   /* neighbours per query, 1 <= k <= training rows              */
    knn_metric metric;
    knn_weights weights;     /* used by knn_vote                                            */
    knn_ties ties;           /* used by knn_vote                                            */
    int threads;             /* 0 = OpenMP's default (OMP_NUM_THREADS or all cores)        */
    knn_progress_fn progress; /* may be NULL                                                */
    void *progress_user;
    /* Training sets with a graph index (knn_dataset_build_index, or a model file that holds
     * one) are searched through it when the metric is the index's: */
    int ef;                  /* rows kept while walking the graph (at least k): more is
                                slower and nearer exact; 0 = KNN_DEFAULT_EF                  */
    int exact;               /* 1: the exact search even where an index exists            */
} knn_params;

/* k = 1, L2, uniform weights, nearest tie rule, default threads, no progress, the index's
 * default ef. */
KNN_API knn_params knn_params_default(void);

/* Parses "l1" / "l2" / "cosine", "uniform" / "distance", "nearest" / "smallest-label".
 * Return KNN_ERR_ARG (with a message listing the valid names) for anything else. */
KNN_API knn_status knn_metric_parse(const char *name, knn_metric *out);
KNN_API knn_status knn_weights_parse(const char *name, knn_weights *out);
KNN_API knn_status knn_ties_parse(const char *name, knn_ties *out);
KNN_API const char *knn_metric_name(knn_metric m);
KNN_API const char *knn_weights_name(knn_weights w);
KNN_API const char *knn_ties_name(knn_ties t);

typedef struct knn_neighbors knn_neighbors; /* opaque: (nq, k) sorted (index, distance) */

/* The k nearest training rows of every query, sorted by (distance, training index).
 * Exact; memory is bounded (the nq x ntrain distance matrix is never built). When `train`
 * has labels, the search also keeps each class's nearest training row to every query (the
 * first in the same order), which knn_vote uses to rank the classes without a vote: nq x C x
 * 12 more bytes, checked against the memory available like the lists (KNN_ERR_NOMEM when it
 * does not fit; the ranking never silently changes with the memory free). A label outside
 * [0, C) met during the search (a mapped model changed under it) is KNN_ERR_FORMAT. */
KNN_API knn_status knn_search(const knn_dataset *train, const knn_dataset *queries,
                      const knn_params *p, knn_neighbors **out);
KNN_API void knn_neighbors_free(knn_neighbors *nb);
KNN_API size_t knn_neighbors_count(const knn_neighbors *nb); /* nq */
KNN_API int knn_neighbors_k(const knn_neighbors *nb);
KNN_API knn_metric knn_neighbors_metric(const knn_neighbors *nb);
/* The j-th nearest training row of query q (0 <= j < k). */
KNN_API uint32_t knn_neighbors_index(const knn_neighbors *nb, size_t q, int j);
/* Its distance as ordered: L1, the squared L2 distance, or 1 - cos; exact integers for uint8
 * data, up to 255^2 x KNN_MAX_DIM < 2^40. For float32 data these are the 32 bits of a
 * non-negative float (ordered like the floats; cosine's tiny negatives from rounding are
 * clamped to 0), zero-extended. */
KNN_API uint64_t knn_neighbors_raw_distance(const knn_neighbors *nb, size_t q, int j);
/* Its distance in the metric's own units: L1, sqrt of the squared L2 distance, or 1 - cos. */
KNN_API double knn_neighbors_distance(const knn_neighbors *nb, size_t q, int j);

/* recall@k of `found` against `exact` (the same queries and k, e.g. an index's search and
 * the exact one): the share of the exact lists' rows that the found lists hold, over every
 * query. KNN_ERR_ARG when their shapes differ. */
KNN_API knn_status knn_neighbors_recall(const knn_neighbors *found, const knn_neighbors *exact,
                                        double *recall);

/* ---- shards: one training set over several processes ----------------------------------- */

/* A training set too large for one machine is split over `count` processes (knn-mpi: one MPI
 * rank each), shard i holding the contiguous rows [N x i / count, N x (i + 1) / count) of
 * the N rows, and the labels, class names and image paths of all of them. knn_dataset_count
 * is N; knn_dataset_row and the other row accessors return NULL outside the shard.
 *
 * Every process runs the same calls in the same order. knn_search on a shard searches its own
 * rows for every query, then `reduce` merges the per-query lists of all processes in the
 * order (distance, training index), so that every process gets the lists, and class minima,
 * a single process would: byte for byte, for any count. knn_cross_validate passes each
 * shard's rows to every process in turn (`broadcast`), each process lists their neighbours
 * among its own rows, and `reduce` merges the lists. Loading a model file checks its CRC-32
 * from each process's CRC of its own rows (`broadcast`). A model's graph index links rows of
 * every shard: a shard of it gets a graph of its own rows instead, built as it loads with
 * the file's settings (knn_dataset_build_index on a shard does the same), which knn_search
 * walks unless knn_params.exact, its lists merged like the exact ones (approximate, and not
 * the single process's graph: the same for a given count). Text, networks and image
 * folders cannot be sharded (fit a model file first). Functions that need every row
 * (knn_model_write, knn_fewshot, networks) refuse a shard; a shard never serves as
 * queries.
 *
 * The library knows nothing of the transport. Both operations are collective: called on every
 * process with the same sizes, they return KNN_OK, or a status with a one-line message in
 * `message` (message_size bytes), the same on every process, when the operation or any
 * process failed (knn-mpi: the first process that failed says why). */
typedef void (*knn_merge_fn)(const void *in, void *inout, size_t n, const void *ctx);
typedef struct knn_shard {
    int index, count; /* this process holds shard `index` of `count` (0 <= index < count)   */
    /* n records of record_bytes bytes each: on return, on every process, record r is
     * merge() of every process's record r (merge is associative and commutative; it combines
     * in[0..n) into inout[0..n), with ctx) */
    knn_status (*reduce)(void *records, size_t n, size_t record_bytes, knn_merge_fn merge,
                         const void *ctx, void *user, char *message, size_t message_size);
    /* `bytes` bytes at data on process `root` copied to data on every process */
    knn_status (*broadcast)(void *data, size_t bytes, int root, void *user, char *message,
                            size_t message_size);
    void *user;
} knn_shard;

/* The rows of shard `index` of `count` of a set of n rows: [*lo, *hi). */
KNN_API void knn_shard_rows(size_t n, int index, int count, size_t *lo, size_t *hi);
/* 1 and *info where ds is a shard: its rows [*lo, *hi) of knn_dataset_count; else 0. */
KNN_API int knn_dataset_shard(const knn_dataset *ds, size_t *lo, size_t *hi);

/* ---- the graph index: fast approximate search ------------------------------------------ */

/* An HNSW graph (hierarchical navigable small world, Malkov & Yashunin 2018) over a training
 * set's rows, for training sets too large to scan for every query. knn_search walks it
 * instead of scanning every row when the search's metric is the one the index was built
 * for: the distances are exact (uint8: integers), but the walk may miss some of the true
 * nearest rows; knn_params.ef trades speed for recall, knn_params.exact turns it off. With
 * an index, each class's nearest row (the vote's ranking of classes without a vote) is the
 * nearest among the rows the walk met.
 *
 * The build is deterministic: the same bytes for any thread count and any instruction set
 * (float rows included: the graph's distances are summed in one fixed order on every
 * processor). It is stored in model files (knn_model_write) and mapped on load like the
 * rows, checked first (sizes, every neighbour id); a model loaded with a `limit` drops it. */
typedef struct {
    int M;               /* neighbours kept per row on the upper levels, 2M on level 0,
                            2..128; 0: 16                                                   */
    int ef_construction; /* candidates weighed while inserting a row, 1..65536; 0: 200      */
    knn_metric metric;   /* the distance the graph is built for and searched with          */
    uint64_t seed;       /* each row's level is drawn from (seed, row)                      */
    int threads;         /* 0 = OpenMP's default                                           */
    knn_progress_fn progress; /* rows inserted of rows; may be NULL                         */
    void *progress_user;
} knn_index_options;

/* ef used when knn_params.ef is 0: recall@10 of at least 0.99 on Fashion-MNIST with M = 16
 * and ef_construction = 200, L2 and L1 (bench/README.md). */
#define KNN_DEFAULT_EF 48

/* M = 16, ef_construction = 200, L2, seed 0, default threads, no progress. */
KNN_API knn_index_options knn_index_options_default(void);
/* Builds the graph of ds's rows (replacing any it had); `o` may be NULL (the defaults). */
KNN_API knn_status knn_dataset_build_index(knn_dataset *ds, const knn_index_options *o);

typedef struct {
    int M, ef_construction;
    knn_metric metric;
    uint64_t seed;
    int levels;   /* levels of the graph (the entry point's level + 1)  */
    size_t edges; /* neighbour links over all levels                    */
    size_t bytes; /* the graph's memory (and its section of a model file, bar 64 bytes and
                     padding)                                          */
} knn_index_info;

/* 1 and *info filled where ds has a graph index, else 0. */
KNN_API int knn_dataset_index_info(const knn_dataset *ds, knn_index_info *info);

/* The distance kernels in use: "scalar", "avx2", "avxvnni" (AVX2 with the VEX form of VNNI)
 * or "avx512" (AVX-512 F, BW and VNNI).
 * By default the best this processor runs; the environment variable KNN_ISA, read at the
 * first search, can name a lesser one. Every choice gives the same results, bit for bit. */
KNN_API const char *knn_isa(void);
/* Chooses the kernels for all later searches in this process: "scalar", "avx2", "avxvnni",
 * "avx512", or "best". KNN_ERR_ARG if the name is unknown or this processor cannot run it. */
KNN_API knn_status knn_set_isa(const char *name);

/* ---- vote ------------------------------------------------------------------------------ */

/* Votes among the first p->k neighbours of each query (p->k <= knn_neighbors_k(nb), so
 * one search at the largest K serves every smaller K); `nb` must come from a search of
 * `train`.
 *   Uniform weights: each neighbour counts 1. Distance weights: 1 / distance (L1, or the
 *   true L2 distance); if any neighbour is at distance 0, those neighbours decide alone.
 *   A tie between classes with the highest vote is broken by p->ties:
 *     nearest:        the tied class holding the nearest neighbour wins;
 *     smallest-label: the smallest tied label wins (scikit-learn, the course assignment).
 * Outputs, each optional (NULL) except `pred`:
 *   pred:    (nq) the predicted label;
 *   scores:  (nq, C) each class's share of the vote, summing to 1;
 *   ranking: (nq, C) all classes from best to worst: the classes with votes by score, ties
 *            as above; then the classes without a vote, ordered by the distance of their
 *            own nearest training row to the query (then that row's index; classes without
 *            rows last, by label), so a class with a vote never ranks behind one without;
 *            ranking[q*C] == pred[q]. Neighbours that hold no such rows (those of
 *            cross-validation's own pass) list the classes without a vote by label.
 * C = knn_dataset_num_classes(train). */
KNN_API knn_status knn_vote(const knn_dataset *train, const knn_neighbors *nb, const knn_params *p,
                    int32_t *pred, float *scores, int32_t *ranking);

/* ---- metrics --------------------------------------------------------------------------- */

typedef struct {
    size_t total;           /* queries                                                     */
    size_t correct;         /* top-1 correct                                               */
    size_t top5_correct;    /* true label among the first five of the ranking              */
    double accuracy;        /* correct / total                                             */
    double top5_accuracy;
    int num_classes;        /* C                                                           */
    size_t *class_total;    /* (C) queries whose true label is c                           */
    size_t *class_correct;  /* (C) of those, predicted right                               */
    size_t *confusion;      /* (C, C) row = true label, column = predicted label; NULL when
                               C > KNN_MAX_CONFUSION_CLASSES                                */
} knn_metrics;

/* The most classes for which a confusion matrix is kept: 4096 x 4096 counts are 128 MiB;
 * 65,536 classes would ask for 32 GiB. */
#define KNN_MAX_CONFUSION_CLASSES 4096

/* truth: (n) labels in [0, C), or -1 for a class the training set lacks (counted in the
 * total, always wrong, in no per-class count); ranking: (n, C) as knn_vote produces it.
 * Fills *m, which is released with knn_metrics_free. */
KNN_API knn_status knn_metrics_compute(const int32_t *truth, const int32_t *ranking, size_t n,
                               int num_classes, knn_metrics *m);
KNN_API void knn_metrics_free(knn_metrics *m);

/* ---- the classifier: search, vote and ranking in one object ----------------------------- */

typedef struct knn_predictions knn_predictions; /* opaque: neighbours, labels, scores, ranking */

/* Classifies every query by its p->k nearest training rows: knn_search, then knn_vote with p's
 * weights and tie rule, into one object that owns the neighbours, the predicted labels, each
 * class's share of the vote and the ranking of the classes (as knn_vote describes them). The
 * votes take 8 x C bytes a query, checked against the memory available first. `train` must
 * have labels. */
KNN_API knn_status knn_classify(const knn_dataset *train, const knn_dataset *queries,
                        const knn_params *p, knn_predictions **out);
KNN_API void knn_predictions_free(knn_predictions *r);
KNN_API size_t knn_predictions_count(const knn_predictions *r);   /* nq                             */
KNN_API int knn_predictions_classes(const knn_predictions *r);    /* C                              */
KNN_API int32_t knn_predictions_label(const knn_predictions *r, size_t q);      /* predicted class  */
KNN_API const float *knn_predictions_scores(const knn_predictions *r, size_t q); /* (C) vote shares */
KNN_API const int32_t *knn_predictions_ranking(const knn_predictions *r, size_t q); /* (C) best first */
KNN_API const knn_neighbors *knn_predictions_neighbors(const knn_predictions *r); /* owned by r     */
/* Accuracy, top-5 accuracy, per-class counts and the confusion matrix of the predictions
 * against the queries' labels (-1: a class the training set lacks, always wrong). */
KNN_API knn_status knn_predictions_metrics(const knn_predictions *r, const knn_dataset *queries,
                                   knn_metrics *m);

/* ---- model files ----------------------------------------------------------------------- */

/* Writes `train` (rows, labels, class names, image paths, the image conversion: size,
 * channels, crop) and the settings of `p` (k, metric, weights, ties) as a model file to an
 * open stream, front to back, once. The file has a versioned header (magic "KNNMODEL", format
 * version, sizes, a CRC-32 of the whole file) and is read back by knn_dataset_load, which
 * maps it into memory instead of copying it. The library writes streams; files are the
 * caller's (the knn command writes a temporary file and renames it over the target, so the
 * target is whole or untouched). */
KNN_API knn_status knn_model_write(const knn_dataset *train, const knn_params *p, FILE *f);
/* (A training set with a graph index, knn_dataset_build_index, writes it too.) */
/* Writes the model file of the image folder `spec` (loaded with `opt` as knn_dataset_load
 * loads it) with the settings of `p`, as the images are decoded: their rows go to the file
 * batch by batch, so that memory holds one batch (about 64 MiB of rows, at least 16 rows)
 * and each image's path and label, however many images there are. The file is byte for
 * byte what knn_dataset_load then knn_model_write give. `f` is a regular file open for
 * reading and writing, empty ("w+b"); where it lies inside the folder it is not taken for
 * one of the images. The header, with the checksum, is written last, over the first 256
 * bytes. On success *out is the model as written, mapped from f (whatever
 * opt->private_copy says), its source the folder, with the load's skipped images
 * (knn_dataset_skipped); its rows are not read back. Only for what knn_model_streams
 * accepts (KNN_ERR_ARG otherwise, and for settings a model cannot hold); on an error the
 * file's contents are undefined, as after a failed knn_model_write. */
KNN_API knn_status knn_model_write_folder(const char *spec, const knn_load_options *opt,
                                          const knn_params *p, FILE *f, knn_dataset **out);
/* 1 if knn_model_write_folder writes spec's model: spec names a folder of class folders of
 * images (DIR, or DIR:SPLIT as ImageNet's train; not text) and opt asks for no network,
 * quantising, labels file or vectoriser; 0 otherwise. */
KNN_API int knn_model_streams(const char *spec, const knn_load_options *opt);
/* If ds was loaded from a model file: copies the model's k, metric, weights and ties into *p
 * (other fields untouched) and returns 1; otherwise returns 0. */
KNN_API int knn_model_params(const knn_dataset *ds, knn_params *p);

/* Version 1 files hold no network; a model with one (knn_dataset_features) is version 2; one
 * with a graph index (knn_dataset_build_index) is version 3; a text model (its vectoriser,
 * rows and documents) is version 4. knn reads them all, and writes the oldest version that
 * holds the model, so older knn still read what they can. */
#define KNN_MODEL_VERSION 4

/* ---- features: a ConvNet (ONNX) as a load step ----------------------------------------- */

/* k-NN on raw pixels is where learning starts; on a network's features it works well. A
 * knn_features is an ONNX network (run by OpenCV's dnn module, where knn was built with it)
 * plus the preprocessing that turns an image into its input. Embedding a data set of uint8
 * images gives a float32 data set of one feature row per image, with the same labels, class
 * names and image paths, and a reference to the network: test and query sets loaded like it
 * (knn_load_options_like, knn_images_load, knn_image_load_memory) are embedded the same way,
 * and a model file written from it holds the network, so that new photos are embedded as the
 * training images were.
 *
 * Input: image row (channel planes of height x width, as knn holds images) -> float32 NCHW,
 *     x[c][y][x] = (pixel x scale - mean[c]) / std[c]
 * with the channels in the image's order (RGB) or reversed (bgr). The output is the network's
 * first output, flattened per image; every value must be finite. */
typedef struct knn_features knn_features; /* opaque, reference-counted */

typedef struct {
    float scale;   /* pixel multiplier: default 1/255                                       */
    float mean[3]; /* per input channel, after scaling: default 0                          */
    float std[3];  /* per input channel: default 1; must not be 0                           */
    int bgr;       /* 1: 3-channel images are fed as B, G, R (networks trained on OpenCV's
                      imread); 0: R, G, B (PyTorch, PIL; the default)                       */
    int batch;     /* images per forward pass: default 64, at most 4096; the features are
                      the same for any batch size (tests check it)                          */
} knn_features_options;

KNN_API knn_features_options knn_features_options_default(void);
/* 1 where this knn has the ONNX runtime built in, else 0 (then opening a network fails
 * with a message saying so). */
KNN_API int knn_features_available(void);
/* Reads and parses an ONNX file (at most 1 GiB): a missing, corrupt or unsupported network
 * is an error naming the file. `o` may be NULL (the defaults). */
KNN_API knn_status knn_features_open(const char *path, const knn_features_options *o,
                                     knn_features **out);
/* The same from `size` bytes in memory (copied); `name` names it in messages. */
KNN_API knn_status knn_features_open_memory(const void *onnx, size_t size, const char *name,
                                            const knn_features_options *o, knn_features **out);
/* Drops the caller's reference (data sets embedded with it hold their own). */
KNN_API void knn_features_free(const knn_features *f);
/* The input shape the network states: channels, height, width, each 0 where it is not fixed
 * (or not stated). */
KNN_API void knn_features_input(const knn_features *f, int *channels, int *height, int *width);
/* The network's file name, as given to knn_features_open, and its preprocessing. */
KNN_API const char *knn_features_name(const knn_features *f);
KNN_API knn_features_options knn_features_get_options(const knn_features *f);
/* Embeds a data set of uint8 images (1 or 3 channels) into a new float32 data set (*out).
 * Images whose shape differs from the network's stated input are refused with a message
 * that says both shapes. Runs in batches, from the calling thread (OpenCV's dnn threads each
 * layer over all cores); progress, if not NULL, hears of every batch. One network may be
 * used from several threads: its forward passes take turns. */
KNN_API knn_status knn_features_compute(const knn_features *f, const knn_dataset *images,
                                        knn_progress_fn progress, void *progress_user,
                                        knn_dataset **out);
/* The network a data set's rows were computed with, or NULL (owned by the data set). */
KNN_API const knn_features *knn_dataset_features(const knn_dataset *ds);
/* Quantised features (knn_load_options.quantize): the number of features the network's
 * scales cover, or 0 for float32 features. Feature d of an image becomes the uint8 code
 * round((x - min_d) / step_d) clamped to 0..255, min_d and step_d = (max_d - min_d) / 255
 * taken over the training set; L1 and L2 are then measured in steps, each dimension scaled
 * to the same range (cosine needs float32 features). */
KNN_API size_t knn_features_quantized(const knn_features *f);

/* ---- text: tf-idf vectors and the cosine search ---------------------------------------- */

/* k-NN on any data with the right distance: documents as tf-idf vectors, compared by cosine.
 *
 * Text data sets (knn_dataset_load, told by content):
 *   FILE       UTF-8 text (raw or gzip, e.g. .tsv), one document a line: `label<TAB>text`
 *              (the first tab ends the label), or, where the first line has no tab, an
 *              unlabelled file of one text a line. Blank lines and a byte-order mark at the
 *              start are skipped; a line whose text is empty (or only spaces and tabs) is
 *              skipped and listed (knn_dataset_skipped); a line over 2 x
 *              KNN_MAX_TEXT_DOCUMENT bytes is refused while it is read.
 *              Invalid UTF-8, a NUL byte, an empty label, a labelled file's line without a
 *              tab, or a document over KNN_MAX_TEXT_DOCUMENT bytes are errors naming the
 *              file and the line.
 *   DIR        a folder of class folders of text files (DIR/class/doc.txt), each file one
 *              document, told from an image folder by its first file's content; files that
 *              are not UTF-8 text are skipped and listed (knn_dataset_skipped).
 * Classes are named by the labels (or folders), in sorted order.
 *
 * The vectoriser is scikit-learn's TfidfVectorizer(sublinear_tf=True) with its defaults:
 *   - the text is lowercased (Python's str.lower(), code point by code point: the Greek
 *     final sigma is not special-cased);
 *   - tokens are the runs of 2 or more word characters (Python's re \w: letters, digits,
 *     '_' and the other alphanumerics of Unicode), i.e. the pattern (?u)\b\w\w+\b;
 *   - optionally stop words removed (scikit-learn's English list), then word n-grams of
 *     ngram_min..ngram_max tokens joined by one space;
 *   - the vocabulary is every term of the training documents within the document-frequency
 *     bounds, cut to the max_features most frequent (total count; ties to the term first in
 *     order), in code point order;
 *   - tf = 1 + ln(count), idf = ln((1 + n) / (1 + df)) + 1 (n training documents, df of them
 *     holding the term), w = tf x idf, each row divided by its L2 norm (in double; stored as
 *     float32). A document without a vocabulary term is the zero vector: distance 1 from all.
 * The vocabulary and the idf are fitted on the training set only; test and query documents
 * are vectorised with them (other terms ignored), and model files store them.
 *
 * Search: cosine only (1 - cos = 1 - the dot product of unit rows), through an inverted
 * index of the training rows built at the first search (about nnz x 8 bytes) and 12 bytes
 * a training row per thread (an accumulator, the rows touched); the dot products are float sums in
 * increasing term order, the same for every thread count and instruction set and equal, bit
 * for bit, to a dense scan that sums every term in order. Ties (identical documents) go to
 * the smaller training index, as everywhere. The graph index, features, quantising and
 * few-shot episodes are for dense rows: they refuse text. */
#define KNN_MAX_TEXT_DOCUMENT ((size_t)16 << 20) /* bytes in one document (line or file) */

struct knn_text_options {
    int ngram_min, ngram_max;   /* word n-grams, 1 <= min <= max <= 8: default 1, 1        */
    double min_df, max_df;      /* document-frequency bounds: a number of documents (>= 0),
                                   or, with the matching *_fraction set, a fraction of them
                                   in [0, 1] (scikit-learn's float form); a term is kept if
                                   min <= df <= max. Default: min 1 document, max 1.0 of them */
    int min_df_fraction, max_df_fraction;
    size_t max_features;        /* keep only the most frequent terms; 0: all               */
    int stop_words;             /* 1: drop scikit-learn's English stop words; 0: none       */
};

KNN_API knn_text_options knn_text_options_default(void);
/* The vectoriser of a text data set (owned by it), or NULL for other data sets. */
KNN_API const knn_text *knn_dataset_text(const knn_dataset *ds);
KNN_API knn_text_options knn_text_get_options(const knn_text *t);
/* The vocabulary's terms, in column order, each with its idf; the training documents it was
 * fitted on. */
KNN_API size_t knn_text_terms(const knn_text *t);
KNN_API const char *knn_text_term(const knn_text *t, size_t i);
KNN_API double knn_text_idf(const knn_text *t, size_t i);
KNN_API size_t knn_text_documents(const knn_text *t);
/* Row i of a text data set: its non-zero terms in increasing column order (*terms) and
 * their weights (*values); returns how many (0 for a zero row, or for other data sets). */
KNN_API size_t knn_dataset_row_sparse(const knn_dataset *ds, size_t i, const uint32_t **terms,
                                      const float **values);
/* Document i of a text data set as it was read (a line's text, a file's content), or NULL. */
KNN_API const char *knn_dataset_document(const knn_dataset *ds, size_t i);
/* A text data set from n documents in memory (copied; each valid UTF-8 without NUL, of at
 * most KNN_MAX_TEXT_DOCUMENT bytes; empty ones allowed): vectorised like `like` (a text data
 * set: queries), or, where like is NULL, by a vectoriser fitted on these documents with `o`
 * (NULL: the defaults). labels (n) in [0, num_classes), or NULL. `name` names the set in
 * messages (NULL: "text"). */
KNN_API knn_status knn_text_dataset_create(const char *const *docs, size_t n,
                                           const int32_t *labels, int num_classes,
                                           const knn_text_options *o, const knn_dataset *like,
                                           const char *name, knn_dataset **out);

/* ---- choosing K and the metric: cross-validation --------------------------------------- */

typedef enum {
    KNN_FOLDS_CONTIGUOUS = 0, /* fold f = the f-th of `folds` consecutive chunks, sizes
                                 differing by at most one, larger first (numpy.array_split) */
    KNN_FOLDS_SHUFFLED = 1,   /* the same chunks of a permutation drawn from `seed`         */
    KNN_FOLDS_STRATIFIED = 2  /* each class dealt round-robin over the folds (shuffled first
                                 with `seed`), so every fold holds each class in proportion */
} knn_fold_mode;

/* Assigns each of n rows to a fold: fold_of (n) in [0, folds). labels (n) are needed for
 * stratified folds only. 2 <= folds <= n; folds == n is leave-one-out. */
KNN_API knn_status knn_folds_assign(size_t n, const int32_t *labels, int folds, knn_fold_mode mode,
                            uint64_t seed, int32_t *fold_of);

typedef struct {
    int folds;                 /* k-fold cross-validation: 2 <= folds <= rows            */
    knn_fold_mode mode;
    uint64_t seed;             /* for shuffled and stratified folds                       */
    double val_fraction;       /* > 0: hold-out instead: one validation split of this
                                  fraction of the rows (the last ones, or a random set when
                                  mode is shuffled or stratified); folds is then ignored  */
    const int *ks;             /* the K values to try, distinct, each >= 1                */
    int nk;
    const knn_metric *metrics; /* the metrics to try, distinct                            */
    int nmetrics;
    knn_weights weights;
    knn_ties ties;
    int threads;               /* 0 = OpenMP's default                                    */
    knn_progress_fn progress;  /* done / total units of work; may be NULL                 */
    void *progress_user;
} knn_cv_options;

typedef struct knn_cv_result knn_cv_result; /* opaque */

/* Cross-validates every (metric, K) on `train` (which must have labels), with one search
 * per metric: each row's neighbours among the rows of the other folds are found once, at the
 * largest K, every pair of rows in different folds costing one distance for both, and every
 * smaller K is read off the same sorted lists. Accuracies equal separate searches per fold
 * and per K exactly. */
KNN_API knn_status knn_cross_validate(const knn_dataset *train, const knn_cv_options *o,
                              knn_cv_result **out);
KNN_API void knn_cv_result_free(knn_cv_result *r);
/* Validation folds (1 in hold-out mode) and the rows in each. */
KNN_API int knn_cv_folds(const knn_cv_result *r);
KNN_API size_t knn_cv_fold_size(const knn_cv_result *r, int fold);
/* Accuracy of metric o->metrics[m] and K o->ks[k] on validation fold f; its mean over the
 * folds and its standard deviation (population: divided by the number of folds). */
KNN_API double knn_cv_accuracy(const knn_cv_result *r, int m, int k, int fold);
KNN_API double knn_cv_mean(const knn_cv_result *r, int m, int k);
KNN_API double knn_cv_std(const knn_cv_result *r, int m, int k);
/* The best setting: the highest mean accuracy; ties go to the smaller K, then to the metric
 * listed first. Sets the indices into o->metrics and o->ks. */
KNN_API void knn_cv_best(const knn_cv_result *r, int *m, int *k);

/* `-k auto`: 5 stratified folds, seed 0, K in 1, 3, 5, 8, 10, 12, 15, 20, 50, 100 (the
 * lecture's plot), both metrics, uniform weights, nearest tie rule, default threads. */
KNN_API knn_cv_options knn_cv_options_default(void);
/* The Ks of o->ks (in order) that every fold of `train` leaves enough training rows for,
 * written to ks (room for o->nk); returns how many. */
KNN_API int knn_cv_usable_ks(const knn_dataset *train, const knn_cv_options *o, int *ks);
/* Chooses K and the metric by cross-validation on train (o's folds, Ks and metrics; the
 * weights and tie rule are o's) and sets p->k and p->metric to the best; *out (optional)
 * receives the cross-validation, for a table or the plot. o->ks must all be usable (see
 * knn_cv_usable_ks). */
KNN_API knn_status knn_choose_k(const knn_dataset *train, const knn_cv_options *o, knn_params *p,
                        knn_cv_result **out);

/* ---- few-shot episodes ----------------------------------------------------------------- */

/* N-way K-shot classification, the protocol of few-shot learning (Omniglot, miniImageNet):
 * each episode draws `way` distinct classes among those with at least shot + query images,
 * then `shot` support and `query` query images of each class, without overlap; each query is
 * classified by its k nearest support images (way x shot of them, labelled 0..way-1 in the
 * order the classes were drawn). The accuracy of an episode is its correct queries over
 * way x query. Episodes are drawn from `seed` alone: episode e from its own stream seeded by
 * (seed, e), so results are the same for any thread count. */
typedef struct {
    int way;             /* classes per episode, >= 2                                      */
    int shot;            /* support images per class, >= 1                                 */
    int query;           /* query images per class, >= 1                                   */
    int episodes;        /* >= 1                                                           */
    uint64_t seed;
    int k;               /* neighbours that vote, 1 <= k <= way x shot                     */
    knn_metric metric;
    knn_weights weights;
    knn_ties ties;
    int threads;         /* 0 = OpenMP's default; threads take whole episodes              */
    knn_progress_fn progress; /* episodes done of episodes; may be NULL                   */
    void *progress_user;
} knn_fewshot_options;

/* 5-way 1-shot, 15 queries per class, 1000 episodes, seed 0, k = 1, L2, uniform weights,
 * nearest tie rule, default threads, no progress. */
KNN_API knn_fewshot_options knn_fewshot_options_default(void);

typedef struct knn_fewshot_result knn_fewshot_result; /* opaque */

/* Runs o->episodes episodes on `ds` (which must have labels). KNN_ERR_ARG, with a message
 * naming the data set and a setting that would work, when the data cannot hold an episode:
 * fewer than o->way classes with shot + query images, k above way x shot, and the like. */
KNN_API knn_status knn_fewshot(const knn_dataset *ds, const knn_fewshot_options *o,
                       knn_fewshot_result **out);
KNN_API void knn_fewshot_result_free(knn_fewshot_result *r);
KNN_API int knn_fewshot_episodes(const knn_fewshot_result *r);
/* Classes with at least shot + query images: those episodes draw from. */
KNN_API int knn_fewshot_classes(const knn_fewshot_result *r);
/* Episode e's correct queries (of way x query) and its accuracy. */
KNN_API size_t knn_fewshot_correct(const knn_fewshot_result *r, int e);
KNN_API double knn_fewshot_accuracy(const knn_fewshot_result *r, int e);
/* Over the episodes: the mean accuracy, its sample standard deviation (divided by
 * episodes - 1; 0 for one episode) and the half-width of the 95% confidence interval of the
 * mean, 1.96 x std / sqrt(episodes), as few-shot papers report it. */
KNN_API double knn_fewshot_mean(const knn_fewshot_result *r);
KNN_API double knn_fewshot_std(const knn_fewshot_result *r);
KNN_API double knn_fewshot_ci95(const knn_fewshot_result *r);

#ifdef __cplusplus
}
#endif

#endif /* KNN_H */
