"""SUP-014, SUP-017: in pulsed mode the uncommanded-current monitor judges the amplitude
(average x 1000 / duty), and one whole uA of the sensed average is 1000 / duty uA of
amplitude: the monitor's floor is at least that (the sensor's resolution), so an accepted
pulsed prescription at a few uA runs on an ideal load without a fault, and an excess beyond
the resolution still cuts the output. A hostile review saw 10 uA at 50 % duty read 6 uA on
average (one LSB of noise), judged 12 uA of amplitude, and cut as uncommanded current.
Expected values come from the rule as stated (SUP-014) and the load, never from the
supervisor under test."""

from __future__ import annotations

from dataclasses import replace

import pytest

from iontocore import Command, Controller, Prescription
from iontocore.faults import FaultCode
from iontocore.protocol import GAP, PULSE, Protocol, Step
from iontocore.supervision import Supervisor, tracking_floor_ua

from short_session import DEVICE, SUP, TICK, Load, run


def _pulsed(target_ua: int, duty: int) -> Prescription:
    return Prescription(name="p", family="research", target_ua=target_ua, ramp_ms=500,
                        area_mm2=400, return_area_mm2=400, probe_ua=min(50, target_ua),
                        waveform="pulsed", pulse_hz=1_000, duty_permille=duty,
                        protocol=Protocol((Step(PULSE, duration_ms=2_000),
                                           Step(GAP, duration_ms=500))))


@pytest.mark.req("SUP-014", "SUP-017")
@pytest.mark.parametrize("target, duty", [(10, 500), (11, 500), (30, 100), (30, 250), (50, 900),
                                          (300, 10), (150, 20), (100, 30), (60, 50)])
def test_a_low_pulsed_current_on_an_ideal_load_runs_without_a_fault(target: int,
                                                                     duty: int) -> None:
    """Down to 1 % duty (a device that allows it), where one uA of the average is 100 uA of
    amplitude: each target is the least whose average is 3 uA (RX-009's least average)."""
    device = replace(DEVICE, duty_permille_min=min(duty, DEVICE.duty_permille_min))
    ctl = Controller(_pulsed(target, duty), device, SUP, tick_ms=TICK)
    load = Load()
    run(ctl, load, 1)
    assert ctl.start().accepted
    while not ctl.finished and load.t < 60_000:
        run(ctl, load, 1)
    assert ctl.outcome == "completed" and ctl.faults == [], ctl.faults
    assert [p.valid for p in ctl.pulses] == [True]


def _judged(reading_ua: int, command_ua: int, duty: int) -> bool:
    """Whether `reading_ua` (the sensed average) held for the debounce and more is cut as
    uncommanded current, against `command_ua` at `duty`, on a fresh supervisor whose limit
    (10 uA) makes its tracking floor 1 uA, so that the resolution decides."""
    sup = Supervisor(SUP, DEVICE.compliance_mv, DEVICE.zero_tolerance_ua, TICK, limit_ua=10)
    cmd = Command(command_ua, True, duty)
    for k in range(1, (SUP.tracking_debounce_ms + 100) // TICK):
        code = sup.observe(k * TICK, reading_ua, 1_000, None, TICK, cmd, duty, 10_000, -1)
        if code is FaultCode.UNCOMMANDED_CURRENT:
            return True
    return False


@pytest.mark.req("SUP-014", "SUP-017")
@pytest.mark.parametrize("duty", [10, 33, 50, 75, 100, 250, 300, 333, 500, 900])
def test_the_floor_on_the_amplitude_is_one_whole_uA_of_the_average(duty: int) -> None:
    """The oracle from SUP-014, in exact integers: an amplitude (average x 1000 // duty) is
    cut when it exceeds the command by more than max(floor, command x permille / 1000), the
    floor being at least ceil(1000 / duty) uA; every average up to past the boundary, for
    commands of 8 to 14 uA (so that the amplitude's steps meet the boundary exactly)."""
    floor = tracking_floor_ua(SUP.tracking_tolerance_ua, SUP.tracking_tolerance_permille, 10)
    assert floor == 1
    resolution = -(-1000 // duty)
    permille = SUP.tracking_tolerance_permille
    for command in range(8, 15):
        for average in range(0, (command + resolution + 2) * duty // 1000 + 3):
            amp = average * 1000 // duty
            cut = (amp - command) * 1000 > max(max(floor, resolution) * 1000, command * permille)
            assert _judged(average, command, duty) is cut, (command, average, amp)


@pytest.mark.req("SUP-014", "SUP-017")
@pytest.mark.parametrize("duty", [100, 500, 1000])
def test_at_a_zero_command_the_reading_itself_is_judged_whatever_the_duty(duty: int) -> None:
    """At a zero command nothing pulses: the reading is the current, its resolution 1 uA, and
    the floor is the tracking floor alone (a hostile review saw 9 uA flow for 4 s in a pulsed
    gap once the amplitude's resolution, 10 uA at 10 %, was applied there too)."""
    floor = tracking_floor_ua(SUP.tracking_tolerance_ua, SUP.tracking_tolerance_permille, 10)
    assert not _judged(floor, 0, duty)
    assert _judged(floor + 1, 0, duty)
