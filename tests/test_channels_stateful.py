"""CH-001 to CH-003 under Hypothesis: two channels driven with arbitrary per-channel
samples and requests, every tick checked by

- each channel's own invariant checker (tests/support/invariants.py, from its own
  prescription and the device and supervision limits);
- the device total: the channels' commands never add up beyond total_max_ua;
- isolation, against a shadow: each channel is compared with a lone Controller (same
  prescription, same samples, the same requests). Until the coordinator cuts it, a channel
  commands exactly what its shadow commands, state for state; the coordinator cuts it on
  exactly the tick its sibling's shadow shows a fault of the shared stage (the rule as
  SAFETY.md states it, restated here: a shared fault, or a leak on a sibling that has
  ended in fault, its sensor trusted), and never otherwise.
"""

from __future__ import annotations

import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from channel_rule import SHARED, UNTRUSTED_SENSOR
from invariants import InvariantChecker
from iontocore import (ChannelLimits, Command, Controller, Coordinator, DeviceLimits,
                       Prescription, Sample, SupervisionLimits)
from iontocore.faults import FaultCode

TICK = 10
DEVICE = DeviceLimits()
SUP = SupervisionLimits()
LIMITS = ChannelLimits(total_max_ua=8_000, total_trip_ua=9_000)
RXS = (Prescription(name="a", family="tap-water", target_ua=3_000, ramp_ms=1_500,
                    duration_ms=20_000, max_ua=4_000, site="palms"),
       Prescription(name="b", family="tap-water", target_ua=3_000, ramp_ms=1_500,
                    duration_ms=20_000, max_ua=4_000, site="palms", electrode_a="cathode"))
MODES = ("normal", "normal", "normal", "open", "short", "under", "over", "garbage", "none")


