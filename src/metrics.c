/* metrics.c: accuracy, top-5 accuracy (ImageNet's metric: the true label is among the five
 * best-ranked classes), per-class accuracy and the confusion matrix (up to
 * KNN_MAX_CONFUSION_CLASSES classes: its size grows with the square of the classes). */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

knn_status knn_metrics_compute(const int32_t *truth, const int32_t *ranking, size_t n,
                               int num_classes, knn_metrics *m)
{
    memset(m, 0, sizeof *m);
    if (num_classes < 1 || num_classes > KNN_MAX_CLASSES)
        return knn__fail(KNN_ERR_ARG, "metrics: %d classes is outside 1..%d", num_classes,
                         KNN_MAX_CLASSES);
    const size_t C = (size_t)num_classes;
    for (size_t i = 0; i < n; i++)
        if (truth[i] < -1 || truth[i] >= num_classes)
            return knn__fail(KNN_ERR_ARG, "metrics: true label %d of query %zu is outside 0..%d",
                             (int)truth[i], i, num_classes - 1);
    m->num_classes = num_classes;
    m->class_total = calloc(C, sizeof *m->class_total);
    m->class_correct = calloc(C, sizeof *m->class_correct);
    const bool confusion = C <= KNN_MAX_CONFUSION_CLASSES;
    m->confusion = confusion ? calloc(C * C, sizeof *m->confusion) : NULL;
    if (!m->class_total || !m->class_correct || (confusion && !m->confusion)) {
        knn_metrics_free(m);
        return knn__fail(KNN_ERR_NOMEM, "out of memory for a %zu x %zu confusion matrix", C, C);
    }
    const size_t top = C < 5 ? C : 5;
    for (size_t i = 0; i < n; i++) {
        const int32_t *r = ranking + i * C;
        if (truth[i] < 0) /* a class the training set lacks: wrong, whatever the vote */
            continue;
        size_t t = (size_t)truth[i];
        m->class_total[t]++;
        if (m->confusion)
            m->confusion[t * C + (size_t)r[0]]++;
        if ((size_t)r[0] == t) {
            m->correct++;
            m->class_correct[t]++;
        }
        for (size_t j = 0; j < top; j++)
            if ((size_t)r[j] == t) {
                m->top5_correct++;
                break;
            }
    }
    m->total = n;
    m->accuracy = n ? (double)m->correct / (double)n : 0.0;
    m->top5_accuracy = n ? (double)m->top5_correct / (double)n : 0.0;
    return KNN_OK;
}

void knn_metrics_free(knn_metrics *m)
{
    free(m->class_total);
    free(m->class_correct);
    free(m->confusion);
    memset(m, 0, sizeof *m);
}
