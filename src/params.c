/* params.c: search and vote parameters, their defaults and their names on the command line. */
#include "internal.h"

#include <string.h>
#include <strings.h>

knn_params knn_params_default(void)
{
    knn_params p = {1, KNN_L2, KNN_WEIGHTS_UNIFORM, KNN_TIES_NEAREST, 0, NULL, NULL, 0, 0};
    return p;
}

static const char *const metric_names[] = {"l1", "l2", "cosine"};
static const char *const weights_names[] = {"uniform", "distance"};
static const char *const ties_names[] = {"nearest", "smallest-label"};

/* Index of `name` among the two `names`, in any case ("L2" as well as "l2"), or a
 * KNN_ERR_ARG naming both. */
static knn_status parse_two(const char *what, const char *const names[2], const char *name,
                            int *out)
{
    for (int i = 0; i < 2; i++)
        if (name && strcasecmp(name, names[i]) == 0) {
            *out = i;
            return KNN_OK;
        }
    return knn__fail(KNN_ERR_ARG, "unknown %s '%s' (%s or %s)", what, name ? name : "",
                     names[0], names[1]);
}

knn_status knn_metric_parse(const char *name, knn_metric *out)
{
    for (int i = 0; i < 3; i++)
        if (name && strcasecmp(name, metric_names[i]) == 0) {
            *out = (knn_metric)i;
            return KNN_OK;
        }
    return knn__fail(KNN_ERR_ARG, "unknown metric '%s' (l1, l2 or cosine)", name ? name : "");
}

knn_status knn__metric_check(knn_metric m, const knn_dataset *ds)
{
    if (m != KNN_L1 && m != KNN_L2 && m != KNN_COSINE)
        return knn__fail(KNN_ERR_ARG, "unknown metric %d", (int)m);
    if (m == KNN_COSINE && ds && ds->dtype == KNN_U8)
        return knn__fail(KNN_ERR_ARG,
                         "cosine is for float32 features; %s holds uint8 values (use l1 or l2)",
                         ds->source ? ds->source : "the data set");
    if (m != KNN_COSINE && ds && ds->dtype == KNN_SPARSE)
        return knn__fail(KNN_ERR_ARG,
                         "%s holds text, which is searched by cosine (1 - cos of the tf-idf "
                         "vectors), not %s",
                         ds->source ? ds->source : "the data set", m == KNN_L1 ? "l1" : "l2");
    return KNN_OK;
}

knn_status knn_weights_parse(const char *name, knn_weights *out)
{
    int i = 0;
    knn_status st = parse_two("weights", weights_names, name, &i);
    if (!st)
        *out = (knn_weights)i;
    return st;
}

knn_status knn_ties_parse(const char *name, knn_ties *out)
{
    int i = 0;
    knn_status st = parse_two("tie rule", ties_names, name, &i);
    if (!st)
        *out = (knn_ties)i;
    return st;
}

const char *knn_metric_name(knn_metric m)
{
    return m == KNN_L1 ? "l1" : m == KNN_COSINE ? "cosine" : "l2";
}
const char *knn_weights_name(knn_weights w) { return weights_names[w == KNN_WEIGHTS_DISTANCE]; }
const char *knn_ties_name(knn_ties t) { return ties_names[t == KNN_TIES_SMALLEST_LABEL]; }
