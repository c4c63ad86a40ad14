#!/usr/bin/env bash
# The CI synth: one real `cdk synth` with bundling (local esbuild), cdk-nag's AwsSolutions checks (they run on every
# synth; an unacknowledged finding fails it), then cfn-lint on every template. Needs no AWS account: dummy
# credentials, no metadata probing, and the CLI's one account probe (STS) is pointed at a closed loopback port.
set -euo pipefail
cd "$(dirname "$0")/.."
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN= AWS_PROFILE=
export AWS_REGION=${AWS_REGION:-us-east-1} AWS_EC2_METADATA_DISABLED=true CDK_DISABLE_CLI_TELEMETRY=true
export AWS_ENDPOINT_URL_STS=http://127.0.0.1:9
out=${1:-cdk.out}
# cfn-lint is found, or installed into .venv/ (scripts/python-tool.ts), before the synth rather than after it: a
# machine without it learns at once, from one line that says how to fix it.
node_modules/.bin/tsx scripts/python-tool.ts cfn-lint >/dev/null
rm -rf "$out"
npx cdk synth --quiet --no-notices --output "$out"
scripts/cfn-lint.sh "$out"
