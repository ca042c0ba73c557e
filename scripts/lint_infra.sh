#!/usr/bin/env bash
# Lints the SAM template offline: cfn-lint (pinned 1.53.3, which still applies the SAM
# transform before linting) and `sam validate` (the SAM translator itself), plus a check
# that every ${...} placeholder of a state machine's definition has its
# DefinitionSubstitution and vice versa. Needs no AWS account and no network: dummy
# credentials and an empty AWS config keep the SDK from looking for real ones.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools_dir=${IGNY8_TOOLS_DIR:-/var/tmp/igny8-tools}
template=${1:-infra/template.yaml}
bash "$root/scripts/tools.sh"
bin="$tools_dir/venv/bin"

export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
export SAM_CLI_TELEMETRY=0
unset AWS_PROFILE AWS_SESSION_TOKEN
cd "$root"

"$bin/cfn-lint" "$template"
echo "cfn-lint $("$bin/cfn-lint" --version | awk '{print $2}'): $template OK"

"$bin/sam" validate --template "$template" --region us-east-1

"$bin/python" - "$template" <<'PY'
import os, re, sys
from cfnlint.decode import decode

path = sys.argv[1]
template, errors = decode(path)
if errors:
    sys.exit(f"{path}: cannot parse: {errors}")
failed = False
for name, resource in (template.get("Resources") or {}).items():
    if resource.get("Type") != "AWS::Serverless::StateMachine":
        continue
    props = resource.get("Properties") or {}
    uri = props.get("DefinitionUri")
    if not isinstance(uri, str) or uri.startswith("s3://"):
        continue
    asl = os.path.normpath(os.path.join(os.path.dirname(path), uri))
    wanted = set(re.findall(r"\$\{(\w+)\}", open(asl).read()))
    given = set((props.get("DefinitionSubstitutions") or {}).keys())
    for key in sorted(wanted - given):
        print(f"{path}: {name}: {asl} uses ${{{key}}} but DefinitionSubstitutions lacks it", file=sys.stderr)
        failed = True
    for key in sorted(given - wanted):
        print(f"{path}: {name}: DefinitionSubstitutions.{key} is not used by {asl}", file=sys.stderr)
        failed = True
    if not failed:
        print(f"substitutions: {name}: all {len(wanted)} placeholders of {os.path.relpath(asl)} substituted")
sys.exit(1 if failed else 0)
PY

# The integrations key's least privilege (docs/deploy.md): only the api may seal
# (GenerateDataKey), only the api, the scheduler and stage-publish may open (Decrypt),
# every grant requires exactly the account/site/integration encryption context, the
# account root may administer but not use the key, and exactly those three functions
# get the key's ARN.
"$bin/python" - "$template" <<'PY'
import sys
from cfnlint.decode import decode

path = sys.argv[1]
template, errors = decode(path)
if errors:
    sys.exit(f"{path}: cannot parse: {errors}")
resources = template["Resources"]
keys = [n for n, r in resources.items() if r.get("Type") == "AWS::KMS::Key"]
if keys != ["IntegrationsKey"]:
    sys.exit(f"{path}: expected one KMS key, IntegrationsKey; found {keys}")
statements = resources["IntegrationsKey"]["Properties"]["KeyPolicy"]["Statement"]
CONTEXT = ["account_id", "site_id", "integration_id"]

def role(principal):
    # !GetAtt XFunctionRole.Arn → XFunction
    value = principal if isinstance(principal, dict) else {}
    att = value.get("Fn::GetAtt")
    if isinstance(att, str):
        att = att.split(".")
    return att[0].removesuffix("Role") if att else repr(principal)

grants = {}
failed = []
for st in statements:
    actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
    principals = st["Principal"]["AWS"]
    principals = principals if isinstance(principals, list) else [principals]
    crypto = [a for a in actions if a in ("kms:Decrypt", "kms:GenerateDataKey", "kms:Encrypt", "kms:ReEncrypt*", "kms:*", "kms:GenerateDataKey*")]
    if st.get("Sid") == "AdministerKeyNotUseIt":
        if crypto:
            failed.append(f"the root statement allows {crypto}")
        continue
    cond = st.get("Condition") or {}
    keys_cond = (cond.get("ForAllValues:StringEquals") or {}).get("kms:EncryptionContextKeys")
    likes = cond.get("StringLike") or {}
    if sorted(keys_cond or []) != sorted(CONTEXT) or sorted(k.split(":")[-1] for k in likes) != sorted(CONTEXT):
        failed.append(f"{st.get('Sid')}: grants without exactly the account/site/integration context")
    for action in actions:
        grants.setdefault(action, set()).update(role(p) for p in principals)
want = {"kms:GenerateDataKey": {"ApiFunction"}, "kms:Decrypt": {"ApiFunction", "SchedulerFunction", "StagePublishFunction"}}
if grants != want:
    failed.append(f"key grants {grants}, expected {want}")
with_key = sorted(
    n for n, r in resources.items()
    if r.get("Type") == "AWS::Serverless::Function"
    and "IGNY8_KMS_KEY_ID" in (((r.get("Properties") or {}).get("Environment") or {}).get("Variables") or {})
)
if with_key != ["ApiFunction", "SchedulerFunction", "StagePublishFunction"]:
    failed.append(f"IGNY8_KMS_KEY_ID is given to {with_key}")
for f in failed:
    print(f"{path}: IntegrationsKey: {f}", file=sys.stderr)
if failed:
    sys.exit(1)
print("integrations key: GenerateDataKey api only, Decrypt api/scheduler/stage-publish, context required")
PY
