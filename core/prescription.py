"""The prescription: what a clinician set for one session, in integer units.

Three layers, each able only to narrow the one above: device limits (frozen, set by
the maker) > prescription (this module) > patient adjustments during the session
(`Controller.adjust`). A prescription is validated on its own when created and
against a device by `check_against`; asking for more than the device allows is
rejected with every problem listed, never clamped.

Field names here are the internal ones; `iontocore.profiles` maps them to the TOML
keys a profile file uses (specs/profile_format.md).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .envelope import SITES
from .errors import Checker, InvalidSettings, Problem, is_name, quoted
from .limits import DeviceLimits, effective_limit_ua
from .protocol import MAX_STEPS, PULSE, Protocol, Step

FAMILIES = ("tap-water", "drug", "research")
WAVEFORMS = ("dc", "pulsed")
ANODE, CATHODE = "anode", "cathode"


INT_RANGES: dict[str, tuple[int, int, str]] = {
    "target_ua": (1, 100_000, "uA"),
    "ramp_ms": (1, 600_000, "ms"),
    "duration_ms": (0, 14_400_000, "ms"),
    "max_ua": (0, 100_000, "uA"),
    "min_ua": (0, 100_000, "uA"),
    "step_ua": (0, 100_000, "uA"),
    "pulse_hz": (0, 100_000, "Hz"),
    "duty_permille": (1, 1000, "permille"),
    "area_mm2": (0, 10_000_000, "mm2"),
    "return_area_mm2": (0, 10_000_000, "mm2"),
    "max_density_ua_per_cm2": (0, 100_000, "uA/cm2"),
    "dose_uams": (0, 10**12, "uA*ms"),
    "electrode_max_uams": (0, 10**12, "uA*ms"),
    "pulse_count": (0, 1_000, ""),
    "pulse_on_ms": (0, 3_600_000, "ms"),
    "pulse_gap_ms": (0, 3_600_000, "ms"),
    "max_pause_ms": (1_000, 3_600_000, "ms"),
    "contact_stable_ms": (0, 60_000, "ms"),
    "probe_ua": (1, 1_000, "uA"),
    "max_pauses": (0, 1_000, ""),
    "max_paused_total_ms": (1_000, 14_400_000, "ms"),
    "max_charge_uams": (0, 10**10, "uA*ms"),
    "max_charge_density_uams_per_cm2": (0, 10**8, "uA*ms/cm2"),
}
"""Allowed range of every integer field (inclusive) and its unit: the validator and
specs/profile_format.md both read this table."""

CLINICAL_MINIMUMS = frozenset({"max_pause_ms", "max_paused_total_ms"})
"""Fields whose lower bound is clinical practice, not something the controller relies on
(a shorter pause bound only ends a session sooner). `problems(clinical_minimums=False)`
lowers them to 1, with the 10 s minimum session and the 1 s minimum ramp of tap-water and
drug (RX-008: a shorter ramp is still slew-limited by the device)."""
MIN_CLINICAL_RAMP_MS = 1_000
"""tap-water and drug: the shortest ramp (soft start and stop, clinical practice). Research
ramps are bounded by the device's slew alone (RX-008)."""


