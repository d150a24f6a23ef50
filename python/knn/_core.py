"""Arrays in knn's row layout, and the functions over them: search, cross_validate, load.

knn's row layout: every row starts on a 64-byte boundary and takes a multiple of 64 bytes,
the values followed by zeros (the distance kernels load whole vectors and never need a
scalar tail). An array already laid out so (uint8 or float32, rows 64-byte aligned, a row
stride equal to the row's bytes rounded up to 64, zero padding) is handed to the library
without a copy; any other array is copied once into that layout, converted on the way:

- uint8 stays uint8: distances are exact integers (L1, and L2 ordered by its exact square);
- every other numeric type (float64, integers, bool) becomes float32, so results can differ
  from a float64 computation by rounding, and values beyond float32's range are rejected.
"""
import operator

import numpy as np

from . import _knn

_METRICS = {"l1": "l1", "l2": "l2", "manhattan": "l1", "cityblock": "l1", "euclidean": "l2",
            "cosine": "cosine"}
_FOLD_MODES = ("stratified", "shuffled", "contiguous")


def _stride(dim, dtype):
    """The bytes of one row in knn's layout: dim values rounded up to 64 bytes."""
    return -(-dim * np.dtype(dtype).itemsize // 64) * 64


def aligned_rows(count, dim, dtype):
    """A new zeroed (count, dim) array in knn's layout (a view into a padded block)."""
    dtype = np.dtype(dtype)
    stride = _stride(dim, dtype)
    raw = np.zeros(count * stride + 64, np.uint8)
    start = -raw.ctypes.data % 64
    block = raw[start:start + count * stride].view(dtype)
    return block.reshape(count, stride // dtype.itemsize)[:, :dim]


def _in_layout(X):
    """Whether the 2-D array X (uint8 or float32) is laid out as knn's rows already: rows
    64-byte aligned, a stride of the row's bytes rounded up to 64, and, where rows have
    padding, the padding inside memory the array's owner holds (the library reads it; it
    must be zero, which the library checks). The stride of a length-1 dimension is
    arbitrary in numpy and not looked at."""
    n, dim = X.shape
    item = X.dtype.itemsize
    stride = _stride(dim, X.dtype)
    if X.ctypes.data % 64 or (dim > 1 and X.strides[1] != item) or (
            n > 1 and X.strides[0] != stride):
        return False
    if dim * item == stride:
        return True
    owner = X
    while isinstance(owner.base, np.ndarray):
        owner = owner.base
    start = owner.ctypes.data
    return owner.base is None and start <= X.ctypes.data and (
        X.ctypes.data + n * stride <= start + owner.nbytes)


def metric_name(metric):
    """'l1', 'l2' or 'cosine' for a metric name (also 'manhattan', 'cityblock', 'euclidean')."""
    if not isinstance(metric, str) or metric.lower() not in _METRICS:
        raise ValueError(f"unknown metric {metric!r}: use 'l1', 'l2' or 'cosine' (also "
                         f"'manhattan', 'euclidean')")
    return _METRICS[metric.lower()]


def threads(n_jobs):
    """The library's thread count for scikit-learn's n_jobs: None or -1 mean all cores (0)."""
    if n_jobs is None:
        return 0
    n_jobs = operator.index(n_jobs)
    if n_jobs == 0:
        raise ValueError("n_jobs == 0 has no meaning: use None or -1 (all cores) or a count")
    if n_jobs < 0:
        import os
        return max(1, (os.cpu_count() or 1) + 1 + n_jobs)
    return n_jobs


def check_matrix(X, name="X"):
    """X as a 2-D numeric ndarray with at least one row and column, or ValueError/TypeError.
    Object arrays are converted to float64 (TypeError where a value is not a number); sparse
    matrices are refused."""
    if hasattr(X, "toarray") or type(X).__module__.startswith("scipy.sparse"):
        raise TypeError(f"{name}: a sparse matrix was passed, but knn needs dense data: use "
                        f"{name}.toarray()")
    X = np.asarray(X)
    if X.dtype == object:
        X = X.astype(np.float64)
    if X.dtype.kind == "c":
        raise ValueError(f"{name}: complex data is not supported")
    if X.dtype.kind not in "biuf":
        raise ValueError(f"{name}: expected numbers, got an array of {X.dtype}")
    if X.ndim != 2:
        raise ValueError(f"{name}: expected 2D array (samples, features), got shape "
                         f"{X.shape}; reshape a single sample with {name}.reshape(1, -1)")
    if X.shape[1] == 0:
        raise ValueError(f"{name}: found array with 0 feature(s) (shape={X.shape}) while a "
                         f"minimum of 1 is required.")
    if X.shape[0] == 0:
        raise ValueError(f"{name}: found array with 0 sample(s) (shape={X.shape}) while a "
                         f"minimum of 1 is required.")
    return X


def common_dtype(*arrays):
    """uint8 if every array is uint8 (exact integer distances), else float32."""
    return np.uint8 if all(a.dtype == np.uint8 for a in arrays) else np.float32


def to_rows(X, dtype, name="X"):
    """The 2-D numeric array X as `dtype` (uint8 or float32) in knn's layout: X itself where
    it already is, else one copy, converted on the way. Float values must be finite."""
    if X.dtype == dtype and _in_layout(X):
        rows = X
    else:
        rows = aligned_rows(X.shape[0], X.shape[1], dtype)
        with np.errstate(over="ignore", invalid="ignore"):
            rows[...] = X
    if dtype == np.float32 and not np.isfinite(rows).all():
        raise ValueError(f"Input {name} contains NaN or infinity, or a value too large for "
                         f"float32")
    return rows


def dataset(rows, labels=None, num_classes=0):
    """A library data set over `rows` (from to_rows; kept alive by the data set), with
    optional int32 labels. Rows whose padding is not zero (a slice of a wider array) are
    copied into fresh rows first."""
    labels = None if labels is None else np.ascontiguousarray(labels, dtype=np.int32)
    if _in_layout(rows):
        try:
            return _knn.view(rows, labels, num_classes)
        except ValueError:  # non-zero padding beside the values: copy the values
            pass
    fresh = aligned_rows(rows.shape[0], rows.shape[1], rows.dtype)
    fresh[...] = rows
    return _knn.view(fresh, labels, num_classes)


def check_k(k, n_train, name="k"):
    """k as an int in 1..n_train, or ValueError/TypeError."""
    if isinstance(k, (bool, np.bool_)):
        raise TypeError(f"{name} must be an int, not bool")
    k = operator.index(k)
    if k < 1:
        raise ValueError(f"{name} = {k}: it must be at least 1")
    if k > n_train:
        raise ValueError(f"{name} = {k} is more than the {n_train} training samples")
    return k


def search(xq, xb, k, metric="l2", n_jobs=None):
    """The k nearest rows of xb to every row of xq, exactly, like faiss's index.search.

    Parameters
    ----------
    xq : array-like (nq, d)
        Queries.
    xb : array-like (nb, d)
        The rows searched (the "base").
    k : int
        Neighbours per query, 1 <= k <= nb.
    metric : {'l2', 'l1', 'cosine'}
        Euclidean or L1 (sum of absolute differences); 'euclidean' and 'manhattan' are
        accepted too; or 'cosine', 1 - cos(a, b), for float features only (a zero vector
        is at distance 1 from everything).
    n_jobs : int or None
        Threads; None or -1: all cores (OMP_NUM_THREADS).

    Returns
    -------
    D : ndarray float64 (nq, k)
        Distances in the metric's units: L1, or the Euclidean distance (not faiss's squared
        L2), nearest first.
    I : ndarray int64 (nq, k)
        Row numbers in xb. Neighbours are ordered by (distance, row number), so equal
        distances list the lower row first, for any thread count.

    If both arrays are uint8 the distances are exact integers (their square roots for L2);
    otherwise both are converted to float32 (see the package's notes on conversions).
    """
    xq = check_matrix(xq, "xq")
    xb = check_matrix(xb, "xb")
    if xq.shape[1] != xb.shape[1]:
        raise ValueError(f"xq has {xq.shape[1]} features but xb has {xb.shape[1]}")
    k = check_k(k, xb.shape[0])
    metric = metric_name(metric)
    dtype = common_dtype(xq, xb)
    base = dataset(to_rows(xb, dtype, "xb"))
    queries = dataset(to_rows(xq, dtype, "xq"))
    D = np.empty((xq.shape[0], k), np.float64)
    I = np.empty((xq.shape[0], k), np.int64)
    _knn.search(base, queries, k, metric, threads(n_jobs), D, I)
    return D, I


def encode_labels(y):
    """(classes, codes): the sorted distinct labels of y (np.unique) and each label's index
    as int32."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y: expected a 1-D array of labels, got shape {y.shape}")
    classes, codes = np.unique(y, return_inverse=True)
    if len(classes) > 65536:
        raise ValueError(f"y has {len(classes)} classes; knn handles at most 65536")
    return classes, codes.astype(np.int32)


def cross_validate(X, y, ks=None, metrics=("l1", "l2"), folds=5, mode="stratified", seed=0,
                   weights="uniform", ties="nearest", val_fraction=0.0, n_jobs=None):
    """Chooses K and the metric by k-fold cross-validation on (X, y), like `knn cv`.

    One search per metric serves every fold and every K (knn_cross_validate); the
    accuracies equal separate searches per fold and per K exactly.

    Parameters
    ----------
    X : array-like (n, d)
        Training rows (uint8 stays uint8; anything else becomes float32).
    y : array-like (n,)
        Labels, any hashable values; classes are numbered in sorted order (np.unique), so
        for labels 0..C-1 the folds are those `knn cv` draws on the same file.
    ks : sequence of int, optional
        The Ks to try; by default 1, 3, 5, 8, 10, 12, 15, 20, 50, 100, keeping those every
        fold leaves enough training rows for.
    metrics : sequence of {'l1', 'l2', 'cosine'}
    folds : int
        Folds (2..n; n is leave-one-out). Ignored when val_fraction > 0.
    mode : {'stratified', 'shuffled', 'contiguous'}
        Stratified: each class dealt evenly over the folds (shuffled with `seed`);
        shuffled: chunks of a permutation drawn from `seed`; contiguous: consecutive
        chunks.
    seed : int
    weights : {'uniform', 'distance'}
    ties : {'nearest', 'smallest-label'}
    val_fraction : float
        > 0: one hold-out split of this fraction of the rows instead of folds.
    n_jobs : int or None
        Threads; None or -1: all cores.

    Returns
    -------
    dict
        The fold table, in the form of `knn cv --json`: 'folds', 'mode', 'holdout',
        'weights', 'ties', 'fold_sizes'; 'results', a list of rows {'metric', 'k',
        'fold_accuracy' (a list, one a fold), 'mean', 'std' (population)}, metric by
        metric, K by K; and 'best' {'metric', 'k', 'mean', 'std'}: the highest mean, ties
        to the smaller K, then to the metric listed first.
    """
    X = check_matrix(X)
    classes, codes = encode_labels(y)
    if len(codes) != X.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but y has {len(codes)} labels")
    if mode not in _FOLD_MODES:
        raise ValueError(f"unknown fold mode {mode!r}: use one of {', '.join(_FOLD_MODES)}")
    if isinstance(metrics, str):
        metrics = (metrics,)
    metrics = [metric_name(m) for m in metrics]
    folds = operator.index(folds)
    val_fraction = float(val_fraction)
    train = dataset(to_rows(X, common_dtype(X)), codes, len(classes))
    if ks is None:
        ks = _knn.usable_ks(train, _knn.default_ks(), folds, mode, val_fraction)
        if not ks:
            raise ValueError(f"{X.shape[0]} training samples are too few to cross-validate K")
    else:
        ks = [check_k(k, X.shape[0], "K") for k in ks]
    sizes, acc, mean, std, best_m, best_k = _knn.cross_validate(
        train, ks, metrics, weights, ties, folds, mode, operator.index(seed), val_fraction,
        threads(n_jobs))
    results = [{"metric": metrics[m], "k": ks[a], "fold_accuracy": acc[m][a],
                "mean": mean[m][a], "std": std[m][a]}
               for m in range(len(metrics)) for a in range(len(ks))]
    return {"folds": len(sizes), "mode": mode, "holdout": val_fraction > 0,
            "weights": weights, "ties": ties, "fold_sizes": sizes, "results": results,
            "best": {"metric": metrics[best_m], "k": ks[best_k], "mean": mean[best_m][best_k],
                     "std": std[best_m][best_k]}}


def rows_of(ds):
    """A fresh (count, dim) array (uint8 or float32, in knn's layout) of a library data
    set's rows."""
    X = aligned_rows(ds.count, ds.dim, ds.dtype)
    ds.copy_rows(X)
    return X


def labels_of(ds):
    """The int32 labels of a library data set, or None where it has none."""
    if not ds.has_labels:
        return None
    y = np.empty(ds.count, np.int32)
    ds.copy_labels(y)
    return y


def load(spec, limit=None, features=None, quantize=False, scale=1 / 255, mean=0.0, std=1.0,
         bgr=False, batch=64):
    """Loads a data set the way the `knn` command does: (X, y, class_names).

    Parameters
    ----------
    spec : str or path
        An IDX images file (raw or gzip; its labels file found beside it), a CIFAR batch,
        FOLDER:SPLIT, NAME:SPLIT (mnist, fashion-mnist, kmnist, cifar10, cifar100, looked up
        in $KNN_DATA, ./data and /usr/share/datasets), a folder of images in class folders,
        or a model file.
    limit : int, optional
        Keep only the first `limit` rows.
    features : str or path, optional
        An ONNX network every image is run through (as `knn --features`): X is then its
        float32 features, one row per image.
    quantize : bool
        With `features`: X holds 8-bit codes of the features instead (as `knn --quantize`).
    scale, mean, std, bgr, batch
        With `features`, the network's input, as the command line's options: each pixel
        becomes (pixel * scale - mean[c]) / std[c]; mean and std are one number or three
        (per channel); bgr feeds colour channels as B, G, R; batch images per forward pass.

    Returns
    -------
    X : ndarray (n, dim), uint8 for images (float32 for float IDX files)
        Each image flattened in its file's order (row-major for IDX; R, G, B planes for
        CIFAR). X is a view into a 64-byte-aligned, zero-padded block (knn's own row
        layout), so fitting or searching it takes no copy; it is writable, and not
        C-contiguous where a row is not a multiple of 64 bytes.
    y : ndarray int32 (n,), or None where the data set has no labels
    class_names : list of str, or None where the data set names none
    """
    if limit is not None and operator.index(limit) < 1:
        raise ValueError(f"limit = {limit}: give at least 1, or None for all rows")
    if features is None:
        if quantize:
            raise ValueError("quantize needs features (an ONNX network)")
        ds = _knn.load(spec, 0 if limit is None else operator.index(limit))
    else:
        def three(v, name):
            v = [float(x) for x in (v if hasattr(v, "__len__") else [v])]
            if len(v) == 1:
                v = v * 3
            if len(v) != 3:
                raise ValueError(f"{name}: give one number or three (per channel)")
            return v
        prep = (float(scale), *three(mean, "mean"), *three(std, "std"), int(bool(bgr)),
                operator.index(batch))
        ds = _knn.load(spec, 0 if limit is None else operator.index(limit), features,
                       bool(quantize), prep)
    if ds.dtype == "text":
        raise ValueError(f"{spec}: holds text (sparse tf-idf rows); the Python package takes "
                         "arrays: use the knn command or the C library for text")
    return rows_of(ds), labels_of(ds), ds.class_names()
