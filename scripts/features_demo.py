"""features_demo.py: `make features-demo`. k-NN on Fashion-MNIST's raw pixels next to k-NN on
the features of a small ConvNet, each chosen and tested the way the lecture says:

  1. train the ConvNet on the training split only (scripts/train_convnet.py, fixed seed) and
     export it to ONNX: build/features/convnet.onnx (kept; delete it to train again);
  2. knn embed: the training and test images through the network (OpenCV dnn, in knn);
  3. knn cv --test, for pixels and for features: 5-fold cross-validation on the training
     set chooses K and the metric, and the test set is evaluated once, with that choice;
  4. a table of both, with the time each step took.
"""
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KNN = os.path.join(ROOT, "knn")
OUT = os.path.join(ROOT, "build", "features")
NET = os.path.join(OUT, "convnet.onnx")
PY = "/usr/bin/python3"
KS = "1,3,5,8,10,12,15,20"


def run(args, what):
    """Runs a command, its progress on this terminal; returns (stdout, seconds)."""
    print(f"$ {' '.join(os.path.relpath(a, ROOT) if a.startswith(ROOT) else a for a in args)}",
          flush=True)
    start = time.time()
    r = subprocess.run(args, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    if r.returncode != 0:
        sys.exit(f"features-demo: {what} failed (exit status {r.returncode})")
    return r.stdout, time.time() - start


def cv(train, test, metrics):
    out, seconds = run([KNN, "cv", train, "--test", test, "--metric", metrics, "-k", KS,
                        "--json"], f"knn cv on {train}")
    j = json.loads(out)
    return j, seconds


def main():
    try:
        import torch  # noqa: F401
    except ImportError:
        sys.exit("features-demo: PyTorch is not installed for /usr/bin/python3 "
                 "(sh scripts/deps.sh features)")
    os.makedirs(OUT, exist_ok=True)
    probe = subprocess.run([KNN, "embed", "--help"], capture_output=True, text=True)
    if probe.returncode != 0:
        sys.exit("features-demo: knn is not built; run make")
    train_seconds = None
    if not os.path.exists(NET):
        _, train_seconds = run([PY, os.path.join(ROOT, "scripts", "train_convnet.py"), "-o",
                                NET], "training the ConvNet")
    embedded = {}
    for split in ("train", "test"):
        path = os.path.join(OUT, f"{split}.knn")
        _, embedded[split] = run([KNN, "embed", NET, f"fashion-mnist:{split}", "-o", path],
                                 f"embedding the {split} split")
    raw, raw_seconds = cv("fashion-mnist:train", "fashion-mnist:test", "l1,l2")
    feat, feat_seconds = cv(os.path.join(OUT, "train.knn"), os.path.join(OUT, "test.knn"),
                            "l1,l2,cosine")

    def row(name, j, seconds, extra=""):
        b, t = j["best"], j["test"]
        return (f"{name:<22} {b['metric']:>6} {b['k']:>3}  {100 * b['mean']:6.2f}%  "
                f"{100 * t['accuracy']:7.2f}%  {100 * t['top5_accuracy']:7.2f}%  "
                f"{seconds:7.1f} s{extra}")

    print()
    print("Fashion-MNIST, 60,000 training and 10,000 test images; K and the metric chosen by "
          "5-fold CV")
    print(f"on the training set (K in {KS}); the test set evaluated once with that choice.")
    print()
    print(f"{'rows':<22} {'metric':>6} {'K':>3}  {'CV mean':>7}  {'test':>8}  {'top-5':>8}  "
          f"{'CV+test':>9}")
    print(row("raw pixels (784 u8)", raw, raw_seconds))
    print(row("ConvNet features (128)", feat, feat_seconds))
    print()
    if train_seconds is not None:
        print(f"training the ConvNet (train split only, CPU): {train_seconds:.0f} s")
    print(f"embedding with knn (OpenCV dnn): train {embedded['train']:.1f} s, test "
          f"{embedded['test']:.1f} s")
    acc = 100 * feat["test"]["accuracy"]
    print(f"k-NN on ConvNet features: {acc:.2f}% on the test set "
          f"({'meets' if acc >= 90 else 'MISSES'} the 90% target; raw pixels "
          f"{100 * raw['test']['accuracy']:.2f}%)")


if __name__ == "__main__":
    main()
