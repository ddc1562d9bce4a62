"""A simulated output stage and patient load, with its own clock and fault injection.

Physics (floats: this is the plant model, not the safety path):
- a current source with a compliance voltage drives the load;
- the load is a series resistance plus the skin: a resistance in parallel with a
  capacitance (exact exponential update per tick); `body_ohm` is the total resistance;
- at compliance the source turns into a voltage source at the compliance voltage;
- contact loss opens the load: no current, the voltage rises to compliance;
- pulsed mode: the sensor reports the average current (amplitude x duty) and the
  peak voltage (a simplification: the capacitor sees the amplitude);
- measurement noise comes from a seeded generator (Gaussian quantile table picked by
  `getrandbits`): same seed, same run;
- supply (optional, `SimConfig.supply_mv`): a battery of that voltage, reported in
  `Sample.supply_mv`; without it the simulator reports none, like a mains-powered device.
  Below SUPPLY_FLOOR_MV the output stage has no headroom left and delivers nothing.
- marker output (LINK-011): `marker()` records each research protocol marker with the
  simulator's time in `markers`, for tests to check against the controller's.

Device-side obligations it models (HAL-002): a watchdog that turns the output off when
no command arrives within `watchdog_ms` and stays off until an OFF command is received,
and a hardware over-current trip that latches until `reset_trip()`.

Time: the simulator keeps its own clock; each `read()` advances it by one tick, so a run
can go as fast as the CPU allows or be paced in real time by the runner.
"""

from __future__ import annotations

import math
import os
import random
import signal
from statistics import NormalDist
from collections.abc import Mapping
from dataclasses import dataclass, field

from iontocore.events import Marker
from iontocore.interface import Command, Sample
from iontocore.limits import DeviceLimits

INJECTIONS: dict[str, str] = {
    "contact-loss": "load opens (hand out of the tray)",
    "high-resistance": "load resistance x10 (dry skin): compliance reached, contact present",
    "short": "load of 50 ohm (both electrodes in one tray)",
    "overcurrent": "output stage runs away: 10 mA above the set-point",
    "tracking": "output stage gain drops to 60 % of the set-point",
    "sensor-stuck": "current and voltage readings freeze",
    "sensor-garbage": "current readings become NaN / out of range / missing",
    "sample-loss": "link down both ways: no samples arrive, commands are lost",
    "clock-back": "reported time steps back by 1 s (once)",
    "clock-jump": "reported time jumps forward by 5 s (once)",
    "late-ticks": "each tick arrives one tick late",
    "relay-stuck": "polarity relay stays where it is (current follows the relay)",
    "leak": "200 uA flow while the output is off",
    "host-crash": "the host process is killed with SIGKILL (tests the session record)",
    "impedance-fall": "load impedance falls to 30 % at once (a wound, a wet bridge past a "
                      "lifted edge: the current concentrates)",
    "battery-low": "the simulated battery drops to 6.3 V: above its 6.0 V floor, below the "
                   "core's stop level (implies a battery-powered simulator)",
    "supply-lost": "the supply vanishes (0 V): the output stage delivers nothing (implies a "
                   "battery-powered simulator)",
    "supply-garbage": "supply readings become implausible (NaN, beyond the sensor range, "
                      "missing) (implies a battery-powered simulator)",
}
SUPPLY_KINDS = frozenset({"battery-low", "supply-lost", "supply-garbage"})
SIM_BATTERY_MV = 7_400
"""The battery the simulator models when asked to (a 2-cell Li-ion pack: 8.4 V full, 7.4 V
nominal, 6.0 V cut-off)."""
SUPPLY_FLOOR_MV = 6_000
"""Below this the simulated output stage cannot drive its maximum current at its compliance
voltage: the device limits' `supply_min_mv` for a battery-powered simulator."""
SUPPLY_MAX_MV = 9_000
"""The simulated supply sensor's range (`supply_max_mv`)."""
BATTERY_LOW_MV = 6_300
ONE_SHOT = frozenset({"clock-back", "clock-jump"})


@dataclass(frozen=True)
class Injection:
    kind: str
    at_ms: int
    duration_ms: int | None = None  # None: until the end of the run

    def active(self, t_ms: int) -> bool:
        if t_ms < self.at_ms:
            return False
        return self.duration_ms is None or t_ms < self.at_ms + self.duration_ms


