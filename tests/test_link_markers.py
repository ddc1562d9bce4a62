"""LINK-011: research markers across the HAL and the wire. The runner passes every marker
to the HAL's optional marker output on the tick the controller emits it; the simulator
records them; the serial backend sends MARKER frames only to a device advertising the
MARKER capability, which acknowledges each; the emulator records what it received; the
device checks and the HAL conformance kit check markers where they are supported and accept
a backend or device without them. Markers are not a safety control (RX-010 puts them in
the record): a failing or unacknowledged marker output never faults a session.

Over the serial link the emulator runs in lockstep (each COMMAND is one device tick), so
"the tick it was emitted" is checked exactly, with no wall-clock assertion."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from iontocore import Command, Controller, DeviceLimits, Prescription, profiles
from iontocore.events import Marker
from iontocore.hal import marker_output, no_marker
from iontocore.hal import protocol as p
from iontocore.hal.conformance import Spec, Violation, plain_checks
from iontocore.hal.device_checks import DeviceSpec, Wire, check_markers, check_watchdog, device_checks
from iontocore.hal.emulator import Emulator, ReceivedMarker
from iontocore.hal.serial import SerialDevice
from iontocore.hal.sim import SimConfig, SimulatedDevice
from iontocore.interface import Sample
from iontocore.shell.runner import Runner, RunResult

from research_profiles import two_pulses as two_pulses_text

TICK_MS = 10
HANG_MS = 2_000   # a read timeout only a real hang reaches
GRACE_MS = 1_000  # as in test_serial: whole sessions are not about the device watchdog

TWO_PULSES = two_pulses_text()
"""Baseline, pulse 1, gap, pulse 2, end: a marker of every kind a completed protocol emits."""


def two_pulses(device: DeviceLimits | None = None) -> Prescription:
    return profiles.parse(TWO_PULSES, device or DeviceLimits())


def wire_view(m: Marker) -> tuple[int, int, int, str]:
    """What a MARKER frame carries of a controller's marker."""
    return (m.session_ms, m.step, m.pulse, m.kind)


def received_view(m: ReceivedMarker) -> tuple[int, int, int, str]:
    return (m.session_ms, m.step, m.pulse, m.kind)


@pytest.fixture
def served() -> Iterator[list[Emulator]]:
    emus: list[Emulator] = []
    yield emus
    for emu in emus:
        emu.stop()


def serve(served: list[Emulator], markers: bool) -> Emulator:
    emu = Emulator(SimulatedDevice(SimConfig(tick_ms=TICK_MS)), markers=markers,
                   watchdog_grace_ms=GRACE_MS).start()
    served.append(emu)
    return emu


def run_over(emu: Emulator) -> tuple[Controller, SerialDevice, RunResult]:
    dev = SerialDevice(emu.port, read_timeout_ms=HANG_MS)
    try:
        ctl = Controller(two_pulses(dev.limits()), dev.limits(), tick_ms=TICK_MS)
        result = Runner(ctl, dev).run()
    finally:
        dev.close()
    return ctl, dev, result


# ---- the frames ---------------------------------------------------------------------------

@pytest.mark.req("LINK-011", "LINK-001")
def test_marker_frames_round_trip_and_a_bad_marker_is_refused_naming_field_value_and_limit() -> None:
    for kind, code in p.MARKER_KINDS.items():
        frame, = p.Decoder().feed(p.marker(9, 4_290_000, 1_000, 500, kind))
        assert frame == p.Frame(p.MsgType.MARKER, 9, (4_290_000, 1_000, 500, code))
    ack, = p.Decoder().feed(p.encode(p.MsgType.MARKER_ACK, 9))
    assert ack == p.Frame(p.MsgType.MARKER_ACK, 9, ())
    assert p.CAP_MARKER == 0x20 and p.CAP_ALL & 0x3F == 0x3F
    with pytest.raises(ValueError, match=r"marker step = 65536: allowed an integer 0\.\.65535"):
        p.marker(1, 0, 65_536, 1, "pulse")
    with pytest.raises(ValueError, match=r"marker session_ms = -1: allowed an integer 0\.\.4294967295"):
        p.marker(1, -1, 1, 1, "pulse")
    with pytest.raises(ValueError, match=r"marker kind = 'rest': allowed one of \['baseline', "):
        p.marker(1, 0, 1, 1, "rest")


# ---- the HAL: the runner and the simulator ------------------------------------------------

