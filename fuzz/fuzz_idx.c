/* fuzz_idx.c: the IDX reader on any bytes. The input is split in two: the first byte gives
 * how much of the rest is the images file (in 1/256ths), the rest is its labels file; each
 * file is also tried gzip-compressed when its first bytes say so. */
#include "fuzz.h"
#include "knn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t cut = 1 + (size - 1) * data[0] / 256;
    fuzz_write(fuzz_path("x-images-idx3-ubyte"), data + 1, cut - 1);
    fuzz_write(fuzz_path("x-labels-idx1-ubyte"), data + cut, size - cut);
    knn_dataset *ds = NULL;
    knn_load_options o = {.limit = 1000, .labels_optional = data[0] & 1};
    if (knn_dataset_load(fuzz_path("x-images-idx3-ubyte"), &o, &ds) == KNN_OK) {
        /* touch what was loaded */
        unsigned sum = 0;
        for (size_t i = 0; i < knn_dataset_count(ds) && knn_dataset_row(ds, i); i++)
            sum += knn_dataset_row(ds, i)[knn_dataset_dim(ds) - 1] + (unsigned)knn_dataset_label(ds, i);
        if (sum == 0xFFFFFFFFu) /* keeps the reads from being optimised away */
            abort();
        knn_dataset_free(ds);
    }
    return 0;
}
