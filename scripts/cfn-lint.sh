#!/usr/bin/env bash
# cfn-lint on every CloudFormation template of a cloud assembly (default cdk.out). Fails on errors only; warnings
# are printed. Usage: scripts/cfn-lint.sh [cloud-assembly-dir]
set -euo pipefail
out=${1:-cdk.out}
mapfile -t templates < <(find "$out" -name '*.template.json' | sort)
if [ ${#templates[@]} -eq 0 ]; then
  echo "cfn-lint: no templates under $out (run a synth first)" >&2
  exit 1
fi
echo "cfn-lint $(cfn-lint --version | awk '{print $2}') on ${#templates[@]} template(s): ${templates[*]}"
cfn-lint --non-zero-exit-code error -- "${templates[@]}"
echo "cfn-lint: no errors"
