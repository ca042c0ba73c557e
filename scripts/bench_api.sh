#!/usr/bin/env bash
# Load test of the HTTP API on loopback: requests/s and p50/p99 latency of
# `GET /v1/runs/{run_id}` and `POST /v1/sites/{site_id}/keywords` with 1,000 keywords,
# against `igny8 serve` (release build, embedded default: SQLite, request logs on) with
# wrk (Debian's package; installed if missing). Prints the figures; docs/performance.md
# records them. Tests never assert times.
#
# Knobs: IGNY8_BENCH_DURATION (10s), IGNY8_BENCH_THREADS (1: the server needs the
# other core), IGNY8_BENCH_GET_CONNECTIONS (16), IGNY8_BENCH_POST_CONNECTIONS (4).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/igny8-target}
duration=${IGNY8_BENCH_DURATION:-10s}
threads=${IGNY8_BENCH_THREADS:-1}
get_conns=${IGNY8_BENCH_GET_CONNECTIONS:-16}
post_conns=${IGNY8_BENCH_POST_CONNECTIONS:-4}

if ! command -v wrk >/dev/null; then
    echo "bench_api: installing wrk from Debian" >&2
    apt-get install -y wrk >/dev/null
fi
cargo build --release -p igny8-cli --locked --quiet --manifest-path "$root/Cargo.toml"
igny8="$CARGO_TARGET_DIR/release/igny8"

work=$(mktemp -d "${TMPDIR:-/tmp}/igny8-bench-api.XXXXXX")
# shellcheck source=scripts/serve_fixture.sh
source "$root/scripts/serve_fixture.sh"
# A finished run over the example file: the run read by GET, the site imported into.
serve_fixture "$igny8" "$root/examples/keywords.csv" "$work"
IGNY8_BENCH_TOKEN=$token
export IGNY8_BENCH_TOKEN
base="http://127.0.0.1:$port"

# One summary line per wrk run; any non-2xx response or socket error fails the bench.
cat > "$work/report.lua" <<'LUA'
wrk.headers["Authorization"] = "Bearer " .. os.getenv("IGNY8_BENCH_TOKEN")
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT requests=%d rps=%.1f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f non2xx=%d socket_errors=%d\n",
    summary.requests, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    e.status, e.connect + e.read + e.write + e.timeout))
end
LUA

# 1,000 keywords per request. "fresh": new keywords every request (each thread and
# request numbered), so every row is inserted; "repeat": the same 1,000 every time, so
# after the first request all are duplicates (the dedupe path).
keywords_lua() {
    cat "$work/report.lua"
    cat <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local counter = 0
local function body(tag)
  local rows = {}
  for i = 1, 1000 do
    rows[i] = string.format('{"keyword":"%s keyword %d","volume":%d,"difficulty":%d,"cpc":1.25,"intent":"informational"}',
      tag, i, i * 10, i % 101)
  end
  return '{"keywords":[' .. table.concat(rows, ",") .. ']}'
end
local next_thread = 0
setup = function(thread)
  next_thread = next_thread + 1
  thread:set("thread_no", next_thread)
end
LUA
    if [ "$1" = fresh ]; then
        cat <<'LUA'
request = function()
  counter = counter + 1
  return wrk.format(nil, nil, nil, body(string.format("bench t%d r%d", thread_no, counter)))
end
LUA
    else
        cat <<'LUA'
local fixed = nil
request = function()
  fixed = fixed or body("bench repeat")
  return wrk.format(nil, nil, nil, fixed)
end
LUA
    fi
}
keywords_lua fresh > "$work/post_fresh.lua"
keywords_lua repeat > "$work/post_repeat.lua"

bench() { # name connections script url
    local line
    line=$(wrk --latency --timeout 10s -t "$threads" -c "$2" -d "$duration" -s "$3" "$4" | tee "$work/$1.wrk" | grep '^RESULT') || {
        cat "$work/$1.wrk" >&2
        return 1
    }
    echo "$1 $line"
    case "$line" in *"non2xx=0 socket_errors=0"*) ;; *) echo "bench_api: $1 had failed requests" >&2; tail -n 5 "$work/serve.log" >&2; return 1 ;; esac
}

# Warm-up (page cache, SQLite statement cache), not reported.
wrk -t 1 -c 4 -d 2s -s "$work/report.lua" "$base/v1/runs/$run_id" > /dev/null
echo "bench_api: $(nproc) cores, wrk -t $threads -d $duration --latency; release igny8 serve on 127.0.0.1" >&2
{
    bench get_run "$get_conns" "$work/report.lua" "$base/v1/runs/$run_id"
    bench post_keywords_fresh "$post_conns" "$work/post_fresh.lua" "$base/v1/sites/$site_id/keywords"
    bench post_keywords_repeat "$post_conns" "$work/post_repeat.lua" "$base/v1/sites/$site_id/keywords"
} | tee "$work/results.txt"
echo
printf '| request | connections | requests/s | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|---|\n'
while read -r name rest; do
    get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $rest"; }
    case "$name" in get_run) c=$get_conns ;; *) c=$post_conns ;; esac
    printf '| %s | %s | %s | %s | %s | %s |\n' "$name" "$c" "$(get rps)" "$(get p50_ms)" "$(get p99_ms)" "$(get max_ms)"
done < "$work/results.txt"
