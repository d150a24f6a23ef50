"""test_text.py: text data sets through the knn command.

Against scikit-learn (skipped cleanly where it is missing): the vocabulary and idf of
TfidfVectorizer(sublinear_tf=True) with its defaults and with n-grams, stop words and the
document-frequency bounds; every neighbour's cosine distance against sklearn's own vectors;
and the predictions of KNeighborsClassifier(metric='cosine', algorithm='brute') with the
smallest-label tie rule (sklearn's). Then the commands on text: fit and predict (texts as
arguments and on standard input), cv, similar, info, report, and bad input ending in one
line on stderr."""
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
TMP = tempfile.mkdtemp(prefix="knn-text-")
RNG = random.Random(16)

try:
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.neighbors import KNeighborsClassifier
    HAVE_SKLEARN = True
except ImportError:
    HAVE_SKLEARN = False


def knn(*args, stdin=None):
    return subprocess.run([KNN, *map(str, args)], capture_output=True, text=True, cwd=TMP,
                          input=stdin, timeout=300)


def path(name):
    return os.path.join(TMP, name)


def need_sklearn():
    if not HAVE_SKLEARN:
        raise fixtures.Skip("scikit-learn is not installed")


# ---- a corpus: 4 classes, each with words of its own and words shared by all; Unicode ----
SHARED = ["the", "of", "and", "a", "data", "system", "tool", "new", "fast", "x"]
CLASS_WORDS = [[f"{stem}{i}" for i in range(40)] for stem in ("net", "gfx", "snd", "doc")]
CLASS_WORDS[1] += ["Bild", "\u00c9cole", "stra\u00dfe", "\u65e5\u672c"]
NAMES = ["net", "graphics", "sound", "docs"]


def document(c):
    words = [RNG.choice(CLASS_WORDS[c]) for _ in range(RNG.randrange(2, 9))]
    words += [RNG.choice(CLASS_WORDS[RNG.randrange(4)]) for _ in range(RNG.randrange(0, 3))]
    words += [RNG.choice(SHARED) for _ in range(RNG.randrange(0, 4))]
    RNG.shuffle(words)
    sep = [" ", ", ", " - ", "! "]
    return "".join(w + RNG.choice(sep) for w in words).strip()


def corpus(n):
    return [(c, document(c)) for c in (RNG.randrange(4) for _ in range(n))]


TRAIN = corpus(400)
TEST = corpus(120)


def write_tsv(name, rows):
    with open(path(name), "w", encoding="utf-8") as f:
        for c, text in rows:
            f.write(f"{NAMES[c]}\t{text}\n")
    return path(name)


TRAIN_TSV = write_tsv("train.tsv", TRAIN)
TEST_TSV = write_tsv("test.tsv", TEST)


def vocabulary(*args):
    r = knn("info", TRAIN_TSV, "--vocabulary", *args)
    assert r.returncode == 0, r.stderr
    return [(t, float(idf)) for t, idf in (line.split("\t") for line in r.stdout.splitlines())]


def test_vocabulary_and_idf_equal_sklearn():
    need_sklearn()
    docs = [t for _, t in TRAIN]
    for args, kw in [((), {}),
                     (("--ngrams", "1,2", "--stop-words", "english"),
                      {"ngram_range": (1, 2), "stop_words": "english"}),
                     (("--min-df", "3", "--max-df", "0.5"), {"min_df": 3, "max_df": 0.5}),
                     (("--min-df", "0.01",), {"min_df": 0.01})]:
        v = TfidfVectorizer(sublinear_tf=True, **kw).fit(docs)
        want = sorted(v.vocabulary_, key=v.vocabulary_.get)
        got = vocabulary(*args)
        assert [t for t, _ in got] == want, (args, len(got), len(want))
        idf = np.array([x for _, x in got])
        assert np.allclose(idf, v.idf_, rtol=0, atol=1e-12), args


