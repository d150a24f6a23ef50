"""test_writers.py: where `knn` writes, on files this test makes: -o and --plot replace regular
files only (devices, FIFOs and /dev/stdout are written straight; links are followed to the file
they point to), a failed write to stdout or a file is one line and exit status 1 on every
command, signals and a model file truncated in use leave no temporary file, and names that are
not UTF-8 still make valid JSON and SVG."""
import json
import os
import random
import shlex
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixtures  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KNN = os.path.abspath(os.environ.get("KNN_BIN") or os.path.join(ROOT, "knn"))
TMP = tempfile.mkdtemp(prefix="knn-writers-")
TIMEOUT = 120


Skip = fixtures.Skip


def path(*names):
    return os.path.join(TMP, *names)


def knn(*args, stdout=subprocess.PIPE, cwd=TMP):
    env = {k: v for k, v in os.environ.items() if k not in ("KNN_DATA", "KNN_MIRROR")}
    argv = [KNN, *(a if isinstance(a, bytes) else str(a) for a in args)]
    return subprocess.run(argv, stdout=stdout, stderr=subprocess.PIPE, env=env, cwd=cwd,
                          timeout=TIMEOUT)


def one_line(r, words):
    """Exit status 1 and exactly one line on stderr, holding `words`."""
    err = r.stderr.decode(errors="replace")
    assert r.returncode == 1, (r.returncode, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert words in lines[0], (words, lines[0])


def leftovers(folder):
    return [n for n in os.listdir(folder) if ".tmp." in n]


RNG = random.Random(11)
TRAIN = fixtures.write_idx_pair(path("data"), "train", fixtures.random_rows(RNG, 60, 20, top=8),
                                [RNG.randrange(3) for _ in range(60)], 5, 4)
TEST = fixtures.write_idx_pair(path("data"), "t10k", fixtures.random_rows(RNG, 20, 20, top=8),
                               [RNG.randrange(3) for _ in range(20)], 5, 4)

# Every command that writes a file: (name, its arguments up to the file's name).
WRITERS = [
    ("predict", ["predict", TRAIN, TEST, "--format", "csv", "-o"]),
    ("fit", ["fit", TRAIN, "-q", "-o"]),
    ("report", ["report", TRAIN, TEST, "-q", "--samples", "2", "-o"]),
    ("cv --plot", ["cv", TRAIN, "-k", "1,3", "-q", "--plot"]),
]


def reference_outputs():
    """Each writer's output to a plain new file, to compare the other ways with."""
    out = {}
    os.makedirs(path("ref"), exist_ok=True)
    for name, args in WRITERS:
        target = path("ref", name.split()[0] + ".svg")
        r = knn(*args, target, stdout=subprocess.DEVNULL)
        assert r.returncode == 0, r.stderr
        with open(target, "rb") as f:
            out[name] = f.read()
    return out


REFERENCE = {}


def reference(name):
    if not REFERENCE:
        REFERENCE.update(reference_outputs())
    return REFERENCE[name]


def test_output_to_dev_null_leaves_it_a_device():
    """In a private mount namespace with its own /dev, so that a failure cannot replace the
    machine's /dev/null."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        raise Skip("needs root and unshare(1) for a private /dev")
    knn_, train, test = (shlex.quote(p) for p in (KNN, TRAIN, TEST))
    script = ("mount -t tmpfs tmpfs /dev && mknod -m 666 /dev/null c 1 3 && "
              "ln -s /proc/self/fd/1 /dev/stdout && "
              f"{knn_} predict {train} {test} -o /dev/null && "
              f"{knn_} fit {train} -q -o /dev/null && "
              f"{knn_} report {train} {test} -q --samples 2 -o /dev/null && "
              "ln -s /dev/null /dev/plot.svg && "
              f"{knn_} cv {train} -k 1,3 -q --plot /dev/plot.svg && "
              "stat -c %F /dev/null && ls -A /dev")
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, timeout=30)
    if probe.returncode != 0:
        raise Skip("unshare -m is not allowed here: " + probe.stderr.decode().strip())
    r = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True,
                       timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    tail = r.stdout.splitlines()[-4:]  # after cv's table: stat's line, then ls's
    assert tail == ["character special file", "null", "plot.svg", "stdout"], r.stdout


def test_output_to_dev_stdout_is_standard_output_itself():
    for name, args in WRITERS:
        for target in ("/dev/stdout", "-"):
            r = knn(*args, target)
            assert r.returncode == 0, (name, r.stderr)
            assert r.stdout.endswith(reference(name)), name  # after cv's table
            assert name == "cv --plot" or r.stdout == reference(name), name
    # into a regular file on stdout: written once, from where stdout stands, not replaced
    with open(path("stdout.csv"), "wb") as f:
        f.write(b"first line\n")
        f.flush()
        r = knn("predict", TRAIN, TEST, "--format", "csv", "-o", "/dev/stdout", stdout=f)
    assert r.returncode == 0, r.stderr
    with open(path("stdout.csv"), "rb") as f:
        assert f.read() == b"first line\n" + reference("predict")
    assert leftovers(TMP) == []
    # a model written to stdout is a model: nothing else is printed after it
    with open(path("piped.knn"), "wb") as f:
        r = knn("fit", TRAIN, "-o", "-", stdout=f)
    assert r.returncode == 0, r.stderr
    r = knn("predict", path("piped.knn"), TEST, "--format", "csv")
    assert r.returncode == 0 and r.stdout == reference("predict"), r.stderr


def read_fifo(fifo, got):
    with open(fifo, "rb") as f:
        got.append(f.read())


def test_output_to_a_fifo_is_written_straight():
    for name, args in WRITERS:
        fifo = path("fifo", name.split()[0] + ".svg")
        os.makedirs(path("fifo"), exist_ok=True)
        os.mkfifo(fifo)
        got = []
        reader = threading.Thread(target=read_fifo, args=(fifo, got), daemon=True)
        reader.start()
        r = knn(*args, fifo, stdout=subprocess.DEVNULL)
        try:  # if knn never opened the FIFO, the reader still waits: let it go
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass
        reader.join(TIMEOUT)
        assert r.returncode == 0, (name, r.stderr)
        assert got == [reference(name)], name
        assert stat.S_ISFIFO(os.lstat(fifo).st_mode), name
        assert leftovers(path("fifo")) == [], name
    # a socket cannot be opened for writing: one line, and it stays a socket
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(path("fifo", "socket.svg"))
        r = knn("predict", TRAIN, TEST, "-o", path("fifo", "socket.svg"))
        one_line(r, "socket.svg: cannot write: No such device or address")
        assert stat.S_ISSOCK(os.lstat(path("fifo", "socket.svg")).st_mode)
    # a reader that goes away: a write error, one line
    fifo = path("fifo", "closed.csv")
    os.mkfifo(fifo)
    threading.Thread(target=lambda: open(fifo, "rb").close(), daemon=True).start()
    big = fixtures.write_idx_pair(path("data"), "big", fixtures.random_rows(RNG, 3000, 20),
                                  None, 5, 4)
    r = knn("predict", TRAIN, big, "--neighbors", "-k", "20", "-o", fifo)
    one_line(r, "Broken pipe")


def test_output_through_a_link_replaces_the_file_it_points_to():
    os.makedirs(path("links", "a"), exist_ok=True)
    os.makedirs(path("links", "b"), exist_ok=True)
    for name, args in WRITERS:
        stem = name.split()[0]
        target = path("links", "b", stem + ".svg")
        with open(target, "w") as f:
            f.write("old")
        os.symlink(os.path.join("..", "b", stem + ".svg"), path("links", "a", stem + "1.svg"))
        link = path("links", "a", stem + ".svg")  # a chain: link -> link -> file
        os.symlink(stem + "1.svg", link)
        r = knn(*args, link, stdout=subprocess.DEVNULL)
        assert r.returncode == 0, (name, r.stderr)
        assert os.path.islink(link) and os.path.islink(path("links", "a", stem + "1.svg"))
        with open(target, "rb") as f:
            assert f.read() == reference(name), name
        umask = os.umask(0)
        os.umask(umask)
        assert os.stat(target).st_mode & 0o777 == 0o666 & ~umask
    assert leftovers(path("links", "a")) == [] and leftovers(path("links", "b")) == []


def test_output_through_a_link_to_a_missing_file_is_one_line():
    os.makedirs(path("dangling"), exist_ok=True)
    for name, args in WRITERS:
        link = path("dangling", name.split()[0] + ".svg")
        os.symlink("nowhere.svg", link)
        r = knn(*args, link, stdout=subprocess.DEVNULL)
        one_line(r, f"{link}: cannot write: a link to a missing file")
        assert not os.path.exists(path("dangling", "nowhere.svg")), name
    assert leftovers(path("dangling")) == []


def stdout_commands():
    """Every command, with what it prints on stdout."""
    os.makedirs(path("fetched", "mnist"), exist_ok=True)
    return [
        ["info", TRAIN],
        ["eval", TRAIN, TEST, "--confusion"],
        ["eval", TRAIN, TEST, "--json"],
        ["predict", TRAIN, TEST],
        ["cv", TRAIN, "-k", "1,3"],
        ["cv", TRAIN, "-k", "1,3", "--json"],
        ["fit", TRAIN, "-o", path("stdout-fit.knn")],
        ["report", TRAIN, TEST, "--samples", "2", "-o", path("stdout-report.html")],
        ["fetch", "mnist", "--dir", path("fetched")],  # already there: one line on stdout
        ["eval", "--help"],
    ]


def test_a_full_stdout_is_one_line_and_status_1_for_every_command():
    for args in stdout_commands():
        with open("/dev/full", "wb") as full:
            r = knn(*args, stdout=full)
        one_line(r, f"knn {args[0]}: writing the output failed")
        assert r.stderr.decode().strip().endswith("No space left on device"), (args, r.stderr)


def test_a_closed_pipe_on_stdout_is_one_line_and_status_1_for_every_command():
    for args in stdout_commands():
        rd, wr = os.pipe()
        os.close(rd)
        try:
            r = knn(*args, stdout=wr)
        finally:
            os.close(wr)
        one_line(r, f"knn {args[0]}: writing the output failed")
        assert r.stderr.decode().strip().endswith("Broken pipe"), (args, r.stderr)


def test_a_full_disk_under_an_output_file_is_one_line():
    for name, args in WRITERS:
        os.makedirs(path("full"), exist_ok=True)
        os.symlink("/dev/full", path("full", name.split()[0] + ".svg"))
        r = knn(*args, path("full", name.split()[0] + ".svg"), stdout=subprocess.DEVNULL)
        one_line(r, "No space left on device")
        assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def big_training_set(folder, rows):
    """rows images of 64 x 64 random bytes: a model file of rows x 4 KiB."""
    os.makedirs(folder, exist_ok=True)
    images = os.path.join(folder, "big-images-idx3-ubyte")
    with open(images, "wb") as f:
        f.write(struct.pack(">IIII", 0x0803, rows, 64, 64))
        f.write(os.urandom(rows * 64 * 64))
    with open(os.path.join(folder, "big-labels-idx1-ubyte"), "wb") as f:
        f.write(struct.pack(">II", 0x0801, rows) + bytes(i % 10 for i in range(rows)))
    return images


def stop_while_writing(args, folder, then, preexec_fn=None):
    """Runs knn with args, stops it (SIGSTOP) once its temporary output file exists in
    folder, calls then(process), lets it go on, and returns (returncode, stderr); None if the
    write ended before the temporary file was seen."""
    p = subprocess.Popen([KNN, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         preexec_fn=preexec_fn)
    deadline = time.monotonic() + TIMEOUT
    caught = False
    while p.poll() is None and time.monotonic() < deadline:
        if leftovers(folder):
            p.send_signal(signal.SIGSTOP)
            caught = bool(leftovers(folder))  # still writing, now frozen
            if caught:
                then(p)
            p.send_signal(signal.SIGCONT)
            break
        time.sleep(0.0005)
    _, err = p.communicate(timeout=TIMEOUT)
    return (p.returncode, err.decode()) if caught else None


def test_signals_while_fit_writes_leave_no_temporary_file():
    train = big_training_set(path("signals"), 10000)  # a 40 MiB model: some 0.1 s of writing
    out = path("signals", "out")
    os.makedirs(out, exist_ok=True)
    for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
        for _attempt in range(5):
            got = stop_while_writing(["fit", train, "-q", "-o", os.path.join(out, "m.knn")],
                                     out, lambda p, s=sig: p.send_signal(s))
            if got:
                break
        assert got, f"never caught fit writing ({sig.name})"
        assert got[0] == -sig, (sig.name, got)
        assert os.listdir(out) == [], (sig.name, os.listdir(out))
    # under nohup, SIGHUP is ignored and stays ignored: the model is written
    got = stop_while_writing(["fit", train, "-q", "-o", os.path.join(out, "m.knn")], out,
                             lambda p: p.send_signal(signal.SIGHUP),
                             preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    assert got is None or got[0] == 0, got
    assert os.listdir(out) == ["m.knn"], os.listdir(out)


def test_a_model_truncated_while_in_use_is_one_line():
    """The model is mapped; truncating it makes the next access fault (SIGBUS)."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") else TMP  # no fsync time: all of the
    folder = tempfile.mkdtemp(prefix="knn-writers-", dir=base)  # write reads the model
    try:
        train = big_training_set(folder, 10000)
        model = os.path.join(folder, "model.knn")
        assert knn("fit", train, "-q", "-o", model).returncode == 0
        out = os.path.join(folder, "out")
        os.makedirs(out)
        for _attempt in range(5):
            in_use = os.path.join(folder, "in-use.knn")
            shutil.copyfile(model, in_use)
            got = stop_while_writing(["fit", in_use, "-o", os.path.join(out, "copy.knn")], out,
                                     lambda p: os.truncate(in_use, 0))
            if got and got[0] != 0:  # 0: it had read the whole model already
                break
            shutil.rmtree(out)
            os.makedirs(out)
        assert got and got[0] == 1, got
        lines = got[1].strip().splitlines()
        assert lines == ["knn fit: a mapped file changed or was truncated while in use"], got
        assert os.listdir(out) == []
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def decode_per_byte(raw):
    """Python's reading of the promise: each byte that is not part of a well-formed UTF-8
    sequence becomes U+FFFD."""
    out, i = [], 0
    while i < len(raw):
        for n in (1, 2, 3, 4):
            try:
                ch = raw[i:i + n].decode("utf-8")
            except UnicodeDecodeError:
                continue
            out.append(ch)
            i += n
            break
        else:
            out.append("\ufffd")
            i += 1
    return "".join(out)


