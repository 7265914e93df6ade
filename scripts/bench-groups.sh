#!/usr/bin/env bash
# Benchmarks the group schedule (SPEC.md §6): deciding rounds 1...R as a node that starts or catches
# up at round R does, against one random grouping per round (the reference, what nodes computed
# before the schedule), in the same run, for N = 8 (K = 4, 1,000,000 rounds), N = 200 (K = 5,
# 10,000 rounds) and N = 1,000 (K = 5, 1,000 rounds). Also reports candidates tried per round and
# windows left unmixed. Ends with one JSON line.
source "$(dirname "$0")/lib.sh"
binary="$(build_release)"
results=()
for size in "8 4 1000000" "200 5 10000" "1000 5 1000"; do
    read -r n k r <<< "$size"
    line="$("$binary" bench-groups --peers "$n" --group-size "$k" --rounds "$r")"
    echo "$line" >&2
    results+=("$line")
done
python3 - "${results[@]}" <<'PY'
import json, sys
runs = [json.loads(a) for a in sys.argv[1:]]
print(json.dumps({"bench": "groups", "runs": runs,
                  "worst_ratio_to_random_groupings": max(r["ratio"] for r in runs),
                  "unmixed_windows": sum(r["unmixed_windows"] for r in runs)}, separators=(",", ":")))
PY
