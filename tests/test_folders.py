"""test_folders.py: photo folders as ImageNet, MIT Places and Omniglot hold them, through the
command line: classes at any depth named by their path, test folders matched to the training
classes by name (a missing class, an unknown one), a flat validation folder with a labels
CSV, a model's image conversion applied to a test folder, stratified cross-validation by
default, photos at the target size copied without resampling (distances against a reference
on the raw pixels, also for 256 x 256 RGB photos, past 65,536 values a row and 2^32), and the
messages that point to the right command."""
import csv
import io
import json
import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixtures  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KNN = os.path.abspath(os.environ.get("KNN_BIN") or os.path.join(ROOT, "knn"))
TMP = tempfile.mkdtemp(prefix="knn-folders-")
RNG = random.Random(11)
COLOURS = {"a/abbey": (200, 30, 30), "a/apartment_building/outdoor": (30, 200, 30),
           "b/bamboo_forest": (30, 30, 200), "b/beach": (200, 200, 30)}


def knn(*args, stdin=None):
    e = dict(os.environ)
    e.pop("KNN_DATA", None)
    return subprocess.run([KNN, *map(str, args)], capture_output=True, text=True, env=e,
                          cwd=TMP, timeout=120, input=stdin)


def path(*names):
    return os.path.join(TMP, *names)


def noisy(colour, w=6, h=6):
    """A w x h photo of one colour with a little noise, as PNG bytes."""
    px = bytes(max(0, min(255, c + RNG.randrange(-12, 13))) for _ in range(w * h) for c in colour)
    return fixtures.png_rgb(w, h, px)


def tree(root, classes, per_class, w=6, h=6):
    for name in classes:
        os.makedirs(os.path.join(root, name), exist_ok=True)
        for i in range(per_class):
            fixtures.write(os.path.join(root, name, f"{i}.png"), noisy(COLOURS[name], w, h))
    return root


TRAIN = tree(path("places", "train"), COLOURS, 8)


def test_classes_at_any_depth_are_named_by_their_path():
    r = knn("info", TRAIN)
    assert r.returncode == 0, r.stderr
    for name in COLOURS:
        assert name in r.stdout, (name, r.stdout)
    assert "images:  32" in r.stdout and "classes: 4" in r.stdout
    os.makedirs(os.path.join(TRAIN, "b", "empty"), exist_ok=True)
    r = knn("info", TRAIN)
    assert "b/empty: an empty folder, no class" in r.stderr, r.stderr
    os.rmdir(os.path.join(TRAIN, "b", "empty"))


def test_a_test_folder_lacking_a_class_is_matched_by_name():
    test = tree(path("places", "test-missing"), ["a/abbey", "b/bamboo_forest", "b/beach"], 5)
    r = knn("eval", TRAIN, test, "--json", "-k", "3")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["correct"] == 15 and j["total"] == 15, j  # by position, the classes after the gap
    assert j["classes"] == sorted(COLOURS), j["classes"]  # would all be wrong


