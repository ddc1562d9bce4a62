"""One tick of the controller at the edges of its rules: the probe's charge while paused,
an over-current during the ramp-down of a sensor fault, a clock starting at 0, repeated
time stamps in a ramp-down, a ramp-then-fault reaction inside a ramp-down, the counters of
missing and implausible samples, the detection tick of a supply fault, and the impedance
trend judged only at a steady command.

Expected values are derived from the prescription, the device and supervision limits and
the samples the test feeds, never read from the controller.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from iontocore import Controller, Sample
from iontocore.errors import InvalidSettings
from iontocore.faults import FaultCode
from iontocore.limits import trip_threshold_ua

from short_session import DEVICE, RX, STEP_UA, SUP, TICK, Load, run, started

TRIP = trip_threshold_ua(RX.limit_ua(DEVICE), DEVICE.trip_ua, SUP.trip_margin_permille,
                         SUP.trip_floor_ua)


def _treat() -> tuple[Controller, Load]:
    ctl, load = started()
    run(ctl, load, RX.ramp_ms // TICK + 2)
    assert ctl.state == "treat"
    return ctl, load


def _noise(t: int) -> int:
    return (t // TICK) % 2   # one LSB: a live sensor


# ------------------------------------------------------------------ DOSE-001/002 probe charge

@pytest.mark.req("DOSE-001", "DOSE-002")
def test_the_probe_current_while_paused_is_counted_as_probe_charge_not_dose() -> None:
    ctl, load = _treat()
    load.open = True
    run(ctl, load, 30)
    assert ctl.state == "paused"
    d0, p0, b0, tr0 = ctl.delivered_uams, ctl.probe_uams, ctl.bound_uams, ctl.treatment_ms
    t = load.t
    for k, probe in enumerate((40, 41, 39, 40), start=1):   # what flows while paused
        ctl.step(Sample(t + k * TICK, probe, 50_000))
    assert ctl.state == "paused"
    assert ctl.probe_uams - p0 == 160 * TICK
    assert ctl.bound_uams - b0 == 160 * TICK
    assert ctl.delivered_uams == d0 and ctl.treatment_ms == tr0


# ------------------------------------------------------------------ SUP-001 in a sensor ramp

@pytest.mark.req("SUP-001", "SUP-004")
@pytest.mark.parametrize("reading, cut", [(TRIP, False), (TRIP + 1, True), (-TRIP - 1, True)])
def test_an_over_current_during_a_sensor_faults_ramp_down_cuts_at_once(reading: int,
                                                                        cut: bool) -> None:
    """The sensor is not believed during the ramp-down of a sensor fault (SUP-004), but a
    reading beyond the trip is never ignored: it cuts at once (SUP-001), naming it."""
    ctl, load = _treat()
    t = load.t
    for k in range(1, SUP.implausible_max_consecutive + 1):
        ctl.step(Sample(t + k * TICK, "garbage", 100))  # type: ignore[arg-type]
    t += SUP.implausible_max_consecutive * TICK
    assert ctl.state == "ramp_down" and ctl.faults[-1].code is FaultCode.IMPLAUSIBLE_SAMPLE
    ctl.step(Sample(t + TICK, reading, 100 + _noise(t)))
    if not cut:
        assert ctl.state == "ramp_down" and len(ctl.faults) == 1
        return
    assert ctl.state == "fault" and ctl.command.enabled is False
    rec = ctl.faults[-1]
    assert rec.code is FaultCode.OVERCURRENT and rec.t_ms == t + TICK
    assert rec.reason == (f"measured {reading} uA beyond the trip at {TRIP} uA during the "
                          "ramp-down of a sensor fault"), rec.reason


# ------------------------------------------------------------------ SUP-008/009 a clock from 0

@pytest.mark.req("SUP-009")
@pytest.mark.parametrize("gap, jumps", [(SUP.clock_jump_ms, False), (SUP.clock_jump_ms + 1, True)])
def test_a_clock_starting_at_zero_is_judged_from_its_first_sample(gap: int, jumps: bool) -> None:
    ctl = Controller(RX, DEVICE, SUP, tick_ms=TICK)
    ctl.step(Sample(0, 0, 0))
    assert ctl.start().accepted
    ctl.step(Sample(gap, 0, 0))
    got = [f.code for f in ctl.faults]
    assert got == ([FaultCode.CLOCK_JUMP] if jumps else []), got


@pytest.mark.req("SUP-008")
def test_a_time_stamp_of_zero_repeated_is_no_fresh_sample() -> None:
    ctl = Controller(RX, DEVICE, SUP, tick_ms=TICK)
    ctl.step(Sample(0, 0, 0))
    assert ctl.start().accepted
    n = 0
    while ctl.state != "fault" and n < 100:
        ctl.step(Sample(0, n % 2, 0))
        n += 1
    assert ctl.faults[-1].code is FaultCode.SAMPLE_LOSS
    assert n * TICK == -(-SUP.sample_deadline_ms // TICK) * TICK, n


# ------------------------------------------------------------------ CTL-002 stale ramp-down

@pytest.mark.req("CTL-002", "SUP-008")
def test_a_ramp_down_goes_on_open_loop_through_repeated_time_stamps() -> None:
    """A repeated time stamp is no fresh sample; in a ramp-down the command keeps falling one
    slew step a tick on the command alone (until the sample deadline)."""
    ctl, load = _treat()
    assert ctl.stop().accepted
    s = load(ctl.command)
    ctl.step(s)
    start = ctl.command.setpoint_ua
    got = [ctl.step(s).setpoint_ua for _ in range(SUP.sample_deadline_ms // TICK - 1)]
    assert got == [start - STEP_UA * k for k in range(1, len(got) + 1)], (start, got)


# ------------------------------------------------------------------ SUP-009 late ticks

@pytest.mark.req("SUP-009", "CTL-006")
def test_late_ticks_during_a_ramp_down_end_it_in_fault_without_another_transition() -> None:
    """Late ticks (a ramp-then-fault reaction) detected inside a ramp-down: the ramp-down
    goes on to zero and ends in fault; no second stop, no internal error."""
    ctl, load = _treat()
    assert ctl.stop().accepted
    late = TICK * (1000 + SUP.late_tolerance_permille) // 1000 + 1
    t = load.t
    for _ in range(SUP.late_bucket_limit):
        if ctl.faults:
            break
        t += late
        load.t = t - TICK
        ctl.step(load(ctl.command))
    assert [f.code for f in ctl.faults] == [FaultCode.LATE_TICKS], ctl.faults
    assert ctl.state == "ramp_down"
    for _ in range(RX.target_ua // STEP_UA + 5):
        t += TICK
        load.t = t - TICK
        ctl.step(load(ctl.command))
        if ctl.state == "fault":
            break
    assert ctl.state == "fault" and [f.code for f in ctl.faults] == [FaultCode.LATE_TICKS]


# ------------------------------------------------------------------ SUP-004/008 counters

@pytest.mark.req("SUP-008")
def test_missing_samples_between_fresh_ones_never_add_up() -> None:
    """The sample deadline is for consecutive missing samples: one missing sample after every
    fresh one, for far longer than the deadline, is no sample loss."""
    ctl, load = _treat()
    for _ in range(5 * SUP.sample_deadline_ms // TICK):
        ctl.step(None)
        run(ctl, load, 1)
    assert ctl.state == "treat" and not ctl.faults


@pytest.mark.req("SUP-004")
def test_implausible_samples_count_only_in_a_row() -> None:
    """implausible_max_consecutive - 1 implausible samples, then a fresh one, again and
    again: never a fault; implausible_max_consecutive in a row: the fault."""
    ctl, load = _treat()
    below = SUP.implausible_max_consecutive - 1
    for _ in range(20):   # the implausible samples come between punctual fresh ones
        for _ in range(below):
            ctl.step(Sample(load.t, "garbage", 100))  # type: ignore[arg-type]
        run(ctl, load, 1)
    assert ctl.state == "treat" and not ctl.faults
    for _ in range(below + 1):
        ctl.step(Sample(load.t, "garbage", 100))  # type: ignore[arg-type]
    assert [f.code for f in ctl.faults] == [FaultCode.IMPLAUSIBLE_SAMPLE]


# ------------------------------------------------------------------ DOSE-001 supply fault tick

@pytest.mark.req("DOSE-001", "SUP-019")
def test_the_tick_a_supply_fault_is_detected_counts_as_treatment_time() -> None:
    """On the tick a low supply is detected the output still did what it was told (the
    current followed the command): that tick counts as treatment time, as every tick in
    treat before it."""
    device = replace(DEVICE, supply_min_mv=9_000, supply_max_mv=20_000)
    ctl = Controller(RX, device, SUP, tick_ms=TICK)
    load = Load()

    def feed(supply_mv: int) -> None:
        s = load(ctl.command)
        ctl.step(Sample(s.t_ms, s.current_ua, s.voltage_mv, None, supply_mv))

    feed(12_000)
    assert ctl.start().accepted
    ticks = 0                          # every tick from the start on is in ramp_up or treat
    while ctl.state != "treat":
        feed(12_000)
        ticks += 1
    while not ctl.faults:
        feed(9_500)                    # under the stop level, above supply_min_mv
        ticks += 1
    assert ctl.faults[-1].code is FaultCode.SUPPLY_LOW and ctl.state == "ramp_down"
    assert ctl.treatment_ms == ticks * TICK, (ctl.treatment_ms, ticks)


# ------------------------------------------------------------------ SUP-018 steady only

@pytest.mark.req("SUP-018")
@pytest.mark.parametrize("phase", ["treat", "ramp_up"])
def test_an_impedance_fall_is_judged_at_a_steady_command_only(phase: str) -> None:
    """A sudden impedance fall (70 %) is an IMPEDANCE_FALL in treat; during the ramp-up, where
    the command moves, it is not judged."""
    rx = replace(RX, ramp_ms=5_000) if phase == "ramp_up" else RX
    ctl, load = started(rx)
    if phase == "treat":
        run(ctl, load, rx.ramp_ms // TICK + SUP.impedance_window_ms // TICK + 2)
        assert ctl.state == "treat"
    else:
        run(ctl, load, 100)
    load.ohm = 600
    run(ctl, load, (SUP.impedance_window_ms + SUP.impedance_debounce_ms) // TICK + 5)
    fell = [f.code for f in ctl.faults] == [FaultCode.IMPEDANCE_FALL]
    assert fell is (phase == "treat"), (ctl.faults, ctl.state)


# ------------------------------------------------------------------ SUP-005 below the sense current

ALLOWED = ("at least the contact sense current {sense} uA (supervision contact_sense_ua): below "
           "it an electrode lifted off the skin cannot be seen")


@pytest.mark.req("SUP-005")
def test_a_set_point_below_the_contact_sense_current_is_refused() -> None:
    """Below the contact sense current a lift cannot be seen: a session there could run with
    the electrodes lifted (a compliance hold at what flows, 0 uA, used to stand in for the
    pause). A target below it is refused by name when the controller is made; an adjustment
    below it is refused and changes nothing; at it, both are accepted."""
    rx = replace(RX, target_ua=200, min_ua=100, step_ua=50)
    sense = rx.target_ua + 1
    with pytest.raises(InvalidSettings) as err:
        Controller(rx, DEVICE, replace(SUP, contact_sense_ua=sense), tick_ms=TICK)
    assert [(p.field, p.value, p.allowed) for p in err.value.problems] == [
        ("target_ua", rx.target_ua, ALLOWED.format(sense=sense))]
    Controller(rx, DEVICE, replace(SUP, contact_sense_ua=rx.target_ua), tick_ms=TICK)
    sense = rx.target_ua - rx.step_ua                 # one step below the target
    assert rx.min_ua < sense
    ctl, load = started(rx, DEVICE, replace(SUP, contact_sense_ua=sense))
    run(ctl, load, 10)
    assert ctl.adjust(-rx.step_ua).accepted and ctl.setpoint_ua == sense
    reply = ctl.adjust(-rx.step_ua)
    low = sense - rx.step_ua
    assert not reply.accepted and ctl.setpoint_ua == sense
    assert reply.reason == (f"set-point {low} uA: invalid currents on this controller: "
                            f"set-point = {low}: allowed " + ALLOWED.format(sense=sense))


@pytest.mark.req("SUP-005", "SUP-007")
def test_a_sense_current_above_what_a_present_contact_carries_at_compliance_is_refused() -> None:
    """At compliance a contact is present below contact_open_ohm: at least (compliance -
    margin) / contact_open_ohm flows, and a compliance hold is taken at what flows. A sense
    current above that would let a hold sit where contact is not judged, and a later lift go
    unseen (a hostile review: a 10 MOhm threshold held 9 uA with the electrodes lifted)."""
    least = (DEVICE.compliance_mv - SUP.compliance_margin_mv) * 1000 // SUP.contact_open_ohm
    Controller(RX, DEVICE, replace(SUP, contact_sense_ua=least), tick_ms=TICK)
    for sup in (replace(SUP, contact_sense_ua=least + 1),
                replace(SUP, contact_open_ohm=10_000_000)):
        most = (DEVICE.compliance_mv - sup.compliance_margin_mv) * 1000 // sup.contact_open_ohm
        with pytest.raises(InvalidSettings) as err:
            Controller(RX, DEVICE, sup, tick_ms=TICK)
        assert [(p.field, p.value) for p in err.value.problems] == [
            ("contact_sense_ua", sup.contact_sense_ua)]
        assert err.value.problems[0].allowed.startswith(f"at most {most} uA, the least "), err
