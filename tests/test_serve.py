"""test_serve.py: `knn serve` on loopback: the decision-boundary API against a plain Python
k-NN (labels and tied cells), bad requests answered 400/404/405/413 with a message while the
server keeps serving, photo classification with a model, a bounded load of concurrent
clients, and hostile clients: slow ones (cut at their deadline while the others are served),
large photos in parallel (/api/info stays fast), images over the limits (refused before
decoding), stalled uploads (the memory budget, then the deadline), bodies over the limit
(refused before they are sent), strict JSON, a model file changed under the server, names
that are not UTF-8, and a prompt stop on SIGTERM. Every loop is bounded in count and time;
figures are printed. Other client addresses than 127.0.0.1 are 127.0.0.x, all loopback."""
import http.client
import json
import os
import random
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixtures  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KNN = os.path.abspath(os.environ.get("KNN_BIN") or os.path.join(ROOT, "knn"))
TMP = tempfile.mkdtemp(prefix="knn-serve-")
MIB = 1 << 20


def start(*args):
    """A server on a free port of 127.0.0.1: (process, url); see fixtures.serve_start."""
    return fixtures.serve_start(KNN, TMP, *args)


def stop(p):
    """SIGTERM: the server must end within 10 s, with status 0; see fixtures.serve_stop."""
    fixtures.serve_stop(p, TMP)


def address(url):
    host, port = url.split("//")[1].split(":")
    return host, int(port)


call = fixtures.http_call


def request(url, method, path, body=None, headers=None):
    """(status, headers, body) of one request with any method."""
    c = http.client.HTTPConnection(*address(url), timeout=10)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, r.headers, r.read()
    finally:
        c.close()


def connect(url, source="127.0.0.1", timeout=5):
    return socket.create_connection(address(url), timeout=timeout, source_address=(source, 0))


def read_response(s, timeout=5):
    """The status and JSON body of the response on socket s (read until the server closes or
    the body is complete)."""
    s.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        piece = s.recv(65536)
        if not piece:
            break
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(l.split(b":")[1]) for l in head.split(b"\r\n")
                   if l.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        piece = s.recv(65536)
        if not piece:
            break
        body += piece
    status = int(head.split(b" ")[1]) if head.startswith(b"HTTP/") else 0
    return status, json.loads(body) if body else None


def closed_by_server(s):
    """True once the server has closed or reset connection s (without waiting)."""
    if not select.select([s], [], [], 0)[0]:
        return False
    try:
        return s.recv(65536) == b""
    except OSError:
        return True


