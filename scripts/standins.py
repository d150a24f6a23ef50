"""standins.py: small stand-ins for the photo folders of ImageNet, MIT Places and Omniglot,
in their real layouts, made from Fashion-MNIST (Debian's dataset-fashion-mnist), so that the
README's folder commands run on any machine with real output. Standard library only.

    /usr/bin/python3 scripts/standins.py [OUT]      (default build/standins)

- imagenet/train/<wnid>/<wnid>_<n>.png, 100 per class, and imagenet/val/ one flat folder of
  ILSVRC2012_val_<n>.JPEG (PNG data: knn tells formats by their bytes) with
  LOC_val_solution.csv (ImageId,PredictionString), 30 per class,
  as ImageNet's validation set comes;
- places/<letter>/<name>[/<indoor|outdoor>]/<n>.png, 60 per class, classes at two and three
  levels as in Places365 (a/abbey beside a/apartment_building/outdoor);
- omniglot/images_background/<alphabet>/<character>/<n>.png and images_evaluation/...: 20
  drawings per character, as Omniglot has; here an alphabet is a Fashion-MNIST class and a
  character 20 of its images, so characters of one alphabet look alike (a stand-in for the
  layout and the protocol, not for Omniglot's difficulty).
These are stand-ins: the images are 28 x 28 gray clothes, whatever the folder names say."""
import gzip
import os
import struct
import sys
import zlib

SOURCE = "/usr/share/datasets/fashion-mnist"
NAMES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
         "ankle_boot"]
WNIDS = ["n0%07d" % (4000000 + 1111 * c) for c in range(10)]
PLACES = ["t/t-shirt_shop", "t/trouser_store", "p/pullover_field/outdoor", "d/dress_shop",
          "c/coat_closet/indoor", "s/sandbar", "s/shirt_factory/indoor", "s/sneaker_court",
          "b/bag_store", "a/ankle_boot_camp/outdoor"]


def read_idx(split):
    with gzip.open(os.path.join(SOURCE, f"{split}-images-idx3-ubyte.gz")) as f:
        n, h, w = struct.unpack(">IIII", f.read(16))[1:]
        images = [f.read(h * w) for _ in range(n)]
    with gzip.open(os.path.join(SOURCE, f"{split}-labels-idx1-ubyte.gz")) as f:
        f.read(8)
        labels = list(f.read())
    return images, labels


def png_gray(pixels, w=28, h=28):
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
    rows = b"".join(b"\x00" + pixels[w * y:w * (y + 1)] for y in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def by_class(images, labels, per_class, skip=0):
    """The first per_class images of each class after the first `skip` of it."""
    seen = [0] * 10
    out = []
    for img, c in zip(images, labels):
        seen[c] += 1
        if skip < seen[c] <= skip + per_class:
            out.append((img, c))
    return out


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join("build", "standins")
    if not os.path.exists(os.path.join(SOURCE, "train-images-idx3-ubyte.gz")):
        print(f"standins: {SOURCE} is missing (Debian's dataset-fashion-mnist)", file=sys.stderr)
        return 1
    train, train_labels = read_idx("train")
    test, test_labels = read_idx("t10k")
    for i, (img, c) in enumerate(by_class(train, train_labels, 100)):
        write(os.path.join(out, "imagenet", "train", WNIDS[c], f"{WNIDS[c]}_{i}.png"),
              png_gray(img))
    solution = ["ImageId,PredictionString"]
    for i, (img, c) in enumerate(by_class(test, test_labels, 30)):
        image_id = "ILSVRC2012_val_%08d" % (i + 1)  # PNG data under ImageNet's name: knn
        write(os.path.join(out, "imagenet", "val", image_id + ".JPEG"), png_gray(img))  # reads
        solution.append(f"{image_id},{WNIDS[c]} 0 0 27 27")  # the format from the bytes
    write(os.path.join(out, "imagenet", "LOC_val_solution.csv"),
          ("\n".join(solution) + "\n").encode())
    for i, (img, c) in enumerate(by_class(train, train_labels, 60, skip=100)):
        write(os.path.join(out, "places", PLACES[c], f"{i:05d}.png"), png_gray(img))
    drawn = [0] * 10
    for img, c in by_class(train, train_labels, 8 * 20, skip=200):  # 8 characters of 20 each
        half = "images_background" if c < 6 else "images_evaluation"
        character = "character%02d" % (drawn[c] // 20 + 1)
        write(os.path.join(out, "omniglot", half, NAMES[c].capitalize(), character,
                           f"{drawn[c] % 20:02d}.png"), png_gray(img))
        drawn[c] += 1
    print(f"standins: ImageNet, Places and Omniglot layouts written under {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
