"""test_fetch.py: `knn fetch` against a local HTTP server on 127.0.0.1 that serves small
archives this test builds: success (IDX files, a CIFAR-10 tar.gz), a transfer cut in the
middle and resumed, a wrong checksum, a corrupt archive, a server error, and no server. After
every failure no data set folder may exist."""
import gzip
import hashlib
import http.server
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixtures  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KNN = os.path.abspath(os.environ.get("KNN_BIN") or os.path.join(ROOT, "knn"))
TMP = tempfile.mkdtemp(prefix="knn-fetch-")
SERVED = os.path.join(TMP, "served")
os.makedirs(SERVED)
STATE = {"cut_once": set(), "ranges": [], "fail": set(), "no_ranges": set()}


class Handler(http.server.BaseHTTPRequestHandler):
    """GET with Range support; paths in STATE["fail"] answer 500; the first request for a
    path in STATE["cut_once"] sends half the file and closes the connection."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        name = self.path.lstrip("/")
        path = os.path.join(SERVED, name)
        if name in STATE["fail"]:
            self.send_error(500, "broken on purpose")
            return
        if not os.path.isfile(path):
            self.send_error(404)
            return
        data = open(path, "rb").read()
        start = 0
        rng = self.headers.get("Range")
        if rng and name not in STATE["no_ranges"]:
            STATE["ranges"].append((name, rng))
            start = int(rng.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if name in STATE["cut_once"]:
            STATE["cut_once"].discard(name)
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)


def serve():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def md5(path):
    return hashlib.md5(open(path, "rb").read()).hexdigest()


def knn(*args, env=None):
    e = {k: v for k, v in os.environ.items() if k not in ("KNN_DATA", "KNN_MIRROR")}
    e.update(env or {})
    return subprocess.run([KNN, *map(str, args)], capture_output=True, text=True, env=e,
                          timeout=120)


def write_checksums(files, name="sums.txt", wrong=()):
    p = os.path.join(TMP, name)
    with open(p, "w") as f:
        for fn in files:
            h = md5(os.path.join(SERVED, fn))
            if fn in wrong:
                h = "0" * 32
            f.write(f"{h}  {fn}\n")
    return p


def build_mnist():
    rows = [[(i * 7 + d) % 256 for d in range(16)] for i in range(12)]
    labels = [i % 10 for i in range(12)]
    names = []
    for prefix, n in (("train", 12), ("t10k", 5)):
        img = f"{prefix}-images-idx3-ubyte.gz"
        lab = f"{prefix}-labels-idx1-ubyte.gz"
        fixtures.write(os.path.join(SERVED, img), fixtures.idx_images(rows[:n], 4, 4))
        fixtures.write(os.path.join(SERVED, lab), fixtures.idx_labels(labels[:n]))
        names += [img, lab]
    return names


def build_cifar10(corrupt=False):
    name = "cifar-10-binary.tar.gz"
    buf = io.BytesIO()
    import random
    rng = random.Random(3)
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        members = {f"data_batch_{i}.bin": fixtures.cifar10_batch([i, i + 1], rng) for i in range(1, 6)}
        members["test_batch.bin"] = fixtures.cifar10_batch([3], rng)
        members["batches.meta.txt"] = b"\n".join(b"c%d" % i for i in range(10)) + b"\n"
        for fn, data in members.items():
            info = tarfile.TarInfo("cifar-10-batches-bin/" + fn)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    data = buf.getvalue()
    if corrupt:
        data = data[:40] + bytes(len(data) - 40)  # a valid gzip start, then zeros
    open(os.path.join(SERVED, name), "wb").write(data)
    return [name]


def test_fetch_mnist_then_load(url):
    files = build_mnist()
    sums = write_checksums(files)
    d = os.path.join(TMP, "d1")
    r = knn("fetch", "mnist", "--dir", d, "--mirror", url, "--checksums", sums)
    assert r.returncode == 0, r.stderr
    info = knn("info", "mnist:train", env={"KNN_DATA": d})
    assert info.returncode == 0 and "images:  12" in info.stdout, info.stderr
    assert sorted(os.listdir(d)) == ["mnist"]  # no partial folder left
    again = knn("fetch", "mnist", "--dir", d, "--mirror", url, "--checksums", sums)
    assert again.returncode == 0 and "already there" in again.stdout


def test_fetch_cifar10_unpacks(url):
    files = build_cifar10()
    sums = write_checksums(files)
    d = os.path.join(TMP, "d2")
    os.makedirs(os.path.join(TMP, "sub"), exist_ok=True)
    rel = os.path.join("..", "d2")  # a folder given through "..": the user's path is theirs
    r = subprocess.run([KNN, "fetch", "cifar10", "--mirror", url, "--checksums", sums, "--dir",
                        rel], capture_output=True, text=True, cwd=os.path.join(TMP, "sub"))
    assert r.returncode == 0, r.stderr
    info = knn("info", "cifar10:train", env={"KNN_DATA": d})
    assert info.returncode == 0 and "images:  10" in info.stdout and "c9" in info.stdout, info


def test_fetch_resumes_an_interrupted_transfer(url):
    files = build_cifar10()
    sums = write_checksums(files)
    d = os.path.join(TMP, "d3")
    STATE["cut_once"].add(files[0])
    STATE["ranges"].clear()
    r = knn("fetch", "cifar10", "--dir", d, "--mirror", url, "--checksums", sums)
    assert r.returncode == 1, r.stdout
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not os.path.exists(os.path.join(d, "cifar10"))
    r = knn("fetch", "cifar10", "--dir", d, "--mirror", url, "--checksums", sums)
    assert r.returncode == 0, r.stderr
    assert STATE["ranges"] and STATE["ranges"][0][1].startswith("bytes="), STATE["ranges"]
    assert int(STATE["ranges"][0][1].split("=")[1].split("-")[0]) > 0


def test_fetch_starts_over_where_the_server_cannot_resume(url):
    files = build_cifar10()
    sums = write_checksums(files)
    d = os.path.join(TMP, "d8")
    STATE["cut_once"].add(files[0])
    r = knn("fetch", "cifar10", "--dir", d, "--mirror", url, "--checksums", sums)
    assert r.returncode == 1
    STATE["no_ranges"].add(files[0])
    r = knn("fetch", "cifar10", "--dir", d, "--mirror", url, "--checksums", sums)
    STATE["no_ranges"].clear()
    assert r.returncode == 0, r.stderr


def test_fetch_refuses_links_in_archives(url):
    victim = os.path.join(TMP, "victim.txt")
    with open(victim, "w") as f:
        f.write("safe")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("cifar-10-batches-bin/evil")
        info.type = tarfile.LNKTYPE
        info.linkname = victim
        tar.addfile(info)
    name = "cifar-10-binary.tar.gz"
    open(os.path.join(SERVED, name), "wb").write(buf.getvalue())
    sums = write_checksums([name])
    d = os.path.join(TMP, "d9")
    r = knn("fetch", "cifar10", "--dir", d, "--mirror", url, "--checksums", sums)
    assert r.returncode == 1 and "unsafe archive entry" in r.stderr, r.stderr
    assert open(victim).read() == "safe"
    assert not os.path.exists(os.path.join(d, "cifar10"))


def test_fetch_refuses_a_wrong_checksum(url):
    files = build_mnist()
    sums = write_checksums(files, "bad.txt", wrong={files[0]})
    d = os.path.join(TMP, "d4")
    r = knn("fetch", "mnist", "--dir", d, "--mirror", url, "--checksums", sums)
    assert r.returncode == 1 and "checksum mismatch" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not os.path.exists(os.path.join(d, "mnist"))


def test_fetch_accepts_upper_case_checksums(url):
    files = build_mnist()
    sums = os.path.join(TMP, "upper.txt")
    with open(sums, "w") as f:  # md5sum's format, upper-cased; " *" marks a binary file
        for i, fn in enumerate(files):
            f.write(f"{md5(os.path.join(SERVED, fn)).upper()} {'*' if i % 2 else ' '}{fn}\n")
    d = os.path.join(TMP, "d10")
    r = knn("fetch", "mnist", "--dir", d, "--mirror", url, "--checksums", sums)
    assert r.returncode == 0, r.stderr
    assert os.path.isdir(os.path.join(d, "mnist"))


def test_fetch_refuses_a_checksums_file_that_is_not_a_regular_file(url):
    fifo = os.path.join(TMP, "sums.fifo")
    os.mkfifo(fifo)  # nobody writes: reading it would wait for ever
    big = os.path.join(TMP, "big-sums.txt")
    with open(big, "wb") as f:
        f.truncate((1 << 20) + 1)
    files = build_mnist()
    short = os.path.join(TMP, "short.txt")
    with open(short, "w") as f:
        f.write("".join(f"12345  {fn}\n" for fn in files))
    d = os.path.join(TMP, "d11")
    for sums, why in (("/dev/zero", "not a regular file"), (fifo, "not a regular file"),
                      (os.path.join(TMP, "no-such-sums.txt"), "No such file"),
                      (big, "larger than 1 MiB"), (short, "is not 32 hex digits")):
        r = knn("fetch", "mnist", "--dir", d, "--mirror", url, "--checksums", sums)
        assert r.returncode == 1, (sums, r.returncode, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and f"--checksums {sums}: " in lines[0], r.stderr
        assert why in lines[0], (why, lines[0])
        assert not os.path.exists(d)  # refused before anything was made


def test_fetch_refuses_a_corrupt_archive(url):
    files = build_cifar10(corrupt=True)
    sums = write_checksums(files)
    d = os.path.join(TMP, "d5")
    r = knn("fetch", "cifar10", "--dir", d, "--mirror", url, "--checksums", sums)
    assert r.returncode == 1 and "archive" in r.stderr, r.stderr
    assert not os.path.exists(os.path.join(d, "cifar10"))


def test_fetch_reports_a_server_error(url):
    files = build_mnist()
    sums = write_checksums(files)
    STATE["fail"].add(files[1])
    d = os.path.join(TMP, "d6")
    r = knn("fetch", "mnist", "--dir", d, "--mirror", url, "--checksums", sums)
    STATE["fail"].clear()
    assert r.returncode == 1 and "500" in r.stderr, r.stderr
    assert not os.path.exists(os.path.join(d, "mnist"))


def test_fetch_without_a_server(url):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    d = os.path.join(TMP, "d7")
    r = knn("fetch", "mnist", "--dir", d, "--mirror", f"http://127.0.0.1:{port}/")
    assert r.returncode == 1 and "cannot reach" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not os.path.exists(os.path.join(d, "mnist"))
    r = knn("fetch", "imagenet")
    assert r.returncode == 2 and "unknown data set" in r.stderr


def main():
    server = serve()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    passed = failed = 0
    for name, fn in sorted(globals().items()):
        if not name.startswith("test_"):
            continue
        try:
            fn(url)
            print(f"ok   {name}")
            passed += 1
        except Exception as e:  # a failed check, or output that does not parse
            print(f"FAIL {name}: {e!r}"[:2000])
            failed += 1
    server.shutdown()
    shutil.rmtree(TMP, ignore_errors=True)
    print(f"fetch: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
