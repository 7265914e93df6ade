#!/usr/bin/env bash
# FedProx benchmark: does `--proximal-mu` help under label skew? Simulated networks of 8 nodes
# (MLP 784-256-10, groups of 4, ROUNDS rounds of 100 local steps at lr 0.05, evaluated on 2,000
# sampled test examples), each seed run twice in this run: without the proximal term (the
# reference) and with mu = MU, on dirichlet:ALPHA shards. Figures: the mean test accuracy across
# nodes averaged over the last 10 rounds (single rounds swing by several points under strong
# skew), per seed and over all seeds, the smallest node's final accuracy, and the gain (with -
# without, in accuracy points).
# Environment: MU (0.03), ALPHA (0.1), SEEDS ("1 2 3"), ROUNDS (30). Needs Debian's
# dataset-fashion-mnist (installed if possible). Writes the runs to .bench/fedprox/. Ends with
# one JSON line.
source "$(dirname "$0")/lib.sh"
ensure_packages dataset-fashion-mnist python3 || true
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || { echo "error: needs dataset-fashion-mnist" >&2; exit 1; }
bin="$(build_release)"
mu=${MU:-0.03}; alpha=${ALPHA:-0.1}; seeds=${SEEDS:-1 2 3}; rounds=${ROUNDS:-30}
out="$ROOT/.bench/fedprox"; mkdir -p "$out"
for seed in $seeds; do
    for m in 0 "$mu"; do
        echo "==> seed $seed, proximal mu $m" >&2
        "$bin" simulate --nodes 8 --group-size 4 --rounds "$rounds" --local-steps 100 --lr 0.05 --model mlp:256 \
            --data-partition "dirichlet:$alpha" --patience 32 --tolerance 0 --eval-examples 2000 --seed "$seed" \
            --proximal-mu "$m" --json > "$out/seed$seed-mu$m.jsonl"
    done
done
python3 - "$out" "$mu" "$alpha" "$rounds" $seeds <<'PY'
import json, sys
out, mu, alpha, rounds, seeds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5:]
def figures(path):
    events = [json.loads(line) for line in open(path)]
    accuracies = [e["test_accuracy_mean"] for e in events if e.get("event") == "round" and e.get("test_accuracy_mean") is not None]
    summary = next(e for e in events if e.get("event") == "summary")
    return sum(accuracies[-10:]) / len(accuracies[-10:]), summary["test_accuracy_min"]
rows = []
for seed in seeds:
    (ref, ref_min), (prox, prox_min) = figures(f"{out}/seed{seed}-mu0.jsonl"), figures(f"{out}/seed{seed}-mu{mu}.jsonl")
    rows.append({"seed": int(seed), "last10_mean_without": round(ref, 4), "last10_mean_with": round(prox, 4),
                 "final_min_without": ref_min, "final_min_with": prox_min, "gain_points": round(100 * (prox - ref), 2)})
    print(f"seed {seed}: last-10-round mean accuracy {ref:.4f} without, {prox:.4f} with mu {mu} "
          f"({100 * (prox - ref):+.2f} points); final min {ref_min} / {prox_min}", file=sys.stderr)
ref = sum(r["last10_mean_without"] for r in rows) / len(rows)
prox = sum(r["last10_mean_with"] for r in rows) / len(rows)
print(json.dumps({"bench": "fedprox", "nodes": 8, "group_size": 4, "rounds": rounds, "partition": f"dirichlet:{alpha}",
                  "proximal_mu": float(mu), "runs": rows, "reference_last10_mean": round(ref, 4),
                  "proximal_last10_mean": round(prox, 4), "gain_points": round(100 * (prox - ref), 2),
                  "ratio": round(prox / ref, 4), "seeds_improved": sum(r["gain_points"] > 0 for r in rows)}))
PY
