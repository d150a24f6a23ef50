#!/usr/bin/python3
"""Builds the Debian package-descriptions corpus: every package `apt-cache dumpavail`
lists, labelled by its Section (the archive area dropped: contrib/net is net), as
label<TAB>text lines, text = the synopsis and the long description on one line. Split 90/10
by package name (a CRC-32 of the name, so a package is always on the same side whatever the
archive's order), sorted by name within each file.

    /usr/bin/python3 scripts/text_corpus.py OUTDIR      # writes OUTDIR/train.tsv, test.tsv
    /usr/bin/python3 scripts/text_corpus.py OUTDIR --input dump.txt   # a saved dumpavail
"""
import argparse
import os
import subprocess
import sys
import zlib


def stanzas(text):
    fields, last = {}, None
    for line in text.splitlines():
        if not line.strip():
            if fields:
                yield fields
            fields, last = {}, None
        elif line[0] in " \t" and last:
            fields[last] += "\n" + line
        elif ":" in line:
            last, _, value = line.partition(":")
            fields[last] = value.strip()
    if fields:
        yield fields


def description(value):
    lines = value.split("\n")
    words = [lines[0].strip()]
    for line in lines[1:]:
        line = line.strip()
        if line and line != ".":
            words.append(line)
    return " ".join(" ".join(words).split())  # tabs and runs of spaces: one space


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--input", help="a saved `apt-cache dumpavail` (default: run it)")
    ap.add_argument("--test-percent", type=int, default=10)
    a = ap.parse_args()
    if a.input:
        with open(a.input, encoding="utf-8", errors="replace") as f:
            text = f.read()
    else:
        text = subprocess.run(["apt-cache", "dumpavail"], check=True, capture_output=True
                              ).stdout.decode("utf-8", errors="replace")
    seen, rows = set(), []
    for s in stanzas(text):
        name, section, desc = s.get("Package"), s.get("Section"), s.get("Description")
        if not name or not section or not desc or name in seen:
            continue
        seen.add(name)
        label = section.split("/")[-1]
        rows.append((name, label, description(desc)))
    rows.sort()
    os.makedirs(a.outdir, exist_ok=True)
    n = {"train": 0, "test": 0}
    with open(os.path.join(a.outdir, "train.tsv"), "w", encoding="utf-8") as tr, \
            open(os.path.join(a.outdir, "test.tsv"), "w", encoding="utf-8") as te:
        for name, label, desc in rows:
            test = zlib.crc32(name.encode()) % 100 < a.test_percent
            (te if test else tr).write("%s\t%s\n" % (label, desc))
            n["test" if test else "train"] += 1
    print("%s: %d training and %d test descriptions, %d sections"
          % (a.outdir, n["train"], n["test"], len({r[1] for r in rows})), file=sys.stderr)


if __name__ == "__main__":
    main()
