"""test_mpi.py: knn-mpi (make mpi) on 1, 2 and 3 ranks of this machine against knn itself:
eval, predict --neighbors, cv (folds, hold-out, the plot) and -k auto give the same bytes for
any number of ranks, on IDX, CIFAR, float features, a model file, Fashion-MNIST where it is
installed, ties between shards and shards smaller than K; fit writes knn's model file; an
error on one rank is one line and the same exit status; a rank killed mid-run ends the job.
Skipped where Open MPI (mpirun) or knn-mpi is missing (scripts/deps.sh mpi, make mpi)."""
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixtures  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KNN = os.path.abspath(os.environ.get("KNN_BIN") or os.path.join(ROOT, "knn"))
KNN_MPI = os.path.abspath(os.environ.get("KNN_MPI_BIN") or os.path.join(ROOT, "knn-mpi"))
TMP = tempfile.mkdtemp(prefix="knn-mpi-")
TIMEOUT = 300
FASHION = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
Skip = fixtures.Skip

# mpirun refuses root unless told; the ranks run one thread each on 2 ranks, two elsewhere
# (few queries on two threads split a shard's rows into parts), knn its default: the answer
# must not depend on any of them
ENV = {k: v for k, v in os.environ.items() if k not in ("KNN_DATA", "KNN_MIRROR")}
ENV.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_btl_vader_single_copy_mechanism="none")
RANK_ENV = dict(ENV, OMP_NUM_THREADS="1")


def path(*names):
    return os.path.join(TMP, *names)


def knn(*args):
    return subprocess.run([KNN, *map(str, args)], capture_output=True, env=ENV, cwd=TMP,
                          timeout=TIMEOUT)


def mpi(np, *args, mpirun_args=()):
    argv = ["mpirun", "-q", "--oversubscribe", *mpirun_args, "-np", str(np), KNN_MPI,
            *map(str, args)]
    env = dict(ENV, OMP_NUM_THREADS="1" if np == 2 else "2")
    return subprocess.run(argv, capture_output=True, env=env, cwd=TMP, timeout=TIMEOUT)


def same_as_knn(*args, ranks=(1, 2, 3)):
    """knn's output of args, and knn-mpi's on each number of ranks: the same bytes on stdout,
    the same stderr, exit status 0. Returns knn's stdout."""
    want = knn(*args)
    assert want.returncode == 0, (args, want.stderr)
    for np in ranks:
        got = mpi(np, *args)
        assert got.returncode == 0, (np, args, got.stderr)
        assert got.stdout == want.stdout, (np, args, got.stdout[:400], want.stdout[:400])
        assert got.stderr == want.stderr, (np, args, got.stderr, want.stderr)
    return want.stdout


