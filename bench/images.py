"""images.py: the photo section of make bench: how fast a folder of real-size JPEGs becomes
rows, at --size 32 (the lecture's CIFAR-like size) and --size 256 (ImageNet's), RGB, centre
crop, on all threads.

The folder (build/bench-images, made once, deterministic) holds 2,000 photo-like JPEGs of
500 x 375, ImageNet's median size, at quality 90 with 4:2:0 chroma, in 10 class folders:
smooth colour fields, discs and sensor-like noise, drawn by numpy and encoded by OpenCV (or
PIL where OpenCV is missing).

  knn      build/decode_bench: knn_dataset_load, the path every command takes (libjpeg-turbo,
           DCT-domain scaling, knn's resizer; OpenMP threads)
  knn-stb  the same process, same files: stb_image's full decode (knn's decoder before) and
           knn's resizer, in parallel the same way
  OpenCV   cv2.imread + centre crop + cv2.resize(INTER_AREA), one thread inside OpenCV and a
           pool of as many Python threads as knn's (OpenCV releases the GIL)
  OpenCV-reduced  the same with cv2.IMREAD_REDUCED_COLOR_2/4/8 where the reduced photo still
           covers the size: OpenCV's own DCT scaling, which a user has to ask for (not the
           target's peer, printed for fairness)
  PIL      Image.open + convert("RGB") + resize(BILINEAR, box = the centre square), the same
           pool; no draft mode (PIL's own DCT scaling), as a plain user writes it

Files are read once before each is timed, so every decoder reads from the page cache. The
target: knn faster than OpenCV at both sizes.

    /usr/bin/python3 bench/images.py          # this section alone (make bench-images)
"""
import glob
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checks as checks_mod  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FOLDER = os.path.join(ROOT, "build", "bench-images")
COUNT, CLASSES, WIDTH, HEIGHT = 2000, 10, 500, 375


def encoder():
    try:
        import cv2
        return lambda path, rgb: cv2.imwrite(path, rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
    except ImportError:
        pass
    try:
        from PIL import Image
        return lambda path, rgb: Image.fromarray(rgb).save(path, quality=90)
    except ImportError:
        return None


def make_folder():
    """The photos, made once; False where numpy or an encoder is missing."""
    done = os.path.join(FOLDER, ".complete")
    if os.path.exists(done):
        return True
    try:
        import numpy as np
    except ImportError:
        return False
    write = encoder()
    if write is None:
        return False
    rng = np.random.default_rng(2026)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    for i in range(COUNT):
        c = i % CLASSES
        os.makedirs(os.path.join(FOLDER, f"class{c}"), exist_ok=True)
        img = np.empty((HEIGHT, WIDTH, 3), np.float32)
        for ch in range(3):
            a, b, p = rng.uniform(-1, 1, 3)
            img[..., ch] = 120 + 60 * np.sin(a * xx / 40 + b * yy / 50 + p) + 12 * c * (ch == c % 3)
        for _ in range(6):
            cx, cy, r = rng.integers(0, WIDTH), rng.integers(0, HEIGHT), rng.integers(10, 80)
            img[(xx - cx) ** 2 + (yy - cy) ** 2 < r * r] = rng.integers(0, 255, 3)
        img += rng.normal(0, 8, img.shape)
        write(os.path.join(FOLDER, f"class{c}", f"{i:05d}.jpg"),
              np.clip(img, 0, 255).astype(np.uint8))
    open(done, "w").close()
    return True


def pool_rate(load, files, threads):
    from concurrent.futures import ThreadPoolExecutor
    for f in files:  # the page cache, as for knn
        with open(f, "rb") as fh:
            fh.read()
    t = time.perf_counter()
    with ThreadPoolExecutor(threads) as ex:
        for _ in ex.map(load, files):
            pass
    return len(files) / (time.perf_counter() - t)


def opencv_loader(size, flag=None):
    import cv2
    cv2.setNumThreads(1)
    flag = cv2.IMREAD_COLOR if flag is None else flag

    def load(path):
        im = cv2.imread(path, flag)
        h, w = im.shape[:2]
        s = min(h, w)
        y, x = (h - s) // 2, (w - s) // 2
        return cv2.resize(im[y:y + s, x:x + s], (size, size), interpolation=cv2.INTER_AREA)
    return load


def opencv_reduced_loader(size):
    import cv2
    flag = cv2.IMREAD_COLOR
    for d, f in ((2, cv2.IMREAD_REDUCED_COLOR_2), (4, cv2.IMREAD_REDUCED_COLOR_4),
                 (8, cv2.IMREAD_REDUCED_COLOR_8)):
        if -(-min(WIDTH, HEIGHT) // d) >= size:
            flag = f
    return opencv_loader(size, flag)


def pil_loader(size):
    from PIL import Image

    def load(path):
        with Image.open(path) as im:
            im = im.convert("RGB")
            w, h = im.size
            s = min(w, h)
            x, y = (w - s) // 2, (h - s) // 2
            return im.resize((size, size), Image.BILINEAR, box=(x, y, x + s, y + s))
    return load


def run():
    """Prints the section; returns the target checks [(what, value, limit, at_most)]."""
    print(f"\nPhotos: {COUNT:,} JPEGs of {WIDTH} x {HEIGHT} (build/bench-images), RGB, centre "
          "crop, images per second (higher is better):")
    if not make_folder():
        print("  (numpy with OpenCV or PIL is needed to make the photos; skipped)")
        return []
    files = sorted(glob.glob(os.path.join(FOLDER, "*", "*.jpg")))
    checks = []
    for size in (32, 256):
        r = subprocess.run([os.path.join(ROOT, "build", "decode_bench"), FOLDER, str(size)],
                           capture_output=True, text=True, check=True)
        k = json.loads(r.stdout)
        threads = k["threads"]
        knn_rate = k["images"] / k["knn_seconds"]
        line = (f"  --size {size:3}: knn {knn_rate:7.0f}   knn-stb {k['images'] / k['stb_seconds']:7.0f}")
        peers = {}
        for name, make in (("OpenCV", opencv_loader), ("OpenCV-reduced", opencv_reduced_loader),
                           ("PIL", pil_loader)):
            try:
                peers[name] = pool_rate(make(size), files, threads)
                line += f"   {name} {peers[name]:7.0f}"
            except ImportError:
                line += f"   {name} (not installed)"
        print(line + f"   ({threads} threads)")
        print(f"      knn against knn-stb, pixel by pixel: mean difference "
              f"{k['mean_difference']:.3f} levels, largest {k['max_difference']}")
        if "OpenCV" in peers:
            checks.append((f"photos --size {size}: knn images/s / OpenCV images/s",
                           knn_rate / peers["OpenCV"], 1.0, False))
    return checks


if __name__ == "__main__":
    checks_mod.print_checks(run())
