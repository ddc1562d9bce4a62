"""Plot a per-tick trace: current commanded and measured, voltage and delivered dose
against time, states shaded, faults and pauses marked. matplotlib is an optional extra
(`pip install 'iontocore[plot]'`); everything but `render` works without it."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field

from iontocore.dose import UAMS_PER_MA_MIN, UAMS_PER_MC

from .trace import BASE_COLUMNS, HEADER

STATE_COLOURS = {"idle": "#f7f7f7", "ramp_up": "#dceefc", "treat": "#e3f6e3",
                 "polarity_swap": "#efe3f7", "paused": "#ffe2b8", "pulse_gap": "#f2f2f2",
                 "ramp_down": "#fdf3c9", "fault": "#f9c8c8"}
MAX_POINTS = 8_000


class PlotUnavailable(RuntimeError):
    """matplotlib is not installed."""


def require() -> None:
    """Raise PlotUnavailable now if plotting cannot work (checked before a session runs)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise PlotUnavailable("plotting needs matplotlib: pip install 'iontocore[plot]'") from None


@dataclass
class Trace:
    t_ms: list[int] = field(default_factory=list)
    state: list[str] = field(default_factory=list)
    command_ua: list[int] = field(default_factory=list)
    measured_ua: list[float] = field(default_factory=list)  # NaN where no usable sample
    voltage_mv: list[float] = field(default_factory=list)
    delivered_uams: list[int] = field(default_factory=list)


def load_trace(path: str) -> Trace:
    """Read a trace written by `ionto run --trace`. Raises ValueError naming the problem."""
    tr = Trace()
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or tuple(header) not in (HEADER, HEADER[:BASE_COLUMNS]):
            raise ValueError(f"{path}: not an ionto trace (expected the header {','.join(HEADER)})")
        for number, row in enumerate(reader, start=2):
            try:
                tr.t_ms.append(int(row[0]))
                tr.state.append(row[1])
                tr.command_ua.append(int(row[2]))
                tr.measured_ua.append(float(row[3]) if row[3] else float("nan"))
                tr.voltage_mv.append(float(row[4]) if row[4] else float("nan"))
                tr.delivered_uams.append(int(row[5]))
            except (IndexError, ValueError):
                raise ValueError(f"{path}: line {number} is not a trace row") from None
    if not tr.t_ms:
        raise ValueError(f"{path}: the trace has no rows")
    return tr


def state_spans(t_ms: list[int], states: list[str]) -> list[tuple[str, int, int]]:
    """Contiguous runs of one state as (state, start ms, end ms)."""
    spans: list[tuple[str, int, int]] = []
    for t, s in zip(t_ms, states):
        if spans and spans[-1][0] == s:
            spans[-1] = (s, spans[-1][1], t)
        else:
            if spans:
                spans[-1] = (spans[-1][0], spans[-1][1], t)
            spans.append((s, t, t))
    return spans


