#!/usr/bin/env bash
# The first-run demo: installs what is missing, builds a release binary, and runs a local network
# of 4 nodes on 127.0.0.1 training an MLP on Fashion-MNIST (Debian's dataset-fashion-mnist when it
# can be installed, otherwise the small subset committed under data/). Extra options go to the nodes
# and replace the demo's own (--rounds 5, --model cnn).
#
# Usage: scripts/demo.sh [-p BASE_PORT] [-d RUN_DIR] [-b BINARY] [--] [NODE_OPTIONS...]
#   -p BASE_PORT  the nodes' UDP ports are BASE_PORT to BASE_PORT+3 (default: DEMO_PORT, else 7101)
#   -d RUN_DIR    keys, peers file, state, logs and JSON lines (default: DEMO_DIR, else runs/local)
#   -b BINARY     run this gossipnode instead of building a release binary
# Two demos, or a demo beside another local network (scripts/run-local.sh, fault-test.sh), need
# their own ports and directory: DEMO_PORT=7201 DEMO_DIR=runs/demo2 scripts/demo.sh, or
# scripts/demo.sh -p 7201 -d runs/demo2 --rounds 5.
source "$(dirname "$0")/lib.sh"
port=${DEMO_PORT:-}; port_from=DEMO_PORT; dir=${DEMO_DIR:-}; bin=""
usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case $1 in
        -p|-d|-b) [ $# -ge 2 ] || { echo "error: $1 needs a value" >&2; usage >&2; exit 2; } ;;
    esac
    case $1 in
        -p) port=$2; port_from=-p; shift 2 ;;
        -d) dir=$2; shift 2 ;;
        -b) bin=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        --) shift; break ;;
        -*) [[ $1 == --* ]] || { echo "error: unknown option '$1' (node options start with --)" >&2; usage >&2; exit 2; }; break ;;
        *) break ;;
    esac
done
# The four nodes listen on port to port+3.
if [ -n "$port" ] && ! { [[ $port =~ ^[0-9]{1,5}$ ]] && [ "$((10#$port))" -ge 1 ] && [ "$((10#$port))" -le 65532 ]; }; then
    echo "error: $port_from '$port': expected a port from 1 to 65532 (the 4 nodes use it to port+3)" >&2
    exit 2
fi
if [ -n "$bin" ] && [ ! -x "$bin" ]; then echo "error: -b '$bin': not an executable file" >&2; exit 2; fi
local_options=(-n 4)
[ -z "$port" ] || local_options+=(-p "$((10#$port))")
[ -z "$dir" ] || local_options+=(-d "$dir")
[ -z "$bin" ] || local_options+=(-b "$bin")

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
exec "$ROOT/scripts/run-local.sh" "${local_options[@]}" -- "${options[@]}" "$@"
