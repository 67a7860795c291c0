#!/usr/bin/env bash
# Runs every libFuzzer target for SECONDS each, starting from its seed corpus (fuzz/corpus) and
# its saved regressions; new inputs go to BUILD/corpus, crashes to fuzz/regressions/<target>/
# (commit them: make test replays them). With RUNS, each target instead runs exactly RUNS inputs
# from a fixed seed: a deterministic, repeatable run, as CI uses.
# Usage: fuzz.sh BUILD_DIR SECONDS [RUNS]
set -uo pipefail
build=${1:?usage: fuzz.sh BUILD_DIR SECONDS [RUNS]}
seconds=${2:?usage: fuzz.sh BUILD_DIR SECONDS [RUNS]}
runs=${3:-}
limit=(-max_total_time="$seconds")
if [ -n "$runs" ]; then limit=(-runs="$runs" -seed=1); fi
targets=(record_decode json_envelope rdf_import wal_segment http_api)
failed=()
for t in "${targets[@]}"; do
  work="$build/corpus/$t"
  mkdir -p "$work" "fuzz/regressions/$t"
  echo "== fuzz_$t ${limit[*]}"
  # -rss_limit_mb bounds memory per input; -timeout flags an input that hangs.
  "$build/fuzz/fuzz_$t" "$work" "fuzz/corpus/$t" "fuzz/regressions/$t" \
    "${limit[@]}" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="fuzz/regressions/$t/" > "$build/fuzz_$t.log" 2>&1
  rc=$?
  grep -E '^stat::number_of_executed_units|^stat::new_units_added|^stat::peak_rss_mb' "$build/fuzz_$t.log" | tr '\n' ' '
  echo
  if [ $rc -ne 0 ]; then
    failed+=("$t")
    tail -40 "$build/fuzz_$t.log"
  fi
done
if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (inputs saved in fuzz/regressions/)" >&2
  exit 1
fi
echo "fuzz: all ${#targets[@]} targets ran (${limit[*]}) without a finding"
