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
put("idx", "gzip", idx_pair(gzip.compress(img, mtime=0), gzip.compress(lab, mtime=0)))
put("idx", "float", idx_pair(fixtures.idx_images_f32([[1.5] * 12] * 2, 3, 4), fixtures.idx_labels([0, 1])))
put("idx", "huge-header", idx_pair(bytes([0, 0, 8, 3]) + b"\xff\xff\xff\xff" * 3, lab))
put("idx", "truncated", idx_pair(img[:-5], lab))
put("idx", "count-mismatch", idx_pair(img, fixtures.idx_labels([0, 1])))
put("idx", "gzip-multi-member", idx_pair(gzip.compress(img[:20], mtime=0) + gzip.compress(img[20:], mtime=0),
                                         gzip.compress(lab, mtime=0)))
# 4 KB of gzip whose header claims 50 million 28 x 28 images and whose trailer agrees (mod
# 2^32): it allocated 3.1 GB before failing when the trailer was trusted
bomb = bytearray(gzip.compress(struct.pack(">IIII", 0x0803, 50_000_000, 28, 28) + bytes(4000), mtime=0))
bomb[-4:] = struct.pack("<I", (16 + 50_000_000 * 784) % 2**32)
put("idx", "gzip-bomb-50m-rows", idx_pair(bytes(bomb), gzip.compress(lab, mtime=0)))

rec10 = bytes([3]) + bytes(range(256)) * 12
put("cifar", "cifar10-two", rec10 + bytes([9]) + bytes(3072))
put("cifar", "cifar100-one", bytes([5, 77]) + bytes(3072))
put("cifar", "bad-label", bytes([200]) + bytes(3072))
put("cifar", "short", rec10[:1000])

# text documents (the text target, and a text model below)
train_tsv = ("sports\tThe match was won, 2-1\nnews\tElections held today\r\n\n"
             "news\t\u00c9cole stra\u00dfe \u0130stanbul \u65e5\u672c votes\n"
             "sports\tmatch match match\n").encode()
queries = "match today\nunknown\n\u00e9cole\n".encode()

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
        # a model with a graph index (format version 3): the section's lists, levels and
        # offsets are checked before any walk
        subprocess.run([knn, "fit", os.path.join(t, "train-images-idx3-ubyte"), "-o", m, "-k", "2",
                        "--index", "hnsw", "--M", "2", "--ef-construction", "4", "-q"], check=True)
        put("model", "index", open(m, "rb").read())
        # a text model (format version 4): its text section is checked part by part
        tsv = os.path.join(t, "train.tsv")
        fixtures.write(tsv, train_tsv)
        subprocess.run([knn, "fit", tsv, "-o", m, "-k", "2", "--ngrams", "1,2", "-q"], check=True)
        put("model", "text", open(m, "rb").read())
        # a feature model holding its network (format version 2): the network section and
        # the shape walk over its ONNX bytes (torch, where installed, writes the network)
        try:
            import torch
        except ImportError:
            torch = None
        if torch is not None:
            net = os.path.join(t, "tiny.onnx")
            torch.manual_seed(0)
            torch.onnx.export(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3)),
                              torch.zeros(1, 1, 3, 4), net, opset_version=13,
                              input_names=["x"], output_names=["y"],
                              dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})
            subprocess.run([knn, "embed", net, os.path.join(t, "train-images-idx3-ubyte"), "-o",
                            m, "-q"], check=True)
            put("model", "network", open(m, "rb").read())
            subprocess.run([knn, "embed", net, os.path.join(t, "train-images-idx3-ubyte"),
                            "--quantize", "-o", m, "-q"], check=True)
            put("model", "network-codes", open(m, "rb").read())

# text: byte 0 chooses the vectoriser (bits 0-2) and the cut between training and query
# files (bits 3-7, in 1/32nds)