@pytest.mark.req("LINK-011", "RX-010")
def test_the_runner_gives_the_simulator_every_marker_on_the_tick_it_is_emitted() -> None:
    sim = SimulatedDevice(SimConfig(tick_ms=TICK_MS))
    ctl = Controller(two_pulses(), DeviceLimits(), tick_ms=TICK_MS)
    result = Runner(ctl, sim).run()
    assert ctl.outcome == "completed" and [m.kind for m in ctl.markers] == [
        "baseline", "pulse", "gap", "pulse", "end"]
    # the simulator's clock when the marker came is the time of the sample of that tick
    assert sim.markers == [(m.t_ms, m) for m in ctl.markers]
    assert result.marker_errors == []


class NoMarkerOutput:
    """A maker's backend from before markers: read/apply/cut/close only."""

    def __init__(self) -> None:
        self.sim = SimulatedDevice(SimConfig(tick_ms=TICK_MS))

    def read(self) -> Sample | None:
        return self.sim.read()

    def apply(self, command: Command) -> None:
        self.sim.apply(command)

    def cut(self) -> None:
        self.sim.cut()

    def close(self) -> None:
        self.sim.close()


class BrokenLine(SimulatedDevice):
    def marker(self, marker: Marker) -> None:
        raise OSError("recorder line driver gone")


@pytest.mark.req("LINK-011")
def test_a_backend_without_a_marker_output_or_with_a_failing_one_still_completes() -> None:
    plain = NoMarkerOutput()
    assert marker_output(plain) is no_marker
    ctl = Controller(two_pulses(), DeviceLimits(), tick_ms=TICK_MS)
    Runner(ctl, plain).run()  # type: ignore[arg-type]
    assert ctl.outcome == "completed" and len(ctl.markers) == 5
    broken = BrokenLine(SimConfig(tick_ms=TICK_MS))
    ctl = Controller(two_pulses(), DeviceLimits(), tick_ms=TICK_MS)
    result = Runner(ctl, broken).run()
    assert ctl.outcome == "completed", ctl.end_reason   # not a safety control: no fault
    assert len(result.marker_errors) == 5
    assert result.marker_errors[0] == "tick 1 'baseline 1': recorder line driver gone"


# ---- the wire: the serial backend and the emulator ----------------------------------------

@pytest.mark.req("LINK-011", "RX-010")
def test_a_two_pulse_protocol_over_the_emulator_delivers_every_marker_at_its_tick(
        served: list[Emulator]) -> None:
    emu = serve(served, markers=True)
    ctl, dev, result = run_over(emu)
    assert ctl.outcome == "completed" and ctl.pulses_done == 2, ctl.end_reason
    assert dev.marker_output and result.marker_errors == []
    # exactly the markers the controller emitted, in order, with their indices
    assert [received_view(m) for m in emu.markers] == [wire_view(m) for m in ctl.markers]
    assert [m.kind for m in emu.markers] == ["baseline", "pulse", "gap", "pulse", "end"]
    assert all(m.acked for m in emu.markers)
    # at the tick it was emitted: right after that tick's COMMAND. The device applied one
    # COMMAND at connect (the priming OFF) and one per tick since; in lockstep each COMMAND
    # is one device tick, so its clock is one tick past the sample the controller saw.
    assert [m.commands for m in emu.markers] == [m.tick + 1 for m in ctl.markers]
    assert [m.t_ms for m in emu.markers] == [m.t_ms + TICK_MS for m in ctl.markers]
    assert dev.stats.markers == 5 and dev.stats.markers_unacked == 0
    assert dev.stats.as_dict(dev.decoder)["markers"] == 5


@pytest.mark.req("LINK-011")
def test_no_marker_goes_to_a_device_without_the_capability(served: list[Emulator]) -> None:
    emu = serve(served, markers=False)
    assert not emu.identity.capabilities & p.CAP_MARKER
    ctl, dev, result = run_over(emu)
    assert ctl.outcome == "completed" and len(ctl.markers) == 5
    assert not dev.marker_output and marker_output(dev) is no_marker
    assert emu.markers == [] and dev.stats.markers == 0 and result.marker_errors == []


@pytest.mark.req("LINK-011")
def test_a_device_that_does_not_acknowledge_is_counted_not_faulted(served: list[Emulator]) -> None:
    emu = serve(served, markers=True)
    emu._marker = False  # advertises MARKER, never answers it
    ctl, dev, _ = run_over(emu)
    assert ctl.outcome == "completed", ctl.end_reason   # markers are not a safety control
    assert len(emu.markers) == 5 and not any(m.acked for m in emu.markers)
    # every marker but the last is judged when the next COMMAND is answered; the last one
    # (the protocol's end) is judged on the post-session watch ticks
    assert dev.stats.markers == 5 and dev.stats.markers_unacked == 5


# ---- the device checks (LINK-008) ----------------------------------------------------------

