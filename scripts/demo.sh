#!/bin/sh
# demo.sh: the main job on the real Fashion-MNIST, the lecture's recipe: look at the data,
# choose K and the metric by 5-fold stratified cross-validation on the 60,000 training images
# (one search per metric), evaluate the choice once on the 10,000 test images, draw the
# cross-validation plot, show a few predictions with their neighbours, and write the HTML
# report.
set -e
cd "$(dirname "$0")/.."
if [ ! -d /usr/share/datasets/fashion-mnist ] && [ -z "${KNN_DATA:-}" ]; then
    echo "demo: Fashion-MNIST is missing; install Debian's dataset-fashion-mnist" >&2
    exit 1
fi
run() { echo; echo "\$ $*"; "$@"; }
run ./knn info fashion-mnist:test --samples 4
mkdir -p build
run ./knn cv fashion-mnist:train --test fashion-mnist:test --plot build/cv.svg
run ./knn predict fashion-mnist:train fashion-mnist:test --limit 3 -k 5 --top 3 --neighbors
# the setting knn cv chose above (its stratified folds come from seed 0: the same every run)
run ./knn report fashion-mnist:train fashion-mnist:test -k 8 --metric l1 -o build/report.html
echo
echo "Open build/report.html and build/cv.svg in a browser to see the pictures."
