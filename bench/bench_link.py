"""Benchmark the serial link: request/response round trips per second and the 99th
percentile latency over a pseudo-terminal with the emulator (`ionto emulate --lockstep`, a
separate process), beside a raw pty echo baseline (also a separate process) measured in the
same run, in alternating blocks.

    python bench/bench_link.py            # prints a table; --json for one line

Targets (issues 6 and 10): at least 70 % of the baseline's round-trip rate, and a 99th-percentile
latency that leaves a 10 ms control tick at least 5x headroom (p99 <= 2 ms).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import serial

from iontocore import Command
from iontocore.hal import protocol as p
from iontocore.hal.serial import SerialDevice


def _summary(latencies: list[float], seconds: float) -> dict[str, float]:
    lat = sorted(latencies)
    return {"round_trips": len(lat), "per_s": round(len(lat) / seconds),
            "p50_ms": round(statistics.median(lat) * 1000, 3),
            "p99_ms": round(lat[int(len(lat) * 0.99) - 1] * 1000, 3)}


ECHO = """
import os, select, sys, tty
master, slave = os.openpty(); tty.setraw(master); tty.setraw(slave)
print(os.ttyname(slave), flush=True)
while True:
    r, _, _ = select.select([master, sys.stdin], [], [])
    if sys.stdin in r:
        break
    os.write(master, os.read(master, 4096))
"""


def _serve(argv: list[str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


class EchoClient:
    """A raw pty echo in another process: the same frame out and back, nothing else."""

    def __init__(self) -> None:
        self.proc, path = _serve([sys.executable, "-c", ECHO])
        self.port = serial.Serial(path, timeout=1)
        self.frame = p.command(1, 15_000, True, 1000)

    def round_trip(self) -> None:
        self.port.write(self.frame)
        assert len(self.port.read(len(self.frame))) == len(self.frame)

    def close(self) -> None:
        self.port.close()
        self.proc.communicate("stop\n", timeout=5)


class EmulatorClient:
    """COMMAND -> SAMPLE through the serial backend and `ionto emulate --lockstep`."""

    def __init__(self) -> None:
        # the default 100 ms watchdog (a host refuses longer ones); it may trip while the echo
        # block runs, which turns the output off but not the round trips
        self.proc, path = _serve([str(Path(sys.executable).parent / "ionto"), "emulate",
                                  "--lockstep"])
        self.dev = SerialDevice(path, read_timeout_ms=1_000)
        self.dev.read()
        self.cmd = Command(15_000, True)

    def round_trip(self) -> None:
        self.dev.apply(self.cmd)
        assert self.dev.read() is not None

    def close(self) -> None:
        self.dev.close()
        self.proc.terminate()
        self.proc.wait(timeout=10)


def measure(n: int, blocks: int) -> dict[str, dict[str, float]]:
    """Both servers run side by side; blocks of n // blocks round trips alternate between
    them, so a drift in machine load affects both alike."""
    clients = {"echo": EchoClient(), "emulator": EmulatorClient()}
    latencies: dict[str, list[float]] = {k: [] for k in clients}
    seconds = dict.fromkeys(clients, 0.0)
    try:
        for _ in range(blocks):
            for name, client in clients.items():
                lat = latencies[name]
                start = time.perf_counter()
                for _ in range(n // blocks):
                    t0 = time.perf_counter()
                    client.round_trip()
                    lat.append(time.perf_counter() - t0)
                seconds[name] += time.perf_counter() - start
    finally:
        for client in clients.values():
            client.close()
    return {name: _summary(latencies[name], seconds[name]) for name in clients}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true")
    ap.add_argument("-n", type=int, default=20_000, help="round trips per side")
    ap.add_argument("--blocks", type=int, default=10, help="alternating blocks per side")
    args = ap.parse_args()
    both = measure(args.n, args.blocks)
    echo, emu = both["echo"], both["emulator"]
    res = {"echo": echo, "emulator": emu, "ratio": round(emu["per_s"] / echo["per_s"], 3),
           "headroom_10ms_tick": round(10 / emu["p99_ms"], 1)}
    if args.json:
        print(json.dumps(res))
        return
    print(f"raw pty echo baseline:   {echo['per_s']:>7} round trips/s, p50 {echo['p50_ms']} ms, "
          f"p99 {echo['p99_ms']} ms")
    print(f"serial backend+emulator: {emu['per_s']:>7} round trips/s, p50 {emu['p50_ms']} ms, "
          f"p99 {emu['p99_ms']} ms")
    print(f"ratio {res['ratio']:.0%} of the baseline (target >= 70 %); a 10 ms tick has "
          f"{res['headroom_10ms_tick']}x headroom over p99 (target >= 5x)")


if __name__ == "__main__":
    main()
