"""test_fashion_mnist.py: knn on the real Fashion-MNIST (Debian's dataset-fashion-mnist) against
an exact brute-force reference in numpy: float64 arithmetic on integers below 2^53 is exact,
neighbours are ordered by (distance, index) with a stable sort, and the vote is the documented
uniform vote with the `nearest` tie rule. Every prediction and every neighbour must agree.
Skips, saying why, where the data set or numpy is missing."""
import csv
import gzip
import io
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KNN = os.path.join(ROOT, "knn")
DATA = "/usr/share/datasets/fashion-mnist"
K = 5


def skip(why):
    print(f"SKIP fashion-mnist: {why}")
    print("fashion-mnist: 0 passed, 0 failed, 1 skipped")
    sys.exit(0)


def run_knn(*args):
    t = time.time()
    r = subprocess.run([KNN, *map(str, args)], capture_output=True, text=True, timeout=1200)
    if r.returncode != 0:
        print(f"FAIL knn {' '.join(map(str, args))}: {r.stderr.strip()}")
        print("fashion-mnist: 0 passed, 1 failed")
        sys.exit(1)
    print(f"     knn {' '.join(map(str, args))}: {time.time() - t:.1f} s")
    return r.stdout


def load_idx(name, np):
    with gzip.open(os.path.join(DATA, name)) as f:
        raw = f.read()
    ndims = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndims).reshape(dims[0], -1)


def reference(train, test, train_labels, metric, np, chunk=500):
    """(predictions, neighbour indices, raw distances) by brute force."""
    tr = train.astype(np.float64)
    tn = (tr * tr).sum(1)
    train16 = train.astype(np.int16)
    preds, nbrs, dists = [], [], []
    for s in range(0, len(test), chunk):
        q = test[s:s + chunk]
        if metric == "l2":
            qf = q.astype(np.float64)
            d = (qf * qf).sum(1)[:, None] + tn[None, :] - 2.0 * (qf @ tr.T)
        else:
            d = np.stack([np.abs(train16 - row.astype(np.int16)).sum(1, dtype=np.int64)
                          for row in q]).astype(np.float64)
        kth = np.partition(d, K - 1, axis=1)[:, K - 1]
        for i in range(len(q)):
            cand = np.nonzero(d[i] <= kth[i])[0]  # ascending training index
            order = cand[np.argsort(d[i][cand], kind="stable")][:K]
            votes = {}
            for pos, j in enumerate(order):
                c = int(train_labels[j])
                n, first = votes.get(c, (0, pos))
                votes[c] = (n + 1, first)
            preds.append(min(votes, key=lambda c: (-votes[c][0], votes[c][1])))
            nbrs.append([int(j) for j in order])
            dists.append([int(round(d[i][j])) for j in order])
    return preds, nbrs, dists


def check(metric, limit, np, train, train_labels, test, test_labels):
    args = ["predict", "fashion-mnist:train", "fashion-mnist:test", "-k", K, "--metric", metric,
            "--format", "csv", "--neighbors", "-q"]
    if limit:
        args += ["--limit", limit]
    rows = list(csv.DictReader(io.StringIO(run_knn(*args))))
    n = limit or len(test)
    t = time.time()
    preds, nbrs, dists = reference(train, test[:n], train_labels, metric, np)
    print(f"     numpy reference, {metric}, {n} queries: {time.time() - t:.1f} s")
    assert len(rows) == n, (len(rows), n)
    bad = 0
    for q, row in enumerate(rows):
        got_nbrs = [int(row[f"nn{j + 1}_index"]) for j in range(K)]
        got_dist = [float(row[f"nn{j + 1}_distance"]) for j in range(K)]
        got_raw = [int(round(x * x)) if metric == "l2" else int(x) for x in got_dist]
        if int(row["label"]) != preds[q] or got_nbrs != nbrs[q] or got_raw != dists[q]:
            if bad < 5:
                print(f"     query {q}: knn {row['label']} {got_nbrs} {got_raw}, "
                      f"reference {preds[q]} {nbrs[q]} {dists[q]}")
            bad += 1
    assert bad == 0, f"{bad} of {n} queries differ from the reference"
    correct = sum(int(p == t) for p, t in zip(preds, test_labels[:n]))
    return correct, n


def main():
    if not os.access(KNN, os.X_OK):
        print("FAIL fashion-mnist: knn is not built")
        print("fashion-mnist: 0 passed, 1 failed")
        return 1
    if not os.path.isdir(DATA):
        skip(f"{DATA} is missing (Debian package dataset-fashion-mnist)")
    try:
        import numpy as np
    except ImportError:
        skip("numpy is missing (Debian package python3-numpy)")
    train = load_idx("train-images-idx3-ubyte.gz", np)
    train_labels = load_idx("train-labels-idx1-ubyte.gz", np).ravel()
    test = load_idx("t10k-images-idx3-ubyte.gz", np)
    test_labels = load_idx("t10k-labels-idx1-ubyte.gz", np).ravel()
    passed = failed = 0
    for metric, limit in (("l2", 0), ("l1", 200)):
        name = f"predictions_equal_reference_{metric}_{limit or 'all'}"
        try:
            correct, n = check(metric, limit, np, train, train_labels, test, test_labels)
            if metric == "l2":
                out = json.loads(run_knn("eval", "fashion-mnist:train", "fashion-mnist:test",
                                         "-k", K, "--metric", "l2", "--json", "-q"))
                assert out["correct"] == correct, (out["correct"], correct)
                assert 0.85 <= out["accuracy"] <= 0.86, out["accuracy"]
                print(f"     accuracy {out['accuracy']:.4f}, top-5 {out['top5_accuracy']:.4f}")
            print(f"ok   {name}")
            passed += 1
        except AssertionError as e:
            print(f"FAIL {name}: {e}")
            failed += 1
    print(f"fashion-mnist: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
