#!/usr/bin/env bash
# Lints every state machine with statelint, after applying the DefinitionSubstitutions
# the way SAM does (placeholder Lambda ARNs), since Step Functions sees only the result.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools_dir=${IGNY8_TOOLS_DIR:-/var/tmp/igny8-tools}
bash "$root/scripts/tools.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for asl in "$root"/statemachines/*.asl.json; do
    out="$work/$(basename "$asl")"
    "$tools_dir/venv/bin/python" - "$asl" "$out" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
text = re.sub(r"\$\{(\w+)\}", lambda m: f"arn:aws:lambda:us-east-1:123456789012:function:{m.group(1)}", text)
open(sys.argv[2], "w").write(text)
PY
    "$tools_dir/venv/bin/statelint" "$out"
    echo "statelint: $(basename "$asl") OK"
done
