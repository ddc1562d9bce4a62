"""LINK-012: several output channels across the HAL and the wire. The MultiHal interface and
its adapter of N single-channel Hals; the CHANNELS capability with CHANNELS_QUERY /
CHANNELS_INFO and COMMAND_CH / SAMPLE_CH frames; a single-channel device and host speak
exactly today's frames; the multi-channel serial backend against the emulator serving N
channels (lockstep: each COMMAND_CH is one tick of its channel, so no wall-clock
assertion); the device checks and the conformance kit check a multi-channel backend."""

from __future__ import annotations

import pytest

from iontocore import Command
from iontocore.faults import FaultCode
from iontocore.hal import ChannelHals, MultiHal
from iontocore.hal.sim import Injection, SimConfig, SimulatedDevice

pytestmark = pytest.mark.req("LINK-012")


def sims(n: int, **kw: object) -> list[SimulatedDevice]:
    return [SimulatedDevice(SimConfig(tick_ms=10, seed=k, **kw)) for k in range(n)]  # type: ignore[arg-type]


def test_channel_hals_present_n_hals_as_one_multihal_each_with_its_own_command() -> None:
    devs = sims(2)
    multi = ChannelHals(devs)
    assert isinstance(multi, MultiHal) and multi.channels == 2
    for _ in range(200):
        multi.apply([Command(2_000, True), Command(0, False)])
        got = multi.read()
    assert len(got) == 2 and got[0] is not None and got[1] is not None
    assert abs(got[0].current_ua - 2_000) < 100 and abs(got[1].current_ua) < 20
    with pytest.raises(ValueError, match=r"commands = 1: allowed exactly 2"):
        multi.apply([Command(0, False)])
    multi.cut()
    assert all(abs(s.current_ua) < 20 for s in multi.read() if s is not None)


class CutRaises(SimulatedDevice):
    def cut(self) -> None:
        raise RuntimeError("broken")

    def fault(self) -> tuple[FaultCode, str] | None:
        return FaultCode.DEVICE_FAULT, "stage says no"


def test_channel_hals_cut_every_channel_when_one_raises_and_name_the_faulty_channel() -> None:
    first, second = CutRaises(SimConfig(tick_ms=10)), SimulatedDevice(SimConfig(tick_ms=10))
    multi = ChannelHals([first, second])
    for _ in range(100):
        multi.apply([Command(1_000, True), Command(1_000, True)])
        multi.read()
    multi.cut()  # never raises; the second channel is still cut
    assert abs(second.read().current_ua) < 20  # type: ignore[union-attr]
    assert multi.fault() == (FaultCode.DEVICE_FAULT, "channel 1: stage says no")
    with pytest.raises(ValueError, match="hals = "):
        ChannelHals([])


# ---- over the wire: the emulator serving N channels, the multi-channel serial backend -----

import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

from iontocore import ChannelLimits, DeviceLimits, profiles  # noqa: E402
from iontocore.hal import protocol as p  # noqa: E402
from iontocore.hal.conformance import ChannelSpec, Violation, channel_checks  # noqa: E402
from iontocore.hal.device_checks import DeviceSpec, device_checks  # noqa: E402
from iontocore.hal.emulator import Emulator  # noqa: E402
from iontocore.hal.serial import DeviceRefused, MultiSerialDevice, SerialDevice  # noqa: E402
from iontocore.shell.channels import run_channels  # noqa: E402
from research_profiles import two_pulses  # noqa: E402

HANG_MS = 2_000   # a read timeout only a real hang reaches
GRACE_MS = 1_000  # as in test_serial: these tests are not about the device watchdog
IONTO = str(Path(sys.executable).parent / "ionto")



class Recording(Emulator):
    """Keeps every byte the host sent and every frame it decoded."""

    def __init__(self, *a: object, **kw: object) -> None:
        super().__init__(*a, **kw)  # type: ignore[arg-type]
        self.received: list[p.Frame] = []
        feed = self.decoder.feed
        self.raw = bytearray()

        def recording(data: bytes) -> list[p.Frame]:
            self.raw += data
            frames = feed(data)
            self.received += frames
            return frames
        self.decoder.feed = recording  # type: ignore[method-assign]


