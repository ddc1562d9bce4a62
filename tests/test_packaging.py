"""Layout, packaging and the sans-I/O rule for core/ (CTL-004)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

import iontocore

ROOT = Path(__file__).resolve().parents[1]
CORE = sorted((ROOT / "core").glob("*.py"))

# Standard-library modules core/ may use: pure computation only.
ALLOWED_STDLIB = {"__future__", "collections", "dataclasses", "decimal", "enum", "fractions", "importlib", "math",
                  "pathlib", "tomllib", "typing"}
# Names that would mean I/O or a clock on the safety path.
BANNED_CALLS = {"open", "print", "input", "sleep", "monotonic", "time", "perf_counter", "now",
                "random", "urandom"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.req("CTL-004")
@pytest.mark.parametrize("path", CORE, ids=lambda p: p.name)
def test_core_imports_only_transitions_and_pure_stdlib(path: Path) -> None:
    extra = _imports(path) - ALLOWED_STDLIB - {"transitions"}
    assert not extra, f"{path.name} imports {sorted(extra)}"


@pytest.mark.req("CTL-004")
@pytest.mark.parametrize("path", CORE, ids=lambda p: p.name)
def test_core_calls_no_clock_or_io(path: Path) -> None:
    tree = ast.parse(path.read_text("utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            if name in BANNED_CALLS:
                found.add(f"{name}() at line {node.lineno}")
    # profiles.py reads profile files: that is the one file access in core/, outside the tick.
    if path.name == "profiles.py":
        found = {f for f in found if not f.startswith(("read_text", "open"))}
    assert not found, f"{path.name}: {sorted(found)}"


@pytest.mark.req("CTL-004")
def test_no_bare_core_or_hal_module_is_installed() -> None:
    assert "core" not in sys.modules and "hal" not in sys.modules
    out = subprocess.run([sys.executable, "-P", "-c",
                          "import importlib.util as u; print(u.find_spec('core'), u.find_spec('hal'),"
                          " u.find_spec('iontocore.hal') is not None)"],
                         cwd="/", capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["None", "None", "True"], out.stdout


def test_distribution_metadata() -> None:
    dist = metadata.distribution("iontocore")
    assert dist.metadata["Requires-Python"] == ">=3.11"
    core_deps = [r for r in dist.requires or [] if "extra ==" not in r]
    assert [r.split(">")[0].split("<")[0].strip() for r in core_deps] == ["transitions"]
    assert (Path(iontocore.__file__).parent / "py.typed").exists()
    assert any(ep.name == "ionto" for ep in metadata.entry_points(group="console_scripts"))


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("mypy") is None and not (Path(sys.executable).parent / "mypy").exists(),
                    reason="mypy not installed")
def test_mypy_strict() -> None:
    """The product and the test harness (the oracles, the model checker, the rigs) type-check
    strictly: a harness that mistypes a field can check nothing without failing."""
    mypy = shutil.which("mypy") or str(Path(sys.executable).parent / "mypy")
    out = subprocess.run([mypy, "--strict", "core", "hal", "shell", "home", "tests/support"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


# The base install (README command 1) has neither pyserial nor cobs: the CLI, the simulator
# and a simulated run must not need them, and the serial commands must say what is missing.
_WITHOUT_SERIAL_EXTRA = (
    "import sys; sys.modules['serial'] = None; sys.modules['cobs'] = None\n"
    "from iontocore.shell.cli import main\n"
    "rc = main(['run', '--profile', 'hyperhidrosis-child', '--fast', '--json'])\n"
    "assert rc == 0, rc\n"
    "for argv in (['emulate'], ['run', '--profile', 'hyperhidrosis-child', '--device', 'serial:/x']):\n"
    "    try:\n"
    "        rc = main(argv)\n"
    "    except SystemExit as exc:\n"
    "        rc = exc.code\n"
    "    assert rc == 2, (argv, rc)\n"
)


def test_cli_runs_without_the_serial_extra() -> None:
    out = subprocess.run([sys.executable, "-c", _WITHOUT_SERIAL_EXTRA], cwd="/",
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "needs the 'serial' extra" in out.stderr and "pip install 'iontocore[serial]'" in out.stderr


@pytest.mark.slow
def test_the_wheel_and_the_sdist_install_and_pass_their_checks(tmp_path: Path) -> None:
    """Both distributions from `python -m build`, each in a clean venv: the wheel runs a
    session from its console script; the unpacked sdist runs tests of its own against
    its own install (it ships the tests and everything they read)."""
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(dist),
                    str(ROOT)], check=True, capture_output=True, text=True, timeout=600)
    wheel, = dist.glob("iontocore-*.whl")
    sdist, = dist.glob("iontocore-*.tar.gz")
    constraints = str(ROOT / "constraints.txt")

    def venv(name: str, *install: str) -> Path:
        bin_ = tmp_path / name / "bin"
        subprocess.run([sys.executable, "-m", "venv", str(tmp_path / name)], check=True, timeout=300)
        out = subprocess.run([str(bin_ / "pip"), "install", "-q", "-c", constraints, *install],
                             capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr[-2000:]
        return bin_

    wbin = venv("w", str(wheel))
    run = subprocess.run([str(wbin / "ionto"), "run", "--profile", "hyperhidrosis-palms", "--fast",
                          "--json"], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 0 and '"outcome":"completed"' in run.stdout, run.stderr[-2000:]
    version = subprocess.run([str(wbin / "ionto"), "--version"], capture_output=True, text=True)
    assert version.stdout.split()[-1] == iontocore.__version__

    import tarfile

    with tarfile.open(sdist) as tar:
        tar.extractall(tmp_path / "src", filter="data")
    src, = (tmp_path / "src").iterdir()
    for needed in ("LICENSE", "CHANGELOG.md", "tests/support/invariants.py", "specs/requirements.toml",
                   ".ci/run", "evidence/build.py"):
        assert (src / needed).exists(), needed
    sbin = venv("s", str(sdist), "pytest", "hypothesis")
    tests = subprocess.run([str(sbin / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            "tests/test_limits.py", "tests/test_profiles.py", "tests/test_boundaries.py"],
                           cwd=src, capture_output=True, text=True, timeout=600,
                           env={"PATH": "/usr/bin:/bin", "CI": "true"})
    assert tests.returncode == 0, tests.stdout[-3000:]
