/* boundary.c: the decision-boundary demo's computation, apart from HTTP so that it can be
 * fuzzed on its own: a JSON request in, the classified grid (or an error) as JSON out. The
 * points become a float32 training set, the grid cells' centres the queries, and the
 * library's own search and vote label them; a cell is "tied" when its two best classes got
 * the same vote (the demo paints those white). Every field is checked against its limits,
 * and the JSON is read strictly: one value and nothing after it but white space, and no NUL
 * in a string (cJSON decodes \u0000 into a C string that then ends early, so that
 * "l1\u0000x" would read as "l1"). */
#include "cli.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_POINTS 2000
#define MAX_GRID 256
#define MAX_DEMO_K 50

/* A number field in [lo, hi], or def when absent; false if present and bad. */
static bool number_field(const cJSON *obj, const char *name, double lo, double hi, double def,
                         double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v) {
        *out = def;
        return true;
    }
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < lo ||
        v->valuedouble > hi)
        return false;
    *out = v->valuedouble;
    return true;
}

/* True if the JSON text holds a NUL: a raw zero byte anywhere (never valid JSON), or a
 * \u0000 escape in a string (a key or a value). */
static bool has_nul(const char *s, size_t n)
{
    bool in_string = false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\0')
            return true;
        if (!in_string)
            in_string = s[i] == '"';
        else if (s[i] == '"')
            in_string = false;
        else if (s[i] == '\\') {
            if (n - i > 5 && !memcmp(s + i + 1, "u0000", 5))
                return true;
            i++; /* skip the escaped character: \" does not end the string, and in \\u0000
                  * the second backslash is text, not the start of an escape */
        }
    }
    return false;
}

/* The body parsed as one JSON object with nothing after it but white space, or NULL (with
 * *why saying what is wrong). */
static cJSON *parse_object(const char *body, size_t n, const char **why)
{
    if (has_nul(body, n)) {
        *why = "the body holds a NUL character (\\u0000)";
        return NULL;
    }
    const char *end = NULL;
    cJSON *in = n ? cJSON_ParseWithLengthOpts(body, n, &end, 0) : NULL;
    if (!in || !cJSON_IsObject(in)) {
        *why = "the body is not a JSON object";
        cJSON_Delete(in);
        return NULL;
    }
    while (end < body + n && memchr(" \t\r\n", *end, 4))
        end++;
    if (end != body + n) {
        *why = "the body has text after its JSON object";
        cJSON_Delete(in);
        return NULL;
    }
    return in;
}

/* {"error": msg} as a malloc'd string. */
static char *error_json(const char *msg)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "error", msg);
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return text;
}

