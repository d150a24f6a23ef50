/* fuzz_cifar.c: the CIFAR reader (and the format detection by size) on any bytes, under the
 * names of a CIFAR-10 and a CIFAR-100 batch, fine and coarse labels. */
#include "fuzz.h"
#include "knn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[3] = {"data_batch_1.bin", "train.bin", "any.bin"};
    for (int n = 0; n < 3; n++) {
        fuzz_write(fuzz_path(names[n]), data, size);
        knn_load_options o = {.limit = 100, .coarse_labels = n == 1 && size % 2};
        knn_dataset *ds = NULL;
        if (knn_dataset_load(fuzz_path(names[n]), &o, &ds) == KNN_OK) {
            for (int c = 0; c < knn_dataset_num_classes(ds); c++)
                (void)knn_dataset_class_name(ds, c);
            knn_dataset_free(ds);
        }
    }
    return 0;
}
