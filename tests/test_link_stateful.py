"""A hostile device against the real serial backend, runner and controller (LINK-009): a
Hypothesis state machine plays the device over a real pty, one COMMAND at a time, with
garbage, lies (status, relay, current, time, FAULT codes), silence, reordering,
duplicates and a dying line. The real Runner runs a real-time session in a thread on an
injected clock and hands over at every apply(), so the two sides take strict turns: the
same example always runs the same way.

After every step: nothing escaped the runner; a fault has the output commanded off; and
the output is commanded off no later than the sample deadline (100 ms of the injected
wall time) after the last fresh SAMPLE. At the end: the session ended with a reason."""

from __future__ import annotations

import os
import queue
import threading
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from hostile import (HANG_S, FakeClock, Lockstep, Reply, ScriptedDevice, fault_frame, honest,
                     lying, raw, sample_bytes, silent, then)
from iontocore import Command, Controller, profiles
from iontocore.hal import protocol as p
from iontocore.shell.runner import Runner

OFF = Command(0, False)
FUZZ = os.environ.get("HYPOTHESIS_PROFILE") == "fuzz"
STEP_S = 0.002
"""The injected clock advances this much at every reading."""
SLACK_S = 5 * STEP_S


class Handshake(Lockstep):
    """Lockstep with turns: at each apply() the runner thread posts what it commanded and
    waits for the test to say how the device answers."""

    def __init__(self, dev: Any, device: ScriptedDevice, clock: FakeClock) -> None:
        super().__init__(dev, device)
        self.clock = clock
        self.replies: queue.Queue[Reply] = queue.Queue()
        self.events: queue.Queue[tuple[str, Any, float, float]] = queue.Queue()
        self.last_fresh = clock.now

    def read(self):  # type: ignore[no-untyped-def]
        got = self.dev.read()
        if got is not None:
            self.last_fresh = self.clock.now
        return got

    def apply(self, command: Command) -> None:
        self.dev.apply(command)
        self.events.put(("applied", command, self.clock.now, self.last_fresh))
        reply = self.replies.get(timeout=HANG_S)
        if not self.device.dead:
            self.device.replies = [reply]
            self.device.serve()


def reorder(dev: ScriptedDevice, frame: p.Frame) -> bytes:
    """The previous and the next seq, then nothing for this one."""
    return (sample_bytes(dev, (frame.seq - 1) & 0xFFFF, relay=dev.relay)
            + sample_bytes(dev, p.next_seq(frame.seq), relay=dev.relay))


def die(dev: ScriptedDevice, frame: p.Frame) -> bytes:
    dev.kill_line()
    return b""


