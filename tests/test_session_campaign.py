"""A randomized campaign of whole sessions (issue 9's "done when"): random prescriptions of
every family and waveform, random loads, fault injections, tick timings and requests, on
the simulated device. Derandomized under CI (the `ci` profile); deeper and randomized under
HYPOTHESIS_PROFILE=fuzz.

The oracle derives every bound from the prescription and the device and supervision limits
alone (never from the controller under test):
- the output is bounded: the invariant checker (CTL-001..003, SM-002) on every tick;
- every session ends, within the device's maximum session time plus a ramp-down from the
  ceiling at the prescribed slew, the dead time and settle_ms (CTL-007, SUP-015);
- the counted dose never passes the electrode's rating (DOSE-002) unless the simulated
  output stage itself delivers current it was not told to (overcurrent, leak, relay stuck),
  which must then end in a fault.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from invariants import InvariantChecker
from iontocore import Controller, DeviceLimits, Prescription, SupervisionLimits
from iontocore.hal.sim import INJECTIONS, Injection, SimConfig, SimulatedDevice
from strategies import DEVICE as BASE_DEVICE
from strategies import prescriptions

SUP = SupervisionLimits()
KINDS = sorted(set(INJECTIONS) - {"host-crash"})
HARDWARE_EXCESS = {"overcurrent", "leak", "relay-stuck"}
"""Injections in which the output stage itself delivers current nobody commanded."""


@st.composite
def campaigns(draw: st.DrawFn) -> tuple[Prescription, DeviceLimits, SimConfig, list[tuple[int, str]]]:
    rx = draw(prescriptions())
    if rx.family == "drug" and draw(st.booleans()):
        rx = dataclasses.replace(rx, electrode_max_uams=rx.dose_uams)  # rated at the dose
    planned = max(rx.planned_ms, rx.duration_ms)
    device = dataclasses.replace(BASE_DEVICE, max_session_ms=max(
        1_000, planned + draw(st.integers(0, 30_000))))
    tick = draw(st.sampled_from([5, 10, 20]))
    injections = [Injection(draw(st.sampled_from(KINDS)), draw(st.integers(0, planned)),
                            draw(st.one_of(st.none(), st.integers(10, 20_000))))
                  for _ in range(draw(st.integers(0, 3)))]
    sim = SimConfig(tick_ms=tick, seed=draw(st.integers(0, 2**16)),
                    body_ohm=float(draw(st.sampled_from([300, 1_000, 2_000, 6_000, 30_000,
                                                         1_000_000]))),
                    compliance_mv=device.compliance_mv, hw_trip_ua=device.trip_ua,
                    injections=injections)
    requests = sorted((draw(st.integers(0, planned // tick + 10)),
                       draw(st.sampled_from(["stop", "emergency_stop", "adjust+", "adjust-"])))
                      for _ in range(draw(st.integers(0, 3))))
    return rx, device, sim, requests


def _end_bound_ms(rx: Prescription, device: DeviceLimits) -> int:
    """From the prescription and the device alone: the longest a session may last."""
    ceiling = min(rx.ceiling_ua, device.max_current_ua)
    slew = min(rx.slew_ua_per_s, device.max_slew_ua_per_s)
    ramp_ms = -(-ceiling * 1000 // slew)
    return device.max_session_ms + ramp_ms + device.dead_time_ms + SUP.settle_ms + 1_000


@pytest.mark.req("CTL-001", "CTL-002", "CTL-003", "SM-002", "CTL-007", "SUP-015", "DOSE-002")
@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(campaigns())
def test_random_sessions_stay_bounded_end_and_respect_the_rating(
        case: tuple[Prescription, DeviceLimits, SimConfig, list[tuple[int, str]]]) -> None:
    rx, device, cfg, requests = case
    ctl = Controller(rx, device, SUP, tick_ms=cfg.tick_ms)
    check = InvariantChecker(rx, device, SUP, cfg.tick_ms)
    sim = SimulatedDevice(cfg)
    assert ctl.start().accepted
    check.request("start", True, ctl.state)
    bound_ms = _end_bound_ms(rx, device)
    max_ticks = bound_ms // cfg.tick_ms + 10
    pending = list(requests)
    t0 = None
    ended_at = None
    for n in range(max_ticks):
        sample = sim.read()
        if t0 is None and sample is not None:
            t0 = sample.t_ms
        cmd = ctl.step(sample)
        sim.apply(cmd)
        check.step(sample, cmd, ctl.state, ctl.delivered_uams)
        while pending and pending[0][0] <= n:
            _, what = pending.pop(0)
            if what.startswith("adjust"):
                sign = 1 if what.endswith("+") else -1
                reply = ctl.adjust(sign * rx.adjust_step_ua)
            else:
                reply = getattr(ctl, what)()
            check.request(what.rstrip("+-"), reply.accepted, ctl.state)
        if ctl.state == "fault" or (ctl.state == "idle" and ctl.outcome):
            ended_at = sim.t_ms
            break
    assert ended_at is not None, (f"still {ctl.state} after {max_ticks} ticks "
                                  f"({bound_ms} ms bound)", ctl.end_reason)
    assert ctl.outcome and ctl.end_reason, (ctl.outcome, ctl.end_reason)
    assert ended_at - (t0 or 0) <= bound_ms + 2 * cfg.tick_ms, (ended_at, t0, bound_ms)
    if rx.electrode_max_uams:
        kinds = {inj.kind for inj in cfg.injections}
        if kinds & HARDWARE_EXCESS and ctl.delivered_uams > rx.electrode_max_uams:
            assert ctl.state == "fault", "excess charge from the output stage must end in a fault"
        else:
            assert ctl.delivered_uams <= rx.electrode_max_uams, (
                ctl.delivered_uams - rx.electrode_max_uams, kinds, ctl.end_reason)
