"""The README's two commands are exactly the ones CI runs."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_commands_verbatim() -> None:
    readme = ROOT.joinpath("README.md").read_text("utf-8")
    ci = ROOT.joinpath(".ci", "run").read_text("utf-8")
    commands = [line.strip() for line in ci.splitlines() if line.startswith("python3 -m venv")]
    assert len(commands) == 2
    for command in commands:
        assert f"    {command}\n" in readme, command
    assert "ionto run --profile hyperhidrosis-palms --fast" in commands[0]
    assert commands[1].endswith(".venv/bin/pytest")
    evidence = [line for line in ci.splitlines() if "evidence/build.py" in line]
    assert len(evidence) == 1 and "    .venv/bin/python evidence/build.py\n" in readme


def test_every_python_block_in_the_readme_runs(capsys: "pytest.CaptureFixture[str]") -> None:
    import re

    readme = ROOT.joinpath("README.md").read_text("utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})  # noqa: S102 - the README's own code
    out = capsys.readouterr().out.split()
    assert out[0] == "completed" and int(out[-1]) > 0


def test_the_readme_example_passes_mypy_strict(tmp_path: Path) -> None:
    """A maker's script using the documented API type-checks under --strict."""
    import re
    import shutil
    import subprocess
    import sys

    mypy = shutil.which("mypy") or str(Path(sys.executable).parent / "mypy")
    readme = ROOT.joinpath("README.md").read_text("utf-8")
    script = tmp_path / "maker.py"
    script.write_text("\n".join(re.findall(r"```python\n(.*?)```", readme, re.S)), "utf-8")
    out = subprocess.run([mypy, "--strict", "--no-incremental", str(script)], capture_output=True,
                         text=True, cwd=tmp_path, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr


def test_a_typo_in_a_state_name_is_a_type_error(tmp_path: Path) -> None:
    """Controller.state is a Literal of the state names: `!= "faulted"` (a loop that would
    never end) fails mypy --strict, the exported constant and `finished` pass."""
    import shutil
    import subprocess
    import sys

    mypy = shutil.which("mypy") or str(Path(sys.executable).parent / "mypy")
    head = ("from iontocore import FAULT, Controller, DeviceLimits, profiles\n"
            "ctl = Controller(profiles.load('hyperhidrosis-palms'), DeviceLimits())\n")
    good, bad = tmp_path / "good.py", tmp_path / "bad.py"
    good.write_text(head + "while ctl.state != FAULT and not ctl.finished:\n    break\n"
                    "assert ctl.outcome in (None, 'completed', 'stopped', 'fault')\n", "utf-8")
    bad.write_text(head + "while ctl.state != 'faulted':\n    break\n", "utf-8")
    ok = subprocess.run([mypy, "--strict", "--no-incremental", str(good)], capture_output=True,
                        text=True, cwd=tmp_path, timeout=600)
    assert ok.returncode == 0, ok.stdout
    typo = subprocess.run([mypy, "--strict", "--no-incremental", str(bad)], capture_output=True,
                          text=True, cwd=tmp_path, timeout=600)
    assert typo.returncode == 1 and "Non-overlapping" in typo.stdout, typo.stdout


def test_finished_is_true_exactly_when_the_session_has_ended() -> None:
    from iontocore import Controller, DeviceLimits, profiles
    from iontocore.hal.sim import SimConfig, SimulatedDevice

    ctl = Controller(profiles.load("hyperhidrosis-child"), DeviceLimits(), tick_ms=10)
    sim = SimulatedDevice(SimConfig(tick_ms=10))
    assert not ctl.finished and ctl.start().accepted
    for _ in range(1_000_000):
        if ctl.finished:
            break
        assert ctl.state != "fault" and not (ctl.state == "idle" and ctl.outcome)
        sim.apply(ctl.step(sim.read()))
    assert ctl.finished and ctl.outcome == "completed" and ctl.state == "idle"
