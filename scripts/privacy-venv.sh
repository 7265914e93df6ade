# Sourced by the privacy scripts: a virtualenv in the git-ignored .bench/ with dp-accounting.
PRIVACY_VENV="$ROOT/.bench/venv"
PRIVACY_PYTHON="$PRIVACY_VENV/bin/python"

# Creates the virtualenv and installs dp-accounting if missing; returns non-zero if impossible.
ensure_privacy_venv() {
    if [ -x "$PRIVACY_PYTHON" ] && "$PRIVACY_PYTHON" -c 'import dp_accounting' 2>/dev/null; then return 0; fi
    command -v python3 >/dev/null || { echo "python3 not found" >&2; return 1; }
    mkdir -p "$ROOT/.bench"
    [ -x "$PRIVACY_PYTHON" ] || python3 -m venv "$PRIVACY_VENV" >&2 || return 1
    echo "==> installing dp-accounting into $PRIVACY_VENV" >&2
    "$PRIVACY_VENV/bin/pip" install -q dp-accounting >&2 || return 1
    "$PRIVACY_PYTHON" -c 'import dp_accounting' 2>/dev/null
}
