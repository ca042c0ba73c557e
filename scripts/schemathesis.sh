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
# shellcheck source=scripts/serve_fixture.sh
source "$root/scripts/serve_fixture.sh"
# Data to fuzz against: a small keyword file keeps the run to seconds in a debug build.
head -n 31 "$root/examples/keywords.csv" > "$work/keywords.csv"
serve_fixture "$igny8" "$work/keywords.csv" "$work"
# Real ids in the paths, so the cases reach real records (unknown ids are a plain 404,
# covered by the route tests) and their responses are checked against the schemas.
cat > "$work/schemathesis.toml" <<EOF
[parameters]
"path.site_id" = "$site_id"
"path.run_id" = "$run_id"
EOF

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
