/* cli.h: what the `knn` subcommands share: error reporting, option values, loading with the
 * common options, the progress bar and atomic output files. Only the CLI prints or exits;
 * the library returns statuses (DESIGN.md decision 8). */
#ifndef KNN_CLI_H
#define KNN_CLI_H

#include "knn.h"

#include <stdbool.h>
#include <stdio.h>

#define EXIT_USAGE 2 /* bad command line */
#define EXIT_ERROR 1 /* anything else   */

/* Options every subcommand takes. */
typedef struct {
    int threads;        /* --threads N (0 = automatic)                 */
    size_t limit;       /* --limit N: queries / the data set shown     */
    size_t train_limit; /* --train-limit N: training rows              */
    bool quiet;         /* -q: no progress, no headers                 */
    bool coarse;        /* --coarse: CIFAR-100 superclasses            */
    bool k_auto;        /* -k auto: choose K by cross-validation       */
    int width, height;  /* --size: images are converted to this size   */
    int channels;       /* --gray 1, --rgb 3                           */
    int crop_none;      /* --crop none: stretch instead of crop        */
    int class_depth;    /* --class-depth N                             */
    bool strict;        /* --strict: an unreadable image is an error   */
    bool metric_given;  /* --metric was on the command line            */
    bool k_given, weights_given, ties_given; /* -k, --weights, --ties were */
    bool private_copy;  /* model files are read into memory, not mapped (servers) */
    /* which of the image conversion was on the command line: each part not given comes from
     * TRAIN's images for a test or query set */
    bool size_given, channels_given, crop_given;
    /* cross-validation for cv and -k auto: --folds, --contiguous / --shuffle / --stratified
     * (the default), --seed */
    int folds;          /* 0: 5                                        */
    knn_fold_mode fold_mode; /* when fold_mode_given; else stratified    */
    bool fold_mode_given;
    uint64_t seed;
    /* test and query sets */
    const char *labels_file; /* --labels FILE: the classes of a flat folder of images     */
    bool unknown_wrong;      /* --unknown-classes wrong: count a class TRAIN lacks as wrong */
    /* --features NET.onnx and its preprocessing (--scale, --mean, --std, --bgr, --batch):
     * every data set loaded is run through the network (cli_load); test and query sets are
     * embedded as TRAIN was, by TRAIN's own network where it has one (a model file) */
    const char *features_path;
    knn_features_options features; /* valid when features_set */
    bool features_set;
    bool quantize;      /* --quantize: TRAIN's features as 8-bit codes (test sets follow)  */
    /* text: the vectoriser fitted on TRAIN (--ngrams, --min-df, --max-df, --max-features,
     * --stop-words); valid when text_set, else the library's defaults */
    knn_text_options text;
    bool text_set;
} cli_common;

/* Long-option codes shared by the subcommands (getopt_long values above 255). */
enum {
    OPT_THREADS = 256, OPT_LIMIT, OPT_TRAIN_LIMIT, OPT_COARSE, OPT_METRIC, OPT_WEIGHTS,
    OPT_TIES, OPT_ISA, OPT_CONFUSION, OPT_JSON, OPT_TOP, OPT_NEIGHBORS, OPT_FORMAT, OPT_SAMPLES,
    OPT_SIZE, OPT_CROP, OPT_GRAY, OPT_RGB, OPT_CLASS_DEPTH, OPT_STRICT,
    OPT_FOLDS, OPT_SHUFFLE, OPT_SEED, OPT_STRATIFIED, OPT_VAL_FRACTION, OPT_TEST, OPT_PLOT,
    OPT_CONTIGUOUS, OPT_LABELS, OPT_UNKNOWN, OPT_FEATURES, OPT_SCALE, OPT_MEAN, OPT_STD,
    OPT_BGR, OPT_BATCH, OPT_QUANTIZE, OPT_EF, OPT_EXACT, OPT_RECALL, OPT_NGRAMS, OPT_MIN_DF,
    OPT_MAX_DF, OPT_MAX_FEATURES, OPT_STOP_WORDS
};
/* Searching a model with a graph index (eval, predict, report, serve). */
#define CLI_INDEX_LONG_OPTIONS                                                                \
    {"ef", required_argument, NULL, OPT_EF}, {"exact", no_argument, NULL, OPT_EXACT}
#define CLI_INDEX_HELP                                                                        \
    "  --ef N             a model with an index (knn fit --index hnsw): images kept while\n"  \
    "                     walking its graph, at least K (default 48: recall@10 >= 0.99 on\n"  \
    "                     Fashion-MNIST); more is slower and nearer the exact answer\n"      \
    "  --exact            measure every training image even where the model has an index\n"