@pytest.fixture
def served() -> Iterator[list[Emulator]]:
    emus: list[Emulator] = []
    yield emus
    for emu in emus:
        emu.stop()


def serve(served: list[Emulator], channels: int = 2, kind: type[Emulator] = Recording,
          **kw: object) -> Emulator:
    emu = kind(SimulatedDevice(SimConfig(tick_ms=10)), channels=channels,  # type: ignore[arg-type]
               watchdog_grace_ms=GRACE_MS, **kw).start()
    served.append(emu)
    return emu


def settle(dev: MultiSerialDevice, commands: list[Command], ticks: int) -> list[Sample | None]:
    got: list[Sample | None] = []
    for _ in range(ticks):
        dev.apply(commands)
        got = dev.read()
    return got


from iontocore.interface import Sample  # noqa: E402


def test_the_emulator_serves_two_channels_each_moved_by_its_own_commands_only(
        served: list[Emulator]) -> None:
    emu = serve(served)
    dev = MultiSerialDevice(emu.port, read_timeout_ms=HANG_MS)
    try:
        assert dev.channels == 2 and dev.identity.capabilities & p.CAP_CHANNELS
        for on in (0, 1):
            cmds = [Command(0, False), Command(0, False)]
            cmds[on] = Command(1_000, True)
            got = settle(dev, cmds, 70)  # 1000 uA at 20 uA per tick, and settling
            assert all(s is not None for s in got) and got[0].t_ms == got[1].t_ms  # type: ignore[union-attr]
            assert abs(got[on].current_ua - 1_000) < 100  # type: ignore[union-attr]
            assert abs(got[1 - on].current_ua) < 20        # type: ignore[union-attr]
            settle(dev, [Command(0, False)] * 2, 3)
        assert dev.fault() is None
        kinds = {f.type for f in emu.received}  # type: ignore[attr-defined]
        assert p.MsgType.COMMAND not in kinds and {p.MsgType.CHANNELS_QUERY, p.MsgType.COMMAND_CH} <= kinds
    finally:
        dev.close()


def drive(dev: SerialDevice | MultiSerialDevice) -> None:
    for k in range(60):
        cmd = Command(1_000 if 10 <= k < 50 else 0, 10 <= k < 50)
        if isinstance(dev, MultiSerialDevice):
            dev.apply([cmd])
            dev.read()
        else:
            dev.apply(cmd)
            dev.read()
    dev.close()


def test_a_single_channel_device_and_host_speak_exactly_todays_bytes(served: list[Emulator]) -> None:
    """The multi-channel backend with a device that does not advertise CHANNELS sends the
    very bytes SerialDevice sends (no CHANNELS_QUERY, no COMMAND_CH), and gets plain SAMPLEs."""
    plain, multi = serve(served, channels=1), serve(served, channels=1)
    drive(SerialDevice(plain.port, read_timeout_ms=HANG_MS))
    dev = MultiSerialDevice(multi.port, read_timeout_ms=HANG_MS)
    assert dev.channels == 1 and not dev.multi
    drive(dev)
    import time
    end = time.monotonic() + 10  # both closed: wait until each emulator has read the last OFF
    while time.monotonic() < end and (len(plain.raw) != len(multi.raw)  # type: ignore[attr-defined]
                                      or not bytes(plain.raw).endswith(p.command(61, 0, False, 1000))):  # type: ignore[attr-defined]
        time.sleep(0.01)
    assert bytes(multi.raw) == bytes(plain.raw) and len(plain.raw) > 60 * 10  # type: ignore[attr-defined]
    assert not {p.MsgType.CHANNELS_QUERY, p.MsgType.COMMAND_CH} & {f.type for f in multi.received}  # type: ignore[attr-defined]


def test_a_single_channel_host_drives_a_multi_channel_device_as_its_channel_1(
        served: list[Emulator]) -> None:
    emu = serve(served)
    dev = SerialDevice(emu.port, read_timeout_ms=HANG_MS)
    try:
        for _ in range(70):
            dev.apply(Command(1_000, True))
            got = dev.read()
        assert got is not None and abs(got.current_ua - 1_000) < 100 and dev.fault() is None
        assert abs(emu.outputs[1].sim.read().current_ua) < 20  # type: ignore[union-attr]
    finally:
        dev.close()


