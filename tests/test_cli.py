"""The `ionto` command: summaries, traces, exit codes and one-line errors."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from iontocore.hal.sim import SimulatedDevice
from iontocore.shell import cli


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_run_json_is_the_last_line_with_the_fields(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "run", "--profile", "hyperhidrosis-palms", "--fast", "--json")
    assert code == 0
    info = json.loads(out.strip().splitlines()[-1])
    for key in ("outcome", "final_state", "fault", "delivered_uams", "delivered_mA_min",
                "treatment_ms", "limit_ua", "max_step_ua", "dead_time_ms", "tick_ms", "profile"):
        assert key in info
    assert (info["outcome"], info["final_state"], info["fault"]) == ("completed", "idle", None)
    assert info["delivered_mA_min"] == pytest.approx(292.375, rel=2e-4)
    assert (info["limit_ua"], info["max_step_ua"], info["tick_ms"]) == (20_000, 5, 10)


def test_fault_exit_status_and_summary(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "run", "--profile", "hyperhidrosis-palms", "--fast", "--json",
                           "--inject", "short@60")
    info = json.loads(out.strip().splitlines()[-1])
    assert code == 1 and info["outcome"] == "fault"
    assert info["fault"]["code"] == "short_circuit" and info["fault"]["t_ms"] >= 60_000


def test_stopped_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "run", "--profile", "hyperhidrosis-palms", "--fast",
                           "--inject", "contact-loss@60")
    assert code == 3 and "stopped: contact lost" in out


def test_trace_has_the_header_and_one_row_per_tick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "t.csv"
    code, out, _ = run_cli(capsys, "run", "--profile", "acetylcholine-pulses", "--fast", "--json",
                           "--trace", str(trace))
    rows = list(csv.reader(trace.open()))
    assert rows[0] == ["t_ms", "state", "command_ua", "measured_ua", "voltage_mv", "delivered_uams",
                       "step", "pulse", "marker"]
    info = json.loads(out.strip().splitlines()[-1])
    assert len(rows) - 1 == info["ticks"]
    assert int(rows[-1][5]) == info["delivered_uams"]


@pytest.mark.parametrize("args, needle", [
    (["run", "--profile", "no-such-profile", "--fast"], "profile = 'no-such-profile'"),
    (["run", "--profile", "/nonexistent/x.toml", "--fast"], "--profile /nonexistent/x.toml: no such file"),
    (["run", "--profile", "hyperhidrosis-palms", "--inject", "meteor@3"], "unknown kind 'meteor'"),
    (["run", "--profile", "hyperhidrosis-palms", "--tick-ms", "0"], "tick_ms = 0"),
    (["run", "--profile", "hyperhidrosis-palms", "--device", "usb"], "--device 'usb'"),
    (["run", "--profile", "hyperhidrosis-palms", "--adjust", "1000@3"], "--adjust '1000@3'"),
    (["run", "--profile", "hyperhidrosis-palms", "--bogus"], "unrecognized arguments: --bogus"),
    (["run"], "--profile"),
])
def test_bad_input_exits_2_with_one_line(capsys: pytest.CaptureFixture[str], args: list[str], needle: str) -> None:
    with pytest.raises(SystemExit) as info:
        raise SystemExit(cli.main(args))
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert len(err.strip().splitlines()) == 1 and needle in err, err


def test_profiles_and_profile_show(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "profiles")
    assert code == 0 and "dexamethasone-40" in out and "40 mA*min" in out
    code, out, _ = run_cli(capsys, "profile", "show", "hyperhidrosis-palms")
    assert code == 0 and 'name = "hyperhidrosis-palms"' in out


def test_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.toml"
    good.write_text(cli.profiles.builtin_text("dexamethasone-40"))
    code, out, _ = run_cli(capsys, "validate", str(good))
    assert code == 0 and "valid (drug)" in out
    bad = tmp_path / "bad.toml"
    bad.write_text(good.read_text().replace("target_ma = 4", "target_ma = 40").replace("ramp_s = 30", "ramp_s = 0"))
    code, out, _ = run_cli(capsys, "validate", str(bad))
    assert code == 2
    assert "current.max_ma = 4: allowed at least the target (40000 uA)" in out
    assert "current.ramp_s = 0" in out and "2 problem(s)" in out


def test_diagram(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "diagram")
    assert code == 0 and "stateDiagram-v2" in out and "fault --> idle: reset" in out


@pytest.mark.req("HAL-001")
def test_ctrl_c_ramps_down(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    """A real SIGINT during a run: the handler asks for a ramp-down, the session ends stopped."""
    real_read = SimulatedDevice.read
    reads = [0]

    def read(self: SimulatedDevice):  # type: ignore[no-untyped-def]
        reads[0] += 1
        if reads[0] == 1_500:
            os.kill(os.getpid(), signal.SIGINT)
        return real_read(self)

    monkeypatch.setattr(SimulatedDevice, "read", read)
    trace = tmp_path / "t.csv"
    code, out, err = run_cli(capsys, "run", "--profile", "hyperhidrosis-palms", "--fast", "--json",
                             "--trace", str(trace))
    info = json.loads(out.strip().splitlines()[-1])
    assert code == 3 and info["outcome"] == "stopped" and info["interrupted"] is True
    assert "ramping down" in err
    commands = [abs(int(r["command_ua"])) for r in csv.DictReader(trace.open())][1_499:]
    peak = commands.index(max(commands))
    assert peak <= 16  # --fast checks for a stop request every 16 ticks
    ramp = commands[peak:]
    assert ramp[0] > 7_000 and ramp[-1] == 0
    assert all(0 <= a - b <= info["max_step_ua"] for a, b in zip(ramp, ramp[1:]))


def test_console_script_runs(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "ionto"
    out = subprocess.run([str(exe), "run", "--profile", "acetylcholine-pulses", "--fast", "--json"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1])["pulses_delivered"] == 5


# ---- issue 9, part 6: errors that name what is wrong, never a traceback ----

@pytest.mark.req("RX-004", "RX-001")
def test_a_negative_adjustment_parses_and_every_adjustment_shows_in_the_text_summary(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "run", "--profile", "hyperhidrosis-palms", "--fast",
                             "--adjust", "-1000@120", "--adjust", "+99@130", "--adjust", "+1000@99999")
    assert code == 0, err
    lines = [line for line in out.splitlines() if line.startswith("adjust")]
    assert len(lines) == 3, out
    assert "-1000 uA at 120 s" in lines[0] and "accepted" in lines[0]
    assert "+99 uA" in lines[1] and "REFUSED" in lines[1] and "multiple of the step" in lines[1]
    assert "+1000 uA" in lines[2] and "NOT APPLIED" in lines[2] and "session ended" in lines[2]


@pytest.mark.req("RX-001")
@pytest.mark.parametrize("args, words", [
    (["--adjust", "+1000@inf"], "finite"),
    (["--adjust=+1000@-5"], ">= 0"),
    (["--adjust", "+1000@nan"], "finite"),
    (["--sim-ohms", "inf"], "finite number > 0"),
    (["--sim-ohms", "nan"], "finite number > 0"),
    (["--sim-ohms", "-1"], "finite number > 0"),
])
def test_bad_numbers_are_clear_errors_with_exit_2(capsys: pytest.CaptureFixture[str],
                                                 args: list[str], words: str) -> None:
    try:
        code, _, err = run_cli(capsys, "run", "--profile", "hyperhidrosis-palms", "--fast", *args)
    except SystemExit as exc:  # argparse's own usage error
        code, err = int(exc.code or 0), capsys.readouterr().err
    assert code == 2 and words in err and "Traceback" not in err, err


@pytest.mark.req("REC-002")
@pytest.mark.parametrize("content", [
    b"[" * 100_000 + b"\n",
    b'{"crc":"00000000"}\n',
])
def test_record_show_on_hostile_bytes_is_a_message(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  content: bytes) -> None:
    path = tmp_path / "hostile.rec"
    path.write_bytes(content)
    code, out, err = run_cli(capsys, "record", "show", str(path))
    assert code == 2 and "Traceback" not in out + err and str(path) in out


@pytest.mark.req("REC-002")
@pytest.mark.parametrize("line", [
    {"type": "state"},                                              # fields missing
    {"type": "state", "t_ms": "x", "tick": 1, "source": "a", "dest": "b", "trigger": "c",
     "reason": "d"},                                                # a field of the wrong type
    {"type": "fault", "t_ms": 1, "tick": 1, "code": 7, "reaction": "r", "reason": "x"},
    {"type": "progress", "t_ms": 1, "delivered_uams": None},
    {"type": "end", "outcome": "completed"},
])
def test_crc_valid_lines_with_bad_fields_are_damaged_not_trusted(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], line: dict[str, object]) -> None:
    from iontocore.shell.record import encode

    header = {"type": "header", "format": "iontocore-record", "version": 1, "profile": "p",
              "prescription": {}}
    path = tmp_path / "bad-fields.rec"
    path.write_bytes(encode(header) + encode(line))
    for extra in ([], ["--json"]):
        code, out, err = run_cli(capsys, "record", "show", str(path), *extra)
        assert code in (1, 2) and "Traceback" not in out + err
    assert "damaged" in run_cli(capsys, "record", "show", str(path))[1]


@pytest.mark.req("REC-002")
def test_record_show_on_a_fifo_a_surrogate_a_huge_number_and_lines_after_the_end(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Red team D6: a FIFO hung, a lone surrogate crashed the text output, 10**400 lost the
    whole record, and lines after the end still read as complete."""
    from iontocore.shell.record import encode

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    code, out, _ = run_cli(capsys, "record", "show", str(fifo))
    assert code == 2 and "not a regular file" in out
    header = {"type": "header", "format": "iontocore-record", "version": 1, "profile": "p",
              "prescription": {}}
    end = {"type": "end", "outcome": "completed", "end_reason": "", "delivered_uams": 5}
    cases = {
        "surrogate": encode(header) + encode({"type": "state", "t_ms": 1, "tick": 1,
                                              "source": "idle", "dest": "\ud800", "trigger": "x",
                                              "reason": "y"}) + encode(end),
        "huge": encode(header) + encode({"type": "progress", "t_ms": 1,
                                         "delivered_uams": 10**400}) + encode(end),
        "after-end": encode(header) + encode(end) + encode({"type": "progress", "t_ms": 9,
                                                            "delivered_uams": 7}),
        # review B23: a second, CRC-valid end line is damage, never a replacement of the first
        "second-end": encode(header) + encode(end) + encode({**end, "delivered_uams": 9}),
    }
    for name, data in cases.items():
        path = tmp_path / f"{name}.rec"
        path.write_bytes(data)
        code, out, err = run_cli(capsys, "record", "show", str(path))
        assert "Traceback" not in out + err and code in (0, 1, 2), (name, code, out)
        if name == "surrogate":  # an intact record: shown, the odd character escaped
            assert code == 0 and "\\ud800" in out
        else:
            assert code == 1 and "damaged" in out, (name, out)
        if name == "second-end":
            from iontocore.shell.record import read_record

            rec = read_record(str(path))
            assert rec.end is not None and rec.end["delivered_uams"] == 5 and rec.damaged_lines == [3]


@pytest.mark.req("RX-001")
def test_a_finite_but_absurd_load_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """Red team D7: --sim-ohms 1e305 ended in a traceback inside the simulator."""
    with pytest.raises(SystemExit) as info:
        cli.main(["run", "--profile", "hyperhidrosis-child", "--fast", "--sim-ohms", "1e305"])
    assert info.value.code == 2 and "at most 1e9" in capsys.readouterr().err