def envelope(t_ms: list[int], values: list[float], max_points: int = MAX_POINTS
             ) -> tuple[list[float], list[float]]:
    """Decimate to about `max_points` points keeping each bucket's minimum and maximum (in
    time order), so a one-tick spike survives; times in minutes."""
    n = len(t_ms)
    if n <= max_points:
        return [t / 60_000 for t in t_ms], list(values)
    bucket = -(-2 * n // max_points)
    xs: list[float] = []
    ys: list[float] = []
    for start in range(0, n, bucket):
        chunk = [(v, k) for k, v in enumerate(values[start:start + bucket], start) if v == v]
        if not chunk:
            continue
        lo, hi = min(chunk), max(chunk)
        for v, k in sorted({lo, hi}, key=lambda vk: vk[1]):
            xs.append(t_ms[k] / 60_000)
            ys.append(v)
    return xs, ys


def render(trace: Trace, out_png: str, title: str = "", *, limit_ua: int | None = None,
           trip_ua: int | None = None, faults: list[tuple[int, str]] | None = None) -> None:
    """Write the plot as PNG. Raises PlotUnavailable without matplotlib. `limit_ua` and
    `trip_ua` draw the session's current limit and over-current trip; `faults` is
    (t_ms, code) of each fault, labelled with its code."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.patches import Patch
    except ImportError:
        raise PlotUnavailable("plotting needs matplotlib: pip install 'iontocore[plot]'") from None
    fig, (ax_i, ax_v, ax_q) = plt.subplots(3, 1, sharex=True, figsize=(12, 7.5),
                                           height_ratios=[3, 1.4, 1.4])
    # microamp sessions (research) read in uA and mC; therapy sessions in mA and mA*min
    micro = max(abs(c) for c in trace.command_ua) < 2_000
    i_scale, i_unit = (1, "uA") if micro else (1000, "mA")
    q_scale, q_unit = (UAMS_PER_MC, "mC") if micro else (UAMS_PER_MA_MIN, "mA·min")
    t = trace.t_ms
    x, y = envelope(t, [m / i_scale for m in trace.measured_ua])
    ax_i.plot(x, y, lw=0.8, color="tab:orange", alpha=0.85, label="measured", zorder=2)
    x, y = envelope(t, [c / i_scale for c in trace.command_ua])
    ax_i.plot(x, y, lw=1.4, color="tab:blue", ls=(0, (4, 2)), label="commanded", zorder=3)
    for value, name, style in ((limit_ua, "limit", "--"), (trip_ua, "trip", ":")):
        if value:
            for sign in (1, -1):
                ax_i.axhline(sign * value / i_scale, color="dimgray" if name == "limit" else "red",
                             ls=style, lw=1, zorder=1,
                             label=f"{name} ±{value / i_scale:g} {i_unit}" if sign > 0 else None)
    ax_i.set_ylabel(f"current ({i_unit})")
    x, y = envelope(t, [v / 1000 for v in trace.voltage_mv])
    ax_v.plot(x, y, lw=0.8, color="tab:purple")
    ax_v.set_ylabel("voltage (V)")
    x, y = envelope(t, [q / q_scale for q in trace.delivered_uams])
    ax_q.plot(x, y, color="tab:green")
    ax_q.set_ylabel(f"delivered ({q_unit})")
    ax_q.set_xlabel("time (min)")
    seen: list[str] = []
    for state, t0, t1 in state_spans(trace.t_ms, trace.state):
        for ax in (ax_i, ax_v, ax_q):
            ax.axvspan(t0 / 60_000, t1 / 60_000, color=STATE_COLOURS.get(state, "#ffffff"),
                       lw=0, zorder=0)
        if state not in seen:
            seen.append(state)
        if state == "fault" and not faults:
            for ax in (ax_i, ax_v, ax_q):
                ax.axvline(t0 / 60_000, color="red", lw=1.5)
            ax_i.annotate(" fault", (t0 / 60_000, ax_i.get_ylim()[0]), color="red",
                          va="bottom", ha="right", rotation=90)
        if state == "paused":
            ax_i.annotate("pause", (t0 / 60_000, 0), color="darkorange", va="bottom")
    for t_fault, code in faults or []:
        for ax in (ax_i, ax_v, ax_q):
            ax.axvline(t_fault / 60_000, color="red", lw=1.5)
        ax_i.annotate(f" fault: {code}", (t_fault / 60_000, ax_i.get_ylim()[0]), color="red",
                      va="bottom", ha="right", rotation=90)
    lines, labels = ax_i.get_legend_handles_labels()
    swatches = [Patch(facecolor=STATE_COLOURS.get(s, "#ffffff"), edgecolor="gray", label=s)
                for s in seen]  # every state with a visible swatch, idle included
    ax_i.legend(lines + swatches, labels + seen, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                fontsize=8)
    ax_i.set_title(title or "iontocore session")
    for ax in (ax_i, ax_v, ax_q):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