class Swapped(Recording):
    """Answers channel k's COMMAND_CH as channel 3 - k (or, with `shift`, k + shift)."""

    shift = 0

    def _command(self, out, seq, fields, channel):  # type: ignore[no-untyped-def]
        if channel is not None:
            channel = channel + self.shift if self.shift else 3 - channel
        super()._command(out, seq, fields, channel)


class OutOfRange(Swapped):
    shift = 5


class MissesChannel2(Recording):
    def _command(self, out, seq, fields, channel):  # type: ignore[no-untyped-def]
        if channel != 2:
            super()._command(out, seq, fields, channel)


@pytest.mark.parametrize("kind, message", [
    (Swapped, "SAMPLE_CH seq 3: channel = 2: allowed 1 (the channel COMMAND_CH seq 3 addressed"),
    (OutOfRange, "SAMPLE_CH seq 3: channel = 6: allowed 1..2 (the device's channels"),
    (MissesChannel2, "SAMPLE_CH missing for channel 2 within 300 ms while the other channels "
                     "answered: allowed none missing (every one of the device's 2 channels"),
])
def test_a_device_answering_for_the_wrong_channel_or_missing_one_is_a_device_fault(
        served: list[Emulator], kind: type[Emulator], message: str) -> None:
    emu = serve(served, kind=kind)
    dev = MultiSerialDevice(emu.port, read_timeout_ms=300)
    try:
        dev.read()  # the answers to the prime (COMMAND_CH seq 3 and 4)
        found = dev.fault()
        assert found is not None and found[0] is FaultCode.DEVICE_FAULT and message in found[1], found
    finally:
        dev.close()


def test_a_device_reporting_a_channel_count_the_host_cannot_use_is_refused(served: list[Emulator]) -> None:
    class Nine(Recording):
        def _handle(self, frame: p.Frame) -> None:
            if frame.type is p.MsgType.CHANNELS_QUERY:
                self._send(p.encode(p.MsgType.CHANNELS_INFO, frame.seq, 9))
            else:
                super()._handle(frame)

    emu = serve(served, kind=Nine)
    with pytest.raises(DeviceRefused, match=r"channels = 9: allowed 2..8"):
        MultiSerialDevice(emu.port, read_timeout_ms=HANG_MS)
    with pytest.raises(ValueError, match=r"channels = 9: allowed 1 or 2..8"):
        Emulator(SimulatedDevice(SimConfig(tick_ms=10)), channels=9)


def test_the_device_checks_pass_a_two_channel_emulator_and_catch_crossed_channels(
        served: list[Emulator]) -> None:
    good = serve(served, lockstep=True)
    device_checks(DeviceSpec(good.port, watchdog_grace_ms=GRACE_MS))
    from iontocore.hal.device_checks import Wire, check_channels

    bad = serve(served, kind=Swapped)
    wire = Wire(DeviceSpec(bad.port, watchdog_grace_ms=GRACE_MS))
    try:
        with pytest.raises(Violation, match=r"channel = 2: allowed 1 \(the channel its COMMAND_CH"):
            check_channels(wire)
    finally:
        wire.port.close()



def test_the_conformance_kit_checks_multi_channel_backends_and_catches_crossed_ones(
        served: list[Emulator]) -> None:
    channel_checks(ChannelSpec(factory=lambda: ChannelHals(sims(2))))
    emu = serve(served)
    channel_checks(ChannelSpec(factory=lambda: MultiSerialDevice(emu.port, read_timeout_ms=HANG_MS),
                               slew_ua_per_s=2_000, dead_time_ms=500))
    channel_checks(ChannelSpec(factory=lambda: SimulatedDevice(SimConfig(tick_ms=10))))  # one channel

    class CrossedHals(ChannelHals):
        def apply(self, commands):  # type: ignore[no-untyped-def]
            super().apply([commands[0]] * self.channels)

    with pytest.raises(Violation, match=r"channel 2: \d+ uA flow while only channel 1 is commanded on"):
        channel_checks(ChannelSpec(factory=lambda: CrossedHals(sims(2))))


