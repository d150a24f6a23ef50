/* cmd_predict.c: `knn predict TRAIN QUERIES`: for each query image the predicted label, the
 * top-N classes with their share of the vote and, on request, the K nearest training images
 * with their distances; as text, CSV or JSON, to stdout or atomically to a file. */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char help[] =
    "usage: knn predict TRAIN QUERIES... [OPTIONS]\n"
    "\n"
    "Predict a label for every QUERIES image from its K nearest TRAIN images. QUERIES is a\n"
    "data set (labels optional; where it has them, the true label is printed too), or photos:\n"
    "image files, folders of them, or - to read their paths from standard input, converted\n"
    "as TRAIN's images were; for photos the top 5 classes and the neighbours are printed.\n"
    "TRAIN is usually a model file made by 'knn fit'. Where TRAIN holds text, QUERIES is a\n"
    "text data set (a file or folder), or texts: each argument one, or - for one a line from\n"
    "standard input; for texts the top 5 classes and the nearest documents are printed.\n"
    "\n"
    "  -k K|auto          neighbours that vote (default 1); auto: chosen, with the metric\n"
    "                     unless --metric is given, by cross-validation on TRAIN (5\n"
    "                     stratified folds unless the options below say otherwise)\n"
    "  --metric l1|l2|cosine  distance (default l2, or cosine for text; cosine: float32\n"
    "                     features and text)\n"
    "  --weights uniform|distance   (default uniform; see 'knn eval --help')\n"
    "  --ties nearest|smallest-label (default nearest)\n"
    CLI_INDEX_HELP
    "  --top N            print the N best classes with their share of the vote (default 1)\n"
    "  --neighbors        print the K nearest training images: index, label, distance\n"
    "                     (L1, the Euclidean distance for l2, 1 - cos for cosine)\n"
    "  --format text|csv|json   (default text)\n"
    "  -o, --output FILE  write to FILE instead of stdout:\n" CLI_OUTPUT_HELP
    CLI_TEST_HELP CLI_FOLD_HELP CLI_COMMON_HELP
    "\n"
    "examples: knn predict fashion-mnist:train fashion-mnist:test --limit 5 -k 5 --top 3\n"
    "          knn predict pets.knn cat.jpg dog.png\n"
    "          knn predict debian.knn 'convert images between formats' -k 10\n";

typedef enum { FORMAT_TEXT, FORMAT_CSV, FORMAT_JSON } out_format;

typedef struct {
    const knn_dataset *train, *queries;
    const knn_predictions *pr; /* the queries classified */
    int top, k;
    bool neighbors;
    bool texts; /* the queries are texts given as arguments or on standard input */
} predictions;

/* The writers stop at the first failed write (a full disk, a closed pipe), which
 * cli_output_commit or main() then reports once. */
static void write_text(FILE *f, const predictions *p)
{
    char b1[16], b2[16];
    for (size_t q = 0; q < knn_dataset_count(p->queries) && !ferror(f); q++) {
        const char *name = knn_dataset_path(p->queries, q);
        if (name)
            fprintf(f, "%s: %s", name, cli_class_name(p->train, knn_predictions_label(p->pr, q), b1));
        else
            fprintf(f, "%zu: %s", q, cli_class_name(p->train, knn_predictions_label(p->pr, q), b1));
        if (knn_dataset_label(p->queries, q) >= 0) /* -1: unlabelled, or a class TRAIN lacks */
            fprintf(f, "  (true: %s)", cli_class_name(p->train, knn_dataset_label(p->queries, q), b2));
        if (p->top > 1) {
            fprintf(f, "  top %d:", p->top);
            for (int t = 0; t < p->top; t++) {
                int32_t c = knn_predictions_ranking(p->pr, q)[t];
                fprintf(f, "%s %s %.3f", t ? "," : "", cli_class_name(p->train, c, b1),
                        knn_predictions_scores(p->pr, q)[c]);
            }
        }
        if (p->texts) { /* the query itself, for texts given on the command line */
            fputs("  \"", f);
            cli_print_snippet(f, knn_dataset_document(p->queries, q), 70);
            fputc('"', f);
        }
        fputc('\n', f);
        for (int j = 0; p->neighbors && j < p->k; j++) {
            uint32_t i = knn_neighbors_index(knn_predictions_neighbors(p->pr), q, j);
            const char *path = knn_dataset_path(p->train, i), *doc = knn_dataset_document(p->train, i);
            fprintf(f, "    #%-2d train %-6u %-16s distance %.6g%s%s", j + 1, i,
                    cli_class_name(p->train, knn_dataset_label(p->train, i), b1),
                    knn_neighbors_distance(knn_predictions_neighbors(p->pr), q, j), path ? "  " : "", path ? path : "");
            if (doc) {
                fputs("  ", f);
                cli_print_snippet(f, doc, 60);
            }
            fputc('\n', f);
        }
    }
}

