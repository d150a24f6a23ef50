/* cmd_info.c: `knn info DATASET`: what a data set holds (count, shape, classes with their
 * counts) and a few of its images drawn as ASCII art, two image rows per text line. */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: knn info DATASET [OPTIONS]\n"
    "\n"
    "Print the number of images, their shape, the classes with their counts, and a few\n"
    "images as ASCII art. For text: the documents, the vocabulary and its settings, and a\n"
    "few documents with the weights of their first terms (in vocabulary order).\n"
    "\n"
    "  --samples N        images (documents) to show (default 3, 0 for none)\n"
    "  --vocabulary       text: print only the vocabulary, one 'term<TAB>idf' line a term in\n"
    "                     column order\n" CLI_COMMON_HELP
    "\n"
    "examples: knn info fashion-mnist:train\n"
    "          knn info debian.knn --vocabulary | sort -t$'\\t' -k2 -g | head\n";

/* Mean over channels of pixel (y, x); channels are stored as planes. */
static unsigned pixel(const knn_dataset *ds, const uint8_t *row, int y, int x)
{
    const int h = knn_dataset_height(ds), w = knn_dataset_width(ds);
    const int ch = knn_dataset_channels(ds);
    unsigned sum = 0;
    for (int c = 0; c < ch; c++)
        sum += row[(size_t)c * (size_t)h * (size_t)w + (size_t)y * (size_t)w + (size_t)x];
    return sum / (unsigned)ch;
}

/* A text data set: its vectoriser, and the first documents with their terms. */
static void describe_text(const knn_dataset *ds, size_t samples)
{
    const knn_text *t = knn_dataset_text(ds);
    const knn_text_options o = knn_text_get_options(t);
    const size_t n = knn_dataset_count(ds), V = knn_text_terms(t);
    size_t nnz = 0;
    for (size_t i = 0; i < n; i++) {
        const uint32_t *terms;
        const float *values;
        nnz += knn_dataset_row_sparse(ds, i, &terms, &values);
    }
    printf("  documents: %zu\n", n);
    char lo[32], hi[32], most[48] = "";
    snprintf(lo, sizeof lo, o.min_df_fraction ? "%g%%" : "%g", o.min_df * (o.min_df_fraction ? 100 : 1));
    snprintf(hi, sizeof hi, o.max_df_fraction ? "%g%%" : "%g", o.max_df * (o.max_df_fraction ? 100 : 1));
    if (o.max_features)
        snprintf(most, sizeof most, ", the %zu most frequent", o.max_features);
    printf("  vocabulary: %zu terms from %zu documents: %d..%d-grams in %s to %s of the "
           "documents%s, stop words %s\n",
           V, knn_text_documents(t), o.ngram_min, o.ngram_max, lo, hi, most,
           o.stop_words ? "English" : "none");
    printf("  rows:    tf-idf (1 + ln tf) x idf, unit length; %zu non-zeros, %.1f a document; "
           "searched by cosine\n",
           nnz, n ? (double)nnz / (double)n : 0.0);
    printf("  memory:  %.1f MiB (rows and inverted index)\n", (double)nnz * 16 / (1 << 20));
    for (size_t i = 0; i < samples && i < n; i++) {
        char buf[16];
        const uint32_t *terms;
        const float *values;
        size_t m = knn_dataset_row_sparse(ds, i, &terms, &values);
        printf("  #%zu %s: \"", i,
               knn_dataset_label(ds, i) >= 0 ? cli_class_name(ds, knn_dataset_label(ds, i), buf)
                                             : "");
        cli_print_snippet(stdout, knn_dataset_document(ds, i), 70);
        printf("\"\n     ");
        for (size_t j = 0; j < m && j < 8; j++) {
            printf(" ");
            cli_print_snippet(stdout, knn_text_term(t, terms[j]), 24);
            printf(" %.3f", (double)values[j]);
        }
        printf("%s\n", m > 8 ? " ..." : "");
    }
}

static void draw_samples(const knn_dataset *ds, size_t n)
{
    static const char ramp[] = " .:-=+*#%@";
    const int h = knn_dataset_height(ds), w = knn_dataset_width(ds);
    char buf[16];
    if (w < 2 || w > 64 || h > 128 || knn_dataset_dtype(ds) != KNN_U8) {
        printf("(rows of %zu values are not drawn)\n", knn_dataset_dim(ds));
        return;
    }
    printf("\nThe first %zu images:\n", n);
    for (size_t i = 0; i < n; i++) {
        int32_t label = knn_dataset_label(ds, i);
        printf("%-*.*s", w + 2, w,
               label < 0 ? "(no label)" : cli_class_name(ds, label, buf));
    }
    printf("\n");
    for (int y = 0; y < h; y += 2) {
        for (size_t i = 0; i < n; i++) {
            const uint8_t *row = knn_dataset_row(ds, i);
            for (int x = 0; x < w; x++) {
                unsigned v = pixel(ds, row, y, x);
                if (y + 1 < h)
                    v = (v + pixel(ds, row, y + 1, x)) / 2;
                putchar(ramp[v * (sizeof ramp - 1) / 256]);
            }
            printf("  ");
        }
        printf("\n");
    }
}

