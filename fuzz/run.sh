#!/usr/bin/env bash
# Run the fuzz targets one after another (never two at once), each for SECONDS (default 900), niced, with the
# limits used in issue 13. Usage: fuzz/run.sh [SECONDS] [TARGET...]; logs go to fuzz/logs/TARGET.log.
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_EACH="${1:-900}"
shift || true
TARGETS=("$@")
[[ ${#TARGETS[@]} -eq 0 ]] && TARGETS=(spec plan_file data checkpoint)
[[ -d corpus ]] || ./seed.sh
mkdir -p logs
for t in "${TARGETS[@]}"; do
    case "$t" in
        checkpoint) max_len=131072 ;;  # the F64 checkpoint seeds are ~100 KB
        *) max_len=16384 ;;
    esac
    echo "== $t (${SECONDS_EACH}s)"
    nice -n 10 cargo +nightly fuzz run "$t" -- -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 \
        -max_len="$max_len" -timeout=30 -print_final_stats=1 2>&1 | tee "logs/$t.log" | grep -E "^#[0-9]+ +DONE|^stat::|==ERROR|panicked" || true
done
