#!/usr/bin/env bash
# The GPU measurements in one call (issue 14): a lent GPU machine runs this with a `thinktok` built here with
# `--features cuda` (../shared/gpu/README.md), and every figure lands as JSON in one output folder.
#
#   scripts/gpu-bench.sh [BIN] [OUT]        BIN: thinktok binary (default target/release/thinktok)
#                                           OUT: output folder (default gpu-bench-out)
# Environment: DEVICE (cuda:0), PEAK (h200: its peak in each dtype for MFU), SIZES ("medium gpt2": bench episode
#   sizes), STEPS (400: training steps of the short run), STEP_TIMEOUT (240 s per step), REPEATS (5: bench model),
#   DTYPES ("f32 bf16" on CUDA, "f32" on the CPU: bench model once per dtype; the short run takes the last).
# Dry run on the CPU, to check the script itself: DEVICE=cpu SIZES=small STEPS=10 scripts/gpu-bench.sh
#
# Each step writes OUT/<step>.json (its --json output) and OUT/<step>.err; OUT/summary.json says which steps
# passed, with their wall seconds. A failed step does not stop the others. Exit 0 when every step passed.
set -uo pipefail

BIN=${1:-target/release/thinktok}
OUT=${2:-gpu-bench-out}
DEVICE=${DEVICE:-cuda:0}
PEAK=${PEAK:-h200}
SIZES=${SIZES:-medium gpt2}
STEPS=${STEPS:-400}
STEP_TIMEOUT=${STEP_TIMEOUT:-240}
if [[ $DEVICE == cuda* ]]; then DTYPES=${DTYPES:-f32 bf16}; else DTYPES=${DTYPES:-f32}; fi
HERE=$(cd "$(dirname "$0")/.." && pwd)

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
[[ -x $BIN ]] || { echo "gpu-bench: no executable thinktok at $BIN (build it with --features cuda)" >&2; exit 2; }

if [[ $DEVICE == cuda* ]]; then
    # The binary links CUDA 13's cuBLAS, cuRAND and cudart directly: find copies on this machine.
    for lib in libcublas.so.13 libcurand.so.10 libcudart.so.13; do
        dir=$(find / -xdev -name "$lib*" -print -quit 2>/dev/null | xargs -r dirname)
        [[ -n $dir ]] && LD_LIBRARY_PATH="$dir:${LD_LIBRARY_PATH:-}"
    done
    export LD_LIBRARY_PATH
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv > "$OUT/device.csv" 2>&1 \
        || echo "gpu-bench: nvidia-smi failed (see device.csv)" >&2
else
    { nproc; grep -m1 'model name' /proc/cpuinfo; } > "$OUT/device.csv" 2>&1
fi

declare -a RESULTS=()
step() {
    local name=$1; shift
    local start=$SECONDS rc
    timeout "$STEP_TIMEOUT" "$@" > "$OUT/$name.json" 2> "$OUT/$name.err"
    rc=$?
    RESULTS+=("{\"step\":\"$name\",\"rc\":$rc,\"wall_s\":$((SECONDS - start))}")
    echo "gpu-bench: $name: exit $rc in $((SECONDS - start)) s"
}

for dtype in $DTYPES; do
    step "bench-model-$dtype" "$BIN" bench model --device "$DEVICE" --dtype "$dtype" --json --peak "$PEAK" \
        --repeats "${REPEATS:-5}"
done
for size in $SIZES; do
    step "bench-episode-$size" "$BIN" bench episode --device "$DEVICE" --size "$size" --json --repeats 3
done
# A short continuous-thoughts run of the depth-bound task on the device (in the last dtype), then its checkpoint
# evaluated there.
RUN="$OUT/run"
step run "$BIN" run "$HERE/specs/hops.think" --out "$RUN" --device "$DEVICE" --quiet --force \
    --set "learn.steps=$STEPS" --set 'episode.thoughts=continuous()' --set "learn.unroll=2" \
    --set "dtype=${DTYPES##* }"
cp "$RUN/results.json" "$OUT/run-results.json" 2>/dev/null
CKPT=$(find "$RUN" -path '*/final/meta.json' -print -quit 2>/dev/null | xargs -r dirname)
if [[ -n $CKPT ]]; then
    step eval "$BIN" eval --ckpt "$CKPT" --device "$DEVICE" --json
else
    RESULTS+=("{\"step\":\"eval\",\"rc\":-1,\"wall_s\":0}")
    echo "gpu-bench: eval: no checkpoint found under $RUN" >&2
fi

failed=0
for r in "${RESULTS[@]}"; do [[ $r == *'"rc":0,'* ]] || failed=1; done
printf '{"device":"%s","steps":[%s]}\n' "$DEVICE" "$(IFS=,; echo "${RESULTS[*]}")" > "$OUT/summary.json"
echo "gpu-bench: figures in $OUT (summary.json)"
exit $failed
