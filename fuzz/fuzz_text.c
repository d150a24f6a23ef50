/* fuzz_text.c: text data sets on any bytes. The first byte chooses the vectoriser (bit 0:
 * word pairs too, bit 1: stop words, bit 2: a document-frequency bound) and where the rest
 * is cut in two (in 1/32nds, bits 3-7): a training file (label<TAB>text lines) and a query
 * file, vectorised like the training set and searched. */
#include "fuzz.h"
#include "knn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const unsigned flags = data[0];
    size_t cut = 1 + (size - 1) * (flags >> 3) / 32;
    fuzz_write(fuzz_path("train.tsv"), data + 1, cut - 1);
    fuzz_write(fuzz_path("queries.tsv"), data + cut, size - cut);
    knn_text_options t = knn_text_options_default();
    t.ngram_max = flags & 1 ? 2 : 1;
    t.stop_words = (flags >> 1) & 1;
    if (flags & 4)
        t.min_df = 2;
    knn_load_options o = {.limit = 1000, .text_options = &t};
    knn_dataset *train = NULL, *q = NULL;
    if (knn_dataset_load(fuzz_path("train.tsv"), &o, &train) != KNN_OK)
        return 0;
    knn_load_options like = {.limit = 100, .labels_optional = 1};
    knn_load_options_like(train, &like);
    if (knn_dataset_load(fuzz_path("queries.tsv"), &like, &q) == KNN_OK) {
        knn_params p = knn_params_default();
        p.metric = KNN_COSINE;
        p.k = knn_dataset_count(train) < 3 ? (int)knn_dataset_count(train) : 3;
        p.threads = 1;
        knn_neighbors *nb = NULL;
        if (knn_search(train, q, &p, &nb) == KNN_OK &&
            knn_neighbors_index(nb, 0, 0) >= knn_dataset_count(train))
            abort(); /* a neighbour outside the training set */
        knn_neighbors_free(nb);
        knn_dataset_free(q);
    }
    knn_dataset_free(train);
    return 0;
}
