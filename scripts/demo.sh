#!/usr/bin/env bash
# The README's first command: install, then run the demo conversation on an
# embedded local DynamoDB (moto's server on 127.0.0.1; no AWS account, no Docker).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh "local" >/dev/null 2>&1 || bash scripts/bootstrap.sh "local"
exec .venv/bin/openai-agents-session demo "$@"
