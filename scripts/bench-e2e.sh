#!/usr/bin/env bash
# End-to-end benchmark (issue 6 targets), all in one run on this machine:
#   1. reference: centralised 'gossipnode train' (MLP 784-256-10, 2 threads): time to 85% test accuracy
#      in three runs;
#   2. 8 real nodes on loopback, iid shards, three times: final accuracy of every node, time to 85%
#      (mean over nodes), stop-round spread. The nodes do not evaluate during the run (--eval-every 0):
#      each keeps its round models (--keep-round-models) and 'gossipnode eval' scores them afterwards,
#      so evaluation takes no CPU from training; the reference's time leaves its evaluation out too.
#      This shared host's load moves either side's time by up to 1.7x between runs, so the time ratio
#      compares the median of three runs on each side (and the fastest with the fastest);
#   3. the same with label skew (dirichlet:0.5), evaluated during the run;
#   4. the same with DP-SGD at ε = 3, δ = 1e-5 per node;
#   5. the transport benchmark (4 MiB message vs raw UDP; bytes under 10% loss).
# Besides wall time, it compares CPU seconds (every node's, until the round at 85%) with a one-thread
# 'train' run to the same epoch: the work decentralisation costs, whatever else loads the host.
# Needs Debian's dataset-fashion-mnist (installed if possible). Ends with one JSON line.
# Environment: NODES (8), ROUNDS (60), STEPS (100 local steps per round), DP_ROUNDS (40), DP_STEPS (100),
# GROUP (4), RUNS ("iid dirichlet dp": which networks to run), IID_REPEATS (3: iid networks timed),
# EXTRA (more options for every node, e.g. "--mtu 65000"), SKIP_TRANSPORT=1.
# At lr 0.05, a cosine schedule over 60 rounds keeps the early rounds near the full rate (85% after
# about 300k examples) and ends above 88%; over 20-40 rounds the iid floor of 88% was only just met.
# STEPS=50 ROUNDS=120 reaches 85% after fewer examples (204k-307k, rounds 8-12) but not sooner
# (2.0-3.3 s over eleven runs against 2.4-3.1 s), and ends lower (88.5%-89.3%).
source "$(dirname "$0")/lib.sh"
ensure_packages dataset-fashion-mnist python3 || true
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || { echo "error: needs dataset-fashion-mnist" >&2; exit 1; }
bin="$(build_release)"
nodes=${NODES:-8}; rounds=${ROUNDS:-60}; steps=${STEPS:-100}; repeats=${IID_REPEATS:-3}; group=${GROUP:-4}; dp_rounds=${DP_ROUNDS:-40}; dp_steps=${DP_STEPS:-100}
out="$ROOT/runs/bench-e2e"; mkdir -p "$out"
common=(--model mlp:256 --group-size "$group" --threads 1 --lr-schedule cosine ${EXTRA:-})

echo "==> reference: centralised training, 2 threads" >&2
"$bin" train --model mlp:256 --epochs 10 --threads 2 --json > "$out/train.jsonl"
# Repeats for timing only: at the default constant rate the first epochs do not depend on --epochs.
for repeat in 2 3; do "$bin" train --model mlp:256 --epochs 4 --threads 2 --json > "$out/train$repeat.jsonl"; done
# CPU reference: one thread, so no kernel worker spins between forks and its CPU time is all work.
"$bin" train --model mlp:256 --epochs 4 --threads 1 --json > "$out/train-cpu.jsonl"

runs=" ${RUNS:-iid dirichlet dp} "
run_network() { # name, extra options...
    local name=$1; shift
    [[ "$runs" == *" $name "* ]] || { rm -rf "${out:?}/$name"; return 0; }
    echo "==> $nodes nodes: $name" >&2
    "$ROOT/scripts/run-local.sh" -n "$nodes" -p 7501 -d "$out/$name" -b "$bin" -- "${common[@]}" "$@" >&2 || true
}
# Slow momentum (SPEC.md §8) helps iid data; under label skew it stopped sooner and lower (simulated:
# every node at 85.8% after 35 rounds against 87.8% after 60 without), and with DP noise it ended
# lower (81.4% against 82.7%), so those runs average plainly.
iid=(--rounds "$rounds" --local-steps "$steps" --lr 0.05 --slow-momentum 0.5 --eval-every 0 --keep-round-models)
run_network iid "${iid[@]}"
# Repeats for timing (and their accuracies): iid2, iid3, ...
rm -rf "${out:?}"/iid[0-9]*
for ((repeat = 2; repeat <= repeats; repeat++)); do
    if [[ "$runs" == *" iid "* ]]; then runs="$runs iid$repeat "; fi
    run_network "iid$repeat" "${iid[@]}"
