#!/usr/bin/env bash
# Runs every libFuzzer target for SECONDS each, starting from its seed corpus (fuzz/corpus) and
# its saved regressions; new inputs go to BUILD/corpus, crashes to fuzz/regressions/<target>/
# (commit them: make test replays them). With RUNS, each target instead runs exactly RUNS inputs
# from a fixed seed: a deterministic, repeatable run, as CI uses.
# Targets run JOBS at a time (default: the number of cores), each on one core; a fixed-seed run
# gives the same result whatever JOBS is. Reports are printed in target order.
# Usage: [JOBS=N] fuzz.sh BUILD_DIR SECONDS [RUNS]
set -uo pipefail
build=${1:?usage: fuzz.sh BUILD_DIR SECONDS [RUNS]}
seconds=${2:?usage: fuzz.sh BUILD_DIR SECONDS [RUNS]}
runs=${3:-}
jobs=${JOBS:-$(nproc)}
limit=(-max_total_time="$seconds")
if [ -n "$runs" ]; then limit=(-runs="$runs" -seed=1); fi
# Slowest first, so that the others fill the remaining cores beside it (20,000 inputs each:
# wal_segment 50-66 s, each input a WAL opened on disk; http_api 17-32 s; the rest a few seconds).
targets=(wal_segment http_api json_envelope rdf_import record_decode)

# Each target gets a temporary directory of its own, which must be empty again when it exits: a
# target that leaves files behind fails.
run_target() {
  local t=$1 work="$build/corpus/$1" tmp="$build/tmp/$1" rc
  rm -rf "$tmp"
  mkdir -p "$work" "$tmp" "fuzz/regressions/$t"
  # -rss_limit_mb bounds memory per input; -timeout flags an input that hangs.
  TMPDIR="$tmp" "$build/fuzz/fuzz_$t" "$work" "fuzz/corpus/$t" "fuzz/regressions/$t" \
    "${limit[@]}" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="fuzz/regressions/$t/" > "$build/fuzz_$t.log" 2>&1
  rc=$?
  if [ $rc -eq 0 ] && [ -n "$(ls -A "$tmp")" ]; then
    echo "fuzz_$t left files behind in $tmp: $(ls -A "$tmp" | tr '\n' ' ')" >> "$build/fuzz_$t.log"
    rc=1
  fi
  echo $rc > "$build/fuzz_$t.rc"
}

for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
  echo "== fuzz_$t ${limit[*]} (started)"
  rm -f "$build/fuzz_$t.rc"
  run_target "$t" &
done
wait

failed=()
for t in "${targets[@]}"; do
  rc=$(cat "$build/fuzz_$t.rc" 2>/dev/null || echo missing)
  echo "== fuzz_$t: $(grep -E '^stat::number_of_executed_units|^stat::new_units_added|^stat::peak_rss_mb' \
    "$build/fuzz_$t.log" | tr '\n' ' ')"
  if [ "$rc" != 0 ]; then
    failed+=("$t")
    tail -40 "$build/fuzz_$t.log"
  fi
done
if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (the reasons are above; a crashing input is saved in fuzz/regressions/)" >&2
  exit 1
fi
echo "fuzz: all ${#targets[@]} targets ran (${limit[*]}) without a finding"
