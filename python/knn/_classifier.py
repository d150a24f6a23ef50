"""KNeighborsClassifier (scikit-learn's interface over libknn) and Model (knn's model files)."""
import inspect
import os
import warnings

import numpy as np

from . import _core, _knn

try:
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted
    HAVE_SKLEARN = True
except ImportError:
    HAVE_SKLEARN = False

    class NotFittedError(ValueError, AttributeError):
        """Raised by a method that needs a fitted estimator (as scikit-learn's)."""

    class BaseEstimator:
        """get_params, set_params and repr from __init__'s parameters (a stand-in for
        scikit-learn's BaseEstimator where scikit-learn is not installed)."""

        @classmethod
        def _param_names(cls):
            return sorted(p for p in inspect.signature(cls.__init__).parameters
                          if p != "self")

        def get_params(self, deep=True):
            """The constructor's parameters as a dict."""
            return {name: getattr(self, name) for name in self._param_names()}

        def set_params(self, **params):
            """Sets constructor parameters; returns self."""
            valid = self._param_names()
            for name, value in params.items():
                if name not in valid:
                    raise ValueError(f"invalid parameter {name!r} for {type(self).__name__}; "
                                     f"valid parameters: {', '.join(valid)}")
                setattr(self, name, value)
            return self

        def __repr__(self):
            args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
            return f"{type(self).__name__}({args})"

    class ClassifierMixin:
        """score() (a stand-in for scikit-learn's ClassifierMixin)."""

        _estimator_type = "classifier"

        def score(self, X, y, sample_weight=None):
            """Mean accuracy of predict(X) against y (weighted by sample_weight)."""
            return float(np.average(self.predict(X) == np.asarray(y), weights=sample_weight))

    def check_classification_targets(y):
        """ValueError unless y holds class labels (not continuous values)."""
        if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
            raise ValueError("Input y contains NaN or infinity.")
        if y.dtype.kind == "f" and np.any(y != np.round(y)):
            raise ValueError("Unknown label type: 'continuous'")

    def check_is_fitted(estimator):
        """NotFittedError unless the estimator was fitted."""
        if not hasattr(estimator, "classes_"):
            raise NotFittedError(f"This {type(estimator).__name__} instance is not fitted "
                                 f"yet. Call 'fit' with appropriate arguments before using "
                                 f"this estimator.")

_WEIGHTS = ("uniform", "distance")
_TIES = ("nearest", "smallest-label")


class _Train:
    """Training rows as a library data set: the rows (uint8 or float32 in knn's layout), the
    labels as class indices, and the data set over them (a view: no copy)."""

    def __init__(self, rows, codes, num_classes, ds=None):
        self.rows = rows
        self.codes = codes
        self.num_classes = num_classes
        self.ds = ds if ds is not None else _core.dataset(rows, codes, num_classes)

    def against(self, X):
        """(train data set, query data set) for the checked 2-D array X: both uint8 when X
        and the rows are, else both float32 (a float32 copy of uint8 rows for this call)."""
        dtype = _core.common_dtype(X, self.rows)
        train = self.ds
        if self.rows.dtype != dtype:
            train = _core.dataset(_core.to_rows(self.rows, dtype), self.codes, self.num_classes)
        return train, _core.dataset(_core.to_rows(X, dtype))

    def classify(self, X, k, metric, weights, ties, n_jobs, proba=False, neighbors=False):
        """(class indices, probabilities or None, distances or None, indices or None)."""
        k = _core.check_k(k, self.rows.shape[0], "n_neighbors")
        train, queries = self.against(X)
        n = X.shape[0]
        pred = np.empty(n, np.int32)
        P = np.empty((n, self.num_classes), np.float64) if proba else None
        D = np.empty((n, k), np.float64) if neighbors else None
        I = np.empty((n, k), np.int64) if neighbors else None
        _knn.classify(train, queries, k, _core.metric_name(metric), weights, ties,
                      _core.threads(n_jobs), pred, P, D, I)
        if proba and weights == "uniform":  # shares are count / k: exact, not float32's
            P = np.rint(P * k) / k
        return pred, P, D, I

    def search(self, X, k, metric, n_jobs):
        """(distances, indices), each (n, k)."""
        k = _core.check_k(k, self.rows.shape[0], "n_neighbors")
        train, queries = self.against(X)
        D = np.empty((X.shape[0], k), np.float64)
        I = np.empty((X.shape[0], k), np.int64)
        _knn.search(train, queries, k, _core.metric_name(metric), _core.threads(n_jobs), D, I)
        return D, I


