/* plot.c: the cross-validation figure as SVG, written as text, and as PNG, the same SVG
 * rendered by librsvg (where knn was built with it: KNN_RSVG), never by a rasteriser of our
 * own. K is on a true numeric axis, as in the lecture's figure: linear, or logarithmic when
 * the Ks span more than a factor of 20 (1 to 100 evenly spaced by index would stretch the
 * small Ks and squash the large ones). Per K: each fold's accuracy as a dot, the mean as a
 * line through the Ks, an error bar of one standard deviation; one colour per metric,
 * slightly offset so that the metrics do not hide each other; the chosen setting ringed and
 * named. A hold-out split is one validation accuracy per K: no spread, labelled so. */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef KNN_RSVG
#include <cairo.h>
#include <librsvg/rsvg.h>
#endif

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
    /* the K axis: numeric, log when the Ks span more than a factor of 20 */
    const double kmin = o->ks[order[0]], kmax = o->ks[order[nk - 1]];
    const bool logk = kmax / kmin > 20;
    const double u0 = logk ? log(kmin) : kmin, u1 = logk ? log(kmax) : kmax;
#define KX(k) (LEFT + pw * (u1 > u0 ? 0.05 + 0.9 * ((logk ? log(k) : (k)) - u0) / (u1 - u0) : 0.5))
#define X(a, m) (KX((double)o->ks[order[a]]) + (nm > 1 ? ((m) - (nm - 1) / 2.0) * 5.0 : 0.0))
#define Y(acc) (TOP + ph * (1 - (100 * (acc) - ylo) / (yhi - ylo)))
    const bool holdout = o->val_fraction > 0;

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
    /* K ticks: 1, 2, 5, 10, 20, 50... on a log axis, a 1-2-5 step on a linear one; every K
     * tried gets a short mark */
    double kstep = 1; /* 1, 2, 5, 10, 20, 50, ... */
    for (int i = 0; !logk && (kmax - kmin) / kstep > 8; i++)
        kstep *= i % 3 == 1 ? 2.5 : 2;
    for (double t = logk ? 1 : ceil(kmin / kstep) * kstep; t <= kmax * (1 + 1e-9);) {
        if (t >= kmin * (1 - 1e-9)) {
            double x = KX(t);
            fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>\n",
                    x, TOP, x, TOP + ph);
            fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n", x,
                    TOP + (int)ph + 20, t);
        }
        if (logk) { /* 1, 2, 5, 10, ... */
            double d = pow(10, floor(log10(t) + 1e-9)), lead = t / d;
            t = (lead < 1.5 ? 2 : lead < 3 ? 5 : 10) * d;
        } else {
            t += kstep;
        }
    }
    for (int a = 0; a < nk; a++)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n",
                KX((double)o->ks[order[a]]), TOP + ph, KX((double)o->ks[order[a]]), TOP + ph - 6);
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" "
               "stroke=\"#333\"/>\n",
            LEFT, TOP, pw, ph);
    fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">K (nearest neighbours "
               "that vote)%s; marks: the Ks tried</text>\n",
            LEFT + pw / 2, H - 14, logk ? ", log scale" : "");
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
        /* error bars: mean +- std (none for one validation split) */
        for (int a = 0; a < nk && !holdout; a++) {
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
        fprintf(f, "<text x=\"%d\" y=\"%d\">%s%s</text>\n", W - RIGHT + 46, ly + 4,
                knn_metric_name(o->metrics[m]), holdout ? "" : " mean");
    }
    int ly = TOP + 20 + 24 * nm;
    fprintf(f, "<circle cx=\"%d\" cy=\"%d\" r=\"2.5\" fill=\"#555\"/><text x=\"%d\" y=\"%d\">"
               "%s</text>\n",
            W - RIGHT + 27, ly, W - RIGHT + 46, ly + 4, holdout ? "validation" : "one fold");
    if (!holdout)
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
#undef KX
}

#ifdef KNN_RSVG
bool cli_png_available(void) { return true; }

static cairo_status_t write_stream(void *f, const unsigned char *data, unsigned int n)
{
    return fwrite(data, 1, n, f) == n ? CAIRO_STATUS_SUCCESS : CAIRO_STATUS_WRITE_ERROR;
}

bool cli_plot_cv_png(FILE *f, const cli_cv_report *rep)
{
    char *svg = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&svg, &n);
    if (!m)
        return false;
    cli_plot_cv_svg(m, rep);
    if (fclose(m) != 0) {
        free(svg);
        return false;
    }
    GError *err = NULL;
    RsvgHandle *h = rsvg_handle_new_from_data((const guint8 *)svg, n, &err);
    free(svg);
    bool ok = h != NULL;
    if (ok) { /* twice the SVG's size, for sharp text on high-density screens */
        cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 2 * W, 2 * H);
        cairo_t *cr = cairo_create(s);
        RsvgRectangle viewport = {0, 0, 2 * W, 2 * H};
        ok = rsvg_handle_render_document(h, cr, &viewport, &err);
        cairo_destroy(cr);
        ok = ok && cairo_surface_write_to_png_stream(s, write_stream, f) == CAIRO_STATUS_SUCCESS;
        cairo_surface_destroy(s);
        g_object_unref(h);
    }
    if (err)
        g_error_free(err);
    return ok;
}
#else
bool cli_png_available(void) { return false; }
bool cli_plot_cv_png(FILE *f, const cli_cv_report *rep)
{
    (void)f;
    (void)rep;
    return false;
}
#endif
