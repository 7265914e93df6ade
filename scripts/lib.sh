# Shared helpers for the scripts in this folder (sourced, not run).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Installs Debian packages that are missing (libsodium-dev is the only hard requirement).
ensure_packages() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "==> installing ${missing[*]}" >&2
    local sudo=""
    [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && sudo="sudo"
    $sudo apt-get update -qq >/dev/null || true
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_swift() {
    if ! command -v swift >/dev/null; then
        [ -x /opt/swift/usr/bin/swift ] && export PATH="/opt/swift/usr/bin:$PATH"
    fi
    command -v swift >/dev/null || { echo "error: swift not found; install Swift 6 first" >&2; exit 1; }
}

# Builds the release binary and prints its path.
build_release() {
    ensure_swift
    ensure_packages libsodium-dev pkg-config
    (cd "$ROOT" && swift build -c release --product gossipnode >&2)
    echo "$ROOT/.build/release/gossipnode"
}