/* A CSV field, quoted where it must be. */
static void write_csv_field(FILE *f, const char *s)
{
    if (strpbrk(s, ",\"\n\r")) {
        fputc('"', f);
        for (; *s; s++) {
            if (*s == '"')
                fputc('"', f);
            fputc(*s, f);
        }
        fputc('"', f);
    } else {
        fputs(s, f);
    }
}

/* Image paths from the arguments: files, folders (their files, sorted), and "-" (one path
 * a line on standard input). Returns the count, or -1 after printing an error. */
static long collect_images(char **args, int nargs, char ***out)
{
    size_t n = 0, cap = 0;
    char **paths = NULL;
    for (int a = 0; a < nargs; a++) {
        char **add = NULL;
        size_t nadd = 0;
        if (!strcmp(args[a], "-")) {
            char *line = NULL;
            size_t len = 0;
            ssize_t got;
            while ((got = getline(&line, &len, stdin)) >= 0) {
                while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
                    line[--got] = '\0';
                if (got == 0)
                    continue;
                char **grown = realloc(add, (nadd + 1) * sizeof *add);
                if (!grown || !(grown[nadd] = strdup(line))) {
                    add = grown ? grown : add;
                    break;
                }
                add = grown;
                nadd++;
            }
            free(line);
        } else if (cli_is_dir(args[a])) { /* its images; other files are named and skipped */
            size_t nfiles = cli_list_files(args[a], &add);
            for (size_t i = 0; i < nfiles; i++) {
                if (knn_is_image_file(add[i])) {
                    add[nadd++] = add[i];
                } else {
                    fprintf(stderr, "knn predict: warning: skipped %s: not an image\n", add[i]);
                    free(add[i]);
                }
            }
        } else {
            add = malloc(sizeof *add);
            if (add && (add[0] = strdup(args[a])))
                nadd = 1;
        }
        char **grown = realloc(paths, (n + nadd + 1) * sizeof *paths);
        if (!grown) {
            for (size_t i = 0; i < nadd; i++)
                free(add[i]);
            free(add);
            break;
        }
        paths = grown;
        memcpy(paths + n, add, nadd * sizeof *add);
        n += nadd;
        cap = n;
        free(add);
    }
    (void)cap;
    if (n == 0) {
        fprintf(stderr, "knn predict: no images to classify\n");
        free(paths);
        return -1;
    }
    *out = paths;
    return (long)n;
}

/* ",LABEL,NAME" of a class of the training set (a true label of -1: a class it lacks). */
static void write_csv_class(FILE *f, const knn_dataset *train, int32_t label)
{
    char buf[16];
    fprintf(f, ",%d,", (int)label);
    write_csv_field(f, label < 0 ? "" : cli_class_name(train, label, buf));
}

static void write_csv(FILE *f, const predictions *p)
{
    bool truth = knn_dataset_has_labels(p->queries);
    const bool paths = knn_dataset_path(p->queries, 0) != NULL;
    fprintf(f, "index%s,label,name%s", paths ? ",path" : "", truth ? ",true_label,true_name" : "");
    for (int t = 1; t <= p->top; t++)
        fprintf(f, ",top%d_label,top%d_name,top%d_score", t, t, t);
    for (int j = 1; p->neighbors && j <= p->k; j++)
        fprintf(f, ",nn%d_index,nn%d_label,nn%d_name,nn%d_distance", j, j, j, j);
    fputc('\n', f);
    for (size_t q = 0; q < knn_dataset_count(p->queries) && !ferror(f); q++) {
        fprintf(f, "%zu", q);
        if (paths) {
            fputc(',', f);
            write_csv_field(f, knn_dataset_path(p->queries, q));
        }
        write_csv_class(f, p->train, knn_predictions_label(p->pr, q));
        if (truth)
            write_csv_class(f, p->train, knn_dataset_label(p->queries, q));
        for (int t = 0; t < p->top; t++) {
            int32_t c = knn_predictions_ranking(p->pr, q)[t];
            write_csv_class(f, p->train, c);
            fprintf(f, ",%.6f", knn_predictions_scores(p->pr, q)[c]);
        }
        for (int j = 0; p->neighbors && j < p->k; j++) {
            const uint32_t i = knn_neighbors_index(knn_predictions_neighbors(p->pr), q, j);
            fprintf(f, ",%u", i);
            write_csv_class(f, p->train, knn_dataset_label(p->train, i));
            fprintf(f, ",%.9g", knn_neighbors_distance(knn_predictions_neighbors(p->pr), q, j));
        }
        fputc('\n', f);
    }
}