def one_line(r, code, words):
    err = r.stderr.decode(errors="replace")
    assert r.returncode == code, (r.returncode, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert words in lines[0], (words, lines[0])
    assert r.stdout == b"", r.stdout


RNG = random.Random(18)
# values 0..3 in 12 dimensions: many rows at equal distances, so the order between shards
# rests on the training index
TRAIN = fixtures.write_idx_pair(path("small"), "train", fixtures.random_rows(RNG, 97, 12, top=4),
                                [RNG.randrange(4) for _ in range(97)], 3, 4)
TEST = fixtures.write_idx_pair(path("small"), "t10k", fixtures.random_rows(RNG, 41, 12, top=4),
                               [RNG.randrange(4) for _ in range(41)], 3, 4)
TINY = fixtures.write_idx_pair(path("tiny"), "train", fixtures.random_rows(RNG, 7, 12, top=4),
                               [0, 1, 2, 3, 0, 1, 2], 3, 4)
FLOAT = path("float", "train-images-idx3-ubyte")
os.makedirs(path("float"))
fixtures.write(FLOAT, fixtures.idx_images_f32(
    [[RNG.choice([0.0, 0.5, 1.0, -2.25]) for _ in range(6)] for _ in range(80)], 2, 3))
fixtures.write(path("float", "train-labels-idx1-ubyte"),
               fixtures.idx_labels([RNG.randrange(3) for _ in range(80)]))


def test_eval_every_rank_count():
    for opts in (["-k", "5"], ["-k", "4", "--metric", "l1", "--weights", "distance"],
                 ["-k", "9", "--ties", "smallest-label", "--confusion"]):
        same_as_knn("eval", TRAIN, TEST, "-q", *opts, ranks=(1, 2, 3, 5))


def test_predict_neighbors_formats():
    for fmt in ("text", "csv", "json"):
        same_as_knn("predict", TRAIN, TEST, "-k", "6", "--neighbors", "--top", "3",
                    "--format", fmt, "-q")


def test_shards_smaller_than_k():
    """7 rows on 3 ranks (2, 2 and 3 rows) and K = 5: each shard's lists are short."""
    same_as_knn("predict", TINY, TEST, "-k", "5", "--neighbors", "--top", "3", "-q")
    same_as_knn("eval", TINY, TEST, "-k", "7", "-q", ranks=(2, 3, 4))
    # 8 ranks for 7 rows: rank 0 holds none
    same_as_knn("predict", TINY, TEST, "-k", "3", "--neighbors", "--limit", "5", "-q",
                ranks=(8,))


def test_cv_folds_and_holdout():
    for opts in (["--folds", "4"], ["--contiguous", "--folds", "3"], ["--shuffle", "--seed", "5"],
                 ["--val-fraction", "0.3"], ["--weights", "distance", "--folds", "6"]):
        same_as_knn("cv", TRAIN, "-k", "1,2,5,12", "-q", *opts)
    same_as_knn("cv", TRAIN, "-k", "1,3", "--json", "--test", TEST)


def test_cv_plot_written_by_rank_0_only():
    want = knn("cv", TRAIN, "-k", "1,3,5", "-q", "--plot", path("want.svg"))
    assert want.returncode == 0, want.stderr
    os.makedirs(path("plots"))
    got = mpi(3, "cv", TRAIN, "-k", "1,3,5", "-q", "--plot", path("plots", "got.svg"))
    assert got.returncode == 0, got.stderr
    assert os.listdir(path("plots")) == ["got.svg"], os.listdir(path("plots"))
    with open(path("want.svg"), "rb") as a, open(path("plots", "got.svg"), "rb") as b:
        assert a.read() == b.read()


def test_k_auto():
    same_as_knn("eval", TRAIN, TEST, "-k", "auto", "--folds", "3", "-q")
    same_as_knn("predict", TRAIN, TEST, "-k", "auto", "--neighbors", "-q")


def test_float_features_and_cosine():
    for metric in ("l2", "l1", "cosine"):
        same_as_knn("predict", FLOAT, FLOAT, "-k", "4", "--metric", metric, "--neighbors",
                    "--limit", "25", "-q")
    same_as_knn("cv", FLOAT, "-k", "1,4", "--metric", "cosine,l2", "-q")


def test_cifar():
    os.makedirs(path("cifar"))
    rng = random.Random(3)
    for name, n in (("data_batch_1.bin", 60), ("test_batch.bin", 20)):
        with open(path("cifar", name), "wb") as f:
            f.write(fixtures.cifar10_batch([rng.randrange(10) for _ in range(n)], rng))
    same_as_knn("eval", path("cifar", "data_batch_1.bin"), path("cifar", "test_batch.bin"),
                "-k", "3", "-q")


def test_model_file():
    model = path("small.knn")
    r = knn("fit", TRAIN, "-o", model, "-k", "3", "--metric", "l1", "-q")
    assert r.returncode == 0, r.stderr
    same_as_knn("predict", model, TEST, "--neighbors", "--top", "2", "-q")
    same_as_knn("eval", model, TEST, "--train-limit", "50", "-q")


def test_fit_writes_knns_model():
    r = knn("fit", TRAIN, "-o", path("want.knn"), "-k", "4", "-q")
    assert r.returncode == 0, r.stderr
    os.makedirs(path("fit"))
    got = mpi(3, "fit", TRAIN, "-o", path("fit", "got.knn"), "-k", "4", "-q")
    assert got.returncode == 0, got.stderr
    assert os.listdir(path("fit")) == ["got.knn"]
    with open(path("want.knn"), "rb") as a, open(path("fit", "got.knn"), "rb") as b:
        assert a.read() == b.read()


def test_fashion_mnist():
    if not os.path.exists(FASHION):
        raise Skip("Fashion-MNIST is not installed (scripts/deps.sh test)")
    model = path("fashion.knn")
    r = knn("fit", "fashion-mnist:train", "--train-limit", "6000", "-o", model, "-k", "5", "-q")
    assert r.returncode == 0, r.stderr
    same_as_knn("eval", model, "fashion-mnist:test", "--limit", "500", "-q")
    same_as_knn("predict", model, "fashion-mnist:test", "--limit", "200", "--neighbors", "-q",
                ranks=(2, 3))
    same_as_knn("cv", "fashion-mnist:train", "--train-limit", "1500", "-k", "1,5,20", "-q",
                ranks=(2, 3))


def test_graph_index_per_shard():
    """A model with a graph index: each rank builds a graph of its shard (the file's
    settings) and walks it. One rank rebuilds the file's own graph: knn's output, byte for
    byte. More ranks: other graphs, so their own answer, the same on every run, with recall
    near 1 against the exact search; --exact is knn's exact answer."""
    if os.path.exists(FASHION):
        train, test, limit = "fashion-mnist:train", "fashion-mnist:test", ["--train-limit", "4000"]
    else:
        train, test, limit = TRAIN, TEST, []
    model = path("graph.knn")
    r = knn("fit", train, *limit, "-o", model, "--index", "hnsw", "-k", "5", "-q")
    assert r.returncode == 0, r.stderr
    args = ("eval", model, test, "--limit", "300", "-q")
    same_as_knn(*args, ranks=(1,))
    same_as_knn(*args, "--exact", ranks=(2, 3))
    for np in (2, 3):
        runs = [mpi(np, *args) for _ in range(2)]
        assert runs[0].returncode == 0, runs[0].stderr
        assert runs[0].stdout == runs[1].stdout, np
        r = mpi(np, *args, "--recall")  # its first line holds rates: not compared
        assert r.returncode == 0, r.stderr
        first = r.stdout.decode().splitlines()[0]
        assert first.startswith("Recall@5 against the exact search: "), first
        recall = float(first.split(": ")[1].split()[0])
        assert recall >= 0.95, (np, first)


def model_with_bad_row(model, row):
    """A copy of `model` whose row `row` has a non-zero padding byte, its checksum made
    right again: a fault that only the rank holding that row finds."""
    data = bytearray(open(model, "rb").read())
    dim = struct.unpack_from("<Q", data, 40)[0]
    stride = struct.unpack_from("<I", data, 52)[0]
    assert stride > dim
    data[256 + row * stride + dim] = 7
    struct.pack_into("<Q", data, 24, 0)
    struct.pack_into("<Q", data, 24, zlib.crc32(bytes(data)))
    bad = model + ".bad.knn"
    with open(bad, "wb") as f:
        f.write(data)
    return bad


def test_error_on_one_rank_is_one_line():
    model = path("err.knn")
    r = knn("fit", TRAIN, "-o", model, "-q")
    assert r.returncode == 0, r.stderr
    bad = model_with_bad_row(model, 90)  # the last shard's rows, for any number of ranks
    want = knn("eval", bad, TEST, "-q")
    one_line(want, 1, "row 90 has non-zero padding")
    for np in (1, 2, 3):
        got = mpi(np, "eval", bad, TEST, "-q")
        one_line(got, 1, "row 90 has non-zero padding")
        assert got.stderr == want.stderr, (np, got.stderr)
    one_line(mpi(2, "eval", TRAIN, TEST, "-k", "0", "-q"), 2, "-k '0'")
    one_line(mpi(3, "eval", TRAIN, path("missing"), "-q"), 1, "missing")
    one_line(mpi(2, "serve"), 2, "not a knn-mpi command")
    one_line(mpi(2, "predict", TRAIN, "-"), 2, "reaches rank 0 only")
    os.makedirs(path("photos", "cat"))
    with open(path("photos", "cat", "a.png"), "wb") as f:
        f.write(fixtures.png(4, 4, (1, 2, 3)))
    one_line(mpi(2, "eval", path("photos"), path("photos"), "-q"), 2,
             "cannot be split into shards")


def test_ranks_with_different_queries_fail_cleanly():
    """Ranks that loaded query sets of different sizes (a folder that differs between nodes)
    must not meet in one MPI_Allreduce of mismatched counts: one line, every rank stops."""
    argv = ["mpirun", "-q", "--oversubscribe", "-np", "1", KNN_MPI, "eval", TRAIN, TEST,
            "-q", ":", "-np", "1", KNN_MPI, "eval", TRAIN, TEST, "--limit", "30", "-q"]
    r = subprocess.run(argv, capture_output=True, env=RANK_ENV, cwd=TMP, timeout=TIMEOUT)
    one_line(r, 1, "the ranks disagree on the number of queries")


def test_rank_killed_ends_the_job():
    """SIGKILL to rank 1 while the ranks cross-validate: the job ends, with a failure, well
    before it would have finished; nothing hangs."""
    big = fixtures.write_idx_pair(path("big"), "train",
                                  fixtures.random_rows(random.Random(5), 6000, 512),
                                  [i % 10 for i in range(6000)], 16, 32)
    start = time.monotonic()
    p = subprocess.Popen(["mpirun", "-q", "--oversubscribe", "-np", "2", KNN_MPI, "cv", big,
                          "--folds", "10", "-q"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=RANK_ENV, cwd=TMP)
    victim = None
    while victim is None and time.monotonic() - start < 60 and p.poll() is None:
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read()
                with open(f"/proc/{pid}/environ", "rb") as f:
                    env = f.read().split(b"\0")
            except OSError:
                continue
            if KNN_MPI.encode() in cmd and b"OMPI_COMM_WORLD_RANK=1" in env:
                victim = int(pid)
        time.sleep(0.05)
    assert victim, "rank 1 never started"
    time.sleep(0.5)  # into the search
    assert p.poll() is None, "the job ended before rank 1 was killed: make it longer"
    os.kill(victim, signal.SIGKILL)
    try:
        p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        raise AssertionError("the job hangs after a rank died")
    assert p.returncode != 0, p.returncode


def main():
    if not shutil.which("mpirun"):
        print("SKIP mpi: Open MPI is not installed (sh scripts/deps.sh mpi)")
        print("mpi: 0 passed, 0 failed")
        return 0
    if not os.access(KNN_MPI, os.X_OK):
        print(f"SKIP mpi: {KNN_MPI} is not built (make mpi)")
        print("mpi: 0 passed, 0 failed")
        return 0
    return fixtures.run_tests("mpi", globals(), KNN, TMP)


if __name__ == "__main__":
    sys.exit(main())
