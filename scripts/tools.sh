#!/usr/bin/env bash
# Installs the Python test tooling (the moto emulator) into a venv outside the clone.
# Idempotent: a stamp of the requirements file's hash skips pip when nothing changed,
# so after the first install it needs no network.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools_dir=${IGNY8_TOOLS_DIR:-/var/tmp/igny8-tools}
venv="$tools_dir/venv"
req="$root/scripts/requirements-test.txt"
stamp="$venv/.igny8-requirements.sha256"
want=$(sha256sum "$req" | cut -d' ' -f1)

if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    exit 0
fi
echo "tools: installing test tooling into $venv" >&2
mkdir -p "$tools_dir"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
echo "$want" > "$stamp"
