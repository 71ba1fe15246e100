#!/usr/bin/env bash
# The browser tests under load: busy loops keep every core at 100 % while every browser test file
# (tests/test_browser*.py) runs RUNS times (default 5); prints one line per run and a summary, and exits 0
# only when every run passed.
#
#   tests/stress_browser.sh                       # from the repository root, with .venv/bin/python
#   PYTHON=/path/to/python RUNS=3 tests/stress_browser.sh
#
# Environment: PYTHON (default .venv/bin/python), RUNS (default 5), TESTS (default tests/test_browser*.py), LOAD_PER_CORE (busy loops per core,
# default 1), MAX_S (the busy loops end by themselves after this many seconds even if this script is
# killed, default 7200). Logs of each run go to artifacts/stress_browser/.
set -u
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-.venv/bin/python}
RUNS=${RUNS:-5}
TESTS=${TESTS:-$(echo tests/test_browser*.py)}
LOAD_PER_CORE=${LOAD_PER_CORE:-1}
MAX_S=${MAX_S:-7200}
LOGS=artifacts/stress_browser
[ -x "$PYTHON" ] || { echo "no python at $PYTHON; set PYTHON=" >&2; exit 2; }
mkdir -p "$LOGS"

cores=$(nproc)
loops=()
stop_load() {
    # Only the loops started here, by their process ids.
    for pid in "${loops[@]}"; do kill "$pid" 2>/dev/null; done
    wait "${loops[@]}" 2>/dev/null
    loops=()
}
trap stop_load EXIT
trap 'stop_load; exit 130' INT TERM
for _ in $(seq $((cores * LOAD_PER_CORE))); do
    # `timeout` bounds each loop even if this script dies without running its trap.
    timeout "$MAX_S" sh -c 'while :; do :; done' &
    loops+=($!)
done

cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)
echo "browser tests x$RUNS with ${#loops[@]} busy loops on $cores cores (${cpu:-unknown CPU}), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "command: $PYTHON -m pytest $TESTS -p no:cacheprovider"
passed=0
started=$(date +%s)
for run in $(seq "$RUNS"); do
    run_started=$(date +%s)
    log="$LOGS/run-$run.log"
    # shellcheck disable=SC2086  # TESTS is a list of paths
    "$PYTHON" -m pytest $TESTS -p no:cacheprovider >"$log" 2>&1
    status=$?
    outcome=$(grep -E '^=+ .*(passed|failed|error|skipped).* in ' "$log" | tail -1 | tr -d '=' | sed 's/^ *//;s/ *$//')
    echo "run $run: exit $status, ${outcome:-no pytest summary}, $(( $(date +%s) - run_started )) s (log: $log)"
    # A run counts only when every test ran and passed: a skip is not a pass.
    if [ "$status" -eq 0 ] && ! grep -qE '(skipped|xfailed|deselected)' <<<"$outcome"; then
        passed=$((passed + 1))
    fi
done
stop_load
echo "summary: $passed/$RUNS runs passed under load, $(( $(date +%s) - started )) s in all"
[ "$passed" -eq "$RUNS" ]