class KNeighborsClassifier(ClassifierMixin, BaseEstimator):
    """Exact k-nearest-neighbour classifier on libknn, with scikit-learn's interface.

    Parameters
    ----------
    n_neighbors : int, default 5
        K, the neighbours that vote.
    metric : {'l2', 'l1', 'cosine'}, default 'l2'
        Euclidean or L1 distance ('euclidean' and 'manhattan' are accepted too), or the cosine
        distance 1 - cos(a, b), for float features only (a uint8 X is refused: pass
        X.astype(np.float32)); a zero vector is at distance 1 from everything.
    weights : {'uniform', 'distance'}, default 'uniform'
        Each neighbour counts 1, or 1 / distance; neighbours at distance 0, if any, decide
        alone (as in scikit-learn).
    ties : {'smallest-label', 'nearest'}, default 'smallest-label'
        A tied vote goes to the smallest tied class (the first in classes_: scikit-learn's
        rule, so that predictions equal scikit-learn's and predict is the argmax of
        predict_proba), or to the tied class holding the nearest neighbour (the default of
        the knn command and library).
    n_jobs : int or None, default None
        Threads. None or -1: all cores (OpenMP's default, OMP_NUM_THREADS), unlike
        scikit-learn, where None means one.

    Attributes
    ----------
    classes_ : ndarray
        The distinct labels of y, sorted (np.unique): any hashable labels.
    n_features_in_ : int
    n_samples_fit_ : int

    Notes
    -----
    Data types: uint8 X stays uint8, and distances are exact integers (L1; squared L2 for
    ordering); every other type (float64, integers, bool) is converted to float32, so
    results can differ from scikit-learn's float64 computation by rounding, and values
    beyond float32's range are refused. uint8 queries against float training data (or the
    reverse) are searched in float32.

    Copies: X is used without a copy when it is laid out as knn keeps rows (uint8 or
    float32, rows 64-byte aligned, each row a multiple of 64 bytes: e.g. what knn.load
    returns); otherwise it is copied once into that layout. Like scikit-learn, the fitted
    estimator refers to X, so changing X in place afterwards changes the model.

    Neighbours are ordered by (distance, training index), for any thread count; a
    neighbour list that ends inside a group of equal distances keeps the lower indices.
    predict_proba is each class's share of the vote (float32 sums, returned as float64).
    The GIL is released while searching.
    """

    def __init__(self, n_neighbors=5, metric="l2", weights="uniform", ties="smallest-label",
                 n_jobs=None):
        self.n_neighbors = n_neighbors
        self.metric = metric
        self.weights = weights
        self.ties = ties
        self.n_jobs = n_jobs

    # ---- validation -----------------------------------------------------------------------

    def _check_params(self):
        if isinstance(self.n_neighbors, (bool, np.bool_)) or not isinstance(
                self.n_neighbors, (int, np.integer)):
            raise TypeError(f"n_neighbors must be an int, not {self.n_neighbors!r}")
        if self.n_neighbors < 1:
            raise ValueError(f"Expected n_neighbors > 0. Got {self.n_neighbors}")
        _core.metric_name(self.metric)
        if self.weights not in _WEIGHTS:
            raise ValueError(f"unknown weights {self.weights!r}: use 'uniform' or 'distance'")
        if self.ties not in _TIES:
            raise ValueError(f"unknown ties {self.ties!r}: use 'nearest' or 'smallest-label'")
        _core.threads(self.n_jobs)

    def _check_fit_data(self, X, y):
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target "
                             f"y is None.")
        if HAVE_SKLEARN:
            X, y = self._validate_data(X, y, dtype="numeric", multi_output=False)
        else:
            X = _core.check_matrix(X)
            y = np.asarray(y)
            if y.ndim == 2 and y.shape[1] == 1:
                warnings.warn("A column-vector y was passed when a 1d array was expected. "
                              "Please change the shape of y to (n_samples, ), for example "
                              "using ravel().", stacklevel=3)
                y = y.ravel()
            if y.ndim != 1:
                raise ValueError(f"y should be a 1d array, got an array of shape {y.shape}")
            if len(y) != X.shape[0]:
                raise ValueError(f"Found input variables with inconsistent numbers of "
                                 f"samples: [{X.shape[0]}, {len(y)}]")
            self.n_features_in_ = X.shape[1]
        check_classification_targets(y)
        return _core.check_matrix(X), y

    def _check_query(self, X):
        check_is_fitted(self)
        if HAVE_SKLEARN:
            X = self._validate_data(X, dtype="numeric", reset=False)
        X = _core.check_matrix(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but {type(self).__name__} is "
                             f"expecting {self.n_features_in_} features as input.")
        return X

    # ---- fitting and pickling -------------------------------------------------------------

    def fit(self, X, y):
        """Keeps the training rows (uint8 as uint8, anything else as float32; no copy where
        X is in knn's layout) and labels (any hashable values, classes_ = np.unique(y)).
        Returns self."""
        self._check_params()
        X, y = self._check_fit_data(X, y)
        classes, codes = _core.encode_labels(y)
        self._set_train(_core.to_rows(X, _core.common_dtype(X)), codes, classes)
        return self

    def _set_train(self, rows, codes, classes, ds=None):
        self.classes_ = classes
        self.n_features_in_ = rows.shape[1]
        self.n_samples_fit_ = rows.shape[0]
        self._fit_X = rows
        self._y = codes
        self._train = _Train(rows, codes, len(classes), ds)

    def __getstate__(self):
        state = super().__getstate__() if hasattr(super(), "__getstate__") else dict(
            self.__dict__)
        state = dict(state)
        state.pop("_train", None)  # the library data set: rebuilt on unpickling
        return state

    def __setstate__(self, state):
        if hasattr(super(), "__setstate__"):
            super().__setstate__(state)
        else:
            self.__dict__.update(state)
        if "_fit_X" in state:
            rows = _core.to_rows(self._fit_X, self._fit_X.dtype, "_fit_X")
            self._fit_X = rows
            self._train = _Train(rows, self._y, len(self.classes_))

    # ---- prediction -----------------------------------------------------------------------

    def predict(self, X):
        """The class of every row of X: (n,) drawn from classes_."""
        X = self._check_query(X)
        pred, _, _, _ = self._train.classify(X, self.n_neighbors, self.metric, self.weights,
                                             self.ties, self.n_jobs)
        return self.classes_[pred]

    def predict_proba(self, X):
        """Each class's share of the vote: (n, len(classes_)) float64, rows summing to 1."""
        X = self._check_query(X)
        _, P, _, _ = self._train.classify(X, self.n_neighbors, self.metric, self.weights,
                                          self.ties, self.n_jobs, proba=True)
        return P

    def kneighbors(self, X=None, n_neighbors=None, return_distance=True):
        """The nearest training rows of every row of X: (distances, indices), each (n, k),
        or the indices alone. Distances are in the metric's units (L1, or Euclidean).
        X=None: the neighbours of every training row other than itself (as scikit-learn)."""
        check_is_fitted(self)
        k = self.n_neighbors if n_neighbors is None else n_neighbors
        if X is None:
            D, I = self._kneighbors_of_training_rows(k)
        else:
            D, I = self._train.search(self._check_query(X), k, self.metric, self.n_jobs)
        return (D, I) if return_distance else I

    def _kneighbors_of_training_rows(self, k):
        n = self.n_samples_fit_
        _core.check_k(k, n - 1, "n_neighbors")
        D, I = self._train.search(self._fit_X, k + 1, self.metric, self.n_jobs)
        # drop each row itself, or the last neighbour where duplicates pushed it out
        is_self = I == np.arange(n)[:, None]
        is_self[~is_self.any(axis=1), -1] = True
        keep = ~is_self
        return D[keep].reshape(n, k), I[keep].reshape(n, k)

    def to_model(self):
        """The fitted classifier as a Model (same rows, no copy), to save as a knn model
        file. Class names are the str() of classes_."""
        check_is_fitted(self)
        self._check_params()
        ds = _core.dataset(self._fit_X, self._y, len(self.classes_))
        ds.set_class_names([str(c) for c in self.classes_])
        return Model(ds, self.n_neighbors, _core.metric_name(self.metric), self.weights,
                     self.ties, self._fit_X, self._y, self.classes_)

    def save(self, path):
        """Writes the fitted classifier as a knn model file (Model.save: whole or not at
        all), readable by Model.load and the knn command (knn predict MODEL ...)."""
        self.to_model().save(path)


