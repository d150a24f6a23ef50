"""peers.py: the systems users would pick instead of knn, on the same work: classify the
Fashion-MNIST test images by their K = 5 nearest training images (uniform vote, ties to the
class of the nearest neighbour, as knn does). Prints one JSON line per peer; a peer that is not
installed prints a line saying so. Run by bench.py with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE
unset, so that the BLAS-backed peers run their best kernels."""
import gzip
import json
import os
import sys
import time

import numpy as np

DATA = "/usr/share/datasets/fashion-mnist"
K = 5
THREADS = os.cpu_count()


def load(name):
    with gzip.open(os.path.join(DATA, name)) as f:
        raw = f.read()
    nd = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * nd).reshape(dims[0], -1)


def vote(neighbor_labels):
    """Uniform vote; a tie goes to the tied class holding the nearest neighbour."""
    n = len(neighbor_labels)
    counts = np.zeros((n, 10), np.int32)
    for j in range(neighbor_labels.shape[1]):
        counts[np.arange(n), neighbor_labels[:, j]] += 1
    best = counts.max(1)
    pred = np.full(n, -1)
    for j in range(neighbor_labels.shape[1]):
        lab = neighbor_labels[:, j]
        take = (pred < 0) & (counts[np.arange(n), lab] == best)
        pred[take] = lab[take]
    return pred


def report(name, seconds, accuracy, queries, scaled_from=None, note=""):
    print(json.dumps({"peer": name, "seconds": seconds, "accuracy": accuracy,
                      "queries": queries, "scaled_from": scaled_from, "note": note}), flush=True)


def missing(name, package):
    print(json.dumps({"peer": name, "missing": package}), flush=True)


def main():
    train, test = load("train-images-idx3-ubyte.gz"), load("t10k-images-idx3-ubyte.gz")
    ytrain = load("train-labels-idx1-ubyte.gz").ravel().astype(np.int64)
    ytest = load("t10k-labels-idx1-ubyte.gz").ravel().astype(np.int64)
    trainf, testf = train.astype(np.float32), test.astype(np.float32)
    which = sys.argv[1:] or ["faiss-l2", "faiss-l1", "sklearn-l2", "torch-l2", "sklearn-cv"]

    if "faiss-l2" in which or "faiss-l1" in which:
        try:
            import faiss
            faiss.omp_set_num_threads(THREADS)
            if "faiss-l2" in which:
                t = time.time()
                index = faiss.IndexFlatL2(train.shape[1])
                index.add(trainf)
                _, idx = index.search(testf, K)
                acc = float((vote(ytrain[idx]) == ytest).mean())
                report("faiss IndexFlatL2", time.time() - t, acc, len(test))
            if "faiss-l1" in which:
                sub = 500  # METRIC_L1 has no BLAS path: a subset, scaled to the full test set
                t = time.time()
                index = faiss.IndexFlat(train.shape[1], faiss.METRIC_L1)
                index.add(trainf)
                _, idx = index.search(testf[:sub], K)
                s = time.time() - t
                acc = float((vote(ytrain[idx]) == ytest[:sub]).mean())
                report("faiss IndexFlat METRIC_L1", s * len(test) / sub, acc, len(test),
                       scaled_from=sub, note=f"{sub} queries timed, scaled")
        except ImportError:
            missing("faiss", "python3-faiss")

    if "sklearn-l2" in which:
        try:
            from sklearn.neighbors import KNeighborsClassifier
            t = time.time()
            clf = KNeighborsClassifier(n_neighbors=K, algorithm="brute", n_jobs=-1)
            clf.fit(trainf, ytrain)
            pred = clf.predict(testf)
            report("scikit-learn brute L2", time.time() - t, float((pred == ytest).mean()),
                   len(test), note="ties: smallest label")
        except ImportError:
            missing("scikit-learn", "python3-sklearn")

    if "sklearn-cv" in which:
        try:
            from sklearn.model_selection import GridSearchCV
            from sklearn.neighbors import KNeighborsClassifier
            n = 10000
            t = time.time()
            grid = GridSearchCV(KNeighborsClassifier(algorithm="brute"),
                                {"n_neighbors": [1, 3, 5, 8, 10, 12, 15, 20, 50, 100]},
                                cv=5, n_jobs=-1)
            grid.fit(trainf[:n], ytrain[:n])
            print(json.dumps({"peer": "scikit-learn GridSearchCV brute L2, 5 folds",
                              "cv": True, "seconds": time.time() - t,
                              "best_k": int(grid.best_params_["n_neighbors"]),
                              "best_mean": float(grid.best_score_), "images": n}), flush=True)
        except ImportError:
            missing("scikit-learn", "python3-sklearn")

    if "torch-l2" in which:
        try:
            import torch
            torch.set_num_threads(THREADS)
            t = time.time()
            tr = torch.from_numpy(trainf)
            preds = []
            for s in range(0, len(test), 1000):
                d = torch.cdist(torch.from_numpy(testf[s:s + 1000]), tr)
                idx = d.topk(K, largest=False).indices.numpy()
                preds.append(vote(ytrain[idx]))
            acc = float((np.concatenate(preds) == ytest).mean())
            report("PyTorch cdist + topk", time.time() - t, acc, len(test))
        except ImportError:
            missing("PyTorch", "python3-torch")


if __name__ == "__main__":
    main()
