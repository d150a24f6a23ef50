/* onnx_none.c: the ONNX runner where this knn was built without OpenCV's dnn module
 * (onnx.cpp is built instead where libopencv-dnn-dev is installed). */
#include "onnx.h"

#include <stdlib.h>
#include <string.h>

#define NOT_BUILT "this knn was built without the ONNX runtime (install libopencv-dnn-dev and rebuild)"

static char *not_built(void)
{
    char *s = malloc(sizeof NOT_BUILT);
    if (s)
        memcpy(s, NOT_BUILT, sizeof NOT_BUILT);
    return s;
}

bool knn__onnx_available(void) { return false; }

char *knn__onnx_open(const void *bytes, size_t size, knn__onnx **out)
{
    (void)bytes;
    (void)size;
    *out = NULL;
    return not_built();
}

char *knn__onnx_forward(knn__onnx *net, const float *in, int n, int c, int h, int w,
                        float **out, size_t *dim)
{
    (void)net, (void)in, (void)n, (void)c, (void)h, (void)w;
    *out = NULL;
    *dim = 0;
    return not_built();
}

void knn__onnx_free(knn__onnx *net) { (void)net; }
