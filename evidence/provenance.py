"""What was tested, identified from the test run itself: the commit and whether the tree had
uncommitted changes, the SHA-256 of every installed iontocore source file (as imported, so an
editable install and a wheel are judged alike) and of constraints.txt, the Python version and
the platform. tests/conftest.py records it in the evidence JSON; evidence/build.py shows it
and compares it with the tree the bundle is built from."""

from __future__ import annotations

import hashlib
import importlib.util
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("iontocore", "iontocore.hal", "iontocore.shell")


def _git(*args: str) -> str | None:
    try:
        proc = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def installed_sources() -> dict[str, str]:
    """SHA-256 of each file of the installed iontocore packages (sources and data)."""
    files: dict[str, str] = {}
    for name in PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            continue
        base = Path(next(iter(spec.submodule_search_locations)))
        for path in sorted(base.iterdir()):
            if path.is_file() and path.suffix in (".py", ".toml", ".typed"):
                files[f"{name.replace('.', '/')}/{path.name}"] = sha256(path)
            elif path.is_dir() and path.name == "builtin_profiles":
                for sub in sorted(path.glob("*.toml")):
                    files[f"{name.replace('.', '/')}/{path.name}/{sub.name}"] = sha256(sub)
    return files


def digest(files: dict[str, str]) -> str:
    """One hash over the per-file hashes (order-independent)."""
    return hashlib.sha256("".join(f"{k} {v}\n" for k, v in sorted(files.items())).encode()).hexdigest()


def identify() -> dict[str, Any]:
    files = installed_sources()
    constraints = ROOT / "constraints.txt"
    status = _git("status", "--porcelain")
    return {"commit": _git("rev-parse", "HEAD") or "unknown (no git)",
            "dirty": None if status is None else bool(status),
            "sources_sha256": digest(files), "sources": files,
            "constraints_sha256": sha256(constraints) if constraints.exists() else "missing",
            "python": sys.version.split()[0], "implementation": platform.python_implementation(),
            "platform": platform.platform(), "machine": platform.machine()}
