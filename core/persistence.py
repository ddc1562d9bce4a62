"""Debounces by sample time: `Persistence` for fault detection (a condition is detected once
it has shown on enough of the samples within a window, whatever the good samples in between),
`Debounce` for conditions that must hold continuously (contact back). Used by every monitor
of `supervision`, `trend` and `supply` (SUP-021 states the rule and its bound)."""

from __future__ import annotations

from collections import deque


def persistence_window_ms(limit_ms: int, tick_ms: int, share_permille: int) -> int:
    """The window over which `Persistence` sums held time: M ticks, where a continuous
    condition is detected on its N-th sample, N = ceil((limit_ms + tick_ms) / tick_ms), and
    M = ceil(N x 1000 / share_permille), so N samples are `share_permille` of the window
    (rounded to the safe side: at most that share).

    pre: limit_ms >= 0 and tick_ms >= 1 and 1 <= share_permille <= 1000
    post: __return__ % tick_ms == 0
    post: __return__ * share_permille >= (limit_ms + tick_ms) * 1000
    post: __return__ >= limit_ms + tick_ms
    """
    n = -(-(limit_ms + tick_ms) // tick_ms)
    return tick_ms * -(-n * 1000 // share_permille)


class Persistence:
    """A fault condition detected once it has held `limit_ms` of sample time within its
    window, on a sample that shows it (SUP-021).

    Held time: a sample that shows the condition weighs one tick (`tick_ms`) when the
    sample before it did not (or there was none), and the whole interval since that sample
    when it did too (the condition held across the interval). A sample that does not show
    it weighs nothing. The window is the longer of the last `window_ms` and the last
    M = window_ms / tick_ms samples; the held time sums the weights within it, an interval
    clipped at its start. Detected when the held time reaches limit_ms + tick_ms. So:
    - a condition shown continuously is detected exactly `limit_ms` after its first sample,
      as with a plain debounce, whatever the sample times;
    - with a sample every tick the held time is tick_ms x the number of samples among the
      last M that show the condition: it is detected on the first sample showing it at
      which N = ceil((limit_ms + tick_ms) / tick_ms) of the last M samples do, however they
      are spread (every third sample, bursts, one in ten), and never while fewer do. With
      `persistence_window_ms(limit_ms, tick_ms, share)` as the window, a condition shown on
      at least `share` of M consecutive samples is detected by the last of them;
    - with samples a tick or more apart (late ticks included) every sample showing it
      weighs at least a tick, and the last M samples are all within the window: detected no
      later than the sample at which N of the last M show it. With samples closer than a
      tick the window holds more than M samples: detected no later than when the condition
      has held `share` of the last window_ms.
    `since_ms` is the oldest held time within the window (-1: none held, nothing to do for
    samples that do not show the condition); `acc_ms` is the held time. Memory: one entry
    per run of consecutive samples showing the condition within the window, and the times
    of the last M + 1 samples while anything is held (cleared with the last run). Callers
    give every sample; one that does not show the condition while nothing is held costs a
    comparison (`update`'s fast path), so no caller skips samples itself.
    """

    __slots__ = ("limit_ms", "tick_ms", "window_ms", "_runs", "_held", "_last_ms", "_last_bad",
                 "_times")

    def __init__(self, limit_ms: int, tick_ms: int, window_ms: int | None = None) -> None:
        self.limit_ms = limit_ms
        self.tick_ms = tick_ms
        self.window_ms = window_ms if window_ms is not None else limit_ms + tick_ms
        # runs within the window: [start, weight of its first sample (0 once outside the
        # window), start of its held span, end of its span (its last sample)]
        self._runs: deque[list[int]] = deque()
        self._held = 0
        self._last_ms = -1
        self._last_bad = False
        # the times of the last M + 1 samples (the oldest bounds the last M from below)
        self._times: deque[int] = deque(maxlen=max(1, self.window_ms // max(1, tick_ms)) + 1)

    @property
    def since_ms(self) -> int:
        if not self._runs:
            return -1
        run = self._runs[0]
        return run[0] if run[1] else run[2]

    @property
    def acc_ms(self) -> int:
        return self._held

    def span_ms(self, t_ms: int) -> int:
        """The time from the oldest held time within the window to `t_ms`: the first sample
        of a run weighs the tick before it, so a run of samples from t0 to t spans
        t - t0 + tick (0 when nothing is held). acc_ms is never more than this."""
        if not self._runs:
            return 0
        run = self._runs[0]
        return t_ms - run[0] + run[1] if run[1] else t_ms - run[2]

    @property
    def showing(self) -> bool:
        """Whether the last sample given showed the condition."""
        return self._last_bad

    @property
    def held(self) -> bool:
        """Whether any held time is within the window (since_ms >= 0)."""
        return bool(self._runs)

    def update(self, condition: bool, t_ms: int) -> bool:
        """Weigh one sample; whether the condition is now detected. Every sample is given,
        whether it shows the condition or not (one that does not, while nothing is held,
        only forgets the sample times: the fast path below)."""
        runs, times = self._runs, self._times
        if not condition and not runs:
            # nothing held: nothing to weigh or expire, and the state is already what the
            # full path would leave (the update that emptied the runs cleared the times, and
            # the last sample did not show the condition, or a run would be left; the time of
            # the last sample matters only after one that showed it, sample times increasing)
            return False
        times.append(t_ms)
        # held time at or before `cut` is outside the window: the longer of the two
        cut = t_ms - self.window_ms
        if len(times) < (times.maxlen or 0):  # fewer than M + 1 samples: all are the last M
            cut = min(cut, times[0] - 1)
        elif times[0] < cut:
            cut = times[0]
        while runs:
            run = runs[0]
            if run[1] and run[0] <= cut:
                self._held -= run[1]
                run[1] = 0
            if run[3] <= cut:
                self._held -= run[3] - run[2]
                runs.popleft()
                continue
            if run[2] < cut:
                self._held -= cut - run[2]
                run[2] = cut
            break
        if condition:
            if self._last_bad and t_ms > self._last_ms >= 0:
                # the condition held across the interval since the last sample
                start = self._last_ms if self._last_ms > cut else cut
                if runs and runs[-1][3] == self._last_ms:
                    runs[-1][3] = t_ms
                else:  # the run's earlier part has left the window
                    runs.append([start, 0, start, t_ms])
                self._held += t_ms - start
            elif not self._last_bad or self._last_ms < 0:
                runs.append([t_ms, self.tick_ms, t_ms, t_ms])
                self._held += self.tick_ms
        elif not runs:  # nothing held: the samples so far cannot matter any more
            times.clear()
        self._last_ms = t_ms if t_ms > self._last_ms else self._last_ms
        self._last_bad = condition
        return condition and self._held >= self.limit_ms + self.tick_ms

    def clear(self) -> None:
        self._runs.clear()
        self._times.clear()
        self._held = 0
        self._last_ms = -1
        self._last_bad = False


class Debounce:
    """A condition that must hold continuously for `limit_ms` (by sample time) to count:
    for conditions that must be stable (contact back), not for fault detection."""

    __slots__ = ("limit_ms", "since_ms")

    def __init__(self, limit_ms: int) -> None:
        self.limit_ms = limit_ms
        self.since_ms = -1

    def update(self, condition: bool, t_ms: int) -> bool:
        if not condition:
            self.since_ms = -1
            return False
        if self.since_ms < 0:
            self.since_ms = t_ms
        return t_ms - self.since_ms >= self.limit_ms

    def clear(self) -> None:
        self.since_ms = -1
