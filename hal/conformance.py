"""HAL conformance kit: checks that a backend keeps the HAL contract (LINK-004).

A maker runs it against their own backend, connected to a resistive test load (1-6 kOhm),
in a test file of their own:

    from iontocore.hal.conformance import Spec, plain_checks, state_machine
    SPEC = Spec(factory=lambda: MyBackend("/dev/ttyUSB0"), tick_ms=10, load_ohm=2000)

    def test_plain_checks():
        plain_checks(SPEC)

    TestMyBackend = state_machine(SPEC).TestCase     # Hypothesis RuleBasedStateMachine

It needs Hypothesis (`pip install hypothesis`); the rest of iontocore does not. The checks:
samples well-formed and in sensor range, time strictly increasing; the commanded current
flows (within a tolerance, both polarities) and stops when the output is commanded off or
cut; cut() never raises and may be repeated; the device-side watchdog turns the output off
when commands stop and keeps it off, whatever later ON commands ask, until an OFF command.
For a device that limits its own slew and dead time (the serial protocol's devices), give
`slew_ua_per_s` and `dead_time_ms` and the settle time covers them.

Supply (LINK-010): a backend that reports its supply (`Sample.supply_mv`) is held to it on
every sample: an integer from 0 to `supply_max_mv`, reported on every sample once it has
been (a reading missing later would stop a session), and, at rest on the test bench, at
or above `supply_min_mv` plus the core's default margin (or no session could start). A
backend that never reports is accepted as it is. Set `reports_supply` to True or False to
require one or the other (a battery-powered device that forgets to report is caught).

Markers (LINK-011): a backend with a marker output (`marker()`, see iontocore.hal) is given
markers of every kind between ticks with the output on: the current must not change, and,
when `received_markers` tells the kit what reached the recorder (its capture of the line,
an emulator's record), exactly those markers must arrive, in order, with their step and
pulse indices and kinds. A backend without one is accepted as it is; one whose
`marker_output` is False (a serial device without the MARKER capability) must deliver
nothing. Set `markers` to True or False to require one or the other.

Channels (LINK-012): `channel_checks(ChannelSpec(factory=...))` checks a MultiHal backend
(iontocore.hal): each tick it reads one sample per channel, and either every channel
answers or none (a missed tick); each channel in turn is commanded on alone and must carry
its current while every other channel stays at zero (a command to channel 1 never moves
channel 2); all off at the end. A single-channel Hal has nothing to check here (plain_checks).

The device's own obligations (clamp, slew, dead time, field checks, ramp-down latch,
wall-clock watchdog) are checked over its real port by `iontocore.hal.device_checks`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from iontocore.events import Marker
from iontocore.interface import Command, Sample
from iontocore.supervision import admit, tracking_error

from . import Hal, MultiHal, marker_output, no_marker

MARKER_KINDS = ("baseline", "pulse", "gap", "pulse", "interrupt", "pulse", "end")
"""The kinds of the markers the kit sends, in order (every kind a protocol emits)."""


@dataclass
class Spec:
    factory: Callable[[], Hal]
    """Opens a fresh backend (and whatever it needs) for each check."""
    tick_ms: int = 10
    load_ohm: int = 2000
    max_test_ua: int = 10_000
    """Largest current the checks command (keep it safe for the test load)."""
    tolerance_ua: int = 100
    tolerance_permille: int = 50
    settle_ticks: int = 5
    """Ticks a change may take to show in the measurement."""
    slew_ua_per_s: int | None = None
    """The device's own slew limit on rises, if it has one (IDENTIFY max_slew_ua_per_s)."""
    dead_time_ms: int = 0
    """The device's own dead time at zero before a polarity change."""
    zero_tolerance_ua: int = 20
    watchdog_ms: int = 100
    sensor_max_ua: int = 60_000
    sensor_max_mv: int = 120_000
    reports_supply: bool | None = None
    """True: every sample must report the supply; False: none may; None: either, consistently."""
    supply_min_mv: int = 0
    """The device's supply floor (its DeviceLimits.supply_min_mv; 0: not monitored)."""
    supply_max_mv: int = 60_000
    """The supply sensor's range (DeviceLimits.supply_max_mv)."""
    markers: bool | None = None
    """True: the backend must have a marker output; False: it must have none; None: either."""
    received_markers: Callable[[Hal], Sequence[tuple[int, int, str]]] | None = None
    """Every marker the backend's output delivered so far, as (step, pulse, kind), oldest
    first (the recorder's capture, an emulator's record); None: not observable, only the
    output is checked to be unaffected."""
    wait: Callable[[Hal, int], None] | None = None
    """How to let `ms` of device time pass without commands: default, wall-clock sleep;
    the in-process simulator passes time by reading."""
    closer: Callable[[Hal], None] = field(default=lambda hal: hal.close())


