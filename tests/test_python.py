"""test_python.py: the Python package knn (python/knn, setup.py): built here with
`setup.py build` into a temporary folder and imported from there (and once installed with pip
into a fresh venv, the documented way), then checked against scikit-learn's own estimator
checks, scikit-learn's brute-force KNeighborsClassifier on Fashion-MNIST, numpy brute force,
the knn command's cross-validation, bad input, model files, the GIL, and the package without
scikit-learn; it prints knn's time beside scikit-learn's for the README. Tests that need
numpy, scikit-learn or the data set say SKIP where they are missing.

Ties in distance: knn orders neighbours by (distance, training index); scikit-learn's brute
force sorts with an unstable sort, so where a neighbour list ends inside a group of equal
distances the two may keep different members. The comparisons check the distances exactly,
the neighbours below the last distance as sets, knn's own order against a numpy reference,
and the votes of every query whose K-th and (K+1)-th distances differ."""
import glob
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixtures  # noqa: E402
from fixtures import Skip  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KNN = os.path.abspath(os.environ.get("KNN_BIN") or os.path.join(ROOT, "knn"))
TMP = tempfile.mkdtemp(prefix="knn-python-")
N_TRAIN, N_TEST = 2000, 300

try:
    import numpy as np
except ImportError:
    np = None
try:
    from sklearn.neighbors import KNeighborsClassifier as SkKNN
except ImportError:
    SkKNN = None

knn = None  # the package under test, imported by build()
_data = {}


def missing_build_tools():
    """Why the package cannot be built here (no setuptools, no Python.h), or None."""
    import importlib.util
    import sysconfig
    if importlib.util.find_spec("setuptools") is None:
        return "setuptools is not installed (apt-get install python3-setuptools)"
    if not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")):
        return "Python.h is missing (apt-get install python3-dev)"
    return None