/* Images or features: their shape, network, memory and index. */
static void describe_rows(const knn_dataset *ds, size_t n, size_t dim)
{
    printf("  images:  %zu\n", n);
    const bool f32 = knn_dataset_dtype(ds) == KNN_F32;
    printf("  shape:   %d x %d x %d (height x width x channels) = %zu %s values\n",
           knn_dataset_height(ds), knn_dataset_width(ds), knn_dataset_channels(ds), dim,
           f32 ? "float32" : "uint8");
    const knn_features *net = knn_dataset_features(ds);
    if (net) {
        knn_features_options o = knn_features_get_options(net);
        knn_load_options conv = {0};
        knn_load_options_like(ds, &conv);
        printf("  network: %s, on images of %d x %d x %d (height x width x channels%s)\n",
               knn_features_name(net), conv.height, conv.width, conv.channels,
               conv.crop ? ", middle kept" : "");
        printf("  input:   (pixel x %g - mean (%g, %g, %g)) / std (%g, %g, %g), %s order\n",
               (double)o.scale, (double)o.mean[0], (double)o.mean[1], (double)o.mean[2],
               (double)o.std[0], (double)o.std[1], (double)o.std[2], o.bgr ? "BGR" : "RGB");
        printf("  pictures: %s\n", knn_dataset_picture(ds, 0)
                                        ? "the images, kept as the network saw them (for "
                                          "reports and the server)"
                                        : "not kept");
        if (knn_features_quantized(net))
            printf("  codes:   8-bit, each feature's training range in 255 steps (--quantize)\n");
    }
    const size_t row_bytes = (dim * (f32 ? 4 : 1) + 63) / 64 * 64;
    printf("  memory:  %.1f MiB\n", (double)n * (double)row_bytes / (1 << 20));
    knn_index_info index;
    if (knn_dataset_index_info(ds, &index))
        printf("  index:   HNSW for %s, M = %d, ef-construction %d: %d levels, %zu links, "
               "%.1f MiB (%.0f bytes an image)\n",
               knn_metric_name(index.metric), index.M, index.ef_construction, index.levels,
               index.edges, (double)index.bytes / (1 << 20),
               n ? (double)index.bytes / (double)n : 0.0);
}

int cmd_info(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"samples", required_argument, NULL, OPT_SAMPLES},
        {"vocabulary", no_argument, NULL, 'V'},
        CLI_COMMON_LONG_OPTIONS,
        {NULL, 0, NULL, 0}};
    cli_common common = {0};
    long samples = 3;
    bool vocabulary = false;
    int opt, code = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":qh", longopts, NULL)) != -1) {
        switch (opt) {
        case OPT_SAMPLES:
            if (!cli_parse_long("--samples", optarg, 0, 16, &samples))
                return EXIT_USAGE;
            break;
        case 'V': vocabulary = true; break;
        case 'h': fputs(help, stdout); return 0;
        default:
            if ((code = cli_shared_option(opt, argv, &common, NULL)))
                return code;
        }
    }
    if (argc - optind != 1)
        return cli_usage_error("give one DATASET (%d given)", argc - optind);
    const char *spec = argv[optind];
    knn_dataset *ds;
    knn_status st = cli_load(spec, &common, common.limit, true, &ds);
    if (st)
        return cli_library_error(st);
    const size_t n = knn_dataset_count(ds), dim = knn_dataset_dim(ds);
    if (vocabulary) {
        const knn_text *t = knn_dataset_text(ds);
        if (!t)
            code = cli_usage_error("--vocabulary: %s holds %s, not text", spec,
                                   cli_rows_name(ds));
        for (size_t i = 0; t && i < knn_text_terms(t) && !ferror(stdout); i++)
            printf("%s\t%.17g\n", knn_text_term(t, i), knn_text_idf(t, i));
        knn_dataset_free(ds);
        return code;
    }
    printf("%s\n", spec);
    printf("  source:  %s\n", knn_dataset_source(ds));
    if (knn_dataset_text(ds))
        describe_text(ds, (size_t)samples);
    else
        describe_rows(ds, n, dim);
    if (knn_dataset_has_labels(ds)) {
        const int C = knn_dataset_num_classes(ds);
        size_t *counts = calloc((size_t)C, sizeof *counts);
        if (!counts) {
            fprintf(stderr, "knn info: out of memory\n");
            knn_dataset_free(ds);
            return EXIT_ERROR;
        }
        for (size_t i = 0; i < n; i++)
            counts[knn_dataset_label(ds, i)]++;
        printf("  classes: %d\n", C);
        char buf[16];
        int width = 20; /* the longest name, up to 60 columns (folder paths can be long) */
        for (int c = 0; c < C; c++) {
            size_t len = strlen(cli_class_name(ds, c, buf));
            width = len > (size_t)width ? (len < 60 ? (int)len : 60) : width;
        }
        for (int c = 0; c < C && !ferror(stdout); c++) /* stops at a failed write: main() reports it */
            printf("    %3d  %-*s %zu\n", c, width, cli_class_name(ds, c, buf), counts[c]);
        free(counts);
    } else {
        printf("  labels:  none\n");
    }
    if (samples > 0 && n > 0 && !knn_dataset_text(ds))
        draw_samples(ds, (size_t)samples < n ? (size_t)samples : n);
    knn_dataset_free(ds);
    return 0;
}
