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

Then the memory of `knn fit` on a large folder (build/bench-small, made once): 200,000 small
JPEGs (40 x 30, 2,000 distinct pictures written 100 times each) in 100 class folders, fitted
at --size 32 to a file (the rows written as they are decoded, batch by batch) and to standard
output (the folder loaded whole, then written), the same bytes; each run's peak resident
memory (its own, from wait4) and time next to the rows' size, the files read once before
(the page cache). The target: the file's fit in memory that does not grow with the images
(at most 160 MiB here, where the rows are 586 MiB).

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


def made_once(folder, fill):
    """fill(np, write) makes the folder's files once (a .complete file marks it done);
    False where numpy or an encoder is missing."""
    done = os.path.join(folder, ".complete")
    if os.path.exists(done):
        return True
    try:
        import numpy as np
    except ImportError:
        return False
    write = encoder()
    if write is None:
        return False
    os.makedirs(folder, exist_ok=True)
    fill(np, write)
    open(done, "w").close()
    return True


def make_folder():
    """The photos, made once; False where numpy or an encoder is missing."""
    return made_once(FOLDER, fill_photos)


def fill_photos(np, write):
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


SMALL_FOLDER = os.path.join(ROOT, "build", "bench-small")
SMALL_COUNT, SMALL_CLASSES, SMALL_DISTINCT = 200_000, 100, 2_000


def make_small_folder():
    """The 200,000 small JPEGs, made once; False where numpy or an encoder is missing."""
    return made_once(SMALL_FOLDER, fill_small)


def fill_small(np, write):
    rng = np.random.default_rng(17)
    blobs = []
    for i in range(SMALL_DISTINCT):
        one = os.path.join(SMALL_FOLDER, "one.jpg")
        img = rng.integers(0, 64, (30, 40, 3)) + 40 * (i % SMALL_CLASSES % 5)
        write(one, np.clip(img, 0, 255).astype(np.uint8))
        blobs.append(open(one, "rb").read())
    os.remove(os.path.join(SMALL_FOLDER, "one.jpg"))
    for i in range(SMALL_COUNT):
        c = i % SMALL_CLASSES
        folder = os.path.join(SMALL_FOLDER, f"c{c:03d}")
        if i < SMALL_CLASSES:
            os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, f"{i:06d}.jpg"), "wb") as f:
            f.write(blobs[i % SMALL_DISTINCT])


def fit_rss(output, stdout=subprocess.DEVNULL):
    """knn fit of the small folder at --size 32: (seconds, peak resident MiB of that run).
    The peak comes from /usr/bin/time, knn's parent: a process started from this one carries
    this process's own peak (Linux keeps the largest resident size across the exec, and
    this process holds hundreds of MiB of decoded photos by now), so wait4 here would
    measure Python, not knn."""
    t = time.time()
    r = subprocess.run(["/usr/bin/time", "-f", "%M", os.path.join(ROOT, "knn"), "fit",
                        SMALL_FOLDER, "--size", "32", "-q", "-o", output],
                       stdout=stdout, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"knn fit failed: {r.stderr}")
    return time.time() - t, int(r.stderr.strip().splitlines()[-1]) / 1024


def fit_memory():
    """Prints the large-folder fit's memory; returns its check."""
    print(f"\nknn fit of {SMALL_COUNT:,} small JPEGs (40 x 30, build/bench-small) at --size 32:")
    if not os.path.exists("/usr/bin/time"):
        print("  (/usr/bin/time, Debian package time, measures the peak; skipped)")
        return []
    if not make_small_folder():
        print("  (numpy with OpenCV or PIL is needed to make the photos; skipped)")
        return []
    for f in glob.glob(os.path.join(SMALL_FOLDER, "*", "*.jpg")):  # the page cache, for both
        with open(f, "rb") as fh:
            fh.read()
    streamed = os.path.join(ROOT, "build", "bench-small.knn")
    loaded = os.path.join(ROOT, "build", "bench-small-loaded.knn")
    t_s, rss_s = fit_rss(streamed)
    with open(loaded, "wb") as f:
        t_l, rss_l = fit_rss("-", stdout=f)
    same = open(streamed, "rb").read() == open(loaded, "rb").read()
    rows_mib = SMALL_COUNT * 3072 / 2**20
    print(f"  to a file, written as decoded: {t_s:6.1f} s, peak memory {rss_s:6.0f} MiB")
    print(f"  to standard output, loaded whole: {t_l:6.1f} s, peak memory {rss_l:6.0f} MiB")
    print(f"  (the rows: {rows_mib:.0f} MiB; the two files "
          f"{'are the same bytes' if same else 'DIFFER'})")
    assert same, "the streamed model differs from the loaded one"
    for f in (streamed, loaded):
        os.remove(f)
    return [("fit of 200,000 JPEGs to a file: peak memory (MiB)", rss_s, 160.0, True)]


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
    return checks + fit_memory()


if __name__ == "__main__":
    checks_mod.print_checks(run())
