"""Hypothesis strategies for valid prescriptions of every family, scaled so that whole
sessions (ramps, reversal, pulses, dose) fit in a few hundred ticks."""

from __future__ import annotations

from hypothesis import assume
from hypothesis import strategies as st

from iontocore import DeviceLimits, InvalidSettings, Prescription

# The test device allows reversal in short sessions so the swap is reachable quickly.
DEVICE = DeviceLimits(min_reversal_session_ms=10_000)


SITES = {"palms": 12_000, "soles": 15_000, "underarms": 4_000, "child-hands": 6_000}


@st.composite
def prescriptions(draw: st.DrawFn, device: DeviceLimits = DEVICE, *,
                  reversing: bool = False) -> Prescription:
    """A valid prescription of any family, inside the device's clinical envelope: the
    contact area is drawn first and the currents within what its density allows. With
    reversing=True one that reverses its polarity at half time (tap water, the only family
    that may)."""
    family = "tap-water" if reversing else draw(st.sampled_from(["tap-water", "drug", "research"]))
    fam = device.family_limits(family)
    kw: dict[str, object] = dict(name="generated", family=family)
    if family == "tap-water":
        site = draw(st.sampled_from(sorted(SITES)))
        contact = SITES[site]
        kw.update(site=site)
        if draw(st.booleans()):  # a given area may narrow the site's
            contact = draw(st.integers(1_000, SITES[site]))
            kw.update(area_mm2=contact)
    else:
        a, b = draw(st.integers(100, 20_000)), draw(st.integers(100, 20_000))
        kw.update(area_mm2=a, return_area_mm2=b)
        contact = min(a, b)
    density = fam.max_density_ua_per_cm2
    if draw(st.booleans()):  # a density of the prescription's own, narrowing the family's
        density = draw(st.integers(max(1, 2_000 // contact), density))
        kw.update(max_density_ua_per_cm2=density)
    top = min(device.max_current_ua, fam.max_current_ua, density * contact // 100)
    assume(top >= 20)
    target = draw(st.integers(20, min(top, 20_000)))
    ceiling = min(top, target + draw(st.integers(0, 5_000)))
    step = draw(st.integers(1, max(1, target // 4)))
    floor = draw(st.integers(step, target)) if draw(st.booleans()) else 0
    min_ramp = -(-target * 1000 // device.max_slew_ua_per_s)
    ramp = draw(st.integers(max(1_000, min_ramp), max(1_000, min_ramp) + 4_000))
    kw.update(target_ua=target, ramp_ms=ramp, max_ua=ceiling, min_ua=floor, step_ua=step,
              electrode_a=draw(st.sampled_from(["anode", "cathode"])),
              max_pause_ms=draw(st.integers(1_000, 10_000)),
              contact_stable_ms=draw(st.integers(0, 2_000)),
              probe_ua=draw(st.integers(1, min(target, 200))))
    if draw(st.booleans()) and "pulsed" in device.waveforms:
        kw.update(waveform="pulsed", pulse_hz=draw(st.integers(100, 20_000)),
                  duty_permille=draw(st.integers(100, 900)))
    if family == "tap-water":
        kw.update(duration_ms=draw(st.integers(10_000, 60_000)),
                  reverse_at_half=reversing or draw(st.booleans()))
    elif family == "drug":
        dose = target * draw(st.integers(5_000, 30_000))
        kw.update(dose_uams=dose, electrode_max_uams=dose + draw(st.integers(0, dose)),
                  duration_ms=draw(st.integers(10_000, 60_000)))
    else:
        kw.update(pulse_count=draw(st.integers(1, 4)), pulse_on_ms=draw(st.integers(1_000, 5_000)),
                  pulse_gap_ms=draw(st.integers(1_000, 5_000)))
    try:
        rx = Prescription(**kw)  # type: ignore[arg-type]
        rx.check_against(device)
    except InvalidSettings:
        assume(False)
        raise
    return rx
