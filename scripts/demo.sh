#!/bin/sh
# demo.sh: the main job on the real Fashion-MNIST: look at the data, classify the 10,000 test
# images by their 5 nearest training images, then show a few predictions with their neighbours.
set -e
cd "$(dirname "$0")/.."
if [ ! -d /usr/share/datasets/fashion-mnist ] && [ -z "${KNN_DATA:-}" ]; then
    echo "demo: Fashion-MNIST is missing; install Debian's dataset-fashion-mnist" >&2
    exit 1
fi
run() { echo; echo "\$ $*"; "$@"; }
run ./knn info fashion-mnist:test --samples 4
run ./knn eval fashion-mnist:train fashion-mnist:test -k 5 --metric l2
run ./knn predict fashion-mnist:train fashion-mnist:test --limit 3 -k 5 --top 3 --neighbors
