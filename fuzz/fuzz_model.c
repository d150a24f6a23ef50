/* fuzz_model.c: the model file reader on any bytes (the magic prepended when the input lacks
 * it, so the fuzzer spends its time past the first check), then a search with what loaded. */
#include "fuzz.h"
#include "knn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_path("m.knn");
    if (size >= 8 && !memcmp(data, "KNNMODEL", 8)) {
        fuzz_write(path, data, size);
    } else {
        uint8_t *buf = malloc(size + 8);
        memcpy(buf, "KNNMODEL", 8);
        if (size)
            memcpy(buf + 8, data, size);
        fuzz_write(path, buf, size + 8);
        free(buf);
    }
    knn_dataset *ds = NULL;
    if (knn_dataset_load(path, NULL, &ds) == KNN_OK) {
        knn_params p = knn_params_default();
        knn_model_params(ds, &p);
        knn_neighbors *nb = NULL;
        if (knn_dataset_count(ds) > 0 && (size_t)p.k <= knn_dataset_count(ds) &&
            knn_search(ds, ds, &p, &nb) == KNN_OK)
            knn_neighbors_free(nb);
        knn_dataset_free(ds);
    }
    return 0;
}
