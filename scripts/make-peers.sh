#!/usr/bin/env bash
# Makes N node keys under keys/ and a matching peers file for them on 127.0.0.1.
# Usage: scripts/make-peers.sh [-n N] [-p BASE_PORT] [-o PEERS_FILE] [-k KEY_DIR] [-b GOSSIPNODE_BINARY]
source "$(dirname "$0")/lib.sh"
n=4; port=7101; out="$ROOT/peers/list.txt"; keys="$ROOT/keys"; bin=""
while getopts "n:p:o:k:b:" opt; do
    case $opt in
        n) n=$OPTARG ;; p) port=$OPTARG ;; o) out=$OPTARG ;; k) keys=$OPTARG ;; b) bin=$OPTARG ;;
        *) echo "usage: $0 [-n N] [-p BASE_PORT] [-o PEERS_FILE] [-k KEY_DIR] [-b BINARY]" >&2; exit 2 ;;
    esac
done
[ -n "$bin" ] || bin="$(build_release)"
mkdir -p "$keys" "$(dirname "$out")"
tmp="$(mktemp)"
echo "# gossipnode peers: NAME HOST:PORT PUBLIC_KEY (made by scripts/make-peers.sh)" > "$tmp"
for i in $(seq 1 "$n"); do
    name="node$i"
    pub="$("$bin" keygen --out "$keys/$name.key" --force 2>/dev/null)"
    printf '%-8s 127.0.0.1:%-5d %s\n' "$name" "$((port + i - 1))" "$pub" >> "$tmp"
done
mv "$tmp" "$out"
echo "wrote $n keys to $keys and the peers file $out" >&2
