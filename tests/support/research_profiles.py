"""The research profile text the protocol, marker and channel tests share: a 1 cm2 electrode
with a 4 cm2 return, a 20 uA probe, pauses up to 30 s, and the two-pulse protocol (baseline,
two 1 s pulses with a 1 s gap) that emits a marker of every kind."""

from __future__ import annotations


def head(name: str = "proto-test", target_ua: int = 100, ramp_ms: int = 100) -> str:
    """Everything of a research profile but its protocol."""
    return f'''name = "{name}"
family = "research"
[current]
target_ua = {target_ua}
ramp_ms = {ramp_ms}
[electrode]
area_cm2 = 1
return_area_cm2 = 4
[pause]
probe_ua = 20
max_s = 30
'''


TWO_PULSES = '''[protocol]
[[protocol.step]]
kind = "baseline"
duration_s = 1
[[protocol.step]]
kind = "pulse"
on_s = 1
repeat = 2
gap_ms = 1000
'''
"""Baseline, pulse 1, gap, pulse 2, end."""


def two_pulses(name: str = "two-pulses", target_ua: int = 100) -> str:
    return head(name, target_ua) + TWO_PULSES