def parse_timed(text: str, option: str, kinds: Mapping[str, str]) -> tuple[str, int, int | None]:
    """'KIND@SECONDS[:DURATION_S]' as (kind, at_ms, duration_ms or None): the form of every
    command-line option that schedules a fault (`option` names it in errors). Raises
    ValueError naming what is wrong."""
    kind, sep, when = text.partition("@")
    if kind not in kinds:
        raise ValueError(f"{option} {text!r}: unknown kind {kind!r}; allowed: "
                         f"{', '.join(kinds)}")
    if not sep:
        raise ValueError(f"{option} {text!r}: expected KIND@SECONDS[:DURATION_S]")
    at, _, dur = when.partition(":")
    try:
        at_ms = round(float(at) * 1000)
        dur_ms = round(float(dur) * 1000) if dur else None
    except (ValueError, OverflowError):  # not a number, NaN, or infinite
        raise ValueError(f"{option} {text!r}: SECONDS and DURATION_S must be finite numbers") from None
    if at_ms < 0 or (dur_ms is not None and dur_ms <= 0):
        raise ValueError(f"{option} {text!r}: SECONDS must be >= 0 and DURATION_S > 0")
    return kind, at_ms, dur_ms


def parse_injection(text: str) -> Injection:
    """'KIND@SECONDS[:DURATION_S]', e.g. 'contact-loss@300:20'."""
    return Injection(*parse_timed(text, "--inject", INJECTIONS))


@dataclass
class SimConfig:
    """The simulated output stage and body. `tick_ms` must equal the Controller's tick (one
    read per tick advances simulated time by it); `compliance_mv` and `hw_trip_ua` should be
    the device limits' `compliance_mv` and `trip_ua`; `body_ohm` with `series_fraction` and
    `skin_capacitance_uf` is the load; the noise terms are Gaussian, seeded by `seed`;
    `injections` are scheduled faults (`parse_injection("short@60")`)."""

    tick_ms: int = 10
    seed: int = 0
    body_ohm: float = 2000.0
    series_fraction: float = 0.25
    skin_capacitance_uf: float = 10.0
    compliance_mv: float = 60_000.0
    noise_ua: float = 2.0
    noise_permille: float = 2.0
    noise_mv: float = 5.0
    noise_v_permille: float = 1.0
    watchdog_ms: int = 100
    hw_trip_ua: float = 35_000.0
    injections: list[Injection] = field(default_factory=list)
    supply_mv: float | None = None
    """The supply the simulator reports (None: none reported, like a mains-powered device).
    A supply injection without it implies SIM_BATTERY_MV."""
    noise_supply_mv: float = 5.0


def battery_device(device: "DeviceLimits") -> "DeviceLimits":
    """`device` as a battery-powered simulator's: the supply floor and sensor range set."""
    import dataclasses

    return dataclasses.replace(device, supply_min_mv=SUPPLY_FLOOR_MV, supply_max_mv=SUPPLY_MAX_MV)


def needs_battery(injections: list[Injection]) -> bool:
    """Whether these injections need a simulator that reports its supply."""
    return any(inj.kind in SUPPLY_KINDS for inj in injections)


NOISE_BITS = 12
# Standard-normal quantiles at the centres of 4096 equal-probability bins: a seeded
# `getrandbits(12)` picks one, so noise is Gaussian in shape, reproducible and cheap.
_NORMAL = tuple(NormalDist().inv_cdf((k + 0.5) / (1 << NOISE_BITS)) for k in range(1 << NOISE_BITS))
_NONE: frozenset[str] = frozenset()


