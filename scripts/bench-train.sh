#!/usr/bin/env bash
# Training benchmark (issue 3 and the DP-SGD part of issue 4), everything measured in this run:
#  - samples/s of MLP 784-256-10, batch 64, on 1 and 2 threads (best of $REPEATS interleaved one-epoch runs),
#    against PyTorch CPU on the same threads (ratio >= 1.0 at one thread; 2 threads >= 1.6x one);
#  - DP-SGD samples/s (expected batch 64) against our plain training (>= 0.7x) and Opacus (>= 2x);
#  - test accuracy on full Fashion-MNIST: logreg (>= 84%), MLP (>= 89%) in 10 epochs, and DP-SGD MLP
#    at epsilon = 3, delta = 1e-5 in 15 epochs (>= 84%), all with fixed seeds;
#  - peak RSS of the 10-epoch MLP run (< 300 MB);
#  - the CNN (cnn = cnn:16,32:128): samples/s on 1 and 2 threads against PyTorch's same network
#    (best of $CNN_REPEATS), and its test accuracy after 10 epochs (no target: the issue's are the MLP's).
# Ends with one JSON line. PyTorch and Opacus are pip-installed into .bench/venv (skipped with a
# message if that fails). Usage: scripts/bench-train.sh [--quick]  (--quick: throughput only)
source "$(dirname "$0")/lib.sh"
REPEATS="${REPEATS:-7}"
CNN_REPEATS="${CNN_REPEATS:-3}"
QUICK=0; [ "${1:-}" = "--quick" ] && QUICK=1
BIN="$(build_release)"
DATA=/usr/share/datasets/fashion-mnist
[ -f "$DATA/train-images-idx3-ubyte.gz" ] || ensure_packages dataset-fashion-mnist || true
if [ ! -f "$DATA/train-images-idx3-ubyte.gz" ]; then
    echo "warning: full Fashion-MNIST unavailable; using the committed subset (accuracy targets do not apply)" >&2
    DATA="$ROOT/data/fashion-mnist-subset"
fi

# --- reference: PyTorch (+ Opacus) in .bench/venv ---------------------------------------------
VENV="$ROOT/.bench/venv"
TORCH=1
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
    echo "==> installing torch and opacus into .bench/venv (large download)" >&2
    python3 -m venv "$VENV" && "$VENV/bin/pip" install -q torch opacus numpy >&2 || TORCH=0
fi
"$VENV/bin/python" -c "import torch" 2>/dev/null || TORCH=0
[ "$TORCH" = 1 ] || echo "warning: PyTorch could not be installed; the reference comparison is skipped" >&2

