"""fixtures.py: writes small IDX and CIFAR files for the tests (standard library only)."""
import gzip
import os
import random
import shutil
import struct


def write(path, data):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(data)


def idx_images(rows, h, w):
    """IDX images file bytes: rows is a list of h*w byte values each."""
    head = struct.pack(">I", 0x0803) + struct.pack(">III", len(rows), h, w)
    return head + b"".join(bytes(r) for r in rows)


def idx_images_f32(rows, h, w):
    """IDX float32 images: big-endian floats."""
    head = struct.pack(">I", 0x0D03) + struct.pack(">III", len(rows), h, w)
    return head + b"".join(struct.pack(f">{len(r)}f", *r) for r in rows)


def idx_labels(labels):
    return struct.pack(">II", 0x0801, len(labels)) + bytes(labels)


def write_idx_pair(folder, prefix, rows, labels, h, w, gz=False):
    """Writes PREFIX-images-idx3-ubyte and PREFIX-labels-idx1-ubyte; returns the images path."""
    os.makedirs(folder, exist_ok=True)
    ext = ".gz" if gz else ""
    images = os.path.join(folder, f"{prefix}-images-idx3-ubyte{ext}")
    write(images, idx_images(rows, h, w))
    if labels is not None:
        write(os.path.join(folder, f"{prefix}-labels-idx1-ubyte{ext}"), idx_labels(labels))
    return images


def random_rows(rng, n, dim, top=256):
    return [[rng.randrange(top) for _ in range(dim)] for _ in range(n)]


def cifar10_batch(labels, rng):
    return b"".join(bytes([l]) + bytes(rng.randrange(256) for _ in range(3072)) for l in labels)


def png_chunk(kind, data):
    """One PNG chunk: length, type, data, CRC."""
    import zlib
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def png_rgb(width, height, pixels):
    """A PNG file's bytes: width x height RGB pixels given as bytes, row by row."""
    import zlib
    rows = b"".join(b"\x00" + pixels[3 * width * y:3 * width * (y + 1)] for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + png_chunk(b"IDAT", zlib.compress(rows)) + png_chunk(b"IEND", b""))


def png(width, height, rgb):
    """A PNG file's bytes: a width x height image of one colour (r, g, b)."""
    import zlib
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b""))


def assert_one_line_error(r, code, words, args=()):
    """A finished command `r` failed with exit status `code` and exactly one line on stderr
    holding `words`, and printed nothing on stdout."""
    assert r.returncode == code, (args, r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, (args, r.stderr)
    assert words in lines[0], (args, words, lines[0])
    assert r.stdout == "", (args, r.stdout)


def serve_start(knn, tmp, *args):
    """`knn serve` on a free port of 127.0.0.1: (process, url). Its stderr goes to
    tmp/serve.log, shown if it does not start."""
    import subprocess
    log = open(os.path.join(tmp, "serve.log"), "a")
    p = subprocess.Popen([knn, "serve", "--port", "0", *args], stdout=subprocess.PIPE,
                         stderr=log, text=True)
    line = p.stdout.readline()
    if "http://127.0.0.1:" not in line:
        p.kill()
        p.wait(timeout=10)
        raise AssertionError((line, open(log.name).read()[-2000:]))
    port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
    return p, f"http://127.0.0.1:{port}"


def serve_stop(p, tmp):
    """SIGTERM: the server must end within 10 s, with status 0 (under the sanitizers, a leak
    or an error makes it other than 0)."""
    import subprocess
    p.terminate()
    try:
        code = p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(timeout=10)
        raise AssertionError("the server did not stop within 10 s of SIGTERM")
    if code != 0:
        raise AssertionError(f"the server ended with status {code}: "
                             + open(os.path.join(tmp, "serve.log")).read()[-3000:])


def http_call(url, body=None, method=None, timeout=30):
    """(status, body) of a GET, or a POST of bytes or of JSON (a dict or list)."""
    import json
    import urllib.error
    import urllib.request
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method or ("POST" if data else "GET"))
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class Skip(Exception):
    """Raised by a test that cannot run on this machine; reported with its reason, not counted."""


def run_tests(suite, namespace, knn, tmp):
    """Runs every test_* function of `namespace` in name order, printing ok / FAIL / SKIP lines
    and the closing `SUITE: N passed, N failed`; removes `tmp`. Returns the exit status."""
    if not os.access(knn, os.X_OK):
        print(f"{suite}: {knn} is not built; run make")
        print(f"{suite}: 0 passed, 1 failed")
        return 1
    passed = failed = 0
    for name, fn in sorted(namespace.items()):
        if not name.startswith("test_"):
            continue
        try:
            fn()
            print(f"ok   {name}")
            passed += 1
        except Skip as e:
            print(f"SKIP {name}: {e}")
        except Exception as e:  # a failed check, or output that does not parse
            print(f"FAIL {name}: {e!r}"[:2000])
            failed += 1
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"{suite}: {passed} passed, {failed} failed")
    return 1 if failed else 0
