"""Install size, Lambda zip size, import overhead, CLI start time and local-server start.

Usage: ``python -m benchmarks.bench_install [--skip-install]`` (about 3 minutes:
it builds two throwaway virtual environments from this checkout).

- **Install and zip size**: a plain ``pip install .`` and ``pip install '.[cli,local]'``
  into fresh venvs (with ``constraints.txt``); the size of ``site-packages`` and of a
  Lambda-style zip of it (deflated, as ``zip -r`` makes a deployment package), and
  whether moto, flask, werkzeug, typer or rich got in.
- **Import overhead**: wall time of ``import agents`` against ``import agents,
  openai_agents_session`` (with ``DynamoDBSession`` touched), median of 5 fresh
  interpreters each.
- **CLI start**: wall time of ``--help``, ``--version`` and each verb's ``--help``,
  median of 5, and which of the Agents SDK and moto each verb imports.
- **Local server**: time until ``python -m openai_agents_session.moto_server`` opens
  its port, against ``python -m moto.server``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("moto", "flask", "werkzeug", "typer", "rich")


# Interpreters as users run them: with bytecode caching (this machine sets
# PYTHONDONTWRITEBYTECODE, which would make every run compile the sources again).
_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _median_wall(argv: list[str], runs: int = 5) -> float:
    subprocess.run(argv, capture_output=True, check=True, env=_ENV)  # warm the caches
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True, env=_ENV)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _zip_size(path: Path) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "lambda.zip"
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
            for file in path.rglob("*"):
                if file.is_file() and "__pycache__" not in file.parts:
                    archive.write(file, file.relative_to(path))
        return target.stat().st_size


def install_sizes() -> None:
    """Build the two venvs and print their sizes."""
    print("1. Install size (site-packages) and Lambda zip size")
    for label, spec in (("plain", "."), ("[cli,local]", ".[cli,local]")):
        with tempfile.TemporaryDirectory() as tmp:
            venv = Path(tmp) / "venv"
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
            subprocess.run(
                [*pip, spec, "-c", str(ROOT / "constraints.txt")],
                cwd=ROOT,
                check=True,
                capture_output=True,
            )
            site = next((venv / "lib").glob("python*/site-packages"))
            # pip, setuptools and the venv's own tooling are not deployed to Lambda.
            for tool in ("pip", "setuptools", "_distutils_hack"):
                shutil.rmtree(site / tool, ignore_errors=True)
            present = [name for name in HEAVY if (site / name).exists()]
            print(
                f"   {label:12} installed {_tree_size(site) / 1e6:6.1f} MB, zip "
                f"{_zip_size(site) / 1e6:5.1f} MB; heavy packages present: "
                f"{', '.join(present) or 'none'}"
            )


def _importtime(code: str) -> float:
    """Seconds `python -X importtime` attributes to openai_agents_session's own imports."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=_ENV,
    )
    total = 0
    for line in result.stderr.splitlines():
        fields = line.split("|")
        if len(fields) != 3:
            continue
        # Top-level entries only (one leading space): the package is imported lazily,
        # so its modules show up as several top-level imports, not nested in one.
        name = fields[-1]
        if name.startswith(" openai_agents_session") and not name.startswith("  "):
            total += int(fields[1])
    return total / 1e6


def import_overhead(runs: int = 7) -> None:
    """Print the median import time of the SDK alone and with this package.

    The two are run alternately, and the overhead is the median of the paired
    differences, so that a busy machine slows both sides alike.
    """
    print(f"2. Import overhead over `import agents` (median of {runs} alternating pairs)")
    python = sys.executable
    base_argv = [python, "-c", "import agents"]
    ours_argv = [python, "-c", "import agents, openai_agents_session as o; o.DynamoDBSession"]
    base, ours = [], []
    for _ in range(runs):
        base.append(_median_wall(base_argv, runs=1))
        ours.append(_median_wall(ours_argv, runs=1))
    overhead = statistics.median(o - b for o, b in zip(ours, base, strict=True))
    print(
        f"   import agents: {statistics.median(base) * 1000:.0f} ms; with "
        f"openai_agents_session: {statistics.median(ours) * 1000:.0f} ms; overhead "
        f"{overhead * 1000:.0f} ms (wall clock, paired)"
    )
    code = "import agents, openai_agents_session as o; o.DynamoDBSession"
    own = sorted(_importtime(code) for _ in range(5))
    print(
        f"   -X importtime of openai_agents_session after agents: median "
        f"{own[2] * 1000:.0f} ms (min {own[0] * 1000:.0f}, max {own[-1] * 1000:.0f})"
    )


def cli_start() -> None:
    """Print the CLI's start time per verb and what each imports."""
    print("3. CLI start (median of 5) and heavy imports per verb")
    exe = str(Path(sys.executable).parent / "openai-agents-session")
    verbs = [
        ["--help"],
        ["--version"],
        ["sessions", "list", "--help"],
        ["sessions", "show", "--help"],
        ["sessions", "export", "--help"],
        ["migrate", "status", "--help"],
        ["migrate", "plan", "--help"],
        ["migrate", "check", "--help"],
    ]
    probe = (
        "import sys; from openai_agents_session.cli import app; "
        "from typer.main import get_command; get_command(app); "
        "print(','.join(m for m in ('agents', 'moto') if m in sys.modules) or 'neither')"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=_ENV
    ).stdout.strip()
    for verb in verbs:
        seconds = _median_wall([exe, *verb])
        print(f"   {' '.join(verb):24} {seconds:5.2f} s")
    print(f"   modules the command line loads of (agents, moto): {loaded}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def local_server() -> None:
    """Print how long each moto server takes to open its port."""
    print("4. Local server: seconds until the port is open (median of 3)")
    servers = {
        "openai_agents_session.moto_server": ["-m", "openai_agents_session.moto_server"],
        "moto.server (threaded)": ["-m", "moto.server"],
    }
    for label, module in servers.items():
        samples = []
        for _ in range(3):
            port = _free_port()
            flags = ["--host", "127.0.0.1", "--port", str(port)]
            if "moto.server" in module:
                flags = ["-H", "127.0.0.1", "-p", str(port)]
            started = time.perf_counter()
            process = subprocess.Popen(
                [sys.executable, *module, *flags],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                deadline = started + 30
                while time.perf_counter() < deadline:
                    try:
                        socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                        break
                    except OSError:
                        time.sleep(0.01)
                samples.append(time.perf_counter() - started)
            finally:
                process.terminate()
                process.wait(10)
        print(f"   {label:36} {statistics.median(samples):5.2f} s")


def main() -> None:
    """Run every part and print its numbers."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-install", action="store_true", help="skip the two venvs")
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    if not args.skip_install:
        install_sizes()
    import_overhead()
    cli_start()
    local_server()


if __name__ == "__main__":
    main()
