"""Bugs planted on purpose, shared by the tests that must catch them (the stateful property
test and the model checker). Each is installed with a pytest monkeypatch, so it is removed
again when the test ends."""

from __future__ import annotations

import pytest

from iontocore import controller as controller_mod, shaping


def abrupt_fall(monkeypatch: pytest.MonkeyPatch) -> None:
    """CTL-002 broken: a falling target is reached at once instead of one slew step below
    the current measured on the previous tick."""
    real = shaping.next_magnitude_na

    def drop_at_once(prev_na: int, measured_ua: int, target_ua: int, step: int, margin: int) -> int:
        if target_ua * 1000 < prev_na:
            return target_ua * 1000
        return real(prev_na, measured_ua, target_ua, step, margin)

    monkeypatch.setattr(controller_mod, "next_magnitude_na", drop_at_once)
