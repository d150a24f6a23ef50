/* fuzz_boundary.c: the JSON requests of knn serve's decision-boundary API on any bytes. */
#include "../cli/cli.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *out = NULL;
    int status = cli_boundary((const char *)data, size, &out);
    if (status != 200 && status != 400 && status != 500)
        abort();
    free(out);
    return 0;
}
