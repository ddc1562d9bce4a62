"""The runner: steps a Controller against a HAL, paced in real time or as fast as possible.

    sample = hal.read(); command = controller.step(sample); hal.apply(command)

The runner owns everything the core may not touch: the clock, sleeping, signals (via
`request_stop`, safe to call from a signal handler) and the sinks for traces and
records. Whatever happens, `hal.cut()` runs on the way out (HAL-001).

Link faults (LINK-005): an exception from `hal.read()` or `hal.apply()` (the line died) is
reported as FaultCode.LINK_LOST with its text, and a fault the HAL reports through its
optional `fault()` (polled after every read) with its own code and reason: either ends the
session as a fault, output commanded off, never a traceback.

Markers (LINK-011): each marker a research protocol emits is passed to the HAL's optional
marker output (`hal.marker`, see iontocore.hal) on the tick the controller emits it, right
after that tick's command is applied (a marker emitted by a stop request, on the tick the
request is carried out). Markers are not a safety control: a failing marker output is
logged and listed in `RunResult.marker_errors` (and the summary), and the session goes on.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable, NotRequired, Protocol, TypedDict

from iontocore.controller import FAULTED, Controller, Event
from iontocore.dose import uams_to_ma_min
from iontocore.faults import FaultCode
from iontocore.hal import Hal, marker_output, no_marker
from iontocore.interface import Command, Sample
from iontocore.machine import FAULT, IDLE

log = logging.getLogger(__name__)
"""Session events for the maker's application: start and end (INFO), a lost link, a device
fault and a refused adjustment (WARNING)."""


class TickSink(Protocol):
    def tick(self, controller: Controller, sample: Sample | None, command: Command) -> None: ...

    def events(self, controller: Controller, events: list[Event]) -> None: ...


@dataclass
class Adjustment:
    """A scheduled patient adjustment: at `at_ms` of session time, move by `delta_ua`."""

    at_ms: int
    delta_ua: int


@dataclass
class RunResult:
    """What `Runner.run()` returns: ticks stepped (the post-session watch included), wall
    time, whether a stop or emergency stop was requested from outside (`request_stop`,
    Ctrl-C), and each scheduled adjustment with its reply (or why it was never applied).
    The session's own outcome is on the Controller (`outcome`, `end_reason`)."""

    ticks: int
    wall_s: float
    interrupted: bool
    adjustments: list[dict[str, object]] = field(default_factory=list)
    marker_errors: list[str] = field(default_factory=list)
    """Markers the HAL's marker output failed to take (LINK-011), with the error."""


class FaultSummary(TypedDict):
    code: str
    reason: str
    t_ms: int
    tick: int
    zero_tick: int | None


class Summary(TypedDict):
    """The session summary (`summary()`, `ionto run --json`); family-specific keys only
    where they apply."""

    outcome: str                 # completed, stopped, fault, or incomplete
    final_state: str
    end_reason: str
    fault: FaultSummary | None   # the fault that ended the session, if one did
    faults: list[dict[str, object]]
    delivered_uams: int
    delivered_mA_min: float
    treatment_ms: int
    paused_ms: int
    pauses: int
    compliance_limited_ms: int
    late_ticks: int
    limit_ua: int
    trip_ua: int
    slew_ua_per_s: int
    max_step_ua: int
    dead_time_ms: int
    tick_ms: int
    ticks: int
    profile: str
    family: str
    setpoint_ua: int
    dose_target_uams: NotRequired[int]
    dose_target_mA_min: NotRequired[float]
    electrode_max_mA_min: NotRequired[float]
    time_extension_ms: NotRequired[int]
    pulses_planned: NotRequired[int]
    pulses_delivered: NotRequired[int]
    pulses_valid: NotRequired[int]
    pulses: NotRequired[list[dict[str, object]]]
    markers: NotRequired[list[dict[str, object]]]
    charge_mC_per_cm2: NotRequired[float]
    wall_s: NotRequired[float]
    interrupted: NotRequired[bool]
    adjustments: NotRequired[list[dict[str, object]]]
    marker_errors: NotRequired[list[str]]
    link: NotRequired[dict[str, object]]


