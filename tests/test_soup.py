"""SOUP (IEC 62304 8.1.2): every package installed at run time, and CPython, is listed in
specs/soup.toml with the installed version, a purpose and a known-anomaly review; the SBOM of
a runtime install (cyclonedx-py) names nothing that the list does not."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "evidence"))
import build  # noqa: E402

SOUP = tomllib.loads((ROOT / "specs" / "soup.toml").read_text("utf-8"))


def test_every_runtime_distribution_is_listed_with_its_version_and_review() -> None:
    closure = build.runtime_closure()
    assert {"transitions", "six"} <= set(closure)
    assert not build.runtime_soup_problems(SOUP, closure)


def test_a_missing_stale_or_unreviewed_runtime_package_is_a_problem() -> None:
    closure = build.runtime_closure()
    soup = {k: dict(v) for k, v in SOUP.items() if k != "six"}
    assert build.runtime_soup_problems(soup, closure) == [
        f"six {closure['six']} is installed at run time but not in specs/soup.toml"]
    soup = {k: dict(v) for k, v in SOUP.items()}
    soup["transitions"]["version"] = "0.9.2"
    soup["CPython"]["anomalies"] = ""
    soup["pyserial"]["kind"] = "runtime"
    assert build.runtime_soup_problems(soup, closure) == [
        "SOUP cpython: no anomalies (known-anomaly review)",
        "SOUP transitions: specs/soup.toml reviews '0.9.2', 0.9.3 is installed",
        "SOUP pyserial is listed as runtime but is not installed at run time"]
    assert "SOUP cobs: installed at run time, but kind is 'optional'" in build.runtime_soup_problems(
        SOUP, {**closure, "cobs": "1.2.2"})


def _venv_with(tmp_path: Path, names: list[str]) -> Path:
    """A runtime environment without network: a bare venv holding copies of the named
    distributions from this one."""
    venv = tmp_path / "rt"
    subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", "--without-pip",
                    str(venv)], check=True)
    site = Path(sysconfig.get_paths()["purelib"])
    target = next((venv / "lib").glob("python3*/site-packages"))
    for pattern in names:
        for path in site.glob(pattern):
            copy = shutil.copytree if path.is_dir() else shutil.copy2
            copy(path, target / path.name)
    return venv / "bin" / "python"


def test_the_sbom_of_a_runtime_install_names_only_listed_soup(tmp_path: Path) -> None:
    python = _venv_with(tmp_path, ["transitions", "transitions-*.dist-info", "six.py", "six-*.dist-info"])
    data, problems = build.sbom(python, tmp_path, SOUP)
    assert not problems
    assert data["bomFormat"] == "CycloneDX"
    assert {(c["name"], c["version"]) for c in data["components"]} == {("six", "1.17.0"), ("transitions", "0.9.3")}
    assert (tmp_path / "sbom.cdx.json").is_file()


def test_an_sbom_component_not_in_the_soup_list_is_a_problem(tmp_path: Path) -> None:
    python = _venv_with(tmp_path, ["six.py", "six-*.dist-info", "cobs", "cobs-*.dist-info"])
    soup = {k: v for k, v in SOUP.items() if k != "cobs"}
    assert build.sbom(python, tmp_path, soup)[1] == [
        "SBOM lists cobs 1.2.2, which is not in specs/soup.toml"]


@pytest.mark.parametrize("name", ["cyclonedx-bom", "z3-solver", "coverage"])
def test_verification_tools_are_listed(name: str) -> None:
    assert SOUP[name]["kind"] == "verification"


def test_every_entry_has_a_kind_purpose_and_the_requirements_it_serves() -> None:
    """A dotted name must be quoted in TOML (["fhir.resources"]), or it becomes a nested table
    without a kind, which broke the bundle's SOUP table."""
    kinds = {"runtime", "platform", "optional", "verification", "installer"}
    for name, entry in SOUP.items():
        assert entry.get("kind") in kinds and entry.get("purpose"), name
        assert isinstance(entry.get("requirements", []), list), name
    rows, _ = build.soup_table(SOUP)
    assert {"fhir.resources", "cryptography"} <= {r["name"] for r in rows}
