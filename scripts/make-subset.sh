#!/usr/bin/env bash
# Rebuilds data/fashion-mnist-subset (the first 2,000 training and 500 test images of Fashion-MNIST,
# gzip'd IDX like the originals) from the Debian package dataset-fashion-mnist.
# Used by tests and by `--data fashion-mnist` when the package is not installed.
source "$(dirname "$0")/lib.sh"
SRC="${1:-/usr/share/datasets/fashion-mnist}"
OUT="$ROOT/data/fashion-mnist-subset"
[ -f "$SRC/train-images-idx3-ubyte.gz" ] || ensure_packages dataset-fashion-mnist
mkdir -p "$OUT"
python3 - "$SRC" "$OUT" <<'PY'
import gzip, struct, sys
src, out = sys.argv[1], sys.argv[2]
def subset(name, count):
    with gzip.open(f"{src}/{name}.gz", "rb") as f:
        data = f.read()
    ndims = data[3]
    dims = list(struct.unpack(f">{ndims}I", data[4:4 + 4 * ndims]))
    item = 1
    for d in dims[1:]:
        item *= d
    start = 4 + 4 * ndims
    dims[0] = count
    payload = data[:4] + struct.pack(f">{ndims}I", *dims) + data[start:start + count * item]
    with open(f"{out}/{name}.gz", "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as g:
            g.write(payload)
for prefix, count in (("train", 2000), ("t10k", 500)):
    subset(f"{prefix}-images-idx3-ubyte", count)
    subset(f"{prefix}-labels-idx1-ubyte", count)
PY
echo "wrote $OUT:" && ls -l "$OUT"
