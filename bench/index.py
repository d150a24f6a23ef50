"""index.py: the graph index's section of `make bench` (also alone: `make bench-index`).

One run, one machine: knn's HNSW index on Fashion-MNIST (bench/index_bench.c) next to hnswlib
and faiss HNSW (bench/index_peers.py) with the same M = 16 and ef_construction = 200, built on
every core, searched one query thread at a time with K = 10. Every time comes with its recall@10
against knn's exact search of the same queries. Prints the table (queries/s at recall 0.90,
0.95, 0.99, 0.999: the fastest point of each curve that reaches it), the curves, the L1 curve,
the scale check (540,000 rows: every image and its 8 one-pixel shifts), and the targets."""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checks as checks_mod  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = "/usr/share/datasets/fashion-mnist"
LEVELS = (0.90, 0.95, 0.99, 0.999)
M = 16


def lines(text):
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def knn_run(metric, truth, *more):
    r = subprocess.run([os.path.join(ROOT, "build", "index_bench"), "fashion-mnist:train",
                        "fashion-mnist:test", metric, truth, *more],
                       capture_output=True, text=True, check=True)
    return lines(r.stdout)


def peers_run(truth):
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    try:
        r = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "bench", "index_peers.py"),
                            truth], capture_output=True, text=True, env=env, timeout=3600)
    except FileNotFoundError:
        return [{"peer": "hnswlib and faiss", "missing": "/usr/bin/python3"}]
    if r.returncode != 0:
        return [{"peer": "index_peers.py", "missing": r.stderr.strip().splitlines()[-1]}]
    return lines(r.stdout)


def best_at(points, level):
    """The most queries/s among the points whose recall reaches `level` (None: none does)."""
    ok = [p["qps"] for p in points if p["recall"] >= level]
    return max(ok) if ok else None


def fmt_rate(v):
    return f"{v:>9,.0f}" if v is not None else f"{'-':>9}"