def build():
    """Builds the package into TMP/build (setup.py build; make builds build/libknn.a) and
    imports it from there. Returns an error message, or None."""
    r = subprocess.run([sys.executable, "setup.py", "-q", "build", "--build-base",
                        os.path.join(TMP, "build")], cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        return f"setup.py build failed:\n{r.stdout}\n{r.stderr}"
    sys.path.insert(0, glob.glob(os.path.join(TMP, "build", "lib.*"))[0])
    global knn
    import knn as package
    knn = package
    return None


def need_sklearn():
    if SkKNN is None:
        raise Skip("scikit-learn is not installed (apt-get install python3-sklearn)")


def fashion():
    """(Xtrain, ytrain, Xtest, ytest, names): the first N_TRAIN training and N_TEST test
    images of Fashion-MNIST as uint8, through knn.load."""
    if "fashion" not in _data:
        try:
            X, y, names = knn.load("fashion-mnist:train", limit=N_TRAIN)
            Xt, yt, _ = knn.load("fashion-mnist:test", limit=N_TEST)
        except OSError as e:
            raise Skip(f"Fashion-MNIST is missing (apt-get install dataset-fashion-mnist): {e}")
        _data["fashion"] = (X, y, Xt, yt, names)
    return _data["fashion"]


def brute(Xq, Xb, metric):
    """The exact (nq, nb) distance matrix in float64 (exact for integer data below 2^53)."""
    Xq = Xq.astype(np.float64)
    Xb = Xb.astype(np.float64)
    if metric == "l2":
        sq = (Xq ** 2).sum(1)[:, None] - 2 * Xq @ Xb.T + (Xb ** 2).sum(1)[None, :]
        return np.sqrt(np.maximum(sq, 0))
    out = np.empty((len(Xq), len(Xb)))
    for s in range(0, len(Xq), 25):
        out[s:s + 25] = np.abs(Xq[s:s + 25, None, :] - Xb[None, :, :]).sum(2)
    return out


def reference_neighbors(dist, k):
    """knn's documented order: by (distance, index), a stable sort of each row."""
    I = np.argsort(dist, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(dist, I, 1), I


def compare_with_sklearn(Xtr, ytr, Xte, exact):
    """knn against scikit-learn's brute force for K = 1, 5, 10, both weights, both metrics,
    ties='smallest-label'. exact: integer data, distances equal bit for bit."""
    full = {m: brute(Xte, Xtr, m) for m in ("l1", "l2")}
    boundary_ties = 0
    for metric, sk_metric in (("l1", "manhattan"), ("l2", "euclidean")):
        dist = full[metric]
        srt = np.sort(dist, axis=1)
        for K in (1, 5, 10):
            # queries whose K-th and (K+1)-th distances differ (or nearly, for float32)
            gap = srt[:, K] - srt[:, K - 1]
            clear = gap > (0 if exact else 1e-4 * srt[:, K])
            boundary_ties += int((~clear).sum())
            for weights in ("uniform", "distance"):
                ours = knn.KNeighborsClassifier(n_neighbors=K, metric=metric, weights=weights,
                                                ties="smallest-label").fit(Xtr, ytr)
                theirs = SkKNN(n_neighbors=K, metric=sk_metric, weights=weights,
                               algorithm="brute").fit(Xtr, ytr)
                D, I = ours.kneighbors(Xte)
                Ds, Is = theirs.kneighbors(Xte)
                what = f"{metric} K={K} {weights}"
                if exact:
                    assert np.array_equal(D, Ds), what
                    Dr, Ir = reference_neighbors(dist, K)
                    assert np.array_equal(I, Ir), what  # (distance, index) order
                else:
                    assert np.allclose(D, Ds, rtol=1e-5, atol=1e-5), what
                for q in np.flatnonzero(clear):
                    assert set(I[q]) == set(Is[q]), (what, q, I[q], Is[q])
                p, ps = ours.predict(Xte), theirs.predict(Xte)
                P, Ps = ours.predict_proba(Xte), theirs.predict_proba(Xte)
                assert np.array_equal(p[clear], ps[clear]), what
                assert np.allclose(P[clear], Ps[clear], atol=1e-6 if exact else 1e-4), what
                assert np.array_equal(ours.classes_, theirs.classes_)
    print(f"     {boundary_ties} query/K pairs with a tie at the K-th distance left out of the "
          f"vote comparison")


# ---- scikit-learn -----------------------------------------------------------------------------

def test_check_estimator():
    """scikit-learn's estimator checks, for the default and other settings."""
    need_sklearn()
    from sklearn.utils.estimator_checks import check_estimator
    from unittest import SkipTest
    skipped = set()
    for params in ({}, {"weights": "distance", "metric": "l1"}, {"n_neighbors": 1}):
        for est, check in check_estimator(knn.KNeighborsClassifier(**params),
                                          generate_only=True):
            name = getattr(check, "func", check).__name__
            try:
                check(est)
            except SkipTest as e:
                skipped.add(f"{name} ({e})")
            except Exception as e:
                raise AssertionError(f"{params} {name}: {e!r}") from e
    for s in sorted(skipped):
        print(f"     scikit-learn skipped {s}")


def test_sklearn_fashion_uint8():
    """uint8 Fashion-MNIST: predictions, probabilities, neighbours equal scikit-learn's."""
    need_sklearn()
    X, y, Xt, _, _ = fashion()
    compare_with_sklearn(X, y, Xt, exact=True)


def test_sklearn_fashion_float():
    """float64 Fashion-MNIST / 255 (knn: float32) against scikit-learn's float64."""
    need_sklearn()
    X, y, Xt, _, _ = fashion()
    compare_with_sklearn(X / 255.0, y, Xt / 255.0, exact=False)


def test_kneighbors_of_training_rows():
    """kneighbors() without X leaves each training row itself out, as scikit-learn does."""
    need_sklearn()
    X, y, _, _, _ = fashion()
    X, y = X[:500], y[:500]
    D, I = knn.KNeighborsClassifier(n_neighbors=4).fit(X, y).kneighbors()
    Ds, Is = SkKNN(n_neighbors=4, algorithm="brute").fit(X, y).kneighbors()
    assert np.array_equal(D, Ds)
    assert not (I == np.arange(500)[:, None]).any()
    assert all(set(a) == set(b) for a, b in zip(I, Is))


def test_string_labels_and_score():
    """Any hashable labels (here strings) and score() against scikit-learn."""
    need_sklearn()
    X, y, Xt, yt, names = fashion()
    names = np.array(names, dtype=object)
    ours = knn.KNeighborsClassifier(n_neighbors=5).fit(X, names[y])
    theirs = SkKNN(n_neighbors=5, algorithm="brute").fit(X, names[y])
    assert list(ours.classes_) == sorted(set(names))
    assert np.array_equal(ours.predict(Xt), theirs.predict(Xt))
    assert ours.score(Xt, names[yt]) == theirs.score(Xt, names[yt])


# ---- search, cross-validation ------------------------------------------------------------------

def test_search_numpy():
    """knn.search against numpy brute force: exact for uint8, float32-close for floats,
    (distance, index) order with duplicate rows."""
    rng = np.random.default_rng(1)
    xb = rng.integers(0, 256, (700, 37), dtype=np.uint8)
    xb[350:] = xb[:350]  # every row twice: equal distances, lower index first
    xq = rng.integers(0, 256, (60, 37), dtype=np.uint8)
    for metric in ("l1", "l2"):
        D, I = knn.search(xq, xb, 9, metric=metric)
        assert D.dtype == np.float64 and I.dtype == np.int64 and D.shape == (60, 9)
        Dr, Ir = reference_neighbors(brute(xq, xb, metric), 9)
        assert np.array_equal(D, Dr) and np.array_equal(I, Ir), metric
        xf, qf = xb / 7.0, xq / 7.0
        D, I = knn.search(qf, xf, 9, metric=metric, n_jobs=1)
        Dr, Ir = reference_neighbors(brute(qf, xf, metric), 9)
        assert np.allclose(D, Dr, rtol=1e-5)
        assert (I == Ir).mean() > 0.99, metric
    D, I = knn.search(xq[:1], xb, 1)  # one query, one neighbour
    assert D.shape == (1, 1) and I[0, 0] == reference_neighbors(brute(xq[:1], xb, "l2"), 1)[1]


def test_cosine():
    """metric='cosine' on float features: knn.search against a float64 numpy brute force
    (distances within 1e-5, the neighbours where distances differ by more than 1e-6), the
    classifier and cross_validate accept it, uint8 rows are refused with the library's
    message."""
    rng = np.random.default_rng(7)
    xb = rng.standard_normal((500, 24)).astype(np.float32)
    xb[5] = 0  # a zero row: distance 1 from everything
    xq = rng.standard_normal((40, 24)).astype(np.float32)
    D, I = knn.search(xq, xb, 6, metric="cosine")
    nb, nq = np.linalg.norm(xb.astype(np.float64), axis=1), np.linalg.norm(xq.astype(np.float64), axis=1)
    cos = (xq.astype(np.float64) @ xb.astype(np.float64).T) / np.outer(nq, np.where(nb == 0, 1, nb))
    full = np.where(nb[None, :] == 0, 1.0, 1.0 - cos)
    Dr, Ir = reference_neighbors(full, 6)
    assert np.abs(D - Dr).max() < 1e-5
    for q in range(40):
        for j in range(6):
            if I[q, j] != Ir[q, j]:
                assert abs(full[q, I[q, j]] - full[q, Ir[q, j]]) <= 1e-6, (q, j)
    y = (xb[:, 0] > 0).astype(int)
    clf = knn.KNeighborsClassifier(n_neighbors=3, metric="cosine").fit(xb, y)
    assert clf.predict(xq).shape == (40,)
    table = knn.cross_validate(xb, y, ks=(1, 3), metrics=("cosine", "l2"), folds=3)
    assert {r["metric"] for r in table["results"]} == {"cosine", "l2"}
    try:
        knn.search(xq.astype(np.uint8), xb.astype(np.uint8), 3, metric="cosine")
    except ValueError as e:
        assert "cosine is for float32 features" in str(e), e
    else:
        raise AssertionError("uint8 rows with cosine were accepted")


def test_cross_validate_cli():
    """knn.cross_validate equals `knn cv ... --json` on the same rows, fold by fold."""
    import json
    X, y, _, _, _ = fashion()
    for weights in ("uniform", "distance"):
        ours = knn.cross_validate(X, y, ks=(1, 3, 5, 8), metrics=("l1", "l2"), folds=5,
                                  mode="stratified", seed=3, weights=weights)
        r = subprocess.run([KNN, "cv", "fashion-mnist:train", "--train-limit", str(N_TRAIN),
                            "-k", "1,3,5,8", "--metric", "l1,l2", "--folds", "5", "--seed", "3",
                            "--weights", weights, "--json", "-q"],
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        cli = json.loads(r.stdout)
        assert ours["fold_sizes"] == cli["fold_sizes"]
        assert len(ours["results"]) == len(cli["results"]) == 8
        for a, b in zip(ours["results"], cli["results"]):
            assert (a["metric"], a["k"]) == (b["metric"], b["k"])
            assert np.allclose(a["fold_accuracy"], b["fold_accuracy"], atol=1e-6), (a, b)
            assert abs(a["mean"] - b["mean"]) < 1e-6 and abs(a["std"] - b["std"]) < 1e-6
        assert (ours["best"]["metric"], ours["best"]["k"]) == (cli["best"]["metric"],
                                                               cli["best"]["k"])
    default = knn.cross_validate(X[:60], y[:60])  # the default Ks that 60 rows allow
    assert [r["k"] for r in default["results"][:6]] == [1, 3, 5, 8, 10, 12, 15, 20][:6]
    assert max(r["k"] for r in default["results"]) < 48


# ---- layout and copies -------------------------------------------------------------------------

def test_zero_copy_layout():
    """Arrays in knn's layout are used in place; others are copied once, with equal results."""
    X, y, Xt, _, _ = fashion()
    clf = knn.KNeighborsClassifier().fit(X, y)
    assert np.shares_memory(clf._fit_X, X), "knn.load's rows should not be copied"
    contiguous = np.ascontiguousarray(X)  # 784-byte rows: copied into 832-byte rows
    clf2 = knn.KNeighborsClassifier().fit(contiguous, y)
    assert not np.shares_memory(clf2._fit_X, contiguous)
    assert np.array_equal(clf.predict(Xt), clf2.predict(Xt))
    f32 = knn._core.aligned_rows(len(X), 784, np.float32)  # 3136-byte rows: no padding
    f32[...] = X / 255.0
    assert np.shares_memory(knn.KNeighborsClassifier().fit(f32, y)._fit_X, f32)
    wide = np.full((len(X), 832), 7, np.uint8)  # the right stride, but padding is not zero
    wide[:, :784] = X
    view = wide[:, :784]
    clf3 = knn.KNeighborsClassifier().fit(view, y)
    assert np.array_equal(clf3.predict(Xt), clf.predict(Xt))
    assert np.array_equal(clf3.kneighbors(Xt)[0], clf.kneighbors(Xt)[0])
    Xw = np.asfortranarray(X[:100])  # any layout works
    assert np.array_equal(knn.search(Xt[:5], Xw, 3)[1], knn.search(Xt[:5], X[:100], 3)[1])


def test_dtypes():
    """uint8 stays exact; int, bool and float64 go through float32; mixed uint8 / float
    searches in float32."""
    X, y, Xt, _, _ = fashion()
    ref = knn.KNeighborsClassifier().fit(X, y).predict(Xt)
    for dtype in (np.int64, np.int16, np.float64, np.float32):
        got = knn.KNeighborsClassifier().fit(X.astype(dtype), y).predict(Xt.astype(dtype))
        assert (got == ref).mean() > 0.99, dtype
    mixed = knn.KNeighborsClassifier().fit(X, y).predict(Xt.astype(np.float32))
    assert (mixed == ref).mean() > 0.99
    clf = knn.KNeighborsClassifier().fit([[0, 0], [1, 1], [5, 5]], [True, False, True])
    assert clf.set_params(n_neighbors=1).predict([[4.6, 4.6]])[0] == True  # noqa: E712


# ---- errors ----------------------------------------------------------------------------------

def raises(exc, words, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except exc as e:
        assert words.lower() in str(e).lower(), (words, str(e))
        return
    raise AssertionError(f"{fn.__name__}{args} did not raise {exc.__name__}")


def test_bad_inputs():
    """Bad shapes, k, NaN, metrics, unfitted use, feature counts: clear exceptions."""
    X = np.arange(40, dtype=np.float64).reshape(10, 4)
    y = np.arange(10) % 2
    C = knn.KNeighborsClassifier
    raises(ValueError, "2D array", C().fit, X[0], y)
    raises(ValueError, "2D array", knn.search, X[0], X, 1)
    raises(ValueError, "inconsistent numbers of samples", C().fit, X, y[:5])
    raises(ValueError, "0 feature", C().fit, X[:, :0], y)
    raises(ValueError, "n_neighbors", C(n_neighbors=0).fit, X, y)
    raises(ValueError, "more than the 10 training samples", C(n_neighbors=11).fit(X, y).predict,
           X)
    raises(ValueError, "unknown metric", C(metric="angular").fit, X, y)
    raises(ValueError, "unknown weights", C(weights="inverse").fit, X, y)
    raises(ValueError, "ties", C(ties="random").fit, X, y)
    bad = X.copy()
    bad[3, 2] = np.nan
    raises(ValueError, "NaN", C().fit, bad, y)
    raises(ValueError, "NaN", C().fit(X, y).predict, bad)
    bad[3, 2] = np.inf
    raises(ValueError, "inf", C().fit, bad, y)
    raises(ValueError, "float32", knn.search, X * 1e300, X, 1)  # finite, beyond float32
    raises(knn.NotFittedError, "not fitted", C().predict, X)
    raises(ValueError, "not fitted", C().predict_proba, X)
    raises(ValueError, "X has 3 features", C().fit(X, y).predict, X[:, :3])
    raises(ValueError, "Unknown label type", C().fit, X, y + 0.5)
    raises(TypeError, "sparse", knn.search, _Sparse(), X, 1)
    raises(ValueError, "xq has 3 features but xb has 4", knn.search, X[:, :3], X, 1)
    raises(ValueError, "k = 11 is more than", knn.search, X, X, 11)
    raises(ValueError, "k = 0", knn.search, X, X, 0)
    raises(ValueError, "unknown metric", knn.search, X, X, 1, metric="hamming")
    raises(ValueError, "unknown fold mode", knn.cross_validate, X, y, mode="random")
    raises(ValueError, "folds", knn.cross_validate, X, y, ks=(1,), folds=11)
    raises(ValueError, "weights", knn.cross_validate, X, y, ks=(1,), weights="heavy")
    raises(ValueError, "K = 1 is listed twice", knn.cross_validate, X, y, ks=(1, 1))
    raises(OSError, "no-such-file", knn.load, os.path.join(TMP, "no-such-file"))
    raises(OSError, "no-such-file", knn.Model.load, os.path.join(TMP, "no-such-file"))
    junk = os.path.join(TMP, "junk.knn")
    with open(junk, "wb") as f:
        f.write(b"KNNMODEL" + b"\0" * 100)
    raises(OSError, "junk.knn", knn.Model.load, junk)
    raises(OSError, "cannot write", C().fit(X, y).save, os.path.join(TMP, "no", "dir.knn"))
    raises(TypeError, "must be a knn._knn.Dataset", knn._knn.search, 1, 2, 1, "l2", 0, None,
           None)


class _Sparse:
    """Stands in for a scipy sparse matrix (which has toarray)."""

    def toarray(self):
        return np.zeros((2, 4))


# ---- model files, pickling, threads ------------------------------------------------------------

def test_model_roundtrip():
    """A fitted classifier saved as a model file loads back (Model.load, mapped), predicts the
    same, turns back into a classifier, and is read by the knn command."""
    X, y, Xt, yt, names = fashion()
    clf = knn.KNeighborsClassifier(n_neighbors=7, metric="l1", weights="distance").fit(X, y)
    path = os.path.join(TMP, "fashion.knn")
    clf.save(path)
    model = knn.Model.load(path)
    assert (model.k, model.metric, model.weights, model.ties) == (7, "l1", "distance",
                                                                  "smallest-label")
    assert (model.n_samples, model.n_features, model.dtype) == (N_TRAIN, 784, "uint8")
    assert list(model.classes_) == list(range(10))  # int labels come back as ints
    assert np.array_equal(model.predict(Xt), clf.predict(Xt))
    assert np.allclose(model.predict_proba(Xt), clf.predict_proba(Xt))
    assert np.array_equal(model.kneighbors(Xt, 3)[1], clf.kneighbors(Xt, 3)[1])
    back = model.to_classifier()
    assert np.array_equal(back.predict(Xt), clf.predict(Xt))
    assert back.get_params()["n_neighbors"] == 7
    copy_path = os.path.join(TMP, "copy.knn")
    model.save(copy_path)
    with open(path, "rb") as a, open(copy_path, "rb") as b:
        assert a.read() == b.read()  # deterministic bytes
    floats = knn.KNeighborsClassifier(n_neighbors=3).fit(X / 255.0, y)  # a float32 model
    floats.save(path)
    model = knn.Model.load(path)
    assert model.dtype == "float32"
    assert np.array_equal(model.predict(Xt / 255.0), floats.predict(Xt / 255.0))
    named = knn.KNeighborsClassifier().fit(X, np.array(names)[y])
    named.save(path)  # replaced whole
    r = subprocess.run([KNN, "eval", path, "fashion-mnist:test", "--limit", str(N_TEST),
                        "--json", "-q"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    import json
    assert abs(json.loads(r.stdout)["accuracy"] - named.score(Xt, np.array(names)[yt])) < 1e-6
    assert list(knn.Model.load(path).classes_) == sorted(names)


def test_model_index():
    """Model.build_index adds the HNSW graph: saved and loaded with the model, the same file
    for any n_jobs, searched with `ef` (ef = every row: the exact answers), `exact` scans."""
    X, y, Xt, yt, _ = fashion()
    path = os.path.join(TMP, "index.knn")
    knn.KNeighborsClassifier(n_neighbors=5).fit(X, y).save(path)
    model = knn.Model.load(path)
    assert model.index is None
    exact_nb = model.kneighbors(Xt)[1]
    model.build_index(M=8, ef_construction=64, n_jobs=1)
    info = model.index
    assert info["kind"] == "hnsw" and info["M"] == 8 and info["metric"] == "l2", info
    model.save(path)
    again = knn.Model.load(path)
    assert again.index == info
    again.ef = model.n_samples
    assert np.array_equal(again.kneighbors(Xt)[1], exact_nb)
    again.ef = 10
    found = again.kneighbors(Xt)[1]
    recall = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(found, exact_nb)])
    assert recall > 0.9, recall
    again.exact = True
    assert np.array_equal(again.kneighbors(Xt)[1], exact_nb)
    two = knn.Model.load(path).build_index(M=8, ef_construction=64, n_jobs=2)
    other = os.path.join(TMP, "index2.knn")
    two.save(other)
    with open(path, "rb") as a, open(other, "rb") as b:
        assert a.read() == b.read()  # the same graph for 1 and 2 threads
    raises(ValueError, "M = 1", model.build_index, M=1)
    again.ef = -1
    raises(ValueError, "ef = -1", again.predict, Xt)


def test_pickle():
    """A pickled classifier predicts the same after loading (its rows re-laid out)."""
    X, y, Xt, _, _ = fashion()
    clf = knn.KNeighborsClassifier(n_neighbors=3).fit(X, y)
    back = pickle.loads(pickle.dumps(clf))
    assert np.array_equal(back.predict(Xt), clf.predict(Xt))
    assert back.get_params() == clf.get_params()


def test_gil_released():
    """Another Python thread runs while knn searches."""
    rng = np.random.default_rng(0)
    xb = rng.random((20000, 256), dtype=np.float32)
    xq = rng.random((2000, 256), dtype=np.float32)
    ticks = []
    done = threading.Event()

    def counter():
        while not done.is_set():
            ticks.append(1)
            time.sleep(0.001)

    t = threading.Thread(target=counter)
    t.start()
    start = time.time()
    knn.search(xq, xb, 5, n_jobs=1)
    elapsed = time.time() - start
    done.set()
    t.join()
    assert elapsed < 0.05 or len(ticks) >= 10, (elapsed, len(ticks))


def test_load():
    """knn.load: uint8 rows, int32 labels, class names; a limit; the first image's bytes."""
    X, y, _, _, names = fashion()
    assert X.shape == (N_TRAIN, 784) and X.dtype == np.uint8 and y.dtype == np.int32
    assert names[9] == "Ankle boot" and y[0] == 9
    X1, y1, _ = knn.load("fashion-mnist:train", limit=1)
    assert np.array_equal(X1[0], X[0]) and X1.flags.writeable
    folder = os.path.join(TMP, "idx")
    fixtures.write_idx_pair(folder, "train", [[1, 2, 3, 4], [5, 6, 7, 8]], None, 2, 2)
    Xn, yn, nn = knn.load(os.path.join(folder, "train-images-idx3-ubyte"))
    assert Xn.tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]] and yn is None and nn is None


def test_load_features():
    """knn.load(features=NET.onnx): the network's float32 outputs (as knn embed writes them),
    or their 8-bit codes with quantize=True; a bad network raises with knn's message."""
    try:
        import torch
    except ImportError:
        raise Skip("PyTorch is not installed for /usr/bin/python3")
    folder = os.path.join(TMP, "feat")
    rows = [[(i * 7 + d * 3) % 256 for d in range(16)] for i in range(12)]
    images = fixtures.write_idx_pair(folder, "train", rows, [i % 2 for i in range(12)], 4, 4)
    net = os.path.join(folder, "lin.onnx")
    torch.manual_seed(0)
    lin = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3)).eval()
    torch.onnx.export(lin, torch.zeros(1, 1, 4, 4), net, opset_version=13, input_names=["x"],
                      output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})
    try:
        X, y, _ = knn.load(images, features=net)
    except ValueError as e:
        if "without the ONNX runtime" in str(e):
            raise Skip("libknn was built without the ONNX runtime (libopencv-dnn-dev)")
        raise
    with torch.no_grad():
        want = lin(torch.tensor(rows, dtype=torch.float32).reshape(12, 1, 4, 4) / 255).numpy()
    assert X.shape == (12, 3) and np.abs(X - want).max() <= 1e-5, np.abs(X - want).max()
    assert y.tolist() == [i % 2 for i in range(12)]
    # preprocessing as documented: (pixel * scale - mean) / std
    Xp, _, _ = knn.load(images, features=net, scale=0.01, mean=0.5, std=[2, 2, 2])
    with torch.no_grad():
        want = lin((torch.tensor(rows, dtype=torch.float32).reshape(12, 1, 4, 4) * 0.01 - 0.5)
                   / 2).numpy()
    assert np.abs(Xp - want).max() <= 1e-5, np.abs(Xp - want).max()
    try:
        knn.load(images, features=net, std=0)
        raise AssertionError("std = 0 was taken")
    except ValueError as e:
        assert "standard deviations" in str(e), e
    Q, _, _ = knn.load(images, features=net, quantize=True)
    assert Q.dtype == np.uint8 and Q.shape == (12, 3) and Q.min() == 0 and Q.max() == 255
    for bad in (lambda: knn.load(images, features=os.path.join(folder, "none.onnx")),
                lambda: knn.load(images, quantize=True)):
        try:
            bad()
            raise AssertionError("no error")
        except (OSError, ValueError) as e:
            assert "none.onnx" in str(e) or "quantize" in str(e), e