# samples/s of the last epoch of `gossipnode train` with the given flags (one run; one epoch
# unless the flags start with --epochs N).
ours() {
    local epochs=1; [ "${1:-}" = "--epochs" ] && { epochs=$2; shift 2; }
    "$BIN" train --data "fashion-mnist:$DATA" --model "${MODEL:-mlp:256}" --batch-size 64 --epochs "$epochs" --eval-every 0 --json "$@" \
        | python3 -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["samples_per_second"])'
}
max() { python3 -c "print(max($1, $2))"; }
# The machine's own ceiling for 2 threads: two independent 1-thread trainings at once (second
# epoch of each, when both are surely training), their samples/s added.
pair() {
    local a b
    a=$(mktemp); b=$(mktemp)
    ours --epochs 2 --threads 1 > "$a" & ours --epochs 2 --threads 1 > "$b"; wait
    python3 -c "print($(cat "$a") + $(cat "$b"))"; rm -f "$a" "$b"
}
# Best-of-REPEATS PyTorch figures at a thread count, plus one Opacus measurement (100 steps:
# Opacus is ~100x slower), as a JSON object. With a second argument cnn: the CNN, best of
# CNN_REPEATS, 300 steps each, without Opacus.
reference() {
    local best='{}' dp_steps=100 steps=2000 repeats=$REPEATS
    [ "${2:-mlp}" = cnn ] && { dp_steps=0; steps=300; repeats=$CNN_REPEATS; }
    for _ in $(seq "$repeats"); do
        out=$("$VENV/bin/python" "$ROOT/scripts/bench/torch_train.py" "$DATA" "$1" 64 "$steps" "$dp_steps" "${2:-mlp}" 2>/dev/null) || return 0
        best=$(python3 -c "import json,sys; a=json.loads(sys.argv[1]); b=json.loads(sys.argv[2]); k='torch_samples_per_s'
m=dict(b if a.get(k,0) < b[k] else a)
for key in ('opacus_samples_per_s','opacus_error'):
    v=a.get(key) or b.get(key)
    if v is not None: m[key]=v
print(json.dumps(m))" "$best" "$out")
        dp_steps=0
    done
    echo "$best"
}

echo "==> throughput (kernels: $("$BIN" train --data "fashion-mnist:$ROOT/data/fashion-mnist-subset" --epochs 1 --model logreg | head -1 | sed 's/.*kernels: //'))" >&2
# Best of REPEATS for each configuration, the configurations interleaved so that a busy spell on
# this shared machine hits all of them rather than skewing one ratio.
OURS1=0; OURS2=0; OURS2_DISPATCH=0; DP1=0; DP2=0; PAIR=0
for _ in $(seq "$REPEATS"); do
    OURS1=$(max "$OURS1" "$(ours --threads 1)")
    OURS2=$(max "$OURS2" "$(ours --threads 2)")
    # Forks on Dispatch instead of the spinning worker pool.
    OURS2_DISPATCH=$(max "$OURS2_DISPATCH" "$(GOSSIPNODE_KERNEL_POOL=0 ours --threads 2)")
    DP1=$(max "$DP1" "$(ours --threads 1 --dp --noise-multiplier 1 --clip-norm 1)")
    DP2=$(max "$DP2" "$(ours --threads 2 --dp --noise-multiplier 1 --clip-norm 1)")
    PAIR=$(max "$PAIR" "$(pair)")
done
echo "ours: 1 thread $OURS1, 2 threads $OURS2 (forking on Dispatch: $OURS2_DISPATCH; two 1-thread processes: $PAIR); DP-SGD: $DP1, $DP2 samples/s" >&2
REF1='{}'; REF2='{}'
if [ "$TORCH" = 1 ]; then
    REF1=$(reference 1); REF2=$(reference 2)
    echo "pytorch: 1 thread $REF1; 2 threads $REF2" >&2
fi

# --- accuracy and memory on the full data -------------------------------------------------------
ACC_LOGREG=null; ACC_MLP=null; ACC_DP=null; EPS_DP=null; RSS=null
final() { python3 -c 'import json,sys; r=json.loads(sys.stdin.read().strip().splitlines()[-1]); print(r.get(sys.argv[1], "null"))' "$1"; }
if [ "$QUICK" = 0 ]; then
    echo "==> accuracy: logreg, MLP (10 epochs), DP-SGD MLP at epsilon 3 (15 epochs, expected batch 1024)" >&2
    ACC_LOGREG=$("$BIN" train --data "fashion-mnist:$DATA" --model logreg --standardize --lr 0.01 --lr-schedule cosine --epochs 10 --eval-every 10 --seed 1 --json | final test_accuracy)
    # Peak RSS of the MLP run, from the kernel's rusage of the child.
    MLP_OUT=$(python3 - "$BIN" "$DATA" <<'PY'
import resource, subprocess, sys
out = subprocess.run([sys.argv[1], "train", "--data", "fashion-mnist:" + sys.argv[2], "--model", "mlp:256", "--standardize",
                      "--lr", "0.02", "--lr-schedule", "cosine", "--epochs", "10", "--eval-every", "10", "--seed", "1", "--json"],
                     check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
print(out)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
PY
)
    ACC_MLP=$(echo "$MLP_OUT" | head -1 | final test_accuracy)
    RSS=$(echo "$MLP_OUT" | tail -1)
    DP_OUT=$("$BIN" train --data "fashion-mnist:$DATA" --model mlp:256 --standardize --dp --target-epsilon 3 --delta 1e-5 --clip-norm 1 \
        --batch-size 1024 --lr 0.2 --lr-schedule cosine --epochs 15 --eval-every 15 --seed 1 --json | tail -1)
    ACC_DP=$(echo "$DP_OUT" | final test_accuracy); EPS_DP=$(echo "$DP_OUT" | final epsilon)
    echo "accuracy: logreg $ACC_LOGREG, MLP $ACC_MLP, DP MLP $ACC_DP at epsilon $EPS_DP; peak RSS $RSS MB" >&2
fi

# --- the CNN ----------------------------------------------------------------------------------------
CNN1=0; CNN2=0; CNN_REF1='{}'; CNN_REF2='{}'; ACC_CNN=null
for _ in $(seq "$CNN_REPEATS"); do
    CNN1=$(max "$CNN1" "$(MODEL=cnn ours --threads 1)")
    CNN2=$(max "$CNN2" "$(MODEL=cnn ours --threads 2)")
done
[ "$TORCH" = 1 ] && { CNN_REF1=$(reference 1 cnn); CNN_REF2=$(reference 2 cnn); }
echo "cnn: 1 thread $CNN1, 2 threads $CNN2 samples/s; pytorch: $CNN_REF1 $CNN_REF2" >&2
if [ "$QUICK" = 0 ]; then
    ACC_CNN=$("$BIN" train --data "fashion-mnist:$DATA" --model cnn --lr 0.05 --lr-schedule cosine --epochs 10 --eval-every 10 \
        --seed 1 --threads 2 --json | final test_accuracy)
    echo "accuracy: cnn $ACC_CNN" >&2
fi

python3 - "$OURS1" "$OURS2" "$DP1" "$DP2" "$REF1" "$REF2" "$ACC_LOGREG" "$ACC_MLP" "$ACC_DP" "$EPS_DP" "$RSS" "$OURS2_DISPATCH" "$PAIR" "$CNN1" "$CNN2" "$CNN_REF1" "$CNN_REF2" "$ACC_CNN" <<'PY'
import json, sys
o1, o2, d1, d2 = (float(x) for x in sys.argv[1:5])
o2d, pair = float(sys.argv[12]), float(sys.argv[13])
r1, r2 = json.loads(sys.argv[5]), json.loads(sys.argv[6])
num = lambda s: None if s in ("null", "None", "") else round(float(s), 4)
t1, t2 = r1.get("torch_samples_per_s"), r2.get("torch_samples_per_s")
op1 = r1.get("opacus_samples_per_s")
ratio = lambda a, b: round(a / b, 3) if a and b else None
print(json.dumps({
    "bench": "train", "model": "mlp:256", "batch": 64,
    "ours_1t_samples_s": round(o1), "ours_2t_samples_s": round(o2), "scaling_2t": ratio(o2, o1),
    "ours_2t_dispatch_samples_s": round(o2d), "scaling_2t_dispatch": ratio(o2d, o1),
    # Two independent 1-thread processes: what this machine's two cores give without any sharing.
    "two_processes_samples_s": round(pair), "machine_scaling_2t": ratio(pair, o1), "parallel_efficiency_2t": ratio(o2, pair),
    "torch_1t_samples_s": t1, "torch_2t_samples_s": t2, "ratio_1t": ratio(o1, t1), "ratio_2t": ratio(o2, t2),
    "dp_1t_samples_s": round(d1), "dp_2t_samples_s": round(d2), "dp_vs_plain_1t": ratio(d1, o1), "dp_vs_plain_2t": ratio(d2, o2),
    "opacus_1t_samples_s": op1, "dp_vs_opacus_1t": ratio(d1, op1),
    "acc_logreg": num(sys.argv[7]), "acc_mlp": num(sys.argv[8]), "acc_dp_mlp": num(sys.argv[9]), "dp_epsilon": num(sys.argv[10]),
    "peak_rss_mb": num(sys.argv[11]),
    "cnn": (lambda c1, c2, t1, t2: {
        "model": "cnn:16,32:128", "ours_1t_samples_s": round(c1), "ours_2t_samples_s": round(c2), "scaling_2t": ratio(c2, c1),
        "torch_1t_samples_s": t1, "torch_2t_samples_s": t2, "ratio_1t": ratio(c1, t1), "ratio_2t": ratio(c2, t2),
        "accuracy_10_epochs": num(sys.argv[18])})(float(sys.argv[14]), float(sys.argv[15]),
        json.loads(sys.argv[16]).get("torch_samples_per_s"), json.loads(sys.argv[17]).get("torch_samples_per_s")),
    # Other work on this machine skews every figure (the 2-thread ones most): recorded for honesty.
    "load_avg_1m_at_end": float(open("/proc/loadavg").read().split()[0]),
    "targets": {"ratio_1t": 1.0, "scaling_2t": 1.6, "dp_vs_plain": 0.7, "dp_vs_opacus": 2.0,
                "acc_logreg": 0.84, "acc_mlp": 0.89, "acc_dp_mlp": 0.84, "peak_rss_mb": 300},
}))
PY