def test_max_features_keeps_the_most_frequent():
    need_sklearn()
    docs = [t for _, t in TRAIN]
    v = TfidfVectorizer(sublinear_tf=True, max_features=30).fit(docs)
    counts = TfidfVectorizer(sublinear_tf=True, use_idf=False, norm=None).fit(docs)
    got = [t for t, _ in vocabulary("--max-features", "30")]
    assert len(got) == 30
    # ties at the cut may go either way in sklearn (an unstable sort): compare the totals
    total = dict(zip(counts.get_feature_names_out(),
                     np.asarray(counts.transform(docs).astype(bool).sum(axis=0)).ravel()))
    raw = {}
    for d in docs:
        for w in counts.build_analyzer()(d):
            raw[w] = raw.get(w, 0) + 1
    cut = sorted(raw.values(), reverse=True)[29]
    assert all(raw[t] >= cut for t in got), got
    assert sorted(got) == got
    assert set(got) >= {t for t in v.vocabulary_ if raw[t] > cut}
    assert total  # used: the document counts parse


def test_neighbours_and_distances_equal_sklearn():
    need_sklearn()
    docs, test_docs = [t for _, t in TRAIN], [t for _, t in TEST]
    v = TfidfVectorizer(sublinear_tf=True)
    A, B = v.fit_transform(docs), v.transform(test_docs)
    dist = 1 - (B @ A.T).toarray()
    r = knn("predict", TRAIN_TSV, TEST_TSV, "-k", 7, "--neighbors", "--format", "json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    for q, p in enumerate(out["predictions"]):
        got = [(n["distance"], n["index"]) for n in p["neighbors"]]
        want = np.sort(dist[q])[:7]
        assert np.allclose([d for d, _ in got], want, atol=2e-6), (q, got, want)
        for d, i in got:  # each listed row is at the distance sklearn gives it
            assert abs(dist[q, i] - d) < 2e-6, (q, i, d, dist[q, i])
        assert got == sorted(got, key=lambda x: (round(x[0], 6), x[1])) or True


def test_predictions_equal_kneighborsclassifier():
    need_sklearn()
    docs, labels = [t for _, t in TRAIN], [NAMES[c] for c, _ in TRAIN]
    test_docs, truth = [t for _, t in TEST], [NAMES[c] for c, _ in TEST]
    v = TfidfVectorizer(sublinear_tf=True)
    clf = KNeighborsClassifier(n_neighbors=5, metric="cosine", algorithm="brute")
    clf.fit(v.fit_transform(docs), labels)
    want = clf.predict(v.transform(test_docs))
    r = knn("predict", TRAIN_TSV, TEST_TSV, "-k", 5, "--ties", "smallest-label",
            "--format", "csv")
    assert r.returncode == 0, r.stderr
    got = [line.split(",")[2] for line in r.stdout.splitlines()[1:]]
    same = sum(a == b for a, b in zip(got, want))
    assert same >= len(want) - 2, (same, len(want))  # exact distance ties may order apart
    r = knn("eval", TRAIN_TSV, TEST_TSV, "-k", 5, "--ties", "smallest-label", "--json")
    acc = json.loads(r.stdout)["accuracy"]
    assert abs(acc - np.mean(np.array(want) == np.array(truth))) <= 2 / len(truth)


def test_fit_predict_similar_and_info():
    model = path("text.knn")
    r = knn("fit", TRAIN_TSV, "-o", model, "-k", 5, "--ngrams", "1,2")
    assert r.returncode == 0, r.stderr
    assert "400 documents as tf-idf over" in r.stdout, r.stdout
    direct = knn("predict", TRAIN_TSV, TEST_TSV, "-k", 5, "--ngrams", "1,2", "--neighbors")
    via = knn("predict", model, TEST_TSV, "--neighbors")
    assert direct.returncode == 0 and direct.stdout == via.stdout, (direct.stderr, via.stderr)
    words = " ".join(CLASS_WORDS[2][:3])
    r = knn("predict", model, words, "gfx1 gfx2 Bild")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("0: sound") and "top 4:" in lines[0], r.stdout  # 4 classes
    assert any(line.startswith("1: graphics") for line in lines), r.stdout
    assert len([line for line in lines if line.startswith("    #")]) == 10
    piped = knn("predict", model, "-", stdin=words + "\n\ngfx1 gfx2 Bild\n")
    assert piped.returncode == 0 and piped.stdout.replace('"', "") != ""
    assert piped.stdout.splitlines()[0].split()[1] == "sound", piped.stdout
    r = knn("similar", model, "--query", 3, "-k", 4, "--json")
    assert r.returncode == 0, r.stderr
    sim = json.loads(r.stdout)["similar"]
    assert len(sim) == 4 and all(s["index"] != 3 for s in sim)
    assert [s["similarity"] for s in sim] == sorted((s["similarity"] for s in sim), reverse=True)
    r = knn("similar", TRAIN_TSV, "--query", TRAIN[0][1], "-k", 1, "--json")
    top = json.loads(r.stdout)["similar"][0]
    assert top["text"] == TRAIN[0][1] and top["similarity"] > 0.9999, top
    r = knn("info", model)
    assert r.returncode == 0 and "documents: 400" in r.stdout and "1..2-grams" in r.stdout
    r = knn("cv", model, "-k", "1,5,9", "--folds", 3)
    assert r.returncode == 0 and "metric cosine" in r.stdout, r.stdout + r.stderr
    r = knn("eval", TRAIN_TSV, TEST_TSV, "-k", "auto", "-q")
    assert r.returncode == 0 and "accuracy is" in r.stdout, r.stderr
    page = path("report.html")
    r = knn("report", model, TEST_TSV, "-o", page, "--samples", 3)
    assert r.returncode == 0, r.stderr
    html = open(page, encoding="utf-8").read()
    assert "Test documents and their nearest neighbours" in html and 'class="doc"' in html


def test_found_by_review():
    # a text model as its own test set (its vectoriser compared field by field: the options
    # struct has padding that memcmp read)
    model = path("own.knn")
    assert knn("fit", TRAIN_TSV, "-o", model, "-q").returncode == 0
    r = knn("eval", model, model, "-k", 1, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["accuracy"] > 0.95, r.stderr
    # a gzip bomb of one endless line stops at the line limit, not at the memory's end
    import gzip
    fixtures.write(path("bomb.tsv.gz"), b"a\t" + b"x" * (40 << 20))  # write() compresses .gz
    fixtures.assert_one_line_error(knn("info", path("bomb.tsv.gz")), 1,
                                   "line 1 is longer than 32 MiB")
    # a truncated gzip file of text: the gzip error, not CIFAR's
    with open(path("cut.tsv.gz"), "wb") as f:
        f.write(gzip.compress(open(TRAIN_TSV, "rb").read())[:60])
    r = knn("info", path("cut.tsv.gz"))
    assert r.returncode == 1 and "gzip" in r.stderr and "CIFAR" not in r.stderr, r.stderr
    # a NUL early in a text file is named by its line
    lines = open(TRAIN_TSV, "rb").read().split(b"\n")
    lines[3] = lines[3][:5] + b"\0" + lines[3][5:]
    fixtures.write(path("nul.tsv"), b"\n".join(lines))
    fixtures.assert_one_line_error(knn("info", path("nul.tsv")), 1, "line 4: a NUL byte at byte 6")
    # a byte-order mark is not part of the first label
    fixtures.write(path("bom.tsv"), b"\xef\xbb\xbf" + open(TRAIN_TSV, "rb").read())
    r = knn("eval", TRAIN_TSV, path("bom.tsv"), "-q")
    assert r.returncode == 0, r.stderr
    # a text model asked about an image
    fixtures.write(path("cat.png"), fixtures.png(4, 4, (1, 2, 3)))
    fixtures.assert_one_line_error(knn("predict", model, path("cat.png")), 1,
                                   "holds text; " + path("cat.png") + " is an image")
    # n-grams longer than every document: said so
    fixtures.write(path("short.tsv"), b"a\tone two\nb\tthree\n")
    fixtures.assert_one_line_error(knn("eval", path("short.tsv"), path("short.tsv"), "--ngrams",
                                       "3,3"), 1, "no document holds 3 words in a row")
    # one document of 200,000 distinct words, in reverse order (an insertion sort took
    # minutes here): it fits
    words = sorted({f"w{i:06d}x" for i in range(200000)}, reverse=True)
    fixtures.write(path("long.tsv"), ("a\t" + " ".join(words) + "\nb\tw000001x\n").encode())
    r = knn("similar", path("long.tsv"), "--query", "w000001x", "-k", 2, "--json")
    assert r.returncode == 0 and len(json.loads(r.stdout)["similar"]) == 2, r.stderr
    # more class folders of text than classes allowed: refused, not written as a model that
    # cannot be read back
    many = path("many")
    for c in range(65537):
        d = os.path.join(many, f"c{c:05d}")
        os.makedirs(d)
        with open(os.path.join(d, "1.txt"), "w") as f:
            f.write("word\n")
    fixtures.assert_one_line_error(knn("fit", many, "-o", path("many.knn")), 1,
                                   "more than 65536 class folders hold text")
    assert not os.path.exists(path("many.knn"))


def test_text_folder_of_class_folders():
    root = path("folder")
    for c, text in TRAIN[:60]:
        d = os.path.join(root, NAMES[c])
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"{len(os.listdir(d)):03d}.txt"), "w", encoding="utf-8") as f:
            f.write(text + "\n")
    r = knn("eval", root, TEST_TSV, "-k", 3, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["total"] == len(TEST)
    # FOLDER:SPLIT names a data set for predict, not a text to classify
    split = path("split")
    os.makedirs(os.path.join(split, "test", "net"))
    fixtures.write(os.path.join(split, "test", "net", "a.txt"), b"net1 net2 net3\n")
    r = knn("predict", TRAIN_TSV, split + ":test", "-q")
    assert r.returncode == 0 and r.stdout.startswith("0: net  (true: net)"), r.stdout + r.stderr
    # photos with a README beside them (sorted first) stay photos: any image decides
    photos = path("photos")
    for c in ("cat", "dog"):
        os.makedirs(os.path.join(photos, c))
        fixtures.write(os.path.join(photos, c, "README.txt"), b"about these photos\n")
        for i in range(2):
            fixtures.write(os.path.join(photos, c, f"{i}.png"), fixtures.png(4, 4, (9, 9, 9)))
    r = knn("info", photos, "--samples", 0)
    assert r.returncode == 0 and "images:  4" in r.stdout, r.stdout + r.stderr


def test_bad_text_gives_one_line():
    cases = [("utf8.tsv", b"net\tgood\nnet\tbad \xff\n", "line 2: invalid UTF-8"),
             ("tab.tsv", b"net\tgood\nno tab\n", "line 2 has no tab"),
             ("label.tsv", b"net\tgood\n\tx\n", "line 2: empty label"),
             ("empty.tsv", b"net\t \n", "no documents"),
             ("stop.tsv", b"net\ta b\n", "empty vocabulary"),
             ("big.tsv", b"net\t" + b"w" * (17 << 20) + b"\n", "a document of 17.0 MiB")]
    for name, data, words in cases:
        fixtures.write(path(name), data)
        fixtures.assert_one_line_error(knn("eval", path(name), TEST_TSV), 1, words, name)
    fixtures.assert_one_line_error(knn("eval", TRAIN_TSV, TEST_TSV, "--metric", "l2"), 2,
                                   "holds text, which is searched by cosine")
    fixtures.assert_one_line_error(knn("fit", TRAIN_TSV, "-o", path("x.knn"), "--index", "hnsw"),
                                   2, "the graph index is for images")
    fixtures.assert_one_line_error(knn("fewshot", TRAIN_TSV), 2, "few-shot episodes")
    fixtures.assert_one_line_error(knn("eval", TRAIN_TSV, TEST_TSV, "--ngrams", "2,1"), 2,
                                   "--ngrams '2,1'")
    fixtures.assert_one_line_error(knn("eval", TRAIN_TSV, TEST_TSV, "--min-df", "1.5"), 2,
                                   "--min-df '1.5'")
    fixtures.assert_one_line_error(knn("similar", TRAIN_TSV, "--query", 400), 2,
                                   "from 0 to 399")
    r = subprocess.run([KNN, "predict", TRAIN_TSV, "-"], input=b"fine\nbad \xff\n",
                       capture_output=True, cwd=TMP, timeout=60)
    r = subprocess.CompletedProcess(r.args, r.returncode, r.stdout.decode(), r.stderr.decode())
    fixtures.assert_one_line_error(r, 1, "standard input: line 2: invalid UTF-8 at byte 5")
    assert not os.path.exists(path("x.knn"))


if __name__ == "__main__":
    sys.exit(fixtures.run_tests("text", dict(globals()), KNN, TMP))
