#!/usr/bin/env bash
# Create .venv (if needed) and install the package with the extras named in $1
# (default: cli,local,test,lint,docs). Everything comes from pyproject.toml's ranges.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-cli,local,test,lint,docs}"
python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python 3.10+ is required")'
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
# OAS_BOOTSTRAP_QUIET="" shows pip's progress (scripts/demo.sh does, on a first run).
quiet="${OAS_BOOTSTRAP_QUIET---quiet}"
.venv/bin/python -m pip install ${quiet:+"$quiet"} --upgrade pip
.venv/bin/python -m pip install ${quiet:+"$quiet"} -e ".[${extras}]" -c constraints.txt
