/* cmd_embed.c: `knn embed NET.onnx DATASET -o OUT`: run every image of a data set through an
 * ONNX network and write the features: a numpy .npy array (n, d) of float32, or knn's own
 * feature data set (a model file: features, labels, class names, image paths and the
 * network), which every command takes as DATASET and which embeds test sets and photos the
 * same way. The embedding itself is the library's load step (knn_load_options.features). */
#include "cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <string.h>

static const char help[] =
    "usage: knn embed NET.onnx DATASET -o OUT [OPTIONS]\n"
    "\n"
    "Run every image of DATASET through the ONNX network NET (a ConvNet: its first output,\n"
    "flattened, is an image's features) and write them. OUT ending in .npy is a numpy\n"
    "float32 array of shape (images, features), in DATASET's order; any other name is a knn\n"
    "feature data set (features, labels, class names, image paths and the network itself),\n"
    "which every command takes as DATASET: 'knn eval OUT TEST' embeds TEST the same way.\n"
    "\n"
    "  -o, --output FILE  where to write:\n" CLI_OUTPUT_HELP
    "  --limit N          embed only the first N images\n"
    CLI_COMMON_HELP
    "\n"
    "example: knn embed convnet.onnx fashion-mnist:train -o train.knn\n";

/* numpy's .npy format, version 1.0: magic, header length, a Python dict padded with spaces
 * to a multiple of 64 bytes, then the rows, little-endian float32, C order. */
static bool write_npy(FILE *f, const knn_dataset *ds)
{
    const size_t n = knn_dataset_count(ds), d = knn_dataset_dim(ds);
    char dict[128];
    int len = snprintf(dict, sizeof dict,
                       "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %zu), }", n, d);
    size_t total = 10 + (size_t)len + 1;
    size_t pad = (64 - total % 64) % 64;
    uint16_t header_len = (uint16_t)((size_t)len + pad + 1);
    unsigned char head[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                              (unsigned char)(header_len & 0xff), (unsigned char)(header_len >> 8)};
    bool ok = fwrite(head, 1, 10, f) == 10 && fwrite(dict, 1, (size_t)len, f) == (size_t)len;
    for (size_t i = 0; ok && i < pad; i++)
        ok = fputc(' ', f) != EOF;
    ok = ok && fputc('\n', f) != EOF;
    for (size_t i = 0; ok && i < n; i++)
        ok = fwrite(knn_dataset_row_f32(ds, i), sizeof(float), d, f) == d;
    return ok;
}

int cmd_embed(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'}, CLI_COMMON_LONG_OPTIONS, {NULL, 0, NULL, 0}};
    cli_common common = {0};
    const char *output = NULL;
    int opt, code = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":o:qh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'o': output = optarg; break;
        case 'h': fputs(help, stdout); return 0;
        default:
            if ((code = cli_shared_option(opt, argv, &common, NULL)))
                return code;
        }
    }
    if (argc - optind != 2)
        return cli_usage_error("give the network and one DATASET (%d given)", argc - optind);
    if (!output)
        return cli_usage_error("say where to write the features: -o OUT");
    if (common.features_path && strcmp(common.features_path, argv[optind]))
        return cli_usage_error("the network is NET.onnx, the first argument; no --features");
    common.features_path = argv[optind];
    if (!common.features_set) {
        common.features = knn_features_options_default();
        common.features_set = true;
    }
    const char *spec = argv[optind + 1];
    const bool npy = cli_ends_with(output, ".npy");
    if (npy && common.quantize)
        return cli_usage_error("--quantize writes knn's own feature data set, not .npy");
    knn_dataset *ds = NULL;
    const double start = cli_now();
    knn_status st = cli_load(spec, &common, common.limit, true, &ds);
    if (st)
        return cli_library_error(st);
    const double seconds = cli_now() - start;
    const knn_params defaults = knn_params_default(); /* the settings a model file holds */
    cli_output out; /* whole or not at all, also on Ctrl-C */
    if (!cli_output_open(&out, output)) {
        code = EXIT_ERROR;
    } else if (npy ? !write_npy(out.f, ds)
                   : (st = knn_model_write(ds, &defaults, out.f)) != KNN_OK) {
        cli_output_abort(&out);
        if (st) {
            code = cli_library_error(st);
        } else {
            fprintf(stderr, "knn embed: %s: writing failed\n", output);
            code = EXIT_ERROR;
        }
    } else if (!cli_output_commit(&out)) {
        code = EXIT_ERROR;
    }
    if (!code && !common.quiet && !cli_output_is_stdout(output))
        fprintf(stderr, "Wrote %s: %zu images as %zu features each (%s); loaded and embedded in %.1f s, "
                "%.0f images/s\n",
                output, knn_dataset_count(ds), knn_dataset_dim(ds),
                npy ? "numpy float32"
                : common.quantize ? "knn feature data set, 8-bit codes"
                                  : "knn feature data set",
                seconds,
                (double)knn_dataset_count(ds) / (seconds > 0 ? seconds : 1e-9));
    knn_dataset_free(ds);
    return code;
}
