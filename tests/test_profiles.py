"""Prescriptions and profile files: validated, exact, rejected with the field named (RX-001,
RX-002); the effective limit's layers (CTL-001)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from iontocore import DeviceLimits, InvalidSettings, Prescription, profiles
from iontocore.limits import effective_limit_ua, trip_threshold_ua

DEVICE = DeviceLimits()

PALMS = profiles.builtin_text("hyperhidrosis-palms")


def problems_of(text: str, device: DeviceLimits | None = DEVICE) -> list[str]:
    with pytest.raises(InvalidSettings) as info:
        profiles.parse(text, device)
    return [str(p) for p in info.value.problems]


@pytest.mark.req("RX-001", "RX-002")
@pytest.mark.parametrize("name", profiles.builtin_names())
def test_builtin_profiles_are_valid_on_the_default_device(name: str) -> None:
    rx = profiles.load(name, DEVICE)
    assert rx.name == name
    assert rx.limit_ua(DEVICE) >= rx.target_ua


def test_required_builtins_exist() -> None:
    assert {"hyperhidrosis-palms", "hyperhidrosis-palms-pulsed", "hyperhidrosis-soles",
            "hyperhidrosis-underarms", "hyperhidrosis-child", "dexamethasone-40",
            "acetylcholine-pulses"} <= set(profiles.builtin_names())


def test_palms_numbers_are_exact() -> None:
    rx = profiles.load("hyperhidrosis-palms")
    assert (rx.target_ua, rx.duration_ms, rx.ramp_ms, rx.reverse_at_half) == (15_000, 1_200_000, 30_000, True)
    assert rx.slew_ua_per_s == 500
    under = profiles.load("hyperhidrosis-underarms")
    assert (under.step_ua, under.site, under.contact_area_mm2, under.waveform) == (500, "underarms", 4000, "pulsed")


@pytest.mark.req("RX-001")
def test_units_are_interchangeable_and_exact() -> None:
    a = profiles.parse(PALMS.replace("target_ma = 15", "target_ua = 15000"))
    b = profiles.parse(PALMS.replace("target_ma = 15", "target_ma = 15.0"))
    assert a == b == profiles.parse(PALMS)
    # 0.0005 mA = 0.5 uA is not a whole microamp: rejected, not rounded
    found = problems_of(PALMS.replace("step_ma = 1", "step_ma = 0.0005"))
    assert any(p.startswith("current.step_ma = 0.0005") for p in found), found


@pytest.mark.req("RX-001")
@pytest.mark.parametrize("edit, field", [
    (("target_ma = 15", "target_ma = -3"), "current.target_ma"),
    (("ramp_s = 30", "ramp_s = 0.5"), "current.ramp_s"),
    (("duration_min = 20", "duration_min = 0.1"), "time.duration_min"),
    (("waveform = \"dc\"", "waveform = \"sine\""), "current.waveform"),
    (("electrode_a = \"anode\"", "electrode_a = \"left\""), "current.electrode_a"),
    (("step_ma = 1", "stepp_ma = 1"), "current.stepp_ma"),
    (("[pause]", "[paws]"), "[paws]"),
    (("max_ma = 20", "max_ma = 10"), "current.max_ma"),
    (("probe_ua = 50", "probe_ua = true"), "pause.probe_ua"),
])
def test_bad_values_are_rejected_naming_the_key(edit: tuple[str, str], field: str) -> None:
    found = problems_of(PALMS.replace(*edit))
    assert any(p.startswith(field) for p in found), found
    assert all(": allowed " in p for p in found)


@pytest.mark.req("RX-002")
def test_more_than_the_device_allows_is_rejected_not_clamped() -> None:
    found = problems_of(PALMS.replace("max_ma = 20", "max_ma = 40"))
    assert found == ["current.max_ma = 40: allowed at most the device maximum 30000 uA"], found
    small = DeviceLimits(reversal_allowed=False, max_slew_ua_per_s=100)
    found = problems_of(PALMS, small)
    assert any(p.startswith("current.reverse_at_half") for p in found), found
    assert any(p.startswith("current.ramp_s") and "at least 148515 ms" in p for p in found), found


@pytest.mark.req("RX-002")
def test_reversal_refused_below_the_device_minimum_session() -> None:
    found = problems_of(PALMS.replace("duration_min = 20", "duration_min = 8"))
    assert any(p.startswith("time.duration_min") and "600000" in p for p in found), found


@pytest.mark.req("RX-001")
def test_every_problem_is_listed_at_once() -> None:
    text = PALMS.replace("target_ma = 15", "target_ma = 0").replace("ramp_s = 30", "ramp_s = -1")
    found = problems_of(text)
    assert len(found) >= 2 and {p.split(" ")[0] for p in found} >= {"current.target_ma", "current.ramp_s"}


@pytest.mark.req("RX-001")
def test_missing_required_keys_are_named() -> None:
    found = problems_of('name = "x"\nfamily = "tap-water"\n')
    assert any(p.startswith("current.target_<unit>") for p in found), found
    assert any(p.startswith("current.ramp_<unit>") for p in found), found


@pytest.mark.req("RX-001")
def test_invalid_toml_is_a_clear_error() -> None:
    found = problems_of("name = ")
    assert found[0].startswith("file = ") and "valid TOML" in found[0]


@pytest.mark.req("RX-001")
def test_device_limits_validate_every_field() -> None:
    with pytest.raises(InvalidSettings) as info:
        DeviceLimits(max_current_ua=40_000, trip_ua=35_000, dead_time_ms=0)
    fields = {p.field for p in info.value.problems}
    assert fields == {"trip_ua", "dead_time_ms"}
    assert "above max_current_ua (40000 uA)" in str(info.value)


@pytest.mark.req("RX-001")
@given(st.integers(-10**6, 10**6))
def test_prescription_target_range(target: int) -> None:
    rx = profiles.load("hyperhidrosis-palms")
    kwargs = {**dataclasses.asdict(rx), "target_ua": target}
    if 1 <= target <= 20_000 and target >= rx.min_ua and target >= rx.probe_ua \
            and target * 1000 // rx.ramp_ms <= 100_000 and rx.step_ua <= rx.max_ua:
        assert Prescription(**kwargs).target_ua == target
    else:
        with pytest.raises(InvalidSettings) as info:
            Prescription(**kwargs)
        assert info.value.problems


@pytest.mark.req("CTL-001")
def test_effective_limit_layers() -> None:
    assert effective_limit_ua(30_000, 20_000, 0, 0) == 20_000
    assert effective_limit_ua(30_000, 20_000, 300, 4_000) == 12_000  # 0.3 mA/cm2 x 40 cm2
    assert effective_limit_ua(10_000, 20_000, 300, 4_000) == 10_000
    assert effective_limit_ua(30_000, 200, 150, 99) == 148           # rounded down
    assert trip_threshold_ua(20_000, 35_000, 100, 100) == 22_000
    assert trip_threshold_ua(100, 35_000, 100, 100) == 200
    assert trip_threshold_ua(34_000, 35_000, 100, 100) == 35_000


@pytest.mark.req("CTL-001")
@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**5), st.integers(0, 10**6))
def test_effective_limit_is_the_minimum_of_its_layers(dev: int, rx: int, dens: int, area: int) -> None:
    lim = effective_limit_ua(dev, rx, dens, area)
    assert lim <= dev and lim <= rx
    if area:
        assert lim * 100 <= dens * area
        assert lim in (dev, rx, dens * area // 100)
    else:
        assert lim == min(dev, rx)


@pytest.mark.req("RX-006")
def test_profile_format_spec_matches_the_code() -> None:
    from pathlib import Path

    spec = Path(__file__).resolve().parents[1] / "specs" / "profile_format.md"
    assert spec.read_text("utf-8") == profiles.render_format(), (
        "specs/profile_format.md is stale: ionto profile format > specs/profile_format.md")
    text = spec.read_text("utf-8")
    for key in profiles.KEYS:  # every key documented with its meaning and default
        assert key.doc in text and key.default in text


# ---- properties: every invalid value is rejected naming its field (RX-001) ----------------

from iontocore.prescription import INT_RANGES  # noqa: E402
from strategies import prescriptions  # noqa: E402


@pytest.mark.req("RX-001")
@given(prescriptions(), st.sampled_from(sorted(INT_RANGES)), st.booleans(), st.integers(1, 10**6))
def test_any_out_of_range_field_is_rejected_by_name(rx: Prescription, field: str, above: bool,
                                                     by: int) -> None:
    lo, hi, _ = INT_RANGES[field]
    bad = hi + by if above else lo - by
    with pytest.raises(InvalidSettings) as info:
        dataclasses.replace(rx, **{field: bad})
    problem = next(p for p in info.value.problems if p.field == field)
    assert problem.value == bad and str(lo) in problem.allowed and str(hi) in problem.allowed


def dump_toml(data: dict[str, object]) -> str:
    """A minimal TOML writer for profile dictionaries (strings, booleans, numbers, tables)."""
    def value(v: object) -> str:
        return f'"{v}"' if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else str(v)

    top = [f"{k} = {value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    tables = [f"\n[{k}]\n" + "\n".join(f"{kk} = {value(vv)}" for kk, vv in v.items())
              for k, v in data.items() if isinstance(v, dict)]
    return "\n".join(top) + "\n" + "\n".join(tables) + "\n"


@pytest.mark.req("RX-001")
@given(st.sampled_from([k for k in profiles.KEYS if k.field in INT_RANGES and k.units]),
       st.integers(1, 10**6))
def test_any_out_of_range_key_in_a_file_is_named(key: profiles.Key, by: int) -> None:
    import tomllib

    unit = next(u for u, scale in key.units.items() if scale == 1)  # type: ignore[union-attr]
    name = f"{key.base}_{unit}" if unit else key.base
    data = tomllib.loads(PALMS)
    section = data.setdefault(key.section, {})
    for existing in [k for k in section if k == key.base or k.startswith(key.base + "_")]:
        del section[existing]
    section[name] = INT_RANGES[key.field][1] + by
    found = problems_of(dump_toml(data))
    path = f"{key.section}.{name}"
    assert any(p.startswith(f"{path} = ") for p in found), (path, found)


@pytest.mark.req("RX-002")
@given(prescriptions(), st.sampled_from(["current", "slew", "session", "density", "family_current", "waveform",
                                         "hz_low", "hz_high", "duty_low", "duty_high"]))
def test_a_prescription_beyond_a_smaller_device_is_rejected(rx: Prescription, layer: str) -> None:
    from strategies import DEVICE as base

    if layer in ("waveform", "hz_low", "hz_high", "duty_low", "duty_high"):
        assume(rx.waveform == "pulsed")
        if layer == "waveform":
            device, field = dataclasses.replace(base, waveforms=frozenset({"dc"})), ("waveform",)
        elif layer == "hz_low":
            device, field = dataclasses.replace(base, pulse_hz_min=rx.pulse_hz + 1,
                                                pulse_hz_max=max(base.pulse_hz_max, rx.pulse_hz + 1)), ("pulse_hz",)
        elif layer == "hz_high":
            assume(rx.pulse_hz - 1 >= base.pulse_hz_min)
            device, field = dataclasses.replace(base, pulse_hz_max=rx.pulse_hz - 1), ("pulse_hz",)
        elif layer == "duty_low":
            device, field = dataclasses.replace(base, duty_permille_min=rx.duty_permille + 1,
                                                duty_permille_max=max(base.duty_permille_max, rx.duty_permille + 1)), ("duty_permille",)
        else:
            assume(rx.duty_permille - 1 >= base.duty_permille_min)
            device, field = dataclasses.replace(base, duty_permille_max=rx.duty_permille - 1), ("duty_permille",)
    elif layer == "current":
        assume(rx.ceiling_ua >= 2)
        device, field = dataclasses.replace(base, max_current_ua=rx.ceiling_ua - 1), ("max_ua", "target_ua")
    elif layer == "slew":
        assume(rx.slew_ua_per_s >= 2)
        device, field = dataclasses.replace(base, max_slew_ua_per_s=rx.slew_ua_per_s - 1), ("ramp_ms",)
    elif layer == "session":
        assume(rx.planned_ms - 1 >= 1_000)
        device, field = dataclasses.replace(base, max_session_ms=rx.planned_ms - 1), ("duration_ms", "pulse_count")
    elif layer == "family_current":  # ENV-001: the maker narrows the family's current
        assume(rx.ceiling_ua >= 2)
        slot = rx.family.replace("-", "_")
        narrowed = base.family_limits(rx.family).adjusted(max_current_ua=rx.ceiling_ua - 1)
        device, field = dataclasses.replace(base, **{slot: narrowed}), ("max_ua", "target_ua")
    else:  # ENV-002: the maker narrows the family's density below what the ceiling needs
        needed = -(-rx.ceiling_ua * 100 // rx.contact_area_mm2)
        assume(needed >= 2)
        slot = rx.family.replace("-", "_")
        narrowed = base.family_limits(rx.family).adjusted(max_density_ua_per_cm2=needed - 1)
        device = dataclasses.replace(base, **{slot: narrowed})
        field = ("max_ua", "target_ua", "max_density_ua_per_cm2")
    with pytest.raises(InvalidSettings) as info:
        rx.check_against(device)
    assert any(p.field in field for p in info.value.problems), info.value.problems


# ---- RX-007: keys of another family, names, the floor (issue 9) ----

def _problems(text: str) -> list[tuple[str, object, str]]:
    with pytest.raises(InvalidSettings) as info:
        profiles.parse(text)
    return [(p.field, p.value, p.allowed) for p in info.value.problems]


TAP = """name = "tap"
family = "tap-water"
[current]
target_ma = 10
ramp_s = 10
[time]
duration_min = 10
[electrode]
site = "palms"
"""


@pytest.mark.req("RX-007")
@pytest.mark.parametrize("extra, key", [
    ("[dose]\nelectrode_max_ma_min = 80\n", "dose.electrode_max_ma_min"),
    ("[dose]\nmax_duration_min = 30\n", "dose.max_duration_min"),
    ("[pulses]\ncount = 3\n", "pulses.count"),
    ("[pulses]\non_s = 10\n", "pulses.on_s"),
])
def test_a_key_of_another_family_is_rejected_naming_key_and_family(extra: str, key: str) -> None:
    problems = _problems(TAP + extra)
    mine = [p for p in problems if p[0] == key]
    assert mine and "family 'tap-water'" in mine[0][2], problems


@pytest.mark.req("RX-007")
def test_reversal_is_a_tap_water_key_only() -> None:
    drug = profiles.builtin_text("dexamethasone-40").replace(
        'waveform = "dc"', 'waveform = "dc"\nreverse_at_half = false')
    problems = _problems(drug)
    assert any(p[0] == "current.reverse_at_half" and "family 'drug'" in p[2] for p in problems)


@pytest.mark.req("RX-007")
@pytest.mark.parametrize("name", ["two\nlines", "smile-\U0001F600", "", "a" * 65, "under_score",
                                  "space d", "caf\u00e9"])
def test_profile_names_are_letters_digits_and_dashes(name: str) -> None:
    text = TAP.replace('name = "tap"', f"name = {name!r}".replace("'", '"')
                       if "\n" not in name else 'name = "two\\nlines"')
    problems = _problems(text)
    assert [p[0] for p in problems] == ["name"], problems


@pytest.mark.req("RX-007")
def test_a_step_above_the_target_without_a_minimum_is_rejected() -> None:
    problems = _problems(TAP.replace("target_ma = 10", "target_ma = 10\nmax_ma = 30\nstep_ma = 12"))
    assert [(f, v) for f, v, _ in problems] == [("current.step_ma", 12)], problems
    assert "floor is then one step" in problems[0][2]


@pytest.mark.req("RX-007", "RX-001")
def test_a_problem_with_a_key_not_in_the_file_names_it_in_the_internal_unit() -> None:
    text = TAP.replace("target_ma = 10", "target_ua = 30")  # probe default 50 uA > target
    problems = _problems(text)
    assert ("pause.probe_ua", 50) in [(f, v) for f, v, _ in problems], problems


@pytest.mark.req("RX-007", "RX-001")
def test_values_that_would_be_silently_reinterpreted_are_refused() -> None:
    """Red team D8: max 0 became the target, min 0 one step, a single pulse's gap was
    ignored, and a refused value brought follow-on errors about keys never written."""
    for key in ("max_ma = 0", "min_ma = 0", "step_ma = 0"):
        problems = _problems(TAP.replace("target_ma = 10", f"target_ma = 10\n{key}"))
        assert [(f, v) for f, v, _ in problems] == [(f"current.{key.split(' ')[0]}", 0)], problems
    research = profiles.builtin_text("acetylcholine-pulses")
    one = research.replace("count = ", "count = 1 #")
    problems = _problems(one)
    assert any(f == "pulses.gap_s" or f.startswith("pulses.gap") for f, _, _ in problems), problems
    problems = _problems(TAP.replace("target_ma = 10", 'target_ma = 10\nwaveform = "pulsed"\n'
                                     "pulse_hz = 1000\nduty_percent = 33.33"))
    assert [f for f, _, _ in problems] == ["current.duty_percent"], problems


@pytest.mark.req("RX-001")
@pytest.mark.parametrize("edit, expected", [
    (("target_ma = 15", "target_ma = 15\ntarget_ua = 15000"), "current.target_ua = 15000: allowed only one of "
                                                             "the keys for target_ua (also given as current.target_ma)"),
    (("ramp_s = 30", "ramp_s = nan"), "current.ramp_s = nan: "),
    (("ramp_s = 30", "ramp_s = inf"), "current.ramp_s = inf: "),
    (("target_ma = 15", "target_ma = \"15\""), "current.target_ma = '15': "),
])
def test_duplicated_non_finite_and_mistyped_values_are_rejected_once(edit: tuple[str, str], expected: str) -> None:
    found = problems_of(PALMS.replace(*edit))
    assert any(p.startswith(expected) for p in found), found
    assert not any("(not given)" in p for p in found), found  # a key given wrongly is not also "missing"


@pytest.mark.req("RX-001")
def test_an_unknown_builtin_or_family_is_rejected() -> None:
    with pytest.raises(KeyError):
        profiles.builtin_text("no-such-profile")
    with pytest.raises(InvalidSettings, match="family = 'nope': allowed one of"):
        Prescription(name="x", family="nope", target_ua=1_000, ramp_ms=1_000, duration_ms=20_000)


@pytest.mark.req("RX-001")
def test_a_profile_file_is_read_as_utf_8_whatever_the_locale(tmp_path: Path) -> None:
    """A clinician's description with accents loads the same under an ASCII locale (a
    device's minimal Linux image): profile files are UTF-8 by their format, never the
    locale's encoding."""
    text = "\n".join('description = "Paumes, séance de 20 min"' if line.startswith("description")
                     else line for line in profiles.builtin_text("hyperhidrosis-palms").splitlines())
    path = tmp_path / "palms.toml"
    path.write_text(text, "utf-8")
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0",
           "PYTHONCOERCECLOCALE": "0", "PYTHONIOENCODING": "utf-8"}
    code = ("import locale, sys\nfrom iontocore import profiles\n"
            "assert locale.getpreferredencoding(False).lower() in ('ascii', 'ansi_x3.4-1968'), "
            "locale.getpreferredencoding(False)\n"
            f"print(profiles.load({str(path)!r}).description)\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, encoding="utf-8", timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "Paumes, séance de 20 min"


@pytest.mark.req("RX-001")
@pytest.mark.parametrize("name", profiles.builtin_names())
def test_the_built_in_profiles_are_plain_ascii(name: str) -> None:
    """They are read the same under any locale's encoding (the package reads them as UTF-8
    anyway; this keeps a byte-identical reading on a device whose locale is ASCII)."""
    assert profiles.builtin_text(name).isascii()
