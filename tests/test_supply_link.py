"""LINK-010: the supply across the HAL. Plain SAMPLE frames and four-field samples keep
working; a battery-powered emulator advertises SUPPLY, is asked for its floor and range at
connect and answers with SAMPLE_SUPPLY frames, which carry a low battery to the core's
monitor; a device that breaks what it advertised is refused or faulted; the conformance
kit checks a reporting backend and accepts one that does not report."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from iontocore import Command, Controller, DeviceLimits, Prescription, Sample, profiles
from iontocore.faults import FaultCode
from iontocore.hal import protocol as p
from iontocore.hal.conformance import Spec, Violation, plain_checks
from iontocore.hal.device_checks import DeviceSpec, device_checks
from iontocore.hal.emulator import Emulator
from iontocore.hal.serial import DeviceRefused, SerialDevice
from iontocore.hal.sim import (SUPPLY_FLOOR_MV, SUPPLY_MAX_MV, SIM_BATTERY_MV, SimConfig,
                               SimulatedDevice, parse_injection)
from iontocore.shell.runner import Runner

HANG_MS = 2_000
GRACE_MS = 1_000  # as in test_serial: whole sessions are not about the device watchdog
PALMS = profiles.load("hyperhidrosis-palms")


def battery_emulator(*injections: str, supply: bool = True) -> Emulator:
    sim = SimulatedDevice(SimConfig(tick_ms=10, injections=[parse_injection(i) for i in injections],
                                    supply_mv=SIM_BATTERY_MV if supply else None))
    return Emulator(sim, watchdog_grace_ms=GRACE_MS)


@pytest.fixture
def served() -> Iterator[list[Emulator]]:
    emus: list[Emulator] = []
    yield emus
    for emu in emus:
        emu.stop()


@pytest.mark.req("LINK-010")
def test_frames_round_trip_and_a_missing_reading_is_none_on_the_wire() -> None:
    frame, = p.Decoder().feed(p.sample_supply(3, 10, 1_000, 2_000, 1, p.STATUS_ON, 7_400))
    assert frame.type is p.MsgType.SAMPLE_SUPPLY and frame.fields == (10, 1_000, 2_000, 1, p.STATUS_ON, 7_400)
    frame, = p.Decoder().feed(p.sample_supply(3, 10, 1_000, 2_000, None, p.STATUS_ON, None))
    assert frame.fields[3] == p.RELAY_NONE and frame.fields[5] == p.SUPPLY_NONE
    plain, = p.Decoder().feed(p.sample(3, 10, 1_000, 2_000, 1, p.STATUS_ON))  # unchanged
    assert plain.type is p.MsgType.SAMPLE and len(plain.fields) == 5
    assert p.MsgType.SAMPLE in p.SAMPLE_TYPES and p.MsgType.SAMPLE_SUPPLY in p.SAMPLE_TYPES


@pytest.mark.req("LINK-010", "SUP-019")
def test_a_battery_device_brings_its_floor_and_its_low_battery_ends_the_session(
        served: list[Emulator]) -> None:
    served.append(battery_emulator("battery-low@20").start())
    dev = SerialDevice(served[-1].port, read_timeout_ms=HANG_MS)
    try:
        limits = dev.limits()
        assert (limits.supply_min_mv, limits.supply_max_mv) == (SUPPLY_FLOOR_MV, SUPPLY_MAX_MV)
        ctl = Controller(PALMS, limits)
        Runner(ctl, dev).run()
    finally:
        dev.close()
    assert [f.code for f in ctl.faults] == [FaultCode.SUPPLY_LOW], ctl.faults
    assert re.match(r"supply 6[23]\d\d mV below the stop level 6600 mV", ctl.faults[0].reason)
    assert ctl.faults[0].zero_tick is not None                    # ramped down, then fault


@pytest.mark.req("LINK-010")
def test_a_device_without_supply_is_unchanged(served: list[Emulator]) -> None:
    served.append(battery_emulator(supply=False).start())
    assert not served[-1].identity.capabilities & p.CAP_SUPPLY
    dev = SerialDevice(served[-1].port, read_timeout_ms=HANG_MS)
    try:
        assert dev.limits().supply_min_mv == 0 and dev.supply is None
        dev.apply(Command(0, False))
        sample = dev.read()
        assert sample is not None and sample.supply_mv is None and dev.fault() is None
    finally:
        dev.close()


@pytest.mark.req("LINK-010", "LINK-006")
def test_a_device_advertising_supply_that_does_not_answer_the_query_is_refused(
        served: list[Emulator]) -> None:
    emu = battery_emulator()
    emu._supply = False  # advertises SUPPLY, but ignores SUPPLY_QUERY
    served.append(emu.start())
    with pytest.raises(DeviceRefused, match="did not answer SUPPLY_QUERY"):
        SerialDevice(emu.port, read_timeout_ms=HANG_MS)


@pytest.mark.req("LINK-010", "LINK-006")
@pytest.mark.parametrize("advertised", [True, False])
def test_the_other_sample_frame_is_a_device_fault(served: list[Emulator], advertised: bool) -> None:
    emu = battery_emulator(supply=advertised)
    served.append(emu.start())
    dev = SerialDevice(emu.port, read_timeout_ms=HANG_MS)
    try:
        emu._supply = not advertised   # now it sends the frame it did not advertise
        dev.apply(Command(0, False))
        dev.read()
        fault = dev.fault()
        assert fault is not None and fault[0] is FaultCode.DEVICE_FAULT and "LINK-010" in fault[1]
    finally:
        dev.close()


@pytest.mark.req("LINK-010", "LINK-008")
@pytest.mark.slow
def test_the_battery_emulator_meets_the_device_checks(served: list[Emulator]) -> None:
    sim = SimulatedDevice(SimConfig(tick_ms=10, body_ohm=1000, supply_mv=SIM_BATTERY_MV))
    served.append(Emulator(sim, watchdog_grace_ms=1_000).start())  # a busy host may stall
    device_checks(DeviceSpec(served[-1].port, load_ohm=1000, watchdog_grace_ms=1_000))


# ---- the conformance kit (HAL level) -----------------------------------------------------

def sim_spec(**kw: object) -> Spec:
    def wait(hal: object, ms: int) -> None:
        for _ in range(ms // 10 + 1):
            hal.read()  # type: ignore[attr-defined]
    config = SimConfig(tick_ms=10, **kw)  # type: ignore[arg-type]
    return Spec(factory=lambda: SimulatedDevice(config), wait=wait)


@pytest.mark.req("LINK-010", "LINK-004")
def test_the_kit_checks_a_reporting_backend_and_accepts_one_that_does_not_report() -> None:
    battery = sim_spec(supply_mv=SIM_BATTERY_MV)
    battery.reports_supply, battery.supply_min_mv, battery.supply_max_mv = True, 6_000, 9_000
    plain_checks(battery)
    plain_checks(sim_spec())                       # mains powered: nothing to check
    mains = sim_spec()
    mains.reports_supply = False
    plain_checks(mains)


class Intermittent(SimulatedDevice):
    """Reports its supply on every other sample only."""

    def read(self) -> Sample | None:
        s = super().read()
        return s if s is None or self.t_ms % 20 else s._replace(supply_mv=None)


@pytest.mark.req("LINK-010", "LINK-004")
@pytest.mark.parametrize("make, message", [
    (lambda: sim_spec(), "not reported, but every sample must report it"),
    (lambda: sim_spec(supply_mv=20_000), "supply_mv = 200"),
    (lambda: sim_spec(supply_mv=6_300), "below the stop level 6600 mV"),
    (lambda: Spec(factory=lambda: Intermittent(SimConfig(tick_ms=10, supply_mv=7_400)),
                  wait=sim_spec().wait), "the backend's first sample set the rule"),
])
def test_the_kit_fails_a_backend_that_breaks_its_supply_reporting(make, message: str) -> None:  # type: ignore[no-untyped-def]
    spec = make()
    if "first sample" not in message:
        spec.reports_supply, spec.supply_min_mv, spec.supply_max_mv = True, 6_000, 9_000
    with pytest.raises(Violation, match=message):
        plain_checks(spec)
