#!/usr/bin/env bash
# Runs a command with the AWS emulator (moto: DynamoDB, S3, SQS, Step Functions; one
# request at a time) on 127.0.0.1:
# installs the tooling if missing, starts moto on a free port, exports
# IGNY8_TEST_DYNAMODB_ENDPOINT for the command, and stops moto whatever happens.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
tools_dir=${IGNY8_TOOLS_DIR:-/var/tmp/igny8-tools}

bash scripts/tools.sh

work=$(mktemp -d)
moto_pid=""
cleanup() {
    if [ -n "$moto_pid" ]; then kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

# Two malloc arenas: moto serves every request on a new thread, and glibc's per-thread
# arenas otherwise fragment into gigabytes over a long run (a 10,000-keyword bench).
MALLOC_ARENA_MAX=2 "$tools_dir/venv/bin/python" scripts/moto_server.py --port 0 --port-file "$work/port" >"$work/moto.log" 2>&1 &
moto_pid=$!
for _ in $(seq 1 200); do
    [ -s "$work/port" ] && break
    kill -0 "$moto_pid" 2>/dev/null || { cat "$work/moto.log" >&2; echo "moto failed to start" >&2; exit 1; }
    sleep 0.1
done
[ -s "$work/port" ] || { echo "moto did not start in 20 s" >&2; exit 1; }
export IGNY8_TEST_DYNAMODB_ENDPOINT="http://127.0.0.1:$(cat "$work/port")"
echo "with_moto: AWS emulator (moto, serialised) at $IGNY8_TEST_DYNAMODB_ENDPOINT" >&2

"$@"
