"""Benchmark the serial link: request/response round trips per second and the 99th
percentile latency over a pseudo-terminal with the emulator (`ionto emulate --lockstep`, a
separate process), beside a raw pty echo baseline (also a separate process) measured in the
same run.

    python bench/bench_link.py            # prints a table; --json for one line

Targets (issue 6): at least 60 % of the baseline's round-trip rate, and a 99th-percentile
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


def bench_echo(n: int) -> dict[str, float]:
    """A raw pty echo in another process: the same frame out and back, nothing else."""
    proc, path = _serve([sys.executable, "-c", ECHO])
    port = serial.Serial(path, timeout=1)
    frame = p.command(1, 15_000, True, 1000)
    latencies = []
    start = time.perf_counter()
    for _ in range(n):
        t0 = time.perf_counter()
        port.write(frame)
        got = port.read(len(frame))
        latencies.append(time.perf_counter() - t0)
        assert len(got) == len(frame)
    seconds = time.perf_counter() - start
    port.close()
    proc.communicate("stop\n", timeout=5)
    return _summary(latencies, seconds)


def bench_emulator(n: int) -> dict[str, float]:
    """COMMAND -> SAMPLE through the serial backend and `ionto emulate --lockstep`."""
    ionto = str(Path(sys.executable).parent / "ionto")
    proc, path = _serve([ionto, "emulate", "--lockstep"])
    dev = SerialDevice(path, read_timeout_ms=1_000)
    dev.read()
    latencies = []
    cmd = Command(15_000, True)
    start = time.perf_counter()
    for _ in range(n):
        t0 = time.perf_counter()
        dev.apply(cmd)
        sample = dev.read()
        latencies.append(time.perf_counter() - t0)
        assert sample is not None
    seconds = time.perf_counter() - start
    dev.close()
    proc.terminate()
    proc.wait(timeout=10)
    return _summary(latencies, seconds)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true")
    ap.add_argument("-n", type=int, default=20_000)
    args = ap.parse_args()
    echo = bench_echo(args.n)
    emu = bench_emulator(args.n)
    res = {"echo": echo, "emulator": emu, "ratio": round(emu["per_s"] / echo["per_s"], 3),
           "headroom_10ms_tick": round(10 / emu["p99_ms"], 1)}
    if args.json:
        print(json.dumps(res))
        return
    print(f"raw pty echo baseline:   {echo['per_s']:>7} round trips/s, p50 {echo['p50_ms']} ms, "
          f"p99 {echo['p99_ms']} ms")
    print(f"serial backend+emulator: {emu['per_s']:>7} round trips/s, p50 {emu['p50_ms']} ms, "
          f"p99 {emu['p99_ms']} ms")
    print(f"ratio {res['ratio']:.0%} of the baseline (target >= 60 %); a 10 ms tick has "
          f"{res['headroom_10ms_tick']}x headroom over p99 (target >= 5x)")


if __name__ == "__main__":
    main()
