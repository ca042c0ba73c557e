#!/usr/bin/env bash
# A real WordPress on 127.0.0.1 for the integration tests, from Debian's own packages.
#
#   wordpress.sh install      install the packages (idempotent; .debs cached outside the clone)
#   wordpress.sh start DIR [OWNER_PID]
#                             start a private instance under DIR; prints one JSON object.
#                             With OWNER_PID, a watchdog stops it (and deletes DIR) when
#                             that process dies. IGNY8_WP_PERMALINKS=pretty|plain,
#                             IGNY8_WP_ENVIRONMENT=local|production (WP_ENVIRONMENT_TYPE),
#                             IGNY8_WP_SEO_META=none|yoast (yoast: Yoast's post meta keys
#                             registered in REST by a must-use plugin).
#   wordpress.sh stop DIR     stop that instance's Apache and MariaDB and wait for them
#
# See docs/testing.md for the layout, the costs and how to debug an instance.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
assets="$here/wordpress"
pkg_root=${IGNY8_PKG_DIR:-/var/tmp/igny8-pkg}
deb_cache="$pkg_root/debs"
template_root="$pkg_root/wordpress-template"
versions_lock="$assets/versions.lock"
dispatcher=/etc/wordpress/config-igny8.php
policy_rc=/usr/sbin/policy-rc.d
server_name=wordpress
# shellcheck source=lib/server.sh
. "$here/lib/server.sh"

# The packages asked for, and those whose versions are pinned in versions.lock.
packages=(wordpress wordpress-theme-twentytwentythree apache2 libapache2-mod-php php-mysql mariadb-server-core mariadb-client-core)
pinned=(wordpress wordpress-theme-twentytwentythree apache2-bin libapache2-mod-php8.2 php8.2-cli php8.2-mysql mariadb-server-core mariadb-client-core)

installed_version() {
    dpkg-query -W -f='${db:Status-Status} ${Version}' "$1" 2>/dev/null | awk '$1 == "installed" { print $2 }'
}

missing_packages() {
    local p
    for p in "${packages[@]}"; do
        [ -n "$(installed_version "$p")" ] || echo "$p"
    done
}

# The missing packages on one line, for messages.
missing_list() {
    missing_packages | tr '\n' ' '
}

# Compares the installed versions with versions.lock: a mismatch is a warning, or an
# error under IGNY8_WORDPRESS_STRICT=1. `IGNY8_WORDPRESS_RECORD=1` rewrites the lock.
check_pins() {
    local p want got bad=0
    if [ "${IGNY8_WORDPRESS_RECORD:-0}" = 1 ] || [ ! -s "$versions_lock" ]; then
        for p in "${pinned[@]}"; do echo "$p=$(installed_version "$p")"; done >"$versions_lock"
        log "recorded installed versions in $versions_lock"
        return 0
    fi
    for p in "${pinned[@]}"; do
        want=$(sed -n "s/^$p=//p" "$versions_lock")
        got=$(installed_version "$p")
        if [ "$want" != "$got" ]; then
            log "version mismatch: $p pinned ${want:-<none>}, installed ${got:-<none>}"
            bad=1
        fi
    done
    if [ "$bad" = 1 ]; then
        [ "${IGNY8_WORDPRESS_STRICT:-0}" = 1 ] && die "refusing (IGNY8_WORDPRESS_STRICT=1); IGNY8_WORDPRESS_RECORD=1 re-pins"
        log "continuing with the installed versions (IGNY8_WORDPRESS_STRICT=1 refuses, IGNY8_WORDPRESS_RECORD=1 re-pins)"
    fi
}

