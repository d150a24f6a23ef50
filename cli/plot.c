/* plot.c: the cross-validation figure as SVG, written as text (SVG is a text format; no
 * rasterising). Per K, evenly spaced: each fold's accuracy as a dot, the mean as a line
 * through the Ks, an error bar of one standard deviation; one colour per metric, slightly
 * offset so that the metrics do not hide each other; the chosen setting ringed and named. */
#include "cli.h"

#include <math.h>
#include <string.h>

#define W 760
#define H 480
#define LEFT 70
#define RIGHT 150
#define TOP 50
#define BOTTOM 60

static const char *const colours[3] = {"#1f77b4", "#d62728", "#2ca02c"}; /* by metric */

void cli_plot_cv_svg(FILE *f, const cli_cv_report *rep)
{
    const knn_cv_options *o = rep->options;
    const knn_cv_result *r = rep->result;
    const int folds = knn_cv_folds(r), nk = o->nk, nm = o->nmetrics;
    /* the Ks in increasing order */
    int order[64];
    for (int a = 0; a < nk; a++) {
        int b = a;
        for (; b > 0 && o->ks[order[b - 1]] > o->ks[a]; b--)
            order[b] = order[b - 1];
        order[b] = a;
    }
    double lo = 1, hi = 0;
    for (int m = 0; m < nm; m++)
        for (int a = 0; a < nk; a++) {
            double mean = knn_cv_mean(r, m, a), sd = knn_cv_std(r, m, a);
            lo = fmin(lo, mean - sd);
            hi = fmax(hi, mean + sd);
            for (int fo = 0; fo < folds && folds <= 50; fo++) {
                lo = fmin(lo, knn_cv_accuracy(r, m, a, fo));
                hi = fmax(hi, knn_cv_accuracy(r, m, a, fo));
            }
        }
    /* y axis in percent, on a step of 0.5, 1, 2 or 5 */
    double ylo = 100 * lo, yhi = 100 * hi, span = fmax(yhi - ylo, 1.0);
    double step = span / 6 <= 0.5 ? 0.5 : span / 6 <= 1 ? 1 : span / 6 <= 2 ? 2 : 5;
    ylo = floor((ylo - step / 2) / step) * step;
    yhi = ceil((yhi + step / 2) / step) * step;
    const double pw = W - LEFT - RIGHT, ph = H - TOP - BOTTOM;
#define X(a, m) (LEFT + pw * ((a) + 0.5) / nk + (nm > 1 ? ((m) - 0.5) * 10.0 : 0.0))
#define Y(acc) (TOP + ph * (1 - (100 * (acc) - ylo) / (yhi - ylo)))

    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"13\">\n",
            W, H, W, H);
    fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", W, H);
    fprintf(f, "<text x=\"%d\" y=\"28\" font-size=\"16\" text-anchor=\"middle\">", W / 2);
    if (o->val_fraction > 0)
        fprintf(f, "Validation accuracy against K (hold-out) on ");
    else
        fprintf(f, "%d-fold cross-validation on ", folds);
    cli_xml_text(f, rep->train_spec);
    fprintf(f, "</text>\n");
    /* grid and y ticks */
    for (double y = ylo; y <= yhi + 1e-9; y += step) {
        double py = TOP + ph * (1 - (y - ylo) / (yhi - ylo));
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>\n",
                LEFT, py, LEFT + pw, py);
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", LEFT - 8,
                py + 4, y);
    }
    for (int a = 0; a < nk; a++)
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%d</text>\n",
                LEFT + pw * (a + 0.5) / nk, TOP + (int)ph + 20, o->ks[order[a]]);
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" "
               "stroke=\"#333\"/>\n",
            LEFT, TOP, pw, ph);
    fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">K (nearest neighbours "
               "that vote)</text>\n",
            LEFT + pw / 2, H - 14);
    fprintf(f, "<text transform=\"translate(20 %.1f) rotate(-90)\" text-anchor=\"middle\">"
               "validation accuracy (%%)</text>\n",
            TOP + ph / 2);
    for (int m = 0; m < nm; m++) {
        const char *c = colours[o->metrics[m] == KNN_COSINE ? 2 : o->metrics[m] == KNN_L2];
        /* fold accuracies: dots (skipped for leave-one-out-like many folds) */
        for (int a = 0; a < nk && folds <= 50; a++)
            for (int fo = 0; fo < folds; fo++)
                fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\" "
                           "fill-opacity=\"0.45\"/>\n",
                        X(a, m), Y(knn_cv_accuracy(r, m, order[a], fo)), c);
        /* error bars: mean +- std */
        for (int a = 0; a < nk; a++) {
            double mean = knn_cv_mean(r, m, order[a]), sd = knn_cv_std(r, m, order[a]);
            double x = X(a, m);
            fprintf(f, "<path d=\"M%.1f %.1fV%.1fM%.1f %.1fh8M%.1f %.1fh8\" stroke=\"%s\" "
                       "fill=\"none\"/>\n",
                    x, Y(mean - sd), Y(mean + sd), x - 4, Y(mean - sd), x - 4, Y(mean + sd),
                    c);
        }
        /* the mean: a line through the Ks */
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", c);
        for (int a = 0; a < nk; a++)
            fprintf(f, "%s%.1f,%.1f", a ? " " : "", X(a, m), Y(knn_cv_mean(r, m, order[a])));
        fprintf(f, "\"/>\n");
        /* legend */
        int ly = TOP + 20 + 24 * m;
        fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" "
                   "stroke-width=\"2\"/>\n",
                W - RIGHT + 15, ly, W - RIGHT + 40, ly, c);
        fprintf(f, "<text x=\"%d\" y=\"%d\">%s mean</text>\n", W - RIGHT + 46, ly + 4,
                knn_metric_name(o->metrics[m]));
    }
    int ly = TOP + 20 + 24 * nm;
    fprintf(f, "<circle cx=\"%d\" cy=\"%d\" r=\"2.5\" fill=\"#555\"/><text x=\"%d\" y=\"%d\">"
               "one fold</text>\n",
            W - RIGHT + 27, ly, W - RIGHT + 46, ly + 4);
    fprintf(f, "<path d=\"M%d %dv16M%d %dh8M%d %dh8\" stroke=\"#555\"/><text x=\"%d\" "
               "y=\"%d\">&#177; 1 std</text>\n",
            W - RIGHT + 27, ly + 14, W - RIGHT + 23, ly + 14, W - RIGHT + 23, ly + 30,
            W - RIGHT + 46, ly + 26);
    /* the chosen setting */
    int chosen = 0;
    for (int a = 0; a < nk; a++)
        if (order[a] == rep->best_k)
            chosen = a;
    double bx = X(chosen, rep->best_m), by = Y(knn_cv_mean(r, rep->best_m, rep->best_k));
    fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"8\" fill=\"none\" stroke=\"black\" "
               "stroke-width=\"2\"/>\n",
            bx, by);
    fprintf(f, "<text x=\"%d\" y=\"%d\">chosen: K = %d,</text>\n", W - RIGHT + 15, ly + 60,
            o->ks[rep->best_k]);
    fprintf(f, "<text x=\"%d\" y=\"%d\">%s, %.2f%%</text>\n", W - RIGHT + 15, ly + 78,
            knn_metric_name(o->metrics[rep->best_m]),
            100 * knn_cv_mean(r, rep->best_m, rep->best_k));
    fprintf(f, "</svg>\n");
#undef X
#undef Y
}
