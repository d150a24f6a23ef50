/* _knn.c: the CPython extension module behind the Python package knn (python/knn): libknn's
 * data sets, exact search, classifier, cross-validation and model files, for numpy arrays.
 *
 * - Arrays cross by the buffer protocol only (no numpy C API at build time). Rows come in
 *   knn's own layout (64-byte-aligned rows, a stride of a multiple of 64 bytes, zero padding),
 *   which the Python side arranges, and are viewed, never copied (knn_dataset_view); the
 *   data set object holds the caller's buffer for as long as the library may read it.
 * - Results are written into buffers the Python side allocated (numpy arrays), so no result
 *   is copied twice.
 * - The GIL is released while the library loads, searches, classifies, cross-validates or
 *   writes; nothing touches a Python object in between.
 * - A failing library call raises ValueError (bad argument, shapes, limits), OSError (files:
 *   unreadable or malformed), MemoryError, or RuntimeError otherwise, with knn_last_error()'s
 *   message; every error path releases what it took. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "knn.h"

/* ---- errors ---------------------------------------------------------------------------- */

/* Raises the exception for a library failure (its message is knn_last_error()); NULL. */
static PyObject *raise_status(knn_status st)
{
    PyObject *type = PyExc_RuntimeError;
    switch (st) {
    case KNN_ERR_ARG:
    case KNN_ERR_SHAPE:
    case KNN_ERR_LIMIT: type = PyExc_ValueError; break;
    case KNN_ERR_IO:
    case KNN_ERR_FORMAT: type = PyExc_OSError; break;
    case KNN_ERR_NOMEM: type = PyExc_MemoryError; break;
    case KNN_OK: break;
    }
    PyErr_SetString(type, knn_last_error());
    return NULL;
}

/* ---- the data set object --------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    knn_dataset *ds;
    Py_buffer rows; /* a view's rows, held while ds reads them; rows.obj is NULL otherwise */
} DatasetObject;

static PyTypeObject DatasetType;