cmd_install() {
    local missing
    mapfile -t missing < <(missing_packages)
    if [ "${#missing[@]}" = 0 ]; then
        check_pins
        install_dispatcher
        return 0
    fi
    [ "$(id -u)" = 0 ] || die "missing packages: ${missing[*]} - install needs root (apt-get, dpkg)"
    # One install at a time on this machine (test binaries of several worktrees).
    mkdir -p "$deb_cache/partial"
    exec 8>"$pkg_root/install.lock"
    flock 8
    mapfile -t missing < <(missing_packages)
    if [ "${#missing[@]}" = 0 ]; then
        check_pins
        install_dispatcher
        return 0
    fi
    log "installing: ${missing[*]}"
    [ -e "$pkg_root/CACHEDIR.TAG" ] || printf 'Signature: 8a477f597d28d172789f06886806bc55\n# igny8: cached Debian packages for scripts/wordpress.sh\n' >"$pkg_root/CACHEDIR.TAG"
    # Keep the package scripts from starting the system's apache2 on :80 (Debian's
    # invoke-rc.d honours policy-rc.d); an existing policy is left as it is.
    own_policy=0
    if [ ! -e "$policy_rc" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy_rc" && chmod 755 "$policy_rc" && own_policy=1
        trap '[ "$own_policy" = 1 ] && rm -f "$policy_rc"' EXIT
    fi
    export DEBIAN_FRONTEND=noninteractive
    local apt=(apt-get -y -q --no-install-recommends -o "Dir::Cache::archives=$deb_cache" -o Dpkg::Use-Pty=0 -o DPkg::Lock::Timeout=300)
    # Offline first: every .deb this machine downloaded before, resolved among themselves.
    local debs=("$deb_cache"/*.deb) apt_log="$pkg_root/apt.log"
    if [ -e "${debs[0]}" ] && "${apt[@]}" install "${debs[@]}" >"$apt_log" 2>&1 && [ -z "$(missing_packages)" ]; then
        log "installed from the cache $deb_cache (no network)"
    else
        log "downloading into $deb_cache (log: $apt_log)"
        { apt-get update -q && "${apt[@]}" install --download-only "${missing[@]}" && "${apt[@]}" install "${missing[@]}"; } \
            >"$apt_log" 2>&1 || { tail -n 20 "$apt_log" >&2; die "apt-get failed (log: $apt_log)"; }
    fi
    if [ "$own_policy" = 1 ]; then rm -f "$policy_rc"; own_policy=0; fi
    [ -z "$(missing_packages)" ] || die "still missing after install: $(missing_list)"
    check_pins
    install_dispatcher
}

# Debian's wp-config.php only reads /etc/wordpress/config-<name>.php: one static
# dispatcher there (config-igny8.php) hands each request to its instance's own config.
install_dispatcher() {
    cmp -s "$assets/config-igny8.php" "$dispatcher" && return 0
    [ "$(id -u)" = 0 ] || die "$dispatcher is missing or stale - run install as root"
    install -m 0644 "$assets/config-igny8.php" "$dispatcher"
}

# ---------------------------------------------------------------------------
# Instances

# MariaDB for one instance: private datadir and socket, no TCP at all, small and
# relaxed (a test database: durability of the last second does not matter).
mysqld_opts() { # DIR
    local d="$1/mysql"
    printf '%s\n' --no-defaults "--datadir=$d/data" "--socket=$d/mysqld.sock" "--pid-file=$d/mysqld.pid" \
        "--log-error=$d/mysqld.log" --skip-networking --skip-name-resolve --skip-log-bin \
        --performance-schema=OFF --innodb-buffer-pool-size=32M --innodb-log-file-size=8M \
        --innodb-flush-log-at-trx-commit=2 --innodb-doublewrite=0 --max-connections=64 \
        --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci
    [ "$(id -u)" != 0 ] || echo --user=root
}

start_mysqld() { # DIR
    local dir=$1 opts i
    mapfile -t opts < <(mysqld_opts "$dir")
    setsid /usr/sbin/mariadbd "${opts[@]}" </dev/null >>"$dir/mysql/mysqld.log" 2>&1 &
    echo $! >"$dir/mysql/mysqld.launch.pid"
    for ((i = 0; i < 300; i++)); do
        [ -S "$dir/mysql/mysqld.sock" ] && [ -s "$dir/mysql/mysqld.pid" ] && return 0
        instance_alive "$(cat "$dir/mysql/mysqld.launch.pid")" "$dir" || break
        sleep 0.05
    done
    tail -n 20 "$dir/mysql/mysqld.log" >&2
    die "mariadbd did not start (log: $dir/mysql/mysqld.log)"
}

stop_mysqld() { # DIR
    local dir=$1 pid
    pid=$(cat "$dir/mysql/mysqld.pid" 2>/dev/null || cat "$dir/mysql/mysqld.launch.pid" 2>/dev/null || true)
    stop_pid "$pid" "$dir" 60 mariadbd
    rm -f "$dir/mysql/mysqld.pid" "$dir/mysql/mysqld.launch.pid"
}

random_text() { # LENGTH (at most ~200)
    local text
    text=$(head -c 1024 /dev/urandom | tr -dc 'A-Za-z0-9')
    echo "${text:0:$1}"
}

# Renders a template file: every @NAME@ replaced with the value given as NAME=value.
render() { # TEMPLATE OUT NAME=VALUE...
    local text name value
    text=$(<"$1")
    local out=$2
    shift 2
    for pair in "$@"; do
        name=${pair%%=*}
        value=${pair#*=}
        text=${text//@"$name"@/"$value"}
    done
    printf '%s\n' "$text" >"$out"
}

# The instance's files around the database: wp-config.php, wp-content (Debian's
# themes and plugins, a private uploads dir), writable by Apache's user.
lay_out_instance() { # DIR URL DB_PASSWORD ENVIRONMENT
    local dir=$1 url=$2 keys=() i
    for i in 1 2 3 4 5 6 7 8; do keys+=("KEY$i=$(random_text 64)"); done
    mkdir -p "$dir/wp-content/uploads"
    ln -sfn /var/lib/wordpress/wp-content/themes "$dir/wp-content/themes"
    ln -sfn /var/lib/wordpress/wp-content/plugins "$dir/wp-content/plugins"
    ln -sfn /var/lib/wordpress/wp-content/languages "$dir/wp-content/languages"
    render "$assets/wp-config.php.in" "$dir/wp-config.php" "DIR=$dir" "URL=$url" "DB_PASSWORD=$3" "ENVIRONMENT=$4" "${keys[@]}"
    : >>"$dir/wp-debug.log"
    if [ "$(id -u)" = 0 ]; then
        # Apache's children run as www-data: they may cross DIR, read the config and
        # write uploads and the debug log, nothing more.
        chmod 0711 "$dir" "$dir/mysql"
        chown root:www-data "$dir/wp-config.php"
        chmod 0640 "$dir/wp-config.php"
        chown -R www-data:www-data "$dir/wp-content/uploads" "$dir/wp-debug.log"
    fi
}

# What a template depends on: the installed versions and the files that build it.
template_key() {
    {
        for p in "${pinned[@]}"; do echo "$p=$(installed_version "$p")"; done
        cat "$assets/install.php" "$assets/bootstrap.php" "$assets/wp-config.php.in"
        mysqld_opts /
    } | sha256sum | cut -c1-16
}

# A datadir with WordPress installed and the test users created, built once per
# template key (under a lock, so parallel starts build it once) and copied per start.
ensure_template() {
    local key tdir build
    key=$(template_key)
    tdir="$template_root/$key"
    [ -e "$tdir/ready" ] && { echo "$tdir"; return 0; }
    mkdir -p "$template_root"
    exec 9>"$template_root/.lock"
    flock 9
    if [ ! -e "$tdir/ready" ]; then
        log "building the WordPress template $tdir (once per package versions)"
        rm -rf "$tdir"
        build=$(mktemp -d "$template_root/build.XXXXXX")
        mkdir -p "$build/mysql"
        local as_root=()
        [ "$(id -u)" != 0 ] || as_root=(--user=root)
        /usr/bin/mariadb-install-db --no-defaults "--datadir=$build/mysql/data" --auth-root-authentication-method=socket \
            --skip-test-db --skip-name-resolve "${as_root[@]}" >"$build/install-db.log" 2>&1 \
            || { tail -n 20 "$build/install-db.log" >&2; die "mariadb-install-db failed (log: $build/install-db.log)"; }
        start_mysqld "$build"
        local password
        password=$(random_text 32)
        /usr/bin/mariadb --no-defaults -S "$build/mysql/mysqld.sock" -u "$(id -un)" -e "
            CREATE DATABASE wordpress CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
            CREATE USER 'igny8'@'localhost' IDENTIFIED BY '$password';
            GRANT ALL PRIVILEGES ON wordpress.* TO 'igny8'@'localhost';" \
            || { stop_mysqld "$build"; die "creating the database failed"; }
        lay_out_instance "$build" "http://127.0.0.1" "$password" local
        php "$assets/install.php" "$build/wp-config.php" >"$build/install.log" 2>&1 \
            || { cat "$build/install.log" >&2; stop_mysqld "$build"; die "wp_install failed (kept: $build)"; }
        stop_mysqld "$build"
        echo "$password" >"$build/db_password"
        rm -rf "$build/wp-content" "$build/wp-config.php" "$build/mysql/mysqld.sock"
        mv "$build" "$tdir"
        touch "$tdir/ready"
    fi
    exec 9>&-
    echo "$tdir"
}

port_answers() { # PORT
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Apache on a free loopback port (lib/server.sh's start_on_free_port).
start_apache() { # DIR PERMALINKS -> prints PORT
    local dir=$1 user_lines="" rewrite
    [ "$(id -u)" != 0 ] || user_lines=$'User www-data\nGroup www-data'
    if [ "$2" = pretty ]; then
        rewrite=$(<"$assets/rewrite.conf")
    else
        rewrite="    # Plain permalinks: no rewriting, as on a host without mod_rewrite."
    fi
    mkdir -p "$dir/apache"
    server_launch() { # PORT
        render "$assets/httpd.conf.in" "$dir/apache/httpd.conf" "DIR=$dir" "PORT=$1" "USER_LINES=$user_lines" "REWRITE=$rewrite"
        setsid /usr/sbin/apache2 -f "$dir/apache/httpd.conf" -DFOREGROUND </dev/null >>"$dir/apache/error.log" 2>&1 &
    }
    server_ready() { port_answers "$1"; }
    server_mark() { echo "$dir"; }
    if start_on_free_port apache2 "$dir/apache/error.log" 200 0.05; then
        echo "$server_pid" >"$dir/apache/apache.pid"
        echo "$server_port"
        return 0
    fi
    tail -n 20 "$dir/apache/error.log" >&2
    die "apache2 did not start (log: $dir/apache/error.log)"
}

# What the watchdog does when the test process that owns the instance dies.
stop_and_delete() { # DIR
    cmd_stop "$1"
    rm -rf "$1"
}

cmd_start() { # DIR [OWNER_PID]
    local dir=${1:-} owner=${2:-} started tdir port url watchdog=""
    local permalinks=${IGNY8_WP_PERMALINKS:-pretty} environment=${IGNY8_WP_ENVIRONMENT:-local}
    local seo_meta=${IGNY8_WP_SEO_META:-none}
    [ -d "$dir" ] || die "start needs an existing directory, not '$dir'"
    [[ "$permalinks" =~ ^(pretty|plain)$ ]] || die "IGNY8_WP_PERMALINKS must be pretty or plain, not $permalinks"
    [[ "$environment" =~ ^(local|development|staging|production)$ ]] \
        || die "IGNY8_WP_ENVIRONMENT must be local, development, staging or production, not $environment"
    [[ "$seo_meta" =~ ^(none|yoast)$ ]] || die "IGNY8_WP_SEO_META must be none or yoast, not $seo_meta"
    [ -z "$owner" ] || [[ "$owner" =~ ^[0-9]+$ ]] || die "OWNER_PID must be a process id, not $owner"
    dir=$(cd "$dir" && pwd -P)
    [ ${#dir} -le 80 ] || die "$dir is too long for a unix socket path (80 characters at most)"
    [ ! -e "$dir/mysql" ] || die "$dir already holds an instance"
    [ -z "$(missing_packages)" ] || die "packages missing: $(missing_list)- run: $0 install"
    cmp -s "$assets/config-igny8.php" "$dispatcher" || die "$dispatcher missing or stale - run: $0 install"
    started=$(date +%s%N)
    tdir=$(ensure_template)
    # From here on a failure stops whatever of the instance already runs.
    trap 'cmd_stop "$dir" >/dev/null 2>&1 || true' EXIT
    mkdir -p "$dir/mysql"
    cp -a --reflink=auto "$tdir/mysql/data" "$dir/mysql/data"
    start_mysqld "$dir"
    port=$(start_apache "$dir" "$permalinks") || exit 1
    url="http://127.0.0.1:$port"
    lay_out_instance "$dir" "$url" "$(cat "$tdir/db_password")" "$environment"
    if [ "$seo_meta" = yoast ]; then
        mkdir -p "$dir/wp-content/mu-plugins"
        cp "$assets/seo-meta.php" "$dir/wp-content/mu-plugins/seo-meta.php"
    fi
    [ -z "$owner" ] || start_watchdog "$here/wordpress.sh" "$dir" "$owner"
    local pids
    pids="{\"mysqld\": $(cat "$dir/mysql/mysqld.pid"), \"apache\": $(cat "$dir/apache/apache.pid")${watchdog:+, \"watchdog\": $watchdog}}"
    IGNY8_WP_URL="$url" IGNY8_WP_PIDS="$pids" IGNY8_WP_PERMALINKS="$permalinks" php "$assets/instance.php" "$dir/wp-config.php" >"$dir/instance.json" 2>"$dir/instance.log" \
        || { cat "$dir/instance.log" >&2; die "creating application passwords failed"; }
    trap - EXIT
    log "started $url in $(( ($(date +%s%N) - started) / 1000000 )) ms (instance: $dir)"
    cat "$dir/instance.json"
}

cmd_stop() { # DIR
    local dir=${1:-}
    [ -d "$dir" ] || die "stop needs the instance directory, not '$dir'"
    dir=$(cd "$dir" && pwd -P)
    stop_watchdog "$dir"
    stop_pid "$(cat "$dir/apache/apache.pid" 2>/dev/null || true)" "$dir" 20 apache2
    rm -f "$dir/apache/apache.pid"
    stop_mysqld "$dir"
}

case "${1:-}" in
    install) cmd_install ;;
    start) shift; cmd_start "$@" ;;
    stop) shift; cmd_stop "$@" ;;
    watch) watch_owner "$2" "$3" apache/apache.pid stop_and_delete ;;
    *) die "usage: $0 install | start DIR [OWNER_PID] | stop DIR" ;;
esac