# Class folders named with bytes that are not UTF-8: Latin-1, an overlong "/", a surrogate, a
# code point above U+10FFFF, a cut sequence, a stray continuation byte; and valid names.
NAMES = [b"caf\xe9", b"over\xc0\xaflong", b"sur\xed\xa0\x80rogate", b"big\xf4\x90\x80\x80",
         b"cut\xe2\x82", b"stray\x80", "caf\u00e9".encode(), "\U0001F431".encode()]


def test_names_that_are_not_utf8_make_valid_json_and_svg():
    root = os.path.join(TMP.encode(), b"names")
    for i, name in enumerate(NAMES):
        folder = os.path.join(root, name)
        os.makedirs(folder, exist_ok=True)
        for j in range(2):
            with open(os.path.join(folder, b"%d.png" % j), "wb") as f:
                f.write(fixtures.png(8, 8, (30 * i, 200 - 20 * i, 17 * j)))
    r = knn("eval", root, root, "--size", "8", "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout.decode("utf-8"))  # strict: invalid UTF-8 raises
    assert sorted(j["classes"]) == sorted(decode_per_byte(n) for n in NAMES), j["classes"]
    photo = os.path.join(root, b"caf\xe9", b"0.png")
    r = knn("predict", root, photo, "--size", "8", "--format", "json")
    assert r.returncode == 0, r.stderr
    p = json.loads(r.stdout.decode("utf-8"))["predictions"][0]
    assert p["path"] == decode_per_byte(photo) and p["name"] == "caf\ufffd", p
    assert "caf\ufffd" in p["neighbors"][0]["path"]
    plot = path("names.svg")
    r = knn("cv", root, "--size", "8", "--folds", "2", "-k", "1", "--plot", plot, "-q")
    assert r.returncode == 0, r.stderr
    ET.parse(plot)  # well-formed XML: the title holds the folder's name


def test_thousands_of_classes_omit_the_confusion_matrix_in_one_line():
    root = path("classes")
    for c in range(4097):  # one more than the library tabulates
        folder = os.path.join(root, f"c{c:04d}")
        os.makedirs(folder, exist_ok=True)
        fixtures.write(os.path.join(folder, "a.pgm"),
                       b"P5 2 2 255\n" + bytes([c % 256, c // 256, 7, 9]))
    r = knn("eval", root, root, "--size", "2", "--gray", "--confusion", "-q")
    assert r.returncode == 0, r.stderr
    text = r.stdout.decode()
    assert "Confusion matrix: omitted for 4097 classes (at most 4096)" in text, text[-300:]
    r = knn("eval", root, root, "--size", "2", "--gray", "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["confusion"] is None and len(j["per_class"]) == 4097, j["per_class"][:3]
    page = path("classes.html")
    r = knn("report", root, root, "--size", "2", "--gray", "-k", "1", "-o", page, "-q")
    assert r.returncode == 0, r.stderr
    with open(page) as f:
        html = f.read()
    assert "The confusion matrix and the per-class accuracy are omitted for 4097 classes" in html
    assert "The first 100 of 4097 classes" in html and len(html) < 1 << 20, len(html)


def main():
    return fixtures.run_tests("writers", globals(), KNN, TMP)


if __name__ == "__main__":
    sys.exit(main())
