"""How close a prescription is to each limit of the device's envelope, for a clinician to read.

`margins(rx, device)` lists, for a prescription already validated against `device`, each
quantity the envelope bounds (current, density, session time, slew, and by family the
electrode rating or the charge density), its value, its limit and where the limit comes from.
It reports; it never decides (the validator in core/prescription.py does).
"""

from __future__ import annotations

from typing import NamedTuple

from .limits import DeviceLimits
from .prescription import Prescription


class Margin(NamedTuple):
    """One bounded quantity: value and limit in `unit`, and the setting the limit comes from."""

    quantity: str
    value: int
    limit: int
    unit: str
    source: str

    @property
    def margin_permille(self) -> int:
        """How much of the limit is left, in permille (0: at the limit), rounded down."""
        return (self.limit - self.value) * 1000 // self.limit if self.limit else 0


def margins(rx: Prescription, device: DeviceLimits) -> list[Margin]:
    """Every envelope quantity of `rx` on `device`, in integer units."""
    fam = device.family_limits(rx.family)
    slot = rx.family.replace("-", "_")
    area = rx.contact_area_mm2
    density_src = (f"prescription max_density (device {slot}.max_density_ua_per_cm2 "
                   f"{fam.max_density_ua_per_cm2})" if rx.max_density_ua_per_cm2
                   else f"device {slot}.max_density_ua_per_cm2")
    current_src = (f"device {slot}.max_current_ua" if fam.max_current_ua <= device.max_current_ua
                   else "device max_current_ua")
    out = [
        Margin("current (peak)", rx.ceiling_ua, min(fam.max_current_ua, device.max_current_ua),
               "uA", current_src),
        Margin(f"density (peak, over {area} mm2)", -(-rx.ceiling_ua * 100 // area),
               rx.density_limit_ua_per_cm2(device), "uA/cm2", density_src),
        Margin("slew", rx.slew_ua_per_s, device.max_slew_ua_per_s, "uA/s",
               "device max_slew_ua_per_s"),
        Margin("planned session", rx.planned_ms, device.max_session_ms, "ms",
               "device max_session_ms"),
    ]
    if rx.family == "drug":
        out += [Margin("dose", rx.dose_uams, rx.electrode_max_uams, "uA*ms",
                       "prescription electrode_max (the electrode's rating)"),
                Margin("electrode rating", rx.electrode_max_uams, fam.max_electrode_rating_uams,
                       "uA*ms", "device drug.max_electrode_rating_uams")]
    if rx.family == "research":
        cap = rx.charge_cap_uams(device) * 100 // area
        own = cap < fam.max_charge_density_uams_per_cm2
        out.append(Margin(f"charge density (plan bound, over {area} mm2)",
                          -(-rx.planned_charge_bound_uams() * 100 // area), cap, "uA*ms/cm2",
                          "prescription charge.max / charge.max_density (device research."
                          f"max_charge_density_uams_per_cm2 {fam.max_charge_density_uams_per_cm2})"
                          if own else "device research.max_charge_density_uams_per_cm2"))
    return out
