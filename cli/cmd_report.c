/* cmd_report.c: `knn report TRAIN TEST -o report.html`: one self-contained HTML page (images
 * and plots embedded, nothing fetched) showing the data (counts and sample images per class),
 * the cross-validation plot when K was chosen by it, the confusion matrix as a heat map with
 * per-class accuracy, a gallery of test images beside their nearest training images with the
 * vote, and the most confident mistakes. Images are PNGs made by stb_image_write from the
 * rows themselves and scaled up by the browser without smoothing. */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: knn report TRAIN TEST -o report.html [OPTIONS]\n"
    "\n"
    "Write a self-contained HTML page: sample images per class, the cross-validation plot\n"
    "(with -k auto), the confusion matrix as a heat map, per-class accuracy, test images next\n"
    "to their K nearest training images with the vote, and the most confident mistakes.\n"
    "\n"
    "  -o, --output FILE  the page:\n" CLI_OUTPUT_HELP
    "  -k K|auto          neighbours that vote (default 5); auto: cross-validation on TRAIN\n"
    "                     (5 stratified folds unless the options below say otherwise)\n"
    "                     chooses K and, unless --metric is given, the metric\n"
    "  --metric l1|l2|cosine, --weights uniform|distance, --ties nearest|smallest-label\n"
    CLI_INDEX_HELP
    "  --samples N        test images in the gallery (default 12)\n" CLI_TEST_HELP
    CLI_FOLD_HELP CLI_COMMON_HELP
    "\n"
    "example: knn report fashion-mnist:train fashion-mnist:test -k auto -o report.html\n";

/* Classes shown one by one (sample rows, the heat map): a page of more would not be read,
 * and 65,536 classes would make it gigabytes. */
#define MAX_CLASSES_SHOWN 100
#define SAMPLES_PER_CLASS 10
/* so that the heat map always has its matrix, which the library omits beyond its own cap */
_Static_assert(MAX_CLASSES_SHOWN <= KNN_MAX_CONFUSION_CLASSES, "the heat map needs the matrix");

/* <img> of row i of ds as an embedded PNG, `scale` times its size, without smoothing; the
 * row's number where it is not a picture. */
static void image_tag(FILE *f, const knn_dataset *ds, size_t i, int scale, const char *title)
{
    const char *doc = knn_dataset_document(ds, i);
    if (doc) { /* text: the document's beginning, up to 2 KB of it on hover */
        char *hover = cli_snippet(doc, 2048);
        fprintf(f, "<div class=\"doc\" title=\"");
        cli_xml_text(f, hover ? hover : "");
        free(hover);
        fprintf(f, "\">");
        char *snip = cli_snippet(doc, scale > 2 ? 160 : 90);
        cli_xml_text(f, snip ? snip : "");
        free(snip);
        fprintf(f, "</div>");
        return;
    }
    size_t n;
    unsigned char *png = cli_row_png(ds, i, &n);
    char *b64 = png ? cli_base64(png, n) : NULL;
    if (!b64) {
        fprintf(f, "<span class=\"noimg\">#%zu</span>", i);
    } else {
        fprintf(f, "<img width=\"%d\" height=\"%d\" title=\"", knn_dataset_width(ds) * scale,
                knn_dataset_height(ds) * scale);
        fputs(title, f);
        fprintf(f, "\" src=\"data:image/png;base64,%s\">", b64);
    }
    free(b64);
    free(png);
}

typedef struct {
    const knn_dataset *train, *test;
    const knn_predictions *pr; /* the test set classified */
    const knn_metrics *m;
    const knn_params *p;
    const char *train_spec, *test_spec;
    /* the images drawn: train and test themselves, or for features the images they were
     * computed from */
    const knn_dataset *train_pictures, *test_pictures;
} report;

static void neighbour_row(FILE *f, const report *r, size_t q)
{
    char b1[16], b2[16], title[256];
    const knn_neighbors *nb = knn_predictions_neighbors(r->pr);
    int32_t truth = knn_dataset_label(r->test, q), pred = knn_predictions_label(r->pr, q);
    fprintf(f, "<tr class=\"%s\"><td>", truth == pred ? "right" : "wrong");
    snprintf(title, sizeof title, "test %s %zu", knn_dataset_text(r->test) ? "document" : "image",
             q);
    image_tag(f, r->test_pictures, q, 3, title);
    fprintf(f, "<div>");
    cli_xml_text(f, cli_class_name(r->train, truth, b1));
    fprintf(f, "</div></td><td class=\"vote\">%s ", truth == pred ? "&#10003;" : "&#10007;");
    cli_xml_text(f, cli_class_name(r->train, pred, b2));
    fprintf(f, "<div class=\"small\">%.0f%% of the vote</div></td>",
            100 * knn_predictions_scores(r->pr, q)[pred]);
    for (int j = 0; j < r->p->k; j++) {
        uint32_t t = knn_neighbors_index(nb, q, j);
        int32_t lab = knn_dataset_label(r->train, t);
        snprintf(title, sizeof title, "training %s %u",
                 knn_dataset_text(r->train) ? "document" : "image", t);
        fprintf(f, "<td class=\"%s\">", lab == pred ? "agree" : "disagree");
        image_tag(f, r->train_pictures, t, 2, title);
        fprintf(f, "<div>");
        cli_xml_text(f, cli_class_name(r->train, lab, b1));
        fprintf(f, "</div><div class=\"small\">#%u, d = %.6g</div></td>", t,
                knn_neighbors_distance(nb, q, j));
    }
    fprintf(f, "</tr>\n");
}

