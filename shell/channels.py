"""`ionto channels`: one session on several simulated channels at once (core/coordinator.py).

Each channel has its own prescription and its own simulated load (seed = the run's seed +
the channel's index); the coordinator steps them on one tick. Per channel: a summary (the
same fields as `ionto run --json`) and, on request, a trace and a marker CSV whose file
names carry the channel number (`trace.csv` -> `trace.ch1.csv`). For the device: the
measured peak total and the faults of every channel.

The channels are a MultiHal (iontocore.hal, LINK-012): N in-process simulators
(`ChannelHals`) by default, or a device over the wire (`MultiSerialDevice`, e.g. `ionto
emulate --channels 2`). Each tick: apply the commands, read one sample per channel, step
the coordinator. A link that fails (an exception from apply or read) or a fault the backend
reports ends every channel (the coordinator's report_fault); the output is cut at the end.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

from iontocore import ChannelLimits, Command, Controller, Coordinator, DeviceLimits, Prescription
from iontocore.faults import FaultCode
from iontocore.hal import ChannelHals, MultiHal
from iontocore.hal.sim import SIM_BATTERY_MV, SimConfig, SimulatedDevice, parse_injection

from .export import MarkerWriter
from .runner import summary
from .trace import TraceWriter


def channel_path(path: str, channel: int) -> str:
    """`trace.csv` -> `trace.ch1.csv` (channel numbers from 1)."""
    p = Path(path)
    return str(p.with_name(f"{p.stem}.ch{channel}{p.suffix}"))


def run_channels(rxs: list[tuple[str, Prescription]], device: DeviceLimits, limits: ChannelLimits,
                 *, tick_ms: int = 10, seed: int = 0, ohm: float = 2000.0,
                 inject: list[tuple[int, str]] | None = None, trace: str | None = None,
                 markers: str | None = None, max_ticks: int = 20_000_000,
                 hal: MultiHal | None = None) -> dict[str, Any]:
    """Run every channel to its end; returns {"channels": [summary...], "device": {...}}.
    `inject`: (channel from 1, 'KIND@SECONDS[:DURATION_S]') for the simulators made when no
    `hal` is given; a given `hal` must have one channel per prescription (it is cut, not
    closed, at the end)."""
    ctls = [Controller(rx, device, tick_ms=tick_ms) for _, rx in rxs]
    coord = Coordinator(ctls, limits)
    if hal is None:
        battery = SIM_BATTERY_MV if device.supply_min_mv else None
        hal = ChannelHals([SimulatedDevice(SimConfig(
            tick_ms=tick_ms, seed=seed + k, body_ohm=ohm, compliance_mv=device.compliance_mv,
            hw_trip_ua=device.trip_ua, supply_mv=battery,
            injections=[parse_injection(text) for ch, text in inject or [] if ch == k + 1]))
            for k in range(len(ctls))])
    elif hal.channels != len(ctls):
        raise ValueError(f"channels = {hal.channels} on the device: allowed exactly the "
                         f"{len(ctls)} prescriptions given (one per channel)")
    hal_fault = getattr(hal, "fault", None)
    with ExitStack() as stack:
        stack.callback(hal.cut)
        sinks: list[list[Any]] = [[] for _ in ctls]
        for k in range(len(ctls)):
            for path, kind in ((trace, TraceWriter), (markers, MarkerWriter)):
                if path:
                    out = stack.enter_context(open(channel_path(path, k + 1), "w", encoding="utf-8",
                                                   newline=""))
                    writer = kind(out)
                    sinks[k].append(writer)
                    if hasattr(writer, "close"):
                        stack.callback(writer.close)
        started = coord.start()
        if not started.accepted:
            raise ValueError(f"start refused: {started.reason}")
        cmds = [Command(0, False)] * len(ctls)
        reported = False
        for _ in range(max_ticks):
            samples: list[Any] = [None] * len(ctls)
            try:
                hal.apply(cmds)
                samples = hal.read()
            except Exception as exc:  # noqa: BLE001 - the link died: every channel ends
                if not reported:
                    reported = True
                    coord.report_fault(FaultCode.LINK_LOST, f"device link lost: {exc}")
            found = hal_fault() if hal_fault is not None and not reported else None
            if found is not None:
                reported = True
                coord.report_fault(*found)
            cmds = list(coord.step(samples))
            for k, ctl in enumerate(ctls):
                events = ctl.drain_events()
                for sink in sinks[k]:
                    sink.tick(ctl, samples[k] if k < len(samples) else None, cmds[k])
                    sink.events(ctl, events)
            if coord.finished:
                break
    return {
        "channels": [dict(summary(ctl, name), channel=k + 1)
                     for k, (ctl, (name, _)) in enumerate(zip(ctls, rxs))],
        "device": {"channels": len(ctls), "total_max_ua": limits.total_max_ua,
                   "total_trip_ua": limits.total_trip_ua, "total_peak_ua": coord.total_peak_ua,
                   "outcomes": [ctl.outcome or "incomplete" for ctl in ctls],
                   "faults": [dict(rec.as_dict(), channel=ch) for ch, rec in coord.faults()]},
    }
