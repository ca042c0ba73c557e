#!/usr/bin/env bash
# Builds every Lambda in functions/ with cargo-lambda (zig as the cross linker, both
# from PyPI into a pinned venv outside the clone) into bootstrap.zip files and prints
# each zip's size. The build cache is CARGO_TARGET_DIR (cargo-lambda's --target-dir
# flag is broken with cargo 1.95). ARCH=x86-64 (default) or arm64 (needs the
# aarch64-unknown-linux-gnu target installed).
#
# One cargo-lambda invocation for all functions, so the dependency tree compiles
# once, with the root Cargo.toml's [profile.lambda] (no cross-crate LTO; see the
# comment there). --disable-optimizations stops cargo-lambda from layering its own
# release defaults (panic = "abort", fat LTO, one codegen unit) over that profile.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/igny8-target}
tools_dir=${IGNY8_TOOLS_DIR:-/var/tmp/igny8-tools}
venv="$tools_dir/pkg-venv"
req="$root/scripts/requirements-package.txt"
stamp="$venv/.igny8-requirements.sha256"
want=$(sha256sum "$req" | cut -d' ' -f1)
if ! [ -x "$venv/bin/cargo-lambda" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
    echo "$want" > "$stamp"
fi
export PATH="$venv/bin:$PATH"
arch=${ARCH:-x86-64}
packages=()
for dir in functions/*/; do
    name=$(basename "$dir")
    [ "$name" = lambda ] && continue
    packages+=(-p "$name")
done
cargo lambda build --profile lambda --disable-optimizations "--$arch" --output-format zip "${packages[@]}"
echo "function zip sizes ($arch, profile lambda):"
for dir in functions/*/; do
    name=$(basename "$dir")
    [ "$name" = lambda ] && continue
    zip="$CARGO_TARGET_DIR/lambda/$name/bootstrap.zip"
    printf '  %-22s %8.2f MB\n' "$name" "$(echo "$(stat -c %s "$zip") / 1048576" | bc -l)"
done
