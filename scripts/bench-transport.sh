#!/usr/bin/env bash
# Transport benchmark: a 4 MiB message between two endpoints on loopback versus plain UDP
# datagrams of the same size in the same run (target: at least 50% of raw throughput), and the
# bytes on the wire with 10% of datagrams dropped (target: at most 1.3x the message size).
# Usage: scripts/bench-transport.sh [options of 'gossipnode bench-transport']
# Ends with one JSON line.
source "$(dirname "$0")/lib.sh"
bin="$(build_release)"
"$bin" bench-transport "$@"
