#!/usr/bin/env bash
# The first-run demo: installs what is missing, builds a release binary, and runs a local network
# of 4 nodes on 127.0.0.1 training an MLP on Fashion-MNIST (Debian's dataset-fashion-mnist when it
# can be installed, otherwise the small subset committed under data/). Extra options go to the nodes
# and replace the demo's own (--rounds 5, --model cnn).
source "$(dirname "$0")/lib.sh"
ensure_packages libsodium-dev pkg-config
if ! ensure_packages dataset-fashion-mnist 2>/dev/null; then
    echo "note: dataset-fashion-mnist unavailable; using the committed subset" >&2
fi
if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    defaults=(--model mlp:128 --rounds 30 --local-steps 100 --group-size 4 --threads 1)
else
    defaults=(--model logreg --rounds 15 --local-steps 20 --group-size 4 --threads 1)
fi
# An option given after the script name replaces the demo's default for it (run refuses an option
# given twice, and --local-epochs together with --local-steps).
given() { for arg in "${@:2}"; do case $arg in "$1"|"$1"=*) return 0 ;; esac; done; return 1; }
options=()
for ((i = 0; i < ${#defaults[@]}; i += 2)); do
    flag=${defaults[i]}
    given "$flag" "$@" || { [ "$flag" = --local-steps ] && given --local-epochs "$@"; } || options+=("$flag" "${defaults[i + 1]}")
done
exec "$ROOT/scripts/run-local.sh" -n 4 -- "${options[@]}" "$@"
