"""make_corpus.py: writes the seed corpus of the fuzz targets (small valid inputs and known
bad ones) into fuzz/corpus/TARGET/. Run it again after a format changes; its output is kept in
the repository, with every input that ever crashed a target."""
import gzip
import json
import os
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
import fixtures  # noqa: E402


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def idx_pair(images, labels):
    # fuzz_idx splits its input: byte 0 is where the images file ends, in 1/256ths
    total = len(images) + len(labels)
    cut = min(255, (len(images) * 256 + total - 1) // max(total, 1))
    return bytes([cut]) + images + labels


rows = [[(i * 13 + d * 5) % 256 for d in range(12)] for i in range(4)]
img = fixtures.idx_images(rows, 3, 4)
lab = fixtures.idx_labels([0, 1, 2, 1])
put("idx", "valid", idx_pair(img, lab))
put("idx", "gzip", idx_pair(gzip.compress(img), gzip.compress(lab)))
put("idx", "float", idx_pair(fixtures.idx_images_f32([[1.5] * 12] * 2, 3, 4), fixtures.idx_labels([0, 1])))
put("idx", "huge-header", idx_pair(bytes([0, 0, 8, 3]) + b"\xff\xff\xff\xff" * 3, lab))
put("idx", "truncated", idx_pair(img[:-5], lab))
put("idx", "count-mismatch", idx_pair(img, fixtures.idx_labels([0, 1])))

rec10 = bytes([3]) + bytes(range(256)) * 12
put("cifar", "cifar10-two", rec10 + bytes([9]) + bytes(3072))
put("cifar", "cifar100-one", bytes([5, 77]) + bytes(3072))
put("cifar", "bad-label", bytes([200]) + bytes(3072))
put("cifar", "short", rec10[:1000])

# a small valid model: write one with the knn binary if it is built, else skip
knn = os.path.join(HERE, "..", "knn")
if os.access(knn, os.X_OK):
    import subprocess
    import tempfile
    with tempfile.TemporaryDirectory() as t:
        fixtures.write(os.path.join(t, "train-images-idx3-ubyte"), img)
        fixtures.write(os.path.join(t, "train-labels-idx1-ubyte"), lab)
        m = os.path.join(t, "m.knn")
        subprocess.run([knn, "fit", os.path.join(t, "train-images-idx3-ubyte"), "-o", m, "-k", "2",
                        "-q"], check=True)
        data = open(m, "rb").read()
        put("model", "valid", data)
        put("model", "flipped", data[:300] + bytes([data[300] ^ 1]) + data[301:])
        put("model", "truncated", data[:200])
        put("model", "future", data[:8] + struct.pack("<I", 9) + data[12:])

put("image", "red.png", fixtures.png(5, 3, (255, 0, 0)))
put("image", "gray.pgm", b"P5\n3 2\n255\n" + bytes([0, 50, 100, 150, 200, 250]))
put("image", "rgb.ppm", b"P6\n2 1\n255\n" + bytes([255, 0, 0, 0, 0, 255]))
bmp_pixels = bytes([0, 0, 255, 0]) * 2  # 2 x 1, 24-bit, rows padded to 4 bytes
put("image", "tiny.bmp", b"BM" + struct.pack("<IHHI", 54 + len(bmp_pixels), 0, 0, 54) +
    struct.pack("<IiiHHIIiiII", 40, 2, 1, 1, 24, 0, len(bmp_pixels), 2835, 2835, 0, 0) +
    bmp_pixels)
put("image", "not-an-image", b"hello")
put("image", "png-header-only", b"\x89PNG\r\n\x1a\n")

for i, s in enumerate(["mnist:train", "fashion-mnist:test", "cifar10:val", "/tmp:train", "a:b:c",
                       "", ":", "/", "nosuch", "cifar100:train"]):
    put("spec", f"spec{i}", s.encode())

pts = [{"x": 0.1 * i, "y": 0.05 * i, "label": i % 3} for i in range(10)]
put("boundary", "valid", json.dumps({"points": pts, "k": 3, "metric": "l1", "grid": 16}).encode())
put("boundary", "weights", json.dumps({"points": pts, "k": 5, "weights": "distance", "grid": 8}).encode())
put("boundary", "bad", b'{"points": [{"x": 1e999}], "k": -1}')
put("boundary", "deep", b"[" * 500 + b"]" * 500)
print("corpus written to", os.path.join(HERE, "corpus"))
