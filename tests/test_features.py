"""test_features.py: ConvNet features (--features, knn embed, model files holding a network).

Small networks with random weights are exported to ONNX by PyTorch here; knn runs them with
OpenCV's dnn module, and its features are checked against PyTorch's own output on the same
images and preprocessing: at most 1e-5 apart (absolute, on outputs of order 1; float32 sums
in a different order), and identical bit for bit whatever the batch size. Then the commands:
eval on features equals eval on embedded files and a numpy k-NN on torch's features, a
model keeps its network (predict after the .onnx file is gone), report draws the images the
features came from, and bad networks end in one line. Skips where PyTorch, numpy or the
ONNX runtime are missing (the last is itself checked with a knn built without it)."""
import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixtures  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KNN = os.path.abspath(os.environ.get("KNN_BIN") or os.path.join(ROOT, "knn"))
NO_DNN = os.path.join(ROOT, "build", "nodnn", "knn")
TMP = tempfile.mkdtemp(prefix="knn-features-")
RNG = random.Random(5)
TOLERANCE = 1e-5

try:
    import numpy as np
    import torch
    import torch.nn as nn
    HAVE_TORCH = True
except ImportError:  # the checks against PyTorch skip
    HAVE_TORCH = False


def knn(*args, binary=None):
    return subprocess.run([binary or KNN, *map(str, args)], capture_output=True, text=True,
                          cwd=TMP, timeout=300)


def path(name):
    return os.path.join(TMP, name)


# ---- data: gray IDX images (12 x 12) and a folder of RGB photos (16 x 16, 3 classes) ----
GRAY_TRAIN = [[RNG.randrange(256) for _ in range(144)] for _ in range(90)]
GRAY_TRAIN_LABELS = [i % 3 for i in range(90)]
GRAY_TEST = [[RNG.randrange(256) for _ in range(144)] for _ in range(30)]
GRAY_TEST_LABELS = [RNG.randrange(3) for _ in range(30)]
TRAIN = fixtures.write_idx_pair(path("gray"), "train", GRAY_TRAIN, GRAY_TRAIN_LABELS, 12, 12)
TEST = fixtures.write_idx_pair(path("gray"), "t10k", GRAY_TEST, GRAY_TEST_LABELS, 12, 12)

PHOTOS = path("photos")
PHOTO_PIXELS = []  # in knn's order: classes by name, then files by name
for c, name in enumerate(["cat", "dog", "owl"]):
    os.makedirs(os.path.join(PHOTOS, name))
    for i in range(6):
        px = bytes(max(0, min(255, 60 * c + RNG.randrange(-50, 90))) for _ in range(16 * 16 * 3))
        fixtures.write(os.path.join(PHOTOS, name, f"{i}.png"), fixtures.png_rgb(16, 16, px))
        PHOTO_PIXELS.append(px)


# ---- networks ----------------------------------------------------------------------------
def export(model, shape, name, dynamic_size=False):
    """Exports model (eval mode) for inputs of shape (N, C, H, W), the batch dynamic."""
    axes = {"input": {0: "n"}, "features": {0: "n"}}
    if dynamic_size:
        axes["input"].update({2: "h", 3: "w"})
    torch.onnx.export(model.eval(), torch.rand(2, *shape), path(name), opset_version=13,
                      input_names=["input"], output_names=["features"], dynamic_axes=axes)
    return path(name)


NETS = {}
if HAVE_TORCH:
    torch.manual_seed(0)
    GRAY_NET = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(4 * 5 * 5, 8))
    RGB_NET = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
                            nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(24, 5))
    with torch.no_grad():  # a batch norm with statistics of its own, not the identity
        RGB_NET[1].running_mean.uniform_(-0.5, 0.5)
        RGB_NET[1].running_var.uniform_(0.5, 2.0)
    ANY_SIZE_NET = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveMaxPool2d(1),
                                 nn.Flatten())

    class Sqrt(nn.Module):  # sqrt(x - 2): NaN for every pixel
        def forward(self, x):
            return torch.sqrt(x - 2.0).flatten(1)

    NETS["gray"] = export(GRAY_NET, (1, 12, 12), "gray.onnx")
    NETS["rgb"] = export(RGB_NET, (3, 10, 10), "rgb.onnx")
    NETS["any"] = export(ANY_SIZE_NET, (3, 16, 16), "any.onnx", dynamic_size=True)
    NETS["nan"] = export(Sqrt(), (1, 12, 12), "nan.onnx")