done
run_network dirichlet --rounds "$rounds" --local-steps "$steps" --lr 0.05 --partition dirichlet:0.5
# DP runs to its budget: validation loss under DP noise is too noisy for early stopping. Half the
# rounds (the same ε over 2000 steps, so less noise per step) ended lower: 82.0%, 81.9% against 83.2%.
run_network dp --rounds "$dp_rounds" --local-steps "$dp_steps" --lr 0.08 --dp --target-epsilon 3 --epsilon 3 --delta 1e-5 --batch-size 256 \
    --clip-norm 1 --patience 32

transport="{}"
if [ "${SKIP_TRANSPORT:-0}" != 1 ]; then
    echo "==> transport" >&2
    transport="$("$bin" bench-transport | tail -n 1)"
fi

settings="rounds=$rounds steps=$steps dp_rounds=$dp_rounds dp_steps=$dp_steps group=$group extra=${EXTRA:-}"
summary="$(python3 - "$out" "$nodes" "$transport" "$bin" "$settings" <<'PY'
import json, sys, glob, os, subprocess
out, nodes, transport, binary = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3] or "{}"), sys.argv[4]
settings = dict(item.split("=", 1) for item in sys.argv[5].split(" ", 5))
def lines(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.startswith("{")]
train = lines(f"{out}/train.jsonl")
def first_at_85(events):
    return next((e for e in events if e.get("test_accuracy", 0) >= 0.85), None)
