"""`ionto`: run simulated sessions, inspect profiles and the state machine.

Exit status: 0 completed (or command succeeded), 1 the session ended in fault,
2 bad input (one line naming what is wrong), 3 the session was stopped early.
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import os
import re
import signal
import sys
import tempfile
import threading
from contextlib import ExitStack
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn, Sequence

from iontocore import __version__, profiles
from iontocore.controller import COMPLETED, FAULTED, Controller
from iontocore.dose import uams_to_ma_min
from iontocore.errors import InvalidSettings
from iontocore.faults import CATALOGUE
from iontocore.hal import Hal, MultiHal

if TYPE_CHECKING:
    from iontocore.hal.serial import MultiSerialDevice
    from iontocore.hal.serial import SerialDevice as SerialHal
from iontocore.hal.link_faults import LINK_FAULTS, parse_link_fault
from iontocore.hal.sim import (INJECTIONS, SIM_BATTERY_MV, SUPPLY_KINDS, SimConfig,
                               SimulatedDevice, battery_device, needs_battery, parse_injection)
from iontocore.limits import DeviceLimits
from iontocore.limits import render_spec as render_limits
from iontocore.margins import margins
from iontocore.prescription import Prescription
from iontocore.supervision import SupervisionLimits
from iontocore.machine import mermaid, render_spec

from . import home_cli
from .runner import Adjustment, Runner, Summary, TickSink, summary
from .progress import LiveProgress
from .record import RecordWriter, read_record, summarise
from .trace import TraceWriter
from .export import MarkerWriter, PulseWriter

EXIT_OK, EXIT_FAULT, EXIT_BAD_INPUT, EXIT_STOPPED = 0, 1, 2, 3


class BadInput(Exception):
    """Bad command-line input: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """Usage errors: one line with the message (and a suggestion for a mistyped choice),
    exit 2; with no command at all, the usage first."""

    def error(self, message: str) -> NoReturn:
        if "required: command" in message:
            self.print_usage(sys.stderr)
        hint = ""
        m = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if m:
            choices = re.findall(r"'([^']*)'", m.group(2))
            close = difflib.get_close_matches(m.group(1), choices, n=1, cutoff=0.5)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
        print(f"{self.prog}: error: {message}{hint}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def _run_epilog() -> str:
    kinds = "\n".join(f"  {k:<16} {d}" for k, d in INJECTIONS.items())
    faults = "\n".join(f"  {f.code.value:<19} {f.requirement:<8} {f.reaction.value}"
                       for f in CATALOGUE)
    return (f"fault injections for --inject KIND@SECONDS[:DURATION_S]:\n{kinds}\n\n"
            f"faults the core detects (code, requirement, reaction):\n{faults}\n\n"
            "exit status: 0 completed, 1 fault, 2 bad input, 3 stopped early")


def _positive_finite(text: str) -> float:
    """A finite number > 0 (argparse type: a bad value is a clear usage error)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number > 0") from None
    if not math.isfinite(value) or not 0 < value <= 1e9:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a finite number > 0 and at most "
                                         "1e9 (ohm)")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="ionto", description="iontocore: control core for iontophoresis devices")
    p.add_argument("--version", action="version", version=f"ionto (iontocore) {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run a session on a simulated device",
                         description="Run one session. Ctrl-C asks for a controlled ramp-down.",
                         epilog=_run_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("--profile", required=True, metavar="NAME|FILE.toml",
                     help="built-in profile name (see `ionto profiles`) or a TOML file")
    run.add_argument("--device", default="sim",
                     help="'sim' (default, in-process) or 'serial:PATH' (a device speaking "
                          "specs/protocol.md, e.g. the port `ionto emulate` prints)")
    run.add_argument("--fast", action="store_true", help="as fast as possible (no pacing)")
    run.add_argument("--tick-ms", type=int, default=10, help="control tick in ms (default 10)")
    run.add_argument("--seed", type=int, default=0, help="simulator noise seed (default 0)")
    run.add_argument("--sim-ohms", type=_positive_finite, default=2000.0,
                     help="simulated body resistance in ohm (default 2000)")
    run.add_argument("--inject", action="append", default=[], metavar="KIND@SECONDS[:DURATION_S]",
                     help="simulate a fault or event KIND at SECONDS of simulated time, for "
                          "DURATION_S (default: to the end); repeatable; kinds below")
    run.add_argument("--sim-battery", action="store_true",
                     help="simulate a battery-powered device: the simulator reports its supply "
                          "and the core monitors it (implied by the supply injections)")
    run.add_argument("--adjust", action="append", default=[], metavar="[+-]UA@SECONDS",
                     help="patient adjustment: move the intensity by UA microamps at SECONDS of "
                          "treatment time, e.g. +1000@120 or -1000@300; repeatable")
    run.add_argument("--trace", metavar="FILE.csv", help="write one CSV row per tick")
    run.add_argument("--markers", metavar="FILE.csv",
                     help="research: write the protocol's markers (every step boundary, time "
                          "from the session start in ms and s, label, step, pulse) for "
                          "perfusion-analysis software")
    run.add_argument("--pulses", metavar="FILE.csv",
                     help="research: write one row per pulse (start, end, nominal and delivered "
                          "charge, valid or the reason)")
    run.add_argument("--plot", metavar="FILE.png",
                     help="plot the session (needs the plot extra: pip install 'iontocore[plot]')")
    run.add_argument("--record", metavar="FILE",
                     help="write a crash-proof session record (must not exist yet); read it "
                          "with `ionto record show FILE`")
    run.add_argument("--json", action="store_true",
                     help="print the summary as one JSON object on the last line of stdout")
    run.add_argument("--config", metavar="DEVICE.toml",
                     help="run as a home device configured by this file: the prescription's "
                          "signature, patient, version and course are checked first, and the "
                          "session is kept in the device's history (specs/signed_prescription.md)")

    home_cli.add_parsers(sub)
    chs = sub.add_parser("channels", help="run one session on several simulated channels at once",
                         description="One session on several channels of one simulated device "
                                     "(one --profile per channel, in channel order), on one "
                                     "tick, under the device-wide rules (CH-001 to CH-003).")
    chs.add_argument("--profile", action="append", required=True, metavar="NAME|FILE.toml",
                     help="the profile of the next channel (repeat: channel 1, 2, ...)")
    chs.add_argument("--total-max-ua", type=int, default=None,
                     help="the most current the channels may deliver together (default: the "
                          "device's max_current_ua, one shared current source)")
    chs.add_argument("--total-trip-ua", type=int, default=None,
                     help="measured total that cuts every channel (default: the device's trip_ua)")
    chs.add_argument("--fast", action="store_true", help="accepted for symmetry with run: the "
                                                         "simulated channels always run unpaced")
    chs.add_argument("--tick-ms", type=int, default=10, help="control tick in ms (default 10)")
    chs.add_argument("--device", default="sim",
                     help="'sim' (default: one in-process simulator per channel) or 'serial:PATH' "
                          "(a lockstep multi-channel device speaking specs/protocol.md, e.g. "
                          "`ionto emulate --lockstep --channels 2`; LINK-012)")
    chs.add_argument("--seed", type=int, default=0,
                     help="simulator noise seed of channel 1 (channel k: seed + k - 1)")
    chs.add_argument("--sim-ohms", type=_positive_finite, default=2000.0,
                     help="simulated body resistance of every channel in ohm (default 2000)")
    chs.add_argument("--inject", action="append", default=[], metavar="CH:KIND@SECONDS[:DURATION_S]",
                     help="simulate a fault on channel CH (from 1), e.g. 1:contact-loss@30:5")
    chs.add_argument("--trace", metavar="FILE.csv",
                     help="one trace per channel: FILE.ch1.csv, FILE.ch2.csv, ...")
    chs.add_argument("--markers", metavar="FILE.csv",
                     help="one marker CSV per channel: FILE.ch1.csv, ...")
    chs.add_argument("--json", action="store_true",
                     help="print the summaries (per channel and for the device) as one JSON object")
    sub.add_parser("profiles", help="list the built-in profiles")
    show = sub.add_parser("profile", help="show a built-in profile as TOML")
    show_sub = show.add_subparsers(dest="profile_command", required=True, parser_class=_Parser)
    show_one = show_sub.add_parser("show", help="print a built-in profile, ready to copy and edit")
    show_one.add_argument("name")
    show_sub.add_parser("format", help="print the profile file format (specs/profile_format.md)")

    val = sub.add_parser("validate", help="validate a profile against the device; show its "
                         "margin to each limit of the envelope")
    val.add_argument("file", metavar="FILE.toml", help="a profile file, or a built-in name")

    plot = sub.add_parser("plot", help="plot a trace written by `ionto run --trace`")
    plot.add_argument("trace", metavar="TRACE.csv")
    plot.add_argument("-o", "--output", required=True, metavar="FILE.png")
    plot.add_argument("--title", default="")

    rec = sub.add_parser("record", help="session records")
    rec_sub = rec.add_subparsers(dest="record_command", required=True, parser_class=_Parser)
    rec_show = rec_sub.add_parser("show", help="read and summarise a session record, also a "
                                               "damaged or truncated one")
    rec_show.add_argument("file")
    rec_show.add_argument("--json", action="store_true", help="print the recovered summary as JSON")

    sub.add_parser("limits", help="print the device and supervision limits (specs/limits.md)")

    emu = sub.add_parser("emulate", help="serve a simulated device on a pseudo-terminal",
                         description="Run the simulated device behind a pseudo-terminal speaking "
                                     "specs/protocol.md; prints the port path, serves until Ctrl-C.",
                         epilog="link faults for --link-fault KIND@SECONDS[:DURATION_S] (start in "
                                "simulated time, duration in wall time):\n" + "\n".join(
                                    f"  {k:<10} {d}" for k, d in LINK_FAULTS.items()),
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    emu.add_argument("--link", metavar="PATH", help="also make PATH a symlink to the port")
    emu.add_argument("--lockstep", action="store_true",
                     help="each command advances the simulated clock by one tick (no waiting)")
    emu.add_argument("--tick-ms", type=int, default=10)
    emu.add_argument("--seed", type=int, default=0)
    emu.add_argument("--sim-ohms", type=_positive_finite, default=2000.0)
    emu.add_argument("--watchdog-ms", type=int, default=100)
    emu.add_argument("--watchdog-grace-ms", type=int, default=0, metavar="MS",
                     help="wall time the watchdog waits beyond --watchdog-ms before it acts "
                          "(advertised unchanged): for tests on a loaded machine, where a "
                          "stall of the host's process is no hang; default 0")
    emu.add_argument("--inject", action="append", default=[], metavar="KIND@SECONDS[:DURATION_S]",
                     help="a simulator fault (see `ionto run --help`); repeatable")
    emu.add_argument("--sim-battery", action="store_true",
                     help="a battery-powered device: advertises SUPPLY and reports its supply "
                          "(implied by the supply injections)")
    emu.add_argument("--markers", action="store_true",
                     help="a device with a marker output (a recorder line): advertises MARKER, "
                          "acknowledges each MARKER and prints it to stderr (LINK-011)")
    emu.add_argument("--channels", type=int, default=1, metavar="N",
                     help="serve N output channels (2..8: advertises CHANNELS, LINK-012; "
                          "--inject acts on channel 1); default 1")
    emu.add_argument("--link-fault", action="append", default=[], metavar="KIND@SECONDS[:DURATION_S]",
                     help="a link fault (below); repeatable")

    dia = sub.add_parser("diagram", help="print the state machine (Mermaid, or Graphviz DOT)")
    dia.add_argument("--format", choices=("mermaid", "dot"), default="mermaid",
                     help="mermaid (default) or dot: render offline with `dot -Tsvg` (graphviz)")
    dia.add_argument("--spec", action="store_true",
                     help="print specs/state_machine.md (states, transitions, diagram)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(_join_negative_values(sys.argv[1:] if argv is None else argv))
    try:
        handler = {"run": cmd_run, "channels": cmd_channels, "profiles": cmd_profiles, "profile": cmd_profile_show,
                   "validate": cmd_validate, "diagram": cmd_diagram,
                   "record": cmd_record_show, "plot": cmd_plot,
                   "limits": cmd_limits, "emulate": cmd_emulate,
                   **dict.fromkeys(("keys", "sign", "verify", "history", "report"),
                                   home_cli.run)}[args.command]
        return handler(args)
    except BadInput as exc:
        print(f"ionto: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except InvalidSettings as exc:
        print(f"ionto: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


# ---------------------------------------------------------------------- run


def _load_profile(ref: str, device: DeviceLimits) -> Prescription:
    try:
        return profiles.load(ref, device)
    except FileNotFoundError:
        raise BadInput(f"--profile {ref}: no such file") from None
    except OSError as exc:
        raise BadInput(f"--profile {ref}: {exc.strerror}") from None


def _open_home(config_path: str, profile: str) -> Any:
    """The HomeSession for `ionto run --config`: the history locked and the prescription
    admitted, or BadInput with the reason (exit 2)."""
    try:
        home_cli._home()
        from iontocore.home.history import HistoryError
        from iontocore.home.session import HomeSession
        from iontocore.home.signing import Refused
        from iontocore.home.trust import load_config
    except home_cli.HomeUnavailable as exc:
        raise BadInput(f"--config: {exc}") from None
    from pathlib import Path

    try:
        data = Path(profile).read_bytes() if profile not in profiles.builtin_names() \
            else profiles.builtin_text(profile).encode("utf-8")
    except OSError as exc:
        raise BadInput(f"--profile {profile}: {exc.strerror}") from None
    try:
        return HomeSession(load_config(config_path), data, profile)
    except (Refused, HistoryError) as exc:
        raise BadInput(f"refused: {exc}") from None
    except OSError as exc:
        raise BadInput(f"--config {config_path}: {exc.filename or ''}: {exc.strerror}") from None


def _home_step(step: Any, controller: Controller) -> None:
    """A history write (begin or complete) with its failure as a clear refusal."""
    from iontocore.home.history import HistoryError

    try:
        step(controller)
    except HistoryError as exc:
        raise BadInput(f"history: {exc}") from None


def _parse_adjust(text: str) -> Adjustment:
    delta, sep, at = text.partition("@")
    try:
        if not sep or delta[:1] not in "+-" or not delta[1:].isdigit() or not delta[1:].isascii():
            raise ValueError
        seconds = float(at)
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError
        return Adjustment(round(seconds * 1000), int(delta))
    except (ValueError, OverflowError):
        raise BadInput(f"--adjust {text!r}: expected [+-]UA@SECONDS with SECONDS a finite "
                       "number >= 0, e.g. +1000@120 or -500@120") from None


def _join_negative_values(argv: Sequence[str]) -> list[str]:
    """`--adjust -500@120` reads as an option to argparse: join it as `--adjust=-500@120`."""
    out: list[str] = []
    it = iter(argv)
    for arg in it:
        if arg == "--adjust":
            nxt = next(it, None)
            if nxt is None:
                out.append(arg)
            else:
                out.append(f"--adjust={nxt}")
        else:
            out.append(arg)
    return out


def _require_serial_extra(what: str) -> None:
    """The serial link needs pyserial and cobs (the `serial` extra); say so, not a traceback."""
    import importlib.util

    missing = [m for m in ("serial", "cobs") if importlib.util.find_spec(m) is None]
    if missing:
        raise BadInput(f"{what} needs the 'serial' extra (missing: {', '.join(missing)}): "
                       "pip install 'iontocore[serial]'")


def _open_serial(spec: str, tick_ms: int, realtime: bool) -> SerialHal:
    """Open and check the device (a refused IDENTIFY is bad input). In real time the sample
    deadline is counted in wall time too; with --fast a read may wait the whole deadline
    (a lockstep device need not keep up with the wall clock)."""
    _require_serial_extra(f"--device {spec}")
    from iontocore.hal.serial import LinkError, SerialDevice

    deadline_ms = SupervisionLimits().sample_deadline_ms
    try:
        return SerialDevice(spec.removeprefix("serial:"), tick_ms=tick_ms,
                            sample_deadline_ms=deadline_ms, wall_deadline=realtime,
                            read_timeout_ms=tick_ms if realtime else deadline_ms)
    except LinkError as exc:
        raise BadInput(f"--device {spec}: {exc}") from None


def _make_hal(args: argparse.Namespace, device: DeviceLimits, tick_ms: int) -> Hal:
    if args.device != "sim":
        raise BadInput(f"--device {args.device!r}: allowed 'sim' or 'serial:PATH'")
    if not args.sim_ohms > 0:
        raise BadInput(f"--sim-ohms {args.sim_ohms}: allowed > 0")
    try:
        injections = [parse_injection(t) for t in args.inject]
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    battery = args.sim_battery or needs_battery(injections)
    return SimulatedDevice(SimConfig(tick_ms=tick_ms, seed=args.seed, body_ohm=args.sim_ohms,
                                     compliance_mv=device.compliance_mv,
                                     hw_trip_ua=device.trip_ua, injections=injections,
                                     supply_mv=SIM_BATTERY_MV if battery else None))


def cmd_channels(args: argparse.Namespace) -> int:
    SupervisionLimits().check_tick(args.tick_ms)
    with ExitStack() as stack:
        hal = None
        device = DeviceLimits()
        if args.device != "sim":
            hal = _open_channels(args)
            stack.callback(hal.close)
            device = hal.limits()
        return _run_channels(args, device, hal)


def _open_channels(args: argparse.Namespace) -> "MultiSerialDevice":
    """The multi-channel device for `ionto channels --device serial:PATH` (LINK-012): it must
    be lockstep (the channels run unpaced) and have one channel per --profile."""
    spec = args.device
    if not spec.startswith("serial:"):
        raise BadInput(f"--device {spec!r}: allowed 'sim' or 'serial:PATH'")
    if args.inject:
        raise BadInput(f"--inject {args.inject[0]}: allowed with --device sim only (inject "
                       "faults on the emulator instead)")
    _require_serial_extra(f"--device {spec}")
    from iontocore.hal import protocol as wire
    from iontocore.hal.serial import LinkError, MultiSerialDevice

    deadline_ms = SupervisionLimits().sample_deadline_ms
    try:
        hal = MultiSerialDevice(spec.removeprefix("serial:"), tick_ms=args.tick_ms,
                                sample_deadline_ms=deadline_ms, read_timeout_ms=deadline_ms)
    except LinkError as exc:
        raise BadInput(f"--device {spec}: {exc}") from None
    problem = ""
    if not hal.identity.capabilities & wire.CAP_LOCKSTEP:
        problem = ("the device is not lockstep: allowed a lockstep device (`ionto channels` runs "
                   "unpaced; e.g. ionto emulate --lockstep --channels N)")
    elif hal.channels != len(args.profile):
        problem = (f"--profile given {len(args.profile)} time(s): allowed exactly the device's "
                   f"{hal.channels} channel(s)")
    if problem:
        hal.close()
        raise BadInput(f"--device {spec}: {problem}")
    return hal


def _run_channels(args: argparse.Namespace, device: DeviceLimits, hal: "MultiHal | None") -> int:
    from iontocore import ChannelLimits

    from .channels import run_channels

    injections: list[tuple[int, str]] = []
    for text in args.inject:
        ch, sep, rest = text.partition(":")
        if not sep or not ch.isdigit() or not 1 <= int(ch) <= len(args.profile):
            raise BadInput(f"--inject {text}: CH:KIND@SECONDS[:DURATION_S] with CH from 1 to "
                           f"{len(args.profile)} (the channels given)")
        if rest.partition("@")[0] in SUPPLY_KINDS:
            device = battery_device(DeviceLimits())
        injections.append((int(ch), rest))
    for _, rest in injections:
        try:
            parse_injection(rest)
        except ValueError as exc:
            raise BadInput(str(exc)) from None
    rxs = [(ref, _load_profile(ref, device)) for ref in args.profile]
    limits = ChannelLimits(
        total_max_ua=device.max_current_ua if args.total_max_ua is None else args.total_max_ua,
        total_trip_ua=device.trip_ua if args.total_trip_ua is None else args.total_trip_ua)
    try:
        out = run_channels(rxs, device, limits, tick_ms=args.tick_ms, seed=args.seed,
                           ohm=args.sim_ohms, inject=injections, trace=args.trace,
                           markers=args.markers, hal=hal)
    except OSError as exc:
        raise BadInput(f"{exc.filename}: {exc.strerror}") from None
    if args.json:
        print(json.dumps(out))
    else:
        for ch in out["channels"]:
            print(f"channel {ch['channel']} ({ch['profile']}): {ch['outcome']}, "
                  f"{ch['end_reason']}; delivered {ch['delivered_uams'] / 1e6:.3f} mC in "
                  f"{ch['treatment_ms'] / 1000:.1f} s of treatment, {ch['pauses']} pause(s)")
        dev = out["device"]
        print(f"device: {dev['channels']} channels, peak total {dev['total_peak_ua']} uA "
              f"(limit {dev['total_max_ua']} uA, trip {dev['total_trip_ua']} uA), "
              f"{len(dev['faults'])} fault(s)")
    outcomes = out["device"]["outcomes"]
    return 1 if "fault" in outcomes else 3 if "stopped" in outcomes else 0


def cmd_run(args: argparse.Namespace) -> int:
    adjustments = [_parse_adjust(a) for a in args.adjust]
    if args.plot:  # before anything runs: a real-time session must not end in "cannot plot"
        from .plot import PlotUnavailable, require

        try:
            require()
        except PlotUnavailable as exc:
            raise BadInput(f"--plot {args.plot}: {exc}") from None
    with ExitStack() as stack:
        SupervisionLimits().check_tick(args.tick_ms)  # before any port or simulator opens
        serial_hal: SerialHal | None = None
        if args.device.startswith("serial:"):  # the device reports its own limits
            serial_hal = _open_serial(args.device, args.tick_ms, not args.fast)
            stack.callback(serial_hal.close)
            device: DeviceLimits = serial_hal.limits()
            hal: Hal = serial_hal
        else:
            device = DeviceLimits()
            if args.sim_battery or any(t.partition("@")[0] in SUPPLY_KINDS for t in args.inject):
                device = battery_device(device)  # SUP-019/020: a battery-powered simulator
            hal = _make_hal(args, device, args.tick_ms)
        home = _open_home(args.config, args.profile) if args.config else None
        if home is not None:
            stack.callback(home.close)
            rx = profiles.parse(home.admitted.profile_text, device, args.profile)
        else:
            rx = _load_profile(args.profile, device)
        controller = Controller(rx, device, tick_ms=args.tick_ms)
        sinks: list[TickSink] = [] if home is None else [home.trace]
        trace_path = args.trace
        if args.plot and not trace_path:
            trace_path = stack.enter_context(tempfile.TemporaryDirectory()) + "/trace.csv"
        if trace_path:
            try:
                stream = stack.enter_context(open(trace_path, "w", encoding="utf-8", newline=""))
            except OSError as exc:
                raise BadInput(f"--trace {trace_path}: {exc.strerror}") from None
            trace_writer = TraceWriter(stream)
            sinks.append(trace_writer)
            stack.callback(trace_writer.close)
        for path, kind in ((args.markers, MarkerWriter), (args.pulses, PulseWriter)):
            if path:
                try:
                    out = stack.enter_context(open(path, "w", encoding="utf-8", newline=""))
                except OSError as exc:
                    raise BadInput(f"{path}: {exc.strerror}") from None
                sinks.append(kind(out))
        if args.record:
            try:
                writer = RecordWriter(args.record, controller, args.profile,
                                      extra={"seed": args.seed, "device_backend": args.device,
                                             "injections": args.inject})
            except FileExistsError:
                raise BadInput(f"--record {args.record}: exists; a record is never overwritten") from None
            except OSError as exc:
                raise BadInput(f"--record {args.record}: {exc.strerror}") from None
            stack.callback(writer.close, controller)
            sinks.append(writer)
        live = stack.enter_context(LiveProgress()) if not args.fast else None
        runner = Runner(controller, hal, realtime=not args.fast, sinks=sinks,
                        progress=None if live is None else live.update, adjustments=adjustments)
        previous = signal.getsignal(signal.SIGINT)
        interrupts = [0]

        def on_sigint(signum: int, frame: FrameType | None) -> None:
            interrupts[0] += 1
            if interrupts[0] == 1:
                print("\nionto: stop requested: ramping down (not cutting); press Ctrl-C "
                      "again for an emergency stop (output cut at once)", file=sys.stderr)
                runner.request_stop()
            else:
                print("\nionto: EMERGENCY STOP: output cut", file=sys.stderr)
                runner.request_emergency_stop()

        signal.signal(signal.SIGINT, on_sigint)
        if home is not None:
            _home_step(home.begin, controller)  # the row exists before the output starts
        try:
            result = runner.run()
        finally:
            signal.signal(signal.SIGINT, previous)
            hal.close()
            if home is not None:
                try:
                    _home_step(home.complete, controller)
                except BadInput as exc:  # the session is over; its row shows as killed later
                    print(f"ionto: {exc}; the next session records it as killed",
                          file=sys.stderr)
        if args.plot:
            trace_writer.close()
            _plot(trace_path, args.plot, f"{args.profile}: {controller.outcome}",
                  limit_ua=controller.limit_ua, trip_ua=controller.trip_ua,
                  faults=[(f.t_ms, f.code.value) for f in controller.faults])
    info = summary(controller, args.profile, result)
    if serial_hal is not None:
        info["link"] = serial_hal.stats.as_dict(serial_hal.decoder)
    if args.json:
        print(json.dumps(info, separators=(",", ":")))
    else:
        _print_summary(info)
    if controller.outcome == COMPLETED:
        return EXIT_OK
    return EXIT_FAULT if controller.outcome == FAULTED else EXIT_STOPPED


def _print_summary(info: Summary) -> None:
    fault = info["fault"]
    print(f"profile      {info['profile']} ({info['family']})")
    print(f"outcome      {info['outcome']}" + (f": {info['end_reason']}" if info["end_reason"] else ""))
    if fault is not None:
        print(f"fault        {fault['code']} at {fault['t_ms']} ms: {fault['reason']}")
    print(f"delivered    {info['delivered_mA_min']} mA*min ({info['delivered_uams']} uA*ms)")
    print(f"treatment    {info['treatment_ms'] / 60000:.2f} min, paused "
          f"{info['paused_ms'] / 1000:.1f} s in {info['pauses']} pause(s)")
    print(f"limits       {info['limit_ua']} uA limit, trip {info['trip_ua']} uA, "
          f"{info['max_step_ua']} uA max step per {info['tick_ms']} ms tick, "
          f"dead time {info['dead_time_ms']} ms")
    extra: dict[str, object] = dict(info)
    for key in ("dose_target_mA_min", "time_extension_ms", "pulses_delivered", "charge_mC_per_cm2"):
        if key in extra:
            print(f"{key:<12} {extra[key]}")
    for p in info.get("pulses", []):
        verdict = "valid" if p["valid"] else f"INVALID: {p['reason']}"
        print(f"pulse {p['pulse']:<6} {int(str(p['delivered_uams'])) / 1e6:.4f} of "
              f"{int(str(p['nominal_uams'])) / 1e6:.4f} mC, {int(str(p['start_ms'])) / 1000:.2f}.."
              f"{int(str(p['end_ms'])) / 1000:.2f} s, {verdict}")
    for adj in info.get("adjustments", []):
        verdict = "accepted" if adj.get("accepted") else f"REFUSED: {adj.get('reason')}"
        if adj.get("dropped"):
            verdict = f"NOT APPLIED: {adj.get('reason')}"
        print(f"adjust       {adj['delta_ua']:+d} uA at {int(str(adj['at_ms'])) / 1000:g} s of "
              f"treatment: {verdict}")


# ---------------------------------------------------------------------- profiles, diagram


def cmd_profiles(args: argparse.Namespace) -> int:
    device = DeviceLimits()
    print(f"{'name':<28} {'family':<10} {'current':>10} {'ends by':<22} polarity")
    for name in profiles.builtin_names():
        rx = profiles.load(name, device)
        current = f"{rx.target_ua / 1000:g} mA" if rx.target_ua >= 1000 else f"{rx.target_ua} uA"
        if rx.family == "drug":
            ends = f"{uams_to_ma_min(rx.dose_uams):g} mA*min"
        elif rx.protocol is not None:
            ends = (f"protocol: {rx.protocol.pulse_count} pulses, "
                    f"{rx.planned_ms / 60000:.1f} min")
        elif rx.family == "research":
            ends = f"{rx.pulse_count} x {rx.pulse_on_ms // 1000} s, gaps {rx.pulse_gap_ms // 1000} s"
        else:
            ends = f"{rx.duration_ms / 60000:g} min"
        polarity = f"A {rx.electrode_a}" + (", reversed at half" if rx.reverse_at_half else "")
        wave = "" if rx.waveform == "dc" else f" pulsed {rx.pulse_hz} Hz {rx.duty_permille / 10:g} %"
        print(f"{name:<28} {rx.family:<10} {current:>10} {ends:<22} {polarity}{wave}")
    return EXIT_OK


def cmd_profile_show(args: argparse.Namespace) -> int:
    if args.profile_command == "format":
        print(profiles.render_format(), end="")
        return EXIT_OK
    try:
        print(profiles.builtin_text(args.name), end="")
    except KeyError:
        raise BadInput(f"profile {args.name!r}: allowed one of {', '.join(profiles.builtin_names())}") from None
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    device = DeviceLimits()
    try:
        with open(args.file, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        if args.file not in profiles.builtin_names():
            raise BadInput(f"{args.file}: {exc.strerror}") from None
        text = profiles.builtin_text(args.file)  # a built-in profile by name
    try:
        rx = profiles.parse(text, device, args.file)
    except InvalidSettings as exc:
        print(f"{args.file}: {len(exc.problems)} problem(s)")
        for problem in exc.problems:
            print(f"  {problem}")
        return EXIT_BAD_INPUT
    limit = rx.limit_ua(device)
    print(f"{args.file}: valid ({rx.family}) '{rx.name}'")
    print(f"  target {rx.target_ua} uA, patient range {rx.floor_ua}..{rx.ceiling_ua} uA "
          f"in steps of {rx.adjust_step_ua} uA; effective limit {limit} uA")
    print(f"  ramp {rx.ramp_ms} ms (slew {rx.slew_ua_per_s} uA/s), planned {rx.planned_ms} ms")
    print("  envelope (value / limit, margin left, where the limit comes from):")
    for m in margins(rx, device):
        value, limit_text = _human(m.value, m.unit), _human(m.limit, m.unit)
        print(f"    {m.quantity}: {value} / {limit_text}, margin "
              f"{m.margin_permille / 10:.1f} % ({m.source})")
    return EXIT_OK


_HUMAN = {"uA": (1000, "mA", 3), "uA/cm2": (1000, "mA/cm2", 3), "uA/s": (1000, "mA/s", 3),
          "ms": (60_000, "min", 2), "uA*ms": (60_000_000, "mA*min", 2),
          "uA*ms/cm2": (1_000_000, "mC/cm2", 3)}


def _human(value: int, unit: str) -> str:
    """A value in the unit a clinician reads (mA, mA/cm2, min, mA*min, mC/cm2)."""
    scale, name, digits = _HUMAN.get(unit, (1, unit, 0))
    return f"{value / scale:.{digits}f} {name}"


def _plot(trace: str, out: str, title: str, **marks: Any) -> None:
    from .plot import PlotUnavailable, load_trace, render

    try:
        data = load_trace(trace)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    except OSError as exc:
        raise BadInput(f"{trace}: {(exc.strerror or str(exc)).lower()}") from None
    try:
        render(data, out, title, **marks)
    except PlotUnavailable as exc:
        raise BadInput(str(exc)) from None
    except OSError as exc:
        raise BadInput(f"-o {out}: {exc.strerror}") from None


def cmd_plot(args: argparse.Namespace) -> int:
    _plot(args.trace, args.output, args.title or args.trace)
    return EXIT_OK


def cmd_record_show(args: argparse.Namespace) -> int:
    """Exit 0: intact and complete; 1: recovered from a damaged or unfinished record;
    2: nothing usable (not a record, unreadable)."""
    try:
        rec = read_record(args.file)
        # whatever the file holds (lone surrogates too), the text printed is valid UTF-8
        text = "\n".join(summarise(rec, args.file)).encode("utf-8", "backslashreplace").decode()
    except Exception as exc:  # noqa: BLE001 - REC-002: whatever the file, a message, not a traceback
        print(f"{args.file}: cannot read it as a session record ({type(exc).__name__})")
        return EXIT_BAD_INPUT
    if args.json:
        last = rec.last
        print(json.dumps({"complete": rec.complete, "problem": rec.problem or None,
                          "truncated_tail": rec.truncated_tail, "damaged_lines": rec.damaged_lines,
                          "entries": len(rec.entries), "end": rec.end,
                          "profile": (rec.header or {}).get("profile"),
                          "delivered_uams": None if last is None else last["delivered_uams"],
                          "t_ms": None if last is None else last.get("t_ms"),
                          "tick": None if last is None else last.get("tick"),
                          "faults": [e for e in rec.entries if e.get("type") == "fault"]},
                         separators=(",", ":")))
    else:
        print(text)
    if rec.problem:
        return EXIT_BAD_INPUT
    return EXIT_OK if rec.complete else EXIT_FAULT


def cmd_emulate(args: argparse.Namespace) -> int:
    _require_serial_extra("ionto emulate")
    from iontocore.hal.emulator import Emulator, ReceivedMarker

    try:
        injections = [parse_injection(t) for t in args.inject]
        link_faults = [parse_link_fault(t) for t in args.link_fault]
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    if not 1 <= args.tick_ms <= 100 or args.watchdog_ms < 1 or args.watchdog_grace_ms < 0 \
            or not args.sim_ohms > 0:
        raise BadInput("--tick-ms 1..100, --watchdog-ms >= 1, --watchdog-grace-ms >= 0 and "
                       "--sim-ohms > 0")
    sim = SimulatedDevice(SimConfig(tick_ms=args.tick_ms, seed=args.seed, body_ohm=args.sim_ohms,
                                    watchdog_ms=args.watchdog_ms, injections=injections,
                                    supply_mv=SIM_BATTERY_MV if args.sim_battery else None))
    def show(m: ReceivedMarker) -> None:  # the simulated recorder line
        print(f"MARKER {m.kind} step {m.step} pulse {m.pulse} at session {m.session_ms} ms "
              f"(device t {m.t_ms} ms)", file=sys.stderr, flush=True)

    try:
        emulator = Emulator(sim, lockstep=args.lockstep, watchdog_ms=args.watchdog_ms,
                            watchdog_grace_ms=args.watchdog_grace_ms, link_faults=link_faults, seed=args.seed, markers=args.markers,
                            on_marker=show if args.markers else None, channels=args.channels)
    except ValueError as exc:
        raise BadInput(f"--channels {args.channels}: {exc}") from None
    port = emulator.port
    if args.link:
        try:
            if os.path.islink(args.link):
                os.unlink(args.link)
            os.symlink(port, args.link)
        except OSError as exc:
            emulator.stop()
            raise BadInput(f"--link {args.link}: {exc.strerror}") from None
        port = args.link
    print(port, flush=True)
    stopping = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *a: stopping.set())
    emulator.start()
    try:
        while not stopping.wait(0.2):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        emulator.stop()
        if args.link and os.path.islink(args.link):
            os.unlink(args.link)
    print(f"served {emulator.commands} commands; device faults: "
          f"{[int(f) for f in emulator.faults_reported]}"
          + (f"; markers: {len(emulator.markers)}" if args.markers else ""), file=sys.stderr)
    return EXIT_OK


def cmd_limits(args: argparse.Namespace) -> int:
    print(render_limits(), end="")
    return EXIT_OK


def cmd_diagram(args: argparse.Namespace) -> int:
    if args.spec:
        print(render_spec(), end="")
    elif args.format == "dot":
        from .diagram import dot

        print(dot(), end="")
    else:
        print(mermaid())
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
