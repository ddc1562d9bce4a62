"""`ionto plot` and `ionto run --plot` (matplotlib is an optional extra)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from iontocore import profiles
from iontocore.shell import cli
from iontocore.shell.plot import load_trace, state_spans

PNG = b"\x89PNG\r\n\x1a\n"


def test_state_spans() -> None:
    t = [0, 10, 20, 30, 40, 50]
    s = ["idle", "ramp_up", "ramp_up", "paused", "paused", "fault"]
    assert state_spans(t, s) == [("idle", 0, 10), ("ramp_up", 10, 30), ("paused", 30, 50),
                                 ("fault", 50, 50)]


def test_run_plot_and_plot_from_a_trace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    trace, png, png2 = tmp_path / "t.csv", tmp_path / "run.png", tmp_path / "plot.png"
    repeat = tmp_path / "ach-repeat.toml"  # an interrupted pulse is repeated: the run pauses
    repeat.write_text(profiles.builtin_text("acetylcholine-pulses").replace(
        "[pulses]\ncount = 5\non_s = 10\ngap_s = 60\n",
        '[protocol]\non_interrupt = "repeat"\n[[protocol.step]]\nkind = "pulse"\non_s = 10\n'
        'repeat = 5\ngap_s = 60\n'))
    code = cli.main(["run", "--profile", str(repeat), "--fast", "--trace", str(trace),
                     "--plot", str(png), "--inject", "contact-loss@76:3"])
    assert code == 0 and png.read_bytes()[:8] == PNG and png.stat().st_size > 20_000
    tr = load_trace(str(trace))
    assert {"paused", "pulse_gap", "treat"} <= set(tr.state)
    assert cli.main(["plot", str(trace), "-o", str(png2)]) == 0
    assert png2.read_bytes()[:8] == PNG
    # a run with --plot but no --trace uses a temporary trace
    png3 = tmp_path / "fault.png"
    assert cli.main(["run", "--profile", "hyperhidrosis-child", "--fast", "--plot", str(png3),
                     "--inject", "short@100"]) == 1
    assert png3.read_bytes()[:8] == PNG


def test_plot_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,c\n1,2,3\n")
    assert cli.main(["plot", str(bad), "-o", str(tmp_path / "x.png")]) == 2
    assert "not an ionto trace" in capsys.readouterr().err
    assert cli.main(["plot", str(tmp_path / "missing.csv"), "-o", str(tmp_path / "x.png")]) == 2
    assert "no such file" in capsys.readouterr().err
    good = tmp_path / "good.csv"
    good.write_text("t_ms,state,command_ua,measured_ua,voltage_mv,delivered_uams\n0,idle,0,0,0,0\n")
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if the extra were not installed
    assert cli.main(["plot", str(good), "-o", str(tmp_path / "x.png")]) == 2
    assert "pip install 'iontocore[plot]'" in capsys.readouterr().err


def test_run_with_plot_but_no_plot_extra_fails_before_the_session(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A real-time session must not run 20 minutes and then fail for want of matplotlib."""
    from iontocore.shell import runner

    ran: list[object] = []
    monkeypatch.setattr(runner.Runner, "run", lambda self: ran.append(self))
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if the extra were not installed
    code = cli.main(["run", "--profile", "hyperhidrosis-palms", "--fast",
                     "--plot", str(tmp_path / "x.png")])
    assert code == 2 and not ran
    assert "--plot" in capsys.readouterr().err


def test_usage_version_and_suggestions(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        cli.main([])
    assert e.value.code == 2 and "usage: ionto" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        cli.main(["--version"])
    assert e.value.code == 0 and "iontocore" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        cli.main(["rnu"])
    assert e.value.code == 2 and "did you mean 'run'?" in capsys.readouterr().err


def test_decimation_keeps_a_one_tick_spike() -> None:
    from iontocore.shell.plot import MAX_POINTS, envelope

    t = list(range(0, 1_200_000, 10))            # 20 minutes at 10 ms: 120,000 points
    values = [15_000.0] * len(t)
    values[77_777] = 36_000.0                     # one over-current sample
    values[99_999] = float("nan")                 # and a tick without a sample
    xs, ys = envelope(t, values)
    assert len(xs) <= MAX_POINTS + 2 and max(ys) == 36_000.0 and min(ys) == 15_000.0
    assert xs == sorted(xs)


def test_run_plot_marks_limits_and_the_fault_code(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("matplotlib")
    from iontocore.shell import plot

    seen: dict[str, object] = {}
    real = plot.render

    def spy(trace: object, out: str, title: str = "", **marks: object) -> None:
        seen.update(marks)
        real(trace, out, title, **marks)  # type: ignore[arg-type]

    monkeypatch.setattr(plot, "render", spy)
    png = tmp_path / "fault.png"
    assert cli.main(["run", "--profile", "hyperhidrosis-child", "--fast", "--plot", str(png),
                     "--inject", "overcurrent@100"]) == 1
    assert png.read_bytes()[:8] == PNG
    assert seen["limit_ua"] and seen["trip_ua"] > seen["limit_ua"]  # type: ignore[operator]
    assert [code for _, code in seen["faults"]] == ["overcurrent"]  # type: ignore[attr-defined]
