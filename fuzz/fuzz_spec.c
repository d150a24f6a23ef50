/* fuzz_spec.c: data set specs (files, FOLDER:SPLIT, NAME:SPLIT) as arbitrary strings. */
#include "fuzz.h"
#include "knn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *spec = malloc(size + 1);
    if (size)
        memcpy(spec, data, size);
    spec[size] = '\0';
    knn_dataset *ds = NULL;
    knn_load_options o = {.limit = 10};
    setenv("KNN_DATA", "/nonexistent-knn-fuzz", 1);
    if (knn_dataset_load(spec, &o, &ds) == KNN_OK)
        knn_dataset_free(ds);
    free(spec);
    return 0;
}
