#!/usr/bin/env bash
# Runs the benchmarks (release build) with the DynamoDB emulator on 127.0.0.1.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/igny8-target}
tools_dir=${IGNY8_TOOLS_DIR:-/var/tmp/igny8-tools}
bash scripts/tools.sh
work=$(mktemp -d)
moto_pid=""
cleanup() {
    if [ -n "$moto_pid" ]; then kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT INT TERM
"$tools_dir/venv/bin/python" scripts/moto_server.py --port 0 --port-file "$work/port" >"$work/moto.log" 2>&1 &
moto_pid=$!
for _ in $(seq 1 200); do [ -s "$work/port" ] && break; sleep 0.1; done
export IGNY8_TEST_DYNAMODB_ENDPOINT="http://127.0.0.1:$(cat "$work/port")"
cargo bench --locked -p igny8-tests --bench ledger "$@"
