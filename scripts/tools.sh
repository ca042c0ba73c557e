#!/usr/bin/env bash
# Installs the test tooling: the Python tools (the moto emulator, linters, reportlab for
# the PDF benchmark) into a venv outside the clone, the PDF checkers from Debian, and the
# offline embedding model (scripts/models.sh).
# Idempotent: a stamp of the requirements file's hash skips pip when nothing changed,
# so after the first install it needs no network.
#
#   tools.sh                                  all of the above
#   tools.sh --requirements FILE STAMP-NAME   only FILE's pins into the same venv, once
#                                             per content of FILE (stamp
#                                             .igny8-STAMP-NAME.sha256 in the venv): for
#                                             scripts with Python tools of their own
#                                             (bench_clustering.sh)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools_dir=${IGNY8_TOOLS_DIR:-/var/tmp/igny8-tools}
venv="$tools_dir/venv"

# pip-installs FILE into the venv (created if missing) unless the stamp says this very
# content of FILE is installed already.
install_requirements() { # FILE STAMP-NAME
    local req=$1 stamp="$venv/.igny8-$2.sha256" want
    [ -f "$req" ] || { echo "tools: no requirements file $req" >&2; exit 1; }
    want=$(sha256sum "$req" | cut -d' ' -f1)
    if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        return 0
    fi
    echo "tools: installing $(basename "$req") into $venv" >&2
    mkdir -p "$tools_dir"
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
    echo "$want" >"$stamp"
}

if [ "${1:-}" = --requirements ]; then
    [ $# = 3 ] || { echo "usage: $0 [--requirements FILE STAMP-NAME]" >&2; exit 1; }
    install_requirements "$2" "$3"
    exit 0
fi

# PDF checkers for shared/pdf's tests (qpdf --check, poppler's pdftotext): Debian's
# packages, so the machine's Debian release pins their versions (bookworm: qpdf 11.3,
# poppler 22.12). Skipped once present, so offline afterwards; if Debian cannot be
# reached the PDF tests say they skipped those two checks, nothing else fails.
if ! command -v qpdf >/dev/null || ! command -v pdftotext >/dev/null; then
    echo "tools: installing qpdf and poppler-utils from Debian" >&2
    pdf_tools="qpdf poppler-utils"
    # shellcheck disable=SC2086 # two package names
    apt-get install -y -qq --no-install-recommends $pdf_tools >/dev/null 2>&1 ||
        { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends $pdf_tools >/dev/null 2>&1; } ||
        echo "tools: could not install $pdf_tools; the PDF tests skip their checks" >&2
fi

# The offline embedding model (all-MiniLM-L6-v2) of semantic clustering: its tests need
# it, so it is installed with the rest (pinned, checksummed, offline afterwards).
bash "$root/scripts/models.sh"

# The test tooling; its stamp keeps the name it always had (.igny8-requirements.sha256).
install_requirements "$root/scripts/requirements-test.txt" requirements
