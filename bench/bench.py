"""bench.py: `make bench`. Times knn and its peers on the same work, in one run, and prints
the side-by-side table with accuracy next to speed, knn's rate against the measured peak of
the instruction its kernels use, single-query latency against the memory floor, and knn's peak
memory; then checks the targets of the speed issue (ratios measured here, never absolute
times). Peers that are not installed are skipped, saying so."""
import json
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import index  # noqa: E402  (the graph index's section)
import text  # noqa: E402  (the text section)
import images  # noqa: E402  (the photo section)
import mpi  # noqa: E402  (knn-mpi's section)
import checks as checks_mod  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = "/usr/share/datasets/fashion-mnist"


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def knn_numbers():
    r = subprocess.run([os.path.join(ROOT, "build", "knn_bench"), "fashion-mnist:train",
                        "fashion-mnist:test"], capture_output=True, text=True, check=True)
    return json_lines(r.stdout)


def knn_peak_memory_mib():
    """Peak resident memory of `knn eval` on the full data, as the kernel accounts it. It is
    the first child this process runs, so the children's maximum is its own."""
    r = subprocess.run([os.path.join(ROOT, "knn"), "eval", "fashion-mnist:train",
                        "fashion-mnist:test", "-k", "5", "-q", "--json"],
                       capture_output=True, text=True, check=True)
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, json.loads(r.stdout)


def timed_knn(*args):
    """Wall time and JSON output of one knn command (loading included)."""
    t = time.time()
    r = subprocess.run([os.path.join(ROOT, "knn"), *map(str, args), "-q", "--json"],
                       capture_output=True, text=True, check=True)
    return time.time() - t, json.loads(r.stdout)


def peers():
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    try:
        r = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "bench", "peers.py")],
                           capture_output=True, text=True, env=env, timeout=3600)
    except FileNotFoundError:
        return [{"peer": "all peers", "missing": "/usr/bin/python3"}]
    if r.returncode != 0:
        return [{"peer": "peers.py", "missing": r.stderr.strip().splitlines()[-1]}]
    return json_lines(r.stdout)


def features_numbers():
    """ConvNet features (make features-demo's network): float32 rows against their 8-bit
    codes (--quantize), the same test set, K = 5; search time from knn eval's own clock, with
    the accuracy next to it. None where the network has not been trained."""
    net = os.path.join(ROOT, "build", "features", "convnet.onnx")
    if not os.path.exists(net):
        return None
    out = os.path.join(ROOT, "build", "bench-features")
    os.makedirs(out, exist_ok=True)
    knn = os.path.join(ROOT, "knn")
    files = {"train": ("fashion-mnist:train",), "test": ("fashion-mnist:test",),
             "train-q": ("fashion-mnist:train", "--quantize")}
    for name, args in files.items():
        subprocess.run([knn, "embed", net, *args, "-o", os.path.join(out, name + ".knn"), "-q"],
                       check=True)
    rows = []
    for metric in ("l2", "l1"):
        for name in ("train", "train-q"):
            _, j = timed_knn("eval", os.path.join(out, name + ".knn"),
                             os.path.join(out, "test.knn"), "-k", 5, "--metric", metric)
            rows.append((metric, name, j["seconds"], j["accuracy"]))
    return rows


def print_minima(rows):
    """The cost of each class's nearest training image (the ranking of the classes without a
    vote): the search with and without it, and top-5 accuracy with the old label order and
    with the nearest-image order."""
    print("\neach class's nearest image, for the ranking (search: best of 3, with and without; "
          "vote with the ranking):")
    print(f"{'metric':6} {'classes':>7} {'without (s)':>11} {'with (s)':>9} {'cost':>6} "
          f"{'vote (s)':>8} {'top-1':>7} {'top-5 by label':>14} {'top-5 nearest':>13} "
          f"{'K=1 top-5 by label':>18} {'K=1 top-5 nearest':>17}")
    for r in rows:
        print(f"{r['metric'].upper():6} {r['classes']:7} {r['search_without_s']:11.2f} "
              f"{r['search_with_s']:9.2f} {100 * r['cost']:5.1f}% "
              f"{r['vote_nearest_s']:8.2f} {100 * r['accuracy']:6.2f}% "
              f"{100 * r['top5_label_order']:13.2f}% {100 * r['top5_nearest']:12.2f}% "
              f"{100 * r['k1_top5_label_order']:17.2f}% {100 * r['k1_top5_nearest']:16.2f}%")
    print("(1,000 classes: the training rows relabelled i mod 1000, accuracy at chance; "
          "K = 5 unless marked)")


