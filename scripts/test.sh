#!/usr/bin/env bash
# Runs every test of the workspace against both backends: the embedded SQLite adapter
# and the DynamoDB adapter on the moto emulator (started and stopped by with_moto.sh).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/igny8-target}
exec bash "$root/scripts/with_moto.sh" \
    cargo test --workspace --locked --no-fail-fast -- --test-threads "${IGNY8_TEST_THREADS:-4}" "$@"
