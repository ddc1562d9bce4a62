"""SUP-019 / SUP-020 at the unit: the SupplyMonitor alone, against a judge written here from
the rule (a reading below supply_min_mv is a lost supply; a missing, unreadable or
implausible one, or one below the stop level, is a low supply; each through its own
persistence, judged on every reading while the output is on, lost first; nothing judged
while it is off) and against the exact words a clinician reads in the fault and the start
refusal. Sequences start at time 0, where a lazily skipped update once went unnoticed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iontocore.faults import FaultCode
from iontocore.supervision import SupervisionLimits
from iontocore.supply import SUPPLY_UNREADABLE, SupplyMonitor

TICK = 10
SUP = SupervisionLimits()
MIN, MAX, STOP = 6_000, 9_000, 6_600   # 6000 mV raised by the default 10 %: 6600 mV


def monitor() -> SupplyMonitor:
    return SupplyMonitor(MIN, MAX, SUP.supply_margin_permille,
                         SUP.persistence(SUP.supply_debounce_ms, TICK),
                         SUP.persistence(SUP.supply_debounce_ms, TICK))


class Judge:
    """The rule, restated: both conditions updated on every reading while the output is on."""

    def __init__(self) -> None:
        self.low = SUP.persistence(SUP.supply_debounce_ms, TICK)
        self.lost = SUP.persistence(SUP.supply_debounce_ms, TICK)

    def update(self, t: int, reading: int | None, enabled: bool) -> FaultCode | None:
        if not enabled:
            self.low, self.lost = (SUP.persistence(SUP.supply_debounce_ms, TICK),
                                   SUP.persistence(SUP.supply_debounce_ms, TICK))
            return None
        lost = reading is not None and reading != SUPPLY_UNREADABLE and reading < MIN
        bad = reading is None or reading == SUPPLY_UNREADABLE or reading > MAX or reading < STOP
        if self.lost.update(lost, t):
            return FaultCode.SUPPLY_LOST
        if self.low.update(bad, t):
            return FaultCode.SUPPLY_LOW
        return None


READINGS = st.sampled_from([None, SUPPLY_UNREADABLE, 0, MIN - 1, MIN, STOP - 1, STOP, 7_400,
                            MAX, MAX + 1])


@pytest.mark.req("SUP-019", "SUP-020", "SUP-021")
@given(st.lists(st.tuples(READINGS, st.integers(1, 3), st.sampled_from([True, True, True, False])),
                max_size=60),
       st.sampled_from([0, 1_000]))
def test_the_monitor_decides_as_the_rule_on_every_reading(steps: list[tuple[int | None, int, bool]],
                                                         t0: int) -> None:
    m, judge, t = monitor(), Judge(), t0
    for reading, ticks, enabled in steps:
        assert m.update(t, reading, enabled) == judge.update(t, reading, enabled), (t, reading)
        t += ticks * TICK


def test_a_dip_on_the_first_sample_at_time_zero_is_forgotten_once_the_supply_is_good() -> None:
    m = monitor()
    assert m.update(0, MIN - 1, True) is None
    for k in range(1, 200):
        assert m.update(k * TICK, 7_400, True) is None
    assert m.update(200 * TICK, MIN - 1, True) is None   # one dip again: not a lost supply


@pytest.mark.parametrize("reading, code, detail", [
    (MIN - 1, FaultCode.SUPPLY_LOST,
     "supply 5999 mV below 6000 mV, the lowest at which the output can follow its command"),
    (STOP - 1, FaultCode.SUPPLY_LOW,
     "supply 6599 mV below the stop level 6600 mV (supply_min_mv 6000 mV plus the margin)"),
    (None, FaultCode.SUPPLY_LOW,
     "supply not reported, though the device monitors it (supply_min_mv 6000 mV)"),
    (SUPPLY_UNREADABLE, FaultCode.SUPPLY_LOW, "supply reading unreadable (not an integer)"),
    (MAX + 1, FaultCode.SUPPLY_LOW, "supply reading 9001 mV implausible (allowed up to 9000 mV)"),
])
def test_each_supply_fault_says_what_was_read_and_the_level_it_broke(
        reading: int | None, code: FaultCode, detail: str) -> None:
    m = monitor()
    assert m.detail == "" and m.start_refusal() == ""
    got = [m.update(k * TICK, reading, True) for k in range(SUP.supply_debounce_ms // TICK + 1)]
    assert got[-1] is code and not any(got[:-1])
    assert m.detail == detail
    if code is FaultCode.SUPPLY_LOW:  # the same words refuse a start
        assert m.start_refusal() == detail
    m.update(9_999, 7_400, False)
    assert m.start_refusal() == ""


def test_a_reading_while_off_is_remembered_for_the_start_refusal_only() -> None:
    m = monitor()
    assert m.update(0, STOP - 1, False) is None and m.last_mv == STOP - 1
    assert m.start_refusal().startswith("supply 6599 mV below the stop level")


@pytest.mark.req("SUP-019", "SUP-020")
@pytest.mark.parametrize("reading, code", [
    (STOP, None), (MAX, None),               # exactly at the stop level, at the sensor's top
    (MIN, FaultCode.SUPPLY_LOW),             # at the floor: low (below the stop), not lost
])
def test_a_reading_exactly_at_a_level_held_past_the_debounce(reading: int, code: FaultCode | None) -> None:
    m = monitor()
    got = {m.update(k * TICK, reading, True) for k in range(3 * SUP.supply_debounce_ms // TICK + 3)}
    assert got == {None, code}
