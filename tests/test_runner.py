"""The runner: the output is cut on every way out; a stop request ramps down (HAL-001)."""

from __future__ import annotations

import pytest

from invariants import max_step_ua
from iontocore import DeviceLimits, SupervisionLimits, Command, Controller, Sample, profiles
from iontocore.hal.sim import Injection, SimConfig, SimulatedDevice
from iontocore.shell.runner import Adjustment, Runner

PALMS = profiles.load("hyperhidrosis-palms")
STEP = max_step_ua(PALMS, DeviceLimits(), 10)  # the oracle's, from the prescription and device


class SpyHal(SimulatedDevice):
    def __init__(self, fail_at: int | None = None) -> None:
        super().__init__(SimConfig(tick_ms=10))
        self.cuts = 0
        self.applied: list[Command] = []
        self.fail_at = fail_at

    def read(self) -> Sample | None:
        if self.fail_at is not None and len(self.applied) >= self.fail_at:
            raise OSError("link broke")
        return super().read()

    def apply(self, command: Command) -> None:
        self.applied.append(command)
        super().apply(command)

    def cut(self) -> None:
        self.cuts += 1
        super().cut()


@pytest.mark.req("HAL-001")
def test_output_cut_after_a_completed_session() -> None:
    hal = SpyHal()
    Runner(Controller(PALMS), hal).run()
    assert hal.cuts == 1 and hal.applied[-1] == Command(0, False)


@pytest.mark.req("HAL-001", "LINK-005")
def test_output_cut_when_the_hal_raises() -> None:
    """The HAL raising (the link broke) is a link fault with its reason, not a traceback
    (issue 10): the session ends as a fault, the output cut."""
    hal = SpyHal(fail_at=500)
    ctl = Controller(PALMS)
    Runner(ctl, hal).run()
    assert hal.cuts == 1 and hal.true_ua == 0
    assert ctl.outcome == "fault" and ctl.faults[-1].code.value == "link_lost"
    assert ctl.faults[-1].reason == "device link lost on read: link broke"


@pytest.mark.req("HAL-001")
def test_output_cut_on_fault() -> None:
    hal = SpyHal()
    ctl = Controller(PALMS)
    hal.cfg.injections.append(Injection("short", 5_000))
    Runner(ctl, hal).run()
    assert ctl.state == "fault" and hal.cuts == 1


@pytest.mark.req("HAL-001", "CTL-006")
def test_stop_request_ramps_down_instead_of_cutting() -> None:
    hal = SpyHal()
    ctl = Controller(PALMS)
    runner = Runner(ctl, hal)

    def progress(c: Controller, s: Sample | None) -> None:
        if c.tick == 2_000:
            runner.request_stop()  # what the SIGINT handler does

    runner.progress, runner.progress_every = progress, 1
    result = runner.run()
    assert result.interrupted and ctl.outcome == "stopped"
    ramp = [abs(c.setpoint_ua) for c in hal.applied[2_000:]]
    assert ramp[0] > 9_000 and ramp[-1] == 0
    assert all(0 <= a - b <= STEP for a, b in zip(ramp, ramp[1:]))
    assert len(ramp) > 1_800  # about 20 s of ramp at 10 ms ticks, not a cut


def test_realtime_pacing_sleeps_to_the_tick() -> None:
    now = [0.0]
    sleeps: list[float] = []

    def sleep(s: float) -> None:
        sleeps.append(s)
        now[0] += s

    def clock() -> float:
        now[0] += 0.001  # each tick costs 1 ms of work
        return now[0]

    ctl = Controller(PALMS)
    runner = Runner(ctl, SpyHal(), realtime=True, clock=clock, sleep=sleep)
    runner.progress, runner.progress_every = (lambda c, s: runner.request_stop() if c.tick == 50 else None), 1
    runner.run()
    assert len(sleeps) > 50
    assert all(s == pytest.approx(0.009, abs=1e-6) for s in sleeps[5:50])


def test_scheduled_patient_adjustments_are_applied_and_reported() -> None:
    ctl = Controller(PALMS)
    result = Runner(ctl, SpyHal(), adjustments=[Adjustment(60_000, 2_000), Adjustment(120_000, 9_000),
                                               Adjustment(180_000, -1_500)]).run()
    assert [a["accepted"] for a in result.adjustments] == [True, False, False]
    assert "allowed 2000 to 20000 uA" in str(result.adjustments[1]["reason"])
    assert "multiple of the step" in str(result.adjustments[2]["reason"])
    assert ctl.setpoint_ua == 17_000


def test_the_runner_and_the_link_log_through_the_standard_logging_module(
        caplog: pytest.LogCaptureFixture) -> None:
    import logging

    caplog.set_level(logging.INFO, logger="iontocore")
    ctl = Controller(PALMS)
    sim = SimulatedDevice(SimConfig(tick_ms=10, injections=[Injection("overcurrent", 60_000)]))
    Runner(ctl, sim).run()
    messages = [(r.name, r.levelname, r.getMessage()) for r in caplog.records]
    assert ("iontocore.shell.runner", "INFO", "session started: hyperhidrosis-palms (tap-water), "
            "tick 10 ms") in messages
    assert any(n == "iontocore.shell.runner" and m.startswith("session ended: fault")
               for n, _, m in messages), messages


@pytest.mark.req("SUP-012")
def test_a_second_interrupt_escalates_to_an_emergency_stop() -> None:
    """What the CLI's Ctrl-C handler does: the first asks for a ramp-down, the second for an
    emergency stop, carried out before the next step (never inside one)."""
    from iontocore.faults import FaultCode

    ctl = Controller(PALMS)
    runner = Runner(ctl, SimulatedDevice(SimConfig(tick_ms=10)))

    def progress(c: Controller, s: Sample | None) -> None:
        if c.tick == 2_000:
            runner.request_stop()
        if c.tick == 2_100:
            assert c.state == "ramp_down" and c.command.setpoint_ua != 0
            runner.request_emergency_stop()

    runner.progress, runner.progress_every = progress, 1
    result = runner.run()
    assert result.interrupted and ctl.state == "fault"
    # carried out before the next step: recorded against the last tick, nothing stepped after it
    assert ctl.faults[-1].code is FaultCode.EMERGENCY_STOP and ctl.faults[-1].tick == 2_100


def test_the_live_line_counts_down_through_the_ramp_down() -> None:
    from iontocore.shell.progress import status, time_left_ms

    ctl = Controller(PALMS)
    seen: list[tuple[str, int, str]] = []

    def progress(c: Controller, s: Sample | None) -> None:
        if c.state in ("treat", "ramp_down") and c.tick % 500 == 0:
            seen.append((c.state, time_left_ms(c), status(c, s)))

    runner = Runner(ctl, SimulatedDevice(SimConfig(tick_ms=10)), progress=progress,
                    progress_every_ms=10)
    runner.run()
    down = [left for state, left, _ in seen if state == "ramp_down"]
    assert len(down) >= 4 and all(a > b for a, b in zip(down, down[1:]))   # not frozen
    assert down[0] <= 30_000 and "ramping down, about 00:" in seen[-1][2]
    treat = [left for state, left, _ in seen if state == "treat"]
    assert treat[0] > treat[-1] > down[0]  # the ramp-down is part of the estimate