def need_runner():
    if not HAVE_TORCH:
        raise fixtures.Skip("PyTorch or numpy is not installed for /usr/bin/python3")
    r = knn("embed", NETS["gray"], TRAIN, "-o", path("probe.npy"))
    if "without the ONNX runtime" in r.stderr:
        raise fixtures.Skip("this knn was built without the ONNX runtime (libopencv-dnn-dev)")
    assert r.returncode == 0, r.stderr


def torch_features(net, images, scale=1 / 255, mean=(0, 0, 0), std=(1, 1, 1), bgr=False):
    """PyTorch's output for uint8 images (N, C, H, W) preprocessed as documented."""
    x = images.astype(np.float32) * np.float32(scale)
    c = x.shape[1]
    if bgr and c == 3:
        x = x[:, ::-1]
    x = (x - np.array(mean[:c], np.float32).reshape(1, c, 1, 1)) / \
        np.array(std[:c], np.float32).reshape(1, c, 1, 1)
    with torch.no_grad():
        return net.eval()(torch.from_numpy(np.ascontiguousarray(x))).numpy()


def gray_images(rows):
    return np.array(rows, np.uint8).reshape(-1, 1, 12, 12)


def photo_images():
    """The photo folder as knn loads it at its own size (16 x 16): (N, 3, 16, 16)."""
    return np.stack([np.frombuffer(px, np.uint8).reshape(16, 16, 3).transpose(2, 0, 1)
                     for px in PHOTO_PIXELS])


# ---- the features against PyTorch --------------------------------------------------------
def test_embed_matches_torch():
    need_runner()
    r = knn("embed", NETS["gray"], TRAIN, "-o", path("gray.npy"))
    assert r.returncode == 0 and "90 images as 8 features" in r.stderr, r.stderr
    got = np.load(path("gray.npy"))
    assert got.dtype == np.float32 and got.shape == (90, 8), (got.dtype, got.shape)
    want = torch_features(GRAY_NET, gray_images(GRAY_TRAIN))
    assert np.abs(got - want).max() <= TOLERANCE, np.abs(got - want).max()


def test_every_batch_size_gives_the_same_bits():
    need_runner()
    outs = []
    for batch in (1, 7, 64, 4096):
        r = knn("embed", NETS["rgb"], PHOTOS, "--size", 10, "--batch", batch, "-o",
                path(f"b{batch}.npy"))
        assert r.returncode == 0, r.stderr
        outs.append(open(path(f"b{batch}.npy"), "rb").read())
    assert all(o == outs[0] for o in outs), "the batch size changed the features"


def test_preprocessing_options_as_documented():
    need_runner()
    args = ("--scale", 0.004, "--mean", "0.5,0.4,0.3", "--std", "0.2,0.25,0.3", "--bgr")
    r = knn("embed", NETS["any"], PHOTOS, "--size", 16, *args, "-o", path("pre.npy"))
    assert r.returncode == 0, r.stderr
    got = np.load(path("pre.npy"))
    want = torch_features(ANY_SIZE_NET, photo_images(), 0.004, (0.5, 0.4, 0.3),
                          (0.2, 0.25, 0.3), bgr=True)
    assert np.abs(got - want).max() <= TOLERANCE, np.abs(got - want).max()
    plain = torch_features(ANY_SIZE_NET, photo_images())
    assert np.abs(got - plain).max() > 0.01  # the options did change the input
    r = knn("embed", NETS["any"], PHOTOS, "--size", 16, "--mean", 0.5, "-o", path("m1.npy"))
    want = torch_features(ANY_SIZE_NET, photo_images(), mean=(0.5, 0.5, 0.5))
    assert np.abs(np.load(path("m1.npy")) - want).max() <= TOLERANCE


