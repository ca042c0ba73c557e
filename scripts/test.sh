#!/usr/bin/env bash
# Runs every test: rustfmt and clippy (warnings are errors), statelint on the state machines, cfn-lint and sam validate on the
# SAM template, schemathesis against `igny8 serve`, then the workspace's tests against
# both adapter families: the embedded ones and the AWS ones on the moto emulator
# (started and stopped by with_moto.sh).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/igny8-target}
cargo fmt --all --check --manifest-path "$root/Cargo.toml"
cargo clippy --workspace --all-targets --all-features --locked --quiet --manifest-path "$root/Cargo.toml" -- -D warnings
bash "$root/scripts/lint_asl.sh"
bash "$root/scripts/lint_infra.sh"
bash "$root/scripts/schemathesis.sh"
exec bash "$root/scripts/with_moto.sh" \
    cargo test --workspace --all-features --locked --no-fail-fast -- --test-threads "${IGNY8_TEST_THREADS:-4}" "$@"
