#!/usr/bin/env bash
# Re-measures BENCHMARKS.md's job tables (fit memory and phases, sweep, the lifecycle, assign) with one
# binary, on files generated here. Usage: benches/compare/current_tables.sh [STRATA] [WORKDIR]
# Prints one line per run: the command, peak RSS (kB), wall seconds, and the job's own phase timings.
set -euo pipefail
S=${1:-target/release/strata}
W=${2:-/tmp/strata-tables}
mkdir -p "$W"
gen() { [ -f "$W/$1" ] || "$S" generate --rows "$2" --features "$3" --clusters "$4" --seed "$5" ${6:+--night "$6"} --out "$W/$1" >/dev/null; }
run() {
  local tag=$1; shift
  /usr/bin/time -f "%M %e" -o "$W/time.txt" "$@" -q >/dev/null 2>&1
  local t; t=$(cat "$W/time.txt")
  local phases=""
  for f in summary.json sweep.json; do
    for d in "${@: -1}"; do [ -f "$d/$f" ] && phases=$(python3 -c "import json,sys;s=json.load(open('$d/$f'));print(json.dumps(s.get('seconds',{})))"); done
  done
  echo "$tag | peak_kB wall_s: $t | $phases"
}
gen f5m.parquet 5000000 16 8 1
gen f20m.parquet 20000000 16 8 1
gen s1m.parquet 1000000 16 6 7 0
for r in 1 2; do
  run "fit 5M x16 k=8 (2 threads) r$r" "$S" fit "$W/f5m.parquet" --k 8 --id customer_id --device cpu --out "$W/o5m"
done
run "fit 20M x16 k=8 --n-init 1 (2 threads)" "$S" fit "$W/f20m.parquet" --k 8 --id customer_id --n-init 1 --device cpu --out "$W/o20m"
run "sweep 1M x16 k=2..12 (2 threads)" "$S" sweep "$W/s1m.parquet" --k 2..12 --id customer_id --device cpu --no-report --out "$W/sweep"
export RAYON_NUM_THREADS=1
run "fit 5M x16 --n-init 1 (1 thread)" "$S" fit "$W/f5m.parquet" --k 8 --id customer_id --n-init 1 --device cpu --seed 1 --out "$W/l1"
run "assign 5M x16 (1 thread)" "$S" assign --model "$W/l1" "$W/f5m.parquet" --device cpu --out "$W/a1"
run "fit 5M x16 --n-init 1 --previous (1 thread)" "$S" fit "$W/f5m.parquet" --k 8 --id customer_id --n-init 1 --device cpu --seed 2 --previous "$W/l1" --out "$W/l2"
run "assign 5M x16 --previous (1 thread)" "$S" assign --model "$W/l1" "$W/f5m.parquet" --device cpu --previous "$W/l1" --out "$W/a2"
unset RAYON_NUM_THREADS
run "assign 20M x16 (2 threads)" "$S" assign --model "$W/l1" "$W/f20m.parquet" --device cpu --out "$W/a20"
