#!/usr/bin/env python3
"""The project's set-up commands; they need only python3 (3.11+).

    python3 scripts/run.py serve [--host H] [--port P]   run the service on the embedded default
    python3 scripts/run.py test [pytest args]            run the whole test suite (as root, it
                                                         installs Chromium when none is present)
    python3 scripts/run.py lint                          ruff, layer contracts, type checker

Each creates `.venv` and installs the project into it when pyproject.toml has changed.
"""

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
EXTRAS = {"serve": "", "test": "test", "lint": "test"}


def _venv_bin(name: str) -> str:
    return str(VENV / "bin" / name)


def ensure_installed(extras: str) -> None:
    """Create the virtual environment and install the project with `extras`, once per change."""
    stamp = VENV / f".installed-{extras or 'base'}"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    if not Path(_venv_bin("python")).exists():
        venv.create(VENV, with_pip=True)
    target = f".[{extras}]" if extras else "."
    subprocess.check_call(
        [_venv_bin("python"), "-m", "pip", "install", "--quiet", "-e", target], cwd=ROOT
    )
    stamp.write_text(digest)


BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def ensure_browser() -> None:
    """The console's browser tests drive a Chromium from the system (Playwright's own download
    is not reachable everywhere): install Debian's `chromium` when running as root and none is
    on PATH. The tests fail, never skip, without one."""
    if any(shutil.which(name) for name in BROWSERS):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        print("no Chromium on PATH: the console's browser tests will fail", file=sys.stderr)
        return
    install = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.call(install, env=env) != 0:
        subprocess.check_call(["apt-get", "update"], env=env)
        subprocess.check_call(install, env=env)


def main(argv: list[str]) -> int:
    """Install what the command needs, then run it in place of this process."""
    if sys.version_info < (3, 11):  # noqa: UP036 (run by any python3)
        print("orchestrator_service needs Python 3.11 or newer", file=sys.stderr)
        return 2
    if not argv or argv[0] not in EXTRAS:
        print(__doc__, file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    ensure_installed(EXTRAS[command])
    os.chdir(ROOT)
    if command == "lint":
        ruff = _venv_bin("ruff")
        checks = (
            [ruff, "check", "."],
            [ruff, "format", "--check", "."],
            [_venv_bin("lint-imports"), "--no-cache"],
            [_venv_bin("basedpyright")],
        )
        return max(subprocess.call(check) for check in checks)
    if command == "serve":
        args = [_venv_bin("orchestrator"), "serve", *rest]
    else:
        ensure_browser()
        # One pytest worker per core, each with its own PostgreSQL; -n 0 (or -n N) overrides.
        # A worker that runs out of tests takes some of the other's instead of idling while the
        # other finishes its share of the long ones (fuzzing, whole services).
        parallel = (
            []
            if any(arg.startswith("-n") for arg in rest)
            else ["-n", "auto", "--dist", "worksteal"]
        )
        args = [_venv_bin("python"), "-m", "pytest", *parallel, *rest]
    os.execv(args[0], args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