/* "HNSW index, ef = 64" or "exact search": how knn_search will search train with p. */
const char *cli_search_name(const knn_dataset *train, const knn_params *p, char *buf,
                            size_t size);
/* The folds of cross-validation (cv, and -k auto of eval, predict, fit, report). */
#define CLI_FOLD_LONG_OPTIONS                                                                 \
    {"folds", required_argument, NULL, OPT_FOLDS},                                            \
        {"contiguous", no_argument, NULL, OPT_CONTIGUOUS},                                    \
        {"shuffle", no_argument, NULL, OPT_SHUFFLE},                                          \
        {"stratified", no_argument, NULL, OPT_STRATIFIED},                                    \
        {"seed", required_argument, NULL, OPT_SEED}
#define CLI_FOLD_HELP                                                                         \
    "  --folds N          cross-validation folds (default 5; at most the number of images,\n" \
    "                     which is leave-one-out)\n"                                           \
    "  --stratified       every class spread evenly over the folds (the default, as\n"        \
    "                     scikit-learn does for classifiers)\n"                                \
    "  --contiguous       folds of consecutive images (the course's torch.chunk)\n"           \
    "  --shuffle          folds of consecutive images of a random permutation\n"              \
    "  --seed S           the random choices of --stratified and --shuffle (default 0)\n"
/* Test and query sets (eval, report, cv --test, predict). */
#define CLI_TEST_LONG_OPTIONS                                                                 \
    {"labels", required_argument, NULL, OPT_LABELS},                                          \
        {"unknown-classes", required_argument, NULL, OPT_UNKNOWN}
#define CLI_TEST_HELP                                                                         \
    "  --labels FILE      the test set is one flat folder of images (ImageNet's val): its\n"  \
    "                     classes come from FILE, a CSV of file,class lines, or ImageNet's\n"  \
    "                     LOC_val_solution.csv\n"                                              \
    "  --unknown-classes error|wrong   a test class that TRAIN lacks (matched by name) is an\n" \
    "                     error (default), or its images count as wrong\n"
#define CLI_COMMON_LONG_OPTIONS                                                               \
    {"threads", required_argument, NULL, OPT_THREADS},                                        \
        {"limit", required_argument, NULL, OPT_LIMIT},                                        \
        {"train-limit", required_argument, NULL, OPT_TRAIN_LIMIT},                            \
        {"coarse", no_argument, NULL, OPT_COARSE}, {"quiet", no_argument, NULL, 'q'},         \
        {"isa", required_argument, NULL, OPT_ISA},                                            \
        {"size", required_argument, NULL, OPT_SIZE},                                          \
        {"crop", required_argument, NULL, OPT_CROP}, {"gray", no_argument, NULL, OPT_GRAY},   \
        {"rgb", no_argument, NULL, OPT_RGB},                                                  \
        {"class-depth", required_argument, NULL, OPT_CLASS_DEPTH},                            \
        {"strict", no_argument, NULL, OPT_STRICT},                                            \
        {"features", required_argument, NULL, OPT_FEATURES},                                  \
        {"scale", required_argument, NULL, OPT_SCALE},                                        \
        {"mean", required_argument, NULL, OPT_MEAN}, {"std", required_argument, NULL, OPT_STD}, \
        {"bgr", no_argument, NULL, OPT_BGR}, {"batch", required_argument, NULL, OPT_BATCH},   \
        {"quantize", no_argument, NULL, OPT_QUANTIZE},                                        \
        {"ngrams", required_argument, NULL, OPT_NGRAMS},                                      \
        {"min-df", required_argument, NULL, OPT_MIN_DF},                                      \
        {"max-df", required_argument, NULL, OPT_MAX_DF},                                      \
        {"max-features", required_argument, NULL, OPT_MAX_FEATURES},                          \
        {"stop-words", required_argument, NULL, OPT_STOP_WORDS},                              \
        {"help", no_argument, NULL, 'h'}
