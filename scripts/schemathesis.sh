#!/usr/bin/env bash
# Fuzzes the HTTP API from its own OpenAPI document: `igny8 serve` on 127.0.0.1 over a
# fresh data directory (an account, a site and a finished run made by `igny8 run`),
# then schemathesis (scripts/requirements-test.txt) against every operation with an
# owner's token, a bounded number of examples each, valid and invalid inputs. Fails
# on any server error (5xx), any response that does not match the document, any
# status or media type the document does not declare, and any operation that answers
# without a valid token (ignored_auth). The server is always stopped.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/igny8-target}
tools_dir=${IGNY8_TOOLS_DIR:-/var/tmp/igny8-tools}
max_examples=${IGNY8_FUZZ_EXAMPLES:-20}

bash "$root/scripts/tools.sh"
cargo build -p igny8-cli --locked --quiet --manifest-path "$root/Cargo.toml"
igny8="$CARGO_TARGET_DIR/debug/igny8"

work=$(mktemp -d "${TMPDIR:-/tmp}/igny8-fuzz.XXXXXX")
server=""
stop() {
    if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
        # igny8 serve stops gracefully on SIGINT; SIGKILL if it has not within 5 s.
        kill -INT "$server" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap stop EXIT INT TERM

# Data to fuzz against: a small keyword file keeps the run to seconds in a debug build.
head -n 31 "$root/examples/keywords.csv" > "$work/keywords.csv"
data="$work/data"
"$igny8" --data-dir "$data" run --keywords "$work/keywords.csv" --quiet --json > "$work/run.json"
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
account=$(field "$data/local.json" account_id)
# Real ids in the paths, so the cases reach real records (unknown ids are a plain 404,
# covered by the route tests) and their responses are checked against the schemas.
cat > "$work/schemathesis.toml" <<EOF
[parameters]
"path.site_id" = "$(field "$data/local.json" site_id)"
"path.run_id" = "$(field "$work/run.json" run_id)"
EOF
token=$("$igny8" --data-dir "$data" token --account "$account" --role owner)

"$igny8" --data-dir "$data" serve --port 0 2> "$work/serve.log" &
server=$!
port=""
for _ in $(seq 100); do
    port=$(sed -n 's|^igny8 API listening on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$work/serve.log" | head -n1)
    [ -n "$port" ] && break
    kill -0 "$server" 2>/dev/null || { cat "$work/serve.log" >&2; echo "schemathesis: igny8 serve exited" >&2; exit 1; }
    sleep 0.1
done
[ -n "$port" ] || { cat "$work/serve.log" >&2; echo "schemathesis: igny8 serve did not report its port" >&2; exit 1; }
echo "schemathesis: igny8 serve on 127.0.0.1:$port" >&2

status=0
# The coverage phase is left out: schemathesis 4.32.5 stops it with an internal
# KeyError (a cache key in its negative-type generator) on this document; the fuzzing
# phase still sends invalid inputs (--mode all).
# From the scratch directory, so nothing schemathesis writes lands in the clone.
(cd "$work" && "$tools_dir/venv/bin/schemathesis" --no-color --config-file "$work/schemathesis.toml" run "http://127.0.0.1:$port/openapi.json" \
    --header "Authorization: Bearer $token" \
    --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance,ignored_auth \
    --phases examples,fuzzing \
    --mode all \
    --max-examples "$max_examples" \
    --seed "${IGNY8_FUZZ_SEED:-8}" \
    --workers 2 \
    --request-timeout 30 \
    --output-sanitize true \
    --generation-database none) \
    || status=$?
if [ "$status" -ne 0 ]; then
    echo "schemathesis: failures above; the server's log follows" >&2
    tail -n 40 "$work/serve.log" >&2
fi
exit "$status"
