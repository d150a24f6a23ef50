/* cmd_fit.c: `knn fit TRAIN -o MODEL`: memorise a training set once, with its settings (K,
 * metric, weights, ties; -k auto chooses them by cross-validation) and, for image folders,
 * the conversion of images (size, channels, crop), in one model file that later commands
 * load by mapping it: `knn predict MODEL photo.jpg`. */
#include "cli.h"

#include <getopt.h>
#include <string.h>

static const char help[] =
    "usage: knn fit TRAIN -o MODEL [OPTIONS]\n"
    "\n"
    "Write a model file: TRAIN's images, labels and class names, how images are converted\n"
    "(--size, --gray/--rgb, --crop), and the settings below, which 'knn predict MODEL ...'\n"
    "and 'knn eval MODEL ...' then use unless told otherwise. With --features NET.onnx the\n"
    "model holds the images' features and the network itself, so that photos given to\n"
    "'knn predict MODEL' and 'knn serve MODEL' are embedded as the training images were.\n"
    "A folder of images is written as it is decoded, in batches of about 64 MiB of rows,\n"
    "so that one larger than memory fits; -k auto, --index and --features need every row\n"
    "first, and so does a MODEL that is '-' (standard output), a device or a FIFO: those\n"
    "load the folder whole.\n"
    "\n"
    "  -o, --output FILE  the model file:\n" CLI_OUTPUT_HELP
    "  -k K|auto          neighbours that vote (default 1); auto: chosen, with the metric\n"
    "                     unless --metric is given, by cross-validation on TRAIN (5\n"
    "                     stratified folds unless the options below say otherwise)\n"
    "  --metric l1|l2|cosine  (default l2, or cosine for text; cosine: float32 features and\n"
    "                     text)\n"
    "  --weights uniform|distance, --ties nearest|smallest-label   as in 'knn eval --help'\n"
    "  --index hnsw       also build a graph index (HNSW) for fast approximate search, for\n"
    "                     the metric above; eval, predict and serve then walk it instead\n"
    "                     of measuring every training image (--ef, --exact there). Worth it\n"
    "                     for large training sets: see README, 'Fast approximate search'\n"
    "  --M N              the index's links per image (default 16; 2M on its lowest level):\n"
    "                     more gives higher recall, more memory and a slower build\n"
    "  --ef-construction N  candidates weighed while inserting an image (default 200)\n"
    CLI_FOLD_HELP CLI_COMMON_HELP
    "\n"
    "example: knn fit photos/train -o pets.knn --size 64 -k auto\n";

/* The line that says what was written. */
static void report(const char *output, const knn_dataset *train, const knn_params *params,
                   bool quiet)
{
    if (quiet)
        return;
    char shape[64];
    if (knn_dataset_text(train))
        snprintf(shape, sizeof shape, "as tf-idf over %zu terms (the vocabulary inside)",
                 knn_dataset_dim(train));
    else if (knn_dataset_features(train))
        snprintf(shape, sizeof shape, "as %zu %sfeatures (the network inside)",
                 knn_dataset_dim(train),
                 knn_dataset_dtype(train) == KNN_U8 ? "8-bit " : "");
    else
        snprintf(shape, sizeof shape, "of %dx%dx%d", knn_dataset_height(train),
                 knn_dataset_width(train), knn_dataset_channels(train));
    char graph[128] = "";
    knn_index_info info;
    if (knn_dataset_index_info(train, &info))
        snprintf(graph, sizeof graph, "; HNSW index: M = %d, %d levels, %zu links, %.1f MiB",
                 info.M, info.levels, info.edges, (double)info.bytes / (1 << 20));
    printf("Wrote %s: %zu %s %s, %d classes, K = %d, %s, %s weights, ties to the %s%s\n",
           output, knn_dataset_count(train), cli_rows_name(train), shape,
           knn_dataset_num_classes(train), params->k, knn_metric_name(params->metric),
           knn_weights_name(params->weights),
           params->ties == KNN_TIES_NEAREST ? "nearest" : "smallest label", graph);
}

/* knn fit of a folder of images, written as it is decoded (cli_streams): the model file
 * whole or not at all, as cli_output makes it; *train the model as written. */
