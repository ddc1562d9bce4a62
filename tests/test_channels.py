"""CH-001 to CH-003: several channels on one device (core/coordinator.py).

The oracles here come from the rule as stated (SAFETY.md, specs/requirements.toml): which
faults are shared is read from the fault catalogue's requirement text in the test's own
table, not from the coordinator's; the total current is judged against the device-wide
limit from the channels' prescriptions and the device limits; each channel is checked by
its own independent invariant checker.
"""

from __future__ import annotations

import dataclasses

import pytest

from channel_rule import LOCAL, SHARED
from invariants import InvariantChecker
from iontocore import Command, Controller, DeviceLimits, InvalidSettings, Prescription, SupervisionLimits
from iontocore.coordinator import ChannelLimits, Coordinator
from iontocore.events import Reply
from iontocore.faults import FaultCode
from iontocore.hal.sim import (INJECTIONS, SIM_BATTERY_MV, SUPPLY_KINDS, SimConfig, SimulatedDevice,
                               battery_device, parse_injection)

TICK = 10
SUP = SupervisionLimits()
LIMITS = ChannelLimits(total_max_ua=12_000, total_trip_ua=13_000)



def tap(target_ua: int = 5_000, **kw: object) -> Prescription:
    base: dict[str, object] = dict(name="ch", family="tap-water", target_ua=target_ua,
                                   ramp_ms=3_000, duration_ms=60_000, max_ua=6_000, site="palms")
    base.update(kw)
    return Prescription(**base)  # type: ignore[arg-type]


