"""mpi.py: knn-mpi on 1 and 2 ranks of this machine (make bench prints this section; make
bench-mpi alone): the wall time (mpirun's start, the load and the search) and every rank's
peak resident memory, on Fashion-MNIST's model file (60,000 images: each rank maps it and
reads its own rows) and on cross-validation, with the same cores in both (1 rank x all
threads, 2 ranks x half of them each). Every output must equal knn's byte for byte (bar the
"seconds" field); the point on one machine is that, and memory that falls with the shard,
not speed. Skipped where Open MPI or knn-mpi is missing."""
import json
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KNN = os.path.join(ROOT, "knn")
KNN_MPI = os.path.join(ROOT, "knn-mpi")
WORK = os.path.join(ROOT, "build", "bench-mpi")
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")


def without_seconds(text):
    out = json.loads(text)
    out.pop("seconds", None)
    return out


def on_ranks(ranks, args):
    """Wall time, the JSON printed, and each rank's peak resident memory (MiB, GNU time's
    %M of that rank alone)."""
    threads = max(1, (os.cpu_count() or 1) // ranks)
    for name in os.listdir(WORK):
        if name.startswith("rss."):
            os.remove(os.path.join(WORK, name))
    rank_cmd = ("exec /usr/bin/time -f %M -o " + os.path.join(WORK, "rss.$OMPI_COMM_WORLD_RANK")
                + " " + " ".join([KNN_MPI, *args]))
    t = time.time()
    r = subprocess.run(["mpirun", "-q", "--oversubscribe", "--bind-to", "none", "-np", str(ranks),
                        "sh", "-c",
                        rank_cmd], capture_output=True, text=True,
                       env=dict(ENV, OMP_NUM_THREADS=str(threads)))
    wall = time.time() - t
    if r.returncode != 0:
        raise RuntimeError(f"knn-mpi on {ranks} ranks failed: {r.stderr.strip()}")
    rss = []
    for rank in range(ranks):
        with open(os.path.join(WORK, f"rss.{rank}")) as f:
            rss.append(int(f.read().split()[-1]) / 1024)
    return wall, r.stdout, rss, threads


def run():
    """Prints the section; returns its checks (what, value, limit, at most)."""
    print("\nknn-mpi: the training set split over MPI ranks on this machine (wall times with "
          "mpirun's start; peak memory of each rank)")
    if not shutil.which("mpirun") or not os.access(KNN_MPI, os.X_OK):
        print("  (Open MPI or knn-mpi missing: sh scripts/deps.sh mpi && make mpi; skipped)")
        return []
    if not shutil.which("time") and not os.path.exists("/usr/bin/time"):
        print("  (GNU time missing: sh scripts/deps.sh bench; skipped)")
        return []
    os.makedirs(WORK, exist_ok=True)
    model = os.path.join(WORK, "fashion.knn")
    subprocess.run([KNN, "fit", "fashion-mnist:train", "-o", model, "-k", "5", "-q"],
                   check=True, env=ENV)
    jobs = [("eval, model file of 60,000 images, 10,000 tests, K = 5",
             ["eval", model, "fashion-mnist:test", "-q", "--json"]),
            ("cv, first 10,000 training images, l2, K in 1,5,20",
             ["cv", "fashion-mnist:train", "--train-limit", "10000", "--metric", "l2", "-k",
              "1,5,20", "-q", "--json"])]
    checks = []
    for what, args in jobs:
        want = subprocess.run([KNN, *args], capture_output=True, text=True, check=True,
                              env=ENV).stdout
        print(f"  {what}:")
        same = True
        peaks = {}
        for ranks in (1, 2):
            wall, out, rss, threads = on_ranks(ranks, args)
            same = same and without_seconds(out) == without_seconds(want)
            result = json.loads(out)
            score = (f"accuracy {100 * result['accuracy']:.2f}%" if "accuracy" in result else
                     f"best K = {result['best']['k']}, mean accuracy "
                     f"{100 * result['best']['mean']:.2f}%" if "best" in result else "")
            print(f"    {ranks} rank{'s' if ranks > 1 else ' '} x {threads} thread"
                  f"{'s' if threads > 1 else ' '}: {wall:6.2f} s, peak memory per rank "
                  f"{', '.join(f'{m:.1f}' for m in rss)} MiB; {score}")
            peaks[ranks] = max(rss)
        print(f"    output equal to knn's, byte for byte (bar the time): {'yes' if same else 'NO'}")
        checks.append((f"knn-mpi {args[0]}: 1 and 2 ranks print knn's output (1 = yes)",
                       1.0 if same else 0.0, 1.0, False))
        checks.append((f"knn-mpi {args[0]}: peak per rank, 2 ranks / 1 rank", peaks[2] / peaks[1],
                       1.0, True))
    return checks


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import checks as checks_mod  # noqa: E402
    checks_mod.print_checks(run())