static void dataset_dealloc(DatasetObject *self)
{
    knn_dataset_free(self->ds);
    if (self->rows.obj)
        PyBuffer_Release(&self->rows);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static DatasetObject *dataset_new(void)
{
    return (DatasetObject *)DatasetType.tp_alloc(&DatasetType, 0); /* zeroed */
}

/* The data set of argument `obj`, or NULL with TypeError. */
static const knn_dataset *dataset_of(PyObject *obj, const char *what)
{
    if (!PyObject_TypeCheck(obj, &DatasetType)) {
        PyErr_Format(PyExc_TypeError, "%s must be a knn._knn.Dataset", what);
        return NULL;
    }
    return ((DatasetObject *)obj)->ds;
}

/* The element type of a buffer format: 'B', 'f', 'i', 'q', 'd' (native or little-endian
 * standard sizes), or 0. */
static char format_code(const char *format)
{
    if (!format)
        return 'B';
    if (format[0] == '@' || format[0] == '=' || (PY_LITTLE_ENDIAN && format[0] == '<'))
        format++;
    if (format[0] == 'l' && format[1] == '\0' && sizeof(long) == 8)
        return 'q';
    return format[0] && !format[1] ? format[0] : 0;
}

/* Takes a writable, C-contiguous buffer of exactly `count` elements of type `code`. */
static int output_buffer(PyObject *obj, char code, size_t itemsize, size_t count,
                         const char *what, Py_buffer *view)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_WRITABLE) < 0)
        return -1;
    if (format_code(view->format) != code || (size_t)view->itemsize != itemsize ||
        (size_t)view->len != count * itemsize) {
        PyErr_Format(PyExc_ValueError, "%s: expected %zu values of type '%c'", what, count,
                     code);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* Optional outputs: None leaves view->obj NULL. */
static int optional_output(PyObject *obj, char code, size_t itemsize, size_t count,
                           const char *what, Py_buffer *view)
{
    memset(view, 0, sizeof *view);
    return obj == Py_None ? 0 : output_buffer(obj, code, itemsize, count, what, view);
}

static void release(Py_buffer *view)
{
    if (view->obj)
        PyBuffer_Release(view);
}

PyDoc_STRVAR(view_doc,
             "view(rows, labels, num_classes) -> Dataset\n\n"
             "A data set over `rows`, a 2-D uint8 or float32 buffer in knn's layout (rows "
             "64-byte\naligned, a stride of a multiple of 64 bytes, zero padding that the "
             "buffer holds, also\nafter its last row), not copied; `labels` (int32, one a "
             "row) or None. knn_dataset_view.");

static PyObject *mod_view(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *rows_obj, *labels_obj;
    int num_classes;
    if (!PyArg_ParseTuple(args, "OOi:view", &rows_obj, &labels_obj, &num_classes))
        return NULL;
    DatasetObject *self = dataset_new();
    if (!self)
        return NULL;
    Py_buffer *r = &self->rows;
    if (PyObject_GetBuffer(rows_obj, r, PyBUF_RECORDS_RO) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    const char code = format_code(r->format);
    /* the stride of a dimension of length 1 is arbitrary (numpy's relaxed strides) */
    if (r->ndim != 2 || !(code == 'B' || code == 'f') ||
        (r->shape[1] > 1 && r->strides[1] != r->itemsize) ||
        (r->shape[0] > 1 && r->strides[0] < 0)) {
        PyErr_SetString(PyExc_ValueError,
                        "view: rows must be a 2-D uint8 or float32 array with contiguous rows");
        Py_DECREF(self);
        return NULL;
    }
    const size_t count = (size_t)r->shape[0], dim = (size_t)r->shape[1];
    const size_t stride = count > 1 ? (size_t)r->strides[0]
                                    : (dim * (size_t)r->itemsize + 63) / 64 * 64;
    Py_buffer lab = {0};
    if (labels_obj != Py_None) {
        if (PyObject_GetBuffer(labels_obj, &lab, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
            Py_DECREF(self);
            return NULL;
        }
        if (format_code(lab.format) != 'i' || lab.itemsize != 4 ||
            (size_t)lab.len != count * 4) {
            PyErr_SetString(PyExc_ValueError, "view: labels must be int32, one a row");
            PyBuffer_Release(&lab);
            Py_DECREF(self);
            return NULL;
        }
    }
    knn_status st = knn_dataset_view(count, dim, code == 'B' ? KNN_U8 : KNN_F32, r->buf,
                                     stride, lab.obj ? lab.buf : NULL,
                                     num_classes, &self->ds);
    release(&lab);
    if (st) {
        raise_status(st);
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

PyDoc_STRVAR(load_doc,
             "load(spec, limit=0, features=None, quantize=False,\n"
             "     preprocessing=(scale, mean0, mean1, mean2, std0, std1, std2, bgr, batch))"
             " -> Dataset\n\n"
             "knn_dataset_load: an IDX or CIFAR file, FOLDER:SPLIT, NAME:SPLIT, a folder of "
             "images or\na model file (mapped); labels are optional. `limit` keeps the first "
             "rows (0: all).\n`features`: an ONNX network (path) every image is run through "
             "(knn_features_open,\nwith `preprocessing`); `quantize`: its features as 8-bit "
             "codes.");

static PyObject *mod_load(PyObject *module, PyObject *args, PyObject *kwargs)
{
    (void)module;
    static char *keywords[] = {"spec", "limit", "features", "quantize", "preprocessing", NULL};
    PyObject *spec_bytes = NULL, *net_bytes = NULL;
    Py_ssize_t limit = 0;
    int quantize = 0;
    knn_features_options fo = knn_features_options_default();
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O&|nO&p(fffffffii):load", keywords,
                                     PyUnicode_FSConverter, &spec_bytes, &limit,
                                     PyUnicode_FSConverter, &net_bytes, &quantize, &fo.scale,
                                     &fo.mean[0], &fo.mean[1], &fo.mean[2], &fo.std[0],
                                     &fo.std[1], &fo.std[2], &fo.bgr, &fo.batch))
        return NULL;
    if (limit < 0) {
        Py_DECREF(spec_bytes);
        Py_XDECREF(net_bytes);
        PyErr_SetString(PyExc_ValueError, "load: limit must be 0 (all rows) or more");
        return NULL;
    }
    DatasetObject *self = dataset_new();
    if (!self) {
        Py_DECREF(spec_bytes);
        Py_XDECREF(net_bytes);
        return NULL;
    }
    knn_load_options opt = {0};
    opt.limit = (size_t)limit;
    opt.labels_optional = 1;
    opt.quantize = quantize;
    const char *spec = PyBytes_AS_STRING(spec_bytes);
    const char *net_path = net_bytes ? PyBytes_AS_STRING(net_bytes) : NULL;
    knn_features *net = NULL;
    knn_status st = KNN_OK;
    Py_BEGIN_ALLOW_THREADS
    if (net_path)
        st = knn_features_open(net_path, &fo, &net);
    opt.features = net;
    if (!st)
        st = knn_dataset_load(spec, &opt, &self->ds);
    knn_features_free(net); /* the data set holds its own reference */
    Py_END_ALLOW_THREADS
    Py_DECREF(spec_bytes);
    Py_XDECREF(net_bytes);
    if (st) {
        raise_status(st);
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static PyObject *dataset_get_count(DatasetObject *self, void *closure)
{
    (void)closure;
    return PyLong_FromSize_t(knn_dataset_count(self->ds));
}

static PyObject *dataset_get_dim(DatasetObject *self, void *closure)
{
    (void)closure;
    return PyLong_FromSize_t(knn_dataset_dim(self->ds));
}

static PyObject *dataset_get_dtype(DatasetObject *self, void *closure)
{
    (void)closure;
    const knn_dtype t = knn_dataset_dtype(self->ds);
    return PyUnicode_FromString(t == KNN_U8 ? "uint8" : t == KNN_F32 ? "float32" : "text");
}

static PyObject *dataset_get_num_classes(DatasetObject *self, void *closure)
{
    (void)closure;
    return PyLong_FromLong(knn_dataset_num_classes(self->ds));
}

static PyObject *dataset_get_has_labels(DatasetObject *self, void *closure)
{
    (void)closure;
    return PyBool_FromLong(knn_dataset_has_labels(self->ds));
}

static PyObject *dataset_get_image_shape(DatasetObject *self, void *closure)
{
    (void)closure;
    return Py_BuildValue("(iii)", knn_dataset_height(self->ds), knn_dataset_width(self->ds),
                         knn_dataset_channels(self->ds));
}

static PyObject *dataset_get_source(DatasetObject *self, void *closure)
{
    (void)closure;
    return PyUnicode_DecodeFSDefault(knn_dataset_source(self->ds));
}

static PyGetSetDef dataset_getset[] = {
    {"count", (getter)dataset_get_count, NULL, "rows", NULL},
    {"dim", (getter)dataset_get_dim, NULL, "values per row", NULL},
    {"dtype", (getter)dataset_get_dtype, NULL, "'uint8', 'float32' or 'text'", NULL},
    {"num_classes", (getter)dataset_get_num_classes, NULL, "labels lie in [0, num_classes)",
     NULL},
    {"has_labels", (getter)dataset_get_has_labels, NULL, "whether rows have labels", NULL},
    {"image_shape", (getter)dataset_get_image_shape, NULL, "(height, width, channels)", NULL},
    {"source", (getter)dataset_get_source, NULL, "where the data came from", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyObject *dataset_class_names(DatasetObject *self, PyObject *unused)
{
    (void)unused;
    const int n = knn_dataset_num_classes(self->ds);
    if (n == 0 || !knn_dataset_class_name(self->ds, 0))
        Py_RETURN_NONE;
    PyObject *names = PyList_New(n);
    for (int c = 0; names && c < n; c++) {
        const char *name = knn_dataset_class_name(self->ds, c);
        PyObject *s = name ? PyUnicode_DecodeFSDefault(name) : PyUnicode_FromFormat("%d", c);
        if (!s) {
            Py_CLEAR(names);
            break;
        }
        PyList_SET_ITEM(names, c, s);
    }
    return names;
}

static PyObject *dataset_set_class_names(DatasetObject *self, PyObject *arg)
{
    const int n = knn_dataset_num_classes(self->ds);
    PyObject *seq = PySequence_Fast(arg, "class names must be a sequence of str");
    if (!seq)
        return NULL;
    if (PySequence_Fast_GET_SIZE(seq) != n) {
        Py_DECREF(seq);
        return PyErr_Format(PyExc_ValueError, "%d class names are needed", n);
    }
    PyObject **encoded = PyMem_Calloc((size_t)n + 1, sizeof *encoded);
    const char **names = PyMem_Calloc((size_t)n + 1, sizeof *names);
    int ok = encoded && names;
    if (!ok)
        PyErr_NoMemory();
    for (int c = 0; ok && c < n; c++) {
        ok = PyUnicode_FSConverter(PySequence_Fast_GET_ITEM(seq, c), &encoded[c]);
        if (ok)
            names[c] = PyBytes_AS_STRING(encoded[c]);
    }
    knn_status st = ok ? knn_dataset_set_class_names(self->ds, names) : KNN_OK;
    for (int c = 0; encoded && c < n; c++)
        Py_XDECREF(encoded[c]);
    PyMem_Free(encoded);
    PyMem_Free(names);
    Py_DECREF(seq);
    if (!ok)
        return NULL;
    if (st)
        return raise_status(st);
    Py_RETURN_NONE;
}

static PyObject *dataset_copy_rows(DatasetObject *self, PyObject *arg)
{
    const knn_dataset *ds = self->ds;
    const size_t count = knn_dataset_count(ds), dim = knn_dataset_dim(ds);
    if (knn_dataset_dtype(ds) == KNN_SPARSE)
        return PyErr_Format(PyExc_ValueError, "%s holds text (sparse tf-idf rows): the Python "
                                              "package takes arrays; use the knn command or the C "
                                              "library for text",
                            knn_dataset_source(ds));
    const int u8 = knn_dataset_dtype(ds) == KNN_U8;
    const size_t item = u8 ? 1 : 4;
    Py_buffer out;
    if (PyObject_GetBuffer(arg, &out, PyBUF_RECORDS) < 0)
        return NULL;
    if (out.ndim != 2 || format_code(out.format) != (u8 ? 'B' : 'f') ||
        (size_t)out.shape[0] != count || (size_t)out.shape[1] != dim ||
        out.strides[1] != (Py_ssize_t)item || out.strides[0] < (Py_ssize_t)(dim * item)) {
        PyBuffer_Release(&out);
        return PyErr_Format(PyExc_ValueError, "copy_rows: expected a (%zu, %zu) %s array with "
                                              "contiguous rows",
                            count, dim, u8 ? "uint8" : "float32");
    }
    Py_BEGIN_ALLOW_THREADS
    for (size_t i = 0; i < count; i++) {
        const void *row = u8 ? (const void *)knn_dataset_row(ds, i)
                             : (const void *)knn_dataset_row_f32(ds, i);
        memcpy((char *)out.buf + i * (size_t)out.strides[0], row, dim * item);
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&out);
    Py_RETURN_NONE;
}

static PyObject *dataset_copy_labels(DatasetObject *self, PyObject *arg)
{
    const size_t count = knn_dataset_count(self->ds);
    Py_buffer out;
    if (output_buffer(arg, 'i', 4, count, "copy_labels", &out) < 0)
        return NULL;
    int32_t *labels = out.buf;
    for (size_t i = 0; i < count; i++)
        labels[i] = knn_dataset_label(self->ds, i);
    PyBuffer_Release(&out);
    Py_RETURN_NONE;
}

static PyObject *dataset_model_params(DatasetObject *self, PyObject *unused)
{
    (void)unused;
    knn_params p = knn_params_default();
    if (!knn_model_params(self->ds, &p))
        Py_RETURN_NONE;
    return Py_BuildValue("(isss)", p.k, knn_metric_name(p.metric), knn_weights_name(p.weights),
                         knn_ties_name(p.ties));
}

/* The graph index: build_index(M, ef_construction, metric, threads) and index_info(). */
static PyObject *dataset_build_index(DatasetObject *self, PyObject *args)
{
    knn_index_options o = knn_index_options_default();
    const char *metric;
    if (!PyArg_ParseTuple(args, "iisi:build_index", &o.M, &o.ef_construction, &metric,
                          &o.threads))
        return NULL;
    knn_status st = knn_metric_parse(metric, &o.metric);
    if (st)
        return raise_status(st);
    Py_BEGIN_ALLOW_THREADS
    st = knn_dataset_build_index(self->ds, &o);
    Py_END_ALLOW_THREADS
    if (st)
        return raise_status(st);
    Py_RETURN_NONE;
}

static PyObject *dataset_index_info(DatasetObject *self, PyObject *unused)
{
    (void)unused;
    knn_index_info info;
    if (!knn_dataset_index_info(self->ds, &info))
        Py_RETURN_NONE;
    return Py_BuildValue("{s:s,s:i,s:i,s:s,s:i,s:n,s:n}", "kind", "hnsw", "M", info.M,
                         "ef_construction", info.ef_construction, "metric",
                         knn_metric_name(info.metric), "levels", info.levels, "edges",
                         (Py_ssize_t)info.edges, "bytes", (Py_ssize_t)info.bytes);
}

/* Fills p from the names; raises ValueError with the library's message on a bad name. */
static int parse_settings(const char *metric, const char *weights, const char *ties,
                          knn_params *p)
{
    knn_status st = knn_metric_parse(metric, &p->metric);
    if (!st && weights)
        st = knn_weights_parse(weights, &p->weights);
    if (!st && ties)
        st = knn_ties_parse(ties, &p->ties);
    if (st) {
        raise_status(st);
        return -1;
    }
    return 0;
}

/* The model file written to an open file descriptor (the library writes streams; the
 * Python side owns the file: a temporary one renamed over the target). */
static PyObject *dataset_write(DatasetObject *self, PyObject *args)
{
    int fd;
    knn_params p = knn_params_default();
    const char *metric, *weights, *ties;
    if (!PyArg_ParseTuple(args, "iisss:write", &fd, &p.k, &metric, &weights, &ties))
        return NULL;
    if (parse_settings(metric, weights, ties, &p) < 0)
        return NULL;
    int own = dup(fd);
    FILE *f = own >= 0 ? fdopen(own, "wb") : NULL;
    if (!f) {
        if (own >= 0)
            close(own);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    knn_status st;
    int flushed;
    Py_BEGIN_ALLOW_THREADS
    st = knn_model_write(self->ds, &p, f);
    flushed = fclose(f);
    Py_END_ALLOW_THREADS
    if (st)
        return raise_status(st);
    if (flushed != 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
}

static PyMethodDef dataset_methods[] = {
    {"class_names", (PyCFunction)dataset_class_names, METH_NOARGS,
     "class_names() -> list of str, or None where the data set has none"},
    {"set_class_names", (PyCFunction)dataset_set_class_names, METH_O,
     "set_class_names(names): one str per class"},
    {"copy_rows", (PyCFunction)dataset_copy_rows, METH_O,
     "copy_rows(out): copies the rows into out, a writable (count, dim) array of the dtype"},
    {"copy_labels", (PyCFunction)dataset_copy_labels, METH_O,
     "copy_labels(out): copies the labels (-1 where none) into out, int32 (count)"},
    {"model_params", (PyCFunction)dataset_model_params, METH_NOARGS,
     "model_params() -> (k, metric, weights, ties) of a model file, or None"},
    {"build_index", (PyCFunction)dataset_build_index, METH_VARARGS,
     "build_index(M, ef_construction, metric, threads): the HNSW graph index "
     "(knn_dataset_build_index)"},
    {"index_info", (PyCFunction)dataset_index_info, METH_NOARGS,
     "index_info() -> dict (kind, M, ef_construction, metric, levels, edges, bytes) or None"},
    {"write", (PyCFunction)dataset_write, METH_VARARGS,
     "write(fd, k, metric, weights, ties): the model file (knn_model_write) to an open fd"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject DatasetType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "knn._knn.Dataset",
    .tp_basicsize = sizeof(DatasetObject),
    .tp_dealloc = (destructor)dataset_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A libknn data set; made by knn._knn.view or knn._knn.load.",
    .tp_methods = dataset_methods,
    .tp_getset = dataset_getset,
};

/* ---- search and classification --------------------------------------------------------- */

/* Writes the first k neighbours of every query: distances in the metric's units, indices. */
static void write_neighbors(const knn_neighbors *nb, int k, double *dist, int64_t *index)
{
    const size_t nq = knn_neighbors_count(nb);
    for (size_t q = 0; q < nq; q++)
        for (int j = 0; j < k; j++) {
            if (dist)
                dist[q * (size_t)k + (size_t)j] = knn_neighbors_distance(nb, q, j);
            if (index)
                index[q * (size_t)k + (size_t)j] = knn_neighbors_index(nb, q, j);
        }
}

PyDoc_STRVAR(search_doc,
             "search(train, queries, k, metric, threads, D, I)\n\n"
             "knn_search: fills D (float64, nq x k: distances in the metric's units) and I "
             "(int64,\nnq x k: training rows), nearest first, ordered by (distance, index).");

static PyObject *mod_search(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *train_obj, *queries_obj, *d_obj, *i_obj;
    const char *metric;
    knn_params p = knn_params_default();
    if (!PyArg_ParseTuple(args, "OOisiOO:search", &train_obj, &queries_obj, &p.k, &metric,
                          &p.threads, &d_obj, &i_obj))
        return NULL;
    const knn_dataset *train = dataset_of(train_obj, "train");
    const knn_dataset *queries = train ? dataset_of(queries_obj, "queries") : NULL;
    if (!queries || parse_settings(metric, NULL, NULL, &p) < 0)
        return NULL;
    const size_t cells = knn_dataset_count(queries) * (size_t)(p.k > 0 ? p.k : 0);
    Py_buffer d, i;
    if (output_buffer(d_obj, 'd', 8, cells, "search: D", &d) < 0)
        return NULL;
    if (output_buffer(i_obj, 'q', 8, cells, "search: I", &i) < 0) {
        PyBuffer_Release(&d);
        return NULL;
    }
    knn_neighbors *nb = NULL;
    knn_status st;
    Py_BEGIN_ALLOW_THREADS
    st = knn_search(train, queries, &p, &nb);
    if (!st)
        write_neighbors(nb, p.k, d.buf, i.buf);
    knn_neighbors_free(nb);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&d);
    PyBuffer_Release(&i);
    if (st)
        return raise_status(st);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(classify_doc,
             "classify(train, queries, k, metric, weights, ties, threads, pred, proba, D, I"
             "[, ef, exact])\n\n"
             "knn_classify: fills pred (int32, nq: labels) and, where not None, proba (float64,"
             "\nnq x C: each class's share of the vote), D and I (as search). ef and exact: a"
             "\ntraining set with a graph index (0: the default ef; exact 1: scan every row).");

static PyObject *mod_classify(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *train_obj, *queries_obj, *pred_obj, *proba_obj, *d_obj, *i_obj;
    const char *metric, *weights, *ties;
    knn_params p = knn_params_default();
    if (!PyArg_ParseTuple(args, "OOisssiOOOO|ip:classify", &train_obj, &queries_obj, &p.k,
                          &metric, &weights, &ties, &p.threads, &pred_obj, &proba_obj, &d_obj,
                          &i_obj, &p.ef, &p.exact))
        return NULL;
    const knn_dataset *train = dataset_of(train_obj, "train");
    const knn_dataset *queries = train ? dataset_of(queries_obj, "queries") : NULL;
    if (!queries || parse_settings(metric, weights, ties, &p) < 0)
        return NULL;
    const size_t nq = knn_dataset_count(queries);
    const size_t C = (size_t)knn_dataset_num_classes(train);
    const size_t cells = nq * (size_t)(p.k > 0 ? p.k : 0);
    Py_buffer pred, proba, d, i;
    if (output_buffer(pred_obj, 'i', 4, nq, "classify: pred", &pred) < 0)
        return NULL;
    memset(&d, 0, sizeof d);
    memset(&i, 0, sizeof i);
    if (optional_output(proba_obj, 'd', 8, nq * C, "classify: proba", &proba) < 0 ||
        optional_output(d_obj, 'd', 8, cells, "classify: D", &d) < 0 ||
        optional_output(i_obj, 'q', 8, cells, "classify: I", &i) < 0) {
        release(&pred);
        release(&proba);
        release(&d);
        return NULL;
    }
    knn_predictions *r = NULL;
    knn_status st;
    Py_BEGIN_ALLOW_THREADS
    st = knn_classify(train, queries, &p, &r);
    for (size_t q = 0; !st && q < nq; q++) {
        ((int32_t *)pred.buf)[q] = knn_predictions_label(r, q);
        const float *scores = knn_predictions_scores(r, q);
        for (size_t c = 0; proba.obj && c < C; c++)
            ((double *)proba.buf)[q * C + c] = scores[c];
    }
    if (!st && (d.obj || i.obj))
        write_neighbors(knn_predictions_neighbors(r), p.k, d.obj ? d.buf : NULL,
                        i.obj ? i.buf : NULL);
    knn_predictions_free(r);
    Py_END_ALLOW_THREADS
    release(&pred);
    release(&proba);
    release(&d);
    release(&i);
    if (st)
        return raise_status(st);
    Py_RETURN_NONE;
}

/* ---- cross-validation ------------------------------------------------------------------ */

static const char *const fold_mode_names[] = {"contiguous", "shuffled", "stratified"};

/* The fold mode named `name`; -1 with ValueError for an unknown one. */
static int parse_fold_mode(const char *name, knn_fold_mode *mode)
{
    for (int m = 0; m < 3; m++)
        if (strcmp(name, fold_mode_names[m]) == 0) {
            *mode = (knn_fold_mode)m;
            return 0;
        }
    PyErr_Format(PyExc_ValueError,
                 "unknown fold mode '%s': use contiguous, shuffled or stratified", name);
    return -1;
}

/* A sequence of ints as a PyMem array; NULL with an exception. */
static int *int_array(PyObject *obj, int *n)
{
    PyObject *seq = PySequence_Fast(obj, "ks must be a sequence of int");
    if (!seq)
        return NULL;
    const Py_ssize_t len = PySequence_Fast_GET_SIZE(seq);
    int *out = len > INT32_MAX ? NULL : PyMem_Calloc((size_t)len + 1, sizeof *out);
    if (!out)
        PyErr_NoMemory();
    for (Py_ssize_t a = 0; out && a < len; a++) {
        long v = PyLong_AsLong(PySequence_Fast_GET_ITEM(seq, a));
        if ((v == -1 && PyErr_Occurred()) || v < INT32_MIN || v > INT32_MAX) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "K is out of range");
            PyMem_Free(out);
            out = NULL;
        } else {
            out[a] = (int)v;
        }
    }
    Py_DECREF(seq);
    *n = (int)len;
    return out;
}

/* The metrics named by a sequence of str as a PyMem array; NULL with an exception. */
static knn_metric *metric_array(PyObject *obj, int *n)
{
    PyObject *seq = PySequence_Fast(obj, "metrics must be a sequence of str");
    if (!seq)
        return NULL;
    const Py_ssize_t len = PySequence_Fast_GET_SIZE(seq);
    knn_metric *out = len > INT32_MAX ? NULL : PyMem_Calloc((size_t)len + 1, sizeof *out);
    if (!out)
        PyErr_NoMemory();
    for (Py_ssize_t a = 0; out && a < len; a++) {
        const char *name = PyUnicode_AsUTF8(PySequence_Fast_GET_ITEM(seq, a));
        knn_status st = name ? knn_metric_parse(name, &out[a]) : KNN_OK;
        if (!name || st) {
            if (st)
                raise_status(st);
            PyMem_Free(out);
            out = NULL;
        }
    }
    Py_DECREF(seq);
    *n = (int)len;
    return out;
}

/* The fold table of a finished cross-validation as Python objects:
 * (fold_sizes, [[fold accuracies per K] per metric], [[mean]], [[std]], best_m, best_k). */
static PyObject *cv_table(const knn_cv_result *r, int nmetrics, int nk)
{
    const int folds = knn_cv_folds(r);
    PyObject *sizes = PyList_New(folds);
    PyObject *acc = PyList_New(nmetrics), *mean = PyList_New(nmetrics);
    PyObject *std = PyList_New(nmetrics);
    int ok = sizes && acc && mean && std;
    for (int f = 0; ok && f < folds; f++) {
        PyObject *v = PyLong_FromSize_t(knn_cv_fold_size(r, f));
        ok = v != NULL;
        if (ok)
            PyList_SET_ITEM(sizes, f, v);
    }
    for (int m = 0; ok && m < nmetrics; m++) {
        PyObject *am = PyList_New(nk), *mm = PyList_New(nk), *sm = PyList_New(nk);
        ok = am && mm && sm;
        for (int a = 0; ok && a < nk; a++) {
            PyObject *folds_acc = PyList_New(folds);
            PyObject *mv = PyFloat_FromDouble(knn_cv_mean(r, m, a));
            PyObject *sv = PyFloat_FromDouble(knn_cv_std(r, m, a));
            ok = folds_acc && mv && sv;
            for (int f = 0; ok && f < folds; f++) {
                PyObject *v = PyFloat_FromDouble(knn_cv_accuracy(r, m, a, f));
                ok = v != NULL;
                if (ok)
                    PyList_SET_ITEM(folds_acc, f, v);
            }
            if (ok) {
                PyList_SET_ITEM(am, a, folds_acc);
                PyList_SET_ITEM(mm, a, mv);
                PyList_SET_ITEM(sm, a, sv);
            } else {
                Py_XDECREF(folds_acc);
                Py_XDECREF(mv);
                Py_XDECREF(sv);
            }
        }
        if (ok) {
            PyList_SET_ITEM(acc, m, am);
            PyList_SET_ITEM(mean, m, mm);
            PyList_SET_ITEM(std, m, sm);
        } else {
            Py_XDECREF(am);
            Py_XDECREF(mm);
            Py_XDECREF(sm);
        }
    }
    int best_m = 0, best_k = 0;
    knn_cv_best(r, &best_m, &best_k);
    PyObject *table = ok ? Py_BuildValue("(OOOOii)", sizes, acc, mean, std, best_m, best_k)
                         : NULL;
    Py_XDECREF(sizes);
    Py_XDECREF(acc);
    Py_XDECREF(mean);
    Py_XDECREF(std);
    return table;
}

PyDoc_STRVAR(cross_validate_doc,
             "cross_validate(train, ks, metrics, weights, ties, folds, mode, seed, "
             "val_fraction, threads)\n  -> (fold_sizes, accuracy[m][k][fold], mean[m][k], "
             "std[m][k], best_m, best_k)\n\nknn_cross_validate; mode is contiguous, shuffled "
             "or stratified.");

static PyObject *mod_cross_validate(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *train_obj, *ks_obj, *metrics_obj;
    const char *weights, *ties, *mode;
    knn_cv_options o = knn_cv_options_default();
    unsigned long long seed;
    if (!PyArg_ParseTuple(args, "OOOssisKdi:cross_validate", &train_obj, &ks_obj, &metrics_obj,
                          &weights, &ties, &o.folds, &mode, &seed, &o.val_fraction, &o.threads))
        return NULL;
    const knn_dataset *train = dataset_of(train_obj, "train");
    if (!train || parse_fold_mode(mode, &o.mode) < 0)
        return NULL;
    o.seed = seed;
    knn_status st = knn_weights_parse(weights, &o.weights);
    if (!st)
        st = knn_ties_parse(ties, &o.ties);
    if (st)
        return raise_status(st);
    int *ks = int_array(ks_obj, &o.nk);
    knn_metric *metrics = ks ? metric_array(metrics_obj, &o.nmetrics) : NULL;
    if (!metrics) {
        PyMem_Free(ks);
        return NULL;
    }
    o.ks = ks;
    o.metrics = metrics;
    knn_cv_result *r = NULL;
    Py_BEGIN_ALLOW_THREADS
    st = knn_cross_validate(train, &o, &r);
    Py_END_ALLOW_THREADS
    PyObject *table = st ? raise_status(st) : cv_table(r, o.nmetrics, o.nk);
    knn_cv_result_free(r);
    PyMem_Free(ks);
    PyMem_Free(metrics);
    return table;
}

PyDoc_STRVAR(usable_ks_doc,
             "usable_ks(train, ks, folds, mode, val_fraction) -> list\n\n"
             "knn_cv_usable_ks: the Ks of ks that every fold leaves enough training rows for.");

static PyObject *mod_usable_ks(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *train_obj, *ks_obj;
    const char *mode;
    knn_cv_options o = knn_cv_options_default();
    if (!PyArg_ParseTuple(args, "OOisd:usable_ks", &train_obj, &ks_obj, &o.folds, &mode,
                          &o.val_fraction))
        return NULL;
    const knn_dataset *train = dataset_of(train_obj, "train");
    if (!train || parse_fold_mode(mode, &o.mode) < 0)
        return NULL;
    int *ks = int_array(ks_obj, &o.nk);
    int *usable = ks ? PyMem_Calloc((size_t)o.nk + 1, sizeof *usable) : NULL;
    if (!usable) {
        if (ks)
            PyErr_NoMemory();
        PyMem_Free(ks);
        return NULL;
    }
    o.ks = ks;
    const int n = knn_cv_usable_ks(train, &o, usable);
    PyObject *list = PyList_New(n);
    for (int a = 0; list && a < n; a++) {
        PyObject *v = PyLong_FromLong(usable[a]);
        if (!v) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, a, v);
    }
    PyMem_Free(ks);
    PyMem_Free(usable);
    return list;
}

PyDoc_STRVAR(default_ks_doc, "default_ks() -> tuple: the Ks knn_cv_options_default tries");

static PyObject *mod_default_ks(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    const knn_cv_options o = knn_cv_options_default();
    PyObject *t = PyTuple_New(o.nk);
    for (int a = 0; t && a < o.nk; a++) {
        PyObject *v = PyLong_FromLong(o.ks[a]);
        if (!v) {
            Py_CLEAR(t);
            break;
        }
        PyTuple_SET_ITEM(t, a, v);
    }
    return t;
}

/* ---- kernels --------------------------------------------------------------------------- */

static PyObject *mod_isa(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    return PyUnicode_FromString(knn_isa());
}

static PyObject *mod_set_isa(PyObject *module, PyObject *arg)
{
    (void)module;
    const char *name = PyUnicode_AsUTF8(arg);
    if (!name)
        return NULL;
    knn_status st = knn_set_isa(name);
    if (st)
        return raise_status(st);
    Py_RETURN_NONE;
}

/* ---- the module ------------------------------------------------------------------------ */

static PyMethodDef module_methods[] = {
    {"view", mod_view, METH_VARARGS, view_doc},
    {"load", (PyCFunction)(void (*)(void))mod_load, METH_VARARGS | METH_KEYWORDS, load_doc},
    {"search", mod_search, METH_VARARGS, search_doc},
    {"classify", mod_classify, METH_VARARGS, classify_doc},
    {"cross_validate", mod_cross_validate, METH_VARARGS, cross_validate_doc},
    {"usable_ks", mod_usable_ks, METH_VARARGS, usable_ks_doc},
    {"default_ks", mod_default_ks, METH_NOARGS, default_ks_doc},
    {"isa", mod_isa, METH_NOARGS,
     "isa() -> 'scalar', 'avx2', 'avxvnni' or 'avx512': the distance kernels in use"},
    {"set_isa", mod_set_isa, METH_O,
     "set_isa(name): 'scalar', 'avx2', 'avxvnni', 'avx512' or 'best' for all later searches"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef knn_module = {
    PyModuleDef_HEAD_INIT, .m_name = "knn._knn",
    .m_doc = "libknn for Python: data sets, exact search, the classifier, cross-validation and "
             "model files. Use the package knn, not this module.",
    .m_size = -1, .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__knn(void)
{
    if (PyType_Ready(&DatasetType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&knn_module);
    if (!m)
        return NULL;
    Py_INCREF(&DatasetType);
    if (PyModule_AddObject(m, "Dataset", (PyObject *)&DatasetType) < 0) {
        Py_DECREF(&DatasetType);
        Py_DECREF(m);
        return NULL;
    }
    if (PyModule_AddStringConstant(m, "VERSION", KNN_VERSION) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
