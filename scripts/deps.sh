#!/bin/sh
# deps.sh: installs the Debian packages knn needs that are missing, and nothing else.
#   sh scripts/deps.sh build   compiler, make, zlib, stb (image decoding and resizing),
#                              libjpeg-turbo (JPEG decoding),
#                              libcurl, libarchive, OpenSSL (knn fetch), libmicrohttpd and
#                              cJSON (knn serve)
#   sh scripts/deps.sh demo    build + the Fashion-MNIST data set
#   sh scripts/deps.sh features  demo + OpenCV's dnn module (knn runs ONNX networks with it),
#                              PyTorch and onnx (the demo trains and exports a ConvNet), numpy
#   sh scripts/deps.sh bench   demo + the peers make bench measures knn against: faiss,
#                              hnswlib, scikit-learn, PyTorch (with numpy and OpenBLAS),
#                              OpenCV and PIL (decoding photos), GNU time (peak memory)
#   sh scripts/deps.sh test    demo + python3, numpy and OpenBLAS (the tests' exact reference;
#                              without OpenBLAS numpy falls back to the slow reference BLAS),
#                              Chromium and playwright-core (npm) for the browser tests,
#                              python3-dev, -setuptools, -venv and scikit-learn (the Python
#                              package's build and its reference), OpenCV's dnn module,
#                              PyTorch and onnx (ConvNet features, checked against PyTorch),
#                              librsvg (PNG figures: knn cv --plot cv.png), Open MPI (knn-mpi,
#                              checked against knn)
#   sh scripts/deps.sh mpi     build + Open MPI (mpicc, mpirun): make mpi builds knn-mpi
# Build packages are required; the data set, numpy, OpenCV's dnn and PyTorch are optional
# (knn builds without the ONNX runtime, and the tests that need them say they skip), so
# failing to install those only warns. Called by `make demo` and `make test`;
# plain `make` never installs anything.
set -u
mode=${1:-build}
required="gcc make libc6-dev zlib1g-dev libstb-dev libturbojpeg0-dev libcurl4-openssl-dev libarchive-dev libssl-dev libmicrohttpd-dev libcjson-dev"
optional=""
case "$mode" in
build) ;;
demo) optional="dataset-fashion-mnist" ;;
mpi) required="$required libopenmpi-dev openmpi-bin" ;;
features) optional="dataset-fashion-mnist libopencv-dnn-dev python3 python3-numpy python3-torch python3-onnx" ;;
bench) optional="dataset-fashion-mnist python3 python3-numpy libopenblas0-pthread python3-faiss python3-hnswlib python3-sklearn python3-torch python3-opencv python3-pil time libopenmpi-dev openmpi-bin" ;;
test) optional="dataset-fashion-mnist python3 python3-numpy libopenblas0-pthread chromium python3-dev python3-setuptools python3-venv python3-sklearn libopencv-dnn-dev python3-torch python3-onnx librsvg2-dev pkg-config libopenmpi-dev openmpi-bin" ;;
*) echo "usage: sh scripts/deps.sh build|demo|features|bench|test|mpi" >&2; exit 2 ;;
esac

# The browser tests drive Chromium with the npm package playwright-core (tests/browser).
browser_deps() {
    [ "$mode" = test ] || return 0
    [ -d tests/browser/node_modules/playwright-core ] && return 0
    if command -v npm >/dev/null 2>&1; then
        (cd tests/browser && npm ci --no-audit --no-fund >/dev/null 2>&1) ||
            echo "deps.sh: npm could not install playwright-core; the browser tests will skip" >&2
    else
        echo "deps.sh: no npm; the browser tests will skip" >&2
    fi
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }

missing_required="" missing_optional=""
for p in $required; do installed "$p" || missing_required="$missing_required $p"; done
for p in $optional; do installed "$p" || missing_optional="$missing_optional $p"; done
if [ -z "$missing_required$missing_optional" ]; then
    browser_deps
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "deps.sh: not a Debian system; please install:$missing_required$missing_optional" >&2
    [ -z "$missing_required" ] && exit 0 || exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
        echo "deps.sh: run as root, or install:$missing_required$missing_optional" >&2
        [ -z "$missing_required" ] && exit 0 || exit 1
    fi
fi
echo "deps.sh: installing$missing_required$missing_optional" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null 2>&1 || echo "deps.sh: apt-get update failed; trying anyway" >&2
if [ -n "$missing_required" ]; then
    $sudo apt-get install -y -qq --no-install-recommends $missing_required >/dev/null ||
        { echo "deps.sh: could not install:$missing_required" >&2; exit 1; }
fi
for p in $missing_optional; do
    $sudo apt-get install -y -qq --no-install-recommends "$p" >/dev/null 2>&1 ||
        echo "deps.sh: could not install $p; the tests that need it will skip" >&2
done
browser_deps
exit 0