def memory_mib(p, field):
    """VmRSS or VmHWM (peak) of process p in MiB."""
    with open(f"/proc/{p.pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def png(width, height, rgb, bits=8, idat=None):
    """A PNG of one colour; bits 8 or 16. idat: the compressed data to use instead of the
    image's (a header that promises more than the file holds)."""
    sample = bytes(rgb) if bits == 8 else b"".join(bytes((c, c)) for c in rgb)
    if idat is None:
        idat = zlib.compress((b"\x00" + sample * width) * height, 1)

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bits, 2, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def fit(classes, name, size="8"):
    """A model fitted on class folders: classes maps a folder name (str or bytes) to a
    colour; three small PNGs each. Returns the model's path."""
    root = os.path.join(TMP, name).encode()
    for folder, colour in classes.items():
        d = os.path.join(root, folder if isinstance(folder, bytes) else folder.encode())
        os.makedirs(d)
        for i in range(3):
            with open(os.path.join(d, b"%d.png" % i), "wb") as f:
                f.write(fixtures.png(9 + i, 8, tuple(max(0, c - 10 * i) for c in colour)))
    model = os.path.join(TMP, name + ".knn")
    r = subprocess.run([KNN, "fit", root, "-o", model, "-k", "3", "--size", size],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return model


PETS = {"cat": (230, 20, 20), "dog": (20, 30, 220)}
RED = fixtures.png(20, 20, (240, 10, 10))
_pets = []


def pets_model():
    if not _pets:
        _pets.append(fit(PETS, "pets"))
    return _pets[0]


def reference(points, k, metric, grid):
    """Labels and tied flags of every cell: uniform votes, ties to the nearest neighbour's
    class, neighbours ordered by (distance, index), distances in float32 like knn."""
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
             (b"x" * (2 << 20), 413, "larger than")]  # answered before the body is read
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


def test_photos_with_a_model():
    uploads_before = {f for f in os.listdir("/tmp") if f.startswith("knn-upload-")}
    p, url = start(pets_model())
    try:
        status, body = call(url + "/api/classify", RED)
        assert status == 200, body
        j = json.loads(body)
        assert j["name"] == "cat" and j["top"][0]["name"] == "cat" and len(j["neighbors"]) == 3
        # paths relative to the images' folder; no answer names where the server keeps files
        assert j["neighbors"][0]["path"] in ("cat/0.png", "cat/1.png", "cat/2.png"), j
        assert TMP not in body.decode(), body[:300]
        assert TMP not in call(url + "/api/info")[1].decode()
        # the photo as knn saw it (8 x 8), and every neighbour's picture from the model's rows
        assert j["seen"].startswith("data:image/png;base64,") and j["seen_width"] == 8
        for n in j["neighbors"]:
            status, png = call(url + n["thumbnail"])
            assert status == 200 and png[:8] == b"\x89PNG\r\n\x1a\n", (n, png[:40])
            assert int.from_bytes(png[16:20], "big") == 8, png[16:24]
        for bad in ("/api/row/6.png", "/api/row/-1.png", "/api/row/x.png", "/api/row/1",
                    "/api/row/1.png/..", "/api/row/99999999999999999999999.png"):
            status, body = call(url + bad)
            assert status == 404 and "no such training image" in json.loads(body)["error"], bad
        assert call(url + "/api/row/0.png", b"x")[0] == 405
        status, body = call(url + "/api/classify", b"not an image")
        assert status == 400 and "not a JPEG" in json.loads(body)["error"], body
        assert json.loads(call(url + "/api/info")[1])["classes"] == ["cat", "dog"]
        assert call(url + "/upload")[0] == 200
    finally:
        stop(p)
    uploads = {f for f in os.listdir("/tmp") if f.startswith("knn-upload-")} - uploads_before
    assert not uploads, f"temporary files left: {uploads}"


def test_a_model_with_an_index_is_served_through_it():
    pets = pets_model()
    model = os.path.join(TMP, "pets-index.knn")
    r = subprocess.run([KNN, "fit", os.path.join(TMP, "pets"), "-o", model, "-k", "3", "--size",
                        "8", "--index", "hnsw", "--M", "2"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    answers = []
    for m, args in ((pets, ()), (model, ()), (model, ("--ef", "6")), (model, ("--exact",))):
        p, url = start(m, *args)
        try:
            info = json.loads(call(url + "/api/info")[1])
            status, body = call(url + "/api/classify", RED)
            assert status == 200, body
            answers.append(json.loads(body)["neighbors"])
        finally:
            stop(p)
        want = ("exact search" if m == pets or args == ("--exact",) else "HNSW index")
        assert info["search"].startswith(want), (args, info["search"])
    # six images: ef 6 meets them all, so every answer is the exact one
    assert all(a == answers[0] for a in answers), answers


def test_show_paths_gives_them_whole():
    p, url = start(pets_model(), "--show-paths")
    try:
        status, body = call(url + "/api/classify", RED)
        assert status == 200, body
        path = json.loads(body)["neighbors"][0]["path"]
        assert path.startswith(os.path.join(TMP, "pets", "cat")), path
    finally:
        stop(p)


def test_slow_clients_are_cut_at_the_deadline_while_others_are_served():
    p, url = start("--request-timeout", "3")
    slow, opened, closed = [], [], {}
    try:
        for _ in range(300):  # one client, 127.0.0.2, takes as many connections as it can
            try:
                s = connect(url, "127.0.0.2", timeout=2)
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
                slow.append(s)
                opened.append(time.time())
            except OSError:
                pass
        done = threading.Event()

        def dribble():  # notes closed connections; a header line on the others every second
            t0 = time.time()
            for tick in range(160):  # 8 s at most
                for i, s in enumerate(slow):
                    if i in closed:
                        continue
                    if closed_by_server(s):
                        closed[i] = time.time() - opened[i]
                    elif tick % 20 == 19:
                        try:
                            s.sendall(b"X-Slow: 1\r\n")
                        except OSError:
                            closed[i] = time.time() - opened[i]
                if len(closed) == len(slow) or done.wait(max(0, t0 + (tick + 1) / 20 - time.time())):
                    return
        watcher = threading.Thread(target=dribble)
        watcher.start()
        times, answered = [], 0
        for i in range(20):  # meanwhile, normal requests from 127.0.0.1
            t = time.time()
            status, _ = (call(url + "/", timeout=5) if i % 2 else
                         call(url + "/api/boundary", {"points": [{"x": 0.5, "y": 0.5}], "grid": 8},
                              timeout=5))
            times.append(time.time() - t)
            answered += status == 200
            time.sleep(0.05)
        watcher.join(timeout=10)
        done.set()
        held = sorted(t for t in closed.values() if t > 1)  # the others were refused at once
        print(f"     300 connections tried by one slow client: {len(slow) - len(held)} refused, "
              f"{len(held)} held and cut after {min(held, default=0):.1f}-"
              f"{max(held, default=0):.1f} s (deadline 3 s); {answered}/20 normal requests "
              f"answered meanwhile, max latency {1000 * max(times):.0f} ms")
        assert answered == 20 and max(times) < 2, times
        assert len(closed) == len(slow), f"{len(slow) - len(closed)} slow connections still open"
        assert 1 <= len(held) <= 32, f"{len(held)} connections held by one client"
        assert all(2.5 < t < 5 for t in held), held
    finally:
        for s in slow:
            s.close()
        stop(p)


def test_large_photos_in_parallel_leave_info_fast():
    side = 5000
    big = png(side, side, (240, 10, 10))
    p, url = start(pets_model(), "--threads", "2")
    try:
        results, latencies = [], []

        def upload():
            t = time.time()
            status, body = call(url + "/api/classify", big, timeout=60)
            results.append((status, time.time() - t, body))
        uploads = [threading.Thread(target=upload) for _ in range(6)]
        t0 = time.time()
        for t in uploads:
            t.start()
        while any(t.is_alive() for t in uploads) and time.time() - t0 < 60:
            t = time.time()
            status, _ = call(url + "/api/info", timeout=10)
            latencies.append(time.time() - t)
            assert status == 200
            time.sleep(0.05)
        for t in uploads:
            t.join()
        wall = time.time() - t0
        peak = memory_mib(p, "VmHWM")
        latencies.sort()
        print(f"     6 photos of {side}x{side} ({len(big) // 1024} KiB each) classified in "
              f"{wall:.1f} s, 2 at a time; /api/info meanwhile: {len(latencies)} requests, "
              f"median {1000 * latencies[len(latencies) // 2]:.0f} ms, max "
              f"{1000 * latencies[-1]:.0f} ms; server peak memory {peak:.0f} MiB")
        assert all(status == 200 and json.loads(body)["name"] == "cat"
                   for status, _, body in results), [(s, b[:200]) for s, _, b in results]
        assert latencies[-1] < 1.0, latencies[-5:]
        assert peak < 1536, peak
    finally:
        stop(p)


def test_images_over_the_limits_are_refused_before_decoding():
    p, url = start(pets_model())
    promise = zlib.compress(b"\x00" * 4096)  # a little data where the header promises a lot
    cases = [(png(9000, 9000, (1, 2, 3), idat=promise), "pixels"),         # 81 megapixels
             (png(20000, 20000, (1, 2, 3), idat=promise), ""),             # 400 megapixels
             (png(8192, 8192, (1, 2, 3), bits=16, idat=promise), "bits"),  # 384 MiB of samples
             (b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 8 +X 8\n" + b"\x00" * 64, "not a"),
             (b"8BPS" + b"\x00" * 64, "not a")]                                 # HDR, PSD
    try:
        for body, words in cases:
            t = time.time()
            status, text = call(url + "/api/classify", body)
            took = time.time() - t
            error = json.loads(text)["error"]
            print(f"     {len(body)} bytes refused in {1000 * took:.0f} ms: {error}")
            assert status == 400 and words in error and took < 1, (status, error, took)
        assert call(url + "/api/classify", RED)[0] == 200
    finally:
        stop(p)


def test_stalled_uploads_hit_the_body_budget_then_the_deadline():
    p, url = start(pets_model(), "--request-timeout", "4")
    head = (b"POST /api/classify HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
            % (16 * MIB))
    stalled = []
    try:
        t0 = time.time()
        for source in ("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"):
            s = connect(url, source)
            s.sendall(head + b"\xff" * 65536)  # 64 KiB of 16 MiB, then nothing
            stalled.append(s)
        time.sleep(0.3)
        refused = []
        for source in ("127.0.0.2", "127.0.0.6", "127.0.0.1"):  # per client, then in all
            s = connect(url, source)
            t = time.time()
            s.sendall(head)
            status, j = read_response(s)
            refused.append((status, time.time() - t))
            s.close()
            assert status == 503 and "busy" in j["error"], (source, status, j)
        rss = memory_mib(p, "VmRSS")
        assert call(url + "/api/info")[0] == 200
        while not all(closed_by_server(s) for s in stalled) and time.time() - t0 < 8:
            time.sleep(0.1)
        cut = time.time() - t0
        status = call(url + "/api/classify", RED)[0]
        print(f"     4 uploads of 16 MiB stalled from 4 addresses: 3 more refused with 503 in "
              f"{1000 * max(t for _, t in refused):.0f} ms (per client, then in all); server "
              f"memory {rss:.0f} MiB; stalled ones cut after {cut:.1f} s (deadline 4 s); "
              f"then a photo: {status}")
        assert all(closed_by_server(s) for s in stalled) and cut < 6
        assert status == 200
    finally:
        for s in stalled:
            s.close()
        stop(p)


def test_bodies_over_the_limit_are_refused_before_they_are_sent():
    p, url = start(pets_model())
    try:
        for path, length, expect in (("/api/boundary", MIB + 1, b""),
                                     ("/api/classify", 16 * MIB + 1, b""),
                                     ("/api/classify", 10 ** 15, b""),
                                     ("/api/classify", 64 * MIB, b"Expect: 100-continue\r\n")):
            s = connect(url)
            t = time.time()
            s.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n%s\r\n"
                      % (path.encode(), length, expect))
            status, j = read_response(s, timeout=3)  # no body sent at all
            s.close()
            assert status == 413 and "larger than" in j["error"], (path, length, status, j)
            assert time.time() - t < 1
        print(f"     413 before the body for 4 requests (1 MiB + 1 of JSON, 16 MiB + 1, 10^15 "
              f"and 64 MiB with Expect: 100-continue)")
    finally:
        stop(p)


def test_chunked_bodies_are_checked_as_they_grow():
    def chunked(url, path, pieces):
        c = http.client.HTTPConnection(*address(url), timeout=10)
        try:
            c.request("POST", path, body=iter(pieces), encode_chunked=True)
            r = c.getresponse()
            return r.status, json.loads(r.read())
        finally:
            c.close()
    p, url = start(pets_model())
    try:
        status, j = chunked(url, "/api/classify", [RED[:10], RED[10:100], RED[100:]])
        assert status == 200 and j["name"] == "cat", (status, j)
        status, j = chunked(url, "/api/boundary", [b'{"points": [{"x": 0.5, ', b'"y": 0.5}]}'])
        assert status == 200, j
        status, j = chunked(url, "/api/boundary", [b" " * 65536] * 17)  # 1 MiB + 64 KiB
        assert status == 413 and "larger than" in j["error"], (status, j)
        status, j = chunked(url, "/api/classify", [b"\xff" * MIB] * 17)  # 17 MiB
        assert status == 413 and "larger than" in j["error"], (status, j)
        assert call(url + "/api/classify", RED)[0] == 200
    finally:
        stop(p)


def test_wrong_methods_answer_405_with_allow(url):
    for path in ("/", "/upload", "/api/info"):
        for method in ("PUT", "DELETE", "TRACE", "POST", "PATCH", "OPTIONS"):
            status, headers, body = request(url, method, path, body=b"" if method == "POST" else None)
            assert status == 405 and headers["Allow"] == "GET, HEAD", (method, path, status)
            assert "not allowed" in json.loads(body)["error"]
        assert request(url, "HEAD", path)[0] in (200, 404)  # 404: /api/info has no model
    for path in ("/api/boundary", "/api/classify"):
        for method in ("GET", "HEAD", "PUT", "DELETE", "TRACE"):
            status, headers, _ = request(url, method, path)
            assert status == 405 and headers["Allow"] == "POST", (method, path, status)
    assert request(url, "PUT", "/nowhere")[0] == 404


def test_json_is_strict_nothing_after_it_and_no_nul(url):
    good = {"points": [{"x": 0.5, "y": 0.5}], "grid": 4}
    text = json.dumps(good)
    cases = [(text + " trailing", 400, "after its JSON object"),
             (text + "{}", 400, "after its JSON object"),
             (text + "\x00", 400, "NUL"),
             (text + " \r\n\t", 200, None),
             (json.dumps({**good, "metric": "l1\u0000x"}), 400, "NUL"),
             (json.dumps({**good, "metric\u0000": "x"}), 400, "NUL"),
             (text[:-1] + ', "metric": "l1\x00"}', 400, "NUL"),  # a raw zero byte
             (text[:-1] + ', "metric": "\\\\u0000"}', 400, "metric"),  # a backslash, then text
             (json.dumps({**good, "metric": "l1"}), 200, None)]
    for body, status, words in cases:
        got, answer = call(url + "/api/boundary", body.encode())
        j = json.loads(answer)
        assert got == status and (words is None or words in j["error"]), (body, got, j)


def test_model_file_changed_under_the_server_changes_nothing():
    model = os.path.join(TMP, "changing.knn")
    shutil.copy(pets_model(), model)
    size = os.path.getsize(model)
    p, url = start(model)
    try:
        status, body = call(url + "/api/classify", RED)
        assert status == 200 and json.loads(body)["name"] == "cat", body
        with open(model, "r+b") as f:  # overwritten in place, then cut short
            f.write(bytes(random.Random(1).randrange(256) for _ in range(size)))
            f.flush()
            f.truncate(100)
        for _ in range(3):
            status, body = call(url + "/api/classify", RED)
            assert status == 200 and json.loads(body)["name"] == "cat", body
        replacement = model + ".new"  # replaced by another file, then removed
        fixtures.write(replacement, b"garbage" * 1000)
        os.replace(replacement, model)
        status, body = call(url + "/api/classify", fixtures.png(20, 20, (10, 20, 240)))
        assert status == 200 and json.loads(body)["name"] == "dog", body
        os.unlink(model)
        assert json.loads(call(url + "/api/info")[1])["classes"] == ["cat", "dog"]
        assert p.poll() is None, "the server died"
    finally:
        stop(p)


def test_names_that_are_not_utf8_give_valid_json():
    model = fit({b"caf\xe9": (230, 20, 20), "dog": (20, 30, 220)}, "latin1")
    p, url = start(model)
    try:
        status, body = call(url + "/api/info")
        assert status == 200
        assert json.loads(body)["classes"] == ["caf\ufffd", "dog"], body  # strict UTF-8
        status, body = call(url + "/api/classify", RED)
        j = json.loads(body)
        assert status == 200 and j["name"] == "caf\ufffd" and j["top"][0]["name"] == "caf\ufffd"
        assert "caf\ufffd" in j["neighbors"][0]["path"], j
        status, body = call(url + "/nowhere-%FF")
        assert status == 404 and "nowhere-\ufffd" in json.loads(body)["error"], body
    finally:
        stop(p)


def test_sigterm_stops_promptly_with_requests_in_progress():
    big = png(6000, 6000, (240, 10, 10))
    p, url = start(pets_model(), "--threads", "1")
    held, answered = [], []
    try:
        def upload():
            try:
                answered.append((call(url + "/api/classify", big, timeout=30)[0], time.time()))
            except OSError:
                pass  # cut by the stop
        uploads = [threading.Thread(target=upload) for _ in range(4)]  # 1 decoding, 3 queued
        for t in uploads:
            t.start()
        for source in ("127.0.0.2", "127.0.0.3"):  # and stalled ones
            s = connect(url, source)
            s.sendall(b"POST /api/classify HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nab")
            held.append(s)
            s = connect(url, source)
            s.sendall(b"GET / HTTP/1.1\r\n")
            held.append(s)
        time.sleep(0.5)
        t = time.time()
        p.send_signal(signal.SIGTERM)
        before = sum(when < t for _, when in answered)
        try:
            code = p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            code = None
        took = time.time() - t
        for u in uploads:
            u.join(timeout=30)
        print(f"     SIGTERM with 4 photo uploads (1 decoding, the others queued; {before} "
              f"answered before the signal) and 4 stalled connections: stopped in "
              f"{took:.2f} s, exit status {code}")
        assert code == 0 and took < 3 and before < 4, (code, took, before)
    finally:
        for s in held:
            s.close()
        if p.poll() is None:
            p.kill()
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
        stop(p)
    shutil.rmtree(TMP, ignore_errors=True)
    print(f"serve: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
