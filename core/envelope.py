"""The clinical envelope: per-family limits no prescription can leave, and the contact areas
of the tap-water treatment sites. Every default and every ceiling names its source.

A device maker may narrow each family's limits (`FamilyLimits.adjusted`); a value above the
ceiling (the widest range the sources support) is refused, never clamped. The limits are
part of `DeviceLimits` (fields `tap_water`, `drug`, `research`); `Prescription.check_against`
applies them and the controller's effective limit includes them (CTL-001, ENV-*).

Density is judged under the smaller electrode and at the peak current: for a pulsed
waveform the pulse amplitude, not the average (burns come from the density that flows).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple

from .errors import Checker, is_name


class Bound(NamedTuple):
    """One family setting: its default, the ceiling a maker may not pass, and the source."""

    default: int
    ceiling: int
    source: str


FAMILY_FIELDS: dict[str, tuple[str, str]] = {
    "max_current_ua": ("uA", "highest current (the pulse amplitude when pulsed) a prescription of "
                       "the family may ask for"),
    "max_density_ua_per_cm2": ("uA/cm2", "highest current density under the smaller electrode, at "
                               "the peak current"),
    "max_electrode_rating_uams": ("uA*ms", "drug: highest electrode rating a prescription may "
                                  "state (the rating is then enforced at run time, DOSE-002); "
                                  "0 where not used"),
    "max_charge_density_uams_per_cm2": ("uA*ms/cm2", "research: charge per cm2 of the smaller "
                                        "electrode a session never passes (checked on the plan "
                                        "and enforced at run time); 0 where not used"),
}
"""The four settings of every family: unit and meaning."""

_ENRAF = "Enraf-Nonius manual, section 10.1.6: at most 0.2 mA/cm2 under a DC electrode"
_BUFFERED = ("ceiling: drug units work up to 0.5 mA/cm2 at the anode with buffered electrodes, "
             "the highest density any source here uses; IEC 60601-2-10's 2 mA/cm2 only draws "
             "attention and is not a safe default")
_NOT_USED = "not used by this family"

ENVELOPE: dict[str, dict[str, Bound]] = {
    "tap-water": {
        "max_current_ua": Bound(30_000, 30_000, "RA Fischer: tap-water units are rated 20-30 mA "
                                "(10-18 mA used on hands and feet)"),
        "max_density_ua_per_cm2": Bound(200, 500, f"{_ENRAF}; {_BUFFERED}"),
        "max_electrode_rating_uams": Bound(0, 0, _NOT_USED + " (a session ends by time)"),
        "max_charge_density_uams_per_cm2": Bound(0, 0, _NOT_USED),
    },
    "drug": {
        "max_current_ua": Bound(4_000, 4_000, "ActivaDose II manual, p. 10: drug units cap the "
                                "current at 4 mA"),
        "max_density_ua_per_cm2": Bound(500, 500, "drug units work up to 0.5 mA/cm2 at the anode "
                                        "with buffered electrodes (Enraf-Nonius advises 0.2 "
                                        "mA/cm2 for unbuffered DC electrodes: narrow to it)"),
        "max_electrode_rating_uams": Bound(4_800_000_000, 4_800_000_000, "Dupel B.L.U.E. "
                                           "electrodes are rated 40-80 mA*min: 80 mA*min at most"),
        "max_charge_density_uams_per_cm2": Bound(0, 0, _NOT_USED + " (the electrode rating "
                                                 "bounds the charge)"),
    },
    "research": {
        "max_current_ua": Bound(500, 1_000, "microamps are used (100 uA pulses typical, "
                                "'Factors critical to iontophoretic assessment of vascular "
                                "reactivity'); no source gives a maximum: 1 mA, ten times the "
                                "typical pulse, is an engineering ceiling, 0.5 mA the default"),
        "max_density_ua_per_cm2": Bound(100, 500, "gbo Duodynator manual, p. 24: at most 0.1 "
                                        f"mA/cm2 for iontophoresis; {_BUFFERED}"),
        "max_electrode_rating_uams": Bound(0, 0, _NOT_USED + " (the charge-density ceiling "
                                           "bounds the charge)"),
        "max_charge_density_uams_per_cm2": Bound(6_000_000, 6_000_000, "Altahami 2010 and "
                                                 "'Factors critical...': at most about 6 mC/cm2 "
                                                 "to avoid current-induced vasodilation"),
    },
}
"""Default and ceiling of every family setting, with the source of each."""


class Site(NamedTuple):
    """A tap-water treatment site: the contact area assumed under one electrode, and why."""

    area_mm2: int
    source: str


SITES: dict[str, Site] = {
    "palms": Site(12_000, "one adult hand, palm and fingers: about 0.8 % of the body surface "
                  "(Rossiter et al., 'How big is a hand?', Burns 1996), 120 cm2 for a small "
                  "adult of 1.5 m2; smaller than a hand really wetted, so the density is "
                  "overestimated, never under"),
    "soles": Site(15_000, "one adult sole: a foot is 3.5 % of the body surface (Lund and Browder "
                  "chart), the sole about half of it; 150 cm2 taken (below 1.75 % of 1.5 m2 = "
                  "262 cm2) for a shallow tray that wets the sole only"),
    "underarms": Site(4_000, "one wet sponge pad in the armpit: 40 cm2, the pad area the "
                      "built-in underarm profile names; state a smaller pad as electrode.area"),
    "child-hands": Site(6_000, "one child's hand, palm and fingers: 0.8 % of a body surface of "
                        "about 0.75 m2 (a child of 4-5 years; Rossiter et al. 1996), 60 cm2"),
}
"""Tap-water sites: the contact area of one electrode (the current passes through each hand,
foot or pad in turn, so each sees all of it)."""


@dataclass(frozen=True)
class FamilyLimits:
    """One family's envelope on a device, in the units FAMILY_FIELDS gives. Validated on
    creation against ENVELOPE's ceilings. Build it with `default`, then `adjusted`."""

    family: str
    max_current_ua: int
    max_density_ua_per_cm2: int
    max_electrode_rating_uams: int
    max_charge_density_uams_per_cm2: int

    def __post_init__(self) -> None:
        c = Checker("device limits")
        if not c.one_of("family", self.family, ENVELOPE):
            c.raise_if_any()
        prefix = self.family.replace("-", "_")
        for name, (unit, _) in FAMILY_FIELDS.items():
            bound = ENVELOPE[self.family][name]
            value = getattr(self, name)
            if bound.ceiling == 0:
                c.check(type(value) is int and value == 0, f"{prefix}.{name}", value,
                        f"0 ({_NOT_USED})")
            elif type(value) is not int or not 1 <= value <= bound.ceiling:
                c.add(f"{prefix}.{name}", value, f"an integer from 1 to {bound.ceiling} {unit} "
                      f"(a maker may narrow, not widen: {bound.source})")
        c.raise_if_any()

    @classmethod
    def default(cls, family: str) -> "FamilyLimits":
        """The sourced defaults of `family`."""
        if not is_name(family, ENVELOPE):
            return cls(family, 0, 0, 0, 0)  # raises, naming the family
        return cls(family, **{name: b.default for name, b in ENVELOPE[family].items()})

    def adjusted(self, **changes: int) -> "FamilyLimits":
        """A copy with some settings changed (validated: above the ceiling is refused)."""
        return replace(self, **changes)  # type: ignore[arg-type]


