#!/usr/bin/env bash
# Runs a local gossipnode network on 127.0.0.1: builds a release binary, makes keys and a peers
# file for N nodes, starts them, shows their progress, waits until all stop, prints a summary table
# and exits non-zero if any node failed.
#
# Usage: scripts/run-local.sh [-n NODES] [-p BASE_PORT] [-d RUN_DIR] [-b BINARY] [-- NODE_OPTIONS...]
# Everything after -- is passed to every node (e.g. --model logreg --rounds 20 --dp --noise-multiplier 1).
# Nodes get --threads 1 unless the options set --threads: N nodes share this host's cores, and a
# node's kernel workers spin between forks, so more threads per node only take turns with the others.
source "$(dirname "$0")/lib.sh"
nodes=4; port=7101; dir="$ROOT/runs/local"; bin=""
# An option's value must follow it (a bare trailing -p used to die on "unbound variable").
value() { [ $# -ge 2 ] || { echo "error: $1 needs a value (see -h)" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
    case "$1" in
        -n) value "$@"; nodes=$2; shift 2 ;;
        -p) value "$@"; port=$2; shift 2 ;;
        -d) value "$@"; dir=$2; shift 2 ;;
        -b) value "$@"; bin=$2; shift 2 ;;
        --) shift; break ;;
        -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) break ;;
    esac
done
if ! { [[ $nodes =~ ^[0-9]{1,4}$ ]] && [ "$((10#$nodes))" -ge 1 ] && [ "$((10#$nodes))" -le 1000 ]; }; then
    echo "error: -n '$nodes': expected a number of nodes from 1 to 1000" >&2; exit 2
fi
nodes=$((10#$nodes))
if ! { [[ $port =~ ^[0-9]{1,5}$ ]] && [ "$((10#$port))" -ge 1 ] && [ "$((10#$port + nodes - 1))" -le 65535 ]; }; then
    echo "error: -p '$port': expected a port from 1 to $((65536 - nodes)) (the $nodes nodes use it to port+$((nodes - 1)))" >&2; exit 2
fi
port=$((10#$port))
[ -n "$bin" ] || bin="$(build_release)"
threads=(--threads 1)
for arg in "$@"; do case $arg in --threads|--threads=*) threads=() ;; esac; done
rm -rf "$dir/state" "$dir"/*.jsonl "$dir"/*.log
mkdir -p "$dir"
"$ROOT/scripts/make-peers.sh" -n "$nodes" -p "$port" -o "$dir/peers.txt" -k "$dir/keys" -b "$bin"

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup INT TERM
echo "==> starting $nodes nodes (logs and JSON lines in $dir)"
for i in $(seq 1 "$nodes"); do
    "$bin" run --peers "$dir/peers.txt" --id "node$i" --key "$dir/keys/node$i.key" --state "$dir/state/node$i" \
        --json "${threads[@]}" "$@" > "$dir/node$i.jsonl" 2> "$dir/node$i.log" &
    pids+=($!)
done

field() { sed -n "s/.*\"$2\":\\([^,}]*\\).*/\\1/p" <<< "$1" | tr -d '"'; }
running() { for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && return 0; done; return 1; }
while running; do
    sleep 3
    line=""
    for i in $(seq 1 "$nodes"); do
        last="$(grep '"event":"round"' "$dir/node$i.jsonl" 2>/dev/null | tail -n 1 || true)"
        if [ -n "$last" ]; then
            acc="$(field "$last" test_accuracy)"
            line+="$(printf 'node%s r%s %s  ' "$i" "$(field "$last" round)" "${acc:0:5}")"
        else
            line+="node$i starting  "
        fi
    done
    echo "$line"
done

status=0
for i in "${!pids[@]}"; do wait "${pids[$i]}" || status=1; done
echo
printf '%-8s %-8s %-10s %-8s %-12s %-12s %-8s %s\n' node rounds test-acc epsilon sent received cpu-s reason
for i in $(seq 1 "$nodes"); do
    s="$(grep '"event":"summary"' "$dir/node$i.jsonl" | tail -n 1 || true)"
    if [ -z "$s" ]; then
        printf '%-8s %s\n' "node$i" "FAILED (no summary; see $dir/node$i.log)"; status=1; continue
    fi
    printf '%-8s %-8s %-10s %-8s %-12s %-12s %-8s %s\n' "node$i" "$(field "$s" rounds)" "$(field "$s" test_accuracy | cut -c1-6)" \
        "$(field "$s" epsilon | cut -c1-6)" "$(field "$s" bytes_sent)" "$(field "$s" bytes_received)" "$(field "$s" cpu_seconds | cut -c1-6)" \
        "$(field "$s" reason)"
    case "$(field "$s" reason)" in failed*) status=1 ;; esac
done
exit $status
