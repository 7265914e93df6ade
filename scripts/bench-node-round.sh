#!/usr/bin/env bash
# What a node's round costs in CPU on real processes: 8 nodes on loopback (MLP 784-256-10, groups
# of 4, 50 local steps a round, no test-set evaluation) for ROUNDS rounds, in PAIRS alternating
# pairs of runs: as shipped, and with GOSSIPNODE_MALLOC_TUNING=0 (the C allocator's defaults: the
# reference for `run`'s allocator setting). Figures are every node's CPU seconds over its rounds,
# per node and round, so the host's other load matters less than for wall time; each side's figure
# is its median run. Environment: NODES (8), ROUNDS (30), STEPS (50), PAIRS (4). Needs Debian's
# dataset-fashion-mnist (installed if possible). Ends with one JSON line.
source "$(dirname "$0")/lib.sh"
ensure_packages dataset-fashion-mnist python3 || true
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || { echo "error: needs dataset-fashion-mnist" >&2; exit 1; }
bin="$(build_release)"
nodes=${NODES:-8}; rounds=${ROUNDS:-30}; steps=${STEPS:-50}; pairs=${PAIRS:-4}
out="$ROOT/runs/bench-node-round"; rm -rf "$out"; mkdir -p "$out"
run() { # directory, environment assignments...
    local dir=$1; shift
    env "$@" "$ROOT/scripts/run-local.sh" -n "$nodes" -p 7801 -d "$dir" -b "$bin" -- --model mlp:256 --group-size 4 \
        --threads 1 --rounds "$rounds" --local-steps "$steps" --lr 0.05 --slow-momentum 0.5 --eval-every 0 --patience 32 >&2
}
for ((pair = 1; pair <= pairs; pair++)); do
    echo "==> pair $pair of $pairs" >&2
    run "$out/tuned$pair" GOSSIPNODE_MALLOC_TUNING=1
    run "$out/reference$pair" GOSSIPNODE_MALLOC_TUNING=0
done
python3 - "$out" "$nodes" "$rounds" "$steps" <<'PY'
import glob, json, statistics, sys
out, nodes, rounds, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def figures(kind):
    cpu, wall = [], []
    for d in sorted(glob.glob(f"{out}/{kind}[0-9]*")):
        total, count, longest = 0.0, 0, 0.0
        for path in glob.glob(f"{d}/node*.jsonl"):
            reports = [json.loads(l) for l in open(path) if l.startswith('{"event":"round"')]
            total += reports[-1]["cpu_seconds"]; count += len(reports); longest = max(longest, reports[-1]["elapsed"])
        cpu.append(round(1e3 * total / count, 2)); wall.append(round(longest, 3))
    return cpu, wall
cpu, wall = figures("tuned")
ref_cpu, ref_wall = figures("reference")
print(json.dumps({"bench": "node-round", "nodes": nodes, "rounds": rounds, "local_steps": steps,
                  "cpu_ms_per_node_round": cpu, "wall_s": wall,
                  "reference_cpu_ms_per_node_round": ref_cpu, "reference_wall_s": ref_wall,
                  "cpu_ratio": round(statistics.median(cpu) / statistics.median(ref_cpu), 4),
                  "wall_ratio": round(statistics.median(wall) / statistics.median(ref_wall), 4)}, separators=(",", ":")))
PY