class SimulatedDevice:
    """The simulator as a HAL backend (read / apply / cut / close)."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.cfg = cfg = config or SimConfig()
        if cfg.tick_ms < 1 or cfg.body_ohm <= 0 or not 0 < cfg.series_fraction < 1:
            raise ValueError("simulator: tick_ms >= 1, body_ohm > 0, 0 < series_fraction < 1")
        self._bits = random.Random(cfg.seed).getrandbits
        self.t_ms = 0                  # the simulator's own clock
        self._started = False
        self._command = Command(0, False)
        self._last_apply_ms = 0
        self._vc_mv = 0.0              # skin capacitor voltage
        self.relay = 0
        self.true_ua = 0.0             # what really flows (amplitude x duty = average)
        self.true_mv = 0.0
        self.watchdog_tripped = False
        self.hw_tripped = False
        self.commands_lost = 0
        self._clock_offset = 0
        self._fired: set[Injection] = set()
        self._frozen: Sample | None = None
        self._garbage = 0
        self._relay_frozen: int | None = None
        self._link_down = False
        self._decay: dict[tuple[int, float], float] = {}
        self._r_s = cfg.body_ohm * cfg.series_fraction
        self._r_p = cfg.body_ohm * (1 - cfg.series_fraction)
        self.supply_mv = cfg.supply_mv
        if self.supply_mv is None and needs_battery(cfg.injections):
            self.supply_mv = float(SIM_BATTERY_MV)
        self._supply_garbage = 0
        self.markers: list[tuple[int, Marker]] = []
        """Every marker the runner passed (LINK-011), with the simulator's time then (the
        time of the last sample read, i.e. of the tick whose command was just applied)."""

    def _exp(self, dt: int, r_ohm: float) -> float:
        """exp(-dt / (R C)), cached: the same few (dt, R) pairs recur every tick."""
        key = (dt, r_ohm)
        e = self._decay.get(key)
        if e is None:
            e = self._decay[key] = math.exp(-dt / (r_ohm * self.cfg.skin_capacitance_uf / 1000))
        return e

    # ---------------------------------------------------------------- HAL

    def read(self) -> Sample | None:
        """Advance the simulated clock by one tick (not on the first read) and measure."""
        cfg = self.cfg
        if not cfg.injections:
            if self._started:
                self._advance(cfg.tick_ms, _NONE)
            self._started = True
            return self._measure()
        active = self._active()
        if self._started:
            self._advance(cfg.tick_ms * (2 if "late-ticks" in active else 1), active)
        self._started = True
        return self._read_injected(active)

    def _measure(self, active: frozenset[str] | set[str] = _NONE) -> Sample:
        cfg, bits = self.cfg, self._bits
        i, v = self.true_ua, self.true_mv
        i += _NORMAL[bits(NOISE_BITS)] * (cfg.noise_ua + abs(i) * cfg.noise_permille / 1000)
        v += _NORMAL[bits(NOISE_BITS)] * (cfg.noise_mv + abs(v) * cfg.noise_v_permille / 1000)
        if self.supply_mv is None:
            return Sample(self.t_ms + self._clock_offset, round(i), round(v), self.relay)
        supply: int | None = round(self._supply_now(active)
                                   + _NORMAL[bits(NOISE_BITS)] * cfg.noise_supply_mv)
        if "supply-garbage" in active:
            self._supply_garbage += 1
            supply = (float("nan"), 10**6, None)[self._supply_garbage % 3]  # type: ignore[assignment]
        return Sample(self.t_ms + self._clock_offset, round(i), round(v), self.relay, supply)

    def _supply_now(self, active: frozenset[str] | set[str]) -> float:
        """The true supply voltage (mV) under the active injections."""
        assert self.supply_mv is not None
        if "supply-lost" in active:
            return 0.0
        if "battery-low" in active:
            return float(BATTERY_LOW_MV)
        return self.supply_mv

    def _read_injected(self, active: frozenset[str] | set[str]) -> Sample | None:
        for inj in self.cfg.injections:
            if inj.kind in ONE_SHOT and inj not in self._fired and self.t_ms >= inj.at_ms:
                self._fired.add(inj)
                self._clock_offset += -1000 if inj.kind == "clock-back" else 5000
        if "host-crash" in active:
            os.kill(os.getpid(), signal.SIGKILL)
        self._link_down = "sample-loss" in active
        if self._link_down:
            return None
        sample = self._measure(active)
        if "sensor-stuck" in active:
            if self._frozen is None:
                self._frozen = sample
            sample = sample._replace(current_ua=self._frozen.current_ua,
                                     voltage_mv=self._frozen.voltage_mv)
        else:
            self._frozen = None
        if "sensor-garbage" in active:
            self._garbage += 1
            bad: object = (float("nan"), 10**9, None)[self._garbage % 3]
            sample = sample._replace(current_ua=bad)  # type: ignore[arg-type]
        return sample

    def apply(self, command: Command) -> None:
        if self._link_down:
            self.commands_lost += 1
            return
        self._command = command
        self._last_apply_ms = self.t_ms
        if not command.enabled:
            self.watchdog_tripped = False  # an OFF command re-arms the watchdog

    def marker(self, marker: Marker) -> None:
        """The marker output (LINK-011): recorded with the simulator's time."""
        self.markers.append((self.t_ms, marker))

    def cut(self) -> None:
        self._command = Command(0, False)
        self.true_ua = 0.0

    def close(self) -> None:
        self.cut()

    @property
    def command(self) -> Command:
        """The command the output stage is carrying out."""
        return self._command

    def reset_trip(self) -> None:
        """Service action: clear the latched hardware over-current trip."""
        self.hw_tripped = False

    # ---------------------------------------------------------------- physics

    def _active(self) -> set[str]:
        t = self.t_ms
        return {inj.kind for inj in self.cfg.injections if inj.active(t)}

    def _advance(self, dt: int, active: frozenset[str] | set[str]) -> None:
        cfg = self.cfg
        self.t_ms += dt
        if self.t_ms - self._last_apply_ms > cfg.watchdog_ms:
            self.watchdog_tripped = True
        cmd = self._command
        on = cmd.enabled and not self.watchdog_tripped and not self.hw_tripped
        # relay: follows the command's sign while on, opens when off
        if active and "relay-stuck" in active:
            if self._relay_frozen is None:
                self._relay_frozen = self.relay
            self.relay = self._relay_frozen
        else:
            self._relay_frozen = None
            if not on:
                self.relay = 0
            elif cmd.setpoint_ua:
                self.relay = 1 if cmd.setpoint_ua > 0 else -1
        r_s, r_p = self._r_s, self._r_p
        amp = float(abs(cmd.setpoint_ua)) if on else 0.0
        if active:
            if "high-resistance" in active:
                r_s, r_p = r_s * 10, r_p * 10
            if "short" in active:
                r_s, r_p = 20.0, 30.0
            if not on and "leak" in active:
                amp = 200.0
            if on and "tracking" in active:
                amp *= 0.6
            if on and "overcurrent" in active:
                amp += 10_000.0
            if "impedance-fall" in active:
                r_s, r_p = r_s * 0.3, r_p * 0.3
        if self.supply_mv is not None and self._supply_now(active) < SUPPLY_FLOOR_MV:
            amp = 0.0  # no headroom: the stage delivers nothing
        if not on or amp == 0.0:
            self._vc_mv *= self._exp(dt, r_p)
            self.true_ua = amp
            self.true_mv = amp * (r_s + r_p) / 1000 if amp else (self._vc_mv if on else 0.0)
            return
        direction = self.relay if self.relay else (1 if cmd.setpoint_ua >= 0 else -1)
        if active and "contact-loss" in active:
            self._vc_mv = 0.0
            self.true_ua = 0.0
            self.true_mv = direction * cfg.compliance_mv
            return
        # magnitudes from here; the capacitor voltage is kept signed
        vc = self._vc_mv * direction
        v_inf = amp * r_p / 1000
        vc_new = v_inf + (vc - v_inf) * self._exp(dt, r_p)
        v = amp * r_s / 1000 + vc_new
        if v > cfg.compliance_mv:
            v = cfg.compliance_mv
            r_th = r_s * r_p / (r_s + r_p)
            v_th = v * r_p / (r_s + r_p)
            vc_new = v_th + (vc - v_th) * self._exp(dt, r_th)
            amp = max(0.0, (v - vc_new) * 1000 / r_s)
        if amp > cfg.hw_trip_ua:
            self.hw_tripped = True
            amp, v, vc_new = 0.0, 0.0, 0.0
        self._vc_mv = vc_new * direction
        duty = cmd.duty_permille / 1000 if cmd.duty_permille < 1000 else 1.0
        self.true_ua = direction * amp * duty
        self.true_mv = direction * v