FAMILY_SLOTS: dict[str, str] = {"tap-water": "tap_water", "drug": "drug", "research": "research"}
"""The DeviceLimits field holding each family's limits."""


def render_spec() -> list[str]:
    """The envelope part of specs/limits.md: every family setting and site with its source."""
    lines = ["## Clinical envelope (per family; `DeviceLimits.tap_water`, `.drug`, `.research`)",
             "", "A maker may narrow each value (`FamilyLimits.default(family).adjusted(...)`); "
             "above the ceiling is refused.", "Density is judged under the smaller electrode "
             "and at the peak current (the pulse amplitude when pulsed).", "",
             "| family | field | default | ceiling | unit | source |", "|---|---|---|---|---|---|"]
    for family, bounds in ENVELOPE.items():
        for name, b in bounds.items():
            lines.append(f"| {family} | `{name}` | {b.default} | {b.ceiling} | "
                         f"{FAMILY_FIELDS[name][0]} | {b.source} |")
    lines += ["", "Meaning: " + "; ".join(f"`{n}`: {doc}" for n, (_, doc) in FAMILY_FIELDS.items())
              + ".", "", "## Tap-water sites (`electrode.site`)", "",
              "| site | assumed contact area per electrode | source |", "|---|---|---|"]
    for name, site in SITES.items():
        lines.append(f"| `{name}` | {site.area_mm2 // 100} cm2 ({site.area_mm2} mm2) | "
                     f"{site.source} |")
    lines += ["", "A tap-water profile names its site; `electrode.area` may then only narrow the "
              "assumed area.", ""]
    return lines


__all__ = ["Bound", "ENVELOPE", "FAMILY_FIELDS", "FAMILY_SLOTS", "FamilyLimits", "SITES", "Site"]