def test_a_test_class_the_training_set_lacks_is_an_error_or_counted_wrong():
    test = path("places", "test-extra")
    tree(test, ["a/abbey"], 3)
    os.makedirs(os.path.join(test, "c", "canyon"), exist_ok=True)
    fixtures.write(os.path.join(test, "c", "canyon", "0.png"), noisy((128, 128, 128)))
    r = knn("eval", TRAIN, test)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "'c/canyon'" in r.stderr and "--unknown-classes wrong" in r.stderr, r.stderr
    r = knn("eval", TRAIN, test, "--unknown-classes", "wrong", "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert (j["correct"], j["total"]) == (3, 4), j


def test_a_flat_folder_takes_its_classes_from_a_labels_file():
    flat = path("places", "val")
    os.makedirs(flat, exist_ok=True)
    rows = []
    for i, name in enumerate(["b/beach", "a/abbey", "b/beach", "a/apartment_building/outdoor"]):
        fixtures.write(os.path.join(flat, f"val_{i}.png"), noisy(COLOURS[name]))
        rows.append(f"val_{i}.png,{name}")
    fixtures.write(os.path.join(flat, "val_9.png"), noisy(COLOURS["a/abbey"]))  # no label
    # a BOM, a header, spaces and quotes around fields, a label for an image that is not
    # there (of a class the training set lacks: no error, since no image has it), and no
    # newline at the end (the parser once wrote a byte past its buffer there, under ASan)
    text = ("\ufeff" + "file,class\n" + "\n".join(rows[:2]) + '\n "val_2.png" , "b/beach"\n'
            + rows[3] + "\nmissing.png,z/zoo")
    fixtures.write(path("val.csv"), text.encode())
    r = knn("eval", TRAIN, flat, "--labels", path("val.csv"), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["correct"] == 4
    assert "val_9.png: no label in" in r.stderr, r.stderr
    assert "1 label(s) name no image" in r.stderr and "missing.png" in r.stderr, r.stderr
    # queries too: predict shows the true classes
    r = knn("predict", TRAIN, flat, "--labels", path("val.csv"))
    assert r.returncode == 0 and r.stdout.count("(true: ") == 4, (r.stdout, r.stderr)
    r = knn("eval", TRAIN, flat)
    assert r.returncode == 1 and "needs a labels file" in r.stderr, r.stderr
    fixtures.write(path("twice.csv"), b"val_0.png,a/abbey\nval_0.png,b/beach\n")
    fixtures.assert_one_line_error(knn("eval", TRAIN, flat, "--labels", path("twice.csv")), 1,
                                   "val_0.png is labelled twice, 'a/abbey' and 'b/beach'")
    fixtures.assert_one_line_error(knn("eval", TRAIN, "fashion-mnist:test", "--labels",
                                       path("val.csv")), 2, "a labels file is for a flat folder")


def test_a_models_conversion_applies_to_test_folders():
    model = path("places.knn")
    r = knn("fit", TRAIN, "-o", model, "--size", "4", "-k", "1")
    assert r.returncode == 0, r.stderr
    test = tree(path("places", "test-size"), COLOURS, 2, w=9, h=7)
    r = knn("eval", model, test, "--json")  # no --size: the model's 4 x 4
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["correct"] == 8
    r = knn("eval", model, test, "--json", "--crop", "none")  # the size still the model's
    assert r.returncode == 0, r.stderr


def test_photos_sorted_in_folders_that_are_no_class_are_still_classified():
    photos = path("photos")
    for day, name in (("2023-06", "a/abbey"), ("2024-01", "b/beach")):
        os.makedirs(os.path.join(photos, day), exist_ok=True)
        fixtures.write(os.path.join(photos, day, "x.png"), noisy(COLOURS[name]))
    r = knn("predict", TRAIN, photos, "--format", "csv")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [row["name"] for row in rows] == ["a/abbey", "b/beach"], rows
    assert all(row["true_label"] == "-1" for row in rows)


def test_a_folder_of_other_files_is_no_class_and_the_depth_leaves_nothing_unsaid():
    root = tree(path("notes"), ["a/abbey", "b/beach"], 2)
    fixtures.write(os.path.join(root, "a", "README.txt"), b"about the photos")
    r = knn("info", root, "--samples", "0")
    assert r.returncode == 0 and "classes: 2" in r.stdout, r.stdout
    assert "notes/a: 1 file(s) in no class folder" in r.stderr, r.stderr
    os.remove(os.path.join(root, "a", "README.txt"))
    fixtures.assert_one_line_error(knn("info", root, "--class-depth", "1"), 1,
                                   "hold no files at the class depth")
    os.makedirs(os.path.join(root, "a", "abbey", "extra"))
    fixtures.write(os.path.join(root, "a", "abbey", "extra", "x.png"), noisy(COLOURS["a/abbey"]))
    r = knn("info", root, "--class-depth", "2", "--samples", "0")
    assert r.returncode == 0, r.stderr
    assert "a/abbey: 1 folder(s) below the class depth 2, left out" in r.stderr, r.stderr
    fixtures.assert_one_line_error(knn("info", root, "--class-depth", "4"), 1,
                                   "no folders 4 levels down")


def test_cross_validation_is_stratified_by_default():
    # a folder is numbered class by class: contiguous folds hold out whole classes
    r = knn("cv", TRAIN, "--folds", "4", "-k", "1,3", "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["mode"] == "stratified" and j["best"]["mean"] == 1.0, j["best"]
    r = knn("cv", TRAIN, "--folds", "4", "-k", "1,3", "--json", "--contiguous")
    assert json.loads(r.stdout)["best"]["mean"] == 0.0
    r = knn("eval", TRAIN, TRAIN, "-k", "auto", "--folds", "4")
    assert r.returncode == 0 and "4-fold stratified cross-validation" in r.stderr, r.stderr


def test_photos_at_the_target_size_are_not_resampled():
    d = path("exact")
    pixels = {}
    for name in ("x", "y"):
        os.makedirs(os.path.join(d, name), exist_ok=True)
        for i in range(2):
            px = bytes(RNG.randrange(256) for _ in range(5 * 4 * 3))
            fixtures.write(os.path.join(d, name, f"{i}.png"), fixtures.png_rgb(5, 4, px))
            pixels[(name, i)] = px
    r = knn("predict", d, d, "--size", "5x4", "-k", "4", "--neighbors", "--format", "csv",
            "--metric", "l1")
    assert r.returncode == 0, r.stderr
    order = [("x", 0), ("x", 1), ("y", 0), ("y", 1)]
    for row in csv.DictReader(io.StringIO(r.stdout)):
        q = pixels[order[int(row["index"])]]
        want = sorted(sum(abs(a - b) for a, b in zip(q, pixels[o])) for o in order)
        got = [float(row[f"nn{j}_distance"]) for j in range(1, 5)]
        assert got == want, (got, want)
        assert row["name"] in ("x", "y") and row["nn1_name"] == row["name"]


def test_photos_of_256_x_256_rgb_have_exact_neighbours_and_distances():
    """ImageNet's and Places' 256 x 256 RGB: 196,608 values a row, past the old cap of
    65,536, and squared L2 distances past 2^32 (a black photo against a white one:
    255^2 x 196,608). Copied without resampling, the photos' neighbours and distances equal a
    brute force on the raw pixels: L1 exactly, L2 as the square root of the exact sum."""
    import math
    d, n = path("large"), 256 * 256 * 3
    pixels = {("dark", 0): bytes(n), ("light", 0): b"\xff" * n}
    for name in ("dark", "light"):
        os.makedirs(os.path.join(d, name), exist_ok=True)
        for i in range(3):
            if (name, i) not in pixels:
                pixels[(name, i)] = RNG.randbytes(n)
            fixtures.write(os.path.join(d, name, f"{i}.png"),
                           fixtures.png_rgb(256, 256, pixels[(name, i)]))
    order = sorted(pixels)  # the folder's order: classes sorted, then files
    sums = {"l1": {}, "l2": {}}
    for a in range(len(order)):
        for b in range(a, len(order)):
            x, y = pixels[order[a]], pixels[order[b]]
            sums["l1"][a, b] = sums["l1"][b, a] = sum(abs(u - v) for u, v in zip(x, y))
            sums["l2"][a, b] = sums["l2"][b, a] = sum((u - v) ** 2 for u, v in zip(x, y))
    assert max(sums["l2"].values()) == 255 ** 2 * n > 2 ** 32
    for metric in ("l2", "l1"):
        r = knn("predict", d, d, "--size", "256", "-k", "3", "--neighbors", "--format", "csv",
                "--metric", metric)
        assert r.returncode == 0, r.stderr
        rows = list(csv.DictReader(io.StringIO(r.stdout)))
        assert len(rows) == len(order)
        for row in rows:
            q = int(row["index"])
            want = sorted((sums[metric][q, t], t) for t in range(len(order)))[:3]
            got = [(float(row[f"nn{j}_distance"]), int(row[f"nn{j}_index"])) for j in (1, 2, 3)]
            value = (lambda s: s) if metric == "l1" else math.sqrt
            assert got == [(float(f"{value(s):.9g}"), t) for s, t in want], (metric, got, want)


def run_rss(*args, stdout=subprocess.DEVNULL):
    """Runs knn; its exit status, standard error and peak resident memory (MiB), its own."""
    e = dict(os.environ)
    e.pop("KNN_DATA", None)
    p = subprocess.Popen([KNN, *map(str, args)], stdout=stdout, stderr=subprocess.PIPE,
                         cwd=TMP, env=e)
    err = p.stderr.read().decode()
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, err, usage.ru_maxrss / 1024


def fit_both(name, *args):
    """knn fit of a folder to a file (written as the images are decoded) and to standard
    output (loaded whole, then written): both files' bytes, and each run's peak memory."""
    streamed, loaded = path(name + ".knn"), path(name + "-stdout.knn")
    code, err, rss_streamed = run_rss("fit", *args, "-o", streamed)
    assert code == 0, err
    with open(loaded, "wb") as f:
        code, err, rss_loaded = run_rss("fit", *args, "-o", "-", stdout=f)
    assert code == 0, err
    return open(streamed, "rb").read(), open(loaded, "rb").read(), rss_streamed, rss_loaded


def test_fit_writes_a_folder_as_it_decodes_it_byte_for_byte_as_loaded():
    """knn fit DIR -o FILE writes the rows as they are decoded, batch by batch (DESIGN.md,
    model files): the same bytes as the model of the folder loaded whole (what standard
    output gets), with settings, skipped images, a train limit and DIR:SPLIT; several
    batches (padded rows of about 1 MiB: 66 a batch) in less memory than the whole folder's
    rows; a model written inside the folder it is made of is not one of its images."""
    fixtures.write(path("places", "train", "b/beach", "broken.jpg"), b"\xff\xd8\xff not a JPEG")
    os.makedirs(path("places", "train", "c", "empty"), exist_ok=True)
    try:
        for i, args in enumerate([(TRAIN,), ("places:train", "--train-limit", 13),
                                  (TRAIN, "--size", "9x7", "--gray", "--crop", "none", "-k", 3,
                                   "--metric", "l1", "--weights", "distance")]):
            a, b, _, _ = fit_both(f"streamed-{i}", *args)
            assert a == b and a[:8] == b"KNNMODEL", args
        r = knn("fit", TRAIN, "-k", 40, "-o", "too-many.knn")
        assert r.returncode == 2 and "K = 40 is more than the 32 training images" in r.stderr
        assert not os.path.exists(path("too-many.knn"))
        r = knn("fit", TRAIN, "--strict", "-o", "strict.knn")
        assert r.returncode == 1 and "broken.jpg" in r.stderr, r.stderr
        assert not os.path.exists(path("strict.knn"))
    finally:
        os.remove(path("places", "train", "b/beach", "broken.jpg"))
        os.rmdir(path("places", "train", "c", "empty"))
        os.rmdir(path("places", "train", "c"))
    # 160 photos at 1001 x 1001 gray: 160 MiB of rows, each with 47 bytes of padding (which
    # the check of a model file reads: not of the one just written, or memory would grow)
    many = tree(path("many"), COLOURS, 40)
    a, b, rss_streamed, rss_loaded = fit_both("many", many, "--size", 1001, "--gray", "-q")
    assert a == b and len(a) > 160 * 1001 * 1001
    print(f"     peak memory, 160 rows of 1 MiB: {rss_streamed:.0f} MiB written as decoded, "
          f"{rss_loaded:.0f} MiB loaded whole")
    assert rss_streamed < rss_loaded - 64, (rss_streamed, rss_loaded)
    for name in ("many.knn", "many-stdout.knn"):
        os.remove(path(name))
    r = knn("fit", TRAIN, "-o", path("places", "train", "b/beach", "inside.knn"))
    assert r.returncode == 0 and "inside.knn" not in r.stderr, r.stderr
    inside = open(path("places", "train", "b/beach", "inside.knn"), "rb").read()
    os.remove(path("places", "train", "b/beach", "inside.knn"))
    assert inside == fit_both("outside", TRAIN)[0]


def test_messages_point_to_the_right_command():
    r = knn("info", "fashion-mnist")
    assert r.returncode == 2 and "fashion-mnist:train or fashion-mnist:test" in r.stderr
    r = knn("info", "mnist:train")
    assert r.returncode == 1 and "'knn fetch mnist' downloads it" in r.stderr, r.stderr
    r = knn("cv", TRAIN, "--folds", "x")
    assert r.returncode == 2 and "from 2 to the number of training images" in r.stderr
    r = knn("eval", TRAIN, TRAIN, "--metric", "L1", "-q")
    assert r.returncode == 0, r.stderr


def main():
    return fixtures.run_tests("folders", globals(), KNN, TMP)


if __name__ == "__main__":
    sys.exit(main())