static void write_json(FILE *f, const predictions *p, const knn_params *params)
{
    char b[16];
    fprintf(f, "{\"k\": %d, \"metric\": \"%s\", \"weights\": \"%s\", \"ties\": \"%s\",\n",
            params->k, knn_metric_name(params->metric), knn_weights_name(params->weights),
            knn_ties_name(params->ties));
    fprintf(f, " \"predictions\": [");
    for (size_t q = 0; q < knn_dataset_count(p->queries) && !ferror(f); q++) {
        fprintf(f, "%s\n  {\"index\": %zu, ", q ? "," : "", q);
        if (knn_dataset_path(p->queries, q)) {
            fprintf(f, "\"path\": ");
            cli_json_string(f, knn_dataset_path(p->queries, q));
            fprintf(f, ", ");
        }
        fprintf(f, "\"label\": %d, \"name\": ", (int)knn_predictions_label(p->pr, q));
        cli_json_string(f, cli_class_name(p->train, knn_predictions_label(p->pr, q), b));
        if (knn_dataset_has_labels(p->queries))
            fprintf(f, ", \"true_label\": %d", (int)knn_dataset_label(p->queries, q));
        fprintf(f, ", \"top\": [");
        for (int t = 0; t < p->top; t++) {
            int32_t c = knn_predictions_ranking(p->pr, q)[t];
            fprintf(f, "%s{\"label\": %d, \"name\": ", t ? ", " : "", (int)c);
            cli_json_string(f, cli_class_name(p->train, c, b));
            fprintf(f, ", \"score\": %.6f}", knn_predictions_scores(p->pr, q)[c]);
        }
        fprintf(f, "]");
        if (p->neighbors) {
            fprintf(f, ", \"neighbors\": [");
            for (int j = 0; j < p->k; j++) {
                uint32_t i = knn_neighbors_index(knn_predictions_neighbors(p->pr), q, j);
                fprintf(f, "%s{\"index\": %u, \"label\": %d, \"distance\": %.9g", j ? ", " : "",
                        i, (int)knn_dataset_label(p->train, i), knn_neighbors_distance(knn_predictions_neighbors(p->pr), q, j));
                if (knn_dataset_path(p->train, i)) {
                    fprintf(f, ", \"path\": ");
                    cli_json_string(f, knn_dataset_path(p->train, i));
                }
                if (knn_dataset_document(p->train, i)) {
                    fprintf(f, ", \"text\": ");
                    cli_json_string(f, knn_dataset_document(p->train, i));
                }
                fprintf(f, "}");
            }
            fprintf(f, "]");
        }
        fprintf(f, "}");
    }
    fprintf(f, "]}\n");
}

/* FOLDER:SPLIT where FOLDER exists: a data set, not a text to classify. */
static bool names_split(const char *spec)
{
    const char *colon = strrchr(spec, ':');
    if (!colon || colon == spec)
        return false;
    char *folder = strndup(spec, (size_t)(colon - spec));
    bool yes = folder && cli_is_dir(folder);
    free(folder);
    return yes;
}

