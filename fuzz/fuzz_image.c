/* fuzz_image.c: the image path (format check, caps, libjpeg-turbo or stb_image decoding, then
 * conversion and resizing) on any bytes, gray and colour, cropped and stretched, from a file
 * and from memory (as the server's uploads arrive). */
#include "fuzz.h"
#include "knn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static knn_dataset *like[2];
    if (!like[0]) {
        uint8_t zeros[3 * 16 * 16] = {0};
        knn_dataset_create(1, 16 * 16, zeros, NULL, 0, 16, 16, 1, &like[0]);
        knn_dataset_create(1, 3 * 12 * 20, zeros, NULL, 0, 12, 20, 3, &like[1]);
    }
    const char *path = fuzz_path("photo");
    fuzz_write(path, data, size);
    const char *paths[1] = {path};
    for (int i = 0; i < 2; i++) {
        knn_dataset *q = NULL;
        if (like[i] && knn_images_load(paths, 1, like[i], &q) == KNN_OK)
            knn_dataset_free(q);
        if (like[i] && knn_image_load_memory(data, size, "upload", like[i], &q) == KNN_OK)
            knn_dataset_free(q);
    }
    return 0;
}