def plant(cmd: Command, mode: str, t: int, k: int) -> Sample | None:
    """A resistive 2 kOhm load following the command, or one of the modes' faults."""
    amp = cmd.setpoint_ua * cmd.duty_permille // 1000 if cmd.enabled else 0
    lsb = (t // TICK + k) % 2   # a live sensor's last bit
    if mode == "none":
        return None
    if mode == "open":
        return Sample(t, lsb, 60_000 if cmd.setpoint_ua >= 0 else -60_000)
    if mode == "short":
        return Sample(t, amp + lsb, amp // 10)
    if mode == "under":
        return Sample(t, amp // 2 + lsb, amp)
    if mode == "over":
        return Sample(t, amp * 3 // 2 + 100 + lsb, 3 * amp)
    if mode == "garbage":
        return Sample(t, 10**9, 0)
    return Sample(t, amp + lsb, 2 * amp)


class TwoChannels(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.ctls = [Controller(rx, DEVICE, SUP, tick_ms=TICK) for rx in RXS]
        self.shadows = [Controller(rx, DEVICE, SUP, tick_ms=TICK) for rx in RXS]
        self.coord = Coordinator(self.ctls, LIMITS)
        self.checks = [InvariantChecker(rx, DEVICE, SUP, TICK) for rx in RXS]
        self.cut = [False, False]   # cut by the coordinator: no longer its shadow's twin
        self.fault_since = [-1, -1]  # when each shadow was first seen in fault
        self.cmds = [Command(0, False)] * 2
        self.t = 1_000

    @initialize()
    def begin(self) -> None:
        self.start()

    # (the shadows are never checked: each is the oracle of its channel's behaviour only)

    def _told(self, name: str, accepted: bool) -> None:
        """The checkers learn each request's outcome (a request between ticks changes the
        state the next interval counts in)."""
        for chk, ctl in zip(self.checks, self.ctls):
            chk.request(name, accepted, ctl.state)

    @rule()
    def start(self) -> None:
        reply = self.coord.start()
        shadow = [s.start() for s in self.shadows]
        if not all(shadow):   # the rule: refused unless every channel accepts; undone
            for s, r in zip(self.shadows, shadow):
                if r.accepted:
                    s.stop()
        assert reply.accepted == all(shadow)
        self._told("start", reply.accepted)

    @rule()
    def stop(self) -> None:
        reply = self.coord.stop()
        for s in self.shadows:
            s.stop()
        self._told("stop", reply.accepted)

    @rule(k=st.sampled_from([0, 1]))
    def stop_one(self, k: int) -> None:
        """A request to one channel's controller directly (the coordinator allows it)."""
        reply = self.ctls[k].stop()
        self.shadows[k].stop()
        self.checks[k].request("stop", reply.accepted, self.ctls[k].state)

    @rule(modes=st.tuples(st.sampled_from(MODES), st.sampled_from(MODES)),
          n=st.integers(1, 200))
    def ticks(self, modes: tuple[str, str], n: int) -> None:
        for _ in range(n):
            samples = [plant(self.cmds[k], modes[k], self.t, k) for k in range(2)]
            before = [len(s.faults) for s in self.shadows]
            cmds = list(self.coord.step(samples))
            shadow_cmds = [s.step(x) for s, x in zip(self.shadows, samples)]
            new_shared = [any(f.code in SHARED for f in s.faults[b:])
                          for s, b in zip(self.shadows, before)]
            for k in range(2):  # the leak watch on a channel in fault (its sensor trusted)
                sh, x = self.shadows[k], samples[k]
                if sh.state != "fault" or x is None or x.current_ua == 10**9:
                    self.fault_since[k] = -1
                    continue
                if self.fault_since[k] < 0:
                    self.fault_since[k] = x.t_ms
                if (x.t_ms - self.fault_since[k] >= SUP.leak_settle_ms
                        and abs(x.current_ua) > DEVICE.zero_tolerance_ua
                        and sh.faults[0].code not in UNTRUSTED_SENSOR):
                    new_shared[k] = True
            for k in range(2):
                ctl, other = self.ctls[k], 1 - k
                if self.cut[k]:
                    assert ctl.state == "fault" or ctl.finished
                elif new_shared[other] and not self.cut[other] and not new_shared[k] \
                        and self.shadows[k].state != "fault":
                    # CH-003: cut on the same tick, the sibling named
                    rec = ctl.faults[-1]
                    assert ctl.state == "fault" and rec.code is FaultCode.DEVICE_FAULT, ctl.faults
                    assert f"channel {other + 1}:" in rec.reason, rec.reason
                    self.cut[k] = True
                    event(f"channel cut by a shared fault (state before: {self.shadows[k].state})")
                else:
                    # CH-002: the twin of its shadow
                    assert cmds[k] == shadow_cmds[k], (k, cmds[k], shadow_cmds[k], ctl.faults)
                    assert ctl.state == self.shadows[k].state, (k, ctl.state, self.shadows[k].state)
            for k in range(2):
                self.checks[k].step(samples[k], cmds[k], self.ctls[k].state,
                                    self.ctls[k].delivered_uams)
            total = sum(abs(c.setpoint_ua) for c in cmds if c.enabled)
            assert total <= LIMITS.total_max_ua, total       # CH-001
            for k in range(2):
                for f in self.shadows[k].faults[before[k]:]:
                    event(f"fault {f.code.value} in {'shared' if f.code in SHARED else 'local'}")
            self.cmds = cmds
            self.t += TICK

    @invariant()
    def no_stray_device_faults(self) -> None:
        """A channel never holds a coordinator cut the rule did not call for."""
        for k in range(2):
            if not self.cut[k]:
                assert not any(f.code is FaultCode.DEVICE_FAULT for f in self.ctls[k].faults)


TwoChannels.TestCase.settings = settings(max_examples=150, stateful_step_count=30,
                                         deadline=None)
TestTwoChannels = pytest.mark.req("CH-001", "CH-002", "CH-003")(TwoChannels.TestCase)
