#!/usr/bin/env bash
# The README's first command: install (once), then run the demo conversation on an
# embedded local DynamoDB (moto's server on 127.0.0.1; no AWS account, no Docker).
set -euo pipefail
cd "$(dirname "$0")/.."
extras="local"
# What the install depends on: this checkout, its requirements and the extras. The
# stamp left in .venv by the last install says whether they changed since; when they
# did not, a rerun skips pip and starts at once.
wanted="$(python3 -c 'import hashlib, os, sys
digest = hashlib.sha256()
for name in ("pyproject.toml", "constraints.txt"):
    with open(name, "rb") as f:
        digest.update(f.read())
print(os.getcwd(), sys.argv[1], digest.hexdigest())' "$extras")"
stamp=".venv/.openai-agents-session-demo"
if [ ! -x .venv/bin/openai-agents-session ] || [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "Installing openai-agents-session[${extras}] into .venv (about a minute the first time)..." >&2
  # pip's own progress shows; one attempt, whose errors are on screen if it fails.
  OAS_BOOTSTRAP_QUIET="" bash scripts/bootstrap.sh "$extras"
  printf '%s\n' "$wanted" >"$stamp"
fi
exec .venv/bin/openai-agents-session demo "$@"