class Rig:
    """Two (or more) channels, each on its own simulated load, one coordinator; every tick
    each channel is checked by its own invariant checker and the total by the device-wide
    limit."""

    def __init__(self, rxs: list[Prescription], inject: list[list[str]] | None = None,
                 device: DeviceLimits | None = None, limits: ChannelLimits = LIMITS) -> None:
        inject = inject or [[] for _ in rxs]
        kinds = {i.split("@")[0] for inj in inject for i in inj}
        self.device = device or (battery_device(DeviceLimits()) if kinds & SUPPLY_KINDS
                                 else DeviceLimits())
        self.ctls = [Controller(rx, self.device, SUP, tick_ms=TICK) for rx in rxs]
        self.coord = Coordinator(self.ctls, limits)
        battery = SIM_BATTERY_MV if self.device.supply_min_mv else None  # one supply for all
        self.sims = [SimulatedDevice(SimConfig(tick_ms=TICK, seed=k, supply_mv=battery, injections=[
            parse_injection(i) for i in inj])) for k, inj in enumerate(inject)]
        self.checks = [InvariantChecker(rx, self.device, SUP, TICK) for rx in rxs]
        self.cmds = [Command(0, False)] * len(rxs)
        self.limits = limits

    def tick(self) -> None:
        for sim, cmd in zip(self.sims, self.cmds):
            sim.apply(cmd)
        samples = [sim.read() for sim in self.sims]
        self.cmds = list(self.coord.step(samples))
        for k, (ctl, chk) in enumerate(zip(self.ctls, self.checks)):
            chk.step(samples[k], self.cmds[k], ctl.state, ctl.delivered_uams)
        total = sum(abs(c.setpoint_ua) for c in self.cmds if c.enabled)
        assert total <= self.limits.total_max_ua, total   # CH-001: the commands never add up

    def run_s(self, seconds: float) -> None:
        for _ in range(int(seconds * 1000) // TICK):
            self.tick()


@pytest.mark.req("CH-001")
def test_channels_whose_limits_add_up_beyond_the_total_are_refused() -> None:
    device = DeviceLimits()
    a, b = Controller(tap(), device, SUP), Controller(tap(max_ua=7_000, target_ua=6_000), device, SUP)
    with pytest.raises(InvalidSettings) as err:
        Coordinator([a, b], LIMITS)
    text = str(err.value)
    assert "effective limits (sum)" in text and "13000" in text and "12000" in text
    assert "channel 1: 6000 uA" in text and "channel 2: 7000 uA" in text
    Coordinator([a, Controller(tap(), device, SUP)], LIMITS)        # 12000: exactly allowed
    with pytest.raises(InvalidSettings, match="total_trip_ua"):
        ChannelLimits(total_max_ua=12_000, total_trip_ua=11_999)
    with pytest.raises(InvalidSettings, match="distinct controllers"):
        Coordinator([a, a], LIMITS)
    with pytest.raises(InvalidSettings, match="same tick"):
        Coordinator([a, Controller(tap(), device, SUP, tick_ms=20)], LIMITS)


@pytest.mark.req("CH-001", "CH-002")
def test_two_channels_run_side_by_side_each_to_its_own_prescription() -> None:
    rig = Rig([tap(4_000), tap(6_000, electrode_a="cathode")])
    assert rig.coord.start().accepted
    for _ in range(100_000):
        rig.tick()
        if rig.coord.finished:
            break
    assert [c.outcome for c in rig.ctls] == ["completed", "completed"]
    assert not rig.coord.faults()
    assert 9_000 < rig.coord.total_peak_ua <= LIMITS.total_trip_ua


@pytest.mark.req("CH-002", "SUP-005")
def test_a_contact_loss_pauses_its_channel_only() -> None:
    rig = Rig([tap(), tap()], inject=[["contact-loss@8:4"], []])
    assert rig.coord.start().accepted
    rig.run_s(9)
    assert [c.state for c in rig.ctls] == ["paused", "treat"]
    t2 = rig.ctls[1].treatment_ms
    rig.run_s(2)
    assert rig.ctls[1].treatment_ms > t2 and rig.ctls[0].state == "paused"
    rig.run_s(20)
    assert rig.ctls[0].state in ("ramp_up", "treat") and rig.ctls[1].state == "treat"
    assert not rig.coord.faults()


def _first_fault(rig: Rig, k: int) -> FaultCode | None:
    return rig.ctls[k].faults[0].code if rig.ctls[k].faults else None


def lone(kind: str, seed: int) -> tuple[FaultCode, int] | None:
    """The first fault (code, time) of the same prescription alone on the bare controller,
    with the same simulated load and injection: what its channel must show (CH-002)."""
    device = battery_device(DeviceLimits()) if kind in SUPPLY_KINDS else DeviceLimits()
    ctl = Controller(tap(), device, SUP, tick_ms=TICK)
    sim = SimulatedDevice(SimConfig(tick_ms=TICK, seed=seed,
                                    supply_mv=SIM_BATTERY_MV if device.supply_min_mv else None,
                                    injections=[parse_injection(f"{kind}@6")]))
    ctl.start()
    cmd = Command(0, False)
    for _ in range(1_200):
        sim.apply(cmd)
        cmd = ctl.step(sim.read())
    return (ctl.faults[0].code, ctl.faults[0].t_ms) if ctl.faults else None


@pytest.mark.req("CH-002", "CH-003")
@pytest.mark.parametrize("channel", [0, 1])
@pytest.mark.parametrize("kind", sorted(set(INJECTIONS) - {"host-crash"}))
def test_a_fault_on_one_channel_ends_the_others_only_when_it_may_be_shared(kind: str,
                                                                         channel: int) -> None:
    """The fault matrix across channels: each injection on each channel with the other
    running. The faulted channel shows exactly what it shows alone (code and time); the
    other ends (device_fault naming the channel) exactly when that fault is one the shared
    stage may cause, and otherwise goes on."""
    inject: list[list[str]] = [[], []]
    inject[channel] = [f"{kind}@6"]
    rig = Rig([tap(), tap()], inject=inject)
    assert rig.coord.start().accepted
    rig.run_s(12)
    other = 1 - channel
    mine = rig.ctls[channel].faults
    assert ((mine[0].code, mine[0].t_ms) if mine else None) == lone(kind, channel), (kind, mine)
    code = mine[0].code if mine else None
    if code is None:           # nothing to end (a pause, a hold), or not detected in time
        assert rig.ctls[other].state == "treat", (kind, rig.ctls[other].faults)
        return
    if code in SHARED:
        assert rig.ctls[other].faults, (kind, code, rig.ctls[other].state)
        rec = rig.ctls[other].faults[0]
        assert rec.code is FaultCode.DEVICE_FAULT and f"channel {channel + 1}: {code.value}" in rec.reason
        assert rig.ctls[other].state == "fault" and not rig.ctls[other].command.enabled
        assert rec.tick == mine[0].tick                # at once: the same tick
    else:
        assert code in LOCAL
        assert not rig.ctls[other].faults and rig.ctls[other].state == "treat", (kind, code)


def test_the_cross_channel_matrix_exercises_both_kinds_of_fault() -> None:
    """The matrix above is only evidence if its injections reach both sides of the rule."""
    seen: set[FaultCode] = set()
    for kind in sorted(set(INJECTIONS) - {"host-crash"}):
        rig = Rig([tap(), tap()], inject=[[f"{kind}@6"], []])
        rig.coord.start()
        rig.run_s(12)
        code = _first_fault(rig, 0)
        if code is not None:
            seen.add(code)
    assert seen & SHARED and seen & LOCAL, seen
    assert {FaultCode.SHORT_CIRCUIT, FaultCode.TRACKING} <= seen & LOCAL
    assert {FaultCode.OVERCURRENT, FaultCode.SUPPLY_LOST} <= seen & SHARED


@pytest.mark.req("CH-001")
def test_a_measured_total_above_the_trip_cuts_every_channel() -> None:
    """Each channel within its own trip (6.6 mA), together above the device's: both cut on
    that tick, before either channel's own (debounced) uncommanded-current monitor."""
    limits = ChannelLimits(total_max_ua=12_000, total_trip_ua=12_500)
    rig = Rig([tap(), tap()], limits=limits)
    assert rig.coord.start().accepted
    rig.run_s(8)
    assert [c.state for c in rig.ctls] == ["treat", "treat"]
    for sim in rig.sims:
        real = sim.read

        def more(real=real):  # type: ignore[no-untyped-def]
            s = real()
            return s if s is None else s._replace(current_ua=s.current_ua + 1_300)
        sim.read = more  # type: ignore[method-assign]
    rig.tick()   # 6.3 mA on each channel: 12.6 mA in all
    for k in range(2):
        assert rig.ctls[k].state == "fault", rig.ctls[k].faults
        rec = rig.ctls[k].faults[0]
        assert rec.code is FaultCode.DEVICE_FAULT and "device total" in rec.reason, rec
    assert rig.coord.total_ua > limits.total_trip_ua


@pytest.mark.req("CH-001")
def test_an_implausible_reading_is_not_a_device_total() -> None:
    """A garbage reading on one channel is that channel's SUP-004 fault, not a device total
    over-current that cuts the other."""
    rig = Rig([tap(), tap()], inject=[["sensor-garbage@6"], []])
    assert rig.coord.start().accepted
    rig.run_s(12)
    assert not any("device total" in r.reason for _, r in rig.coord.faults()), rig.coord.faults()


@pytest.mark.req("CH-002")
@pytest.mark.parametrize("kind", ["sensor-stuck"])
def test_planted_shared_supervision_is_caught(monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    """A planted bug: both channels judged by one supervisor, so each channel's samples
    leak into the other's monitors. The cross-channel matrix must catch it."""
    real = Rig.__init__

    def shared(self: Rig, *a: object, **kw: object) -> None:
        real(self, *a, **kw)  # type: ignore[arg-type]
        self.ctls[1]._sup = self.ctls[0]._sup
    monkeypatch.setattr(Rig, "__init__", shared)
    with pytest.raises(AssertionError):
        test_a_fault_on_one_channel_ends_the_others_only_when_it_may_be_shared(kind, 0)


@pytest.mark.req("CH-002")
def test_planted_all_faults_shared_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    from iontocore import coordinator

    monkeypatch.setattr(coordinator, "SHARED_STAGE", {c: "planted" for c in FaultCode})
    with pytest.raises(AssertionError):
        test_a_fault_on_one_channel_ends_the_others_only_when_it_may_be_shared("short", 0)


@pytest.mark.req("CH-003")
def test_planted_a_shared_fault_treated_as_local_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    from iontocore import coordinator

    shared = dict(coordinator.SHARED_STAGE)
    del shared[FaultCode.SUPPLY_LOST]
    monkeypatch.setattr(coordinator, "SHARED_STAGE", shared)
    with pytest.raises(AssertionError):
        test_a_fault_on_one_channel_ends_the_others_only_when_it_may_be_shared("supply-lost", 1)


@pytest.mark.req("CH-003")
def test_the_rule_table_matches_the_catalogue() -> None:
    from iontocore.coordinator import SHARED_STAGE

    assert set(SHARED_STAGE) == SHARED and all(SHARED_STAGE.values())
    assert LOCAL == {FaultCode.TRACKING, FaultCode.SENSOR_STUCK, FaultCode.IMPLAUSIBLE_SAMPLE,
                     FaultCode.SHORT_CIRCUIT, FaultCode.RELAY_MISMATCH, FaultCode.UNSETTLED,
                     FaultCode.DOSE_LIMIT, FaultCode.IMPEDANCE_FALL}


@pytest.mark.req("CH-001", "CH-002")
def test_one_channel_is_the_single_channel_controller() -> None:
    """A single-channel maker sees no change: one channel through the coordinator commands
    exactly what the bare controller commands."""
    device = DeviceLimits()
    bare, ctl = Controller(tap(), device, SUP), Controller(tap(), device, SUP)
    coord = Coordinator([ctl], dataclasses.replace(LIMITS))
    s1, s2 = SimulatedDevice(SimConfig(seed=3)), SimulatedDevice(SimConfig(seed=3))
    bare.start(), coord.start()
    c1 = c2 = Command(0, False)
    for _ in range(2_000):
        s1.apply(c1), s2.apply(c2)
        c1, (c2,) = bare.step(s1.read()), coord.step([s2.read()])
        assert c1 == c2


# ---- the CLI: `ionto channels` ------------------------------------------------------------

@pytest.mark.req("CH-001", "CH-002")
def test_the_cli_runs_ach_and_snp_on_two_channels(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    import json

    from iontocore.shell import cli

    trace, markers = tmp_path / "t.csv", tmp_path / "m.csv"
    code = cli.main(["channels", "--profile", "acetylcholine-protocol", "--profile",
                     "nitroprusside-protocol", "--fast", "--json", "--trace", str(trace),
                     "--markers", str(markers), "--inject", "1:contact-loss@125:3"])
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 3, out                      # channel 1 stopped: exit status 3
    ch1, ch2 = out["channels"]
    assert (ch1["channel"], ch2["channel"]) == (1, 2)
    # the contact loss in pulse 1 ended channel 1's protocol (on_interrupt = end), only
    assert ch1["outcome"] == "stopped" and "interrupted by contact loss" in ch1["end_reason"]
    assert ch2["outcome"] == "completed" and "5 of 5 pulses" in ch2["end_reason"]
    assert out["device"]["outcomes"] == [ch1["outcome"], ch2["outcome"]]
    import csv

    commands = []
    for k in (1, 2):
        rows = list(csv.DictReader((tmp_path / f"t.ch{k}.csv").open()))
        assert len(rows) > 1000
        commands.append([int(r["command_ua"]) for r in rows])
        assert "pulse 1" in (tmp_path / f"m.ch{k}.csv").read_text()
    assert max(commands[0]) > 0 and min(commands[0]) >= 0     # anodal acetylcholine
    assert min(commands[1]) < 0 and max(commands[1]) <= 0     # cathodal nitroprusside


@pytest.mark.req("CH-001")
def test_the_cli_refuses_channels_beyond_the_device_total(capsys) -> None:  # type: ignore[no-untyped-def]
    from iontocore.shell import cli

    code = cli.main(["channels", "--profile", "hyperhidrosis-palms", "--profile",
                     "hyperhidrosis-soles"])
    err = capsys.readouterr().err
    assert code == 2 and "effective limits (sum) = 45000" in err and "total_max_ua (30000 uA)" in err
    assert cli.main(["channels", "--profile", "hyperhidrosis-palms", "--inject", "3:short@5"]) == 2
    assert "CH from 1 to 1" in capsys.readouterr().err


# ---- found by the hostile review of the coordinator ---------------------------------------

@pytest.mark.req("CH-003", "SUP-010")
def test_a_leak_on_a_channel_that_already_faulted_cuts_every_channel() -> None:
    """Channel 1 ends alone on a tracking fault; later its output leaks with the output off.
    A controller in fault no longer judges its samples: the coordinator must."""
    rig = Rig([tap(), tap()], inject=[["tracking@5"], []])
    assert rig.coord.start().accepted
    rig.run_s(7)
    assert rig.ctls[0].state == "fault" and rig.ctls[1].state == "treat"
    real = rig.sims[0].read

    def leaking():  # type: ignore[no-untyped-def]
        s = real()
        return s if s is None else s._replace(current_ua=200)
    rig.sims[0].read = leaking  # type: ignore[method-assign]
    rig.tick()
    assert rig.ctls[1].state == "fault"
    rec = rig.ctls[1].faults[0]
    assert rec.code is FaultCode.DEVICE_FAULT and "channel 1: leak: 200 uA" in rec.reason, rec


@pytest.mark.req("CH-001")
def test_the_total_reads_integral_floats_and_plain_tuples_like_the_controllers() -> None:
    limits = ChannelLimits(total_max_ua=12_000, total_trip_ua=12_500)
    for convert in (lambda s: s._replace(current_ua=float(s.current_ua + 1_300)),
                    lambda s: tuple(s._replace(current_ua=s.current_ua + 1_300))[:4]):
        rig = Rig([tap(), tap()], limits=limits)
        assert rig.coord.start().accepted
        rig.run_s(8)
        for sim in rig.sims:
            real = sim.read
            sim.read = lambda real=real, convert=convert: convert(real())  # type: ignore[method-assign]
        rig.tick()
        for ctl in rig.ctls:
            assert ctl.state == "fault" and "device total" in ctl.faults[0].reason, ctl.faults


@pytest.mark.req("CH-003", "CTL-005")
def test_a_failing_step_cuts_every_channel_and_never_raises() -> None:
    rig = Rig([tap(), tap()])
    assert rig.coord.start().accepted
    rig.run_s(8)
    cmds = rig.coord.step([rig.sims[0].read()])            # one sample for two channels
    assert cmds == (Command(0, False), Command(0, False))
    for ctl in rig.ctls:
        assert ctl.state == "fault" and "samples: 1 given" in ctl.faults[0].reason
    rig = Rig([tap(), tap()])
    assert rig.coord.start().accepted
    rig.run_s(8)
    rig.coord.channels[1].step = None  # type: ignore[assignment,method-assign]
    cmds = rig.coord.step([sim.read() for sim in rig.sims])
    assert all(not c.enabled for c in cmds)
    assert all(ctl.state == "fault" for ctl in rig.ctls)


@pytest.mark.req("CH-003")
def test_requests_to_the_coordinator_reach_every_channel() -> None:
    device = DeviceLimits()
    a, b = Controller(tap(), device, SUP), Controller(tap(), device, SUP)
    coord = Coordinator([a, b], LIMITS)
    b.emergency_stop()                                   # channel 2 in fault: start refused
    reply = coord.start()
    assert not reply.accepted and reply.reason.startswith("channel 2:")
    assert a.state in ("idle", "ramp_down")             # channel 1 started, then stopped again
    assert coord.emergency_stop().accepted and a.state == b.state == "fault"
    a2, b2 = Controller(tap(), device, SUP), Controller(tap(), device, SUP)
    coord = Coordinator([a2, b2], LIMITS)
    assert coord.report_fault(FaultCode.LINK_LOST, "line gone") == Reply(True, "")
    assert a2.state == b2.state == "fault" and "line gone" in b2.faults[0].reason
    refused = Coordinator([Controller(tap(), device, SUP)], LIMITS).report_fault(FaultCode.TRACKING, "x")
    assert not refused.accepted and "allowed one of" in refused.reason
    with pytest.raises(InvalidSettings, match="total_max_ua"):
        ChannelLimits(total_max_ua=0, total_trip_ua=0)


@pytest.mark.req("CH-003", "CTL-005")
def test_a_step_failing_on_a_channel_already_in_fault_still_returns_off() -> None:
    rig = Rig([tap(), tap()])
    assert rig.coord.start().accepted
    rig.run_s(8)
    rig.ctls[0].emergency_stop()
    rig.ctls[1].step = None  # type: ignore[assignment,method-assign]
    rig.ctls[1].report_fault = None  # type: ignore[assignment,method-assign]
    cmds = rig.coord.step([sim.read() for sim in rig.sims])
    assert cmds == (Command(0, False), Command(0, False))
