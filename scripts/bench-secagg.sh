#!/usr/bin/env bash
# Benchmarks secure aggregation (issue targets in parentheses), all measured in this run:
#   one member's masking of a d = 1e6 vector in a group of 8 against libsodium producing the same
#   ChaCha20 keystream bytes in L1 (ratio <= 2); a whole 8-member round on d = 1e5 in CPU time
#   (< 150 ms), with 2 members lost after their masked input and with 2 lost after sharing
#   (each < 2x the clean round); bytes per vector word one member holds. Every sum is checked.
# Extra arguments go to `gossipnode bench-secagg` (see its --help). Ends with one JSON line.
source "$(dirname "$0")/lib.sh"
binary="$(build_release)"
"$binary" bench-secagg "$@"
