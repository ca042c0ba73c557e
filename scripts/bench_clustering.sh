#!/usr/bin/env bash
# Clustering side by side, in one run on this machine: `igny8 cluster` (lexical and
# semantic, the release binary timed from outside) against scikit-learn TF-IDF +
# agglomerative (average linkage, cosine) and PolyFuzz TF-IDF grouping, on BANKING77's
# test split (../shared/data/banking77, read in place) and a synthetic 100,000-keyword
# set with topic labels. Prints a markdown table (docs/performance.md "Clustering").
#
# The Python tools (scripts/requirements-bench.txt, every version pinned) go into the
# tools venv with their own stamp (`tools.sh --requirements`): installed once, offline
# afterwards.
#
# Environment:
#   IGNY8_TOOLS_DIR         tools directory (default /var/tmp/igny8-tools)
#   IGNY8_SHARED_DIR        the shared folder (default: ../shared beside the clone)
#   IGNY8_BIN               an already built release `igny8` (default: built here)
#   IGNY8_BENCH_N           synthetic keywords (default 100000)
#   IGNY8_BENCH_SK_SIZES    synthetic subsets scikit-learn's n×n linkage runs on
#                           (default 10000,20000,30000; each capped at IGNY8_BENCH_MEM_GB)
#   IGNY8_BENCH_PF_N        synthetic keywords PolyFuzz matches (default 20000: its
#                           nearest-neighbour match is all pairs, ≈ 20 min at 100,000)
#   IGNY8_BENCH_MEM_GB      address-space cap of every Python tool (default 8)
#   IGNY8_BENCH_OUT         also write the table to this file
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools_dir=${IGNY8_TOOLS_DIR:-/var/tmp/igny8-tools}
venv="$tools_dir/venv"
bash "$root/scripts/tools.sh" --requirements "$root/scripts/requirements-bench.txt" bench-requirements

banking="${IGNY8_SHARED_DIR:-$root/../shared}/data/banking77/test.csv"
[ -f "$banking" ] || { echo "bench: $banking is missing (the shared data folder beside the clone)" >&2; exit 1; }

bin=${IGNY8_BIN:-}
if [ -z "$bin" ]; then
    target=${CARGO_TARGET_DIR:-$root/target}
    echo "bench: building the release igny8" >&2
    (cd "$root" && CARGO_TARGET_DIR="$target" cargo build --release --quiet -p igny8-cli --bin igny8)
    bin="$target/release/igny8"
fi

export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-2} OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
exec "$venv/bin/python" "$root/scripts/bench_clustering.py" \
    --bin "$bin" \
    --banking "$banking" \
    --n "${IGNY8_BENCH_N:-100000}" \
    --sk-sizes "${IGNY8_BENCH_SK_SIZES:-10000,20000,30000}" \
    --mem-gb "${IGNY8_BENCH_MEM_GB:-8}" \
    --pf-n "${IGNY8_BENCH_PF_N:-20000}" \
    ${IGNY8_BENCH_OUT:+--out "$IGNY8_BENCH_OUT"}