/* The confusion matrix as a heat map, rows normalised, with the per-class accuracy. */
static void heat_map(FILE *f, const knn_dataset *train, const knn_metrics *m)
{
    char b1[16];
    const int C = m->num_classes;
    fprintf(f, "<p>Rows: the true class; columns: the predicted class; the colour is the share "
               "of the row.</p><table class=\"heat\"><tr><th></th>");
    for (int c = 0; c < C; c++)
        fprintf(f, "<th>%d</th>", c);
    fprintf(f, "<th>accuracy</th></tr>\n");
    for (int t = 0; t < C; t++) {
        fprintf(f, "<tr><th style=\"text-align:right\">%d ", t);
        cli_xml_text(f, cli_class_name(train, t, b1));
        fprintf(f, "</th>");
        size_t tot = m->class_total[t];
        for (int c = 0; c < C; c++) {
            size_t v = m->confusion[(size_t)t * (size_t)C + (size_t)c];
            double share = tot ? (double)v / (double)tot : 0;
            int light = (int)(255 - 200 * share);
            fprintf(f, "<td style=\"background:rgb(%d,%d,255);color:%s\">%zu</td>", light,
                    light, share > 0.5 ? "white" : "#222", v);
        }
        fprintf(f, "<td>%.1f%%</td></tr>\n",
                tot ? 100.0 * (double)m->class_correct[t] / (double)tot : 0.0);
    }
    fprintf(f, "</table>\n");
}

static const report *sorting; /* qsort's context: the CLI sorts on one thread */
static int by_confidence_desc(const void *a, const void *b);

