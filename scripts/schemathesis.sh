#!/usr/bin/env bash
# Fuzzes the HTTP API from its own OpenAPI document: `igny8 serve` on 127.0.0.1 over a
# fresh data directory (an account, a site and a finished run made by `igny8 run`),
# then schemathesis (scripts/requirements-test.txt) against every operation with an
# owner's token (an admin's for the admin-only ones), real ids in every path, a
# bounded number of examples each, valid and invalid inputs. Fails on any server
# error (5xx), any response that does not match the document, any status or media
# type the document does not declare, any operation that answers without a valid
# token (ignored_auth), and any operation that never got past the checks before its
# logic: only 401/403 (missing_auth), only 404 (missing_test_data) or mostly
# rejected valid data (validation_mismatch: the document and the checks disagree).
# The server is always stopped.
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
# Real ids in the paths, so every case reaches a real record and its response is
# checked against the schemas: the fixture's site and run for `{site_id}` and
# `{run_id}`, and for each record kind's `{id}` one record that the reads get and
# another that the delete removes (so the reads never meet a deleted one). Changing a
# site (its status, its automation settings) happens on a second site, so the first
# stays able to start a run: for that, keywords it has not used yet are imported too.
# Unknown ids are a plain 404, covered by the route tests.
sed -n '1p;32,43p' "$root/examples/keywords.csv" > "$work/waiting.csv"
python3 - "$port" "$token" "$site_id" "$run_id" "$work/waiting.csv" > "$work/schemathesis.toml" <<'PY'
import json, sys, urllib.request

port, token, site, run, waiting = sys.argv[1:6]
base = f"http://127.0.0.1:{port}"


def call(method, path, body=None, media="application/json"):
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", media)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def toml(value):
    return json.dumps(value)


call("POST", f"/v1/sites/{site}/keywords", open(waiting, "rb").read(), "text/csv")
spare = call("POST", "/v1/sites", {"name": "Fuzzed settings", "domain": "fuzzed.example.com"})["id"]
print('[warnings]')
print('fail-on = ["missing_auth", "missing_test_data", "validation_mismatch"]')
print('[parameters]')
print(f'"path.site_id" = {toml(site)}')
print(f'"path.run_id" = {toml(run)}')
# One filter per entry: `include-name` is the operation's "METHOD /path" label
# (separate include-path and include-method filters would each match on their own).
for name in ("PATCH /v1/sites/{site_id}", "PUT /v1/sites/{site_id}/automation"):
    print(f'[[operations]]\ninclude-name = {toml(name)}\nparameters = {{ "path.site_id" = {toml(spare)} }}')
# A keyword-import job whose file is uploaded, so its reads and runs reach the job.
job = call("POST", f"/v1/sites/{site}/keyword-imports")
upload = urllib.request.Request(job["upload"]["url"], data=open(waiting, "rb").read(), method="PUT")
upload.add_header("Content-Type", job["upload"]["content_type"])
urllib.request.urlopen(upload, timeout=30).close()
for name in ("GET /v1/sites/{site_id}/keyword-imports/{id}", "POST /v1/sites/{site_id}/keyword-imports/{id}/run"):
    print(f'[[operations]]\ninclude-name = {toml(name)}\nparameters = {{ "path.id" = {toml(job["id"])} }}')
for kind in ("keywords", "clusters", "ideas", "tasks", "content", "images"):
    ids = [item["id"] for item in call("GET", f"/v1/sites/{site}/{kind}?limit=2")["items"]]
    if len(ids) < 2:
        sys.exit(f"the fixture has {len(ids)} {kind}; two are needed")
    for method, record in (("GET", ids[0]), ("DELETE", ids[1])):
        name = f"{method} /v1/sites/{{site_id}}/{kind}/{{id}}"
        print(f'[[operations]]\ninclude-name = {toml(name)}\nparameters = {{ "path.id" = {toml(record)} }}')
PY

# Operations only an administrator may call; fuzzed on their own with an admin's
# token, after the others (a price or a grant they set cannot starve a run started
# by the first pass).
admin_only=(/v1/accounts /v1/billing/credits "/v1/billing/costs/{operation}" /v1/billing/reconcile)
exclude=() include=()
for path in "${admin_only[@]}"; do exclude+=(--exclude-path "$path"); include+=(--include-path "$path"); done

fuzz() {
    local bearer=$1
    shift
    # The coverage phase is left out: schemathesis 4.32.5 stops it with an internal
    # KeyError (a cache key in its negative-type generator) on this document; the
    # fuzzing phase still sends invalid inputs (--mode all).
    # From the scratch directory, so nothing schemathesis writes lands in the clone.
    (cd "$work" && "$tools_dir/venv/bin/schemathesis" --no-color --config-file "$work/schemathesis.toml" run "http://127.0.0.1:$port/openapi.json" \
        --header "Authorization: Bearer $bearer" \
        --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance,ignored_auth \
        --phases examples,fuzzing \
        --mode all \
        --max-examples "$max_examples" \
        --seed "${IGNY8_FUZZ_SEED:-8}" \
        --workers 2 \
        --request-timeout 30 \
        --output-sanitize true \
        --generation-database none \
        "$@")
}

status=0
fuzz "$token" "${exclude[@]}" || status=$?
[ "$status" -ne 0 ] || fuzz "$admin_token" "${include[@]}" || status=$?
if [ "$status" -ne 0 ]; then
    echo "schemathesis: failures above; the server's log follows" >&2
    tail -n 40 "$work/serve.log" >&2
fi
exit "$status"
