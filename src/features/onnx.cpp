// onnx.cpp: the ONNX runner (onnx.h) on OpenCV's dnn module. The library's only C++: every
// call catches every exception and turns it into a one-line reason, so nothing C++ escapes
// into the C library, and no OpenCV type appears outside this file.
#include "onnx.h"

#include <opencv2/dnn.hpp>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <string>

struct knn__onnx {
    cv::dnn::Net net;
};

// A malloc'd copy of a printf-style message, one line (OpenCV's own messages can hold line
// breaks), or NULL where even that fails.
static char *reason(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    for (char *p = buf; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    size_t n = strlen(buf);
    while (n && buf[n - 1] == ' ')
        buf[--n] = '\0';
    char *out = static_cast<char *>(malloc(n + 1));
    if (out)
        memcpy(out, buf, n + 1);
    return out;
}

bool knn__onnx_available(void) { return true; }

char *knn__onnx_open(const void *bytes, size_t size, knn__onnx **out)
{
    *out = nullptr;
    knn__onnx *o = nullptr;
    try {
        o = new knn__onnx;
        o->net = cv::dnn::readNetFromONNX(static_cast<const char *>(bytes), size);
        if (o->net.empty()) {
            delete o;
            return reason("not an ONNX network that OpenCV can run");
        }
        o->net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
        o->net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
        *out = o;
        return nullptr;
    } catch (const cv::Exception &e) {
        delete o;
        return reason("not an ONNX network that OpenCV can run: %s", e.err.c_str());
    } catch (const std::bad_alloc &) {
        delete o;
        return reason("out of memory");
    } catch (const std::exception &e) {
        delete o;
        return reason("not an ONNX network that OpenCV can run: %s", e.what());
    } catch (...) {
        delete o;
        return reason("not an ONNX network that OpenCV can run");
    }
}

char *knn__onnx_forward(knn__onnx *o, const float *in, int n, int c, int h, int w, float **out,
                        size_t *dim)
{
    *out = nullptr;
    *dim = 0;
    try {
        const int shape[4] = {n, c, h, w};
        // a header over the caller's floats, no copy (setInput copies what it keeps)
        cv::Mat blob(4, shape, CV_32F, const_cast<float *>(in));
        o->net.setInput(blob);
        cv::Mat y = o->net.forward();
        if (y.type() != CV_32F || y.dims < 1 || y.size[0] != n || !y.isContinuous())
            return reason("the network's output is not one float32 tensor with a row per "
                          "image");
        size_t d = y.total() / (size_t)n;
        if (d == 0)
            return reason("the network's output is empty");
        float *buf = static_cast<float *>(malloc((size_t)n * d * sizeof(float)));
        if (!buf)
            return reason("out of memory");
        memcpy(buf, y.ptr<float>(), (size_t)n * d * sizeof(float));
        *out = buf;
        *dim = d;
        return nullptr;
    } catch (const cv::Exception &e) {
        return reason("the network cannot run on %d x %d x %d inputs: %s", c, h, w,
                      e.err.c_str());
    } catch (const std::bad_alloc &) {
        return reason("out of memory");
    } catch (const std::exception &e) {
        return reason("the network failed: %s", e.what());
    } catch (...) {
        return reason("the network failed");
    }
}

void knn__onnx_free(knn__onnx *o) { delete o; }
