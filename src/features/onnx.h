/* onnx.h: the ONNX runner behind a C interface (DESIGN.md decision 13). onnx.cpp implements
 * it with OpenCV's dnn module, the one C++ file of the library, built where Debian's
 * libopencv-dnn-dev is installed; onnx_none.c stands in where it is not, and says so. Every
 * function returns NULL on success or a malloc'd one-line reason (no file name: the caller
 * names the file). No C++ exception crosses this interface. */
#ifndef KNN_ONNX_H
#define KNN_ONNX_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct knn__onnx knn__onnx;

/* True where the runner is built in. */
bool knn__onnx_available(void);
/* Parses a network from `size` bytes of ONNX (copied by the runner as it needs). */
char *knn__onnx_open(const void *bytes, size_t size, knn__onnx **out);
/* Runs n inputs of shape (c, h, w), float32 NCHW at `in`, through the network: *out (n, *dim)
 * float32, malloc'd. Not to be called on one network from two threads at once. */
char *knn__onnx_forward(knn__onnx *net, const float *in, int n, int c, int h, int w,
                        float **out, size_t *dim);
void knn__onnx_free(knn__onnx *net);

#ifdef __cplusplus
}
#endif

#endif