def _classes_from_names(names, num_classes):
    """The labels a model's classes stand for: ints where every name is a canonical decimal
    integer (a classifier of int labels was saved) or there are no names, else the names."""
    if names is None:
        return np.arange(num_classes)
    try:
        ints = [int(s) for s in names]
    except ValueError:
        return np.array(names)
    if all(str(i) == s for i, s in zip(ints, names)):
        return np.array(ints)
    return np.array(names)


class Model:
    """A knn model file: training rows, labels, class names and the settings (k, metric,
    weights, ties), as `knn fit` writes them.

    Model.load(path) maps the file (knn_dataset_load; no copy of the rows), and predicts
    from it directly; model.save(path) writes one (knn_model_write), replacing path whole
    or not at all. KNeighborsClassifier.to_model() and .save() turn a fitted classifier
    into one; model.to_classifier() gives a fitted KNeighborsClassifier back.

    Attributes: k, metric, weights, ties (as saved); classes_ (the class names, or ints where
    the names are decimal integers or absent); n_samples, n_features; dtype ('uint8' or
    'float32'); image_shape (height, width, channels).

    Fast approximate search: model.build_index() adds an HNSW graph (saved with the model;
    `knn fit --index hnsw` writes one too), and predictions then walk it when the metric is
    the index's, keeping `ef` candidates (None: the library's default, 48; more is slower and
    nearer exact); set `exact = True` to measure every training row. model.index describes
    the graph (None without one).
    """

    ef = None
    exact = False

    def __init__(self, ds, k, metric, weights, ties, rows=None, codes=None, classes=None):
        """Internal: use Model.load or KNeighborsClassifier.to_model."""
        self._ds = ds
        self.k, self.metric, self.weights, self.ties = k, metric, weights, ties
        self.classes_ = (classes if classes is not None
                         else _classes_from_names(ds.class_names(), ds.num_classes))
        self._rows, self._codes = rows, codes

    @classmethod
    def load(cls, path):
        """Loads a knn model file (mapped: the file must not change while the model is in
        use). OSError for a file that is missing, unreadable, corrupt or not a model."""
        ds = _knn.load(path)
        params = ds.model_params()
        if params is None:
            raise OSError(f"{path}: not a knn model file (load data sets with knn.load)")
        if not ds.has_labels:
            raise OSError(f"{path}: the model has no labels")
        if ds.dtype == "text":
            raise ValueError(f"{path}: a text model; the Python package takes arrays: use the "
                             "knn command or the C library for text")
        return cls(ds, *params)

    def save(self, path):
        """Writes the model file whole or not at all: into a new file beside path (mode 0666
        less the umask), then renamed over it."""
        path = os.fspath(path)
        folder = os.path.dirname(os.path.abspath(path))
        for attempt in range(100):
            tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp.{os.getpid()}.{attempt}")
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
                break
            except FileExistsError:
                continue
            except OSError as e:
                raise OSError(e.errno, f"{path}: cannot write: {e.strerror}") from None
        else:
            raise FileExistsError(f"{path}: no free temporary name beside it")
        try:
            try:
                self._ds.write(fd, self.k, self.metric, self.weights, self.ties)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise

    @property
    def n_samples(self):
        """Training rows."""
        return self._ds.count

    @property
    def n_features(self):
        """Values per row."""
        return self._ds.dim

    @property
    def dtype(self):
        """'uint8' or 'float32'."""
        return self._ds.dtype

    @property
    def image_shape(self):
        """(height, width, channels) of the training images ((dim, 1, 1) for vectors)."""
        return self._ds.image_shape

    def _query(self, X):
        X = _core.check_matrix(X)
        if X.shape[1] != self.n_features:
            raise ValueError(f"X has {X.shape[1]} features, but the model expects "
                             f"{self.n_features}")
        if X.dtype != np.uint8 and self.dtype == "uint8":
            raise ValueError("the model holds uint8 rows: give uint8 queries (or use "
                             "to_classifier() to search in float32)")
        return X

    def _run(self, X, proba=False, neighbors=False, k=None):
        X = self._query(X)
        k = _core.check_k(self.k if k is None else k, self.n_samples, "k")
        queries = _core.dataset(_core.to_rows(X, np.dtype(self.dtype)))
        n = X.shape[0]
        pred = np.empty(n, np.int32)
        P = np.empty((n, self._ds.num_classes), np.float64) if proba else None
        D = np.empty((n, k), np.float64) if neighbors else None
        I = np.empty((n, k), np.int64) if neighbors else None
        ef = 0 if self.ef is None else int(self.ef)
        if ef < 0:
            raise ValueError(f"ef = {ef}: give None (the default) or a positive number")
        _knn.classify(self._ds, queries, k, self.metric, self.weights, self.ties, 0, pred, P,
                      D, I, ef, bool(self.exact))
        return pred, P, D, I

    def build_index(self, M=16, ef_construction=200, n_jobs=None):
        """Builds the HNSW graph index of the rows for the model's metric (replacing any);
        the same graph for any n_jobs. ValueError for a bad M (2..128) or ef_construction
        (1..65536)."""
        self._ds.build_index(int(M), int(ef_construction), self.metric, _core.threads(n_jobs))
        return self

    @property
    def index(self):
        """The graph index: dict(kind, M, ef_construction, metric, levels, edges, bytes), or
        None."""
        return self._ds.index_info()

    def predict(self, X):
        """The class of every row of X (uint8 rows for a uint8 model), from classes_."""
        return self.classes_[self._run(X)[0]]

    def predict_proba(self, X):
        """Each class's share of the vote: (n, number of classes) float64."""
        return self._run(X, proba=True)[1]

    def kneighbors(self, X, n_neighbors=None):
        """(distances, indices) of the nearest training rows, each (n, k)."""
        _, _, D, I = self._run(X, neighbors=True, k=n_neighbors)
        return D, I

    def to_classifier(self):
        """A fitted KNeighborsClassifier with this model's rows (copied out of the file),
        labels, classes and settings."""
        rows = self._rows if self._rows is not None else _core.rows_of(self._ds)
        codes = self._codes if self._codes is not None else _core.labels_of(self._ds)
        clf = KNeighborsClassifier(n_neighbors=self.k, metric=self.metric,
                                   weights=self.weights, ties=self.ties)
        clf._set_train(rows, codes, self.classes_)
        return clf

    def __repr__(self):
        return (f"<knn.Model: {self.n_samples} rows of {self.n_features} {self.dtype}, "
                f"{len(self.classes_)} classes, k={self.k}, metric={self.metric!r}, "
                f"weights={self.weights!r}, ties={self.ties!r}>")
