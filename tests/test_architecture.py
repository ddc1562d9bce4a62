"""specs/architecture.md's generated part equals what evidence/architecture.py renders from
the code's imports, and the segregation rules hold: a forbidden import fails (CTL-004)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "evidence"))
import architecture  # noqa: E402


@pytest.mark.req("CTL-004")
def test_the_architecture_document_is_generated_from_the_code() -> None:
    text = (ROOT / "specs" / "architecture.md").read_text("utf-8")
    assert architecture.splice(text, architecture.render()) == text, \
        "specs/architecture.md is stale: run python evidence/architecture.py --write"


@pytest.mark.req("CTL-004")
def test_the_code_keeps_the_segregation_rules() -> None:
    found = architecture.imports()
    assert found["iontocore.machine"] >= {"transitions"}
    assert "serial" in found["iontocore.hal.serial"]
    assert not architecture.violations(found)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for folder in architecture.ITEMS:
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


@pytest.mark.req("CTL-004")
@pytest.mark.parametrize("folder, line, expected", [
    ("core", "from iontocore.hal import sim", "iontocore.dose (core) imports iontocore.hal.sim: core must not depend on hal/"),
    ("core", "from . import shell", "iontocore.dose (core) imports iontocore.shell: core must not depend on shell/"),
    ("core", "import serial", "iontocore.dose (core) imports serial: core's only SOUP is transitions"),
    ("core", "import time", "iontocore.dose (core) imports time: core does no I/O, keeps no clock"),
    ("core", "def f():\n    import threading", "iontocore.dose (core) imports threading: core does no I/O, keeps no clock"),
    ("hal", "from iontocore.shell.runner import Runner", "iontocore.hal.sim (hal) imports iontocore.shell.runner: the HAL must not depend on shell/"),
    ("hal", "from ..shell import trace", "iontocore.hal.sim (hal) imports iontocore.shell.trace: the HAL must not depend on shell/"),
    ("core", "from iontocore.home import history", "iontocore.dose (core) imports iontocore.home.history: core must not depend on home/"),
    ("hal", "from ..home import signing", "iontocore.hal.sim (hal) imports iontocore.home.signing: the HAL must not depend on home/"),
    ("home", "from iontocore.hal import sim", "iontocore.home.course (home) imports iontocore.hal.sim: home use builds on core/ only"),
    ("home", "import serial", "iontocore.home.course (home) imports serial: the wire protocol lives in hal/"),
    ("shell", "import cryptography", "iontocore.shell.trace (shell) imports cryptography: signatures live in home/"),
])
def test_a_forbidden_import_is_caught(tree: Path, folder: str, line: str, expected: str) -> None:
    path = tree / folder / {"core": "dose.py", "hal": "sim.py", "home": "course.py", "shell": "trace.py"}[folder]
    path.write_text(path.read_text("utf-8") + "\n" + line + "\n", "utf-8")
    assert architecture.violations(architecture.imports(tree)) == [expected]
