#!/usr/bin/env bash
# The first-run demo: builds a release binary, makes keys and a peers file for a local network,
# and starts the nodes. Uses Fashion-MNIST from Debian's dataset-fashion-mnist when installed,
# otherwise the small subset committed under data/.
source "$(dirname "$0")/lib.sh"
ensure_packages libsodium-dev pkg-config
ensure_packages dataset-fashion-mnist 2>/dev/null || echo "note: dataset-fashion-mnist unavailable; using the committed subset" >&2
if [ -x "$ROOT/scripts/run-local.sh" ]; then
    exec "$ROOT/scripts/run-local.sh" "$@"
fi
bin="$(build_release)"
"$ROOT/scripts/make-peers.sh" -n 4 -b "$bin"
cd "$ROOT"
for i in 1 2 3 4; do
    "$bin" run --peers peers/list.txt --id "node$i"
done
