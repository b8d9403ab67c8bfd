#!/usr/bin/env bash
# Builds the libFuzzer targets (ASan + libFuzzer, release) and runs each with its seed corpus,
# the JSON dictionary and an RSS limit. Exits non-zero on any finding; reproducers are left
# in Security/fuzz/findings/<Target>-crash-* (also timeout-*, oom-*, leak-*).
#
#   Security/fuzz/run.sh [--seconds N] [--target NAME] [--no-build] [--jobs J]
#
#   --seconds N   total fuzzing time, split evenly over the selected targets (default 60)
#   --target NAME run only this target (repeatable), e.g. FuzzStrictJSON
#   --no-build    reuse the binaries in .build-fuzz
#   --jobs J      libFuzzer worker processes per target (default 1; the machine has 2 cores)
#
# Needs: the Swift toolchain (libFuzzer ships with it), libseccomp-dev (FuzzWorker links
# RunnerWorker), python3 (seed generator). The seeds include the JSONTestSuite files vendored in
# Tests/MetricsDecodingTests/JSONTestSuite/test_parsing (override with JSON_TEST_SUITE=DIR).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
all_targets=(FuzzStrictJSON FuzzTimestamp FuzzPreJob FuzzPostJob FuzzRecord FuzzFrame FuzzWorker FuzzDifferential
             FuzzGitHubResponse FuzzEnrichmentFrames)

seconds=60
targets=()
build=1
jobs=1
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds="$2"; shift 2 ;;
        --target) targets+=("$2"); shift 2 ;;
        --no-build) build=0; shift ;;
        --jobs) jobs="$2"; shift 2 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
    case " ${all_targets[*]} " in *" $t "*) ;; *) echo "run.sh: unknown target $t (have: ${all_targets[*]})" >&2; exit 2 ;; esac
done
case "$seconds" in ''|*[!0-9]*) echo "run.sh: --seconds needs a whole number" >&2; exit 2 ;; esac

scratch="$root/.build-fuzz"
bin="$scratch/release"
work="$here/corpus-work"
findings="$here/findings"
suite="${JSON_TEST_SUITE:-$root/Tests/MetricsDecodingTests/JSONTestSuite/test_parsing}"
mkdir -p "$work" "$findings"

if [ "$build" = 1 ]; then
    for t in "${targets[@]}"; do
        echo "== building $t"
        (cd "$root" && RUNNER_METRICS_FUZZ=1 swift build -c release --scratch-path "$scratch" \
            -Xswiftc -sanitize=fuzzer,address --product "$t" 2>&1 | grep -v -e '^\[' -e "Cannot export local symbol" || true)
        [ -x "$bin/$t" ] || { echo "run.sh: build of $t failed" >&2; exit 2; }
    done
fi

[ -d "$suite" ] || { echo "run.sh: JSONTestSuite not found at $suite" >&2; exit 2; }
rm -rf "$work/seeds"
python3 "$here/make_seeds.py" "$work/seeds" $suite

n=${#targets[@]}
per=$(( seconds / n ))
extra=$(( seconds % n ))
[ "$per" -lt 1 ] && { per=1; extra=0; }

max_len() {
    case "$1" in
        FuzzTimestamp|FuzzPreJob|FuzzPostJob) echo 1100 ;;   # just past the 1024-byte file limit
        FuzzRecord|FuzzWorker) echo 4500 ;;                  # four files, one may be too large
        FuzzFrame) echo 8300 ;;                              # just past Frame.maxSize
        FuzzEnrichmentFrames) echo 1100 ;;                   # a request frame (528) twice, short configurations
        *) echo 4096 ;;
    esac
}

export SWIFT_BACKTRACE=enable=no          # let libFuzzer's handler report and save the input
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=1}"

status=0
summary=()
total_execs=0
for i in "${!targets[@]}"; do
    t="${targets[$i]}"
    secs=$per
    [ "$i" -lt "$extra" ] && secs=$(( per + 1 ))
    mkdir -p "$work/$t"
    log="$work/$t.log"
    echo "== fuzzing $t for ${secs}s (log: ${log#$root/})"
    before=$(ls "$findings" | wc -l)
    parallel=()
    # -jobs/-workers only for J > 1: libFuzzer then runs J child processes, writes their
    # output to fuzz-<n>.log in the current directory and copies it into its own output.
    [ "$jobs" -gt 1 ] && parallel=(-jobs="$jobs" -workers="$jobs")
    set +e
    (cd "$work" && "$bin/$t" "$work/$t" "$work/seeds/$t" \
        -dict="$here/json.dict" -rss_limit_mb=2048 -max_len="$(max_len "$t")" -timeout=10 \
        -max_total_time="$secs" -print_final_stats=1 "${parallel[@]}" \
        -artifact_prefix="$findings/$t-" >"$log" 2>&1)
    rc=$?
    set -e
    rm -f "$work"/fuzz-*.log
    execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | awk '{s+=$2} END {print s+0}' || true)
    # libFuzzer's own average_exec_per_sec is often 0 at the end; use executions / seconds.
    eps=$(( execs / (secs > 0 ? secs : 1) ))
    cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1 | awk '{print $2 " / ft " $4}' || true)
    corpus=$(ls "$work/$t" | wc -l)
    after=$(ls "$findings" | wc -l)
    result=ok
    if [ "$rc" -ne 0 ] || [ "$after" -gt "$before" ]; then
        result="FINDING (exit $rc)"
        status=1
        grep -E 'FUZZ INVARIANT|ERROR: (AddressSanitizer|libFuzzer)|Fatal error|Test unit written' "$log" | head -5 | sed 's/^/   /' || true
    fi
    total_execs=$(( total_execs + execs ))
    summary+=("$(printf '%-17s %5ss %12s execs %8s exec/s  cov %-22s corpus %6s  %s' "$t" "$secs" "$execs" "$eps" "${cov:-?}" "$corpus" "$result")")
done

echo
echo "== summary (seconds=$seconds, jobs=$jobs)"
printf '%s\n' "${summary[@]}"
echo "total executions: $total_execs"
if [ "$status" -ne 0 ]; then
    echo "FINDINGS: reproducers in ${findings#$root/}/:"
    ls -1 "$findings" | sed 's/^/  /'
fi
exit $status
