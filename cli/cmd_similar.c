/* cmd_similar.c: `knn similar CORPUS --query N|TEXT`: the documents of a text data set most
 * like one of its own documents or like a given text, by cosine similarity of their tf-idf
 * vectors: arxiv-sanity's "show similar". The search is knn_search's, so the order is
 * (distance, index) as everywhere; a document of the corpus is left out of its own list. */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: knn similar CORPUS --query N|TEXT [OPTIONS]\n"
    "\n"
    "List the K documents of CORPUS (a text data set or a text model) most similar to its\n"
    "document N (counted from 0; the document itself is left out) or to TEXT, by cosine\n"
    "similarity of their tf-idf vectors, most similar first, with the similarity (cos).\n"
    "\n"
    "  --query N|TEXT     a document's number, or a text (a number is a document: give a\n"
    "                     text of digits as --text TEXT)\n"
    "  --text TEXT        the query is this text\n"
    "  -k K               documents listed (default 10)\n"
    "  --width N          characters of each document shown (default 100; 0: whole)\n"
    "  --json             one JSON object instead of text\n" CLI_COMMON_HELP
    "\n"
    "example: knn similar debian.knn --query 'convert images between formats' -k 5\n";

enum { OPT_TEXT = 2000, OPT_WIDTH };

static bool is_number(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

int cmd_similar(int argc, char **argv)
{
    static const struct option longopts[] = {{"query", required_argument, NULL, 'Q'},
                                             {"text", required_argument, NULL, OPT_TEXT},
                                             {"width", required_argument, NULL, OPT_WIDTH},
                                             {"json", no_argument, NULL, OPT_JSON},
                                             CLI_COMMON_LONG_OPTIONS,
                                             {NULL, 0, NULL, 0}};
    cli_common common = {0};
    knn_params p = knn_params_default();
    p.k = 10;
    const char *query = NULL;
    bool as_text = false, json = false;
    long width = 100, v;
    int opt, code = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":k:qh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'Q': query = optarg; as_text = false; break;
        case OPT_TEXT: query = optarg; as_text = true; break;
        case 'k':
            if (!cli_parse_long("-k", optarg, 1, 1 << 20, &v))
                return EXIT_USAGE;
            p.k = (int)v;
            break;
        case OPT_WIDTH:
            if (!cli_parse_long("--width", optarg, 0, 1 << 20, &width))
                return EXIT_USAGE;
            break;
        case OPT_JSON: json = true; break;
        case 'h': fputs(help, stdout); return 0;
        default:
            if ((code = cli_shared_option(opt, argv, &common, NULL)))
                return code;
        }
    }
    if (argc - optind != 1)
        return cli_usage_error("give one CORPUS (%d given)", argc - optind);
    if (!query)
        return cli_usage_error("say what to compare with: --query N (a document) or TEXT");
    const char *spec = argv[optind];
    p.threads = common.threads;
    p.metric = KNN_COSINE;
    knn_dataset *corpus = NULL, *q = NULL;
    knn_neighbors *nb = NULL;
    knn_status st = cli_load(spec, &common, common.train_limit, true, &corpus);
    if (st)
        return cli_library_error(st);
    const size_t n = knn_dataset_count(corpus);
    long self = -1; /* the corpus document asked about, left out of its own list */
    if (!knn_dataset_text(corpus)) {
        code = cli_usage_error("%s holds %s, not text", spec, cli_rows_name(corpus));
        goto done;
    }
    if (!as_text && is_number(query)) {
        if (!cli_parse_long("--query", query, 0, (long)n - 1, &self)) {
            code = EXIT_USAGE;
            goto done;
        }
        const char *doc = knn_dataset_document(corpus, (size_t)self);
        st = knn_text_dataset_create(&doc, 1, NULL, 0, NULL, corpus, spec, &q);
    } else {
        st = knn_text_dataset_create(&query, 1, NULL, 0, NULL, corpus, "the query", &q);
    }
    const int want = p.k;
    if (!st && (size_t)want + (self >= 0) > n) {
        code = cli_usage_error("-k %d: %s has %zu documents%s", want, spec, n,
                               self >= 0 ? " (one of them the query)" : "");
        goto done;
    }
    p.k = want + (self >= 0);
    const uint32_t *terms;
    const float *values;
    if (!st && !knn_dataset_row_sparse(q, 0, &terms, &values))
        fprintf(stderr, "knn similar: warning: the query shares no word with the vocabulary of "
                        "%s; every document is at similarity 0 (listed in order)\n",
                spec);
    if (!st)
        st = knn_search(corpus, q, &p, &nb);
    if (st) {
        code = cli_library_error(st);
        goto done;
    }
    char buf[16];
    const size_t shown = width ? (size_t)width : (size_t)-1 / 2;
    if (json) {
        printf("{\"corpus\": ");
        cli_json_string(stdout, spec);
        printf(", \"query\": ");
        if (self >= 0)
            printf("%ld", self);
        else
            cli_json_string(stdout, query);
        printf(", \"similar\": [");
    } else if (!common.quiet) {
        if (self >= 0)
            printf("Most similar to document %ld (%s): \"", self,
                   knn_dataset_label(corpus, (size_t)self) >= 0
                       ? cli_class_name(corpus, knn_dataset_label(corpus, (size_t)self), buf)
                       : "unlabelled");
        else
            printf("Most similar to the text \"");
        cli_print_snippet(stdout, knn_dataset_document(q, 0), shown);
        printf("\"\n");
    }
    int listed = 0;
    for (int j = 0; j < p.k && listed < want && !ferror(stdout); j++) {
        const uint32_t i = knn_neighbors_index(nb, 0, j);
        if ((long)i == self)
            continue;
        const double cos = 1.0 - knn_neighbors_distance(nb, 0, j);
        const int32_t label = knn_dataset_label(corpus, i);
        const char *name = label >= 0 ? cli_class_name(corpus, label, buf) : "";
        if (json) {
            printf("%s\n  {\"index\": %u, \"similarity\": %.6f, \"label\": ", listed ? "," : "", i,
                   cos);
            if (label >= 0)
                cli_json_string(stdout, name);
            else
                printf("null");
            printf(", \"text\": ");
            cli_json_string(stdout, knn_dataset_document(corpus, i));
            printf("}");
        } else {
            printf("%3d. %.3f  #%-6u %-12s ", listed + 1, cos, i, name);
            cli_print_snippet(stdout, knn_dataset_document(corpus, i), shown);
            printf("\n");
        }
        listed++;
    }
    if (json)
        printf("]}\n");
done:
    knn_neighbors_free(nb);
    knn_dataset_free(q);
    knn_dataset_free(corpus);
    return code;
}
