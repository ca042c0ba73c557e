#!/usr/bin/env bash
# Runs the benchmarks (release build) with the DynamoDB emulator on 127.0.0.1.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/igny8-target}
exec bash "$root/scripts/with_moto.sh" cargo bench --locked -p igny8-tests --bench ledger "$@"
