#!/usr/bin/env bash
# Sweep benchmark (issue 6), run by hand after building build/:
#   tests/bench/bench_sweep.sh
# A 200-point sweep of the seed scenario (both options, flow model) with 1
# and 2 worker threads; prints the wall time of each and checks that both
# wrote the same CSV.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp -d)
for jobs in 1 2; do
  start=$(date +%s%N)
  build/clustersim sweep tests/bench/seed-sweep-200.yaml --jobs "$jobs" --quiet --no-plots \
    --out "$out/j$jobs" >/dev/null
  end=$(date +%s%N)
  echo "200-point sweep, flow, $jobs job(s): $(( (end - start) / 1000000 )) ms"
done
cmp "$out/j1/sweep.csv" "$out/j2/sweep.csv" && echo "same CSV with 1 and 2 jobs"
rm -rf "$out"
