# Sourced by scripts that drive `igny8 serve` (schemathesis.sh, bench_api.sh): a data
# directory with one finished run, an owner's and an admin's token (same account) and
# the server on a free port of 127.0.0.1. Call `serve_fixture IGNY8_BINARY KEYWORDS_CSV
# WORK_DIR`; it sets `data`, `account`, `site_id`, `run_id`, `token`, `admin_token`,
# `server` and `port`, and installs a trap that stops the server and removes WORK_DIR
# on exit.

server=""
serve_work=""

serve_stop() {
    if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
        # igny8 serve stops gracefully on SIGINT; SIGKILL if it has not within 5 s.
        kill -INT "$server" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    [ -z "$serve_work" ] || rm -rf "$serve_work"
}

json_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

serve_fixture() {
    local igny8=$1 keywords=$2
    serve_work=$3
    trap serve_stop EXIT INT TERM
    data="$serve_work/data"
    "$igny8" --data-dir "$data" run --keywords "$keywords" --quiet --json > "$serve_work/run.json"
    account=$(json_field "$data/local.json" account_id)
    site_id=$(json_field "$data/local.json" site_id)
    run_id=$(json_field "$serve_work/run.json" run_id)
    token=$("$igny8" --data-dir "$data" token --account "$account" --role owner)
    admin_token=$("$igny8" --data-dir "$data" token --account "$account" --role admin)
    "$igny8" --data-dir "$data" serve --port 0 2> "$serve_work/serve.log" &
    server=$!
    port=""
    for _ in $(seq 100); do
        port=$(sed -n 's|^igny8 API listening on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$serve_work/serve.log" | head -n1)
        [ -n "$port" ] && break
        kill -0 "$server" 2>/dev/null || { cat "$serve_work/serve.log" >&2; echo "igny8 serve exited" >&2; return 1; }
        sleep 0.1
    done
    [ -n "$port" ] || { cat "$serve_work/serve.log" >&2; echo "igny8 serve did not report its port" >&2; return 1; }
    echo "igny8 serve on 127.0.0.1:$port" >&2
}
