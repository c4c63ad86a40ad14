#!/usr/bin/env bash
# cfn-lint on every CloudFormation template of a cloud assembly (default cdk.out). Fails on errors only; warnings
# are printed. Usage: scripts/cfn-lint.sh [cloud-assembly-dir]
# cfn-lint comes from the PATH or the project's .venv/, or is installed there from scripts/python-tools.txt
# (scripts/python-tool.ts); when it cannot be installed, the resolver prints one line saying what is missing and how
# to fix it, and the script stops.
set -euo pipefail
here=$(dirname "$0")
out=${1:-cdk.out}
cfn_lint=$("$here/../node_modules/.bin/tsx" "$here/python-tool.ts" cfn-lint)
mapfile -t templates < <(find "$out" -name '*.template.json' | sort)
if [ ${#templates[@]} -eq 0 ]; then
  echo "cfn-lint: no templates under $out (run a synth first)" >&2
  exit 1
fi
echo "cfn-lint $("$cfn_lint" --version | awk '{print $2}') on ${#templates[@]} template(s): ${templates[*]}"
"$cfn_lint" --non-zero-exit-code error -- "${templates[@]}"
echo "cfn-lint: no errors"
