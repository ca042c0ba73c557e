#!/usr/bin/env bash
# Runs the benchmarks that need the AWS emulator (release build, moto on 127.0.0.1):
# the credit ledger (charges/s, requests per charge) and the requests per stage item
# of a whole run on the DynamoDB, S3 and SQS adapters. The Lambda packages' sizes and
# init times: scripts/package.sh, then scripts/init_time.py.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/igny8-target}
exec bash "$root/scripts/with_moto.sh" cargo bench --locked -p igny8-tests --bench ledger --bench aws_requests "$@"
