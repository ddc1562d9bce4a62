"""The fault matrix: every fault class injected in every state where it can occur.

For each cell the rig drives the real Controller into the state with a deterministic
plant, injects the fault from one tick on, and checks: the declared reaction, detection
on the tick the debounce completes (latency derived from SupervisionLimits, not hard
coded), the reaction on that same tick, the invariants of the control core on every
tick (tests/support/invariants.py), and that no exception escapes.

ORACLE RULE: the expected reaction comes from the fault catalogue (the spec), the expected
latency from SupervisionLimits, and the injected over-current from the trip the checker
derives from the prescription and limits (invariants.trip_ua), never from the controller's
attributes (tests/test_oracles.py: a controller lying about its trip fails a cell).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from invariants import InvariantChecker, trip_ua
from iontocore import OFF, Command, Controller, DeviceLimits, Prescription, Sample, SupervisionLimits
from iontocore.envelope import FamilyLimits
from iontocore.faults import BY_CODE, FaultCode, Reaction

TICK = 10
# Research at its envelope's ceiling (1 mA, 0.5 mA/cm2): a pulse whose amplitude stays clear
# of the trip floor when an injection reads high at a 10 % duty.
DEVICE = DeviceLimits(min_reversal_session_ms=10_000, research=FamilyLimits.default(
    "research").adjusted(max_current_ua=1_000, max_density_ua_per_cm2=500))
SUP = SupervisionLimits()
COMPLIANCE = DEVICE.compliance_mv

DUTIES = (1000, 100, 500, 900)
"""Every cell runs on DC and at 10, 50 and 90 % duty (SUP-017)."""

RX_TAP = Prescription(name="matrix-tap", family="tap-water", target_ua=5_000, ramp_ms=3_000,
                      duration_ms=20_000, reverse_at_half=True, max_ua=6_000, min_ua=500,
                      step_ua=500, site="palms")
RX_PULSES = Prescription(name="matrix-pulses", family="research", target_ua=1_000, ramp_ms=1_000,
                         pulse_count=3, pulse_on_ms=2_000, pulse_gap_ms=2_000, probe_ua=50,
                         area_mm2=1_000, return_area_mm2=1_000)

STATES = ("idle", "ramp_up", "treat", "polarity_swap", "paused", "pulse_gap", "ramp_down")
ALL = STATES
MOVING = ("ramp_up", "polarity_swap", "ramp_down")
CURRENT = ("ramp_up", "treat", "polarity_swap", "ramp_down")
ENABLED = ("ramp_up", "treat", "polarity_swap", "paused", "pulse_gap", "ramp_down")

# Fault kinds of the matrix: the supervision faults, contact loss (pause), high resistance
# (hold), emergency stop and internal error.
APPLICABLE: dict[str, tuple[str, ...]] = {
    "overcurrent": ALL,
    "tracking": CURRENT,
    "sensor_stuck": MOVING,
    "implausible_sample": ALL,
    "contact_lost": ("ramp_up", "treat", "polarity_swap"),
    "short_circuit": CURRENT,
    "high_resistance": ("ramp_up", "treat", "polarity_swap"),
    "sample_loss": ALL,
    "clock_backwards": ALL,
    "clock_jump": ALL,
    "late_ticks": ALL,
    "relay_mismatch": ("idle", "ramp_up", "treat", "polarity_swap", "paused", "ramp_down"),
    "leak": ("idle",),
    "uncommanded_current": ("ramp_up", "treat", "polarity_swap", "paused", "pulse_gap", "ramp_down"),
    "unsettled": ("polarity_swap", "pulse_gap", "ramp_down"),
    "emergency_stop": ALL,
    "link_lost": ALL,
    "device_fault": ALL,
    "internal_error": ALL,
    "impedance_fall": ("treat",),
    "supply_low": ENABLED,
    "supply_lost": ENABLED,
}
SUPPLY_KINDS = ("supply_low", "supply_lost")
DEVICE_SUPPLY = dataclasses.replace(DEVICE, supply_min_mv=6_000, supply_max_mv=9_000)
"""The device of the supply rows: it monitors its supply (a 2-cell battery, 7.4 V nominal)."""
SUPPLY_MV = {"supply_low": 6_300, "supply_lost": 0}
"""The supply each supply row injects: between the floor and the stop level; vanished."""
REQUIREMENT = {"contact_lost": "SUP-005", "high_resistance": "SUP-007"}


def reaction_of(kind: str) -> Reaction:
    if kind == "contact_lost":
        return Reaction.PAUSE
    if kind == "high_resistance":
        return Reaction.HOLD
    return BY_CODE[FaultCode(kind)].reaction


def requirement_of(kind: str) -> str:
    return REQUIREMENT.get(kind) or BY_CODE[FaultCode(kind)].requirement


def expected_latency(kind: str) -> int:
    """Ticks from the first faulty tick to detection, from the named debounces."""
    def debounce(ms: int) -> int:
        return math.ceil(ms / TICK)

    return {
        "tracking": debounce(SUP.tracking_debounce_ms),
        "sensor_stuck": debounce(SUP.stuck_ms) - 1,  # the first frozen reading already repeats
        "implausible_sample": SUP.implausible_max_consecutive - 1,
        "contact_lost": debounce(SUP.contact_loss_debounce_ms),
        "short_circuit": debounce(SUP.short_debounce_ms),
        "relay_mismatch": debounce(SUP.relay_debounce_ms),
        "sample_loss": debounce(SUP.sample_deadline_ms) - 1,
        "late_ticks": math.ceil(SUP.late_bucket_limit / 10) - 1,
        "uncommanded_current": debounce(SUP.tracking_debounce_ms),
        "unsettled": debounce(SUP.settle_ms),
        "impedance_fall": debounce(SUP.impedance_debounce_ms),
        "supply_low": debounce(SUP.supply_debounce_ms),
        "supply_lost": debounce(SUP.supply_debounce_ms),
    }.get(kind, 0)


class Boom(RuntimeError):
    pass


class Rig:
    """A Controller, a noise-free plant that follows the command, and the invariant checker."""

    def __init__(self, rx: Prescription, device: DeviceLimits = DEVICE) -> None:
        self.ctl = Controller(rx, device, SUP, tick_ms=TICK)
        self.rx = rx
        self.duty = rx.duty_permille
        self.check = InvariantChecker(rx, device, SUP, TICK)
        self.supply = 7_400 if device.supply_min_mv else None  # reported only when monitored
        self.t = 100_000  # a clock that can step back without going negative
        self.started = False
        self.mode = "follow"
        self.frozen: tuple[int, int] | None = None
        self.relay = 0
        self.escaped: list[BaseException] = []

    def sample(self) -> Sample | None:
        cmd, mode = self.ctl.command, self.mode
        if self.started:
            self.t += 2 * TICK if mode == "late_ticks" else TICK
        self.started = True
        if mode == "clock_backwards":
            self.t -= 1_000
            self.mode = mode = "follow_once"
        elif mode == "clock_jump":
            self.t += 5_000
            self.mode = mode = "follow_once"
        on = cmd.enabled
        amp = abs(cmd.setpoint_ua) if on else 0
        sgn = -1 if cmd.setpoint_ua < 0 else 1
        if on and cmd.setpoint_ua:
            self.relay = sgn
        elif not on:
            self.relay = 0
        relay = self.relay
        avg = amp * cmd.duty_permille // 1000
        # one LSB of sensor noise on alternate ticks: a live ADC never repeats for long
        # (the device's sensor_frozen_ms relies on it, SUP-003)
        lsb = (self.t // TICK) % 2
        i, v = sgn * avg + lsb, sgn * min(amp * 2, COMPLIANCE)
        if mode in ("open", "contact_lost"):
            i, v = lsb, (sgn * COMPLIANCE if amp else 0)
        elif mode == "overcurrent":  # the sensor reads the average of an excessive amplitude
            i = sgn * ((trip_ua(self.rx, DEVICE, SUP) + 500) * cmd.duty_permille // 1000)
        elif mode == "tracking":
            i = sgn * avg // 2
        elif mode == "short_circuit":  # 50 ohm: the peak voltage of the amplitude
            v = sgn * amp * 50 // 1000
        elif mode == "high_resistance":  # 100 kOhm: the amplitude the compliance allows
            i = sgn * min(amp, COMPLIANCE * 1000 // 100_000) * cmd.duty_permille // 1000
            v = sgn * COMPLIANCE if amp * 100 > COMPLIANCE else sgn * amp * 100
        elif mode == "uncommanded_current":  # above the band, at the compliance voltage;
            # the excess is on the amplitude (the monitor judges amplitudes, SUP-017), so a
            # low duty does not blow a small pulse up past the trip
            i, v = sgn * ((amp + max(60, amp // 5)) * cmd.duty_permille // 1000), sgn * COMPLIANCE
        elif mode == "unsettled":  # an offset above the zero tolerance, below the floor
            i = sgn * (avg + DEVICE.zero_tolerance_ua + 10)
        elif mode == "relay_mismatch":
            relay = -relay if relay else 1
        elif mode == "leak" and not on:
            i = 300
        elif mode == "impedance_fall":  # 2 kOhm falls to 600 ohm: 70 %, at once
            v = v * 3 // 10
        elif mode == "supply_lost":  # no supply: the output stage delivers nothing
            i, v = lsb, 0
        if mode == "sensor_stuck":
            assert self.frozen is not None
            i, v = self.frozen
        self.last_reading = (i, v)
        if mode == "sample_loss":
            return None
        if mode == "implausible_sample":
            return Sample(self.t, float("nan"), v, relay)  # type: ignore[arg-type]
        if self.supply is not None:
            return Sample(self.t, i, v, relay, SUPPLY_MV.get(mode, self.supply))
        return Sample(self.t, i, v, relay)

    def tick(self) -> Command:
        sample = self.sample()
        try:
            cmd = self.ctl.step(sample)
        except BaseException as exc:  # noqa: BLE001 - counted: must never happen
            self.escaped.append(exc)
            raise
        self.check.step(sample, cmd, self.ctl.state, self.ctl.delivered_uams)
        return cmd

    def request(self, name: str) -> None:
        reply = getattr(self.ctl, name)()
        self.check.request(name, reply.accepted, self.ctl.state)

    def until(self, predicate, limit: int = 20_000) -> None:  # type: ignore[no-untyped-def]
        for _ in range(limit):
            if predicate():
                return
            self.tick()
        raise AssertionError(f"state not reached; stuck in {self.ctl.state}")


def with_duty(rx: Prescription, duty: int) -> Prescription:
    if duty == 1000:
        return rx
    return dataclasses.replace(rx, name=f"{rx.name}-d{duty // 10}", waveform="pulsed",
                               pulse_hz=1_000, duty_permille=duty)


def drive_to(state: str, duty: int = 1000, kind: str = "") -> Rig:
    """A rig whose controller is in `state`, in a condition where faults are observable."""
    rig = Rig(with_duty(RX_PULSES if state == "pulse_gap" else RX_TAP, duty),
              DEVICE_SUPPLY if kind in SUPPLY_KINDS else DEVICE)
    ctl = rig.ctl
    if state == "idle":
        for _ in range(20):
            rig.tick()
        return rig
    rig.request("start")
    if state == "ramp_up":
        rig.until(lambda: abs(ctl.command.setpoint_ua) >= 3_000)
    elif state == "treat":
        rig.until(lambda: ctl.state == "treat")
        for _ in range(10):
            rig.tick()
    elif state == "polarity_swap":
        rig.until(lambda: ctl.state == "polarity_swap")
        rig.until(lambda: abs(ctl.command.setpoint_ua) <= 3_000)
    elif state == "paused":
        rig.until(lambda: ctl.state == "treat")
        rig.mode = "open"
        rig.until(lambda: ctl.state == "paused")
        for _ in range(10):
            rig.tick()
    elif state == "pulse_gap":
        rig.until(lambda: ctl.state == "pulse_gap")
        for _ in range(20):
            rig.tick()
    elif state == "ramp_down":
        rig.until(lambda: ctl.state == "treat")
        rig.request("stop")
        for _ in range(10):
            rig.tick()
    assert ctl.state == state, (state, ctl.state)
    return rig


@dataclass
class Cell:
    kind: str
    state: str
    duty: int
    reaction: str
    latency: int | None
    expected_latency: int
    passed: bool
    detail: str = ""
    escaped: bool = False


def run_cell(kind: str, state: str, duty: int = 1000) -> Cell:
    """Inject `kind` in `state` at `duty` and check the reaction. Never raises: failures
    are reported."""
    expected = expected_latency(kind)
    reaction = reaction_of(kind)
    try:
        latency = _run(kind, state, expected, reaction, duty)
        return Cell(kind, state, duty, reaction.value, latency, expected, latency == expected,
                    "" if latency == expected else f"detected after {latency} ticks, expected {expected}")
    except AssertionError as exc:
        return Cell(kind, state, duty, reaction.value, None, expected, False, str(exc)[:300])
    except Exception as exc:  # noqa: BLE001 - an exception out of Controller.step
        return Cell(kind, state, duty, reaction.value, None, expected, False,
                    f"exception escaped: {exc!r}"[:300], escaped=True)


def _run(kind: str, state: str, expected: int, reaction: Reaction, duty: int) -> int:
    rig = drive_to(state, duty, kind)
    ctl = rig.ctl
    if kind == "impedance_fall":  # judged once the command has been steady for the window
        for _ in range(SUP.impedance_window_ms // TICK):
            rig.tick()
        assert ctl.state == state, (state, ctl.state)
    if kind == "unsettled":  # from the tick the command reaches zero
        rig.until(lambda: ctl.command.setpoint_ua == 0 and ctl.command.enabled, limit=2_000)
        assert ctl.state == state, (state, ctl.state)
    base_mode = rig.mode
    faults_before = len(ctl.faults)
    rig.frozen = rig.last_reading
    first = ctl.tick + 1
    if kind == "emergency_stop":
        rig.request("emergency_stop")  # between ticks: recorded on the last tick
        _check_cut(rig, faults_before, first - 1, FaultCode.EMERGENCY_STOP)
        return 0
    if kind in ("link_lost", "device_fault"):
        reply = ctl.report_fault(FaultCode(kind), f"injected {kind}")
        rig.check.request("report_fault", reply.accepted, ctl.state)
        assert reply.accepted, reply
        _check_cut(rig, faults_before, first - 1, FaultCode(kind))
        return 0
    if kind == "internal_error":
        def boom(*args: object) -> int:
            raise Boom("injected")
        ctl._handlers = {**ctl._handlers, state: boom}
        rig.tick()
        _check_cut(rig, faults_before, first, FaultCode.INTERNAL_ERROR)
        return 0
    rig.mode = kind
    for _ in range(expected + 200):
        cmd = rig.tick()
        detected = _detected(ctl, kind, faults_before)
        if not detected:
            continue
        latency = ctl.tick - first
        if reaction is Reaction.HARD_CUT:
            _check_cut(rig, faults_before, ctl.tick, FaultCode(kind))
            return latency
        if reaction is Reaction.RAMP_THEN_FAULT:
            rec = ctl.faults[faults_before]
            assert rec.code is FaultCode(kind) and rec.tick == ctl.tick, rec
            if ctl.state == "fault":  # the output was already at zero
                assert cmd == OFF and rec.zero_tick == ctl.tick, (cmd, rec)
                return latency
            assert ctl.state == "ramp_down", ctl.state
            rig.mode = kind if kind in ("sensor_stuck", "implausible_sample", "late_ticks", "impedance_fall",
                                             "supply_low") else base_mode
            rig.until(lambda: str(ctl.state) == "fault", limit=5_000)
            rec = ctl.faults[faults_before]
            assert rec.zero_tick is not None and rec.zero_tick >= rec.tick
            assert ctl.command == OFF
            return latency
        if reaction is Reaction.PAUSE:
            rx = rig.rx  # the probe is an average: its amplitude is probe / duty
            probe = rx.probe_ua * 1000 // rx.duty_permille if rx.duty_permille < 1000 else rx.probe_ua
            probe = min(probe, rx.target_ua)  # the probe amplitude, never above the set-point
            assert ctl.state == "paused" and abs(cmd.setpoint_ua) <= probe, cmd
            return latency
        if reaction is Reaction.HOLD:
            assert not ctl.faults[faults_before:] and ctl.compliance_limited
            for _ in range(50):
                rig.tick()
            assert not ctl.faults[faults_before:], ctl.faults
            assert abs(ctl.command.setpoint_ua) <= 600 + rig.check.max_step, ctl.command
            return latency
    raise AssertionError(f"{kind} not detected in {state} within {expected + 200} ticks")


def _detected(ctl: Controller, kind: str, faults_before: int) -> bool:
    if kind == "contact_lost":
        return ctl.state == "paused"
    if kind == "high_resistance":
        return ctl.compliance_limited
    return len(ctl.faults) > faults_before


def _check_cut(rig: Rig, faults_before: int, tick: int, code: FaultCode) -> None:
    """A hard cut: recorded on `tick`, output off on that same tick and after it."""
    ctl = rig.ctl
    rec = ctl.faults[faults_before]
    assert rec.code is code, rec
    assert rec.reaction is Reaction.HARD_CUT
    assert rec.tick == tick and rec.zero_tick == tick, rec
    assert ctl.state == "fault" and ctl.command == OFF
    for _ in range(5):
        assert rig.tick() == OFF


def cells() -> list[tuple[str, str, int]]:
    return [(kind, state, duty) for kind, states in APPLICABLE.items() for state in states
            for duty in DUTIES]


def render(results: list[Cell]) -> str:
    """specs/fault_matrix.md: fault x state -> latency in ticks; reaction; pass/fail."""
    by: dict[tuple[str, str], list[Cell]] = {}
    for c in results:
        by.setdefault((c.kind, c.state), []).append(c)
    head = ["# Fault matrix", "",
            "Generated by `tests/test_fault_matrix.py` (regenerate: `IONTO_REGEN=1 pytest "
            "tests/test_fault_matrix.py`); the test fails when this file and the code disagree.",
            f"Each cell: the fault injected from one tick on ({TICK} ms tick) in that state, on DC "
            "and at 10, 50 and 90 % duty (pulsed DC); the "
            "number is the latency in ticks from the first faulty tick to detection, which must",
            "equal the debounce in `SupervisionLimits` (a failing cell shows the ticks seen and expected). The "
            "reaction happens on the detection tick; the invariants of the control core are",
            "checked on every tick; `-` means the fault cannot occur in that state.", "",
            "| fault | requirement | reaction | " + " | ".join(STATES) + " | result |",
            "|---|---|---|" + "---|" * len(STATES) + "---|"]
    rows = []
    for kind, states in APPLICABLE.items():
        cols = []
        ok = True
        for state in STATES:
            group = by.get((kind, state))
            if not group:
                cols.append("-")
                continue
            bad = [c for c in group if not c.passed]
            ok &= not bad
            cols.append(f"{group[0].latency}" if not bad else
                        "FAIL " + ", ".join(f"{c.duty / 10:g} %: {c.latency} vs {c.expected_latency}"
                                            for c in bad))
        rows.append(f"| {kind} | {requirement_of(kind)} | {reaction_of(kind).value} | "
                    + " | ".join(cols) + f" | {'pass' if ok else 'FAIL'} |")
    total = len(results)
    passed = sum(c.passed for c in results)
    escaped = sum(c.escaped for c in results)
    tail = ["", f"{passed} of {total} cells pass; exceptions escaped from Controller.step: {escaped}."]
    return "\n".join(head + rows + tail) + "\n"