class Runner:
    """The safe loop around a Controller and a HAL: `run()` starts the session, steps it
    every tick (read, step, apply), applies scheduled adjustments, keeps watching the output
    off after the session ends (leak, SUP-010) and cuts the HAL on the way out, whatever
    happens. `realtime=True` paces ticks by `clock`/`sleep` (injectable for tests);
    `sinks` receive every tick and event (traces, records); `progress` is called every
    `progress_every_ms`. `request_stop()` / `request_emergency_stop()` are safe from a
    signal handler."""

    def __init__(self, controller: Controller, hal: Hal, *, realtime: bool = False,
                 sinks: list[TickSink] | None = None,
                 progress: Callable[[Controller, Sample | None], None] | None = None,
                 progress_every_ms: int = 1000,
                 adjustments: list[Adjustment] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.controller = controller
        self.hal = hal
        self.realtime = realtime
        self.sinks = sinks or []
        self.progress = progress
        self.progress_every = max(1, progress_every_ms // controller.tick_ms)
        self.adjustments = sorted(adjustments or [], key=lambda a: a.at_ms)
        self.clock = clock
        self.sleep = sleep
        self._stop_requested = False
        self._stop_sent = False
        self._estop_requested = False
        self._estop_sent = False
        self._mark = marker_output(hal)
        self._marked = 0                 # markers passed to the HAL's marker output so far
        self._marker_errors: list[str] = []

    def _markers(self) -> None:
        """Pass the markers emitted since the last call to the HAL's marker output."""
        markers = self.controller.markers
        for m in markers[self._marked:]:
            try:
                self._mark(m)
            except Exception as exc:  # noqa: BLE001 - not a safety control: note it, go on
                log.warning("marker output failed for %r: %s", m.label, exc)
                self._marker_errors.append(f"tick {m.tick} {m.label!r}: {exc}")
        self._marked = len(markers)

    def request_stop(self) -> None:
        """Ask for a controlled ramp-down at the next tick (signal-handler safe)."""
        self._stop_requested = True

    def request_emergency_stop(self) -> None:
        """Ask for an emergency stop (output cut, latched fault) before the next tick's
        step (signal-handler safe: the request is carried out by the loop, never inside a
        step)."""
        self._estop_requested = True

    def run(self) -> RunResult:
        ctl, hal = self.controller, self.hal
        tick_s = ctl.tick_ms / 1000
        guard_ticks = 3 * ctl.device.max_session_ms // ctl.tick_ms
        pending = list(self.adjustments)
        done_adj: list[dict[str, object]] = []
        sinks = self.sinks
        progress, every = self.progress, self.progress_every
        started = self.clock()
        deadline = started
        ticks = 0
        check_at = 0  # the rarer checks run every tick when needed, else every 16 ticks
        watch_left = (ctl.supervision.leak_settle_ms + 100) // ctl.tick_ms
        realtime = self.realtime
        marking = self._mark is not no_marker
        try:
            reply = ctl.start()
            if not reply:
                raise RuntimeError(f"controller refused to start: {reply.reason}")
            log.info("session started: %s (%s), tick %d ms", ctl.prescription.name,
                     ctl.prescription.family, ctl.tick_ms)
            step, read, apply = ctl.step, hal.read, hal.apply
            hal_fault = getattr(hal, "fault", None)
            while True:
                try:
                    sample = read()
                except Exception as exc:  # noqa: BLE001 - the link died: a fault, not a crash
                    sample = None
                    log.warning("device link lost on read: %s", exc)
                    ctl.report_fault(FaultCode.LINK_LOST, f"device link lost on read: {exc}")
                if hal_fault is not None:
                    found = hal_fault()
                    if found is not None:
                        log.warning("the device reports %s: %s", found[0].value, found[1])
                        ctl.report_fault(*found)
                if self._estop_requested and not self._estop_sent:
                    self._estop_sent = True
                    log.warning("emergency stop requested")
                    ctl.emergency_stop()
                command = step(sample)
                try:
                    apply(command)
                except Exception as exc:  # noqa: BLE001
                    log.warning("device link lost on write: %s", exc)
                    ctl.report_fault(FaultCode.LINK_LOST, f"device link lost on write: {exc}")
                    command = ctl.command
                if marking and ctl.events:  # LINK-011: this tick's markers, after its command
                    self._markers()
                ticks += 1
                if sinks:
                    for sink in sinks:
                        sink.tick(ctl, sample, command)
                    if ctl.events:
                        events = ctl.drain_events()
                        for sink in sinks:
                            sink.events(ctl, events)
                elif ctl.events:
                    ctl.events.clear()
                state = ctl.state
                if state == FAULT:
                    break
                if state == IDLE and ctl.outcome is not None:
                    # After the session: keep watching the output off for the leak settle
                    # time and a bit, so current that nobody commands is still caught (SUP-010).
                    if watch_left == 0:
                        break
                    watch_left -= 1
                    if realtime:  # paced too: a real-time device's clock moves with the wall's
                        deadline += tick_s
                        delay = deadline - self.clock()
                        if delay > 0:
                            self.sleep(delay)
                    continue
                if ticks >= check_at:
                    check_at = ticks + 1 if (pending or realtime or progress) else ticks + 16
                else:
                    continue
                if pending and ctl.treatment_ms >= pending[0].at_ms:
                    adj = pending.pop(0)
                    r = ctl.adjust(adj.delta_ua)
                    if not r.accepted:
                        log.warning("adjustment %+d uA refused: %s", adj.delta_ua, r.reason)
                    done_adj.append({"at_ms": adj.at_ms, "delta_ua": adj.delta_ua,
                                     "accepted": r.accepted, "reason": r.reason,
                                     "setpoint_ua": ctl.setpoint_ua})
                if self._stop_requested and not self._stop_sent:
                    self._stop_sent = True
                    ctl.stop()
                    if marking:
                        self._markers()
                if ticks >= guard_ticks and not self._stop_sent:
                    self._stop_sent = True
                    ctl.stop()
                    if marking:
                        self._markers()
                if progress is not None and ticks % every == 0:
                    progress(ctl, sample)
                if realtime:
                    deadline += tick_s
                    delay = deadline - self.clock()
                    if delay > 0:
                        self.sleep(delay)
                    elif delay < -1.0:
                        deadline = self.clock()  # far behind: do not try to catch up
        finally:
            hal.cut()
            log.info("session ended: %s (%s), %d uA*ms delivered, %d ticks",
                     ctl.outcome or "incomplete", ctl.end_reason or ctl.state,
                     ctl.delivered_uams, ticks)
            if sinks and ctl.events:
                events = ctl.drain_events()
                for sink in sinks:
                    sink.events(ctl, events)
        for adj in pending:  # never reached: say so, never drop silently
            done_adj.append({"at_ms": adj.at_ms, "delta_ua": adj.delta_ua, "accepted": False,
                             "dropped": True, "setpoint_ua": ctl.setpoint_ua,
                             "reason": f"the session ended after {ctl.treatment_ms} ms of "
                                       "treatment, before this adjustment was due"})
        return RunResult(ticks, self.clock() - started,
                         self._stop_requested or self._estop_requested, done_adj,
                         list(self._marker_errors))


def summary(ctl: Controller, profile: str, result: RunResult | None = None) -> Summary:
    """The session summary `ionto run --json` prints (one JSON object)."""
    rx = ctl.prescription
    last_fault = ctl.faults[-1] if ctl.faults and ctl.outcome == FAULTED else None
    out: Summary = {
        "outcome": ctl.outcome or "incomplete",
        "final_state": ctl.state,
        "end_reason": ctl.end_reason,
        "fault": None if last_fault is None else {"code": last_fault.code.value,
                                                  "reason": last_fault.reason,
                                                  "t_ms": last_fault.t_ms,
                                                  "tick": last_fault.tick,
                                                  "zero_tick": last_fault.zero_tick},
        "faults": [f.as_dict() for f in ctl.faults],
        "delivered_uams": ctl.delivered_uams,
        "delivered_mA_min": round(uams_to_ma_min(ctl.delivered_uams), 4),
        "treatment_ms": ctl.treatment_ms,
        "paused_ms": ctl.paused_ms,
        "pauses": ctl.pauses,
        "compliance_limited_ms": ctl.compliance_limited_ms,
        "late_ticks": ctl.late_ticks,
        "limit_ua": ctl.limit_ua,
        "trip_ua": ctl.trip_ua,
        "slew_ua_per_s": ctl.slew_ua_per_s,
        "max_step_ua": ctl.max_step_ua,
        "dead_time_ms": ctl.dead_time_ms,
        "tick_ms": ctl.tick_ms,
        "ticks": ctl.tick,
        "profile": profile,
        "family": rx.family,
        "setpoint_ua": ctl.setpoint_ua,
    }
    if rx.family == "drug":
        out["dose_target_uams"] = rx.dose_uams
        out["dose_target_mA_min"] = round(uams_to_ma_min(rx.dose_uams), 4)
        out["electrode_max_mA_min"] = round(uams_to_ma_min(rx.electrode_max_uams), 4)
        nominal_ms = rx.dose_uams // max(1, rx.target_ua)
        out["time_extension_ms"] = max(0, ctl.treatment_ms - nominal_ms)
    proto = rx.research_protocol()
    if proto is not None:
        out["pulses_planned"] = proto.pulse_count
        out["pulses_delivered"] = ctl.pulses_done
        out["pulses_valid"] = sum(1 for p in ctl.pulses if p.valid)
        out["pulses"] = [p.as_dict() for p in ctl.pulses]
        out["markers"] = [m.as_dict() for m in ctl.markers]
    if rx.family != "tap-water":
        # over the smaller electrode (ENV-002); uA*ms / mm2 -> mC/cm2: 1 mC = 1e6 uA*ms,
        # 1 cm2 = 100 mm2
        out["charge_mC_per_cm2"] = round(ctl.delivered_uams * 100 / rx.contact_area_mm2 / 1e6, 4)
    if result is not None:
        out["wall_s"] = round(result.wall_s, 3)
        out["interrupted"] = result.interrupted
        if result.adjustments:
            out["adjustments"] = result.adjustments
        if result.marker_errors:
            out["marker_errors"] = result.marker_errors
    return out