def test_image_folders_load_at_the_networks_input_size():
    need_runner()
    r = knn("embed", NETS["rgb"], PHOTOS, "-o", path("auto.knn"))
    assert r.returncode == 0, r.stderr
    info = knn("info", path("auto.knn"))
    assert "on images of 10 x 10 x 3" in info.stdout, info.stdout
    r = knn("embed", NETS["rgb"], PHOTOS, "--size", 10, "-o", path("ten.npy"))
    r2 = knn("embed", NETS["rgb"], PHOTOS, "-o", path("auto.npy"))
    assert r.returncode == 0 and r2.returncode == 0, r.stderr + r2.stderr
    assert open(path("ten.npy"), "rb").read() == open(path("auto.npy"), "rb").read()


# ---- the commands on features ------------------------------------------------------------
def accuracy_line(out):
    return [l for l in out.splitlines() if l.startswith("Got ")][0]


def test_eval_on_features_equals_embedded_files_and_numpy():
    need_runner()
    direct = knn("eval", TRAIN, TEST, "--features", NETS["gray"], "-k", 3, "-q")
    assert direct.returncode == 0, direct.stderr
    for spec, out in ((TRAIN, "tr.knn"), (TEST, "te.knn")):
        r = knn("embed", NETS["gray"], spec, "-o", path(out))
        assert r.returncode == 0, r.stderr
    files = knn("eval", path("tr.knn"), path("te.knn"), "-k", 3, "-q")
    assert files.returncode == 0, files.stderr
    assert accuracy_line(direct.stdout) == accuracy_line(files.stdout)
    # a test set given as images is embedded by the training file's own network
    mixed = knn("eval", path("tr.knn"), TEST, "-k", 3, "-q")
    assert accuracy_line(mixed.stdout) == accuracy_line(direct.stdout), mixed.stderr
    # numpy: K = 3 nearest by L2 on torch's features, majority vote, ties to the nearest
    tr = torch_features(GRAY_NET, gray_images(GRAY_TRAIN))
    te = torch_features(GRAY_NET, gray_images(GRAY_TEST))
    d = ((te[:, None, :].astype(np.float64) - tr[None, :, :]) ** 2).sum(-1)
    correct = 0
    for q in range(len(te)):
        nn3 = np.argsort(d[q], kind="stable")[:3]
        votes = np.bincount(np.array(GRAY_TRAIN_LABELS)[nn3], minlength=3)
        best = [c for c in range(3) if votes[c] == votes.max()]
        pred = next(GRAY_TRAIN_LABELS[i] for i in nn3 if GRAY_TRAIN_LABELS[i] in best)
        correct += pred == GRAY_TEST_LABELS[q]
    assert f"Got {correct} / 30 correct" in accuracy_line(direct.stdout), (correct, direct.stdout)


def test_cv_and_every_metric_run_on_features():
    need_runner()
    r = knn("cv", TRAIN, "--features", NETS["gray"], "--metric", "l1,l2,cosine", "-k", "1,3,5",
            "-q")
    assert r.returncode == 0, r.stderr
    assert "metric cosine" in r.stdout and "best:" in r.stdout.lower(), r.stdout


def test_fit_keeps_the_network_for_photos():
    need_runner()
    import shutil
    net = path("keep.onnx")
    shutil.copy(NETS["rgb"], net)
    r = knn("fit", PHOTOS, "--features", net, "-o", path("pets.knn"))
    assert r.returncode == 0 and "the network inside" in r.stdout, r.stdout + r.stderr
    photo = os.path.join(PHOTOS, "dog", "3.png")
    before = knn("predict", PHOTOS, photo, "--features", net)
    os.remove(net)  # the model holds its own copy
    after = knn("predict", path("pets.knn"), photo)
    assert before.returncode == 0 and after.returncode == 0, before.stderr + after.stderr
    assert before.stdout == after.stdout and "dog" in after.stdout, (before.stdout, after.stdout)
    info = knn("info", path("pets.knn"))
    assert "network:" in info.stdout and "(pixel x 0.00392157" in info.stdout, info.stdout
    assert "pictures: the images, kept" in info.stdout, info.stdout


