"""Run whole simulated sessions in-process and keep every tick, for scenario tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from invariants import InvariantChecker
from iontocore import (Command, Controller, DeviceLimits, Prescription, Sample,
                       SupervisionLimits, profiles)
from iontocore.controller import Event
from iontocore.hal.sim import Injection, SimConfig, SimulatedDevice, parse_injection
from iontocore.shell.runner import Adjustment, Runner


@dataclass
class Row:
    t_ms: int
    state: str
    command_ua: int
    measured_ua: int | None
    voltage_mv: int | None
    delivered_uams: int
    true_ua: float


@dataclass
class Recorder:
    """A TickSink that keeps every tick and event, and checks the invariants as it goes."""

    sim: SimulatedDevice
    rx: Prescription
    device: DeviceLimits
    sup: SupervisionLimits | None
    rows: list[Row] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    checker: InvariantChecker | None = None

    def tick(self, ctl: Controller, sample: Sample | None, cmd: Command) -> None:
        if self.checker is None:
            self.checker = InvariantChecker(self.rx, self.device, self.sup, self.sim.cfg.tick_ms)
        self.checker.step(sample, cmd, ctl.state, ctl.delivered_uams)
        ok = sample is not None and type(sample.current_ua) is int
        self.rows.append(Row(sample.t_ms if sample is not None else (self.rows[-1].t_ms if self.rows else 0),
                             ctl.state, cmd.setpoint_ua,
                             sample.current_ua if ok else None,  # type: ignore[union-attr]
                             sample.voltage_mv if ok else None,  # type: ignore[union-attr]
                             ctl.delivered_uams, self.sim.true_ua))


class _Sink:
    def __init__(self, rec: Recorder) -> None:
        self.rec = rec

    def tick(self, ctl: Controller, sample: Sample | None, cmd: Command) -> None:
        self.rec.tick(ctl, sample, cmd)

    def events(self, ctl: Controller, events: list[Event]) -> None:
        self.rec.events.extend(events)


def run(profile: str | Prescription, *, inject: list[str] | None = None, tick_ms: int = 10,
        seed: int = 0, ohm: float = 2000.0, device: DeviceLimits | None = None,
        sup: SupervisionLimits | None = None, adjust: list[Adjustment] | None = None,
        sim_kw: dict[str, object] | None = None) -> tuple[Controller, Recorder]:
    device = device or DeviceLimits()
    rx = profile if isinstance(profile, Prescription) else profiles.load(profile, device)
    ctl = Controller(rx, device, sup, tick_ms=tick_ms)
    injections: list[Injection] = [parse_injection(t) for t in inject or []]
    sim = SimulatedDevice(SimConfig(tick_ms=tick_ms, seed=seed, body_ohm=ohm,
                                    compliance_mv=device.compliance_mv, hw_trip_ua=device.trip_ua,
                                    injections=injections, **(sim_kw or {})))  # type: ignore[arg-type]
    rec = Recorder(sim, rx, device, sup)
    Runner(ctl, sim, sinks=[_Sink(rec)], adjustments=adjust).run()
    return ctl, rec