@pytest.mark.req("LINK-011", "LINK-008")
def test_the_device_checks_hold_a_marker_device_to_its_acknowledgements(
        served: list[Emulator]) -> None:
    emu = serve(served, markers=True)
    wire = Wire(DeviceSpec(emu.port, load_ohm=2000, hang_s=1.0, watchdog_grace_ms=GRACE_MS))
    try:
        check_markers(wire)
        check_watchdog(wire)   # MARKERs among the HEARTBEATs do not re-arm the watchdog
    finally:
        wire.close()
    assert [m.kind for m in emu.markers][:5] == list(p.MARKER_KINDS)
    silent = serve(served, markers=True)
    silent._marker = False     # advertises MARKER, does not acknowledge
    wire = Wire(DeviceSpec(silent.port, load_ohm=2000, hang_s=1.0))
    try:
        with pytest.raises(Violation, match=r"MARKER seq \d+ \(baseline\) not answered by "
                                            r"exactly one MARKER_ACK"):
            check_markers(wire)
    finally:
        wire.close()
    plain = serve(served, markers=False)
    wire = Wire(DeviceSpec(plain.port, load_ohm=2000, hang_s=1.0))
    try:
        check_markers(wire)    # no marker output: accepted as it is, nothing sent
    finally:
        wire.close()
    assert plain.markers == []


@pytest.mark.req("LINK-011", "LINK-008")
@pytest.mark.slow
def test_the_marker_emulator_meets_all_the_device_checks(served: list[Emulator]) -> None:
    sim = SimulatedDevice(SimConfig(tick_ms=TICK_MS, body_ohm=1000))
    served.append(Emulator(sim, markers=True, watchdog_grace_ms=GRACE_MS).start())
    device_checks(DeviceSpec(served[-1].port, load_ohm=1000, watchdog_grace_ms=GRACE_MS))


# ---- the HAL conformance kit (LINK-004) ---------------------------------------------------

def _wait(hal: object, ms: int) -> None:
    for _ in range(ms // TICK_MS + 1):
        hal.read()  # type: ignore[attr-defined]


def sim_spec(factory: object = None, **kw: object) -> Spec:
    return Spec(factory=factory or (lambda: SimulatedDevice(SimConfig(tick_ms=TICK_MS))),  # type: ignore[arg-type]
                wait=_wait, **kw)  # type: ignore[arg-type]


def sim_received(hal: object) -> list[tuple[int, int, str]]:
    return [(m.step, m.pulse, m.kind) for _t, m in hal.markers]  # type: ignore[attr-defined]


class Reordering(SimulatedDevice):
    """A broken marker output: holds each marker back and outputs it after the next one."""

    def __init__(self, config: SimConfig) -> None:
        super().__init__(config)
        self._held: Marker | None = None

    def marker(self, marker: Marker) -> None:
        if self._held is None:
            self._held = marker
            return
        super().marker(marker)
        super().marker(self._held)
        self._held = None


@pytest.mark.req("LINK-011", "LINK-004")
def test_the_kit_checks_a_marker_output_and_accepts_a_backend_without_one() -> None:
    plain_checks(sim_spec(markers=True, received_markers=sim_received))
    plain_checks(sim_spec(NoMarkerOutput))                         # none: accepted
    plain_checks(sim_spec(NoMarkerOutput, markers=False))
    with pytest.raises(Violation, match="has no marker output, but the spec says markers = True"):
        plain_checks(sim_spec(NoMarkerOutput, markers=True))
    with pytest.raises(Violation, match=r"markers sent \[\(1, 0, 'baseline'\), \(2, 1, 'pulse'\)"):
        plain_checks(sim_spec(lambda: Reordering(SimConfig(tick_ms=TICK_MS)),
                              received_markers=sim_received))


def serial_spec(markers: bool) -> Spec:
    """The serial backend on a lockstep emulator; what reached the device is its record."""
    emus: list[Emulator] = []

    def factory() -> SerialDevice:
        emus.append(Emulator(SimulatedDevice(SimConfig(tick_ms=TICK_MS)), markers=markers,
                             watchdog_grace_ms=500).start())
        return SerialDevice(emus[-1].port, read_timeout_ms=HANG_MS)

    def closer(hal: object) -> None:
        hal.close()  # type: ignore[attr-defined]
        emus.pop().stop()

    def received(hal: object) -> list[tuple[int, int, str]]:
        return [(m.step, m.pulse, m.kind) for m in emus[-1].markers]

    return Spec(factory=factory, closer=closer, slew_ua_per_s=2_000, dead_time_ms=500,
                max_test_ua=5_000, watchdog_ms=600, markers=markers, received_markers=received)


@pytest.mark.req("LINK-011", "LINK-004")
@pytest.mark.parametrize("markers", [True, False], ids=["marker-device", "plain-device"])
def test_the_serial_backend_passes_the_kit_with_and_without_the_capability(markers: bool) -> None:
    plain_checks(serial_spec(markers))