def test_serve_embeds_uploads_with_the_models_network():
    need_runner()
    import json
    if not os.path.exists(path("pets.knn")):
        test_fit_keeps_the_network_for_photos()
    photo = os.path.join(PHOTOS, "owl", "2.png")
    want = knn("predict", path("pets.knn"), photo, "--format", "json")
    assert want.returncode == 0, want.stderr
    p, url = fixtures.serve_start(KNN, TMP, path("pets.knn"))
    try:
        status, body = fixtures.http_call(url + "/api/classify", open(photo, "rb").read())
        assert status == 200, body
        got = json.loads(body)
        assert got["name"] == "owl", got
        # the model kept the images behind its features: the neighbours have pictures, at
        # the network's input size, and the photo is shown as the network saw it
        assert got["seen_width"] == 10 and len(got["neighbors"]) == 1, got
        for n in got["neighbors"]:
            status, png = fixtures.http_call(url + n["thumbnail"])
            assert status == 200 and png[:4] == b"\x89PNG", (status, png[:60])
            assert int.from_bytes(png[16:20], "big") == 10
        status, body = fixtures.http_call(url + "/api/classify", b"GIF89a broken")
        assert status == 400, body
    finally:
        fixtures.serve_stop(p, TMP)
    # and with --features, a folder of images becomes the model
    p, url = fixtures.serve_start(KNN, TMP, PHOTOS, "--features", NETS["rgb"])
    try:
        status, body = fixtures.http_call(url + "/api/classify", open(photo, "rb").read())
        assert status == 200 and json.loads(body)["name"] == "owl", body
    finally:
        fixtures.serve_stop(p, TMP)


def test_report_draws_the_images_behind_the_features():
    need_runner()
    r = knn("report", TRAIN, TEST, "--features", NETS["gray"], "-o", path("r.html"), "-q")
    assert r.returncode == 0, r.stderr
    page = open(path("r.html")).read()
    assert page.count("data:image/png;base64,") >= 30, "no pictures in the report"


def test_quantize_codes_and_search_as_documented():
    need_runner()
    import json
    for spec, out in ((TRAIN, "ftr.npy"), (TEST, "fte.npy")):
        assert knn("embed", NETS["gray"], spec, "-o", path(out)).returncode == 0
    r = knn("embed", NETS["gray"], TRAIN, "--quantize", "-o", path("q.knn"))
    assert r.returncode == 0 and "8-bit codes" in r.stderr, r.stderr
    assert "codes:   8-bit" in knn("info", path("q.knn")).stdout
    # the codes as include/knn.h defines them, from knn's own float32 features
    tr, te = np.load(path("ftr.npy")), np.load(path("fte.npy"))
    lo, hi = tr.min(0), tr.max(0)
    step = ((hi - lo) / np.float32(255)).astype(np.float32)
    step[~(step > 0)] = 1

    def codes(x):
        v = np.clip((x - lo) / step, np.float32(0), np.float32(255))
        return (v + np.float32(0.5)).astype(np.uint8).astype(np.int64)

    d = np.abs(codes(te)[:, None, :] - codes(tr)[None, :, :]).sum(-1)
    # test images are embedded by the model's network and coded with its training scales
    r = knn("predict", path("q.knn"), TEST, "--neighbors", "-k", 3, "--metric", "l1",
            "--format", "json")
    assert r.returncode == 0, r.stderr
    for q, pred in enumerate(json.loads(r.stdout)["predictions"]):
        want = np.lexsort((np.arange(len(tr)), d[q]))[:3]
        assert [n["index"] for n in pred["neighbors"]] == list(want), (q, pred, want)
        assert [n["distance"] for n in pred["neighbors"]] == list(d[q][want]), q
    # a float feature file of the same network is coded with the model's scales too
    r = knn("eval", path("q.knn"), path("te.knn") if os.path.exists(path("te.knn")) else TEST,
            "-k", 3, "--metric", "l1", "-q")
    assert r.returncode == 0, r.stderr
    # cosine needs float32 features; a quantised file cannot be written as .npy
    fixtures.assert_one_line_error(knn("eval", path("q.knn"), TEST, "--metric", "cosine"), 2,
                                   "cosine is for float32 features")
    fixtures.assert_one_line_error(
        knn("embed", NETS["gray"], TRAIN, "--quantize", "-o", path("q.npy")), 2, "not .npy")
    fixtures.assert_one_line_error(knn("eval", TRAIN, TEST, "--quantize"), 2,
                                   "holds no features computed by a network")


