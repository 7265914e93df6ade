#!/usr/bin/env bash
# Benchmarks the Rényi-DP accountant against Google's dp-accounting, measured in this run:
# ε over the reference grid (max relative error, time for the whole grid) and the noise
# calibration for the TF-Privacy MNIST setup (q = 256/60000, 14062 steps, ε = 3, δ = 1e-5).
# Ends with one JSON line. Without dp-accounting it compares against the committed table
# data/privacy-reference.csv and reports no reference timing.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/privacy-venv.sh"
binary="$(build_release)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.4g\", $1 }"; }
grid="$work/grid.csv"
cut -d, -f1-4 "$ROOT/data/privacy-reference.csv" > "$grid"

calibration=(0.004266666666666667 14062 3 1e-5)
if ensure_privacy_venv; then
    reference_name="dp-accounting $("$PRIVACY_PYTHON" -c 'import importlib.metadata as m; print(m.version("dp-accounting"))')"
    "$PRIVACY_PYTHON" "$ROOT/scripts/privacy-reference.py" --time < "$grid" > "$work/reference.csv" 2> "$work/reference.err"
    reference_s="$(sed -n 's/^seconds=//p' "$work/reference.err")"
    read -r ref_sigma ref_cal_s < <("$PRIVACY_PYTHON" "$ROOT/scripts/privacy-reference.py" --calibrate "${calibration[@]}" 2>/dev/null \
        | sed 's/sigma=\([^ ]*\) seconds=\(.*\)/\1 \2/')
else
    echo "note: dp-accounting unavailable; comparing with the committed table, no reference timing" >&2
    reference_name="committed table"
    cp "$ROOT/data/privacy-reference.csv" "$work/reference.csv"
    reference_s=null ref_sigma=null ref_cal_s=null
fi

start="$(now)"
"$binary" privacy --table "$grid" > "$work/ours.csv"
ours_s="$(calc "$(now) - $start")"
start="$(now)"
our_sigma="$("$binary" privacy --sampling-rate "${calibration[0]}" --steps "${calibration[1]}" \
    --epsilon "${calibration[2]}" --delta "${calibration[3]}" --json | sed 's/.*"noise_multiplier":\([^,}]*\).*/\1/')"
our_cal_s="$(calc "$(now) - $start")"

# Row by row: relative error where the reference ε is positive; both must be 0 otherwise.
read -r rows max_error worst_row misses < <(paste -d, "$work/ours.csv" "$work/reference.csv" | awk -F, '
    NR > 1 {
        rows++; ours = $5; ref = $11
        if (ref == 0) { error = (ours == 0) ? 0 : 1 } else { error = (ours > ref ? ours - ref : ref - ours) / ref }
        if (error > 0.01) misses++
        if (error > max) { max = error; worst = "q=" $1 ",sigma=" $2 ",steps=" $3 ",delta=" $4 }
    }
    END { printf "%d %.3g %s %d\n", rows, max, (worst == "" ? "none" : worst), misses }')

ratio=null
[ "$reference_s" != null ] && ratio="$(calc "$ours_s / $reference_s")"
sigma_error=null
[ "$ref_sigma" != null ] && sigma_error="$(calc "($our_sigma - $ref_sigma) / $ref_sigma")"
printf '{"bench":"privacy-accountant","reference":"%s","rows":%d,"rows_over_1pct":%d,"max_rel_error":%s,"worst_row":"%s","ours_s":%s,"reference_s":%s,"ratio":%s,"calibrate_sigma":%s,"reference_sigma":%s,"sigma_rel_diff":%s,"calibrate_ours_s":%s,"calibrate_reference_s":%s}\n' \
    "$reference_name" "$rows" "$misses" "$max_error" "$worst_row" "$ours_s" "$reference_s" "$ratio" \
    "$our_sigma" "$ref_sigma" "$sigma_error" "$our_cal_s" "$ref_cal_s"