class Violation(AssertionError):
    pass


class Probe:
    """One backend under test, driven tick by tick, checking every sample."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.hal = spec.factory()
        self.last_t: int | None = None
        self.command = Command(0, False)
        self.polarity = 0   # sign of the last non-zero command (the dead time follows it)
        self.supply_seen: bool | None = None  # whether the samples report the supply
        self.last_supply_mv: int | None = None

    def tick(self, command: Command | None = None) -> Sample | None:
        """read(), check, apply() the given command (or the previous one again)."""
        sample = self.hal.read()
        self.check(sample)
        if command is not None:
            self.command = command
        if self.command.enabled and self.command.setpoint_ua:
            self.polarity = 1 if self.command.setpoint_ua > 0 else -1
        self.hal.apply(self.command)
        return sample

    def ramp_ticks(self, command: Command) -> int:
        """Ticks the device's own slew and dead time take to carry out `command`."""
        spec, prev = self.spec, self.command
        if not spec.slew_ua_per_s or not command.enabled:
            return 0
        start = abs(prev.setpoint_ua) if prev.enabled else 0
        extra = 0
        if self.polarity * command.setpoint_ua < 0:  # reversal: zero for the dead time first
            start, extra = 0, spec.dead_time_ms // spec.tick_ms + 1
        step = -(-spec.slew_ua_per_s * spec.tick_ms // 1000)
        return extra + -(-max(0, abs(command.setpoint_ua) - start) // step)

    def settle(self, command: Command) -> Sample:
        """Apply `command` and return the sample after the settle time (and the ramp)."""
        got: Sample | None = None
        ticks = self.spec.settle_ticks + 1 + self.ramp_ticks(command)
        self.tick(command)
        for _ in range(ticks):
            got = self.tick() or got
        if got is None:
            raise Violation("no sample arrived within the settle time")
        return got

    def check(self, sample: Sample | None) -> None:
        if sample is None:
            return
        clean = admit(sample, self.spec.sensor_max_ua, self.spec.sensor_max_mv)
        if clean is None:
            raise Violation(f"implausible sample {sample}")
        t = clean[0]
        if self.last_t is not None and t <= self.last_t:
            raise Violation(f"time did not advance: {self.last_t} -> {t}")
        self.last_t = t
        self.check_supply(sample)

    def check_supply(self, sample: Sample) -> None:
        """LINK-010: the supply field as the spec and the backend's own first sample say."""
        spec = self.spec
        supply = sample[4] if len(sample) == 5 else None
        reported = supply is not None
        want = spec.reports_supply if spec.reports_supply is not None else self.supply_seen
        if want is not None and reported != want:
            raise Violation(f"sample {sample}: the supply is {'' if reported else 'not '}"
                            f"reported, but {'none' if not want else 'every sample'} must "
                            f"{'be' if not want else 'report it'}"
                            + ("" if spec.reports_supply is not None else
                               " (the backend's first sample set the rule)"))
        self.supply_seen = reported
        if not reported:
            return
        if type(supply) is not int or not 0 <= supply <= spec.supply_max_mv:
            raise Violation(f"sample {sample}: supply_mv = {supply!r}: allowed an integer from "
                            f"0 to {spec.supply_max_mv} mV")
        self.last_supply_mv = supply

    def expect_current(self, sample: Sample, want_ua: int) -> None:
        spec = self.spec
        if tracking_error(sample.current_ua, want_ua, spec.tolerance_ua, spec.tolerance_permille):
            tol = max(spec.tolerance_ua, abs(want_ua) * spec.tolerance_permille // 1000)
            raise Violation(f"measured {sample.current_ua} uA, commanded {want_ua} uA (+-{tol})")

    def expect_off(self, sample: Sample) -> None:
        if abs(sample.current_ua) > self.spec.zero_tolerance_ua:
            raise Violation(f"{sample.current_ua} uA flow with the output off")

    def pass_time(self, ms: int) -> None:
        if self.spec.wait is not None:
            self.spec.wait(self.hal, ms)
        else:
            time.sleep(ms / 1000)

    def close(self) -> None:
        self.hal.cut()
        self.spec.closer(self.hal)

    def received(self) -> list[tuple[int, int, str]]:
        got = self.spec.received_markers
        return [] if got is None else [tuple(m) for m in got(self.hal)]  # type: ignore[misc]

    def send_markers(self, kinds: Sequence[str], first_step: int = 1) -> None:
        """One marker per tick, of each of `kinds` in turn, through the backend's `marker()`
        (called also when its `marker_output` is False: then nothing may arrive); each
        delivered one must arrive in order with its indices (LINK-011)."""
        spec, hal = self.spec, self.hal
        has = marker_output(hal) is not no_marker
        mark = getattr(hal, "marker", None)
        if spec.markers is not None and has != spec.markers:
            raise Violation(f"the backend has {'a' if has else 'no'} marker output, but the "
                            f"spec says markers = {spec.markers}")
        if not callable(mark):
            return
        before = len(self.received())
        sent: list[tuple[int, int, str]] = []
        pulse = 0
        for i, kind in enumerate(kinds):
            step = first_step + i
            pulse += kind == "pulse"
            self.tick()
            t = self.last_t or 0
            mark(Marker(tick=0, t_ms=t, session_ms=1_000 * step, label=f"conformance {step}",
                        kind=kind, step=step, pulse=pulse))
            sent.append((step, pulse, kind))
        for _ in range(2):  # let the last one reach the output (the next command's answer)
            self.tick()
        want = sent if has else []
        if spec.received_markers is not None:
            got = self.received()[before:]
            if got != want:
                raise Violation(f"markers sent {want}, received {got}" + (
                    "" if has else " (the backend has no marker output: nothing may arrive)"))


def plain_checks(spec: Spec) -> None:
    """The fixed checks: currents flow as commanded, stop on OFF and on cut, the watchdog."""
    probe = Probe(spec)
    try:
        off = probe.settle(Command(0, False))
        probe.expect_off(off)
        if probe.supply_seen and spec.supply_min_mv:  # at rest on the bench: a session can start
            from iontocore.supervision import SupervisionLimits
            from iontocore.supply import supply_stop_mv

            stop = supply_stop_mv(spec.supply_min_mv, SupervisionLimits().supply_margin_permille)
            if probe.last_supply_mv is not None and probe.last_supply_mv < stop:
                raise Violation(f"supply {probe.last_supply_mv} mV at rest, below the stop "
                                f"level {stop} mV: no session could start (charge the battery, "
                                "or check supply_min_mv)")
        level = min(spec.max_test_ua, 5_000)
        for sign in (1, -1):
            on = probe.settle(Command(sign * level, True))
            probe.expect_current(on, sign * level)
        probe.send_markers(MARKER_KINDS)  # LINK-011: delivered in order, the output unaffected
        probe.expect_current(probe.settle(Command(-level, True)), -level)
        probe.expect_off(probe.settle(Command(0, False)))
        probe.settle(Command(level, True))
        probe.hal.cut()
        probe.hal.cut()  # idempotent, never raises
        probe.command = Command(0, False)
        probe.expect_off(probe.settle(Command(0, False)))
        # watchdog: commands stop -> output off, and stays off against ON until an OFF
        probe.settle(Command(level, True))
        probe.pass_time(spec.watchdog_ms * 3)
        probe.last_t = None  # the device clock may have moved on while we waited
        probe.expect_off(probe.settle(Command(level, True)))
        probe.settle(Command(0, False))
        probe.expect_current(probe.settle(Command(level, True)), level)
    finally:
        probe.close()


def state_machine(spec: Spec) -> Any:
    """A Hypothesis RuleBasedStateMachine checking the contract under arbitrary sequences."""
    from hypothesis import strategies as st
    from hypothesis.stateful import RuleBasedStateMachine, initialize, rule

    class HalContract(RuleBasedStateMachine):
        probe: Probe

        @initialize()
        def open(self) -> None:
            self.probe = Probe(spec)
            self.probe.settle(Command(0, False))

        @rule(ua=st.integers(-spec.max_test_ua, spec.max_test_ua),
              duty=st.sampled_from([1000, 1000, 500]))
        def command_and_settle(self, ua: int, duty: int) -> None:
            sample = self.probe.settle(Command(ua, True, duty))
            self.probe.expect_current(sample, ua * duty // 1000)

        @rule()
        def off(self) -> None:
            self.probe.expect_off(self.probe.settle(Command(0, False)))

        @rule(times=st.integers(1, 3))
        def cut(self, times: int) -> None:
            for _ in range(times):
                self.probe.hal.cut()
            self.probe.command = Command(0, False)
            self.probe.expect_off(self.probe.settle(Command(0, False)))

        @rule(kinds=st.lists(st.sampled_from(sorted(set(MARKER_KINDS))), min_size=1, max_size=3),
              first=st.integers(1, 1_000))
        def markers(self, kinds: list[str], first: int) -> None:
            want = self.probe.command
            self.probe.send_markers(kinds, first)
            if want.enabled:
                self.probe.expect_current(self.probe.settle(want), want.setpoint_ua
                                          * want.duty_permille // 1000)
            else:
                self.probe.expect_off(self.probe.settle(want))

        @rule(n=st.integers(1, 20))
        def ticks(self, n: int) -> None:
            for _ in range(n):
                self.probe.tick()

        def teardown(self) -> None:
            if getattr(self, "probe", None) is not None:
                self.probe.close()

    return HalContract


@dataclass
class ChannelSpec:
    """A multi-channel backend under test (LINK-012)."""

    factory: Callable[[], "MultiHal | Hal"]
    """Opens a fresh backend; a single-channel Hal (no `channels`) is accepted as it is."""
    level_ua: int = 1_000
    """The current each channel carries alone (keep it safe for the test load)."""
    settle_ticks: int = 5
    slew_ua_per_s: int | None = None
    dead_time_ms: int = 0
    tick_ms: int = 10
    tolerance_ua: int = 100
    tolerance_permille: int = 50
    zero_tolerance_ua: int = 20
    closer: Callable[[Any], None] = field(default=lambda hal: hal.close())


def channel_checks(spec: ChannelSpec) -> None:
    """Every channel answers each tick; a command to one channel moves that channel only."""
    hal = spec.factory()
    try:
        n = getattr(hal, "channels", None)
        if not isinstance(hal, MultiHal) or not isinstance(n, int):
            return
        step = -(-spec.slew_ua_per_s * spec.tick_ms // 1000) if spec.slew_ua_per_s else spec.level_ua
        ticks = spec.settle_ticks + 1 + -(-spec.level_ua // step) + spec.dead_time_ms // spec.tick_ms

        def tick(commands: list[Command]) -> list[Sample | None]:
            hal.apply(commands)
            got = list(hal.read())
            if len(got) != n:
                raise Violation(f"read() gave {len(got)} samples: allowed exactly {n} (one per channel)")
            if any(s is None for s in got) and any(s is not None for s in got):
                missing = [k + 1 for k, s in enumerate(got) if s is None]
                raise Violation(f"channel {missing} missing from a tick the others answered: "
                                "every channel answers each tick")
            return got

        off = [Command(0, False)] * n
        for on in range(n):
            commands = list(off)
            commands[on] = Command(spec.level_ua, True)
            for _ in range(ticks):
                got = tick(commands)
                for k, s in enumerate(got):
                    if s is not None and k != on and abs(s.current_ua) > spec.zero_tolerance_ua:
                        raise Violation(f"channel {k + 1}: {s.current_ua} uA flow while only "
                                        f"channel {on + 1} is commanded on: a command to one "
                                        "channel moved another")
            mine = got[on]
            if mine is None:
                raise Violation(f"no sample from channel {on + 1} after the settle time")
            if tracking_error(mine.current_ua, spec.level_ua, spec.tolerance_ua, spec.tolerance_permille):
                raise Violation(f"channel {on + 1}: measured {mine.current_ua} uA, commanded "
                                f"{spec.level_ua} uA alone")
            for _ in range(spec.settle_ticks + 1):
                got = tick(off)
        for k, s in enumerate(got):
            if s is not None and abs(s.current_ua) > spec.zero_tolerance_ua:
                raise Violation(f"channel {k + 1}: {s.current_ua} uA flow with every channel off")
    finally:
        try:
            hal.cut()
        finally:
            spec.closer(hal)
