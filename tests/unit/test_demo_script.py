"""`scripts/demo.sh`: installs once, visibly; reruns skip the install; a failure runs it once.

The script runs for real in a scratch copy of the checkout whose
``scripts/bootstrap.sh`` is a stand-in that records its calls and creates the
console script, so the test needs neither the network nor a new virtualenv.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

FAKE_BOOTSTRAP = """#!/usr/bin/env bash
set -euo pipefail
echo "bootstrap $1 quiet=[${OAS_BOOTSTRAP_QUIET-unset}]" >> calls.log
echo "Collecting openai-agents-session (pip progress)"
if [ -n "${FAIL_INSTALL:-}" ]; then echo "ERROR: no matching distribution" >&2; exit 1; fi
mkdir -p .venv/bin
printf '#!/usr/bin/env bash\\necho "demo ran: $*"\\n' > .venv/bin/openai-agents-session
chmod +x .venv/bin/openai-agents-session
"""


def checkout(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "demo.sh", tmp_path / "scripts" / "demo.sh")
    (tmp_path / "scripts" / "bootstrap.sh").write_text(FAKE_BOOTSTRAP)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    (tmp_path / "constraints.txt").write_text("")
    return tmp_path


def demo(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(root / "scripts" / "demo.sh"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", **env},
    )


def calls(root: Path) -> list[str]:
    log = root / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def test_first_run_shows_the_install_and_reruns_skip_it(tmp_path: Path) -> None:
    root = checkout(tmp_path)
    first = demo(root, "--json")
    assert first.returncode == 0, first.stderr
    # Today: the install's output went to /dev/null for ~45 s.
    assert "Installing openai-agents-session[local]" in first.stderr
    assert "pip progress" in first.stdout
    assert calls(root) == ["bootstrap local quiet=[]"]
    assert first.stdout.strip().endswith("demo ran: demo --json")
    # Today: every rerun reinstalled (4.5 s).
    again = demo(root)
    assert again.returncode == 0 and calls(root) == ["bootstrap local quiet=[]"]
    assert again.stdout.strip() == "demo ran: demo" and again.stderr == ""
    # Changed requirements, or a venv without the console script: install again.
    (root / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "2"\n')
    assert demo(root).returncode == 0 and len(calls(root)) == 2
    (root / ".venv" / "bin" / "openai-agents-session").unlink()
    assert demo(root).returncode == 0 and len(calls(root)) == 3


def test_a_failed_install_runs_once_and_shows_why(tmp_path: Path) -> None:
    root = checkout(tmp_path)
    failed = demo(root, FAIL_INSTALL="1")
    assert failed.returncode != 0
    # Today: a silent first attempt, then the whole install again to show its errors.
    assert calls(root) == ["bootstrap local quiet=[]"]
    assert "no matching distribution" in failed.stderr
    assert not (root / ".venv" / ".openai-agents-session-demo").exists()
    assert demo(root).returncode == 0 and len(calls(root)) == 2