# ---- bad input: one line, never a crash --------------------------------------------------
def test_bad_networks_end_in_one_line():
    need_runner()
    fixtures.write(path("garbage.onnx"), b"not a network at all\n" * 20)
    fixtures.write(path("empty.onnx"), b"")
    data = open(NETS["gray"], "rb").read()
    fixtures.write(path("cut.onnx"), data[:len(data) // 2])
    cases = [
        (("embed", path("missing.onnx"), TRAIN, "-o", path("x.npy")), 1, "missing.onnx"),
        (("embed", path("garbage.onnx"), TRAIN, "-o", path("x.npy")), 1,
         "not an ONNX network"),
        (("embed", path("empty.onnx"), TRAIN, "-o", path("x.npy")), 1, "empty file"),
        (("embed", path("cut.onnx"), TRAIN, "-o", path("x.npy")), 1, "cut.onnx"),
        (("eval", TRAIN, TEST, "--features", path("garbage.onnx")), 1, "garbage.onnx"),
        (("embed", NETS["gray"], PHOTOS, "--size", 12, "--rgb", "-o", path("x.npy")), 2,
         "takes 1 x 12 x 12 inputs"),
        (("embed", NETS["rgb"], TRAIN, "-o", path("x.npy")), 2, "takes 3 x 10 x 10 inputs"),
        (("embed", NETS["nan"], TRAIN, "-o", path("x.npy")), 1, "is not finite"),
        (("eval", path("tr.knn") if os.path.exists(path("tr.knn")) else TRAIN, TEST,
          "--features", NETS["rgb"]), 2, ""),
        (("embed", NETS["gray"], TRAIN, "-o", path("x.npy"), "--std", 0), 2, "cannot be 0"),
        (("embed", NETS["gray"], TRAIN, "-o", path("x.npy"), "--mean", "1,2"), 2,
         "one number, or three"),
        (("embed", NETS["gray"], TRAIN, "-o", path("x.npy"), "--batch", 0), 2, "--batch"),
    ]
    for args, code, words in cases:
        fixtures.assert_one_line_error(knn(*args), code, words, args)
    assert not os.path.exists(path("x.npy")), "a failed embed left a file"


def test_no_runtime_is_one_line_and_features_still_search():
    if not os.access(NO_DNN, os.X_OK):
        raise fixtures.Skip("build/nodnn/knn (KNN_DNN=0) is not built")
    fixtures.write(path("whatever.onnx"), b"\x08\x07")
    r = knn("embed", path("whatever.onnx"), TRAIN, "-o", path("y.npy"), binary=NO_DNN)
    fixtures.assert_one_line_error(r, 2, "built without the ONNX runtime")
    if HAVE_TORCH and os.path.exists(path("tr.knn")):  # rows computed elsewhere still search
        r = knn("eval", path("tr.knn"), path("te.knn"), "-k", 3, "-q", binary=NO_DNN)
        assert r.returncode == 0 and "accuracy" in r.stdout, r.stderr
        r = knn("eval", path("tr.knn"), TEST, "-q", binary=NO_DNN)  # images need the network
        fixtures.assert_one_line_error(r, 2, "built without the ONNX runtime")
    if HAVE_TORCH and os.path.exists(path("pets.knn")):
        # a server without the runtime says so for each photo, naming no server path
        import json
        p, url = fixtures.serve_start(NO_DNN, TMP, path("pets.knn"))
        try:
            status, body = fixtures.http_call(url + "/api/classify",
                                              open(os.path.join(PHOTOS, "cat", "1.png"), "rb").read())
            error = json.loads(body)["error"]
            assert status == 400 and "without the ONNX runtime" in error, (status, error)
            assert TMP not in error and "pets.knn" in error, error
        finally:
            fixtures.serve_stop(p, TMP)


def test_help_answers():
    r = knn("embed", "--help")
    assert r.returncode == 0 and r.stdout.startswith("usage: knn embed NET.onnx DATASET"), r.stdout
    for cmd in ("eval", "predict", "cv", "fit", "report", "info"):
        out = knn(cmd, "--help").stdout
        for option in ("--features", "--mean", "--std", "--bgr", "--scale", "--batch"):
            assert option in out, (cmd, option)
    assert "--features" in knn("serve", "--help").stdout
    assert "embed NET.onnx" in knn("--help").stdout


def main():
    return fixtures.run_tests("features", globals(), KNN, TMP)


if __name__ == "__main__":
    sys.exit(main())