static void write_report(FILE *f, const report *r, const cli_cv_report *cv, int samples)
{
    char b1[16];
    const knn_dataset *train = r->train;
    const int C = knn_dataset_num_classes(train);
    const knn_metrics *m = r->m;
    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
               "<title>knn report</title>\n<style>\n"
               "body{font-family:sans-serif;margin:2em;max-width:1200px;color:#222}\n"
               "img{image-rendering:pixelated;image-rendering:crisp-edges;display:block;"
               "margin:auto}\n"
               "table{border-collapse:collapse;margin:1em 0}td,th{padding:3px 6px;"
               "text-align:center}\n.small{font-size:75%%;color:#666}\n"
               "tr.wrong td:first-child{outline:3px solid #d62728}\n"
               "tr.right td:first-child{outline:3px solid #2ca02c}\n"
               ".vote{font-weight:bold;min-width:8em}.disagree{background:#fde0e0}\n"
               ".samples td{padding:1px}.heat td{min-width:2.6em;font-size:85%%}\n"
               ".doc{text-align:left;font-size:85%%;max-width:16em;min-width:8em}\n"
               ".samples .doc{max-width:12em;padding:0 4px}\n"
               "</style></head><body>\n<h1>k-nearest-neighbour classification</h1>\n<p>");
    cli_xml_text(f, r->test_spec);
    const char *rows = cli_rows_name(train);
    fprintf(f, " classified by its K = %d nearest %s of ", r->p->k, rows);
    cli_xml_text(f, r->train_spec);
    fprintf(f, " (%s distance, %s votes, ties to the %s).</p>\n",
            r->p->metric == KNN_L1 ? "L1" : r->p->metric == KNN_COSINE ? "cosine" : "L2",
            r->p->weights == KNN_WEIGHTS_UNIFORM ? "uniform" : "distance-weighted",
            r->p->ties == KNN_TIES_NEAREST ? "class of the nearest neighbour" : "smallest label");
    fprintf(f, "<h2>Accuracy</h2><p style=\"font-size:130%%\">Got %zu / %zu correct; accuracy "
               "is <b>%.2f%%</b>. Top-5 accuracy: %.2f%%.</p>\n",
            m->correct, m->total, 100 * m->accuracy, 100 * m->top5_accuracy);

    /* the data: counts and samples of the first classes, found in one pass */
    const int shown = C < MAX_CLASSES_SHOWN ? C : MAX_CLASSES_SHOWN;
    struct {
        size_t count, first[SAMPLES_PER_CLASS];
    } *classes = calloc((size_t)shown, sizeof *classes);
    for (size_t i = 0; classes && i < knn_dataset_count(train); i++) {
        int32_t c = knn_dataset_label(train, i);
        if (c < shown && classes[c].count++ < SAMPLES_PER_CLASS)
            classes[c].first[classes[c].count - 1] = i;
    }
    fprintf(f, "<h2>The training data</h2><table class=\"samples\">\n");
    for (int c = 0; classes && c < shown && !ferror(f); c++) {
        fprintf(f, "<tr><th>");
        cli_xml_text(f, cli_class_name(train, c, b1));
        fprintf(f, "<div class=\"small\">%zu %s</div></th>", classes[c].count, rows);
        const size_t per = knn_dataset_text(train) ? 4 : SAMPLES_PER_CLASS;
        for (size_t j = 0; j < classes[c].count && j < per; j++) {
            fprintf(f, "<td>");
            image_tag(f, r->train_pictures, classes[c].first[j], 2, "");
            fprintf(f, "</td>");
        }
        fprintf(f, "</tr>\n");
    }
    fprintf(f, "</table>\n");
    if (C > shown)
        fprintf(f, "<p>The first %d of %d classes.</p>\n", shown, C);
    free(classes);

    if (cv) {
        fprintf(f, "<h2>Choosing K and the metric</h2><p>By %d-fold %s cross-validation on the "
                   "training set; the test set was looked at once, afterwards.</p>\n",
                cv->options->folds,
                cli_fold_mode_name(cv->options->mode));
        cli_plot_cv_svg(f, cv);
    }

    fprintf(f, "<h2>Confusion matrix</h2>");
    if (C > MAX_CLASSES_SHOWN)
        fprintf(f, "<p>The confusion matrix and the per-class accuracy are omitted for %d "
                   "classes (at most %d; 'knn eval' lists the per-class accuracy).</p>\n",
                C, MAX_CLASSES_SHOWN);
    else
        heat_map(f, train, m);

    /* galleries */
    const size_t n = knn_dataset_count(r->test);
    fprintf(f, "<h2>Test %s and their nearest neighbours</h2><p>Each test %.*s (green: "
               "classified right, red: wrong), the vote, and its K nearest training %s in "
               "order (pink: a different class than the vote).</p><table>\n",
            rows, (int)strlen(rows) - 1, rows, rows);
    for (size_t q = 0; q < n && q < (size_t)samples && !ferror(f); q++)
        neighbour_row(f, r, q);
    fprintf(f, "</table>\n<h2>The most confident mistakes</h2><table>\n");
    size_t *wrong = malloc((n ? n : 1) * sizeof *wrong), nw = 0;
    for (size_t q = 0; wrong && q < n; q++)
        if (knn_predictions_label(r->pr, q) != knn_dataset_label(r->test, q))
            wrong[nw++] = q;
    sorting = r;
    if (wrong && nw > 1)
        qsort(wrong, nw, sizeof *wrong, by_confidence_desc);
    for (size_t i = 0; i < nw && i < 8; i++)
        neighbour_row(f, r, wrong[i]);
    fprintf(f, "</table>%s\n", nw ? "" : "<p>None.</p>");
    free(wrong);
    fprintf(f, "<p class=\"small\">Made by knn %s.</p></body></html>\n", KNN_VERSION);
}

