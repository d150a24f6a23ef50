"""test_serve.py: `knn serve` on 127.0.0.1: the decision-boundary API against a plain Python
k-NN (labels and tied cells), bad requests answered 400/404/405/413 with a message while the
server keeps serving, photo classification with a model, and a bounded load of concurrent
clients with figures printed."""
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixtures  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KNN = os.path.abspath(os.environ.get("KNN_BIN") or os.path.join(ROOT, "knn"))
TMP = tempfile.mkdtemp(prefix="knn-serve-")


def start(*args):
    p = subprocess.Popen([KNN, "serve", "--port", "0", *args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    assert "http://127.0.0.1:" in line, (line, p.stderr.read() if p.poll() is not None else "")
    port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
    return p, f"http://127.0.0.1:{port}"


def call(url, body=None, method=None):
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method or ("POST" if data else "GET"))
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def reference(points, k, metric, grid):
    """Labels and tied flags of every cell: uniform votes, ties to the nearest neighbour's
    class, neighbours ordered by (distance, index), distances in float32 like knn."""
    import struct

    def f32(v):
        return struct.unpack("f", struct.pack("f", v))[0]
    labels, tied = [], []
    for cy in range(grid):
        for cx in range(grid):
            qx, qy = f32((cx + 0.5) / grid), f32((cy + 0.5) / grid)
            d = []
            for i, p in enumerate(points):
                dx, dy = f32(qx - f32(p["x"])), f32(qy - f32(p["y"]))
                v = f32(abs(dx) + abs(dy)) if metric == "l1" else f32(f32(dx * dx) + f32(dy * dy))
                d.append((v, i))
            near = sorted(d)[:k]
            votes = {}
            for pos, (_, i) in enumerate(near):
                c = points[i]["label"]
                n, first = votes.get(c, (0, pos))
                votes[c] = (n + 1, first)
            best = max(v[0] for v in votes.values())
            winners = [c for c, v in votes.items() if v[0] == best]
            labels.append(min(winners, key=lambda c: votes[c][1]))
            tied.append(int(len(winners) > 1))
    return labels, tied


def test_boundary_equals_plain_knn(url):
    rng = random.Random(5)
    points = [{"x": rng.random(), "y": rng.random(), "label": rng.randrange(3)} for _ in range(30)]
    for k, metric in ((1, "l2"), (4, "l1"), (6, "l2")):
        status, body = call(url + "/api/boundary",
                            {"points": points, "k": k, "metric": metric, "grid": 24})
        assert status == 200, body
        j = json.loads(body)
        want_labels, want_tied = reference(points, k, metric, 24)
        bad = sum(a != b for a, b in zip(j["labels"], want_labels))
        assert bad == 0, f"{bad} cells differ (k={k}, {metric})"
        assert j["tied"] == want_tied, (k, metric)
        if k == 4:
            assert any(j["tied"]), "a K = 4 vote among 3 classes ties somewhere"


def test_bad_requests_get_a_message(url):
    cases = [(b"{not json", 400, "not a JSON object"),
             ({"points": []}, 400, "points"),
             ({"points": [{"x": 0, "y": 0}], "k": 2}, 400, "k:"),
             ({"points": [{"x": 0, "y": 0}], "grid": 10000}, 400, "grid"),
             ({"points": [{"x": "a", "y": 0}]}, 400, "each point"),
             ({"points": [{"x": 0, "y": 0}], "metric": "cosine"}, 400, "metric"),
             ({"points": [{"x": 0.1, "y": 0.1}] * 2001}, 400, "points"),
             (b"x" * (2 << 20), 413, "larger than")]
    for body, status, words in cases:
        got, text = call(url + "/api/boundary", body)
        assert got == status and words in json.loads(text)["error"], (body[:40], got, text[:200])
    assert call(url + "/nowhere")[0] == 404
    assert call(url + "/api/boundary")[0] == 405
    assert call(url + "/api/classify", b"abc")[0] == 404  # no model
    assert call(url + "/")[0] == 200  # still serving


def test_concurrent_clients(url):
    points = [{"x": i / 40, "y": (i * 7 % 40) / 40, "label": i % 3} for i in range(40)]
    body = {"points": points, "k": 3, "grid": 64}
    times, errors = [], []

    def client():
        for _ in range(15):
            t = time.time()
            status, _ = call(url + "/api/boundary", body)
            times.append(time.time() - t)
            if status != 200:
                errors.append(status)
            call(url + "/api/boundary", b"{broken")  # a bad one in between
    threads = [threading.Thread(target=client) for _ in range(12)]
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.time() - t0
    times.sort()
    print(f"     {len(times)} good and {len(times)} bad requests from 12 clients in {wall:.1f} s; "
          f"latency median {1000 * times[len(times) // 2]:.0f} ms, "
          f"max {1000 * times[-1]:.0f} ms; errors: {len(errors)}")
    assert not errors and len(times) == 180


def test_slow_clients_do_not_stop_the_others(url):
    import socket
    host, port = url.split("//")[1].split(":")
    slow = []
    for _ in range(30):  # each sends half a request line and then nothing
        s = socket.create_connection((host, int(port)), timeout=5)
        s.sendall(b"POST /api/boundary HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{")
        slow.append(s)
    t = time.time()
    for _ in range(10):
        status, _ = call(url + "/api/boundary", {"points": [{"x": 0.5, "y": 0.5}], "grid": 8})
        assert status == 200
    took = time.time() - t
    for s in slow:
        s.close()
    print(f"     10 requests answered in {took:.2f} s beside 30 stalled clients")
    assert took < 10


def test_photos_with_a_model():
    pets = os.path.join(TMP, "pets")
    for name, colour in (("cat", (230, 20, 20)), ("dog", (20, 30, 220))):
        os.makedirs(os.path.join(pets, name))
        for i in range(3):
            fixtures.write(os.path.join(pets, name, f"{i}.png"),
                           fixtures.png(9 + i, 8, tuple(max(0, c - 10 * i) for c in colour)))
    model = os.path.join(TMP, "pets.knn")
    r = subprocess.run([KNN, "fit", pets, "-o", model, "-k", "3", "--size", "8"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    p, url = start(model)
    try:
        status, body = call(url + "/api/classify", fixtures.png(20, 20, (240, 10, 10)))
        assert status == 200, body
        j = json.loads(body)
        assert j["name"] == "cat" and j["top"][0]["name"] == "cat" and len(j["neighbors"]) == 3
        assert j["neighbors"][0]["path"].startswith(pets)
        status, body = call(url + "/api/classify", b"not an image")
        assert status == 400 and "not an image" in json.loads(body)["error"]
        assert json.loads(call(url + "/api/info")[1])["classes"] == ["cat", "dog"]
        assert call(url + "/upload")[0] == 200
    finally:
        p.terminate()
        p.wait(timeout=10)


def main():
    passed = failed = 0
    p, url = start()
    try:
        for name, fn in sorted(globals().items()):
            if not name.startswith("test_"):
                continue
            try:
                fn(url) if fn.__code__.co_argcount else fn()
                print(f"ok   {name}")
                passed += 1
            except Exception as e:  # a failed check, or output that does not parse
                print(f"FAIL {name}: {e!r}"[:2000])
                failed += 1
        assert p.poll() is None, "the server died"
    finally:
        p.terminate()
        p.wait(timeout=10)
    shutil.rmtree(TMP, ignore_errors=True)
    print(f"serve: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
