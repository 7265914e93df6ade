#!/usr/bin/env bash
# A seeded series of kill/restart trials against 8 real nodes (scripts/kill-trial.py, checked by
# scripts/kill-trial-check.py): random victim, kill round 4-12, kill delay 0 s, 0-0.15 s or
# 0.02-0.05 s after the victim's round line, downtime 0.1-6 s, half with DP, half with a victim that
# trains 5 local steps (so a kill ~30 ms after its round line lands after it advertised). Prints one
# line per trial and ends with one JSON line; exits 1 if any trial has an anomaly.
# Usage: scripts/kill-trials.sh [TRIALS (16)] [SEED (20261130)] [DIR (runs/kill-trials)]
source "$(dirname "$0")/lib.sh"
trials=${1:-16}; seed=${2:-20261130}; dir=${3:-$ROOT/runs/kill-trials}
export GOSSIPNODE_BIN="$(build_release)"
mkdir -p "$dir"
python3 - "$trials" "$seed" <<'PY' > "$dir/plan.txt"
import random, sys
rng = random.Random(int(sys.argv[2]))
for i in range(int(sys.argv[1])):
    v = rng.randint(1, 8); kr = rng.randint(4, 12)
    dl = round(rng.choice([0, rng.uniform(0, 0.15), rng.uniform(0.02, 0.05)]), 3)
    dn = rng.choice([0.1, 0.3, 1, 3, 6]); dp = rng.random() < 0.5; vs = rng.choice([0, 5])
    print(i, v, kr, dl, dn, int(dp), vs)
PY
status=0
while read -r i v kr dl dn dp vs; do
    extra=(); [ "$dp" = 1 ] && extra+=(--dp); [ "$vs" != 0 ] && extra+=(--victim-steps "$vs")
    "$ROOT/scripts/kill-trial.py" --dir "$dir/t$i" --victim "$v" --kill-after-round "$kr" --delay "$dl" --down "$dn" \
        --steps 200 --rounds 40 "${extra[@]}" > /dev/null 2>&1 || status=1
    "$ROOT/scripts/kill-trial-check.py" "$dir/t$i" > "$dir/t$i.check.json" || status=1
    python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(f\"trial $i: victim node$v killed after round $kr +${dl}s, down ${dn}s, dp=$dp, victim steps ${vs}: lost {r['lost']}, its failed rounds {len(r['victim_fails'])}, survivor failures {len(r['survivor_fails'])}, rejoined after {r['rejoin_elapsed_s']} s, anomalies {r['anomalies']}\")" "$dir/t$i.check.json" >&2
done < "$dir/plan.txt"
python3 - "$dir" <<'PY'
import json, glob, sys
checks = [json.load(open(p)) for p in sorted(glob.glob(f"{sys.argv[1]}/t*.check.json"))]
print(json.dumps({"bench": "kill-trials", "trials": len(checks),
                  "with_anomalies": sum(1 for c in checks if c["anomalies"]),
                  "survivor_failed_rounds": sum(len(c["survivor_fails"]) for c in checks),
                  "victim_failed_rounds_max": max((len(c["victim_fails"]) for c in checks), default=None),
                  "rejoin_s_max": max((c["rejoin_elapsed_s"] or 0 for c in checks), default=None)}, separators=(",", ":")))
PY
exit $status
