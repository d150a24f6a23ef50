"""test_cli.py: the `knn` command on files this test writes: results against a plain Python
brute-force reference, the output formats, and every kind of bad input, each of which must end
with exit status 1 or 2, one line on stderr naming the problem, and no output file."""
import csv
import gzip
import io
import json
import math
import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixtures  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KNN = os.path.abspath(os.environ.get("KNN_BIN") or os.path.join(ROOT, "knn"))
TMP = tempfile.mkdtemp(prefix="knn-cli-")
RNG = random.Random(7)


def knn(*args, env=None):
    e = dict(os.environ)
    e.pop("KNN_DATA", None)
    if env:
        e.update(env)
    return subprocess.run([KNN, *map(str, args)], capture_output=True, text=True, env=e,
                          cwd=TMP, timeout=120)


def path(*names):
    return os.path.join(TMP, *names)


# A small labelled problem: 120 training and 40 test vectors of 5 x 4 values in 3 classes.
TRAIN_ROWS = fixtures.random_rows(RNG, 120, 20, top=8)  # small values: many equal distances
TRAIN_LABELS = [RNG.randrange(3) for _ in TRAIN_ROWS]
TEST_ROWS = fixtures.random_rows(RNG, 40, 20, top=8)
TEST_LABELS = [RNG.randrange(3) for _ in TEST_ROWS]
TRAIN = fixtures.write_idx_pair(path("small"), "train", TRAIN_ROWS, TRAIN_LABELS, 5, 4)
TEST = fixtures.write_idx_pair(path("small"), "t10k", TEST_ROWS, TEST_LABELS, 5, 4, gz=True)


def reference_predict(k, metric, ties="nearest"):
    """Brute force: every distance, neighbours sorted by (distance, index), uniform vote."""
    out = []
    for q in TEST_ROWS:
        if metric == "l1":
            d = [sum(abs(a - b) for a, b in zip(q, t)) for t in TRAIN_ROWS]
        else:
            d = [sum((a - b) ** 2 for a, b in zip(q, t)) for t in TRAIN_ROWS]
        order = sorted(range(len(TRAIN_ROWS)), key=lambda i: (d[i], i))[:k]
        votes = {}
        for pos, i in enumerate(order):
            c = TRAIN_LABELS[i]
            n, first = votes.get(c, (0, pos))
            votes[c] = (n + 1, first)
        key = (lambda c: (-votes[c][0], votes[c][1])) if ties == "nearest" else \
              (lambda c: (-votes[c][0], c))
        out.append((min(votes, key=key), order, [d[i] for i in order]))
    return out


def test_predict_matches_brute_force_reference():
    for k in (1, 4, 7):
        for metric in ("l1", "l2"):
            for ties in ("nearest", "smallest-label"):
                r = knn("predict", TRAIN, TEST, "-k", k, "--metric", metric, "--ties", ties,
                        "--format", "csv", "--neighbors")
                assert r.returncode == 0, r.stderr
                rows = list(csv.DictReader(io.StringIO(r.stdout)))
                ref = reference_predict(k, metric, ties)
                assert len(rows) == len(ref)
                for row, (label, order, dist) in zip(rows, ref):
                    assert int(row["label"]) == label, (k, metric, ties, row, label)
                    got = [int(row[f"nn{j + 1}_index"]) for j in range(k)]
                    assert got == order, (got, order)
                    want = [math.sqrt(x) if metric == "l2" else x for x in dist]
                    for j in range(k):
                        assert abs(float(row[f"nn{j + 1}_distance"]) - want[j]) < 1e-6


