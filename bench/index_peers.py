"""index_peers.py: hnswlib and faiss HNSW on the work of bench/index_bench.c: an HNSW graph
(M = 16, ef_construction = 200) over the Fashion-MNIST training images, built on every core,
then the 10,000 test images searched one thread at a time (K = 10) along a ladder of ef, each
point's recall@10 measured against knn's exact neighbours (TRUTH, written by index_bench).
Prints one JSON line per build and per point; a peer that is not installed prints a line
saying so. Both take float32 rows: 4 bytes a value where knn keeps 1.

usage: /usr/bin/python3 bench/index_peers.py TRUTH [hnswlib] [faiss]"""
import json
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peers import load  # noqa: E402  (the IDX reader the other peers use)

K = 10
M, EF_CONSTRUCTION = 16, 200
LADDER = [10, 12, 16, 20, 24, 32, 40, 48, 64, 96, 128, 192, 256, 384]


def recall(found, truth):
    hits = sum(len(set(f).intersection(t)) for f, t in zip(found.tolist(), truth.tolist()))
    return hits / truth.size


def say(**fields):
    print(json.dumps(fields), flush=True)


def main():
    truth = np.fromfile(sys.argv[1], np.int32).reshape(-1, K)
    which = sys.argv[2:] or ["hnswlib", "faiss"]
    train = load("train-images-idx3-ubyte.gz").astype(np.float32)
    test = load("t10k-images-idx3-ubyte.gz").astype(np.float32)
    threads = os.cpu_count()
    if "hnswlib" in which:
        try:
            import hnswlib
            index = hnswlib.Index(space="l2", dim=train.shape[1])
            t = time.time()
            index.init_index(max_elements=len(train), M=M, ef_construction=EF_CONSTRUCTION,
                             random_seed=100)
            index.add_items(train, np.arange(len(train)), num_threads=threads)
            build = time.time() - t
            with tempfile.TemporaryDirectory() as d:
                index.save_index(os.path.join(d, "h.bin"))
                size = os.path.getsize(os.path.join(d, "h.bin"))
            say(peer="hnswlib", what="build", seconds=build, bytes=size, threads=threads)
            index.set_num_threads(1)
            for ef in LADDER:
                index.set_ef(max(ef, K))
                t = time.time()
                labels, _ = index.knn_query(test, k=K, num_threads=1)
                secs = time.time() - t
                say(peer="hnswlib", what="point", ef=ef, qps=len(test) / secs,
                    recall=recall(labels, truth))
        except ImportError:
            say(peer="hnswlib", missing="python3-hnswlib")
    if "faiss" in which:
        try:
            import faiss
            faiss.omp_set_num_threads(threads)
            index = faiss.IndexHNSWFlat(train.shape[1], M)
            index.hnsw.efConstruction = EF_CONSTRUCTION
            t = time.time()
            index.add(train)
            build = time.time() - t
            size = faiss.serialize_index(index).nbytes
            say(peer="faiss HNSW", what="build", seconds=build, bytes=int(size), threads=threads)
            faiss.omp_set_num_threads(1)
            for ef in LADDER:
                index.hnsw.efSearch = max(ef, K)
                t = time.time()
                _, labels = index.search(test, K)
                secs = time.time() - t
                say(peer="faiss HNSW", what="point", ef=ef, qps=len(test) / secs,
                    recall=recall(labels, truth))
        except ImportError:
            say(peer="faiss HNSW", missing="python3-faiss")
    return 0


if __name__ == "__main__":
    sys.exit(main())
