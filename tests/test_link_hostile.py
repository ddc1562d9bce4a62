"""The host against a hostile device and a dying line (issue 10): one test per defect, each
over a real pty with a scripted device in lockstep (tests/support/hostile.py), except
where the CLI itself is the point."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hostile import (IDENT, FakeClock, Lockstep, ScriptedDevice, fault_frame, honest, lying,
                     raw, sample_bytes, silent, then)
from iontocore import Command, Controller, profiles
from iontocore.faults import FaultCode
from iontocore.hal import protocol as p
from iontocore.hal.emulator import Emulator
from iontocore.hal.serial import DeviceRefused, LinkError, SerialDevice
from iontocore.hal.sim import SimConfig, SimulatedDevice
from iontocore.shell.runner import Runner

IONTO = str(Path(sys.executable).parent / "ionto")
ACH = profiles.load("acetylcholine-pulses")


def scripted_session(*script: object, after: int = 0, ident: p.Identity = IDENT,
                     clock: FakeClock | None = None, realtime: bool = False,
                     profile: str = "acetylcholine-pulses") -> tuple[Controller, Lockstep, ScriptedDevice]:
    """A whole session through the real Runner against the scripted device: `after` honest
    answers, then the script's replies, then honest answers again (or whatever the last
    reply left `device.default` as)."""
    clock = clock or FakeClock()
    device = ScriptedDevice(ident)
    device.replies = [honest()] * (after + 1) + list(script)  # type: ignore[list-item]
    dev = device.connect(clock=clock, wall_deadline=realtime)
    hal = Lockstep(dev, device)
    ctl = Controller(profiles.load(profile, dev.limits()), dev.limits())
    try:
        Runner(ctl, hal, realtime=realtime, clock=clock, sleep=clock.sleep).run()
    finally:
        dev.close()
        device.close()
    return ctl, hal, device


def ended_with(ctl: Controller, code: FaultCode, text: str) -> str:
    assert ctl.state == "fault" and ctl.outcome == "fault", (ctl.state, ctl.faults)
    fault = ctl.faults[-1]
    assert fault.code is code and text in fault.reason, fault
    assert ctl.command == Command(0, False)
    return fault.reason


# ---- 1. the link dying mid-session ------------------------------------------------------------

def die(dev: ScriptedDevice, frame: p.Frame) -> bytes:
    dev.kill_line()
    return b""


def answer_then_die(dev: ScriptedDevice, frame: p.Frame) -> bytes:
    dev.send(honest()(dev, frame))
    dev.kill_line()
    return b""


@pytest.mark.req("LINK-002", "LINK-005", "LINK-009", "HAL-001")
@pytest.mark.parametrize("how", [die, answer_then_die], ids=["silent-death", "death-after-answer"])
def test_the_line_dying_mid_session_is_a_link_fault_not_a_traceback(how) -> None:  # type: ignore[no-untyped-def]
    """Fails on the old code: the LinkError escaped Runner.run()."""
    ctl, hal, device = scripted_session(how, after=300)
    reason = ended_with(ctl, FaultCode.LINK_LOST, "device link lost on")
    assert "read failed" in reason or "write failed" in reason
    assert hal.cuts == 1                       # the runner's cut, which did not raise
    assert 300 <= ctl.tick <= 303


@pytest.mark.req("LINK-002", "LINK-005", "HAL-001")
@pytest.mark.slow
def test_cli_killing_the_device_mid_session_records_a_link_fault(tmp_path: Path) -> None:
    """Issue 10 #1 as reported: the device goes away during `ionto run --fast`; the run ends
    with the fault and its reason, the summary, a closed record and exit 1."""
    emu = Emulator(SimulatedDevice(SimConfig(tick_ms=10))).start()
    record = tmp_path / "session.rec"
    run = subprocess.Popen([IONTO, "run", "--profile", "hyperhidrosis-palms", "--device",
                            f"serial:{emu.port}", "--fast", "--json", "--record", str(record)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        end = time.monotonic() + 60
        while emu.commands < 300 and run.poll() is None and time.monotonic() < end:
            time.sleep(0.01)
        emu.stop()                               # the device dies mid-treatment
        out, err = run.communicate(timeout=60)
    finally:
        emu.stop()
        if run.poll() is None:
            run.kill()
    assert run.returncode == 1, err
    assert "Traceback" not in err
    info = json.loads(out.splitlines()[-1])
    assert info["outcome"] == "fault" and info["fault"]["code"] == "link_lost", info
    assert "device link lost" in info["fault"]["reason"]
    shown = subprocess.run([IONTO, "record", "show", str(record), "--json"], capture_output=True,
                           text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr   # intact and closed (an end line)...
    rec = json.loads(shown.stdout)
    assert rec["complete"] and rec["end"]["outcome"] == "fault", rec   # ...of a faulted session
    assert rec["end"]["faults"][-1]["code"] == "link_lost"


# ---- 2. unknown FAULT codes are data -------------------------------------------------------

@pytest.mark.req("LINK-005", "LINK-006")
def test_an_unknown_fault_code_is_a_device_fault_with_its_number() -> None:
    """Fails on the old code: the session completed and as_dict() raised ValueError."""
    ctl, hal, _ = scripted_session(then(honest(), fault_frame(99)), after=50)
    ended_with(ctl, FaultCode.DEVICE_FAULT, "unknown device fault 99")
    link = hal.dev.stats.as_dict(hal.dev.decoder)
    assert link["device_faults"][0][0] == "unknown device fault 99"


# ---- 3. the device's status byte and its FAULT frames --------------------------------------

@pytest.mark.req("LINK-005", "LINK-006")
@pytest.mark.parametrize("script, reason", [
    ([lying(status=p.STATUS_ON | p.STATUS_WATCHDOG)], "device watchdog tripped"),
    ([lying(status=p.STATUS_HW_TRIP)], "device hardware trip"),
    ([then(honest(), fault_frame(p.DeviceFault.WATCHDOG))], "device watchdog tripped (FAULT code 1"),
    ([then(honest(), fault_frame(p.DeviceFault.HW_TRIP))], "device hardware trip (FAULT code 2"),
    ([then(honest(), fault_frame(p.DeviceFault.RAMPED_DOWN, 7))], "device ramped down unrequested"),
    ([lying(status=0)] * 2, "output off while"),          # 'off' while the current flows
    ([lying(status=p.STATUS_ON | p.STATUS_REJECTED)], "device rejected COMMAND"),
    ([lying(status=p.STATUS_ON | 0x40)], "reserved bits 0x40"),
    ([lying(status=p.STATUS_ON | p.STATUS_RAMP_DOWN)], "device ramping down unrequested"),
], ids=["status-watchdog", "status-hw-trip", "fault-watchdog", "fault-hw-trip", "fault-ramped",
        "off-while-flowing", "rejected", "reserved-bit", "ramp-unrequested"])
def test_the_device_reporting_a_fault_ends_the_session_with_that_reason(script, reason) -> None:  # type: ignore[no-untyped-def]
    """Fails on the old code: each of these sessions completed."""
    ctl, hal, _ = scripted_session(*script, after=300)
    ended_with(ctl, FaultCode.DEVICE_FAULT, reason)
    assert 300 <= ctl.tick <= 303            # on the tick it was said (two for 'off while flowing')


@pytest.mark.req("LINK-006")
def test_output_on_after_an_off_command_is_a_device_fault() -> None:
    device = ScriptedDevice()
    device.replies = [lying(status=p.STATUS_ON, current_ua=0)]   # answers the priming OFF
    dev = device.connect(clock=FakeClock())
    try:
        hal = Lockstep(dev, device)
        assert hal.read() is not None          # the answer to the priming OFF
        assert dev.fault() is not None and "output on after an OFF command" in dev.fault()[1]
    finally:
        dev.close()
        device.close()


@pytest.mark.req("LINK-006")
def test_a_limited_command_is_counted_not_a_fault() -> None:
    ctl, hal, _ = scripted_session(lying(status=p.STATUS_ON | p.STATUS_LIMITED), after=300)
    assert ctl.outcome == "completed", ctl.faults
    assert hal.dev.stats.limited == 1


# ---- 4. IDENTIFY checked at connect, and the device held to it -----------------------------

def refused(**changes: object) -> str:
    from dataclasses import replace

    device = ScriptedDevice(replace(IDENT, **changes))  # type: ignore[arg-type]
    try:
        with pytest.raises(DeviceRefused) as info:
            device.connect(clock=FakeClock())
    finally:
        device.close()
    return str(info.value)


@pytest.mark.req("LINK-003", "LINK-006")
@pytest.mark.parametrize("changes, message", [
    ({"watchdog_ms": 0}, "watchdog_ms = 0: allowed 30..100 ms"),
    ({"watchdog_ms": 5}, "watchdog_ms = 5: allowed 30..100 ms"),
    ({"watchdog_ms": 65535}, "watchdog_ms = 65535: allowed 30..100 ms"),
    ({"tick_ms": 20, "capabilities": p.CAP_RELAY}, "tick_ms = 20: allowed 1..10 ms"),
    ({"tick_ms": 5}, "tick_ms = 5: allowed only the host's tick (10 ms) for a lockstep device"),
    ({"trip_ua": 30_000}, "trip_ua = 30000: allowed above max_current_ua (30000 uA)"),
    ({"max_current_ua": 0}, "max_current_ua = 0: allowed 1..100000 uA"),
    ({"max_slew_ua_per_s": 0}, "max_slew_ua_per_s = 0: allowed 1..100000 uA/s"),
    ({"dead_time_ms": 0}, "dead_time_ms = 0: allowed 1..60000 ms"),
    ({"capabilities": 0xFF}, "capabilities = 0xff: unknown bits 0x80"),  # 0x10 SUPPLY, 0x20 MARKER, 0x40 CHANNELS (LINK-010..012)
])
def test_identify_fields_the_host_cannot_work_with_are_refused_at_connect(changes, message) -> None:  # type: ignore[no-untyped-def]
    """Fails on the old code: every one of these devices was accepted."""
    assert message in refused(**changes)


@pytest.mark.req("LINK-006")
def test_identify_name_must_be_printable_ascii_padded_with_zeros() -> None:
    body = p.identify(1, IDENT)
    bad = p.encode(p.MsgType.IDENTIFY, 1, 30_000, 35_000, 60_000, 2_000, 100, 10, IDENT.capabilities,
                   b"ab\x00cd" + b"\x00" * 11, 500)
    assert body != bad
    device = ScriptedDevice(identify=bad)
    try:
        with pytest.raises(DeviceRefused, match=r"name = 61 62 00 63 64 00 .*printable ASCII"):
            device.connect(clock=FakeClock())
    finally:
        device.close()
    with pytest.raises(ValueError, match="name = 'x' \\* 17|allowed 1 to 16"):
        p.encode_name("x" * 17)


@pytest.mark.req("LINK-003", "LINK-006")
def test_cli_refuses_a_device_with_a_bad_watchdog_with_exit_2() -> None:
    from dataclasses import replace

    sim = SimulatedDevice(SimConfig(tick_ms=10))
    emu = Emulator(sim, identity=replace(IDENT, watchdog_ms=5, name="bad-watchdog")).start()
    try:
        out = subprocess.run([IONTO, "run", "--profile", "hyperhidrosis-palms", "--device",
                              f"serial:{emu.port}", "--fast"], capture_output=True, text=True,
                             timeout=60)
    finally:
        emu.stop()
    assert out.returncode == 2, out.stderr
    assert ("device 'bad-watchdog' refused: watchdog_ms = 5: allowed 30..100 ms" in out.stderr
            and "Traceback" not in out.stderr)


@pytest.mark.req("LINK-006")
def test_a_device_advertising_relay_feedback_is_held_to_it() -> None:
    """Fails on the old code: relay -128 silently switched the relay check off."""
    ctl, _, _ = scripted_session(lying(relay=p.RELAY_NONE), after=300)
    ended_with(ctl, FaultCode.DEVICE_FAULT, "relay = -128, but the device advertised relay feedback")


@pytest.mark.req("LINK-006")
def test_a_device_without_relay_feedback_must_say_so() -> None:
    from dataclasses import replace

    ident = replace(IDENT, capabilities=p.CAP_REVERSAL | p.CAP_PULSED | p.CAP_LOCKSTEP)
    ctl, _, _ = scripted_session(lying(relay=1), after=300, ident=ident)
    ended_with(ctl, FaultCode.DEVICE_FAULT, "relay = 1, but the device advertised no relay feedback")


# ---- 5. the device clock wraps -----------------------------------------------------------

@pytest.mark.req("LINK-007")
def test_the_device_clock_wrapping_is_unwrapped() -> None:
    """Fails on the old code: the wrap was a clock going back by 4,294,967,286 ms (hard cut)."""
    device = ScriptedDevice()
    device.t_ms = 2**32 - 1_500            # wraps 1.5 s into the session
    dev = device.connect(clock=FakeClock())
    hal = Lockstep(dev, device)
    ctl = Controller(ACH, dev.limits())
    try:
        Runner(ctl, hal).run()
    finally:
        dev.close()
        device.close()
    assert ctl.outcome == "completed" and not ctl.faults, ctl.faults
    assert device.t_ms < 2**31                # it did wrap


@pytest.mark.req("LINK-007")
def test_a_clock_really_going_back_is_still_seen() -> None:
    def back(dev: ScriptedDevice, frame: p.Frame) -> bytes:
        honest()(dev, frame)
        dev.t_ms -= 1_000
        return sample_bytes(dev, frame.seq, relay=dev.relay)

    ctl, _, _ = scripted_session(back, after=300)
    assert ctl.state == "fault" and ctl.faults[-1].code is FaultCode.CLOCK_BACKWARDS, ctl.faults


def test_unwrap_examples() -> None:
    assert p.unwrap_ms(2**32 - 6, 4) == 2**32 + 4             # SAMPLE t 4294967290 -> 4: +10 ms
    assert p.unwrap_ms(2**32 + 4, 2**32 - 6) == 2**32 - 6     # and back again: -10 ms
    assert p.unwrap_ms(1000, 0) == 0 and p.unwrap_ms(0, 2**31 - 1) == 2**31 - 1


# ---- 6. no SAMPLE from before its COMMAND ---------------------------------------------------

@pytest.mark.req("LINK-002")
def test_a_sample_sent_before_its_command_is_dropped() -> None:
    """Issue 10 #6: command n is answered late, with SAMPLE(n+1, 50 mA) first, then SAMPLE(n).
    Fails on the old code: read() returned the 50 mA sample."""
    device = ScriptedDevice()
    dev = device.connect(clock=FakeClock())
    try:
        hal = Lockstep(dev, device)
        assert hal.read() is not None
        hal.apply(Command(1_000, True))
        assert hal.read() is not None
        # command n: no answer in time; the device then guesses SAMPLE(n+1) before COMMAND n+1
        device.replies = [silent, raw(b"")]
        hal.apply(Command(1_000, True))
        n = device.commands[-1].seq
        assert hal.read() is None
        device.send(sample_bytes(device, p.next_seq(n), current_ua=50_000))
        device.replies = [lambda d, f: sample_bytes(d, n, current_ua=1_000)]   # SAMPLE(n), late
        hal.apply(Command(1_000, True))
        got = hal.read()
        assert got is None, got
        assert dev.stats.dropped == 1 and dev.stats.stale == 1
        hal.apply(Command(1_000, True))                 # and the link carries on
        got = hal.read()
        assert got is not None and abs(got.current_ua - 1_000) <= 1  # honest, with its LSB
    finally:
        dev.close()
        device.close()


# ---- 7. the sample deadline in wall time ------------------------------------------------------

@pytest.mark.req("SUP-008", "LINK-002", "LINK-005")
def test_in_real_time_a_silent_device_is_cut_within_the_deadline_of_wall_time() -> None:
    """The clock is injected (FakeClock): the host's wall time, counted deterministically.
    Fails on the old code (SerialDevice had no clock; the tick-counted deadline took
    10 read timeouts plus the time between them)."""
    clock = FakeClock()
    device = ScriptedDevice()
    device.replies = [honest()] * 300
    device.default = silent
    dev = device.connect(clock=clock, wall_deadline=True)
    times: list[tuple[str, float, object]] = []

    class Timed(Lockstep):
        def read(self):  # type: ignore[no-untyped-def]
            got = super().read()
            times.append(("read", clock.now, got))
            return got

        def apply(self, command: Command) -> None:
            times.append(("apply", clock.now, command))
            super().apply(command)

    hal = Timed(dev, device)
    ctl = Controller(ACH, dev.limits())
    try:
        Runner(ctl, hal, realtime=True, clock=clock, sleep=clock.sleep).run()
    finally:
        dev.close()
        device.close()
    reason = ended_with(ctl, FaultCode.LINK_LOST, "no SAMPLE from the device for 100 ms of wall time")
    last_fresh = max(t for kind, t, got in times if kind == "read" and got is not None)
    off_at = min(t for kind, t, cmd in times if kind == "apply" and t > last_fresh
                 and cmd == Command(0, False))
    assert off_at - last_fresh <= 0.100 + 0.002, (off_at - last_fresh, reason)
    assert off_at - last_fresh >= 0.100 - 0.002


@pytest.mark.req("LINK-002")
def test_with_fast_runs_the_deadline_stays_in_ticks() -> None:
    ctl, _, _ = scripted_session(*[silent] * 10, after=300)
    assert ctl.faults[-1].code is FaultCode.SAMPLE_LOSS, ctl.faults


# ---- connect failures are clear -----------------------------------------------------------

@pytest.mark.req("LINK-002")
def test_a_device_of_another_protocol_version_is_named() -> None:
    from cobs import cobs

    body = bytes([1, p.MsgType.IDENTIFY, 1, 0]) + b"\x01" * 30
    old = cobs.encode(body + p.CRC.pack(p.crc16(body))) + b"\x00"
    device = ScriptedDevice(identify=old)
    try:
        with pytest.raises(LinkError, match="the device speaks protocol version 1; this host "
                                            "speaks version 2"):
            device.connect(clock=FakeClock(0.01), connect_timeout_ms=300)
    finally:
        device.close()


def test_serial_device_import_needs_no_clock_argument() -> None:
    assert SerialDevice.__init__.__kwdefaults__["wall_deadline"] is False  # type: ignore[index]


# ---- a real-time device: its clock follows the wall clock --------------------------------------

@pytest.mark.req("LINK-007", "HAL-001")
@pytest.mark.slow
def test_a_real_time_device_completes_in_real_time_through_the_watch_after_the_session() -> None:
    """Found running `ionto run` against `ionto emulate` without --lockstep: the runner did
    not pace the leak watch after the session, so a device answering with its newest
    measurement repeated its time stamp and a completed session ended in sample_loss.
    Fails on the old runner. (Reading the clock costs 0.1 ms here: a fast link.)"""
    clock = FakeClock(0.0001)

    def real_time(dev: ScriptedDevice, frame: p.Frame) -> bytes:
        honest()(dev, frame)
        dev.t_ms = int(clock.now * 100) * 10            # the device clock: wall time, 10 ms ticks
        return sample_bytes(dev, frame.seq, relay=dev.relay, enabled=bool(frame.fields[1]))

    from dataclasses import replace

    device = ScriptedDevice(replace(IDENT, capabilities=IDENT.capabilities & ~p.CAP_LOCKSTEP))
    device.default = real_time
    dev = device.connect(clock=clock, wall_deadline=True)
    hal = Lockstep(dev, device)
    ctl = Controller(ACH, dev.limits())
    try:
        Runner(ctl, hal, realtime=True, clock=clock, sleep=clock.sleep).run()
    finally:
        dev.close()
        device.close()
    assert ctl.outcome == "completed" and not ctl.faults, ctl.faults


@pytest.mark.req("LINK-006")
def test_a_fault_frame_while_connecting_is_judged_not_a_crash() -> None:
    """Found reading the backend: a FAULT before IDENTIFY raised AttributeError at open."""
    hello = p.identify(1, IDENT)
    device = ScriptedDevice(identify=p.encode(p.MsgType.FAULT, 0, p.DeviceFault.HW_TRIP, 5) + hello)
    dev = device.connect(clock=FakeClock())
    try:
        assert dev.fault() is not None and "device hardware trip" in dev.fault()[1]
    finally:
        dev.close()
        device.close()


@pytest.mark.req("LINK-006")
@settings(max_examples=2_000)
@given(st.builds(p.Identity, st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1),
                 st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.integers(0, 0xFFFF),
                 st.integers(0, 0xFFFF), st.integers(0, 255), st.text(max_size=20),
                 st.integers(0, 0xFFFF)),
       st.sampled_from([1, 10, 33]))
def test_any_identify_is_refused_with_reasons_or_gives_valid_device_limits(
        ident: p.Identity, tick_ms: int) -> None:
    """Whatever IDENTIFY says: a refusal naming fields, or limits the core accepts (never a
    traceback at connect)."""
    from iontocore.hal.link_checks import device_limits, identity_problems

    problems = identity_problems(ident, tick_ms, 100)
    if problems:
        assert all(" = " in problem and "allowed" in problem for problem in problems), problems
    else:
        assert device_limits(ident).max_current_ua == ident.max_current_ua
