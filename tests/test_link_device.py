"""The device side as the second, independent layer (LINK-008): the emulator meets every
device obligation of specs/protocol.md, checked over a real pty by the conformance kit's
`device_checks` (what a maker runs against their firmware), and a device missing any one
obligation fails it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from iontocore.hal import device_rules as r
from iontocore.hal import protocol as p
from iontocore.hal.conformance import Violation
from iontocore.hal.device_checks import DeviceSpec, device_checks
from iontocore.hal.emulator import Emulator
from iontocore.hal.sim import SimConfig, SimulatedDevice


GRACE_MS = 1_000
"""The emulator's watchdog acts this much wall time late, and the checks wait it out: a busy
machine can stall the host thread past 100 ms during the other checks (seen: NoDeadTime and
RampNotLatched reported a watchdog trip instead of their own failure at load 6)."""


def emulator(rules: type[r.DeviceRules] = r.DeviceRules, *, lockstep: bool = True) -> Emulator:
    # 1 kOhm: the device maximum (30 mA) stays below compliance, so a missing clamp shows
    emu = Emulator(SimulatedDevice(SimConfig(tick_ms=10, body_ohm=1000)), lockstep=lockstep,
                   watchdog_grace_ms=GRACE_MS)
    emu.rules = rules(emu.identity)
    return emu.start()


@pytest.fixture
def served() -> Iterator[list[Emulator]]:
    emus: list[Emulator] = []
    yield emus
    for emu in emus:
        emu.stop()


@pytest.mark.req("LINK-008", "LINK-003", "HAL-002")
@pytest.mark.slow
def test_the_emulator_meets_every_device_obligation(served: list[Emulator]) -> None:
    served.append(emulator())
    device_checks(DeviceSpec(served[-1].port, load_ohm=1000, watchdog_grace_ms=GRACE_MS))


# ---- a device missing one obligation fails ------------------------------------------------------

class AcceptsAnything(r.DeviceRules):
    def command(self, seq: int, setpoint_ua: int, enabled: int, duty: int, t_ms: int) -> str:
        return super().command(seq, setpoint_ua, min(enabled, 1), max(1, min(duty, 1000)), t_ms)


class AppliesDuplicates(r.DeviceRules):
    def command(self, seq: int, setpoint_ua: int, enabled: int, duty: int, t_ms: int) -> str:
        self.last_seq = None
        return super().command(seq, setpoint_ua, enabled, duty, t_ms)


class NoSlew(r.DeviceRules):
    def __init__(self, ident: p.Identity) -> None:
        super().__init__(ident)
        self.step_ua = 10**6


class NoClamp(r.DeviceRules):
    def command(self, seq: int, setpoint_ua: int, enabled: int, duty: int, t_ms: int) -> str:
        out = super().command(seq, setpoint_ua, enabled, duty, t_ms)
        if out == r.APPLIED and enabled and not self.watchdog_tripped and self.ramp == r.NO_RAMP:
            self.target, self.limited = setpoint_ua, False
        return out


class NoDeadTime(r.DeviceRules):
    def tick(self, t_ms: int) -> bool:
        self.polarity = 0
        return super().tick(t_ms)


class RampNotLatched(r.DeviceRules):
    def tick(self, t_ms: int) -> bool:
        done = super().tick(t_ms)
        if self.ramp == r.RAMPED:
            self.ramp = r.NO_RAMP
        return done


class NoWatchdog(r.DeviceRules):
    def trip_watchdog(self, t_ms: int) -> bool:
        return False


@pytest.mark.req("LINK-008")
@pytest.mark.parametrize("broken, message", [
    (AcceptsAnything, "COMMAND with enabled = 7 not rejected"),
    (AppliesDuplicates, "was answered twice"),
    (NoSlew, "the current rose by"),
    (NoClamp, "not clamped to the device maximum 30000 uA"),
    (NoDeadTime, "the dead time at zero is 500 ms"),
    (RampNotLatched, "status RAMP_DOWN not set"),
    (NoWatchdog, "no FAULT WATCHDOG with seq 0"),
], ids=lambda x: x.__name__ if isinstance(x, type) else "")
def test_a_device_missing_an_obligation_fails_the_checks(served: list[Emulator], broken, message) -> None:  # type: ignore[no-untyped-def]
    served.append(emulator(broken))
    with pytest.raises(Violation, match=message):
        device_checks(DeviceSpec(served[-1].port, load_ohm=1000, hang_s=1.0,
                              watchdog_grace_ms=GRACE_MS))


# ---- the rules themselves, tick by tick -------------------------------------------------------

IDENT = p.Identity(30_000, 35_000, 60_000, 2_000, 100, 10, p.CAP_ALL, "rules", 500)


@pytest.mark.req("LINK-008")
def test_rises_are_slew_limited_falls_are_not_and_reversal_waits_at_zero() -> None:
    rules = r.DeviceRules(IDENT)
    t = 0
    levels = []
    for _ in range(5):
        rules.command(t // 10 + 1, 34_000, 1, 1000, t)
        rules.tick(t)
        levels.append(rules.level)
        t += 10
    assert levels == [20, 40, 60, 80, 100] and rules.limited
    rules.command(99, -5_000, 1, 1000, t)     # reversal: to zero at once, then wait
    rules.tick(t)
    assert rules.level == 0
    zero_at = t
    while rules.level == 0:
        t += 10
        rules.command(t // 10 + 1, -5_000, 1, 1000, t)
        rules.tick(t)
    assert t - zero_at == 500 and rules.level == -20


@pytest.mark.req("LINK-008")
@pytest.mark.parametrize("fields, problem", [
    ((1000, 7, 1000), "enabled = 7: allowed 0 or 1"),
    ((1000, 1, 5000), "duty_permille = 5000: allowed 1..1000"),
    ((1000, 1, 0), "duty_permille = 0: allowed 1..1000"),
])
def test_out_of_range_fields_are_rejected_and_not_applied(fields, problem) -> None:  # type: ignore[no-untyped-def]
    rules = r.DeviceRules(IDENT)
    rules.command(1, 1_000, 1, 1000, 0)
    rules.tick(0)
    assert rules.command(2, *fields, 10) == r.REJECTED and rules.rejected == problem
    rules.tick(10)
    assert rules.level == 40 and rules.target == 1_000      # the previous command carries on
    no_pulse = r.DeviceRules(p.Identity(30_000, 35_000, 60_000, 2_000, 100, 10, 0, "dc", 500))
    assert no_pulse.command(1, 1_000, 1, 500, 0) == r.REJECTED
    assert no_pulse.command(2, -1_000, 1, 1000, 0) == r.REJECTED
    assert no_pulse.command(3, -1_000, 0, 1000, 0) == r.APPLIED  # off: the sign does not matter
