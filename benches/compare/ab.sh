#!/bin/bash
# Same-run A/B of strata binaries (or environments) on `strata bench` shapes, one core, interleaved rounds;
# prints each variant's ms/iter per shape, the min and all rounds. The method of BENCHMARKS.md ("Measuring").
#
#   benches/compare/ab.sh ROUNDS SIZES ITERS 'label|[ENV=value ...] /path/to/strata' ...
#   benches/compare/ab.sh 5 200000x16x8,400000x8x8 30 'old|/tmp/strata-old' 'new|target/release/strata'
#   benches/compare/ab.sh 3 200000x16x16 30 'avx2|STRATA_CPU_ISA=avx2 target/release/strata' 'best|target/release/strata'
set -euo pipefail
rounds=$1 sizes=$2 iters=$3
shift 3
core=${CORE:-0}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for _ in $(seq "$rounds"); do
  for v in "$@"; do
    label=${v%%|*}
    # Word splitting of the command is intended: "ENV=value ... binary".
    # shellcheck disable=SC2086
    env RAYON_NUM_THREADS=1 taskset -c "$core" env ${v#*|} bench --sizes "$sizes" --iters "$iters" --no-gpu 2>&1 |
      awk -v l="$label" '/^[0-9]+x[0-9]+x[0-9]+ / {print $1, l, $7}' >>"$out"
  done
done
sort -k1,1 -k2,2 "$out" | awk '
  { k = $1 " " $2; if (!(k in m) || $3 < m[k]) m[k] = $3; all[k] = all[k] " " $3 }
  END { for (k in m) print k, "min", m[k], "rounds", all[k] }' | sort
