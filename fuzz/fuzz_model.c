/* fuzz_model.c: the model file reader on any bytes, then a search with what loaded. The magic
 * is prepended when the input lacks it and, for inputs long enough to hold a header, the
 * CRC-32 is set right, so that the fuzzer spends its time past the first checks, on the
 * sizes, offsets and sections. */
#include "fuzz.h"
#include "knn.h"

#include <zlib.h>

/* Sets the checksum field (bytes 24..31) to the CRC-32 of the file with that field zeroed. */
static void fix_checksum(const char *path)
{
    FILE *f = fopen(path, "r+b");
    if (!f)
        return;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    if (n >= 256) {
        unsigned char *buf = malloc((size_t)n);
        rewind(f);
        if (buf && fread(buf, 1, (size_t)n, f) == (size_t)n) {
            memset(buf + 24, 0, 8);
            uint64_t crc = crc32(crc32(0, Z_NULL, 0), buf, (uInt)n);
            fseek(f, 24, SEEK_SET);
            fwrite(&crc, 8, 1, f);
        }
        free(buf);
    }
    fclose(f);
}

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
    fix_checksum(path);
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
