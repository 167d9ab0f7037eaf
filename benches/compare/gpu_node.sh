#!/usr/bin/env bash
# One prepared measurement run for a lent GPU node (see ../shared/GPU.md and README "Running on a GPU node"):
# the four shapes of BENCHMARKS.md's GPU tables, generated on the node, each timed by `strata bench` on the
# GPU (20 fixed Lloyd iterations after a warm-up step, with the GPU's own floor measured in the same run),
# by a second strata binary when one is given (a same-run A/B of two commits), and by the PyTorch baseline
# when torch is importable. Results go to $OUT (JSON and CSV per shape, and a log).
#
#   benches/compare/gpu_node.sh NEW_BINARY [OLD_BINARY]
#
# Expects the Vulkan loader and VK_DRIVER_FILES set up as README's "Running on a GPU node" says. A dry run
# here, on lavapipe: SHAPES="20000x16x8 5000x32x256" BENCH_FLAGS=--allow-software benches/compare/gpu_node.sh
# target/release/strata
set -euo pipefail
new=$1
old=${2:-}
out=${OUT:-/tmp/gpu_node_out}
data=${DATA:-/tmp/gpu_node_data}
mkdir -p "$out" "$data"
here=$(cd "$(dirname "$0")" && pwd)
log="$out/log.txt"
"$new" devices | tee -a "$log"
for shape in ${SHAPES:-1000000x16x8 5000000x16x8 1000000x64x32 250000x32x256}; do
    IFS=x read -r n d k <<<"$shape"
    file="$data/g_$shape.parquet"
    [ -f "$file" ] || "$new" generate --rows "$n" --features "$d" --clusters "$k" --seed 1 --out "$file" -q
    for round in 1 2 3; do
        for tag in new old; do
            bin=$new
            [ "$tag" = old ] && bin=$old
            [ -n "$bin" ] || continue
            echo "== $shape round $round $tag" | tee -a "$log"
            "$bin" bench --input "$file" --id customer_id --k "$k" --iters 20 --no-cpu ${BENCH_FLAGS:-} \
                --json "$out/${shape}_${tag}_$round.json" --csv "$out/${shape}_${tag}_$round.csv" \
                2>&1 | tee -a "$log"
        done
        if python3 -c "import torch" 2>/dev/null; then
            echo "== $shape round $round torch" | tee -a "$log"
            python3 "$here/torch_kmeans.py" "$file" --k "$k" --iters 20 --device cuda 2>&1 | tee -a "$log"
        fi
    done
done
