"""The simulated device: physics, determinism, injections and its watchdog (HAL-002)."""

from __future__ import annotations

import pytest

from iontocore import Command
from iontocore.hal import Hal
from iontocore.hal.sim import INJECTIONS, Injection, SimConfig, SimulatedDevice, parse_injection

QUIET = dict(noise_ua=0.0, noise_permille=0.0, noise_mv=0.0, noise_v_permille=0.0)


def settle(sim: SimulatedDevice, cmd: Command, ticks: int = 200):  # type: ignore[no-untyped-def]
    sample = None
    for _ in range(ticks):
        sample = sim.read()
        sim.apply(cmd)
    return sample


def test_is_a_hal() -> None:
    assert isinstance(SimulatedDevice(), Hal)


def test_steady_state_follows_ohms_law() -> None:
    sim = SimulatedDevice(SimConfig(body_ohm=2000, **QUIET))  # type: ignore[arg-type]
    s = settle(sim, Command(10_000, True))
    assert s.current_ua == 10_000 and s.voltage_mv == pytest.approx(20_000, abs=2)
    s = settle(sim, Command(-5_000, True))
    assert s.current_ua == -5_000 and s.voltage_mv == pytest.approx(-10_000, abs=2)


def test_compliance_limits_the_current() -> None:
    sim = SimulatedDevice(SimConfig(body_ohm=10_000, compliance_mv=60_000, **QUIET))  # type: ignore[arg-type]
    s = settle(sim, Command(15_000, True))
    assert s.voltage_mv == 60_000 and s.current_ua == pytest.approx(6_000, abs=5)


def test_skin_capacitance_delays_the_voltage() -> None:
    sim = SimulatedDevice(SimConfig(body_ohm=2000, skin_capacitance_uf=10, **QUIET))  # type: ignore[arg-type]
    sim.read()
    sim.apply(Command(10_000, True))
    first = sim.read()
    assert first.current_ua == 10_000
    assert 5_000 < first.voltage_mv < 20_000  # series drop plus a partly charged capacitor


def test_contact_loss_opens_the_load() -> None:
    sim = SimulatedDevice(SimConfig(injections=[Injection("contact-loss", 1_000, 500)], **QUIET))  # type: ignore[arg-type]
    s = settle(sim, Command(10_000, True), 120)
    assert s.t_ms == 1_190 and s.current_ua == 0 and s.voltage_mv == 60_000
    s = settle(sim, Command(10_000, True), 100)
    assert s.current_ua == 10_000


def test_same_seed_same_noise() -> None:
    def run(seed: int) -> list[object]:
        sim = SimulatedDevice(SimConfig(seed=seed))
        return [settle(sim, Command(1_000, True), 1) for _ in range(50)]

    assert run(1) == run(1) and run(1) != run(2)


@pytest.mark.req("HAL-002")
def test_watchdog_turns_the_output_off_and_keeps_it_off() -> None:
    sim = SimulatedDevice(SimConfig(watchdog_ms=100, **QUIET))  # type: ignore[arg-type]
    settle(sim, Command(5_000, True), 50)
    for _ in range(15):  # the host stops sending commands: 150 ms
        s = sim.read()
    assert sim.watchdog_tripped and s.current_ua == 0
    sim.apply(Command(5_000, True))  # a late "on" command does not re-enable the output
    assert settle(sim, Command(5_000, True), 5).current_ua == 0
    sim.apply(Command(0, False))      # only an OFF command re-arms it
    assert settle(sim, Command(5_000, True), 5).current_ua == 5_000


def test_hardware_trip_latches() -> None:
    sim = SimulatedDevice(SimConfig(hw_trip_ua=35_000, injections=[Injection("overcurrent", 0)], **QUIET))  # type: ignore[arg-type]
    s = settle(sim, Command(30_000, True), 10)
    assert sim.hw_tripped and s.current_ua == 0
    sim.reset_trip()
    assert not sim.hw_tripped


@pytest.mark.parametrize("kind", sorted(INJECTIONS))
def test_every_injection_parses(kind: str) -> None:
    inj = parse_injection(f"{kind}@12.5:3")
    assert (inj.kind, inj.at_ms, inj.duration_ms) == (kind, 12_500, 3_000)
    assert parse_injection(f"{kind}@7").duration_ms is None


@pytest.mark.parametrize("text", ["nope@1", "contact-loss", "contact-loss@x", "contact-loss@-1",
                                  "contact-loss@1:0", "contact-loss@inf", "contact-loss@1:1e400",
                                  "contact-loss@nan"])
def test_bad_injections_are_rejected_naming_them(text: str) -> None:
    with pytest.raises(ValueError, match="--inject"):
        parse_injection(text)