int cmd_predict(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"metric", required_argument, NULL, OPT_METRIC},
        {"weights", required_argument, NULL, OPT_WEIGHTS},
        {"ties", required_argument, NULL, OPT_TIES},
        CLI_INDEX_LONG_OPTIONS,
        {"top", required_argument, NULL, OPT_TOP},
        {"neighbors", no_argument, NULL, OPT_NEIGHBORS},
        {"neighbours", no_argument, NULL, OPT_NEIGHBORS},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"output", required_argument, NULL, 'o'},
        CLI_FOLD_LONG_OPTIONS,
        CLI_TEST_LONG_OPTIONS,
        CLI_COMMON_LONG_OPTIONS,
        {NULL, 0, NULL, 0}};
    knn_params params = knn_params_default();
    cli_common common = {0};
    predictions p = {0};
    p.top = 1;
    bool top_given = false;
    out_format format = FORMAT_TEXT;
    const char *output = NULL;
    int opt, code = 0;
    long v;
    knn_status st;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":k:o:qh", longopts, NULL)) != -1) {
        switch (opt) {
        case OPT_TOP:
            if (!cli_parse_long("--top", optarg, 1, KNN_MAX_CLASSES, &v))
                return EXIT_USAGE;
            p.top = (int)v;
            top_given = true;
            break;
        case OPT_NEIGHBORS: p.neighbors = true; break;
        case OPT_FORMAT:
            if (!strcmp(optarg, "text"))
                format = FORMAT_TEXT;
            else if (!strcmp(optarg, "csv"))
                format = FORMAT_CSV;
            else if (!strcmp(optarg, "json"))
                format = FORMAT_JSON;
            else
                return cli_usage_error("unknown format '%s' (text, csv or json)", optarg);
            break;
        case 'o': output = optarg; break;
        case 'h': fputs(help, stdout); return 0;
        default:
            if ((code = cli_shared_option(opt, argv, &common, &params)))
                return code;
        }
    }
    if (argc - optind < 2)
        return cli_usage_error("give TRAIN and QUERIES (%d given)", argc - optind);
    const char *train_spec = argv[optind], *query_spec = argv[optind + 1];
    const int nargs = argc - optind - 1;
    knn_dataset *train = NULL, *queries = NULL;
    knn_predictions *pr = NULL;
    int exit_code = 0;
    if ((st = cli_load(train_spec, &common, common.train_limit, false, &train))) {
        exit_code = cli_library_error(st);
        goto done;
    }
    /* text: texts, unless one argument names a data set: a file or folder, or FOLDER:SPLIT */
    p.texts = knn_dataset_text(train) &&
              !(nargs == 1 && strcmp(query_spec, "-") &&
                (access(query_spec, F_OK) == 0 || names_split(query_spec)));
    /* photos: several arguments, "-", an image file, or a folder without class folders */
    /* a flat folder with --labels is a labelled query set, not loose photos */
    const bool images = !knn_dataset_text(train) &&
                        (nargs > 1 || !strcmp(query_spec, "-") ||
                         (cli_is_dir(query_spec) ? !cli_has_subdirs(query_spec) &&
                                                       !common.labels_file
                                                 : knn_is_image_file(query_spec)));
    if (images || p.texts) {
        if (!top_given)
            p.top = 5;
        p.neighbors = true;
    }
    if (knn_dataset_text(train) && !p.texts && knn_is_image_file(query_spec)) {
        fprintf(stderr, "knn predict: %s holds text; %s is an image\n", train_spec, query_spec);
        exit_code = EXIT_ERROR;
        goto done;
    }
    if (p.texts) {
        if ((exit_code = cli_load_texts(argv + optind + 1, nargs, train, common.limit, &queries)))
            goto done;
    } else if (images) {
        char **paths = NULL;
        long n = collect_images(argv + optind + 1, nargs, &paths);
        if (n < 0) {
            exit_code = EXIT_ERROR;
            goto done;
        }
        size_t use = common.limit && common.limit < (size_t)n ? common.limit : (size_t)n;
        st = knn_images_load((const char *const *)paths, use, train, &queries);
        for (long i = 0; i < n; i++)
            free(paths[i]);
        free(paths);
    } else if ((exit_code = cli_load_test(query_spec, &common, true, train, &queries))) {
        goto done;
    }
    if (st) {
        exit_code = cli_library_error(st);
        goto done;
    }
    if ((exit_code = cli_settings(train, &common, &params)))
        goto done;
    if (knn_dataset_text(train)) { /* a text without a known word is at distance 1 from all */
        size_t empty = 0, first = 0;
        for (size_t q = knn_dataset_count(queries); q-- > 0;) {
            const uint32_t *terms;
            const float *values;
            if (!knn_dataset_row_sparse(queries, q, &terms, &values)) {
                empty++;
                first = q;
            }
        }
        if (empty)
            fprintf(stderr, "knn predict: warning: %zu of the queries (the first: %zu) share no "
                            "word with the training vocabulary; every training document is at "
                            "distance 1 from them\n",
                    empty, first);
    }
    cli_progress progress;
    cli_progress_init(&progress, "searching", common.quiet);
    params.progress = cli_progress_update;
    params.progress_user = &progress;
    st = knn_classify(train, queries, &params, &pr);
    cli_progress_done(&progress);
    if (st) {
        exit_code = cli_library_error(st);
        goto done;
    }
    const size_t C = (size_t)knn_dataset_num_classes(train);
    p.train = train;
    p.queries = queries;
    p.pr = pr;
    p.k = params.k;
    if ((size_t)p.top > C)
        p.top = (int)C;
    cli_output out;
    if (!cli_output_open(&out, output)) {
        exit_code = EXIT_ERROR;
        goto done;
    }
    if (format == FORMAT_TEXT)
        write_text(out.f, &p);
    else if (format == FORMAT_CSV)
        write_csv(out.f, &p);
    else
        write_json(out.f, &p, &params);
    if (!cli_output_commit(&out))
        exit_code = EXIT_ERROR;
done:
    knn_predictions_free(pr);
    knn_dataset_free(train);
    knn_dataset_free(queries);
    return exit_code;
}
