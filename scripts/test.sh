#!/usr/bin/env bash
# Sets up what the tests need on a fresh Debian machine with Swift, then builds and runs them.
source "$(dirname "$0")/lib.sh"
ensure_swift
ensure_packages libsodium-dev pkg-config zlib1g-dev
cd "$ROOT"
swift build --build-tests
swift test --skip-build "$@"
