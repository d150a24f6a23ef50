"""text.py: the text section of make bench: tf-idf k-NN on the Debian package descriptions
(scripts/text_corpus.py: `apt-cache dumpavail`, labelled by Section, split 90/10 by package
name), knn against scikit-learn's TfidfVectorizer(sublinear_tf=True) + KNeighborsClassifier
(cosine, brute force), K = 10, on the same files, in one run; scikit-learn runs with one
thread and with all (n_jobs=-1), and the faster of the two is compared.

Times are wall seconds from reading the files to the predictions, vectorising included:
knn's is the whole `knn eval` process. The vote's tie rule is scikit-learn's (the smallest
label) for the accuracy compared; knn's own default (the nearest neighbour's class) is
printed beside it. Then 5-fold cross-validation over K on the training set (knn cv), and the
test accuracy of the K it chooses.

    /usr/bin/python3 bench/text.py            # this section alone (make bench-text)
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checks as checks_mod  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KNN = os.path.join(ROOT, "knn")
CORPUS = os.path.join(ROOT, "build", "bench-text")
K = 10
KS = "1,3,5,8,10,12,15,20,30,50"


def build_corpus():
    train, test = os.path.join(CORPUS, "train.tsv"), os.path.join(CORPUS, "test.tsv")
    if not (os.path.exists(train) and os.path.exists(test)):
        subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "text_corpus.py"), CORPUS],
                       check=True)
    return train, test


def peer(train, test, k):
    """scikit-learn, in this process (run with OpenBLAS's variables unset)."""
    t0 = time.perf_counter()
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.neighbors import KNeighborsClassifier
    import numpy as np

    def load(p):
        y, x = [], []
        with open(p, encoding="utf-8") as f:
            for line in f:
                line = line.rstrip("\n")
                if line:
                    a, _, b = line.partition("\t")
                    y.append(a)
                    x.append(b)
        return x, y
    t_import = time.perf_counter() - t0
    runs = {}
    for jobs in (None, -1):  # one thread, and all: the faster is the one compared
        t0 = time.perf_counter()
        xtr, ytr = load(train)
        xte, yte = load(test)
        v = TfidfVectorizer(sublinear_tf=True)
        a = v.fit_transform(xtr)
        b = v.transform(xte)
        clf = KNeighborsClassifier(n_neighbors=k, metric="cosine", algorithm="brute",
                                   n_jobs=jobs)
        pred = clf.fit(a, ytr).predict(b)
        runs[jobs] = (time.perf_counter() - t0, float(np.mean(np.array(pred) == np.array(yte))))
    best = min(runs, key=lambda j: runs[j][0])
    print(json.dumps({"seconds": runs[best][0], "accuracy": runs[best][1],
                      "n_jobs": "None" if best is None else str(best),
                      "other_seconds": runs[-1 if best is None else None][0],
                      "import_seconds": t_import, "vocabulary": len(v.vocabulary_),
                      "train": len(xtr), "test": len(xte)}))


def knn_eval(train, test, *args):
    t0 = time.perf_counter()
    r = subprocess.run([KNN, "eval", train, test, "--json", *map(str, args)], capture_output=True,
                       text=True, check=True)
    out = json.loads(r.stdout)
    out["wall"] = time.perf_counter() - t0
    return out


def run():
    """Prints the section; returns the target checks [(what, value, limit, at_most)]."""
    train, test = build_corpus()
    print("\nText: Debian package descriptions (scripts/text_corpus.py), tf-idf "
          "(sublinear tf), cosine, K = %d:" % K, flush=True)
    ev = knn_eval(train, test, "-k", K, "--ties", "smallest-label")
    ev_nearest = knn_eval(train, test, "-k", K)
    info = subprocess.run([KNN, "info", train, "--samples", "0"], capture_output=True,
                          text=True, check=True).stdout
    vocab = next(line for line in info.splitlines() if "vocabulary:" in line).split()[1]
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    r = subprocess.run([sys.executable, os.path.abspath(__file__), "--peer", train, test,
                        str(K)], capture_output=True, text=True, env=env)
    sk = json.loads(r.stdout) if r.returncode == 0 else None
    print(f"  {ev['total']} test, vocabulary of {vocab} terms (fitted on the training set)")
    print(f"  knn eval (whole process)       {ev['wall']:7.2f} s  accuracy {100 * ev['accuracy']:.2f}%"
          f"  (search {ev['seconds']:.2f} s; ties to the nearest: {100 * ev_nearest['accuracy']:.2f}%)")
    checks = []
    if sk:
        print(f"  scikit-learn (n_jobs={sk['n_jobs']:<4})     {sk['seconds']:7.2f} s  accuracy "
              f"{100 * sk['accuracy']:.2f}%  (vocabulary {sk['vocabulary']}; the other n_jobs "
              f"{sk['other_seconds']:.2f} s; its import {sk['import_seconds']:.2f} s not counted)")
        checks.append(("text: |knn accuracy - scikit-learn accuracy| (points)",
                       abs(100 * (ev["accuracy"] - sk["accuracy"])), 0.5, True))
        checks.append(("text: knn time / scikit-learn time", ev["wall"] / sk["seconds"], 0.1,
                       True))
    else:
        print("  (scikit-learn: not installed or failed; skipped)" +
              (f": {r.stderr.strip().splitlines()[-1]}" if r.stderr.strip() else ""))
    t0 = time.perf_counter()
    cv = subprocess.run([KNN, "cv", train, "-k", KS, "--json", "--test", test],
                        capture_output=True, text=True, check=True)
    cv_wall = time.perf_counter() - t0
    c = json.loads(cv.stdout)
    best = c["best"]
    print(f"  knn cv, 5 stratified folds over K = {KS}: {cv_wall:.2f} s; chosen K = {best['k']} "
          f"(mean validation accuracy {100 * best['mean']:.2f}%); test accuracy with it "
          f"{100 * c['test']['accuracy']:.2f}%")
    return checks


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--peer":
        peer(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return 0
    checks = run()
    checks_mod.print_checks(checks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
