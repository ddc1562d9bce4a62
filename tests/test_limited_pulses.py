"""RX-009: a research pulse is reported valid only if it was given as prescribed, and only
pulses that can be verified are run.

- Below the contact sense current an electrode lifted off the skin cannot be told from a
  compliance limit (the command is held at what flows, 0 uA): a pulse of such a current was
  run and reported valid with nothing delivered. The controller now refuses it, naming the
  step, the current and the limit, when it is made and when an adjustment would make it so.
- A pulse by time with on-time counted while the load held the current below the pulse's
  (the compliance hold, SUP-007) is invalid, with the held time and the charge delivered.
- A pulse by time whose current was adjusted while it was in force is invalid, naming the
  current before and after (within its slack it passed as the pulse prescribed).
- A pulse by time is judged on its charge too, within its slack (tests/test_pulse_reports.py):
  the scenarios below fail it when the load takes less than the pulse's current.
- A pulse by charge stays judged on its charge alone (DOSE-003).
Expected verdicts come from the load and the protocol, never from the controller."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from iontocore import Command, Controller, Prescription, Sample
from iontocore.errors import InvalidSettings
from iontocore.events import PulseReport
from iontocore.protocol import BASELINE, GAP, PULSE, Plan, Protocol, Step

from short_session import DEVICE, SUP, TICK, Load, run

REASON = ("the load held the current below the pulse's for {ms} ms of its on-time "
          "(compliance hold): delivered {q} of {n} uA*ms")


def _plan(step: Step) -> Plan:
    plan = Plan(Protocol((step,)), slew_ua_per_s=1_000, duty_permille=1_000, tick_ms=TICK)
    plan.begin(1, 0, 100)
    return plan


FIVE_TICKS = 100 * 5 * TICK + 100 * 100  # on-time and one ramp time at 100 uA and 1000 uA/s


def _five_ticks(held: int = 0, astray: int = 0) -> PulseReport:
    """A pulse by time of five ticks at 100 uA whose first `held` ticks ran under a
    compliance hold and first `astray` ticks with the output off its command; its charge
    is its nominal (FIVE_TICKS), so that only those ticks speak."""
    plan = _plan(Step(PULSE, duration_ms=5 * TICK))
    done = [plan.pulse_done(100_000, TICK, k < held, k < astray) for k in range(5)]
    assert done == [False] * 4 + [True]          # the on-time runs the same whatever the ticks
    plan.count(FIVE_TICKS, plan.tick_ms)
    plan.next(2, 50, 100)
    (report,) = plan.quiet(60)
    assert isinstance(report, PulseReport)
    return report


@pytest.mark.req("RX-009")
@pytest.mark.parametrize("held_ticks", [0, 1, 3])
def test_a_pulse_by_time_with_on_time_under_a_hold_is_invalid(held_ticks: int) -> None:
    report = _five_ticks(held=held_ticks)
    assert report.valid is (held_ticks == 0)
    assert report.reason == ("" if held_ticks == 0 else REASON.format(
        ms=held_ticks * TICK, q=FIVE_TICKS, n=FIVE_TICKS))


@pytest.mark.req("RX-009")
def test_the_held_time_of_one_pulse_does_not_carry_to_the_next() -> None:
    plan = Plan(Protocol((Step(PULSE, duration_ms=TICK), Step(GAP, duration_ms=TICK),
                          Step(PULSE, duration_ms=TICK))),
                slew_ua_per_s=1_000, duty_permille=1_000, tick_ms=TICK)
    plan.begin(1, 0, 100)
    nominal = 100 * TICK + 100 * 100               # on-time and one ramp time at 1000 uA/s
    assert plan.pulse_done(100_000, TICK, True)
    plan.count(nominal, plan.tick_ms)
    plan.next(2, 10, 100)
    (first,) = plan.quiet(20)
    assert plan.rest_done(TICK)
    plan.next(3, 30, 100)
    assert plan.pulse_done(100_000, TICK, False)
    plan.count(nominal, plan.tick_ms)
    plan.next(4, 40, 100)
    (second,) = plan.quiet(50)
    assert isinstance(first, PulseReport) and isinstance(second, PulseReport)
    assert (first.valid, second.valid) == (False, True)


@pytest.mark.req("RX-009", "DOSE-003")
def test_a_pulse_by_charge_under_a_hold_is_judged_on_its_charge() -> None:
    plan = _plan(Step(PULSE, charge_uams=50_000))
    assert not plan.pulse_done(100_000, TICK, True)
    plan.count(50_000, plan.tick_ms)
    plan.next(2, 10, 100)
    (report,) = plan.quiet(20)
    assert isinstance(report, PulseReport) and report.valid and report.reason == ""


ASTRAY = ("the output was off its command for {ms} ms of its on-time (the current read beyond "
          "the tracking tolerance, or the contact open): delivered {q} of {n} uA*ms")


@pytest.mark.req("RX-009", "DOSE-001")
@pytest.mark.parametrize("astray_ticks", [0, 1, 2])
def test_a_pulse_by_time_with_on_time_astray_is_invalid(astray_ticks: int) -> None:
    """On-time counted while the output was off its command is on record and makes the
    pulse invalid."""
    report = _five_ticks(astray=astray_ticks)
    assert report.valid is (astray_ticks == 0)
    assert report.reason == ("" if astray_ticks == 0 else ASTRAY.format(
        ms=astray_ticks * TICK, q=FIVE_TICKS, n=FIVE_TICKS))


@pytest.mark.req("RX-009", "DOSE-003")
def test_a_pulse_by_charge_astray_is_judged_on_its_charge() -> None:
    plan = _plan(Step(PULSE, charge_uams=50_000))
    assert not plan.pulse_done(100_000, TICK, False, True)
    plan.count(50_000, plan.tick_ms)
    plan.next(2, 10, 100)
    (report,) = plan.quiet(20)
    assert isinstance(report, PulseReport) and report.valid and report.reason == ""


@pytest.mark.req("RX-009", "SUP-005")
@pytest.mark.parametrize("lift_ms", [0, TICK, 2 * TICK])
def test_a_lift_shorter_than_the_debounce_in_a_short_pulse_invalidates_it(lift_ms: int) -> None:
    """A 100 ms pulse at 100 uA, the electrodes lifted for one or two samples mid on-time
    (no pause: shorter than the contact-loss debounce): 10-20 % of its on-time gave nothing,
    which its charge slack (5 % and more) swallowed, reported valid. Invalid now, naming the
    time; without a lift, valid."""
    assert lift_ms < SUP.contact_loss_debounce_ms
    rx = _research(100, Step(PULSE, duration_ms=100), Step(GAP, duration_ms=100))
    # the on-time begins at 100 ms
    ctl = _lifted(replace(rx, ramp_ms=100), lambda ms: 140 <= ms < 140 + lift_ms)
    (pulse,) = ctl.pulses
    assert ctl.outcome == "completed" and ctl.pauses == 0
    assert pulse.valid is (lift_ms == 0), pulse
    if lift_ms:
        assert pulse.reason.startswith(f"the output was off its command for {lift_ms} ms"), pulse


ADJUSTED = ("current adjusted from {a} to {b} uA during its on-time: delivered {q} of {n} "
            "uA*ms")


@pytest.mark.req("RX-009")
@pytest.mark.parametrize("moves, said", [((), None), (((100, 105),), (100, 105)),
                                         (((100, 110), (110, 100)), (100, 100))])
def test_a_pulse_by_time_adjusted_in_force_is_invalid_and_says_so(
        moves: tuple[tuple[int, int], ...], said: tuple[int, int] | None) -> None:
    """Its charge as nominal, so that only the adjustment speaks: an adjustment while the
    pulse is in force makes it invalid, naming the first current and the last (up and back
    down again is still not a pulse at its current)."""
    plan = _plan(Step(PULSE, duration_ms=5 * TICK))
    nominal = 100 * 5 * TICK + 100 * 100           # on-time and one ramp time at 1000 uA/s
    for before, after in moves:
        plan.adjusted_to(before, after)
    assert [plan.pulse_done(100_000, TICK) for _ in range(5)] == [False] * 4 + [True]
    plan.count(nominal, plan.tick_ms)
    plan.next(2, 50, 100)
    (report,) = plan.quiet(60)
    assert isinstance(report, PulseReport)
    assert report.valid is (said is None)
    assert report.reason == ("" if said is None else ADJUSTED.format(
        a=said[0], b=said[1], q=nominal, n=nominal))


@pytest.mark.req("RX-009")
def test_an_adjustment_before_the_tick_that_ends_the_on_time_marks_no_pulse() -> None:
    """The tick that ends the on-time judges an interval the old command governed, and the
    output goes to zero after it: the adjusted current never flows, the pulse is valid."""
    plan = _plan(Step(PULSE, duration_ms=5 * TICK))
    assert [plan.pulse_done(100_000, TICK) for _ in range(4)] == [False] * 4
    plan.adjusted_to(100, 110)
    assert plan.pulse_done(100_000, TICK)
    nominal = 100 * 5 * TICK + 100 * 100
    plan.count(nominal, plan.tick_ms)
    plan.next(2, 50, 100)
    (report,) = plan.quiet(60)
    assert isinstance(report, PulseReport) and report.valid, report


@pytest.mark.req("RX-009", "RX-005")
def test_an_adjusted_pulse_is_invalid_exactly_when_its_output_changed() -> None:
    """+10 uA at each of the last ticks of a 1 s pulse, compared with the same session not
    adjusted: the pulse is invalid exactly when the commands it sent differ (a hostile
    review saw one adjusted on its last tick, its output identical, reported invalid)."""
    rx = _research(100, Step(PULSE, duration_ms=1_000), Step(GAP, duration_ms=500),
                   min_ua=50, max_ua=150, step_ua=10)

    def session(adjust_at: int) -> tuple[list[int], PulseReport]:
        ctl = Controller(rx, DEVICE, SUP, tick_ms=TICK)
        load = Load()
        run(ctl, load, 1)
        assert ctl.start().accepted
        sent = []
        for k in range(2_000):
            if k == adjust_at:
                assert ctl.adjust(10).accepted
            sent.append(run(ctl, load, 1)[0].setpoint_ua)
            if ctl.finished:
                break
        return sent, ctl.pulses[0]

    plain, report = session(-1)
    assert report.valid
    ends = plain.index(0, plain.index(100))    # the first zero after the pulse at 100 uA
    last = ends - plain[ends - 1::-1].index(100)  # the pulse's last command at 100 uA, +1
    verdicts = set()
    for k in range(last - 4, last + 4):
        sent, report = session(k)
        same = sent[:ends + 1] == plain[:ends + 1]
        assert report.valid is same, (k, ends, report)
        verdicts.add(same)
    assert verdicts == {True, False}           # both cases were met


@pytest.mark.req("RX-009")
def test_an_adjustment_outside_a_pulse_in_force_marks_no_pulse() -> None:
    """In the pulse's ramp down (its step done), in the rest after it and before the next
    pulse begins, an adjustment is not part of any pulse; the next pulse starts afresh."""
    plan = Plan(Protocol((Step(PULSE, duration_ms=TICK), Step(GAP, duration_ms=TICK),
                          Step(PULSE, duration_ms=TICK))),
                slew_ua_per_s=1_000, duty_permille=1_000, tick_ms=TICK)
    plan.begin(1, 0, 100)
    nominal = 100 * TICK + 100 * 100
    assert plan.pulse_done(100_000, TICK)
    plan.count(nominal, plan.tick_ms)
    plan.next(2, 10, 100)
    plan.adjusted_to(100, 105)                     # in the ramp down: the step is done
    (first,) = plan.quiet(20)
    plan.adjusted_to(105, 110)                     # in the gap
    assert plan.rest_done(TICK)
    plan.next(3, 30, 100)
    assert plan.pulse_done(100_000, TICK)
    plan.count(nominal, plan.tick_ms)
    plan.next(4, 40, 100)
    (second,) = plan.quiet(50)
    assert isinstance(first, PulseReport) and isinstance(second, PulseReport)
    assert (first.valid, second.valid) == (True, True), (first, second)


@pytest.mark.req("RX-009", "DOSE-003")
def test_a_pulse_by_charge_adjusted_in_force_is_judged_on_its_charge() -> None:
    """A pulse by charge is its charge: an adjustment changes how long it takes, not what
    it gives."""
    plan = _plan(Step(PULSE, charge_uams=50_000))
    plan.adjusted_to(100, 120)
    plan.count(50_000, plan.tick_ms)
    plan.next(2, 10, 100)
    (report,) = plan.quiet(20)
    assert isinstance(report, PulseReport) and report.valid and report.reason == ""


@pytest.mark.req("RX-009", "RX-005")
def test_a_session_pulse_adjusted_within_its_slack_is_invalid_and_named() -> None:
    """+5 uA on a 100 uA pulse of 2 s moves its charge by less than its 5 % slack: judged
    on the charge alone it passed as the pulse prescribed. The next pulse, at the adjusted
    set-point from its start, is valid."""
    rx = _research(100, Step(PULSE, duration_ms=2_000), Step(GAP, duration_ms=500),
                   Step(PULSE, duration_ms=1_000), min_ua=50, max_ua=150, step_ua=5)
    ctl = Controller(rx, DEVICE, SUP, tick_ms=TICK)
    load = Load()
    run(ctl, load, 1)
    assert ctl.start().accepted
    run(ctl, load, 100)                                    # 1 s: in the first pulse's on-time
    assert ctl.state == "treat" and ctl.setpoint_ua == 100
    assert ctl.adjust(5).accepted
    while not ctl.finished and load.t < 60_000:
        run(ctl, load, 1)
    first, second = ctl.pulses
    assert abs(first.delivered_uams - first.nominal_uams) * 20 < first.nominal_uams, first
    assert not first.valid and first.reason == ADJUSTED.format(
        a=100, b=105, q=first.delivered_uams, n=first.nominal_uams)
    assert second.valid, second


def _session(target_ua: int, lift_at_ms: int = -1, ohm: int = 2_000) -> list[PulseReport]:
    """One pulse by time of 2 s at `target_ua`, then a gap, on the short session's load;
    the electrodes lifted `lift_at_ms` after the start (never if negative)."""
    rx = Prescription(name="held", family="research", target_ua=target_ua, ramp_ms=500,
                      area_mm2=max(400, target_ua), return_area_mm2=max(400, target_ua),
                      probe_ua=min(50, target_ua),
                      protocol=Protocol((Step(PULSE, duration_ms=2_000),
                                         Step(GAP, duration_ms=1_000))))
    ctl = _lifted(rx, lambda ms: 0 <= lift_at_ms <= ms, Load(ohm))
    return list(ctl.pulses)


def _lifted(rx: Prescription, lifted: Callable[[int], bool], load: Load | None = None
            ) -> Controller:
    """`rx` run to its end on `load` (the short session's by default), the electrodes
    lifted for the next sample whenever `lifted(ms since the start)`."""
    ctl = Controller(rx, DEVICE, SUP, tick_ms=TICK)
    load = Load() if load is None else load
    run(ctl, load, 1)
    assert ctl.start().accepted
    start = load.t
    while not ctl.finished and load.t < start + 60_000:
        load.open = lifted(load.t - start)
        run(ctl, load, 1)
    assert ctl.finished
    return ctl


def _research(target_ua: int, *steps: Step, **fields: object) -> Prescription:
    return Prescription(name="low", family="research", target_ua=target_ua, ramp_ms=500,
                        area_mm2=400, return_area_mm2=400, probe_ua=min(50, target_ua),
                        protocol=Protocol(steps) if steps else None, **fields)  # type: ignore[arg-type]


SENSE = SUP.contact_sense_ua
BELOW = (f"at least the contact sense current {SENSE} uA (supervision contact_sense_ua): below "
         "it an electrode lifted off the skin cannot be seen, and the pulse could not be verified")


@pytest.mark.req("RX-009", "SUP-005")
@pytest.mark.parametrize("rx, field, value", [
    (_research(SENSE - 1, Step(PULSE, duration_ms=1_000)), "protocol.step[1].current_ua", SENSE - 1),
    (_research(100, Step(PULSE, duration_ms=1_000), Step(GAP, duration_ms=100),
               Step(PULSE, duration_ms=1_000, current_ua=SENSE - 1)),
     "protocol.step[3].current_ua", SENSE - 1),
    (_research(100, Step(PULSE, charge_uams=100_000, current_ua=SENSE - 1)),
     "protocol.step[1].current_ua", SENSE - 1),
    (_research(SENSE - 1, pulse_count=3, pulse_on_ms=1_000, pulse_gap_ms=1_000), "target_ua",
     SENSE - 1),
])
def test_a_pulse_below_the_contact_sense_current_is_refused(rx: Prescription, field: str,
                                                            value: int) -> None:
    """Below the contact sense current an electrode lifted off the skin is held at what
    flows (0 uA) and taken for a compliance limit: such a pulse could not be verified, so
    the controller refuses it, naming the step, the current and the limit."""
    with pytest.raises(InvalidSettings) as err:
        Controller(rx, DEVICE, SUP, tick_ms=TICK)
    assert [(p.field, p.value, p.allowed) for p in err.value.problems] == [(field, value, BELOW)]
    # at the sense current itself the same plan is accepted
    Controller(rx, DEVICE, replace(SUP, contact_sense_ua=value), tick_ms=TICK)


@pytest.mark.req("RX-009", "RX-005")
def test_an_adjustment_below_the_contact_sense_current_is_refused_and_changes_nothing() -> None:
    rx = _research(SENSE + 5, Step(PULSE, duration_ms=5_000), min_ua=1, max_ua=100, step_ua=5)
    ctl = Controller(rx, DEVICE, SUP, tick_ms=TICK)
    load = Load()
    run(ctl, load, 1)
    assert ctl.start().accepted
    run(ctl, load, 20)
    assert ctl.adjust(-5).accepted and ctl.setpoint_ua == SENSE      # down to the sense current
    reply = ctl.adjust(-5)
    assert not reply.accepted and ctl.setpoint_ua == SENSE
    assert reply.reason == (f"set-point {SENSE - 5} uA: invalid pulses on this controller: "
                            f"protocol.step[1].current_ua = {SENSE - 5}: allowed {BELOW}")
    run(ctl, load, 20)
    assert ctl.state in ("ramp_up", "treat") and ctl.setpoint_ua == SENSE


@pytest.mark.req("RX-009", "SUP-005")
def test_an_electrode_lifted_at_the_contact_sense_current_invalidates_the_pulse() -> None:
    (ok,) = _session(SENSE)
    assert ok.valid and ok.delivered_uams > 0
    (lifted,) = _session(SENSE, lift_at_ms=1_000)
    assert not lifted.valid and lifted.reason, lifted
    assert lifted.delivered_uams < ok.delivered_uams * 3 // 4   # half its time with nothing


@pytest.mark.req("RX-009", "SUP-007")
def test_a_pulse_by_time_the_load_cannot_take_is_invalid() -> None:
    """A load so resistive that compliance allows less than the pulse's current: the session
    runs on at what the load takes (SUP-007), and the pulse says it was not given. The
    load's impedance stays below the open-contact threshold: it is skin, not an open."""
    target = 500
    ohm = DEVICE.compliance_mv * 1000 // (target * 4 // 5)    # 80 % of the current at compliance
    assert ohm < SUP.contact_open_ohm
    (report,) = _session(target, ohm=ohm)
    assert not report.valid and "compliance hold" in report.reason, report
    assert report.delivered_uams < report.nominal_uams * 9 // 10


@pytest.mark.req("RX-009")
@pytest.mark.parametrize("duty, least", [(1000, 3), (700, 5), (500, 6), (300, 10), (100, 30)])
def test_a_pulse_of_less_than_three_uA_on_average_is_refused(duty: int, least: int) -> None:
    """Three of the sensor's whole uA of average current (current x duty), the current
    rounded up: below it a pulse that delivered nothing (a reading of noise) is within its
    slack. The contact sense current is set to 1 uA here, so that this rule speaks alone."""
    sup = replace(SUP, contact_sense_ua=1)
    pulsed = {"waveform": "pulsed", "pulse_hz": 1_000, "duty_permille": duty} if duty < 1000 else {}
    for current, accepted in ((least, True), (least - 1, False)):
        rx = _research(100, Step(PULSE, duration_ms=1_000, current_ua=current), **pulsed)
        if accepted:
            Controller(rx, DEVICE, sup, tick_ms=TICK)
            continue
        with pytest.raises(InvalidSettings) as err:
            Controller(rx, DEVICE, sup, tick_ms=TICK)
        assert [(p.field, p.value, p.allowed) for p in err.value.problems] == [(
            "protocol.step[1].current_ua", current,
            f"at least {least} uA at {duty} permille (an average of 3 uA, three of the "
            "sensor's whole uA): nearer its resolution a pulse that delivered nothing could "
            "not be told from one that did")]


@pytest.mark.req("RX-009", "DOSE-003")
@pytest.mark.parametrize("current, duty, charge", [
    (20, 100, 2 * 50 * TICK),       # 2 uA of average (below 3), 50 ticks of it
    (55, 500, 27 * 50 * TICK),      # 27.5 uA of average (not whole), about 50 ticks of it
])
def test_a_pulse_by_charge_whose_current_cannot_run_is_named_once(current: int, duty: int,
                                                                   charge: int) -> None:
    """The current is what is wrong: the 100-tick rule, judged at a current that cannot run,
    is not added (its charge is short of 100 ticks too)."""
    rx = _research(400, Step(PULSE, charge_uams=charge, current_ua=current),
                   waveform="pulsed", pulse_hz=1_000, duty_permille=duty)
    with pytest.raises(InvalidSettings) as err:
        Controller(rx, DEVICE, SUP, tick_ms=TICK)
    assert [p.field for p in err.value.problems] == ["protocol.step[1].current_ua"]


def _in_own_pulse(**fields: object) -> tuple[Controller, Load]:
    """A research session whose first pulse has a current of its own (60 uA; the target,
    100 uA, is the next pulse's), run into that pulse."""
    rx = _research(100, Step(PULSE, duration_ms=5_000, current_ua=60), Step(GAP, duration_ms=1_000),
                   Step(PULSE, duration_ms=1_000), **fields)
    ctl = Controller(rx, DEVICE, SUP, tick_ms=TICK)
    load = Load()
    run(ctl, load, 1)
    assert ctl.start().accepted
    run(ctl, load, 50)
    assert ctl.setpoint_ua == 60
    return ctl, load


@pytest.mark.req("RX-009", "RX-005")
def test_an_adjustment_in_a_pulse_of_its_own_current_keeps_the_later_pulses_in_range() -> None:
    """The adjustment moves the pulse in force and the steps without a current of their own
    alike: it is refused when either would leave the floor-to-ceiling range (a hostile review
    moved a 60 uA pulse up by 440 uA to the 500 uA ceiling, the next pulse then asked for
    540 uA, was capped at 500 and never began its on-time: a 1 s pulse ran 59 s)."""
    ctl, load = _in_own_pulse(max_ua=400, step_ua=20)
    reply = ctl.adjust(320)
    assert not reply.accepted and ctl.setpoint_ua == 60
    assert reply.reason == ("set-point 380 uA: the steps without a current of their own would "
                            "run at 420 uA; allowed 20 to 400 uA")
    assert ctl.adjust(300).accepted and ctl.setpoint_ua == 360       # base 400: at the ceiling
    later = []
    while not ctl.finished and load.t < 60_000:
        run(ctl, load, 1)
        if len(ctl.pulses) == 1:
            later.append(ctl.setpoint_ua)
    assert ctl.outcome == "completed" and max(later) == 400        # the next pulse: the base
    assert [p.valid for p in ctl.pulses] == [False, True]            # the first was adjusted
    assert ctl.pulses[0].reason.startswith("current adjusted from 60 to 360 uA"), ctl.pulses


@pytest.mark.req("RX-009", "RX-005")
def test_an_adjustment_of_a_pulse_of_its_own_current_below_the_sense_current_is_refused() -> None:
    ctl, load = _in_own_pulse(min_ua=5, step_ua=5)
    reply = ctl.adjust(-55)                  # 60 -> 5 uA for the pulse in force
    assert not reply.accepted and ctl.setpoint_ua == 60
    assert reply.reason == ("set-point 5 uA: invalid pulses on this controller: set-point "
                            f"(pulse 1 in force) = 5: allowed {BELOW}")
    assert ctl.adjust(-50).accepted and ctl.setpoint_ua == SENSE      # 60 -> 10: at it


def _own_pulse(step: Step, duty: int, **fields: object) -> tuple[Controller, Load]:
    """`step` (a pulse of its own current) then a gap and a pulse at the target (100 uA), at
    `duty`, run into the first pulse."""
    pulsed = {"waveform": "pulsed", "pulse_hz": 1_000, "duty_permille": duty} if duty < 1000 else {}
    rx = _research(100, step, Step(GAP, duration_ms=500), Step(PULSE, duration_ms=1_000),
                   min_ua=5, max_ua=200, step_ua=5, **pulsed, **fields)
    ctl = Controller(rx, DEVICE, SUP, tick_ms=TICK)
    load = Load()
    run(ctl, load, 1)
    assert ctl.start().accepted
    run(ctl, load, 50)
    assert ctl.setpoint_ua == step.current_ua and ctl.state in ("ramp_up", "treat")
    return ctl, load


IN_FORCE = "set-point {ua} uA: invalid pulses on this controller: {what} (pulse 1 in force) = {value}: "


@pytest.mark.req("RX-009", "DOSE-003", "RX-005")
@pytest.mark.parametrize("step, duty, refused, allowed, accepted", [
    # at 10 %, 60 -> 20 uA is above the sense current but averages 2 uA; 30 uA averages 3
    (Step(PULSE, duration_ms=5_000, current_ua=60), 100, -40,
     IN_FORCE.format(ua=20, what="set-point", value=20) + "allowed at least 30 uA at 100 "
     "permille (an average of 3 uA, three of the sensor's whole uA): nearer its resolution a "
     "pulse that delivered nothing could not be told from one that did", -30),
    # at 50 %, 60 -> 55 uA averages 27.5 uA, read rounded: a pulse by charge counted wrong
    (Step(PULSE, charge_uams=300_000, current_ua=60), 500, -5,
     IN_FORCE.format(ua=55, what="set-point", value=55) + "allowed an average (x 500 "
     "permille) of a whole uA (a pulse by charge is counted from the sensor's whole uA)", -10),
    # 60 uA for 250 ticks is 93.75 ticks at 160 uA: it could overshoot by more than 1 %;
    # 125 ticks at 120 uA
    (Step(PULSE, charge_uams=60 * 250 * TICK, current_ua=60), 1000, 100,
     IN_FORCE.format(ua=160, what="charge_uams", value=60 * 250 * TICK) + "allowed at least "
     f"100 ticks of its current ({100 * 160 * TICK} uA*ms at 160 uA and {TICK} ms a tick): a "
     "pulse ends on a tick, so its charge is within 1 % only from there", 60),
])
def test_a_pulse_of_its_own_current_is_asked_every_pulse_rule_when_adjusted(
        step: Step, duty: int, refused: int, allowed: str, accepted: int) -> None:
    """An adjustment in a pulse of its own current moves that pulse: it is asked what the
    same current written in the protocol is asked (a hostile reading of RX-009 found these
    accepted: only the sense current was asked of the pulse in force). Refused, nothing
    changes; the nearest adjustment that keeps the pulse verifiable is accepted."""
    ctl, load = _own_pulse(step, duty)
    reply = ctl.adjust(refused)
    assert not reply.accepted and ctl.setpoint_ua == step.current_ua
    assert reply.reason == allowed
    assert ctl.adjust(accepted).accepted and ctl.setpoint_ua == step.current_ua + accepted


@pytest.mark.req("RX-009", "RX-005")
def test_in_a_gap_only_the_pulses_to_come_are_asked_of_an_adjustment() -> None:
    """After a pulse of its own current (60 uA) the set-point shown is still 60 uA in the
    gap, but no pulse runs at it: -55 takes the pulses without their own current to 45 uA,
    accepted, and the next pulse runs at 45 uA (it was refused on the shown 5 uA)."""
    ctl, load = _own_pulse(Step(PULSE, duration_ms=500, current_ua=60), 1000)
    while not (ctl.state == "pulse_gap" and ctl.command.setpoint_ua == 0):
        run(ctl, load, 1)
        assert load.t < 10_000
    assert ctl.setpoint_ua == 60 and ctl.adjust(-55).accepted
    later = []
    while not ctl.finished and load.t < 60_000:
        run(ctl, load, 1)
        later.append(ctl.command.setpoint_ua)
    assert ctl.outcome == "completed" and max(later) == 45, max(later)


@pytest.mark.req("RX-009", "RX-001")
def test_every_pulse_that_could_not_be_verified_is_named() -> None:
    """Each refused step is named, not only the first (the check goes on after a refusal)."""
    sup = replace(SUP, contact_sense_ua=20)
    rx = _research(100, Step(PULSE, duration_ms=1_000, current_ua=15), Step(GAP, duration_ms=100),
                   Step(PULSE, duration_ms=1_000, current_ua=19), Step(GAP, duration_ms=100),
                   Step(PULSE, duration_ms=1_000, current_ua=20),
                   waveform="pulsed", pulse_hz=1_000, duty_permille=100)
    with pytest.raises(InvalidSettings) as err:
        Controller(rx, DEVICE, sup, tick_ms=TICK)
    # 15 and 19 uA are below the sense current; 20 uA is at it but averages 2 uA at 10 %
    assert [(p.field, p.value) for p in err.value.problems] == [
        ("protocol.step[1].current_ua", 15), ("protocol.step[3].current_ua", 19),
        ("protocol.step[5].current_ua", 20)]
    rx = replace(rx, protocol=Protocol((Step(PULSE, duration_ms=1_000, current_ua=20),
                                        Step(GAP, duration_ms=100),
                                        Step(PULSE, duration_ms=1_000, current_ua=29))))
    with pytest.raises(InvalidSettings) as err:
        Controller(rx, DEVICE, sup, tick_ms=TICK)
    assert [(p.field, p.value) for p in err.value.problems] == [
        ("protocol.step[1].current_ua", 20), ("protocol.step[3].current_ua", 29)]


@pytest.mark.req("RX-009")
def test_the_slack_of_a_later_pulse_spans_its_own_time() -> None:
    """A pulse after a 5 s baseline, closed 1,200 ms after it began: its slack counts the
    sensor's 1 uA over those 1,200 ms (not over the session's time)."""
    plan = Plan(Protocol((Step(BASELINE, duration_ms=5_000), Step(PULSE, duration_ms=1_000))),
                slew_ua_per_s=1_000, duty_permille=1_000, tick_ms=TICK)
    plan.begin(1, 0, 100)
    assert plan.rest_done(5_000)
    plan.next(2, 5_000, 100)
    nominal = 100 * 1_000 + 100 * 100
    slack = nominal * 5 // 100 + 1_200 + 2 * TICK * 100
    assert plan.pulse_done(100_000, 1_000)
    plan.count(nominal - slack - 1, plan.tick_ms)
    plan.next(3, 6_100, 100)
    (report,) = plan.quiet(6_200)
    assert isinstance(report, PulseReport) and not report.valid
    assert f"off by more than {slack} uA*ms" in report.reason


@pytest.mark.req("SUP-005", "RX-009")
@pytest.mark.parametrize("on_interrupt", ["end", "repeat"])
@pytest.mark.parametrize("lift_ms", [1_250, 1_450])
def test_a_short_lift_in_one_pulse_does_not_pause_the_next(on_interrupt: str,
                                                            lift_ms: int) -> None:
    """One sample lifted in pulse 1 (shorter than the contact-loss debounce), in its on-time
    (300 to 1300 ms) or its ramp down (at about 50 uA: at compliance the command follows the
    collapsed current to zero), contact present on every sample after it: pulse 2 (its ramp
    starting below the sense current, 3.3 uA a tick) runs and is valid, with no pause. Two
    hostile reviews saw pulse 2 "interrupted: contact loss" on its first tick and the
    session stopped."""
    steps = (Step(PULSE, duration_ms=1_000), Step(GAP, duration_ms=300),
             Step(PULSE, duration_ms=1_000))
    rx = replace(_research(100, *steps), ramp_ms=300, protocol=Protocol(steps, on_interrupt))
    ctl = _lifted(rx, lambda ms: ms == lift_ms)
    assert ctl.outcome == "completed" and ctl.pauses == 0, ctl.end_reason
    assert len(ctl.pulses) == 2 and ctl.pulses[1].valid, ctl.pulses


@pytest.mark.req("SUP-005", "SUP-007", "RX-009")
def test_a_lift_is_found_on_a_ramp_whose_tracking_floor_is_below_the_sense_current() -> None:
    """A 50 uA pulse (limit 50 uA: a tracking floor of 5 uA) ramping at 0.5 uA a tick, the
    electrodes lifted from the start: at 6-9 uA the current (0) is short of the command by
    more than the floor at compliance, where contact is not yet judged. A compliance hold
    there kept the command below the sense current for the whole pulse, the lift never
    found (a hostile review: 'completed', 1,060 of 150,000 uA*ms, no pause). Now the ramp
    reaches the sense current and the contact is found open within the debounce."""
    rx = replace(_research(50, Step(PULSE, duration_ms=2_000), Step(GAP, duration_ms=500),
                           max_ua=50), ramp_ms=1_000)
    assert rx.slew_ua_per_s * TICK < SENSE * 1000     # below the sense current for ticks
    ctl = _lifted(rx, lambda ms: True)
    (pulse,) = ctl.pulses
    assert ctl.outcome == "stopped" and not pulse.valid and pulse.reason == "contact loss"
    # the command reached the sense current, then the debounce: nothing more
    assert pulse.end_ms <= (SENSE * 1000 // rx.slew_ua_per_s + SUP.contact_loss_debounce_ms
                            + 2 * TICK), pulse
    # DOSE-001: at compliance below the sense current (a lift, or 6 MOhm and more) is no
    # treatment: only the ticks whose command was below 1 uA (nothing commanded) count
    below_one_ua = -(-1000 // (rx.slew_ua_per_s * TICK))
    assert ctl.treatment_ms <= below_one_ua * TICK, ctl.treatment_ms


@pytest.mark.req("SUP-005", "RX-009")
def test_a_lift_in_a_pulses_ramp_down_takes_the_current_to_zero() -> None:
    """No pause in a pulse's ramp down (its gap): the command follows the collapsed current
    to zero (it is not kept at the sense current to judge the contact there), the gap runs
    its time, and the next pulse's ramp finds the lift."""
    steps = (Step(PULSE, duration_ms=1_000), Step(GAP, duration_ms=300),
             Step(PULSE, duration_ms=1_000))
    rx = replace(_research(100, *steps), ramp_ms=300)
    ctl = _lifted(rx, lambda ms: ms >= 1_450)     # from pulse 1's ramp down (about 50 uA)
    first, second = ctl.pulses
    assert first.end_ms <= 1_450 + 3 * TICK, first   # back at zero at once: closed
    assert ctl.outcome == "stopped" and second.reason == "contact loss", ctl.pulses


@pytest.mark.req("RX-011", "DOSE-003", "RX-005")
def test_an_adjustment_that_makes_a_pulse_by_charge_smaller_than_its_ramps_is_refused() -> None:
    """A pulse by charge of exactly its ramps at 100 uA and 20 uA/s (500,000 uA*ms): at
    200 uA its ramps are 2,000,000 uA*ms and it would end on its way up, never at its current
    (a hostile review saw +300 uA accepted, the pulse ending at 100 uA, reported valid).
    Refused as the same step is when written (RX-011); a pulse with room for it accepts."""
    slew = 20
    ramps = {ua: ua * ua * 1000 // slew for ua in (100, 200)}     # current x current / slew
    for charge, accepted in ((ramps[100], False), (ramps[200], True)):
        rx = replace(_research(100, Step(BASELINE, duration_ms=500), Step(PULSE, charge_uams=charge),
                               Step(GAP, duration_ms=500), max_ua=400, step_ua=100),
                     ramp_ms=100 * 1000 // slew)
        ctl = Controller(rx, DEVICE, SUP, tick_ms=TICK)
        reply = ctl.adjust(100)
        assert reply.accepted is accepted, reply
        if not accepted:
            assert reply.reason == (
                f"set-point 200 uA: invalid pulses on this controller: protocol.step[2]."
                f"charge_uams = {charge}: allowed at least the charge of the pulse's ramps up "
                f"and down, {ramps[200]} uA*ms at 200 uA and {slew} uA/s (it would end before "
                "reaching its current)")
            assert ctl.setpoint_ua == 100


class LateLoad:
    """An ideal 2 kOhm load (as the short session's) with samples `dts` ms apart in turn
    (late ticks within the late tolerance: not late by SUP-009, but the slew is capped at the
    nominal tick, so every ramp takes longer in time) and one LSB of noise a sample."""

    def __init__(self, dts: tuple[int, ...]) -> None:
        self.dts, self.n, self.t = dts, 0, 0

    def __call__(self, cmd: Command) -> Sample:
        self.t += self.dts[self.n % len(self.dts)]
        self.n += 1
        amp = abs(cmd.setpoint_ua) if cmd.enabled else 0
        return Sample(self.t, amp * cmd.duty_permille // 1000 + self.n % 2, amp * 2)


@pytest.mark.req("RX-009", "DOSE-003", "SUP-009")
@pytest.mark.parametrize("dts", [(TICK,), (TICK, TICK + 2), (TICK * 3 // 2,), (TICK - 1, TICK + 1),
                                 (TICK // 2, TICK * 3 // 2)])
def test_pulses_on_late_ticks_are_given_and_judged_as_they_ran(dts: tuple[int, ...]) -> None:
    """Ticks up to the late tolerance apart, even or not (10, 10/12, 15, 9/11, 5/15 ms on a
    10 ms tick: the slew is capped at the nominal tick, so uneven ticks stretch a ramp too),
    a 3 s ramp: a pulse by charge ends within 1 % of its charge (its ramp down taken at the
    pulse's mean interval and mean ramp move: assumed 10 ms, it overshot by 2.5 % and 12.6
    %), and a pulse by time, its ramps stretched with the ticks, is valid (judged against
    its ramps at the 10 ms tick, it was reported invalid with 7.6 % and 38 % more charge:
    two hostile reviews)."""
    assert max(dts) <= TICK * (1000 + SUP.late_tolerance_permille) // 1000
    charge = 133_334
    steps = (Step(PULSE, charge_uams=charge), Step(GAP, duration_ms=500),
             Step(PULSE, duration_ms=1_000))
    rx = replace(_research(20, *steps, max_ua=20), ramp_ms=3_000)
    ctl = Controller(rx, DEVICE, SUP, tick_ms=TICK)
    load = LateLoad(dts)
    ctl.step(load(ctl.command))
    assert ctl.start().accepted
    while not ctl.finished and load.t < 120_000:
        ctl.step(load(ctl.command))
    by_charge, by_time = ctl.pulses
    assert ctl.outcome == "completed" and ctl.faults == [], ctl.faults
    assert abs(by_charge.delivered_uams - charge) * 100 <= charge and by_charge.valid, by_charge
    assert by_time.valid, by_time