int cli_boundary(const char *body, size_t n_body, char **out_json)
{
    *out_json = NULL;
    const char *not_json = NULL;
    cJSON *in = parse_object(body, n_body, &not_json);
    if (!in) {
        *out_json = error_json(not_json);
        return 400;
    }
    const cJSON *pts = cJSON_GetObjectItemCaseSensitive(in, "points");
    int n = cJSON_GetArraySize(pts);
    double k, grid;
    knn_params p = knn_params_default();
    p.threads = 1;
    const cJSON *metric = cJSON_GetObjectItemCaseSensitive(in, "metric");
    const cJSON *weights = cJSON_GetObjectItemCaseSensitive(in, "weights");
    const char *bad = NULL;
    if (!cJSON_IsArray(pts) || n < 1 || n > MAX_POINTS)
        bad = "points: give an array of 1 to 2000 points";
    else if (!number_field(in, "k", 1, MAX_DEMO_K, 1, &k) || k != floor(k) || k > n)
        bad = "k: a whole number from 1 to 50, at most the number of points";
    else if (!number_field(in, "grid", 2, MAX_GRID, 100, &grid) || grid != floor(grid))
        bad = "grid: a whole number from 2 to 256";
    else if (metric && (!cJSON_IsString(metric) || knn_metric_parse(metric->valuestring, &p.metric) ||
                        p.metric == KNN_COSINE)) /* the demo's plane: l1 and l2 only */
        bad = "metric: l1 or l2";
    else if (weights &&
             (!cJSON_IsString(weights) || knn_weights_parse(weights->valuestring, &p.weights)))
        bad = "weights: uniform or distance";
    float *xy = bad ? NULL : malloc((size_t)n * 2 * sizeof *xy);
    int32_t *labels = bad ? NULL : malloc((size_t)n * sizeof *labels);
    if (!bad && (!xy || !labels))
        bad = "out of memory";
    int classes = 0;
    for (int i = 0; !bad && i < n; i++) {
        const cJSON *pt = cJSON_GetArrayItem(pts, i);
        double x, y, label;
        if (!cJSON_IsObject(pt) || !cJSON_GetObjectItemCaseSensitive(pt, "x") ||
            !cJSON_GetObjectItemCaseSensitive(pt, "y") ||
            !number_field(pt, "x", -10, 10, 0, &x) || !number_field(pt, "y", -10, 10, 0, &y) ||
            !number_field(pt, "label", 0, 9, 0, &label) || label != floor(label)) {
            bad = "each point: {\"x\", \"y\"} within -10..10 and a \"label\" from 0 to 9";
            break;
        }
        xy[2 * i] = (float)x;
        xy[2 * i + 1] = (float)y;
        labels[i] = (int32_t)label;
        classes = labels[i] + 1 > classes ? labels[i] + 1 : classes;
    }
    cJSON_Delete(in);
    if (bad) {
        free(xy);
        free(labels);
        *out_json = error_json(bad);
        return 400;
    }
    p.k = (int)k;
    const int g = (int)grid;
    const size_t cells = (size_t)g * (size_t)g;
    float *q = malloc(cells * 2 * sizeof *q);
    knn_dataset *train = NULL, *queries = NULL;
    knn_predictions *pr = NULL;
    knn_status st = q ? KNN_OK : KNN_ERR_NOMEM;
    for (size_t i = 0; !st && i < cells; i++) {
        q[2 * i] = (float)(((double)(i % (size_t)g) + 0.5) / g);
        q[2 * i + 1] = (float)(((double)(i / (size_t)g) + 0.5) / g);
    }
    if (!st)
        st = knn_dataset_create_f32((size_t)n, 2, xy, labels, classes, &train);
    if (!st)
        st = knn_dataset_create_f32(cells, 2, q, NULL, 0, &queries);
    if (!st)
        st = knn_classify(train, queries, &p, &pr);
    cJSON *out = st ? NULL : cJSON_CreateObject();
    if (out) {
        cJSON_AddNumberToObject(out, "k", p.k);
        cJSON_AddStringToObject(out, "metric", knn_metric_name(p.metric));
        cJSON_AddStringToObject(out, "weights", knn_weights_name(p.weights));
        cJSON_AddNumberToObject(out, "grid", g);
        cJSON *lab = cJSON_AddArrayToObject(out, "labels"), *tie = cJSON_AddArrayToObject(out, "tied");
        for (size_t i = 0; lab && tie && i < cells; i++) {
            const float *s = knn_predictions_scores(pr, i);
            const int32_t *r = knn_predictions_ranking(pr, i);
            bool tied = classes > 1 && s[r[0]] == s[r[1]];
            cJSON_AddItemToArray(lab, cJSON_CreateNumber(knn_predictions_label(pr, i)));
            cJSON_AddItemToArray(tie, cJSON_CreateNumber(tied));
        }
    }
    const char *why = st ? knn_last_error() : NULL;
    char msg[256];
    snprintf(msg, sizeof msg, "%s", why ? why : "out of memory");
    free(xy);
    free(labels);
    free(q);
    knn_predictions_free(pr);
    knn_dataset_free(train);
    knn_dataset_free(queries);
    if (!out) {
        *out_json = error_json(msg);
        return st == KNN_ERR_ARG ? 400 : 500;
    }
    *out_json = cJSON_PrintUnformatted(out);
    cJSON_Delete(out);
    return 200;
}

