"""knn: exact k-nearest-neighbour search and classification (libknn) for numpy arrays.

    import knn
    X, y, names = knn.load("fashion-mnist:train")          # uint8 (60000, 784), labels, names
    clf = knn.KNeighborsClassifier(n_neighbors=5).fit(X, y)
    clf.predict(Xt); clf.predict_proba(Xt); clf.kneighbors(Xt); clf.score(Xt, yt)
    D, I = knn.search(xq, xb, k=10, metric="l2")           # like faiss: distances, indices
    table = knn.cross_validate(X, y, ks=(1, 3, 5), metrics=("l1", "l2"))
    clf.save("fmnist.knn"); model = knn.Model.load("fmnist.knn"); model.predict(Xt)

Conversions: uint8 arrays stay uint8 and distances are exact integers; every other numeric
type (float64, integers, bool) is converted to float32, so results can differ slightly from
a float64 computation. Arrays already in knn's row layout (rows 64-byte aligned, each a
multiple of 64 bytes; knn.load returns such arrays) are used without a copy; others are
copied once into it. Distances are in the metric's units (L1, Euclidean for L2, 1 - cos for
cosine, which takes float features only); neighbours
are ordered by (distance, training index), the same for any thread count. The GIL is released
while searching, classifying and cross-validating. Library errors raise ValueError (bad
arguments, shapes), OSError (files), MemoryError, or RuntimeError, with the library's message.

KNeighborsClassifier subclasses scikit-learn's BaseEstimator and ClassifierMixin where
scikit-learn is installed (and passes its check_estimator suite); it works without it too.
"""
from . import _knn
from ._classifier import HAVE_SKLEARN, KNeighborsClassifier, Model, NotFittedError
from ._core import cross_validate, load, search

__version__ = _knn.VERSION
__all__ = ["HAVE_SKLEARN", "KNeighborsClassifier", "Model", "NotFittedError", "cross_validate",
           "isa", "load", "search"]


def isa():
    """The distance kernels in use: 'scalar', 'avx2', 'avxvnni' (AVX2 with VEX VNNI) or
    'avx512' (AVX-512 F, BW and VNNI),
    the best this processor runs unless $KNN_ISA names a lesser one."""
    return _knn.isa()
