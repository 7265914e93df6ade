#!/usr/bin/env bash
# Regenerates data/privacy-reference.csv: ε of the Poisson-sampled Gaussian mechanism from
# Google's dp-accounting (RDP accountant, default orders) over a grid of q, σ, steps and δ.
# The accountant's tests compare against this table (issue 4: within 1% relative, every row).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/privacy-venv.sh"
ensure_privacy_venv || { echo "error: could not install dp-accounting into .bench/venv" >&2; exit 1; }
out="$ROOT/data/privacy-reference.csv"
mkdir -p "$(dirname "$out")"
"$PRIVACY_PYTHON" "$ROOT/scripts/privacy-reference.py" --grid > "$out.tmp" 2>/dev/null
mv "$out.tmp" "$out"
version="$("$PRIVACY_PYTHON" -c 'import importlib.metadata as m; print(m.version("dp-accounting"))')"
echo "wrote $(($(wc -l < "$out") - 1)) rows to $out (dp-accounting $version)" >&2
