"""A tiny synthetic plant for property tests: turns the last command into the next sample.

Unlike the simulator (hal/sim.py) it has no physics worth the name; it exists to feed
the controller every class of input, including adversarial ones, cheaply.
"""

from __future__ import annotations

from typing import Any

from iontocore import Command, Sample

COMPLIANCE_MV = 60_000

KINDS = ("follow", "open", "short", "high_r", "overcurrent", "arbitrary", "garbage",
         "missing", "stale", "back", "jump", "late", "relay_wrong")


class Plant:
    def __init__(self, tick_ms: int, ohm: int = 2000) -> None:
        self.tick_ms = tick_ms
        self.ohm = ohm
        self.t = 0
        self.started = False

    def sample(self, cmd: Command, kind: str, noise: int = 0, value: int = 0) -> Any:
        """The next sample after `cmd` was applied, for an input class `kind`.
        `noise` is added to the current; `value` feeds the arbitrary/garbage kinds."""
        if self.started:
            if kind == "back":
                self.t = max(0, self.t - 1 - abs(value) % 5000)
            elif kind == "jump":
                self.t += 1000 + abs(value) % 10_000
            elif kind == "late":
                self.t += 2 * self.tick_ms
            elif kind != "stale":
                self.t += self.tick_ms
        self.started = True
        if kind == "missing":
            return None
        on = cmd.enabled
        if not on:
            noise = max(-10, min(10, noise))  # an idle sense amplifier: within the zero tolerance
        noise += (self.t // self.tick_ms) % 2  # one LSB: a live ADC never repeats for long
        amp = abs(cmd.setpoint_ua) if on else 0
        sgn = 1 if cmd.setpoint_ua >= 0 else -1
        relay = (sgn if cmd.setpoint_ua else 0) if on else 0
        avg = amp * cmd.duty_permille // 1000
        if kind == "garbage":
            junk = (float("nan"), None, 10**12, "7", 1.5, float("inf"), True)[abs(value) % 7]
            return Sample(self.t, junk, 0, relay)  # type: ignore[arg-type]
        if kind == "arbitrary":
            return Sample(self.t, value % 120_001 - 60_000, (value * 7919) % 240_001 - 120_000,
                          relay)
        if kind == "relay_wrong":
            return Sample(self.t, sgn * avg + noise, sgn * avg * self.ohm // 1000, -relay or 1)
        if kind == "open":
            return Sample(self.t, noise, sgn * COMPLIANCE_MV if amp else 0, relay)
        if kind == "short":
            return Sample(self.t, sgn * avg + noise, sgn * avg * 50 // 1000, relay)
        if kind == "overcurrent":
            i = avg + 10_000 if on else 10_000
            return Sample(self.t, sgn * i, sgn * min(i * self.ohm // 1000, COMPLIANCE_MV), relay)
        ohm = self.ohm * 10 if kind == "high_r" else self.ohm
        if amp and amp * ohm // 1000 > COMPLIANCE_MV:
            i = COMPLIANCE_MV * 1000 // ohm * cmd.duty_permille // 1000
            return Sample(self.t, sgn * i + noise, sgn * COMPLIANCE_MV, relay)
        return Sample(self.t, sgn * avg + noise, sgn * amp * ohm // 1000, relay)