class HostileDevice(RuleBasedStateMachine):
    @initialize()
    def connect(self) -> None:
        self.clock = FakeClock(STEP_S)
        self.device = ScriptedDevice()
        self.dev = self.device.connect(clock=self.clock, wall_deadline=True)
        self.hal = Handshake(self.dev, self.device, self.clock)
        self.ctl = Controller(profiles.load("hyperhidrosis-palms", self.dev.limits()), self.dev.limits())
        self.runner = Runner(self.ctl, self.hal, realtime=True, clock=self.clock, sleep=self.clock.sleep)
        self.error: BaseException | None = None
        self.done = False
        self.last: tuple[str, Any, float, float] | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self._next()

    def _run(self) -> None:
        try:
            self.runner.run()
        except BaseException as exc:  # noqa: BLE001 - reported by the invariant
            self.error = exc
        finally:
            self.hal.events.put(("done", None, self.clock.now, self.hal.last_fresh))

    def _next(self) -> None:
        """Wait for the runner's next turn (its next apply, or its end)."""
        self.last = self.hal.events.get(timeout=HANG_S)
        self.done = self.last[0] == "done"

    def answer(self, reply: Reply, times: int = 1) -> None:
        for _ in range(times):
            if self.done:
                return
            self.hal.replies.put(reply)
            self._next()

    # ---- the device's moves ----------------------------------------------------------------

    @precondition(lambda self: not self.done)
    @rule(n=st.integers(1, 40))
    def honest_ticks(self, n: int) -> None:
        self.answer(honest(), n)

    @precondition(lambda self: not self.done)
    @rule(n=st.integers(1, 14))
    def silence(self, n: int) -> None:
        self.answer(silent, n)

    @precondition(lambda self: not self.done)
    @rule(data=st.binary(max_size=80), answer_too=st.booleans())
    def garbage(self, data: bytes, answer_too: bool) -> None:
        self.answer(then(raw(data), honest()) if answer_too else raw(data))

    @precondition(lambda self: not self.done)
    @rule(status=st.one_of(st.sampled_from([p.STATUS_ON | p.STATUS_LIMITED, p.STATUS_ON, 0]),
                           st.integers(0, 255)))
    def lie_status(self, status: int) -> None:
        self.answer(lying(status=status))

    @precondition(lambda self: not self.done)
    @rule(relay=st.integers(-128, 127))
    def lie_relay(self, relay: int) -> None:
        self.answer(lying(relay=relay))

    @precondition(lambda self: not self.done)
    @rule(current=st.one_of(st.integers(-40_000, 40_000), st.integers(-2**31, 2**31 - 1)))
    def lie_current(self, current: int) -> None:
        self.answer(lying(current_ua=current))

    @precondition(lambda self: not self.done)
    @rule(dt=st.one_of(st.integers(-20, 120), st.integers(-2**32, 2**32)))
    def lie_time(self, dt: int) -> None:
        def reply(dev: ScriptedDevice, frame: p.Frame) -> bytes:
            honest()(dev, frame)
            dev.t_ms = (dev.t_ms - 10 + dt) & 0xFFFFFFFF
            return sample_bytes(dev, frame.seq, relay=dev.relay, enabled=bool(frame.fields[1]))
        self.answer(reply)

    @precondition(lambda self: not self.done)
    @rule(code=st.integers(0, 255), seq=st.integers(0, 0xFFFF))
    def fault_report(self, code: int, seq: int) -> None:
        self.answer(then(honest(), fault_frame(code, seq)))

    @precondition(lambda self: not self.done)
    @rule()
    def reordered(self) -> None:
        self.answer(reorder)

    @precondition(lambda self: not self.done)
    @rule()
    def duplicated(self) -> None:
        self.answer(then(honest(), lambda d, f: sample_bytes(d, f.seq, relay=d.relay)))

    @precondition(lambda self: not self.done)
    @rule()
    def line_dies(self) -> None:
        self.answer(die)

    @precondition(lambda self: self.done)
    @rule()
    def session_over(self) -> None:
        """Nothing the device does matters any more."""

    # ---- what must hold ------------------------------------------------------------------

    @invariant()
    def nothing_escaped(self) -> None:
        if getattr(self, "ctl", None) is not None:
            assert self.error is None, repr(self.error)

    @invariant()
    def off_within_the_deadline(self) -> None:
        if self.last is None or self.done:
            return
        _, command, t, last_fresh = self.last
        if self.ctl.state == "fault":
            assert command == OFF, command
        if t - last_fresh > 0.100 + SLACK_S:
            assert command == OFF and self.ctl.state == "fault", (t - last_fresh, command,
                                                                  self.ctl.state)

    def teardown(self) -> None:
        if getattr(self, "thread", None) is None:
            return
        while not self.done:                   # end it: the line dies
            self.answer(die)
        self.thread.join(timeout=HANG_S)
        self.dev.close()
        self.device.close()
        assert self.error is None, repr(self.error)
        ctl = self.ctl
        assert ctl.outcome in ("fault", "completed", "stopped"), (ctl.outcome, ctl.state)
        reason = ctl.faults[-1].reason if ctl.outcome == "fault" else ctl.end_reason
        assert reason, ctl.faults
        assert ctl.command == OFF


@pytest.mark.req("LINK-009", "LINK-005", "LINK-006", "LINK-007")
@pytest.mark.property
def test_a_hostile_device_never_gets_a_traceback_and_never_keeps_the_output_on() -> None:
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(HostileDevice, settings=settings(
        max_examples=2_000 if FUZZ else 150, stateful_step_count=60 if FUZZ else 30, deadline=None,
        suppress_health_check=list(HealthCheck)))
