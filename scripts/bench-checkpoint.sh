#!/usr/bin/env bash
# Benchmarks a node's per-round checkpoint (MLP 784-256-10 with momentum and slow momentum, as the
# e2e benchmark's nodes write it): serialising, the CRC-32 trailer against the BLAKE2b of version 2
# checkpoints on the same bytes (the reference), and a whole atomic save with its fsyncs.
# Extra arguments go to `gossipnode bench-checkpoint` (see its --help). Ends with one JSON line.
source "$(dirname "$0")/lib.sh"
binary="$(build_release)"
"$binary" bench-checkpoint "$@"