reached = first_at_85(train)
repeats = [first_at_85(lines(f"{out}/train{i}.jsonl")) for i in (2, 3)]
candidates = [e for e in [reached] + repeats if e and reached and e["epoch"] == reached["epoch"]]
def median(values):
    values = sorted(v for v in values if v is not None)
    return (values[(len(values) - 1) // 2] + values[len(values) // 2]) / 2 if values else None
ref_times = [e["elapsed_s"] - e.get("evaluation_s", 0) for e in candidates]
ref_training, ref_fastest = median(ref_times), min(ref_times, default=None)
# Training examples processed until 85% (batch 64 in train and in the plain networks, 256 with DP):
# the decentralised run must process its examples on the same two cores, so the ratio of examples
# bounds from below what any transport or aggregation speed-up could make of the time ratio.
ref_examples = reached and 64 * sum(e["steps"] for e in train if e["epoch"] <= reached["epoch"])
# CPU seconds (every thread, evaluation excluded) the one-thread reference used up to the epoch where
# the 2-thread run reached 85%: the work a network's CPU time is compared with, whatever the host's load.
cpu_run = next((e for e in lines(f"{out}/train-cpu.jsonl") if reached and e["epoch"] == reached["epoch"]), None)
ref_cpu = cpu_run and cpu_run["cpu_s"] - cpu_run["evaluation_cpu_s"]
result = {"bench": "e2e", "nodes": nodes, "settings": settings, "train_time_to_85_excluding_evaluation_s": ref_training,
          "train_times_to_85_excluding_evaluation_s": [round(t, 3) for t in ref_times],
          "train_examples_to_85": ref_examples, "train_cpu_to_85_s": ref_cpu, "train_final_accuracy": train[-1].get("test_accuracy")}
names = sorted((os.path.basename(d) for d in glob.glob(f"{out}/iid*")), key=lambda n: (len(n), n)) + ["dirichlet", "dp"]
for name in names:
    per_node = [lines(p) for p in sorted(glob.glob(f"{out}/{name}/node*.jsonl"))]
    if not per_node:
        continue  # not selected by RUNS
    batch = 256 if name == "dp" else 64
    rounds, steps, cpu = {}, {}, {}
    evaluation = [0.0] * len(per_node)
    for i, events in enumerate(per_node):
        for e in events:
            if e.get("event") != "round":
                continue
            evaluation[i] += e.get("evaluation_seconds") or 0
            rounds.setdefault(e["round"], []).append((e.get("test_accuracy"), e["elapsed"], e["elapsed"] - evaluation[i], i + 1))
            cpu.setdefault(e["round"], []).append(e.get("cpu_seconds") or 0)
            steps.setdefault(e["round"], []).append(e.get("local_steps") or 0)
    offline = glob.glob(f"{out}/{name}/state/node1/rounds/*.model") != []
    def accuracies_of(r):
        rows = rounds[r]
        if not offline:
            return [a for a, _, _, _ in rows if a is not None]
        # Score the round's kept models now, round by round until one reaches 85%.
        scores = []
        for *_, node in rows:
            model = f"{out}/{name}/state/node{node}/rounds/round-{r:06d}.model"
            result = subprocess.run([binary, "eval", "--model", model, "--json"], capture_output=True, text=True, check=True)
            scores.append(json.loads(result.stdout)["accuracy"])
        return scores
    reach, reach_training, examples, last_round, reach_cpu = None, None, None, None, None
    for r in sorted(rounds):
        rows = rounds[r]
        if len(rows) < len(per_node):
            continue
        accuracies = accuracies_of(r)
        if accuracies and sum(accuracies) / len(accuracies) >= 0.85:
            reach = max(t for _, t, _, _ in rows); reach_training = max(t for _, _, t, _ in rows)
            examples = batch * sum(sum(s) for q, s in steps.items() if q <= r); last_round = r
            reach_cpu = sum(cpu[r]); break
    # Where a round's wall time went, per node and round, in the rounds up to 85% (or all): local
    # training, waiting for the group plus secure aggregation, and test-set evaluation.
    parts = {"training": [], "aggregation": [], "evaluation": []}
    for events in per_node:
        for e in events:
            if e.get("event") == "round" and (last_round is None or e["round"] <= last_round):
                for k in parts:
                    parts[k].append(e.get(f"{k}_seconds") or 0)
    seconds_per_round = {k: round(sum(v) / len(v), 4) if v else None for k, v in parts.items()}
    summaries = [next((e for e in reversed(ev) if e.get("event") == "summary"), {}) for ev in per_node]
    accuracies = [s.get("test_accuracy") for s in summaries]
    stops = [s.get("rounds") for s in summaries if s.get("rounds") is not None]
    plain = name != "dp"
    result[name] = {
        "min_accuracy": min((a for a in accuracies if a is not None), default=None),
        "accuracies": accuracies,
        "epsilon_max": max((s.get("epsilon") or 0 for s in summaries), default=None),
        "stop_rounds": stops, "stop_spread": (max(stops) - min(stops)) if stops else None,
        "evaluated": "afterwards, from kept round models" if offline else "during the run",
        "time_to_85_s": reach, "time_to_85_excluding_evaluation_s": reach_training,
        "ratio_to_train_excluding_evaluation": (reach_training / ref_training) if reach_training and ref_training else None,
        "examples_to_85": examples, "reached_at_round": last_round,
        # Every node's CPU seconds (training, protocol, checkpoints) until that round, against the
        # one-thread reference's: what decentralisation costs in work, apart from the host's load.
        "cpu_to_85_s": reach_cpu, "cpu_ratio_to_train": (reach_cpu / ref_cpu) if reach_cpu and ref_cpu and plain else None,
        "seconds_per_round": seconds_per_round,
        "examples_ratio_to_train": (examples / ref_examples) if examples and ref_examples and plain else None,
    }
# The time target compares like with like: neither side's time includes test-set evaluation, and
# each side is the median of its runs (the fastest against the fastest is printed too).
iid_times = [result[n]["time_to_85_excluding_evaluation_s"] for n in names if n.startswith("iid") and n in result]
result["iid_times_to_85_excluding_evaluation_s"] = [t and round(t, 3) for t in iid_times]
network_median = median(iid_times) if iid_times and None not in iid_times else None
result["time_ratio"] = network_median / ref_training if network_median and ref_training else None
result["time_ratio_fastest"] = min(iid_times) / ref_fastest if iid_times and None not in iid_times and ref_fastest else None
result["iid_min_accuracy"] = min((result[n]["min_accuracy"] for n in names if n.startswith("iid") and n in result
                                  and result[n]["min_accuracy"] is not None), default=None)
result["targets"] = {"iid_min_accuracy": 0.88, "dirichlet_min_accuracy": 0.85, "dp_min_accuracy": 0.82,
                     "time_ratio": 1.5, "stop_spread": 1}
result["transport"] = transport
print(json.dumps(result, separators=(",", ":")))
PY
)"
# The kept round models (814 KB per node and round) have been scored; the JSON lines stay.
rm -rf "$out"/*/state/*/rounds
echo "$summary"
