# Shared by the scripts that run a private test server on 127.0.0.1 (wordpress.sh,
# llm_server.sh): messages, a free port, starting on it, stopping a pid of the
# instance, and the watchdog that stops the instance when the test process that owns
# it dies. Sourced, not run; the sourcing script sets `server_name` (the prefix of its
# messages) first.

log() { echo "$server_name: $*" >&2; }
die() { log "$*"; exit 1; }

# A process of this instance still running (not a zombie, and really ours: its
# command line holds PATTERN - the instance directory, or the server's port - so a
# reused pid is never touched).
instance_alive() { # PID PATTERN
    local pid=$1 state
    [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
    state=$(sed 's/^.*) //' "/proc/$pid/stat" | cut -d' ' -f1)
    [ "$state" != Z ] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$2"
}

# Sends TERM, waits up to SECONDS, then KILL.
stop_pid() { # PID PATTERN SECONDS WHAT
    local pid=$1 i
    instance_alive "$pid" "$2" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < $3 * 10; i++)); do
        instance_alive "$pid" "$2" || return 0
        sleep 0.1
    done
    log "$4 ($pid) ignored TERM for $3 s: killing it"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        instance_alive "$pid" "$2" || return 0
        sleep 0.1
    done
    die "$4 ($pid) survived KILL"
}

# A loopback port the kernel calls free (bound to port 0 and let go): Python where
# there is one, else PHP (the WordPress packages bring it).
free_port() {
    if command -v python3 >/dev/null; then
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
    else
        # shellcheck disable=SC2016 # PHP code, not shell
        php -n -r '$s = stream_socket_server("tcp://127.0.0.1:0"); $n = stream_socket_get_name($s, false); echo substr($n, strrpos($n, ":") + 1);'
    fi
}

# Starts a server on a free port; a port taken between the probe and the server's
# bind ("address already in use" in LOG) is retried with another, five tries in all.
# The sourcing script defines three functions of the port:
#   server_launch PORT   starts the server in the background, leaving its pid in $!
#   server_ready PORT    succeeds once the server answers
#   server_mark PORT     what the server's command line holds (instance_alive's PATTERN)
# Waits up to TICKS × TICK seconds for each try. On success sets server_port and
# server_pid; otherwise returns 1 with no server of the tries left running.
start_on_free_port() { # WHAT LOG TICKS TICK
    local what=$1 server_log=$2 ticks=$3 tick=$4 attempt i
    for attempt in 1 2 3 4 5; do
        server_port=$(free_port)
        server_launch "$server_port"
        server_pid=$!
        for ((i = 0; i < ticks; i++)); do
            server_ready "$server_port" && return 0
            instance_alive "$server_pid" "$(server_mark "$server_port")" || break
            sleep "$tick"
        done 2>/dev/null
        stop_pid "$server_pid" "$(server_mark "$server_port")" 10 "$what"
        grep -qi 'address already in use' "$server_log" 2>/dev/null || break
        log "port $server_port was taken: retrying ($attempt)"
    done
    server_pid=""
    return 1
}

# The watchdog of instance DIR: `SCRIPT watch DIR OWNER_PID` in a session of its own,
# its pid in DIR/watchdog.pid and in `watchdog`.
start_watchdog() { # SCRIPT DIR OWNER_PID
    setsid bash "$1" watch "$2" "$3" </dev/null >/dev/null 2>&1 &
    watchdog=$!
    echo "$watchdog" >"$2/watchdog.pid"
}

# Stops the watchdog of instance DIR first, so it cannot stop the instance a second time.
stop_watchdog() { # DIR
    local watchdog
    watchdog=$(cat "$1/watchdog.pid" 2>/dev/null || true)
    [ -z "$watchdog" ] || stop_pid "$watchdog" "$1" 5 watchdog
    rm -f "$1/watchdog.pid"
}

# The watchdog's loop: while DIR/RUNNING (the server's pid file) exists, checks each
# second that OWNER_PID lives; when it has died (a test binary killed before its Drop
# ran) runs `STOP... DIR`. Ends by itself when the instance is stopped.
watch_owner() { # DIR OWNER_PID RUNNING STOP...
    local dir=$1 owner=$2 running=$3
    shift 3
    while [ -e "$dir/$running" ]; do
        if ! kill -0 "$owner" 2>/dev/null; then
            rm -f "$dir/watchdog.pid"
            "$@" "$dir"
            return 0
        fi
        sleep 1
    done
}