def text_pair(flags, train, query):
    total = len(train) + len(query)
    cut = min(31, (len(train) * 32 + total - 1) // max(total, 1))
    return bytes([cut << 3 | flags]) + train + query


put("text", "valid", text_pair(0, train_tsv, queries))
put("text", "pairs-stop-words-min-df", text_pair(7, train_tsv, queries))
put("text", "invalid-utf8", text_pair(0, train_tsv + b"news\tbad \xc0\xaf\n", queries))
put("text", "no-tab", text_pair(0, b"news\tfine\nno tab here\n", queries))
put("text", "unlabelled", text_pair(0, b"just text\nmore\n", queries))
put("text", "empty-texts", text_pair(0, b"a\t \nb\t\n", queries))
put("text", "gzip", text_pair(1, gzip.compress(train_tsv, mtime=0), queries))

put("image", "red.png", fixtures.png(5, 3, (255, 0, 0)))
put("image", "gray.pgm", b"P5\n3 2\n255\n" + bytes([0, 50, 100, 150, 200, 250]))
put("image", "rgb.ppm", b"P6\n2 1\n255\n" + bytes([255, 0, 0, 0, 0, 255]))
bmp_pixels = bytes([0, 0, 255, 0]) * 2  # 2 x 1, 24-bit, rows padded to 4 bytes
put("image", "tiny.bmp", b"BM" + struct.pack("<IHHI", 54 + len(bmp_pixels), 0, 0, 54) +
    struct.pack("<IiiHHIIiiII", 40, 2, 1, 1, 24, 0, len(bmp_pixels), 2835, 2835, 0, 0) +
    bmp_pixels)
put("image", "not-an-image", b"hello")
# Inputs that hung or crashed Debian's stb_image 2.27 when every format it knows was decoded
# (issue: hostile input, round two). knn now refuses them by their first bytes, or by their
# header's dimensions before decoding; they stay here so that it always does.
put("image", "hang-hdr-rle-count-zero",  # CVE-2021-42715: an RLE run of length 0 loops forever
    b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 1 +X 16\n" + bytes([2, 2, 0, 16, 0, 0, 0]))
put("image", "crash-softimage-pic",  # 160 bytes: stb dereferences NULL in the PIC decoder
    (struct.pack(">I", 0x5380F634) + bytes(84) + b"PICT" + struct.pack(">HHfHH", 4, 4, 1.0, 3, 0)
     + bytes([0, 8, 1, 0]) + bytes(160))[:160])
put("image", "bmp-negative-height",  # height -2^31: its absolute value does not fit an int
    b"BM" + struct.pack("<IHHI", 62, 0, 0, 54) +
    struct.pack("<IiiHHIIiiII", 40, 16, -2**31, 1, 24, 0, 8, 2835, 2835, 0, 0) + bytes(8))
put("image", "crash-pgm16-as-rgb",  # CVE-2021-42716: stb read past its buffer converting 16-bit PGM
    b"P5\n3 2\n65535\n" + bytes(range(12)))
put("image", "hang-bmp-62-bytes-2x8323073",  # found by fuzz-quick: decoders read past the end as zeros
    bytes.fromhex("424d3e000000000000003600000028000000020000000100"
                  "7f000100180000d08ea08f000000130b0000130b00000004"
                  "0000000000000000ff000000ff00"))
# Found by a red-team review of the caps above (each cost seconds or gigabytes):
def jpeg_scans(w, h, scans):  # empty progressive scans, 10 bytes each, over the whole image
    def seg(m, payload):
        return b"\xff" + bytes([m]) + struct.pack(">H", len(payload) + 2) + payload
    huffman = b"\x00" + bytes([1] + [0] * 15) + b"\x00" + b"\x10" + bytes([1] + [0] * 15) + b"\x00"
    return (b"\xff\xd8" + seg(0xDB, b"\x00" + bytes([1] * 64)) +
            seg(0xC2, b"\x08" + struct.pack(">HH", h, w) + b"\x01\x01\x11\x00") + seg(0xC4, huffman) +
            seg(0xDA, b"\x01\x01\x00\x00\x00\x00") * scans + b"\xff\xd9")


put("image", "hang-jpeg-200-scans-8192x8192", jpeg_scans(8192, 8192, 200))
# JPEGs for libjpeg-turbo's path (DCT-scaled, progressive, gray, truncated; CMYK goes to stb)
# and the resizer's box reduction (1280 x 40 to 20 wide): encoded by PIL where it is installed
# (python3-pil; its encoder's bytes are the same on every run)
try:
    import io
    from PIL import Image

    def jpeg(w, h, mode, **kw):
        px = bytes((x * 7 + y * 13 + c * 50) % 256 for y in range(h) for x in range(w)
                   for c in range(len(mode)))
        out = io.BytesIO()
        Image.frombytes(mode, (w, h), px).save(out, "JPEG", **kw)
        return out.getvalue()
    put("image", "jpeg-rgb420-200x150", jpeg(200, 150, "RGB", quality=75))
    put("image", "jpeg-progressive-64x48", jpeg(64, 48, "RGB", quality=90, progressive=True))
    put("image", "jpeg-gray-33x17", jpeg(33, 17, "L", quality=90))
    put("image", "jpeg-cmyk-24x16", jpeg(24, 16, "CMYK", quality=90))
    put("image", "jpeg-rgb-1280x40", jpeg(1280, 40, "RGB", quality=60))
    progressive = jpeg(96, 64, "RGB", quality=85, progressive=True)
    put("image", "jpeg-progressive-truncated", progressive[:len(progressive) // 2])
except ImportError:
    print("make_corpus.py: no PIL (python3-pil): the JPEG seeds are left as they are",
          file=sys.stderr)
put("image", "bomb-png-1x1-inflating-to-64mib",  # stb doubled its buffer towards 2 GiB
    b"\x89PNG\r\n\x1a\n" + fixtures.png_chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)) +
    fixtures.png_chunk(b"IDAT", zlib.compress(bytes(64 << 20), 9)) + fixtures.png_chunk(b"IEND", b""))
put("image", "gif-screen-8192x8192-frame-1x1",  # the screen is decoded whole, 9 bytes a pixel
    b"GIF89a" + struct.pack("<HH", 8192, 8192) + b"\x80\x00\x00\x00\x00\x00\xff\xff\xff" +
    b"\x2c" + struct.pack("<HHHH", 0, 0, 1, 1) + b"\x00\x02\x02\x44\x01\x00;")
put("image", "pgm-width-of-10-digits", b"P5\n4294967297 1 255\n\x07")  # int overflow in stb
# valid files the first size check refused: a palette and a 1-bit PNG, highly compressed
put("image", "png-palette-800x800", b"\x89PNG\r\n\x1a\n" +
    fixtures.png_chunk(b"IHDR", struct.pack(">IIBBBBB", 800, 800, 8, 3, 0, 0, 0)) +
    fixtures.png_chunk(b"PLTE", bytes([255, 0, 0, 0, 0, 255])) +
    fixtures.png_chunk(b"IDAT", zlib.compress((b"\x00" + bytes([1]) * 800) * 800, 9)) +
    fixtures.png_chunk(b"IEND", b""))
put("image", "png-1bit-800x800", b"\x89PNG\r\n\x1a\n" +
    fixtures.png_chunk(b"IHDR", struct.pack(">IIBBBBB", 800, 800, 1, 0, 0, 0, 0)) +
    fixtures.png_chunk(b"IDAT", zlib.compress((b"\x00" + b"\xaa" * 100) * 800, 9)) +
    fixtures.png_chunk(b"IEND", b""))
put("image", "png16-8192x8192",  # 8192 x 8192 16-bit RGB: 384 MiB of samples from a tiny file
    b"\x89PNG\r\n\x1a\n" + fixtures.png_chunk(b"IHDR", struct.pack(">IIBBBBB", 8192, 8192, 16, 2, 0, 0, 0))
    + fixtures.png_chunk(b"IDAT", zlib.compress(bytes(4096))) + fixtures.png_chunk(b"IEND", b""))
put("image", "png-header-only", b"\x89PNG\r\n\x1a\n")

for i, s in enumerate(["mnist:train", "fashion-mnist:test", "cifar10:val", "/tmp:train", "a:b:c",
                       "", ":", "/", "nosuch", "cifar100:train"]):
    put("spec", f"spec{i}", s.encode())

pts = [{"x": 0.1 * i, "y": 0.05 * i, "label": i % 3} for i in range(10)]
put("boundary", "valid", json.dumps({"points": pts, "k": 3, "metric": "l1", "grid": 16}).encode())
put("boundary", "weights", json.dumps({"points": pts, "k": 5, "weights": "distance", "grid": 8}).encode())
put("boundary", "bad", b'{"points": [{"x": 1e999}], "k": -1}')
put("boundary", "deep", b"[" * 500 + b"]" * 500)
put("boundary", "trailing", json.dumps({"points": pts, "k": 1}).encode() + b" {}")
put("boundary", "nul-escape", b'{"points": [{"x": 0.5, "y": 0.5}], "metric": "l1\\u0000x"}')
print("corpus written to", os.path.join(HERE, "corpus"))