#define CLI_COMMON_HELP                                                                       \
    "  --threads N        threads to use (default: all cores, or OMP_NUM_THREADS)\n"          \
    "  --limit N          use only the first N images of the set examined: the test or\n"     \
    "                     query set (eval, predict, report, fewshot), the data set (info)\n"  \
    "  --train-limit N    use only the first N images of the training set\n"                  \
    "  --coarse           CIFAR-100: the 20 superclasses instead of the 100 fine labels\n"    \
    "  --isa NAME         distance kernels: scalar, avx2, avxvnni, avx512 or best (default\n" \
    "                     best, or $KNN_ISA); all give the same results\n"                     \
    "  --size N|WxH       image folders: convert every image to this size (default 32)\n"     \
    "  --crop center|none resize the short side and keep the middle (default), or stretch\n"   \
    "  --gray, --rgb      image folders: 1 or 3 channels (default --rgb)\n"                   \
    "  --class-depth N    image folders: a class is a folder that holds images, at any\n"     \
    "                     depth, named by its path (default); N: exactly N levels down\n"     \
    "  --strict           fail on an unreadable image (default: skip it, with a warning)\n"   \
    "  --features NET.onnx  run every image through this ONNX network and use its outputs\n" \
    "                     (ConvNet features) instead of the pixels; an image folder is\n"    \
    "                     loaded at the network's input size and channels where it states\n" \
    "                     them. Input = (pixel x scale - mean) / std, per channel:\n"        \
    "  --scale F          pixel multiplier (default 1/255)\n"                                 \
    "  --mean M[,M,M]     per-channel mean subtracted after scaling (default 0)\n"            \
    "  --std S[,S,S]      per-channel divisor (default 1)\n"                                  \
    "  --bgr              feed colour channels as B,G,R (default R,G,B)\n"                    \
    "  --batch N          images per forward pass (default 64; the features do not change)\n" \
    "  --quantize         keep TRAIN's features as 8-bit codes (each feature's training\n"    \
    "                     range in 255 steps; test sets and photos get the same scales),\n"  \
    "                     searched with the integer kernels: l1 or l2\n"                      \
    "Text (a .tsv of label<TAB>text lines, or class folders of text files): tf-idf\n"        \
    "vectors as scikit-learn's TfidfVectorizer(sublinear_tf=True), compared by cosine;\n"     \
    "the vocabulary is fitted on TRAIN:\n"                                                      \
    "  --ngrams MIN,MAX   word n-grams (default 1,1; 1,2 adds pairs of words)\n"              \
    "  --min-df N|F       keep terms in at least N documents, or a fraction F of them (a\n"  \
    "                     number with a point: 0.01); default 1\n"                            \
    "  --max-df N|F       keep terms in at most N documents or a fraction F (default 1.0)\n" \
    "  --max-features N   keep the N most frequent terms (default all)\n"                     \
    "  --stop-words english|none  drop scikit-learn's English stop words (default none)\n"   \
    "  -q, --quiet        no progress bar, no header lines\n"                                 \
    "  -h, --help         this help\n"

/* The running subcommand's name, for messages ("eval"). */
extern const char *cli_command;
/* What main() does: runs argv[1]'s command; returns the exit status (cli/main.c). */
int cli_main(int argc, char **argv);
/* knn-mpi (mpi/main.c): this process's shard, with which cli_load loads training sets (NULL:
 * all rows, as knn does), and whether its files are written (only rank 0's are: elsewhere
 * every output goes to standard output, /dev/null there). */
extern const knn_shard *cli_shard;
extern bool cli_discard_output;

/* Prints "knn CMD: MESSAGE; see 'knn CMD --help'" and returns EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The usage error for getopt_long's '?' (unknown option) or ':' (missing value). */
int cli_getopt_error(int opt, char **argv);
/* Prints "knn CMD: <knn_last_error()>" and returns the exit status for `st`. */
int cli_library_error(knn_status st);
/* Handles an option the commands share: the common ones, the classifier's (-k, --metric,
 * --weights, --ties) where p is not NULL, and getopt_long's '?' and ':'. Returns 0 if the
 * option was taken, else the exit status after printing the error. */
int cli_shared_option(int opt, char **argv, cli_common *c, knn_params *p);
/* Parses an integer in [min, max] for option `name`; false (after printing) if it is not. */
bool cli_parse_long(const char *name, const char *arg, long min, long max, long *out);

/* The network of --features, opened at the first call, once per process (*out NULL without
 * --features). */
knn_status cli_features(const cli_common *c, const knn_features **out);
/* The metrics -k auto tries without --metric (*n of them): L1 and L2, cosine too for float32
 * rows; cosine alone for text. */
const knn_metric *cli_auto_metrics(const knn_dataset *train, int *n);
/* Loads a data set with the common options: `limit` rows (0 = all). */
knn_status cli_load(const char *spec, const cli_common *c, size_t limit, bool labels_optional,
                    knn_dataset **out);
