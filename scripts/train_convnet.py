"""train_convnet.py: a small ConvNet for `make features-demo`, trained on Fashion-MNIST's
training split only (the test split is never read here), on the CPU with Debian's PyTorch,
from a fixed seed, then exported to ONNX without its classifier: its output is the 128
features knn searches.

    /usr/bin/python3 scripts/train_convnet.py [--epochs N] [--threads N] -o convnet.onnx

The network: three blocks of 3x3 convolution, batch norm, ReLU and 2x2 max pooling (16, 32
and 64 channels: 28 -> 14 -> 7 -> 3), a 128-unit layer with batch norm and ReLU (the
features), and a linear layer to the 10 classes that only training uses. Adam, cross-entropy,
batches of 128, learning rate 0.002 halved each epoch after the third.
"""
import argparse
import gzip
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn

DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(path, header):
    with gzip.open(path) as f:
        return np.frombuffer(f.read()[header:], np.uint8)


class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()

        def block(cin, cout):
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                    nn.ReLU(), nn.MaxPool2d(2)]

        self.features = nn.Sequential(*block(1, 16), *block(16, 32), *block(32, 64),
                                      nn.Flatten(), nn.Linear(64 * 3 * 3, 128, bias=False),
                                      nn.BatchNorm1d(128), nn.ReLU())
        self.classifier = nn.Linear(128, 10)

    def forward(self, x):
        return self.classifier(self.features(x))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--output", required=True, help="the ONNX file to write")
    ap.add_argument("--data", default=DATA, help="the folder of Fashion-MNIST's .gz files")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    torch.use_deterministic_algorithms(True)
    x = read_idx(os.path.join(a.data, "train-images-idx3-ubyte.gz"), 16).reshape(-1, 1, 28, 28)
    y = read_idx(os.path.join(a.data, "train-labels-idx1-ubyte.gz"), 8).astype(np.int64)
    # knn's default preprocessing: pixel / 255, no mean, no std
    x = torch.from_numpy(x.astype(np.float32) / 255.0)
    y = torch.from_numpy(y)
    net = ConvNet()
    opt = torch.optim.Adam(net.parameters(), lr=0.002)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 0.5 ** max(0, e - 2))
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(a.seed)
    start = time.time()
    for epoch in range(a.epochs):
        net.train()
        order = torch.randperm(len(x), generator=gen)
        total, right, seen = 0.0, 0, 0
        for b in range(0, len(x), 128):
            idx = order[b:b + 128]
            out = net(x[idx])
            loss = loss_fn(out, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            right += (out.argmax(1) == y[idx]).sum().item()
            seen += len(idx)
        sched.step()
        print(f"epoch {epoch + 1}/{a.epochs}: loss {total / seen:.4f}, training accuracy "
              f"{100 * right / seen:.2f}%, {time.time() - start:.0f} s", file=sys.stderr,
              flush=True)
    net.eval()
    torch.onnx.export(net.features, torch.zeros(1, 1, 28, 28), a.output, opset_version=13,
                      input_names=["image"], output_names=["features"],
                      dynamic_axes={"image": {0: "n"}, "features": {0: "n"}})
    print(f"wrote {a.output}: 1 x 28 x 28 images -> 128 features", file=sys.stderr)


if __name__ == "__main__":
    main()
