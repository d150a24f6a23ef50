"""fixtures.py: writes small IDX and CIFAR files for the tests (standard library only)."""
import gzip
import os
import random
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


def png(width, height, rgb):
    """A PNG file's bytes: a width x height image of one colour (r, g, b)."""
    import zlib
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