def main():
    if not os.path.isdir(DATA):
        print(f"bench: {DATA} is missing (Debian package dataset-fashion-mnist)")
        return 1
    started = time.strftime("%Y-%m-%d %H:%M")
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), "?")
    # memory first, while nothing else of ours is running
    rss_mib, ev = knn_peak_memory_mib()
    k = knn_numbers()
    search = {x["metric"]: x for x in k if x["what"] == "search"}
    peak = {x["metric"]: x for x in k if x["what"] == "peak"}
    latency = {x["metric"]: x for x in k if x["what"] == "latency"}
    cv10_s, cv10 = timed_knn("cv", "fashion-mnist:train", "--train-limit", 10000)
    cv60_s, cv60 = timed_knn("cv", "fashion-mnist:train", "--metric", "l2")
    ev_s, _ = timed_knn("eval", "fashion-mnist:train", "fashion-mnist:test", "-k", 5)
    feats = features_numbers()
    ps = peers()
    grid = next((p for p in ps if p.get("cv")), None)
    ps = [p for p in ps if not p.get("cv")]

    l2, l1 = search["l2"], search["l1"]
    print(f"knn benchmark, {started}, {cpu}, {os.cpu_count()} cores, "
          f"knn kernels: {l2['isa']}, {l2['threads']} threads")
    print(f"Fashion-MNIST: {l2['queries']} test images against {l2['train']} training images, "
          f"K = 5, uniform vote\n")
    print(f"{'system':34} {'metric':6} {'time (s)':>9} {'vs knn':>8} {'accuracy':>9}")
    rows = [("knn", "L2", l2["seconds"], l2["accuracy"], "")]
    rows += [("knn", "L1", l1["seconds"], l1["accuracy"], "")]
    ratios = {}
    for p in ps:
        if "missing" in p:
            print(f"  ({p['peer']}: not installed: {p['missing']}; skipped)")
            continue
        metric = "L1" if "L1" in p["peer"] else "L2"
        rows.append((p["peer"], metric, p["seconds"], p["accuracy"], p.get("note", "")))
    for metric in ("L2", "L1"):
        base = l2["seconds"] if metric == "L2" else l1["seconds"]
        for name, m, secs, acc, note in rows:
            if m != metric:
                continue
            ratios[name] = secs / base
            print(f"{name:34} {m:6} {secs:9.2f} {secs / base:8.2f} {100 * acc:8.2f}%"
                  f"{'  (' + note + ')' if note else ''}")
    print()
    for metric in ("l2", "l1"):
        if metric in peak:
            pk, s = peak[metric], search[metric]
            print(f"knn {metric.upper()}: {s['gops']:.1f} G ops/s, {100 * s['fraction_of_peak']:.0f}% "
                  f"of the measured peak of {pk['instruction']} ({pk['peak_gops']:.1f} G ops/s "
                  f"= {pk['all_threads_ginstr']:.2f} G instructions/s x "
                  f"{pk['ops_per_instruction']:.0f})")
    kernels = [x for x in k if x["what"] == "kernel"]
    if kernels:
        print(f"each kernel alone, one thread, on one search tile ({128} x {48} rows of "
              f"{kernels[0]['bytes_per_row']} bytes, in the caches):")
    for x in kernels:
        print(f"  {x['isa']:8} {x['metric'].upper()}: {x['gops_per_thread']:6.1f} G ops/s, "
              f"{100 * x['fraction_of_peak']:3.0f}% of {x['instruction']}'s "
              f"{x['peak_gops_per_thread']:.1f}; tile "
              f"{'equal to' if x['equal_scalar'] else 'DIFFERS FROM'} the scalar one")
        assert x["equal_scalar"], f"the {x['isa']} {x['metric']} kernel differs from the scalar one"
    for metric in ("l2", "l1"):
        lt = latency[metric]
        print(f"one query at a time, {metric.upper()}: {lt['median_ms']:.2f} ms median; reading "
              f"the training set once takes {lt['memory_floor_ms']:.2f} ms "
              f"({lt['ratio']:.2f}x the floor)")
    print_minima([x for x in k if x["what"] == "minima"])
    for lr in (x for x in k if x["what"] == "long"):
        print(f"long rows, {lr['metric'].upper()}: {lr['queries']} x {lr['train']} rows of "
              f"{lr['dim']:,} values (256 x 256 RGB; dark training rows, bright queries), "
              f"K = 5: {lr['seconds']:.2f} s, "
              f"{lr['gops']:.1f} G ops/s; first {lr['checked_queries']} queries "
              f"{'equal' if lr['equal_reference'] else 'DIFFER FROM'} the scalar reference "
              f"(largest raw distance {lr['largest_raw_distance']:,})")
        assert lr["equal_reference"], "long rows differ from the reference"
    data_mib = (60000 + 10000) * 784 / 2**20
    print(f"peak memory of knn eval: {rss_mib:.1f} MiB; the uint8 data is {data_mib:.1f} MiB")

    print("\ncross-validation, 5 folds, K in 1,3,5,8,10,12,15,20,50,100 (wall times, loading "
          "included):")
    b = cv10["best"]
    print(f"  knn cv, first 10,000 training images, l1 and l2: {cv10_s:6.2f} s "
          f"(best K = {b['k']}, {b['metric']}, {100 * b['mean']:.2f}%)")
    if grid:
        print(f"  {grid['peer']}, same images, l2 only: {grid['seconds']:6.2f} s "
              f"(best K = {grid['best_k']}, {100 * grid['best_mean']:.2f}%)")
    else:
        print("  (scikit-learn GridSearchCV: not installed; skipped)")
    print(f"  knn cv, all 60,000 training images, l2: {cv60_s:6.2f} s; one knn eval of the "
          f"10,000 test images: {ev_s:.2f} s")

    if feats:
        print("\nConvNet features (make features-demo's network, 128 per image), K = 5, "
              "search time:")
        for metric in ("l2", "l1"):
            f32 = next(r for r in feats if r[0] == metric and r[1] == "train")
            q8 = next(r for r in feats if r[0] == metric and r[1] == "train-q")
            print(f"  {metric.upper()}: float32 {f32[2]:.2f} s, accuracy {100 * f32[3]:.2f}%; "
                  f"8-bit codes (--quantize) {q8[2]:.2f} s, accuracy {100 * q8[3]:.2f}% "
                  f"({f32[2] / q8[2]:.2f}x faster, {100 * (q8[3] - f32[3]):+.2f} points)")
    else:
        print("\n(ConvNet features: no build/features/convnet.onnx; run make features-demo "
              "first; skipped)")

    index_checks = index.run()
    text_checks = text.run()
    image_checks = images.run()
    mpi_checks = mpi.run()

    checks = []  # (what, value, limit, value must be at most the limit)
    peer_secs = {name: secs for name, _, secs, _, _ in rows}
    if "faiss IndexFlatL2" in peer_secs:
        checks.append(("L2: knn time / faiss IndexFlatL2 time",
                       l2["seconds"] / peer_secs["faiss IndexFlatL2"], 0.2, True))
    if "faiss IndexFlat METRIC_L1" in peer_secs:
        checks.append(("L1: knn time / faiss METRIC_L1 time",
                       l1["seconds"] / peer_secs["faiss IndexFlat METRIC_L1"], 0.01, True))
    for x in kernels:
        checks.append((f"{x['isa']} {x['metric'].upper()} kernel alone: fraction of "
                       f"{x['instruction']}'s peak", x["fraction_of_peak"], 0.75, False))
    for metric in ("l2", "l1"):
        if metric in peak:
            checks.append((f"{metric.upper()}: whole search, fraction of the instruction's peak",
                           search[metric]["fraction_of_peak"], 0.75, False))
        checks.append((f"{metric.upper()}: single query / memory floor",
                       latency[metric]["ratio"], 1.5, True))
    checks.append(("peak memory - uint8 data (MiB)", rss_mib - data_mib, 64.0, True))
    if grid:
        checks.append(("CV: knn (l1 + l2) time / GridSearchCV (l2) time", cv10_s / grid["seconds"],
                       1 / 50, True))
    checks.append(("CV: 60,000-image l2 cv time / one eval time", cv60_s / ev_s, 3.0, True))
    checks += index_checks
    checks += text_checks
    checks += image_checks
    checks += mpi_checks
    checks_mod.print_checks(checks)
    assert ev["accuracy"] == l2["accuracy"], "knn eval and knn_bench disagree"
    return 0


if __name__ == "__main__":
    sys.exit(main())
