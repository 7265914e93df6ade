#!/usr/bin/env bash
# Builds the libFuzzer binaries of Fuzz/ (address sanitizer on) and runs them.
#
#   scripts/fuzz.sh                      list the targets
#   scripts/fuzz.sh all [SECONDS]        run every target for SECONDS each (default 60)
#   scripts/fuzz.sh TARGET [SECONDS] [libFuzzer options...]
#   scripts/fuzz.sh all 0                only replay the committed corpus (a quick regression check)
#
# Each run starts from the committed seeds in Fuzz/Corpus/TARGET and keeps what it discovers in
# .build/fuzz/corpus/TARGET (not committed). A crash leaves its input in .build/fuzz/artifacts/ and
# makes the script fail; replay it with `.build/fuzz/build/debug/TARGET FILE`, then commit it to
# Fuzz/Corpus/TARGET with a regression test. Ends with one JSON line per target:
#   {"fuzz":"endpoint","seconds":60,"executions":1800000,"exec_per_s":30000,"new_units":420,"crashed":false}
source "$(dirname "$0")/lib.sh"
ensure_swift
ensure_packages libsodium-dev pkg-config zlib1g-dev

TARGETS=()
for dir in "$ROOT"/Fuzz/Targets/*/; do TARGETS+=("$(basename "$dir")"); done

if [ $# -eq 0 ]; then
    echo "fuzz targets: ${TARGETS[*]}"
    echo "usage: scripts/fuzz.sh all|TARGET [SECONDS] [libFuzzer options...]"
    exit 0
fi
WHAT="$1"; SECONDS_EACH="${2:-60}"; shift $(( $# >= 2 ? 2 : 1 ))
if [ "$WHAT" = all ]; then
    SELECTED=("${TARGETS[@]}")
elif [ -d "$ROOT/Fuzz/Targets/$WHAT" ]; then
    SELECTED=("$WHAT")
else
    echo "error: no fuzz target '$WHAT' (targets: ${TARGETS[*]})" >&2
    exit 2
fi

WORK="$ROOT/.build/fuzz"
# The fuzz package depends on the main one as `..`. SwiftPM names a path package after its folder,
# so a checkout folder called "fuzz" would clash with Fuzz/ itself: build through a folder of
# symlinks named gossipnode instead (the sources are the real ones, nothing is copied).
MIRROR="$WORK/src/gossipnode"
rm -rf "$WORK/src"
mkdir -p "$MIRROR/Fuzz"
for entry in "$ROOT"/*; do
    [ "$(basename "$entry")" = Fuzz ] || ln -s "$entry" "$MIRROR/$(basename "$entry")"
done
for entry in "$ROOT"/Fuzz/*; do ln -s "$entry" "$MIRROR/Fuzz/$(basename "$entry")"; done

# --sanitize fuzzer tells SwiftPM these executables get libFuzzer's main; -sanitize=fuzzer,address
# instruments every module for coverage and ASan. -O keeps Swift's overflow and bounds traps (only
# -Ounchecked drops them, which is why the release configuration is not used here).
echo "==> building fuzz targets (debug, -O, fuzzer+address sanitizers)" >&2
# Build-manifest caching is off: through the symlinks SwiftPM would miss source files added since.
(cd "$MIRROR/Fuzz" && swift build -c debug --scratch-path "$WORK/build" --disable-build-manifest-caching --sanitize fuzzer \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -O 2>&1 \
    | grep -v "Cannot export local symbol" >&2)
BIN="$WORK/build/debug"

failed=()
summaries=()
for target in "${SELECTED[@]}"; do
    corpus="$WORK/corpus/$target"; artifacts="$WORK/artifacts"; log="$WORK/logs/$target.log"
    mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
    if [ "$SECONDS_EACH" = 0 ]; then
        echo "==> $target: replaying its corpus (committed seeds and what earlier runs found)" >&2
        options=(-runs=0)
    else
        echo "==> $target: fuzzing for ${SECONDS_EACH}s (log: $log)" >&2
        options=(-max_total_time="$SECONDS_EACH")
    fi
    status=0
    # Output goes to a file: the sanitizer's symbolizer can hold a pipe open after a crash. Swift's
    # own crash backtracer is off so libFuzzer reports traps (and saves the input) itself.
    SWIFT_BACKTRACE=enable=no LSAN_OPTIONS="suppressions=$ROOT/Fuzz/lsan.supp" "$BIN/$target" "${options[@]}" -print_final_stats=1 -timeout=10 -rss_limit_mb=4096 \
        -artifact_prefix="$artifacts/$target-" "$@" "$corpus" "$ROOT/Fuzz/Corpus/$target" >"$log" 2>&1 || status=$?
    final_stat() { local v; v="$(grep -m1 "^stat::$1:" "$log" | awk '{print $2}')"; echo "${v:-null}"; }
    crashed=false
    if [ "$status" -ne 0 ]; then
        crashed=true
        failed+=("$target")
        echo "!!! $target failed (exit $status); last lines of $log:" >&2
        grep -E "ERROR|runtime failure|fuzz property|Fatal error|Test unit written" "$log" | tail -5 >&2 || tail -20 "$log" >&2
    fi
    summaries+=("$(printf '{"fuzz":"%s","seconds":%s,"executions":%s,"exec_per_s":%s,"new_units":%s,"crashed":%s}' \
        "$target" "$SECONDS_EACH" "$(final_stat number_of_executed_units)" "$(final_stat average_exec_per_sec)" \
        "$(final_stat new_units_added)" "$crashed")")
done

printf '%s\n' "${summaries[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "crashes in: ${failed[*]} (inputs in $WORK/artifacts/)" >&2
    exit 1
fi