/* Wrong predictions by the share of the vote their predicted class got, highest first. */
static int by_confidence_desc(const void *a, const void *b)
{
    const knn_predictions *pr = sorting->pr;
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    float sx = knn_predictions_scores(pr, x)[knn_predictions_label(pr, x)];
    float sy = knn_predictions_scores(pr, y)[knn_predictions_label(pr, y)];
    if (sx != sy)
        return sx > sy ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* The images that train's and test's features were computed from: the same specs loaded
 * with the same conversion, without the network. A set that holds features already (a model
 * file, knn embed's output) has no images: it stays NULL. */
static void load_pictures(const char *train_spec, const char *test_spec, const cli_common *c,
                         const knn_dataset *train, const knn_dataset *test,
                         knn_dataset **train_pics, knn_dataset **test_pics)
{
    cli_common raw = *c;
    raw.features_path = NULL;
    raw.quiet = true;
    knn_load_options conv = {0};
    knn_load_options_like(train, &conv);
    raw.width = conv.width;
    raw.height = conv.height;
    raw.channels = conv.channels;
    raw.crop_none = !conv.crop;
    raw.size_given = raw.channels_given = raw.crop_given = true;
    knn_dataset *t = NULL;
    if (!cli_load(train_spec, &raw, c->train_limit, false, &t) &&
        knn_dataset_dtype(t) == KNN_U8 && knn_dataset_count(t) == knn_dataset_count(train))
        *train_pics = t;
    else
        knn_dataset_free(t);
    t = NULL;
    if (!cli_load(test_spec, &raw, c->limit, false, &t) && knn_dataset_dtype(t) == KNN_U8 &&
        knn_dataset_count(t) == knn_dataset_count(test))
        *test_pics = t;
    else
        knn_dataset_free(t);
}

int cmd_report(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"metric", required_argument, NULL, OPT_METRIC},
        {"weights", required_argument, NULL, OPT_WEIGHTS},
        {"ties", required_argument, NULL, OPT_TIES},
        CLI_INDEX_LONG_OPTIONS,
        {"samples", required_argument, NULL, OPT_SAMPLES},
        {"output", required_argument, NULL, 'o'},
        CLI_FOLD_LONG_OPTIONS,
        CLI_TEST_LONG_OPTIONS,
        CLI_COMMON_LONG_OPTIONS,
        {NULL, 0, NULL, 0}};
    knn_params params = knn_params_default();
    params.k = 5;
    cli_common common = {0};
    const char *output = NULL;
    long samples = 12;
    int opt, code = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":k:o:qh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'o': output = optarg; break;
        case OPT_SAMPLES:
            if (!cli_parse_long("--samples", optarg, 0, 1000, &samples))
                return EXIT_USAGE;
            break;
        case 'h': fputs(help, stdout); return 0;
        default:
            if ((code = cli_shared_option(opt, argv, &common, &params)))
                return code;
        }
    }
    if (argc - optind != 2)
        return cli_usage_error("give TRAIN and TEST data sets (%d given)", argc - optind);
    if (!output)
        return cli_usage_error("say where to write the page: -o report.html");
    const char *train_spec = argv[optind], *test_spec = argv[optind + 1];
    knn_dataset *train = NULL, *test = NULL, *train_pics = NULL, *test_pics = NULL;
    knn_predictions *pr = NULL;
    knn_metrics m = {0};
    knn_cv_result *cvr = NULL;
    knn_status st;
    if ((st = cli_load(train_spec, &common, common.train_limit, false, &train))) {
        code = cli_library_error(st);
        goto done;
    }
    if ((code = cli_load_test(test_spec, &common, false, train, &test)))
        goto done;
    /* a model's own settings first (so that -k auto cross-validates with them) */
    cli_common fixed = common;
    fixed.k_auto = false;
    if ((code = cli_settings(train, &fixed, &params)))
        goto done;
    /* -k auto: keep the cross-validation for the plot */
    cli_auto_k cv_run = {0};
    cli_cv_report cv = {train_spec, &cv_run.options, NULL, 0, 0};
    int nauto;
    const knn_metric *all = cli_auto_metrics(train, &nauto);
    if (common.k_auto) {
        if ((code = cli_choose_k(train, &params, common.metric_given ? &params.metric : all,
                                 common.metric_given ? 1 : nauto, &common, &cv_run)))
            goto done;
        cvr = cv_run.result;
        cv.result = cvr;
        cv.best_m = cv_run.best_m;
        cv.best_k = cv_run.best_k;
    }
    if ((code = cli_evaluate(train, test, &params, common.quiet, &m, &pr)))
        goto done;
    /* features: the pictures are the images they were computed from, kept with them (up to
     * 256 MiB), else loaded again as they were (or, where neither works, shown by number) */
    if (knn_dataset_features(train) &&
        (!knn_dataset_picture(train, 0) || !knn_dataset_picture(test, 0)))
        load_pictures(train_spec, test_spec, &common, train, test, &train_pics, &test_pics);
    report r = {train, test, pr, &m, &params, train_spec, test_spec,
                train_pics ? train_pics : train, test_pics ? test_pics : test};
    cli_output out;
    if (!cli_output_open(&out, output)) {
        code = EXIT_ERROR;
        goto done;
    }
    const bool to_stdout = out.f == stdout;
    write_report(out.f, &r, cvr ? &cv : NULL, (int)samples);
    if (!cli_output_commit(&out))
        code = EXIT_ERROR;
    else if (!common.quiet && !to_stdout)
        printf("Wrote %s: accuracy %.2f%% with K = %d, %s\n", output, 100 * m.accuracy,
               params.k, knn_metric_name(params.metric));
done:
    knn_predictions_free(pr);
    knn_metrics_free(&m);
    knn_cv_result_free(cvr);
    knn_dataset_free(train);
    knn_dataset_free(test);
    knn_dataset_free(train_pics);
    knn_dataset_free(test_pics);
    return code;
}