/* True if cli_load of spec, a training set with c's options, can be written into a model
 * file as it is decoded (knn_model_streams: a folder of images, no network). */
bool cli_streams(const char *spec, const cli_common *c);
/* cli_load and knn_model_write in one, for what cli_streams accepts: the images' rows go to
 * f, a temporary output file (cli_output's tmp), as they are decoded; *out is the model as
 * written. The progress and the skipped images are shown as cli_load shows them. */
knn_status cli_fit_streamed(const char *spec, const cli_common *c, const knn_params *p, FILE *f,
                            knn_dataset **out);
/* Loads a test or query set for `train`: images converted as train's were, each of --size,
 * --gray/--rgb and --crop overriding its part; a flat folder classed by --labels; classes
 * matched to train's by name (--unknown-classes; query sets, labels_optional, never fail on
 * a class train lacks: its rows' true label is -1). Prints the error; returns 0 or an exit
 * status. */
int cli_load_test(const char *spec, const cli_common *c, bool labels_optional,
                  const knn_dataset *train, knn_dataset **out);
/* "60000 images of 28x28" and the like, for headers. */
void cli_describe(FILE *f, const char *role, const char *spec, const knn_dataset *ds);
/* The class's name, or its number as text (buf holds at least 16 bytes). */
const char *cli_class_name(const knn_dataset *ds, int label, char *buf);
/* Folders: is it one; its regular files (sorted, malloc'd paths); has it sub-folders. */
bool cli_is_dir(const char *path);
size_t cli_list_files(const char *dir, char ***out);
bool cli_has_subdirs(const char *dir);
/* Writes s escaped for HTML / SVG text and attribute values. */
void cli_xml_text(FILE *f, const char *s);
/* Writes s as a JSON string literal (valid UTF-8: see cli_utf8_copy). */
void cli_json_string(FILE *f, const char *s);
/* A malloc'd copy of s in which every byte that is not part of valid UTF-8 is replaced by
 * U+FFFD, so that names from file systems (any bytes) make valid JSON; NULL when out of
 * memory. */
char *cli_utf8_copy(const char *s);
/* The offset of the first byte of s[0..n) (NUL-terminated at n) that is not valid UTF-8 or
 * is NUL; n if none. */
size_t cli_utf8_check(const char *s, size_t n);

/* A progress bar on stderr for work that lasts over a second, when stderr is a terminal. */
typedef struct {
    const char *what;
    double start, drawn; /* when the work began; when the bar was last drawn */
    bool enabled, shown;
} cli_progress;
void cli_progress_init(cli_progress *p, const char *what, bool quiet);
void cli_progress_update(size_t done, size_t total, void *progress); /* a knn_progress_fn */
void cli_progress_done(cli_progress *p);
double cli_now(void); /* seconds, monotonic */

/* Output that appears whole or not at all. A regular file (or none) at `path` is replaced:
 * writes go to a temporary file beside it, renamed over it on commit, removed on failure or
 * on SIGINT, SIGTERM or SIGHUP. A symbolic link is followed as the shell's `>` follows it:
 * the file it finally points to is replaced and the link stays a link; a link to a missing
 * file is an error. Devices and FIFOs are written straight, never replaced (a socket cannot
 * be opened: an error). Path NULL, "-" or "/dev/stdout" is standard output itself, whose
 * errors main() reports. */
typedef struct {
    FILE *f;
    char *path, *tmp;  /* the file renamed over and the temporary file; NULL if none */
    const char *name;  /* the path as given, for messages */
} cli_output;
bool cli_output_open(cli_output *o, const char *path); /* false after printing the error */
bool cli_output_is_stdout(const char *path);           /* NULL, "-" or "/dev/stdout" */
/* True if cli_output_open(path) would write a temporary file (a regular file or none at
 * path, not standard output), which can be read back and rewritten before its commit. */
bool cli_output_replaces(const char *path);
bool cli_output_commit(cli_output *o);                 /* false after printing the error */
void cli_output_abort(cli_output *o);
/* The rule above, for the --help of the commands that write files. */
#define CLI_OUTPUT_HELP                                                                       \
    "                     FILE is replaced whole or not at all; a link is followed and the\n"  \
    "                     file it points to replaced; devices and FIFOs are written\n"        \
    "                     straight; - or /dev/stdout is standard output\n"

/* Flushes f: 0, or the reason (an errno value) a write to it failed, then or earlier. */
int cli_flush_error(FILE *f);
/* SIGBUS (a mapped model file truncated while in use) ends the command with one line on
 * stderr and exit status 1, after removing a temporary output file. */