def test_float32_features_give_the_same_predictions():
    os.makedirs(path("f32"), exist_ok=True)
    ftrain = path("f32", "train-images-idx3-ubyte")
    fixtures.write(ftrain, fixtures.idx_images_f32(TRAIN_ROWS, 5, 4))
    fixtures.write(path("f32", "train-labels-idx1-ubyte"), fixtures.idx_labels(TRAIN_LABELS))
    ftest = path("f32", "t10k-images-idx3-ubyte.gz")
    fixtures.write(ftest, fixtures.idx_images_f32(TEST_ROWS, 5, 4))
    fixtures.write(path("f32", "t10k-labels-idx1-ubyte.gz"), fixtures.idx_labels(TEST_LABELS))
    for metric in ("l1", "l2"):
        r = knn("predict", ftrain, ftest, "-k", "4", "--metric", metric, "--format", "csv")
        assert r.returncode == 0, r.stderr
        labels = [int(row["label"]) for row in csv.DictReader(io.StringIO(r.stdout))]
        assert labels == [p for p, _, _ in reference_predict(4, metric)], metric
    r = knn("info", ftrain)
    assert r.returncode == 0 and "20 float32 values" in r.stdout, r.stdout
    r = knn("eval", TRAIN, ftest)
    assert r.returncode == 1 and "float32" in r.stderr


def test_cosine_on_float32_features_matches_brute_force():
    """--metric cosine on float32 IDX features: the labels and neighbour order of a float64
    brute force (1 - cos; a zero vector at 1 from everything; order by (distance, index)),
    wherever the distances differ by more than 1e-6; distances within 1e-5. uint8 features
    are refused with a clear message; cv takes cosine when asked, and fit keeps it."""
    os.makedirs(path("cos"), exist_ok=True)
    train_rows = [list(r) for r in TRAIN_ROWS]
    train_rows[3] = [0] * 20  # a zero row
    ftrain = path("cos", "train-images-idx3-ubyte")
    fixtures.write(ftrain, fixtures.idx_images_f32(train_rows, 5, 4))
    fixtures.write(path("cos", "train-labels-idx1-ubyte"), fixtures.idx_labels(TRAIN_LABELS))
    ftest = path("cos", "t10k-images-idx3-ubyte")
    fixtures.write(ftest, fixtures.idx_images_f32(TEST_ROWS, 5, 4))
    fixtures.write(path("cos", "t10k-labels-idx1-ubyte"), fixtures.idx_labels(TEST_LABELS))

    def cos_dist(a, b):
        na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(x * x for x in b))
        if na == 0 or nb == 0:
            return 1.0
        return 1.0 - sum(x * y for x, y in zip(a, b)) / (na * nb)

    k = 5
    for isa in ("scalar", "avx2", "avxvnni", "avx512"):
        r = knn("predict", ftrain, ftest, "-k", k, "--metric", "cosine", "--format", "csv",
                "--neighbors", "--isa", isa)
        if r.returncode != 0 and "cannot run" in r.stderr:
            continue
        assert r.returncode == 0, r.stderr
        rows = list(csv.DictReader(io.StringIO(r.stdout)))
        assert len(rows) == len(TEST_ROWS)
        for row, q in zip(rows, TEST_ROWS):
            d = [cos_dist(q, t) for t in train_rows]
            order = sorted(range(len(d)), key=lambda i: (d[i], i))
            got = [int(row[f"nn{j + 1}_index"]) for j in range(k)]
            for j in range(k):
                assert abs(float(row[f"nn{j + 1}_distance"]) - d[order[j]]) < 1e-5
                if got[j] != order[j]:
                    assert abs(d[got[j]] - d[order[j]]) <= 1e-6, (isa, got, order)
            kth, after = d[order[k - 1]], d[order[k]]
            if after - kth > 1e-6:  # the vote is decided by the neighbours alone
                votes = {}
                for j, i in enumerate(order[:k]):
                    votes.setdefault(TRAIN_LABELS[i], [0, j])[0] += 1
                want = min(votes, key=lambda c: (-votes[c][0], votes[c][1]))
                assert int(row["label"]) == want, (isa, row, want)
    r = knn("eval", TRAIN, TEST, "--metric", "cosine")
    assert r.returncode != 0 and "cosine is for float32 features" in r.stderr, r.stderr
    r = knn("cv", ftrain, "--metric", "cosine,l2", "-k", "1,3", "--folds", "3")
    assert r.returncode == 0 and "cosine" in r.stdout, r.stderr
    r = knn("cv", ftrain, "-k", "1", "--folds", "3", "--json")
    assert r.returncode == 0 and "cosine" not in r.stdout, r.stdout  # default: l1,l2
    model = path("cos", "cos.knn")
    r = knn("fit", ftrain, "-k", "3", "--metric", "cosine", "-o", model)
    assert r.returncode == 0, r.stderr
    r = knn("predict", model, ftest, "--format", "csv")
    r2 = knn("predict", ftrain, ftest, "-k", "3", "--metric", "cosine", "--format", "csv")
    assert r.returncode == 0 and r.stdout == r2.stdout, r.stderr


