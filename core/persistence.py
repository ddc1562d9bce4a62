"""Debounces by sample time: `Persistence` for fault detection (held time counts, clear
time is forgiven slowly, so an intermittent fault is still caught), `Debounce` for
conditions that must hold continuously (contact back). Used by every monitor of
`supervision`, `trend` and `supply`."""

from __future__ import annotations


class Persistence:
    """A fault condition that must persist for `limit_ms` (by sample time) to be detected.

    Between two samples that both show the condition, the interval counts as held; between
    two that both do not, it is forgiven at a quarter of its length; an interval between a
    good and a bad sample counts both ways: held, half of the interval capped at `cap_ms`
    (min(interval, cap_ms) / 2; the supervisor's cap is half a tick), and forgiven, the
    other half at the quarter rate (interval / 8). Detected once the held time reaches
    `limit_ms`; once all is forgiven the run ends (or restarts from a bad sample). So a condition held continuously is detected exactly `limit_ms`
    after its first sample, as with a plain debounce, and a fault that lets good samples
    through (every other sample, or 19 in 20) is still detected, where a plain debounce
    restarted on every good sample and never fired (issue 9). `since_ms` is the start of
    the current run (-1: none); `acc_ms` the held time counted.
    """

    __slots__ = ("limit_ms", "cap_ms", "since_ms", "_acc4", "_last_ms", "_last_bad")

    def __init__(self, limit_ms: int, cap_ms: int = 10) -> None:
        self.limit_ms = limit_ms
        self.cap_ms = cap_ms
        self.since_ms = -1
        self._acc4 = 0             # held time counted, in quarter milliseconds
        self._last_ms = -1
        self._last_bad = False

    @property
    def acc_ms(self) -> int:
        return self._acc4 // 4

    def update(self, condition: bool, t_ms: int) -> bool:
        if self.since_ms < 0:
            if not condition:
                return False
            self.since_ms = self._last_ms = t_ms
            self._acc4 = 0
            self._last_bad = True
            return self.limit_ms <= 0
        dt = t_ms - self._last_ms if t_ms > self._last_ms else 0
        self._last_ms = t_ms
        if condition and self._last_bad:
            self._acc4 += 4 * dt
        elif condition or self._last_bad:
            self._acc4 += 2 * min(dt, self.cap_ms) - dt // 2
        else:
            self._acc4 -= dt
        self._last_bad = condition
        if self._acc4 <= 0:  # all forgiven: the run ends, or a new one starts on this sample
            if not condition:
                self.clear()
                return False
            self.since_ms, self._acc4 = t_ms, 0
        return condition and self._acc4 >= 4 * self.limit_ms

    def clear(self) -> None:
        self.since_ms = -1
        self._acc4 = 0
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