static int fit_streamed(const char *spec, const cli_common *common, const knn_params *params,
                        const char *output, knn_dataset **train)
{
    cli_output out;
    if (!cli_output_open(&out, output))
        return EXIT_ERROR;
    knn_status st = cli_fit_streamed(spec, common, params, out.f, train);
    int code = 0;
    if (st)
        code = cli_library_error(st);
    else if ((size_t)params->k > knn_dataset_count(*train))
        code = cli_usage_error("K = %d is more than the %zu training images", params->k,
                               knn_dataset_count(*train));
    if (code) {
        cli_output_abort(&out);
        return code;
    }
    return cli_output_commit(&out) ? 0 : EXIT_ERROR;
}

int cmd_fit(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"metric", required_argument, NULL, OPT_METRIC},
        {"weights", required_argument, NULL, OPT_WEIGHTS},
        {"ties", required_argument, NULL, OPT_TIES},
        {"output", required_argument, NULL, 'o'},
        {"index", required_argument, NULL, 'I'},
        {"M", required_argument, NULL, 'M'},
        {"ef-construction", required_argument, NULL, 'E'},
        CLI_FOLD_LONG_OPTIONS,
        CLI_COMMON_LONG_OPTIONS,
        {NULL, 0, NULL, 0}};
    knn_params params = knn_params_default();
    cli_common common = {0};
    const char *output = NULL;
    knn_index_options index = knn_index_options_default();
    bool with_index = false, index_tuned = false;
    long v;
    int opt, code = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":k:o:qh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'o': output = optarg; break;
        case 'I':
            if (strcmp(optarg, "hnsw"))
                return cli_usage_error("--index '%s': the index there is is hnsw", optarg);
            with_index = true;
            break;
        case 'M':
            if (!cli_parse_long("--M", optarg, 2, 128, &v))
                return EXIT_USAGE;
            index.M = (int)v;
            index_tuned = true;
            break;
        case 'E':
            if (!cli_parse_long("--ef-construction", optarg, 1, 65536, &v))
                return EXIT_USAGE;
            index.ef_construction = (int)v;
            index_tuned = true;
            break;
        case 'h': fputs(help, stdout); return 0;
        default:
            if ((code = cli_shared_option(opt, argv, &common, &params)))
                return code;
        }
    }
    if (argc - optind != 1)
        return cli_usage_error("give one TRAIN data set (%d given)", argc - optind);
    if (!output)
        return cli_usage_error("say where to write the model: -o MODEL");
    if (index_tuned && !with_index)
        return cli_usage_error("--M and --ef-construction tune the index: add --index hnsw");
    const char *spec = argv[optind];
    knn_dataset *train = NULL;
    knn_status st;
    /* A folder of images goes to the file as it is decoded, its memory one batch whatever
     * its size, where nothing needs all its rows first (-k auto, the index) and the output
     * is a file. */
    if (!common.k_auto && !with_index && cli_output_replaces(output) &&
        cli_streams(spec, &common)) {
        if (!(code = fit_streamed(spec, &common, &params, output, &train)))
            report(output, train, &params, common.quiet);
        knn_dataset_free(train);
        return code;
    }
    st = cli_load(spec, &common, common.train_limit, false, &train);
    if (st)
        return cli_library_error(st);
    if ((size_t)params.k > knn_dataset_count(train) && !common.k_auto) {
        code = cli_usage_error("K = %d is more than the %zu training images", params.k,
                               knn_dataset_count(train));
    } else if (!(code = cli_settings(train, &common, &params)) && with_index) {
        /* for the metric chosen: the one the model's searches will use */
        cli_progress bar;
        cli_progress_init(&bar, "indexing", common.quiet);
        index.metric = params.metric;
        index.threads = common.threads;
        index.progress = cli_progress_update;
        index.progress_user = &bar;
        st = knn_dataset_build_index(train, &index);
        cli_progress_done(&bar);
        if (st)
            code = cli_library_error(st);
    }
    if (!code) {
        cli_output out; /* whole or not at all, also on Ctrl-C */
        const bool opened = cli_output_open(&out, output);
        const bool to_stdout = out.f == stdout; /* then no line after the model */
        if (!opened) {
            code = EXIT_ERROR;
        } else if ((st = knn_model_write(train, &params, out.f))) {
            cli_output_abort(&out);
            code = cli_library_error(st);
        } else if (!cli_output_commit(&out)) {
            code = EXIT_ERROR;
        }
        if (!code && !to_stdout)
            report(output, train, &params, common.quiet);
    }
    knn_dataset_free(train);
    return code;
}
