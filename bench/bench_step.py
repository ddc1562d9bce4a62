"""Benchmark: the cost of one controller tick, beside a minimal hand-inlined loop doing the
same arithmetic, measured side by side in one run; and the closed-loop simulation rate.

    python bench/bench_step.py            # prints a table; --json for one JSON line

Targets (issue 2, 3): step cost <= 10x the minimal loop with all monitors on; a 20-minute
session at a 1 ms tick (1.2 million ticks) simulated with --fast in under 6 s.
Numbers are medians of repeated batches; the ratio matters more than the absolute value
on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from iontocore import Controller, Sample, profiles
from iontocore.hal.sim import SimConfig, SimulatedDevice
from iontocore.shell.runner import Runner

BATCH = 20_000
REPEATS = 9


def _samples(n: int, tick_ms: int) -> list[Sample]:
    """What a follow-the-command plant reports in treatment at 15 mA through 2 kOhm."""
    return [Sample(k * tick_ms, 15_000 + (k % 7) - 3, 30_000 + (k % 5), 1) for k in range(1, n + 1)]


def controller_in_treat(tick_ms: int) -> tuple[Controller, int]:
    ctl = Controller(profiles.load("hyperhidrosis-palms"), tick_ms=tick_ms)
    ctl.start()
    t, cmd = 0, ctl.command
    while ctl.state != "treat":
        cmd = ctl.step(Sample(t, cmd.setpoint_ua, cmd.setpoint_ua * 2, 1 if cmd.setpoint_ua else 0))
        t += tick_ms
    return ctl, t


def bench_controller(tick_ms: int) -> float:
    """Median microseconds per Controller.step in treatment, all monitors on."""
    per_step = []
    for _ in range(REPEATS):
        ctl, t0 = controller_in_treat(tick_ms)
        samples = [Sample(s.t_ms + t0, *s[1:]) for s in _samples(BATCH, tick_ms)]
        step = ctl.step
        start = time.perf_counter()
        for s in samples:
            step(s)
        per_step.append((time.perf_counter() - start) / BATCH * 1e6)
        assert ctl.state == "treat", ctl.faults
    return statistics.median(per_step)


def bench_monitors(tick_ms: int) -> float:
    """Median microseconds of the per-sample monitors alone (Supervisor.observe)."""
    per_call = []
    for _ in range(REPEATS):
        ctl, t0 = controller_in_treat(tick_ms)
        sup, cmd = ctl._sup, ctl.command
        samples = [Sample(s.t_ms + t0, *s[1:]) for s in _samples(BATCH, tick_ms)]
        observe, duty, trip = sup.observe, ctl.prescription.duty_permille, ctl.trip_ua
        start = time.perf_counter()
        for t, i, v, relay in samples:
            observe(t, i, v, relay, tick_ms, cmd, duty, trip, -1)
        per_call.append((time.perf_counter() - start) / BATCH * 1e6)
    return statistics.median(per_call)


def bench_inline(tick_ms: int) -> float:
    """The same arithmetic by hand in one loop: admission, clock check, dose, over-current,
    slew limiting with the follow-down margin, limit clamp, building the command tuple."""
    per_step = []
    limit, trip, slew, margin = 20_000, 22_000, 500, 1_500
    for _ in range(REPEATS):
        samples = _samples(BATCH, tick_ms)
        cmd_na, t_prev, delivered, target = 15_000_000, 0, 0, 15_000
        out = None
        start = time.perf_counter()
        for s in samples:
            t, i, v, relay = s
            if type(i) is not int or not -60_000 <= i <= 60_000:
                continue
            dt = t - t_prev
            if dt <= 0 or dt > 100:
                continue
            t_prev = t
            delivered += (i if i >= 0 else -i) * dt
            if i > trip or -i > trip:
                break
            step = slew * (dt if dt < tick_ms else tick_ms)
            tna = (target if target < limit else limit) * 1000
            if tna >= cmd_na:
                cmd_na = tna if tna < cmd_na + step else cmd_na + step
            else:
                flow = i * 1000 if i > 0 else 0
                floor = (flow if flow + margin * 1000 < cmd_na else cmd_na) - step
                cmd_na = max(tna, floor, 0)
            out = (cmd_na // 1000, True, 1000)
        per_step.append((time.perf_counter() - start) / BATCH * 1e6)
        assert out is not None
    return statistics.median(per_step)


def bench_session(tick_ms: int) -> tuple[float, int]:
    """Wall time of a whole simulated 20-minute palm session (what `ionto run --fast` does)."""
    ctl = Controller(profiles.load("hyperhidrosis-palms"), tick_ms=tick_ms)
    sim = SimulatedDevice(SimConfig(tick_ms=tick_ms))
    start = time.perf_counter()
    result = Runner(ctl, sim).run()
    wall = time.perf_counter() - start
    assert ctl.outcome == "completed", ctl.faults
    return wall, result.ticks


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-session", action="store_true", help="skip the 1.2 M-tick session")
    args = ap.parse_args()
    step_us = bench_controller(10)
    inline_us = bench_inline(10)
    monitors_us = bench_monitors(10)
    res: dict[str, float | int] = {
        "controller_step_us": round(step_us, 3),
        "monitors_us": round(monitors_us, 3),
        "inline_loop_us": round(inline_us, 3),
        "ratio": round(step_us / inline_us, 2),
    }
    if not args.no_session:
        wall, ticks = bench_session(1)
        res.update(session_1ms_ticks=ticks, session_1ms_wall_s=round(wall, 2),
                   closed_loop_ticks_per_s=round(ticks / wall))
    if args.json:
        print(json.dumps(res))
        return
    print(f"controller step (median, all monitors on)   {res['controller_step_us']:8.3f} us")
    print(f"  of which the monitors (Supervisor.observe) {res['monitors_us']:8.3f} us")
    print(f"minimal hand-inlined loop, same arithmetic  {res['inline_loop_us']:8.3f} us")
    print(f"ratio (target <= 10)                        {res['ratio']:8.2f} x")
    if not args.no_session:
        print(f"20-min session at 1 ms tick: {res['session_1ms_ticks']} ticks in "
              f"{res['session_1ms_wall_s']} s (target < 6 s), "
              f"{res['closed_loop_ticks_per_s']} ticks/s closed loop")


if __name__ == "__main__":
    main()