def test_eval_reports_accuracy_in_the_course_words():
    ref = reference_predict(3, "l2")
    correct = sum(p == t for (p, _, _), t in zip(ref, TEST_LABELS))
    r = knn("eval", TRAIN, TEST, "-k", "3", "--confusion")
    assert r.returncode == 0, r.stderr
    want = f"Got {correct} / 40 correct; accuracy is {100 * correct / 40:.2f}%"
    assert want in r.stdout, (want, r.stdout)
    assert "Top-5" in r.stdout and "Per-class accuracy" in r.stdout
    assert "Confusion matrix" in r.stdout


def test_eval_json_has_the_documented_fields():
    r = knn("eval", TRAIN, TEST, "-k", "3", "--json", "--metric", "l1")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    for key in ("accuracy", "correct", "total", "top5_accuracy", "k", "metric", "per_class",
                "confusion"):
        assert key in j, key
    assert j["k"] == 3 and j["metric"] == "l1" and j["total"] == 40
    assert len(j["confusion"]) == 3 and sum(map(sum, j["confusion"])) == 40
    assert sum(c["correct"] for c in j["per_class"]) == j["correct"]
    assert j["top5_accuracy"] == 1.0  # 3 classes: all are in the top 5


def test_eval_limit_uses_the_first_images():
    r = knn("eval", TRAIN, TEST, "--limit", "10", "--train-limit", "50", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["total"] == 10


def test_predict_json_and_text_agree():
    r = knn("predict", TRAIN, TEST, "-k", "5", "--top", "2", "--format", "json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    labels = [p["label"] for p in j["predictions"]]
    assert labels == [p for p, _, _ in reference_predict(5, "l2")]
    for p in j["predictions"]:
        assert p["top"][0]["label"] == p["label"] and len(p["top"]) == 2
        assert p["top"][0]["score"] >= p["top"][1]["score"]
    t = knn("predict", TRAIN, TEST, "-k", "5")
    assert t.returncode == 0
    assert [int(line.split(": ")[1].split()[0]) for line in t.stdout.splitlines()] == labels


def test_predict_writes_the_output_file_whole():
    out = path("out", "pred.csv")
    os.makedirs(path("out"), exist_ok=True)
    r = knn("predict", TRAIN, TEST, "--format", "csv", "-o", out)
    assert r.returncode == 0 and r.stdout == "", r.stderr
    with open(out) as f:
        assert len(f.read().splitlines()) == 41
    assert os.listdir(path("out")) == ["pred.csv"]
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(out).st_mode & 0o777 == 0o666 & ~umask, oct(os.stat(out).st_mode)
    # a failing run leaves the old file as it was, and no temporary file
    r = knn("predict", TRAIN, TEST, "-k", "1000", "-o", out)
    assert r.returncode == 2
    with open(out) as f:
        assert len(f.read().splitlines()) == 41
    assert os.listdir(path("out")) == ["pred.csv"]


def test_a_full_disk_is_a_clear_error():
    with open("/dev/full", "w") as full:
        r = subprocess.run([KNN, "predict", TRAIN, TEST, "--format", "csv"], stdout=full,
                           stderr=subprocess.PIPE, text=True, timeout=60)
    assert r.returncode == 1, r.returncode
    assert r.stderr.strip().endswith("No space left on device"), r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_predict_accepts_unlabelled_queries():
    q = fixtures.write_idx_pair(path("nolabels"), "query", TEST_ROWS[:3], None, 5, 4)
    r = knn("predict", TRAIN, q, "--format", "csv")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].startswith("index,label,name,top1_label,top1_name")
    r = knn("eval", TRAIN, q)
    assert r.returncode == 1 and "no labels file" in r.stderr


def test_info_shows_counts_and_pictures():
    r = knn("info", TRAIN)
    assert r.returncode == 0, r.stderr
    assert "images:  120" in r.stdout and "5 x 4 x 1" in r.stdout
    for c in range(3):
        assert f"{TRAIN_LABELS.count(c)}" in r.stdout
    assert "The first 3 images" in r.stdout


def test_cifar_folder_with_names():
    folder = path("cifar-10-batches-bin")
    os.makedirs(folder, exist_ok=True)
    fixtures.write(os.path.join(folder, "data_batch_1.bin"),
                   fixtures.cifar10_batch([0, 1, 2, 3, 4], RNG))
    fixtures.write(os.path.join(folder, "data_batch_2.bin"),
                   fixtures.cifar10_batch([5, 6, 7, 8, 9], RNG))
    fixtures.write(os.path.join(folder, "test_batch.bin"), fixtures.cifar10_batch([9, 1], RNG))
    names = "airplane automobile bird cat deer dog frog horse ship truck".split()
    fixtures.write(os.path.join(folder, "batches.meta.txt"), ("\n".join(names) + "\n").encode())
    r = knn("info", "cifar10:train", env={"KNN_DATA": TMP})
    assert r.returncode == 0, r.stderr
    assert "images:  10" in r.stdout and "32 x 32 x 3" in r.stdout and "truck" in r.stdout
    r = knn("eval", "cifar10:train", f"{folder}:test", "--json", env={"KNN_DATA": TMP})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["classes"][9] == "truck"


def plot_k_positions(plot):
    """The x of each K's tick mark in a cv figure (the short marks under the plot), by K."""
    import xml.etree.ElementTree as ET
    ns = "{http://www.w3.org/2000/svg}"
    root = ET.parse(plot).getroot()
    marks = sorted(float(l.get("x1")) for l in root.iter(ns + "line")
                   if l.get("x1") == l.get("x2") and l.get("stroke") == "#333")
    return marks, "".join(t.text or "" for t in root.iter(ns + "text"))


def test_cv_plot_has_a_numeric_k_axis_and_png():
    # linear: K = 1, 3, 7 sit at distances 2 : 4
    plot = path("lin.svg")
    assert knn("cv", TRAIN, "-k", "1,3,7", "-q", "--plot", plot).returncode == 0
    (a, b, c), text = plot_k_positions(plot)
    assert abs((c - b) / (b - a) - 2) < 0.01, (a, b, c)
    assert "log scale" not in text
    # log when the Ks span more than 20: 1, 5, 25 evenly spaced
    plot = path("log.svg")
    assert knn("cv", TRAIN, "-k", "1,5,25", "-q", "--plot", plot).returncode == 0
    (a, b, c), text = plot_k_positions(plot)
    assert abs((c - b) / (b - a) - 1) < 0.01 and "log scale" in text, (a, b, c, text)
    # a hold-out split is labelled validation, with no spread
    r = knn("cv", TRAIN, "-k", "1,3", "--val-fraction", "0.25", "--plot", path("hold.svg"))
    assert r.returncode == 0 and "validation" in r.stdout and "fold 1" not in r.stdout, r.stdout
    _, text = plot_k_positions(path("hold.svg"))
    assert "1 std" not in text and "validation" in text, text
    # PNG through librsvg, where built in
    r = knn("cv", TRAIN, "-k", "1,3", "-q", "--plot", path("cv.png"))
    if "without PNG output" in r.stderr:
        return
    assert r.returncode == 0, r.stderr
    head = open(path("cv.png"), "rb").read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", head
    assert int.from_bytes(head[16:20], "big") == 1520 and int.from_bytes(head[20:24], "big") == 960


def test_cv_chooses_the_best_mean_and_tests_once():
    plot = path("cv.svg")
    r = knn("cv", TRAIN, "--folds", "4", "--contiguous", "-k", "7,1,3", "--metric", "l2,l1",
            "--json", "--test", TEST, "--plot", plot)
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["folds"] == 4 and j["fold_sizes"] == [30, 30, 30, 30]
    res = j["results"]
    assert len(res) == 6 and all(len(x["fold_accuracy"]) == 4 for x in res)
    for x in res:
        assert abs(sum(x["fold_accuracy"]) / 4 - x["mean"]) < 1e-6
    # best: highest mean, then smaller K, then the metric listed first (l2)
    order = {"l2": 0, "l1": 1}
    best = sorted(res, key=lambda x: (-round(x["mean"], 6), x["k"], order[x["metric"]]))[0]
    assert (j["best"]["k"], j["best"]["metric"]) == (best["k"], best["metric"]), j["best"]
    # the one look at the test set equals knn eval with the chosen setting
    e = json.loads(knn("eval", TRAIN, TEST, "-k", best["k"], "--metric", best["metric"],
                       "--json").stdout)
    assert j["test"]["correct"] == e["correct"]
    import xml.etree.ElementTree as ET
    svg = ET.parse(plot).getroot()
    circles = svg.findall(".//{http://www.w3.org/2000/svg}circle")
    assert len(circles) >= 2 * 3 * 4, len(circles)  # a dot per fold, K and metric
    # the same folds from the library's one search as from 4 separate evals of the folds
    for m in ("l1",):
        x = next(x for x in res if x["metric"] == m and x["k"] == 3)
        for f in range(4):
            rows = list(range(30 * f, 30 * f + 30))
            tr_rows = [i for i in range(120) if i not in rows]
            d = path(f"fold{f}")
            tr = fixtures.write_idx_pair(d, "train", [TRAIN_ROWS[i] for i in tr_rows],
                                         [TRAIN_LABELS[i] for i in tr_rows], 5, 4)
            va = fixtures.write_idx_pair(d, "t10k", [TRAIN_ROWS[i] for i in rows],
                                         [TRAIN_LABELS[i] for i in rows], 5, 4)
            ev = json.loads(knn("eval", tr, va, "-k", "3", "--metric", m, "--json").stdout)
            assert abs(ev["accuracy"] - x["fold_accuracy"][f]) < 1e-6, (f, ev, x)


def test_cv_text_holdout_and_auto_k():
    r = knn("cv", TRAIN, "-k", "1,5", "--metric", "l1")
    assert r.returncode == 0, r.stderr
    assert "5-fold cross-validation" in r.stdout and "Best: K = " in r.stdout
    r = knn("cv", TRAIN, "-k", "1,5", "--val-fraction", "0.25", "--shuffle", "--seed", "3",
            "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["holdout"] and j["fold_sizes"] == [30]
    # -k auto: the default K list, less the Ks above the 96 rows of 4 training folds
    cv = json.loads(knn("cv", TRAIN, "--json", "-k", "1,3,5,8,10,12,15,20,50").stdout)
    e = knn("eval", TRAIN, TEST, "-k", "auto", "--json")
    assert e.returncode == 0, e.stderr
    ej = json.loads(e.stdout)
    assert (ej["k"], ej["metric"]) == (cv["best"]["k"], cv["best"]["metric"])
    assert "-k auto: K = " in e.stderr


def test_cv_rejects_bad_options():
    expect_error(2, "--folds '1'", "cv", TRAIN, "--folds", "1")
    expect_error(2, "200 folds for 120 rows", "cv", TRAIN, "--folds", "200")
    expect_error(2, "K = 100 is more than the 60 training rows", "cv", TRAIN, "--folds", "2",
                 "-k", "1,100")
    expect_error(2, "the list of K values is empty", "cv", TRAIN, "-k", "")
    expect_error(2, "K = 3 is listed twice", "cv", TRAIN, "-k", "3,5,3")
    expect_error(2, "give a name ending in .svg or .png", "cv", TRAIN, "--plot", "cv.gif")
    expect_error(2, "--val-fraction '1.5'", "cv", TRAIN, "--val-fraction", "1.5")
    expect_error(2, "--metric 'l3'", "cv", TRAIN, "--metric", "l3")


def test_photos_fit_a_model_and_predict_in_one_command():
    pets = path("pets")
    colours = {"cat": [(230, 20, 20), (200, 40, 30), (250, 10, 60)],
               "dog": [(20, 30, 220), (40, 20, 200), (10, 60, 250)]}
    for name, cs in colours.items():
        os.makedirs(os.path.join(pets, name), exist_ok=True)
        for i, c in enumerate(cs):
            fixtures.write(os.path.join(pets, name, f"{i}.png"), fixtures.png(10 + i, 7, c))
    fixtures.write(os.path.join(pets, "dog", "broken.png"), b"\x89PNG\r\n\x1a\n garbage")
    r = knn("info", pets)
    assert r.returncode == 0, r.stderr
    assert "images:  6" in r.stdout and "cat" in r.stdout and "dog" in r.stdout
    assert "warning: skipped" in r.stderr and "broken.png" in r.stderr
    expect_error(1, "broken.png", "info", pets, "--strict")
    model = path("pets.knn")
    r = knn("fit", pets, "-o", model, "--size", "8", "-k", "3", "--metric", "l1")
    assert r.returncode == 0, r.stderr
    assert "K = 3, l1" in r.stdout and os.path.getsize(model) > 256
    red, blue = path("red.png"), path("blue.png")
    fixtures.write(red, fixtures.png(31, 17, (240, 15, 25)))
    fixtures.write(blue, fixtures.png(9, 40, (15, 25, 240)))
    r = knn("predict", model, red, blue)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert f"{red}: cat" in out and f"{blue}: dog" in out, out
    assert "top 2:" in out  # top 5 asked, 2 classes exist
    assert os.path.join(pets, "cat") in out  # the neighbours' files
    r = subprocess.run([KNN, "predict", model, "-", "--format", "json"], input=f"{blue}\n{red}\n",
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert [p["name"] for p in j["predictions"]] == ["dog", "cat"]
    assert j["k"] == 3 and j["metric"] == "l1"  # the model's settings
    assert j["predictions"][0]["path"] == blue
    r = knn("eval", model, pets, "--size", "8", "-k", "1", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["accuracy"] == 1.0  # every image is its own neighbour
    expect_error(1, "no-such.png", "predict", model, red, path("no-such.png"))


def test_report_writes_one_self_contained_page():
    page = path("report.html")
    r = knn("report", TRAIN, TEST, "-k", "auto", "-o", page, "--samples", "5")
    assert r.returncode == 0, r.stderr
    text = open(page).read()
    for part in ("Got ", "The training data", "<svg", "Confusion matrix",
                 "Test images and their nearest neighbours", "The most confident mistakes"):
        assert part in text, part
    assert text.count("data:image/png;base64,") > 3 * 10
    assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")  # nothing fetched
    from html.parser import HTMLParser
    HTMLParser().feed(text)
    expect_error(2, "say where to write the page", "report", TRAIN, TEST)


def test_help_answers_for_every_command():
    for cmd in ("info", "eval", "predict", "cv", "fit", "fetch", "report"):
        r = knn(cmd, "--help")
        assert r.returncode == 0 and r.stdout.startswith(f"usage: knn {cmd}"), cmd
        assert knn("help", cmd).stdout == r.stdout
    r = knn("--help")
    assert r.returncode == 0 and "commands:" in r.stdout
    assert knn().returncode == 2
    assert knn("--version").stdout.startswith("knn ")


def bad_file(name, data):
    p = path("bad", name)
    os.makedirs(path("bad"), exist_ok=True)
    fixtures.write(p, data)
    return p


def expect_error(code, words, *args):
    fixtures.assert_one_line_error(knn(*args), code, words, args)


def test_bad_input_gives_one_clear_line():
    good = fixtures.idx_images(TRAIN_ROWS[:4], 5, 4)
    labels = fixtures.idx_labels([0, 1, 2, 0])
    missing = path("bad", "nothing-images-idx3-ubyte")
    expect_error(1, "nothing-images-idx3-ubyte: No such file", "info", missing)
    expect_error(1, "the file is empty", "info", bad_file("empty-images-idx3-ubyte", b""))
    t = bad_file("trunc-images-idx3-ubyte", good[:-7])
    bad_file("trunc-labels-idx1-ubyte", labels)
    expect_error(1, "trunc-images-idx3-ubyte: truncated", "eval", t, TEST)
    expect_error(1, "not an IDX file", "eval", bad_file("junk.bin", b"\x7fELF" + bytes(60)), TEST)
    c = bad_file("count-images-idx3-ubyte", good)
    bad_file("count-labels-idx1-ubyte", fixtures.idx_labels([0, 1, 2]))
    expect_error(1, "3 labels for 4 images", "eval", c, TEST)
    os.makedirs(path("bad", "mnist"), exist_ok=True)
    m = bad_file(os.path.join("mnist", "train-images-idx3-ubyte"), good)
    bad_file(os.path.join("mnist", "train-labels-idx1-ubyte"), fixtures.idx_labels([0, 1, 12, 0]))
    expect_error(1, "label 12 of image 2 is outside the 10 classes", "eval", m, TEST)
    huge = bad_file("huge-images-idx3-ubyte",
                    bytes([0, 0, 8, 3]) + (2**31).to_bytes(4, "big") * 3)
    expect_error(1, "huge-images-idx3-ubyte", "info", huge)
    z = bad_file("corrupt-images-idx3-ubyte.gz", b"\x1f\x8b\x08\x00" + bytes(6) + b"garbage" * 9)
    expect_error(1, "corrupt-images-idx3-ubyte.gz", "info", z)
    gz = gzip.compress(fixtures.idx_images(TRAIN_ROWS, 5, 4))
    cut = bad_file("cut-images-idx3-ubyte.gz", gz[: len(gz) // 2])
    bad_file("cut-labels-idx1-ubyte.gz", gzip.compress(fixtures.idx_labels(TRAIN_LABELS)))
    expect_error(1, "cut-images-idx3-ubyte.gz", "eval", cut, TEST)
    other = fixtures.write_idx_pair(path("other"), "train", fixtures.random_rows(RNG, 5, 9), [0] * 5, 3, 3)
    expect_error(1, "values but", "eval", TRAIN, other)
    expect_error(2, "-k '0'", "eval", TRAIN, TEST, "-k", "0")
    expect_error(2, "K = 121 is more than the 120 training images", "eval", TRAIN, TEST,
                 "-k", "121")
    expect_error(2, "unknown metric 'l3'", "eval", TRAIN, TEST, "--metric", "l3")
    expect_error(2, "unknown tie rule", "eval", TRAIN, TEST, "--ties", "coin")
    expect_error(2, "unknown option '--bogus'", "eval", TRAIN, TEST, "--bogus")
    expect_error(2, "--metric needs a value", "eval", TRAIN, TEST, "--metric")
    expect_error(2, "give TRAIN and TEST", "eval", TRAIN)
    expect_error(2, "not a known data set", "eval", "nosuchset:train", TEST)
    expect_error(2, "unknown split", "info", "mnist:validation")
    expect_error(2, "unknown format", "predict", TRAIN, TEST, "--format", "xml")
    expect_error(2, "is a folder", "info", path("small"))
    expect_error(1, "no labels file beside it", "eval",
                 fixtures.write_idx_pair(path("bad", "nl"), "train", TRAIN_ROWS[:3], None, 5, 4),
                 TEST)
    expect_error(1, "cannot write", "predict", TRAIN, TEST, "-o", path("no", "such", "dir.csv"))


def index_model(name, *args):
    """TRAIN fitted with a graph index (and `args`) into path(name)."""
    out = path(name)
    r = knn("fit", TRAIN, "--index", "hnsw", "-o", out, "-q", *args)
    assert r.returncode == 0, r.stderr
    return out


def test_index_with_ef_as_large_as_the_set_is_the_exact_search():
    # ef = every row: the walk meets them all, and (distance, index) orders them as the
    # exact search does, ties included (these small values give many)
    for metric in ("l1", "l2"):
        model = index_model(f"index-{metric}.knn", "--metric", metric, "--M", "4",
                            "--ef-construction", "16")
        for k in (1, 4, 7):
            r = knn("predict", model, TEST, "-k", k, "--ef", 120, "--format", "csv",
                    "--neighbors")
            assert r.returncode == 0, r.stderr
            rows = list(csv.DictReader(io.StringIO(r.stdout)))
            for row, (label, order, _) in zip(rows, reference_predict(k, metric)):
                assert [int(row[f"nn{j + 1}_index"]) for j in range(k)] == order, (metric, k)
                assert int(row["label"]) == label


def test_eval_recall_and_info_describe_the_index():
    model = index_model("index.knn", "-k", "4")
    r = knn("eval", model, TEST, "--recall", "--ef", 120)
    assert r.returncode == 0, r.stderr
    assert "HNSW index, ef = 120" in r.stdout
    assert "Recall@4 against the exact search: 1.0000" in r.stdout, r.stdout
    r = knn("eval", model, TEST, "--recall", "--json")
    j = json.loads(r.stdout)
    assert j["search"] == "HNSW index, ef = 48" and 0 < j["recall"] <= 1, j
    r = knn("eval", model, TEST, "--exact", "--json")
    assert json.loads(r.stdout)["search"] == "exact search (--exact)"
    r = knn("eval", model, TEST, "--metric", "l1", "--json")
    assert json.loads(r.stdout)["search"] == "exact search (the index is for l2)"
    r = knn("info", model)
    assert r.returncode == 0, r.stderr
    assert "index:   HNSW for l2, M = 16, ef-construction 200" in r.stdout, r.stdout
    # fewer rows than M
    small = path("index-small.knn")
    r = knn("fit", TRAIN, "--train-limit", 5, "--index", "hnsw", "--M", 16, "-o", small)
    assert r.returncode == 0 and "HNSW index: M = 16" in r.stdout, r.stdout + r.stderr
    r = knn("predict", small, TEST, "-k", 5, "--limit", 2, "--neighbors", "--format", "json")
    assert r.returncode == 0, r.stderr


def test_index_files_are_the_same_for_any_threads_and_isa():
    files = []
    for threads, isa in ((1, "scalar"), (2, "best"), (2, "avx2"), (1, "avxvnni"), (1, "avx512")):
        out = path(f"index-{threads}-{isa}.knn")
        r = knn("fit", TRAIN, "--index", "hnsw", "--M", 3, "--threads", threads, "--isa", isa,
                "-o", out, "-q")
        if r.returncode and "cannot run" in r.stderr:
            continue  # this processor lacks the instruction set
        assert r.returncode == 0, r.stderr
        files.append(open(out, "rb").read())
    assert len(files) >= 2 and all(f == files[0] for f in files)


def test_a_corrupt_index_is_refused_in_one_line():
    import struct
    import zlib
    data = bytearray(open(index_model("index-c.knn", "--M", "4"), "rb").read())
    at = struct.unpack_from("<Q", data, 248)[0]  # the header's index offset
    struct.pack_into("<I", data, at + 64 + 4, 5000)  # row 0's first neighbour: no such row
    struct.pack_into("<Q", data, 24, 0)
    struct.pack_into("<Q", data, 24, zlib.crc32(bytes(data)))
    bad = path("index-bad.knn")
    fixtures.write(bad, bytes(data))
    expect_error(1, "index-bad.knn: corrupt index section (a neighbour list)", "eval", bad,
                 TEST)
    expect_error(2, "--index 'annoy': the index there is is hnsw", "fit", TRAIN, "--index",
                 "annoy", "-o", path("x.knn"))
    expect_error(2, "--M '1': give a whole number from 2 to 128", "fit", TRAIN, "--index",
                 "hnsw", "--M", 1, "-o", path("x.knn"))
    expect_error(2, "add --index hnsw", "fit", TRAIN, "--M", 8, "-o", path("x.knn"))
    expect_error(2, "--ef '0'", "eval", TRAIN, TEST, "--ef", 0)
    assert not os.path.exists(path("x.knn"))


def main():
    return fixtures.run_tests("cli", globals(), KNN, TMP)


if __name__ == "__main__":
    sys.exit(main())
