/* error.c: failures as values. Each thread keeps the message of its last failure, in the
 * spirit of stb_image's failure reason, so the caller can print one clear line. */
#include "internal.h"

#include <stdio.h>

static _Thread_local char last_error[1024];

knn_status knn__fail(knn_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}

const char *knn_last_error(void)
{
    return last_error;
}

const char *knn_status_name(knn_status status)
{
    switch (status) {
    case KNN_OK: return "ok";
    case KNN_ERR_ARG: return "invalid argument";
    case KNN_ERR_IO: return "i/o error";
    case KNN_ERR_FORMAT: return "bad file format";
    case KNN_ERR_SHAPE: return "shape mismatch";
    case KNN_ERR_LIMIT: return "size limit exceeded";
    case KNN_ERR_NOMEM: return "out of memory";
    }
    return "unknown status";
}
