/* fuzz.h: what the fuzz targets share. Each target defines LLVMFuzzerTestOneInput; it is
 * built with clang's libFuzzer (`make fuzz`) or with driver.c and gcc (`make fuzz-quick`, part
 * of `make test`), both with AddressSanitizer and UndefinedBehaviorSanitizer. The readers take
 * files, so the input is written to a file in a private temporary folder first. */
#ifndef KNN_FUZZ_H
#define KNN_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The path of `name` in this process's temporary folder (static storage). */
static inline const char *fuzz_path(const char *name)
{
    static char dir[64];
    static char path[4][256];
    static int next;
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/knn-fuzz-%d", (int)getpid());
        char cmd[96];
        snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
        if (system(cmd) != 0)
            abort();
    }
    char *p = path[next++ % 4];
    snprintf(p, 256, "%s/%s", dir, name);
    return p;
}

static inline void fuzz_write(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);
}

#endif