def run():
    """Runs everything and prints the section; returns the target checks
    [(what, value, limit, at_most)]."""
    with tempfile.TemporaryDirectory() as tmp:
        truth = os.path.join(tmp, "truth-l2.bin")
        l2 = knn_run("l2", truth)
        peers = peers_run(truth)
        l1 = knn_run("l1", os.path.join(tmp, "truth-l1.bin"))
        big = knn_run("l2", os.path.join(tmp, "truth-big.bin"), "shifted")

    def part(rows, what):
        return [r for r in rows if r["what"] == what]

    systems = []  # (name, metric, build seconds, memory bytes, points)
    ex2, b2 = part(l2, "exact")[0], part(l2, "build")[0]
    ex1, b1 = part(l1, "exact")[0], part(l1, "build")[0]
    systems.append(("knn (uint8)", "L2", b2["seconds"], b2["rows_bytes"] + b2["index_bytes"],
                    part(l2, "point")))
    missing = []
    for name in ("hnswlib", "faiss HNSW"):
        mine = [p for p in peers if p.get("peer") == name]
        if any("missing" in p for p in mine) or not mine:
            missing.append(f"{name}: not installed ({mine[0]['missing'] if mine else '?'})")
            continue
        b = part(mine, "build")[0]
        systems.append((name + " (float32)", "L2", b["seconds"], b["bytes"], part(mine, "point")))
    for p in peers:
        if p.get("peer") == "index_peers.py":
            missing.append(f"peers failed: {p['missing']}")
    systems.append(("knn (uint8)", "L1", b1["seconds"], b1["rows_bytes"] + b1["index_bytes"],
                    part(l1, "point")))

    print(f"\ngraph index (HNSW, M = {M}, ef_construction = 200), Fashion-MNIST: "
          f"{ex2['queries']:,} test images against {ex2['train']:,}, K = 10, one query thread, "
          f"recall@10 against knn's exact search; build on {os.cpu_count()} threads; "
          f"knn kernels {ex2['isa']}")
    head = "".join(f" {'@' + format(l, 'g'):>9}" for l in LEVELS)
    print(f"{'system':22} {'metric':6} {'build (s)':>9} {'memory (MiB)':>12}   queries/s at "
          f"recall{head}")
    for name, metric, build, size, points in systems:
        rates = "".join(" " + fmt_rate(best_at(points, l)) for l in LEVELS)
        print(f"{name:22} {metric:6} {build:9.1f} {size / 2**20:12.1f}   {'':19}{rates}")
    for metric, ex in (("L2", ex2), ("L1", ex1)):
        print(f"{'knn exact search':22} {metric:6} {'-':>9} {ex2['train'] * 832 / 2**20:12.1f}   "
              f"{'':19} {ex['qps_one_thread']:>9,.0f} at recall 1 (accuracy "
              f"{100 * ex['accuracy']:.2f}%)")
    for m in missing:
        print(f"  ({m}; skipped)")
    print("(memory: the rows the search reads plus the graph; hnswlib's saved index, faiss's "
          "serialised one)")

    print("\ncurves (ef: queries/s, recall@10):")
    for name, metric, _, _, points in systems:
        print(f"  {name} {metric}: " + ", ".join(
            f"{p['ef']}: {p['qps']:,.0f} {p['recall']:.4f}" for p in points))
    print("  knn accuracy of the K = 10 vote along its L2 curve: " + ", ".join(
        f"{p['ef']}: {100 * p['accuracy']:.2f}%" for p in part(l2, "point")) +
        f" (exact {100 * ex2['accuracy']:.2f}%)")

    exb, bb = part(big, "exact")[0], part(big, "build")[0]
    bigpts = part(big, "point")
    print(f"\nscale check: {exb['train']:,} training rows (every image and its 8 one-pixel "
          f"shifts), L2, one query thread:")
    print(f"  exact search: {exb['qps_one_thread']:,.0f} queries/s (60,000 rows: "
          f"{ex2['qps_one_thread']:,.0f}; {ex2['qps_one_thread'] / exb['qps_one_thread']:.1f}x "
          f"slower for 9x the rows)")
    print(f"  index built in {bb['seconds']:.1f} s ({bb['index_bytes'] / 2**20:.1f} MiB); "
          + ", ".join(f"ef {p['ef']}: {p['qps']:,.0f} q/s recall {p['recall']:.4f}"
                      for p in bigpts))
    small99, big99 = best_at(part(l2, "point"), 0.99), best_at(bigpts, 0.99)
    if small99 and big99:
        print(f"  at recall >= 0.99: {big99:,.0f} queries/s against {small99:,.0f} on 60,000 "
              f"rows ({small99 / big99:.1f}x slower for 9x the rows; the exact search "
              f"{ex2['qps_one_thread'] / exb['qps_one_thread']:.1f}x)")

    checks = []
    peer = {name.split(" (")[0]: (build, points) for name, metric, build, _, points in systems
            if metric == "L2"}
    knn99 = best_at(part(l2, "point"), 0.99)
    if "hnswlib" in peer:
        h99 = best_at(peer["hnswlib"][1], 0.99)
        if knn99 and h99:
            checks.append(("index L2: knn / hnswlib queries/s at recall >= 0.99", knn99 / h99,
                           2.0, False))
        checks.append(("index: knn build time / hnswlib build time (same threads)",
                       b2["seconds"] / peer["hnswlib"][0], 1.0, True))
    l1_99 = best_at(part(l1, "point"), 0.99)
    checks.append(("index L1: queries/s at recall >= 0.99, one thread", l1_99 or 0, 3000, False))
    checks.append(("index: graph bytes per row / (8 x M x 4)",
                   b2["index_bytes"] / ex2["train"] / (8 * M * 4), 1.0, True))
    checks.append(("index, 540,000 rows: best recall@10", max(p["recall"] for p in bigpts),
                   0.99, False))
    if small99 and big99:
        checks.append(("index, 540,000 rows: slowdown at recall 0.99 / exact slowdown",
                       (small99 / big99) / (ex2["qps_one_thread"] / exb["qps_one_thread"]),
                       0.5, True))
    return checks


def main():
    if not os.path.isdir(DATA):
        print(f"bench: {DATA} is missing (Debian package dataset-fashion-mnist)")
        return 1
    checks = run()
    checks_mod.print_checks(checks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