def test_without_sklearn():
    """The package without scikit-learn: fit, predict, get/set_params, score, errors."""
    code = """
import sys
sys.modules['sklearn'] = None  # import sklearn fails
sys.path.insert(0, %r)
import numpy as np, knn
assert not knn.HAVE_SKLEARN
X = np.array([[0, 0], [0, 1], [5, 5], [5, 6]], np.uint8)
clf = knn.KNeighborsClassifier(n_neighbors=1).fit(X, ['a', 'a', 'b', 'b'])
assert list(clf.predict(np.array([[1, 0], [6, 6]], np.uint8))) == ['a', 'b']
assert clf.get_params()['n_neighbors'] == 1
assert 'n_neighbors=3' in repr(clf.set_params(n_neighbors=3))
assert clf.score(X, ['a', 'a', 'b', 'b']) == 1.0
for bad in (lambda: knn.KNeighborsClassifier().predict(X), lambda: clf.predict(X[:, :1]),
            lambda: clf.set_params(k=2)):
    try:
        bad()
        raise SystemExit('no error')
    except ValueError:
        pass
print('ok')
""" % glob.glob(os.path.join(TMP, "build", "lib.*"))[0]
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_pip_install():
    """`python3 -m pip install --no-build-isolation .` into a fresh venv (made with
    --system-site-packages for numpy), from a copy of the sources, offline."""
    src = os.path.join(TMP, "src")
    os.makedirs(os.path.join(src, "build"))
    for name in ("Makefile", "setup.py", "pyproject.toml", "README.md", "src", "include",
                 "python"):
        copy = shutil.copytree if os.path.isdir(os.path.join(ROOT, name)) else shutil.copy2
        copy(os.path.join(ROOT, name), os.path.join(src, name))
    for name in ("src", "libknn.a"):  # the objects make built, so make has nothing to do
        path = os.path.join(ROOT, "build", name)
        if os.path.exists(path):
            copy = shutil.copytree if os.path.isdir(path) else shutil.copy2
            copy(path, os.path.join(src, "build", name))
    venv = os.path.join(TMP, "venv")
    r = subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", venv],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise Skip(f"python3 -m venv fails (apt-get install python3-venv): {r.stdout.strip()}")
    py = os.path.join(venv, "bin", "python")
    r = subprocess.run([py, "-m", "pip", "install", "-q", "--no-build-isolation", "--no-index",
                        "."], cwd=src, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([py, "-c", "import knn, numpy as np; print(knn.__file__); "
                        "print(knn.search(np.eye(3), np.eye(3), 1)[1].ravel().tolist())"],
                       cwd=TMP, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert os.path.join(venv, "lib") in r.stdout and "[0, 1, 2]" in r.stdout, r.stdout


def test_timing():
    """Prints knn's time beside scikit-learn's (brute force) for predict: 10,000 Fashion-MNIST
    test images against the 60,000 training images, K = 5 (measured once, not asserted)."""
    try:
        X, y, names = knn.load("fashion-mnist:train")
        Xt, yt, _ = knn.load("fashion-mnist:test")
    except OSError as e:
        raise Skip(f"Fashion-MNIST is missing: {e}")
    rows = []
    for label, dtype in (("uint8", np.uint8), ("float32", np.float32)):
        Xa = X if dtype == np.uint8 else X / np.float32(255)
        Xta = Xt if dtype == np.uint8 else Xt / np.float32(255)
        peers = [("knn.KNeighborsClassifier", knn.KNeighborsClassifier(n_neighbors=5))]
        if SkKNN is not None:
            peers.append(("sklearn KNeighborsClassifier(algorithm='brute', n_jobs=-1)",
                          SkKNN(n_neighbors=5, algorithm="brute", n_jobs=-1)))
        for name, clf in peers:
            clf.fit(Xa, y)
            start = time.time()
            acc = (clf.predict(Xta) == yt).mean()
            rows.append((name, label, time.time() - start, acc))
    print(f"     predict: 10,000 x 60,000 Fashion-MNIST images, K = 5, L2, "
          f"{os.cpu_count()} CPUs, knn kernels {knn.isa()}")
    for name, label, seconds, acc in rows:
        print(f"       {name:<60} {label:<8} {seconds:6.1f} s   accuracy {100 * acc:.2f}%")


def main():
    if np is None:
        print("SKIP python: numpy is not installed (apt-get install python3-numpy)")
        print("python: 0 passed, 0 failed")
        return 0
    why = missing_build_tools()
    if why:
        print(f"SKIP python: {why}")
        print("python: 0 passed, 0 failed")
        return 0
    error = build()
    if error:
        print(f"FAIL build: {error}")
        print("python: 0 passed, 1 failed")
        shutil.rmtree(TMP, ignore_errors=True)
        return 1
    return fixtures.run_tests("python", globals(), KNN, TMP)


if __name__ == "__main__":
    sys.exit(main())