def test_run_channels_over_the_wire_matches_the_in_process_simulators(served: list[Emulator]) -> None:
    device = DeviceLimits()
    rxs = [(f"short-{s}", profiles.parse(two_pulses(f"short-{s}", ua), device))
           for s, ua in (("a", 100), ("b", 50))]
    limits = ChannelLimits(total_max_ua=30_000, total_trip_ua=35_000)
    emu = serve(served)
    dev = MultiSerialDevice(emu.port, read_timeout_ms=HANG_MS)
    try:
        wire = run_channels(rxs, dev.limits(), limits, hal=dev)
    finally:
        dev.close()
    assert wire["device"]["outcomes"] == ["completed", "completed"], wire["device"]
    assert [c["pulses_delivered"] for c in wire["channels"]] == [2, 2]
    charges = [c["delivered_uams"] for c in wire["channels"]]
    assert charges[0] > charges[1] * 19 // 10   # each channel carried its own current
    with pytest.raises(ValueError, match=r"channels = 2 on the device: allowed exactly the 1"):
        run_channels(rxs[:1], device, limits, hal=ChannelHals(sims(2)))


def test_ionto_channels_against_ionto_emulate_with_two_channels(tmp_path: Path) -> None:
    files = []
    for s, ua in (("a", 100), ("b", 50)):
        files.append(tmp_path / f"{s}.toml")
        files[-1].write_text(two_pulses(f"short-{s}", ua))
    port = tmp_path / "dev"
    emu = subprocess.Popen([IONTO, "emulate", "--lockstep", "--channels", "2", "--link", str(port),
                            "--watchdog-grace-ms", str(GRACE_MS)],  # a loaded machine: no hang
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert emu.stdout is not None and emu.stdout.readline().strip() == str(port)
        out = subprocess.run([IONTO, "channels", "--profile", str(files[0]), "--profile",
                              str(files[1]), "--device", f"serial:{port}", "--json"],
                             capture_output=True, text=True, timeout=120)
        three = subprocess.run([IONTO, "channels", "--profile", str(files[0]), "--device",
                                f"serial:{port}"], capture_output=True, text=True, timeout=60)
    finally:
        emu.terminate()
        _, err = emu.communicate(timeout=10)
    info = json.loads(out.stdout.splitlines()[-1])
    assert out.returncode == 0, out.stderr
    assert info["device"]["outcomes"] == ["completed", "completed"] and info["device"]["faults"] == []
    assert three.returncode == 2
    assert "--profile given 1 time(s): allowed exactly the device's 2 channel(s)" in three.stderr
    assert "served" in err


class PlainToAll(Emulator):
    """A non-conforming device: a plain COMMAND drives every channel (it is channel 1's)."""

    def _handle(self, frame: p.Frame) -> None:
        if frame.type is p.MsgType.COMMAND:
            import time

            for out in self.outputs[1:]:
                setpoint, enabled, duty = frame.fields
                if out.rules.command(frame.seq, setpoint, enabled, duty, out.sim.t_ms) == "applied":
                    out.last_command = time.monotonic()
                if self.lockstep:
                    self._advance(out)
        super()._handle(frame)


class NoWatchdogOnChannel2(Emulator):
    """A non-conforming device: channels 2..N have no watchdog of their own."""

    def _watchdog(self, out, now):  # type: ignore[no-untyped-def]
        if out is self.outputs[0]:
            super()._watchdog(out, now)


@pytest.mark.req("LINK-012")
@pytest.mark.parametrize("kind, match", [
    (PlainToAll, r"channel 2: \d+ uA after plain COMMANDs only"),
    (NoWatchdogOnChannel2, r"channel 2: \d+ uA after \d+ ms without a COMMAND_CH for it"),
])
def test_the_device_checks_catch_a_plain_command_driving_every_channel_and_a_missing_watchdog(
        served: list[Emulator], kind: type[Emulator], match: str) -> None:
    """Review: both devices passed the device checks; a single-channel host drove channel 2
    unseen, and a hung host left channel 2 on."""
    from iontocore.hal.device_checks import Wire, check_channels

    bad = serve(served, kind=kind)
    wire = Wire(DeviceSpec(bad.port, watchdog_grace_ms=GRACE_MS))
    try:
        with pytest.raises(Violation, match=match):
            check_channels(wire)
    finally:
        wire.port.close()