void cli_catch_sigbus(void);

/* The result of a cross-validation, for printing and plotting. */
typedef struct {
    const char *train_spec;
    const knn_cv_options *options;
    const knn_cv_result *result;
    int best_m, best_k; /* indices into options->metrics and options->ks */
} cli_cv_report;

/* Writes the lecture's cross-validation figure as SVG: per K the fold accuracies as dots,
 * the mean as a line, the standard deviation as error bars, one series per metric, the
 * chosen setting marked. */
void cli_plot_cv_svg(FILE *f, const cli_cv_report *rep);
/* The same figure as a PNG (the SVG rendered by librsvg, at twice its size); false when it
 * could not be rendered. cli_png_available: whether this knn was built with librsvg. */
bool cli_plot_cv_png(FILE *f, const cli_cv_report *rep);
bool cli_png_available(void);
/* The picture of row i (knn_dataset_picture: an image row, or the image a feature row came
 * from; 1 or 3 channels, at least 2 x 2) as PNG bytes, malloc'd (*n bytes); NULL where
 * there is none or when out of memory. */
unsigned char *cli_row_png(const knn_dataset *ds, size_t i, size_t *n);
/* n bytes as base64, NUL-terminated, malloc'd; NULL when out of memory. */
char *cli_base64(const unsigned char *data, size_t n);
/* The first `max` bytes of a document (cut at a character, "..." added where cut), control
 * characters as spaces, malloc'd; NULL when out of memory. cli_print_snippet writes it as
 * valid UTF-8. */
char *cli_snippet(const char *s, size_t max);
void cli_print_snippet(FILE *f, const char *s, size_t max);
/* "images" or "documents": what a data set's rows are, for messages. */
const char *cli_rows_name(const knn_dataset *ds);
/* Texts for a text TRAIN: each argument a document, or "-" for one a line from standard
 * input; vectorised like train into *out. Prints the error; returns 0 or an exit status. */
int cli_load_texts(char **args, int nargs, const knn_dataset *train, size_t limit,
                   knn_dataset **out);
/* True if s ends with tail. */
bool cli_ends_with(const char *s, const char *tail);

/* The folds asked for: --contiguous, --shuffle or --stratified, stratified by default. */
knn_fold_mode cli_fold_mode(const cli_common *c);
/* "stratified", "shuffled" or "contiguous". */
const char *cli_fold_mode_name(knn_fold_mode mode);
/* What `-k auto` cross-validated, for a caller that draws it. */
typedef struct {
    knn_cv_options options; /* its ks and metrics point into this struct */
    int ks[16];
    knn_metric metrics[2];
    knn_cv_result *result; /* freed with knn_cv_result_free */
    int best_m, best_k;    /* indices into options.metrics and options.ks */
} cli_auto_k;
/* Runs the cross-validation that `-k auto` asks for (knn_choose_k: c's folds, 5 stratified by
 * default; the default K list less the Ks the folds cannot supply; the given metrics, p's
 * weights and tie rule) on train and sets p->k and p->metric to the best setting; prints one
 * line about it on stderr unless quiet. With `keep`, hands over what it cross-validated.
 * Returns an exit status. */
int cli_choose_k(const knn_dataset *train, knn_params *p, const knn_metric *metrics,
                 int nmetrics, const cli_common *c, cli_auto_k *keep);

/* Classifies every test image by its p->k nearest training images (knn_classify) and fills
 * *m (freed with knn_metrics_free), with a progress bar unless quiet. Test labels must be
 * classes of the training set. With `keep`, the predictions are handed over too (freed with
 * knn_predictions_free). Returns 0 or an exit status, after printing the error. */
int cli_evaluate(const knn_dataset *train, const knn_dataset *test, knn_params *p, bool quiet,
                 knn_metrics *m, knn_predictions **keep);

/* The settings for a run on `train`: a model file's own (K, metric, weights, ties) where the
 * command line does not give them; then, with -k auto, K (and, unless --metric was given,
 * the metric) chosen by cross-validation on train. Returns 0 or an exit status. */
int cli_settings(const knn_dataset *train, const cli_common *c, knn_params *p);

/* The decision-boundary demo's request (JSON text, n bytes) answered as JSON in *out_json
 * (malloc'd; NULL only when out of memory); returns the HTTP status: 200, 400 or 500. */
int cli_boundary(const char *body, size_t n, char **out_json);

int cmd_cv(int argc, char **argv);
int cmd_fit(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_fetch(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_fewshot(int argc, char **argv);
int cmd_similar(int argc, char **argv);

#endif