@dataclass(frozen=True)
class Prescription:
    """One session's settings. Currents in uA, times in ms, charge in uA*ms, area in mm2."""

    name: str
    family: str
    target_ua: int
    """Intensity at the start of treatment (the pulse amplitude in pulsed mode)."""
    ramp_ms: int
    """Time to ramp from zero to the target; sets the slew for every change."""
    duration_ms: int = 0
    """tap-water: session time; drug: longest time allowed to reach the dose; research: 0."""
    max_ua: int = 0
    """Ceiling the patient may raise to (0: the target)."""
    min_ua: int = 0
    """Floor the patient may lower to (0: one step)."""
    step_ua: int = 0
    """Patient adjustment step (0: a tenth of the target, at least 1 uA)."""
    electrode_a: str = ANODE
    """Role of electrode A at the start: 'anode' (current flows A->B, sign +) or 'cathode'.
    In drug iontophoresis electrode A is the drug electrode."""
    reverse_at_half: bool = False
    waveform: str = "dc"
    pulse_hz: int = 0
    duty_permille: int = 1000
    area_mm2: int = 0
    """Area of electrode A (drug: the drug electrode; research: the chamber). Required for
    drug and research; tap-water may give it only to narrow the site's assumed area."""
    return_area_mm2: int = 0
    """Area of the other electrode (drug and research; required there). The density limit
    applies to the smaller of the two."""
    site: str = ""
    """tap-water: the treated site (core/envelope.py SITES), which sets the assumed contact
    area of each electrode."""
    max_density_ua_per_cm2: int = 0
    """A density limit of this prescription's own (0: the family's, ENV-002); may only narrow."""
    dose_uams: int = 0
    """drug: the prescribed dose; the session ends when it is delivered."""
    electrode_max_uams: int = 0
    """drug: the electrode's rated maximum dose; a hard limit."""
    pulse_count: int = 0
    """research, the short form: that many equal pulses (a protocol of one repeated pulse)."""
    pulse_on_ms: int = 0
    pulse_gap_ms: int = 0
    protocol: Protocol | None = None
    """research: the steps (baseline, pulse, gap) of the session (core/protocol.py); instead
    of the pulse_* short form."""
    max_charge_uams: int = 0
    """research: a session charge ceiling of this prescription's own (0: none); narrows the
    family's charge density x the smaller electrode (ENV-005, DOSE-003)."""
    max_charge_density_uams_per_cm2: int = 0
    """research: the same per cm2 of the smaller electrode (0: the family's)."""
    max_pause_ms: int = 120_000
    """A contact-loss pause longer than this ends the session as stopped."""
    contact_stable_ms: int = 2_000
    """Contact must be back this long before the current ramps up again."""
    probe_ua: int = 50
    """Current held while paused so that returning contact can be seen."""
    max_pauses: int = 20
    """A contact loss beyond this many pauses ends the session as stopped (CTL-007)."""
    max_paused_total_ms: int = 600_000
    """Paused longer than this in all ends the session as stopped (CTL-007)."""
    description: str = ""

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise InvalidSettings(problems, f"prescription {quoted(self.name)}")

    @classmethod
    def draft(cls, **fields: Any) -> "Prescription":
        """An unvalidated instance, only for listing its `problems()` (profile files use it
        to report every problem at once). Never hand a draft to a Controller."""
        obj = cls.__new__(cls)
        for f in dataclasses.fields(cls):
            default = None if f.default is dataclasses.MISSING else f.default
            object.__setattr__(obj, f.name, fields.get(f.name, default))
        return obj

    def problems(self, device: DeviceLimits | None = None,
                 clinical_minimums: bool = True) -> list[Problem]:
        """Every problem with this prescription (and, given a device, with running it there).
        A rule that involves a field already found bad is skipped, so nothing is reported
        twice and no rule trips over a value of the wrong type. `clinical_minimums=False`
        leaves out the clinical minimums the controller does not rely on (CLINICAL_MINIMUMS
        and the 10 s session); the Controller checks everything else."""
        c = Checker(f"prescription {quoted(self.name)}")
        c.check(isinstance(self.name, str) and 0 < len(self.name) <= 64
                and all(ch.isascii() and (ch.isalnum() or ch == "-") for ch in self.name),
                "name", self.name, "1 to 64 letters, digits and dashes")
        c.one_of("family", self.family, FAMILIES)
        for name, (lo, hi, unit) in INT_RANGES.items():
            if name in CLINICAL_MINIMUMS and not clinical_minimums:
                lo = 1
            c.int_range(name, getattr(self, name), lo, hi, unit)
        c.one_of("electrode_a", self.electrode_a, (ANODE, CATHODE), f"'{ANODE}' or '{CATHODE}'")
        c.check(type(self.reverse_at_half) is bool, "reverse_at_half", self.reverse_at_half,
                "true or false")
        c.one_of("waveform", self.waveform, WAVEFORMS)
        c.check(isinstance(self.description, str), "description", self.description, "a string")
        c.one_of("site", self.site, (*SITES, ""), f"one of {list(SITES)} (or not given)")
        bad = {p.field for p in c.problems}
        self._check_relations(c, bad, 10_000 if clinical_minimums else 1)
        if "ramp_ms" not in bad and clinical_minimums and self.family in ("tap-water", "drug"):
            c.check(self.ramp_ms >= MIN_CLINICAL_RAMP_MS, "ramp_ms", self.ramp_ms,
                    f">= {MIN_CLINICAL_RAMP_MS} ms for {self.family} (a soft start and stop); "
                    "only research ramps are bounded by the device's slew alone")
        if device is not None and c.check(isinstance(device, DeviceLimits), "device",
                                          type(device).__name__, "a DeviceLimits"):
            self._check_device(c, bad, device)
        return c.problems

    def _check_relations(self, c: Checker, bad: set[str], min_session_ms: int = 10_000) -> None:
        def ok(*names: str) -> bool:
            return not bad.intersection(names)

        t = self.target_ua
        if ok("target_ua", "max_ua"):
            c.check(self.max_ua == 0 or self.max_ua >= t, "max_ua", self.max_ua,
                    f"at least the target ({t} uA), or 0 for 'the target'")
        if ok("target_ua", "min_ua"):
            c.check(self.min_ua <= t, "min_ua", self.min_ua, f"at most the target ({t} uA)")
        if ok("target_ua", "max_ua", "step_ua"):
            c.check(self.step_ua <= self.ceiling_ua, "step_ua", self.step_ua,
                    f"at most the ceiling ({self.ceiling_ua} uA)")
        if ok("target_ua", "step_ua", "min_ua") and not self.min_ua:
            c.check(self.adjust_step_ua <= t, "step_ua", self.step_ua,
                    f"at most the target ({t} uA) when no minimum is given: the floor is then "
                    "one step")
        if ok("target_ua", "probe_ua"):
            c.check(self.probe_ua <= t, "probe_ua", self.probe_ua, f"at most the target ({t} uA)")
        if ok("waveform", "pulse_hz", "duty_permille"):
            if self.waveform == "pulsed":
                c.check(self.pulse_hz > 0, "pulse_hz", self.pulse_hz, "> 0 for a pulsed waveform")
                c.check(self.duty_permille < 1000, "duty_permille", self.duty_permille,
                        "below 1000 for a pulsed waveform")
            else:
                c.check(self.pulse_hz == 0, "pulse_hz", self.pulse_hz, "0 for DC")
                c.check(self.duty_permille == 1000, "duty_permille", self.duty_permille,
                        "1000 for DC")
        self._check_areas(c, bad)
        if ok("area_mm2", "return_area_mm2", "site", "max_density_ua_per_cm2",
              "target_ua", "max_ua") and self.max_density_ua_per_cm2 > 0 and self.contact_area_mm2:
            density_cap = self.max_density_ua_per_cm2 * self.contact_area_mm2 // 100
            c.check(self.ceiling_ua <= density_cap, "max_ua" if self.max_ua else "target_ua",
                    self.ceiling_ua,
                    f"at most density x smaller electrode = {self.max_density_ua_per_cm2} uA/cm2 x "
                    f"{self.contact_area_mm2} mm2 = {density_cap} uA (the peak current)")
        if not ok("family", "duration_ms", "dose_uams", "electrode_max_uams", "pulse_count",
                  "pulse_on_ms", "pulse_gap_ms", "reverse_at_half"):
            return
        fam = self.family
        if fam != "research":
            for name in ("pulse_on_ms", "pulse_gap_ms", "max_charge_uams",
                         "max_charge_density_uams_per_cm2"):
                if name not in bad:
                    c.check(getattr(self, name) == 0, name, getattr(self, name), f"0 for {fam}")
            c.check(self.protocol is None, "protocol", "(given)", f"none for {fam}")
        if fam == "tap-water":
            c.check(self.duration_ms >= min_session_ms, "duration_ms", self.duration_ms,
                    f">= {min_session_ms} ms: a tap-water session ends by time")
            c.check(self.dose_uams == 0, "dose_uams", self.dose_uams, "0 for tap-water (ends by time)")
            c.check(self.pulse_count == 0, "pulse_count", self.pulse_count, "0 for tap-water")
            c.check(self.electrode_max_uams == 0, "electrode_max_uams", self.electrode_max_uams,
                    "0 for tap-water (no dose)")
        elif fam == "drug":
            c.check(self.dose_uams > 0, "dose_uams", self.dose_uams, "> 0: a drug session ends by dose")
            c.check(self.electrode_max_uams >= self.dose_uams > 0, "electrode_max_uams",
                    self.electrode_max_uams, f"given and at least dose_uams ({self.dose_uams} uA*ms)")
            c.check(self.duration_ms >= min_session_ms, "duration_ms", self.duration_ms,
                    f">= {min_session_ms} ms: the longest time allowed to reach the dose")
            c.check(not self.reverse_at_half, "reverse_at_half", self.reverse_at_half,
                    "false: the drug electrode's polarity is fixed by the drug's charge")
            c.check(self.pulse_count == 0, "pulse_count", self.pulse_count, "0 for drug")
        elif fam == "research":
            if self.protocol is None:
                c.check(self.pulse_count >= 1, "pulse_count", self.pulse_count,
                        ">= 1 for research pulses (or a [protocol])")
                c.check(self.pulse_on_ms >= 1_000, "pulse_on_ms", self.pulse_on_ms, ">= 1000 ms")
                c.check(self.pulse_count <= 1 or self.pulse_gap_ms >= 1_000, "pulse_gap_ms",
                        self.pulse_gap_ms, ">= 1000 ms between pulses")
                c.check(self.pulse_count != 1 or self.pulse_gap_ms == 0, "pulse_gap_ms",
                        self.pulse_gap_ms, "0 for a single pulse (no gap follows it)")
                c.check(2 * self.pulse_count - 1 <= MAX_STEPS, "pulse_count", self.pulse_count,
                        f"at most {(MAX_STEPS + 1) // 2}: the pulses and the gaps between them "
                        f"are at most {MAX_STEPS} steps (RX-011)")
            else:
                for name in ("pulse_count", "pulse_on_ms", "pulse_gap_ms"):
                    c.check(getattr(self, name) == 0, name, getattr(self, name),
                            "0 with a [protocol] (the protocol gives the pulses)")
                if c.check(isinstance(self.protocol, Protocol), "protocol", self.protocol,
                           "a Protocol") and ok("target_ua", "max_ua", "ramp_ms"):
                    c.problems.extend(self.protocol.problems(self.ceiling_ua, self.target_ua,
                                                             self.slew_ua_per_s))
            c.check(self.duration_ms == 0, "duration_ms", self.duration_ms,
                    "0 for research (the pulse train sets the time)")
            c.check(not self.reverse_at_half, "reverse_at_half", self.reverse_at_half,
                    "false for research pulses")
            c.check(self.dose_uams == 0, "dose_uams", self.dose_uams, "0 for research")
            c.check(self.electrode_max_uams == 0, "electrode_max_uams", self.electrode_max_uams,
                    "0 for research")

    def _check_areas(self, c: Checker, bad: set[str]) -> None:
        """ENV-003: every prescription knows the contact area its density is judged on."""
        if bad.intersection(("area_mm2", "return_area_mm2", "site")):
            return  # (a family found bad takes neither branch below)
        if self.family == "tap-water":
            if c.check(self._known_site(), "site", self.site or "(not given)",
                       f"one of {list(SITES)}: the site sets the contact area the density "
                       "limit is judged on"):
                assumed = SITES[self.site].area_mm2
                c.check(self.area_mm2 <= assumed, "area_mm2", self.area_mm2,
                        f"at most the assumed contact area of '{self.site}' ({assumed} mm2): an "
                        "area may only narrow it")
            c.check(self.return_area_mm2 == 0, "return_area_mm2", self.return_area_mm2,
                    "0 for tap-water (both electrodes touch the site)")
        elif self.family in FAMILIES:
            c.check(self.site == "", "site", self.site, f"not given for {self.family} (state "
                    "the electrode areas)")
            c.check(self.area_mm2 > 0, "area_mm2", self.area_mm2 or "(not given)",
                    f"> 0: a {self.family} prescription states its electrode's area (ENV-003)")
            c.check(self.return_area_mm2 > 0, "return_area_mm2",
                    self.return_area_mm2 or "(not given)",
                    f"> 0: a {self.family} prescription states the other electrode's area too; "
                    "the density is judged on the smaller (ENV-003)")

    # Derived values -----------------------------------------------------------------

    def _known_site(self) -> bool:
        """Whether `site` names one of SITES. Any value may be asked about: a list or a table
        (unhashable) is no site name, never an error."""
        return is_name(self.site, SITES)

    @property
    def contact_area_mm2(self) -> int:
        """Area the density is judged on: the smaller electrode (drug, research), or the
        site's assumed area narrowed by a given area (tap-water). 0 when unknown (invalid)."""
        if self.family == "tap-water":
            assumed = SITES[self.site].area_mm2 if self._known_site() else 0
            return min(assumed, self.area_mm2) if self.area_mm2 else assumed
        if self.area_mm2 and self.return_area_mm2:
            return min(self.area_mm2, self.return_area_mm2)
        return 0

    def density_limit_ua_per_cm2(self, device: DeviceLimits) -> int:
        """The density limit in force: the family's, narrowed by this prescription's own."""
        family = device.family_limits(self.family).max_density_ua_per_cm2
        return min(family, self.max_density_ua_per_cm2) if self.max_density_ua_per_cm2 else family

    def ramp_to_ceiling_ms(self) -> int:
        """Longest ramp between zero and the ceiling at this prescription's slew (rounded up)."""
        return -(-self.ceiling_ua * 1000 // self.slew_ua_per_s)

    def research_protocol(self) -> Protocol | None:
        """research: the protocol, the short form (pulse_count equal pulses with gaps) as a
        protocol of one repeated pulse; None for the other families."""
        if self.family != "research":
            return None
        if self.protocol is not None:
            return self.protocol
        gap = self.pulse_gap_ms if self.pulse_count > 1 else 0
        return Protocol((Step(PULSE, duration_ms=self.pulse_on_ms, repeat=self.pulse_count,
                              gap_ms=gap),))

    def planned_charge_bound_uams(self) -> int:
        """research: an upper bound of the charge the protocol delivers (average current when
        pulsed): a pulse by time at the ceiling for its on-time plus a full ramp up and a full
        ramp down; a pulse by charge its charge plus one ramp at the ceiling (the last tick
        and the ramp down it ends on). 0 for the other families."""
        proto = self.research_protocol()
        if proto is None:
            return 0
        ramp = self.ramp_to_ceiling_ms()
        by_time_ms = by_charge = 0
        for s in proto.expanded():
            if s.kind == PULSE and s.charge_uams:
                by_charge += s.charge_uams + -(-self.ceiling_ua * self.duty_permille * ramp // 1000)
            elif s.kind == PULSE:
                by_time_ms += s.duration_ms + 2 * ramp
        return by_charge + -(-self.ceiling_ua * self.duty_permille * by_time_ms // 1000)

    def charge_cap_uams(self, device: DeviceLimits) -> int:
        """The charge the core never lets a session pass (DOSE-002, ENV-005): the electrode's
        rating (drug), the family's charge density times the smaller electrode narrowed by
        the prescription's own session ceilings (research), 0 for none (tap-water ends by
        time)."""
        if self.family == "drug":
            return self.electrode_max_uams
        if self.family == "research":
            return self._research_cap(device)[0]
        return 0

    def _research_cap(self, device: DeviceLimits) -> tuple[int, str]:
        """research: the session charge ceiling and, in words with its numbers, what sets it
        (the family's charge density or the prescription's own, x the smaller electrode, or
        the prescription's max_charge_uams below that)."""
        area = self.contact_area_mm2
        per_cm2 = device.family_limits("research").max_charge_density_uams_per_cm2
        source = "device research.max_charge_density_uams_per_cm2"
        own = self.max_charge_density_uams_per_cm2
        if own and own < per_cm2:
            per_cm2, source = own, "the prescription's max_charge_density_uams_per_cm2"
        by_density = per_cm2 * area // 100
        if self.max_charge_uams and self.max_charge_uams < by_density:
            return (self.max_charge_uams,
                    f"the prescription's max_charge_uams, below {by_density} uA*ms by density")
        return by_density, f"{per_cm2} uA*ms/cm2, {source}, x {area} mm2, the smaller electrode"

    @property
    def ceiling_ua(self) -> int:
        """Highest intensity the patient may raise to."""
        return self.max_ua or self.target_ua

    @property
    def floor_ua(self) -> int:
        """Lowest intensity the patient may lower to."""
        return self.min_ua or self.adjust_step_ua

    @property
    def adjust_step_ua(self) -> int:
        return self.step_ua or max(1, self.target_ua // 10)

    @property
    def polarity(self) -> int:
        """Sign of the current at the start: +1 when electrode A is the anode."""
        return 1 if self.electrode_a == ANODE else -1

    @property
    def slew_ua_per_s(self) -> int:
        """Slew from the ramp time: target / ramp, rounded down (the ramp is never shorter)."""
        return max(1, self.target_ua * 1000 // self.ramp_ms)

    @property
    def planned_ms(self) -> int:
        """Planned session time without pauses or ramp-down: the duration, or the protocol's
        steps (a pulse by charge for its charge at its current)."""
        proto = self.research_protocol()
        if proto is None:
            return self.duration_ms
        total = 0
        for s in proto.expanded():
            if s.kind == PULSE and s.charge_uams:
                avg = max(1, (s.current_ua or self.target_ua) * self.duty_permille)
                total += -(-s.charge_uams * 1000 // avg)
            else:
                total += s.duration_ms
        return total

    def check_against(self, device: DeviceLimits) -> None:
        """Raise InvalidSettings listing every way this prescription exceeds the device."""
        c = Checker(f"prescription {quoted(self.name)} on this device")
        self._check_device(c, set(), device)
        c.raise_if_any()

    def _check_device(self, c: Checker, bad: set[str], device: DeviceLimits) -> None:
        def ok(*names: str) -> bool:
            return not bad.intersection(names)

        if ok("target_ua", "max_ua"):
            c.check(self.ceiling_ua <= device.max_current_ua, "max_ua" if self.max_ua else "target_ua",
                    self.ceiling_ua, f"at most the device maximum {device.max_current_ua} uA")
        if ok("target_ua", "ramp_ms"):
            # the slew is target / ramp rounded down: the shortest ramp accepted
            shortest = self.target_ua * 1000 // (device.max_slew_ua_per_s + 1) + 1
            c.check(self.slew_ua_per_s <= device.max_slew_ua_per_s, "ramp_ms", self.ramp_ms,
                    f"at least {shortest} ms for {self.target_ua} uA (device max slew "
                    f"{device.max_slew_ua_per_s} uA/s)")
        # the planned time: the duration, the short form's pulses, or a protocol's steps (its
        # pulses by charge at their current x duty; a bad target_ua makes _protocol_bad)
        if ok("duration_ms", "pulse_count", "pulse_on_ms", "pulse_gap_ms",
              "duty_permille") and self.family in FAMILIES and not self._protocol_bad(bad):
            research = self.family == "research"
            field, value = self._plan_field()
            c.check(self.planned_ms <= device.max_session_ms,
                    field if research else "duration_ms",
                    value if research else self.duration_ms,
                    f"a session of at most {device.max_session_ms} ms (device limit); "
                    f"planned {self.planned_ms} ms")
        if ok("reverse_at_half", "duration_ms") and self.reverse_at_half:
            c.check(device.reversal_allowed, "reverse_at_half", True,
                    "false: this device does not allow polarity reversal")
            c.check(self.duration_ms >= device.min_reversal_session_ms, "duration_ms",
                    self.duration_ms, f"at least {device.min_reversal_session_ms} ms "
                    "for a reversal at half time (device minimum)")
        if ok("waveform", "pulse_hz", "duty_permille"):
            c.check(self.waveform in device.waveforms, "waveform", self.waveform,
                    f"one of the device's waveforms {sorted(device.waveforms)}")
            if self.waveform == "pulsed":
                c.check(device.pulse_hz_min <= self.pulse_hz <= device.pulse_hz_max, "pulse_hz",
                        self.pulse_hz, f"{device.pulse_hz_min} to {device.pulse_hz_max} Hz (device)")
                c.check(device.duty_permille_min <= self.duty_permille <= device.duty_permille_max,
                        "duty_permille", self.duty_permille,
                        f"{device.duty_permille_min} to {device.duty_permille_max} permille (device)")
        if "family" not in bad:  # (a family found bad is not one of them)
            self._check_envelope(c, bad, device)

    def _check_envelope(self, c: Checker, bad: set[str], device: DeviceLimits) -> None:
        """ENV-001, ENV-002, ENV-004, ENV-005: the family's envelope on this device."""
        def ok(*names: str) -> bool:
            return not bad.intersection(names)

        fam = device.family_limits(self.family)
        slot = self.family.replace("-", "_")
        current = "max_ua" if "max_ua" not in bad and self.max_ua else "target_ua"
        if ok("target_ua", "max_ua"):
            c.check(self.ceiling_ua <= fam.max_current_ua, current, self.ceiling_ua,
                    f"at most {fam.max_current_ua} uA for {self.family} (device "
                    f"{slot}.max_current_ua)")
        if ok("max_density_ua_per_cm2"):
            c.check(self.max_density_ua_per_cm2 <= fam.max_density_ua_per_cm2,
                    "max_density_ua_per_cm2", self.max_density_ua_per_cm2,
                    f"at most {fam.max_density_ua_per_cm2} uA/cm2 for {self.family} (device "
                    f"{slot}.max_density_ua_per_cm2)")
        # a bad site is no contact area (contact_area_mm2 is 0 for it); drug and research
        # areas are the electrodes', whatever was said about a site
        area = self.contact_area_mm2 if ok("area_mm2", "return_area_mm2") else 0
        if ok("target_ua", "max_ua") and area:
            cap = fam.max_density_ua_per_cm2 * area // 100
            c.check(self.ceiling_ua <= cap, current, self.ceiling_ua,
                    f"at most {fam.max_density_ua_per_cm2} uA/cm2 (device {slot}."
                    f"max_density_ua_per_cm2) x {area} mm2 (the smaller electrode) = {cap} uA, "
                    "judged at the peak current")
        if self.family == "drug" and ok("electrode_max_uams"):
            c.check(self.electrode_max_uams <= fam.max_electrode_rating_uams, "electrode_max_uams",
                    self.electrode_max_uams, f"at most {fam.max_electrode_rating_uams} uA*ms "
                    "(device drug.max_electrode_rating_uams)")
        per_cm2 = fam.max_charge_density_uams_per_cm2
        if self.family == "research" and ok("max_charge_density_uams_per_cm2"):
            c.check(self.max_charge_density_uams_per_cm2 <= per_cm2,
                    "max_charge_density_uams_per_cm2", self.max_charge_density_uams_per_cm2,
                    f"at most {per_cm2} uA*ms/cm2 (device research."
                    "max_charge_density_uams_per_cm2): a session ceiling may only narrow it")
        # `area` is 0 when area_mm2 or return_area_mm2 is bad: the rules below need it
        if self.family == "research" and area and ok("max_charge_uams"):
            c.check(self.max_charge_uams <= per_cm2 * area // 100, "max_charge_uams",
                    self.max_charge_uams, f"at most {per_cm2 * area // 100} uA*ms = {per_cm2} "
                    f"uA*ms/cm2 (device research.max_charge_density_uams_per_cm2) x {area} mm2: "
                    "a session ceiling may only narrow it")
        if self.family == "research" and area and ok(
                "target_ua", "max_ua", "ramp_ms", "duty_permille", "pulse_count", "pulse_on_ms",
                "pulse_gap_ms", "max_charge_uams",
                "max_charge_density_uams_per_cm2") and not self._protocol_bad(bad):
            planned = self.planned_charge_bound_uams()
            cap, source = self._research_cap(device)
            field, value = self._plan_field()
            c.check(planned <= cap, field, value,
                    f"a protocol of at most {cap} uA*ms, the session charge ceiling ({source}); "
                    f"planned up to {planned} uA*ms (ramps at the ceiling included)")

    def _protocol_bad(self, bad: set[str]) -> bool:
        """Whether the protocol (or the prescription's fields it depends on) has a problem."""
        if self.protocol is None:
            return False
        if bad & {"target_ua", "max_ua", "ramp_ms"}:  # `bad` holds the single fields only
            return True
        return not isinstance(self.protocol, Protocol) or bool(
            self.protocol.problems(self.ceiling_ua, self.target_ua, self.slew_ua_per_s))

    def _plan_field(self) -> tuple[str, object]:
        """The field a problem of the research plan as a whole is reported on."""
        if self.protocol is not None:
            return "protocol.step", len(self.protocol.steps)
        return "pulse_count", self.pulse_count

    def limit_ua(self, device: DeviceLimits) -> int:
        """The effective current limit on this device (all layers, the envelope included)."""
        fam = device.family_limits(self.family)
        return effective_limit_ua(min(device.max_current_ua, fam.max_current_ua), self.ceiling_ua,
                                  self.density_limit_ua_per_cm2(device), self.contact_area_mm2)
