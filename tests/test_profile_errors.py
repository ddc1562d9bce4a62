"""Every way the profile reader refuses a file, with the exact problem it reports: the field
as the file wrote it, the value as the file wrote it, and what is allowed (the limit with its
unit). The expected problems are the error catalogue a clinician or researcher reads; each was
reviewed for naming the field, the value and the limit (issue 11: a message that loses one of
them is a defect, and a branch nobody triggers is a test gap)."""

from __future__ import annotations

from pathlib import Path

import pytest

from iontocore import DeviceLimits, profiles
from iontocore.errors import InvalidSettings, Problem

TAP = '''name = "t"
family = "tap-water"
[current]
target_ma = 10
ramp_s = 30
[time]
duration_min = 10
[electrode]
site = "palms"
'''
DRUG = '''name = "d"
family = "drug"
[current]
target_ma = 2
ramp_s = 30
[dose]
target_ma_min = 40
electrode_max_ma_min = 80
max_duration_min = 40
[electrode]
area_cm2 = 13
return_area_cm2 = 20
'''
RES = '''name = "r"
family = "research"
[current]
target_ua = 100
ramp_ms = 100
[electrode]
area_cm2 = 1
return_area_cm2 = 4
'''
STEP = '''[protocol]
[[protocol.step]]
kind = "pulse"
on_s = 1
'''

BAD = {
    "protocol-in-tap-water": TAP + STEP,
    "unknown-protocol-key": RES + STEP.replace("[protocol]\n", "[protocol]\nretries = 2\n"),
    "bad-on-interrupt": RES + STEP.replace("[protocol]\n", '[protocol]\non_interrupt = "retry"\n'),
    "no-steps": RES + "[protocol]\n",
    "steps-not-tables": RES + "[protocol]\nstep = [1, 2]\n",
    "step-without-kind": RES + "[protocol]\n[[protocol.step]]\non_s = 1\n",
    "step-unknown-kind": RES + '[protocol]\n[[protocol.step]]\nkind = "burst"\non_s = 1\n',
    "step-unknown-key": RES + STEP + "width_s = 1\n",
    "step-unknown-unit": RES + STEP + "current_a = 1\n",
    "step-repeat-with-unit": RES + STEP + "repeat_s = 2\n",
    "step-key-of-other-kind": RES + STEP + '[[protocol.step]]\nkind = "gap"\nduration_s = 1\ncurrent_ua = 5\n',
    "step-inexact": RES + STEP.replace("on_s = 1", "on_ms = 1.5"),
    "step-inexact-count": RES + STEP + "repeat = 1.5\n",
    "step-twice": RES + STEP + "charge_uams = 5000\non_ms = 1000\n",
    "step-on-zero": RES + STEP.replace("on_s = 1", "on_s = 0"),
    "step-current-over": RES + STEP + "current_ma = 5\n",
    "unknown-section": TAP + "[extras]\nx = 1\n",
    "unknown-key": TAP.replace("ramp_s = 30", "ramp_s = 30\nramp_up_s = 3"),
    "unknown-top-key": "colour = 'red'\n" + TAP,
    "other-family-key": TAP.replace("[electrode]", "[electrode]\nreturn_area_cm2 = 20"),
    "duplicate-key": TAP.replace("ramp_s = 30", "ramp_s = 30\nramp_ms = 30000"),
    "inexact": TAP.replace("target_ma = 10", "target_ma = 10.0005"),
    "zero-max": TAP.replace("ramp_s = 30", "ramp_s = 30\nmax_ua = 0"),
    "missing-required": TAP.replace("ramp_s = 30\n", ""),
    "missing-family": TAP.replace('family = "tap-water"\n', ""),
    "rename-unit": TAP.replace("target_ma = 10", "target_ma = 100"),
    "bool-value": TAP.replace("ramp_s = 30", "ramp_s = true"),
    "string-number": TAP.replace("ramp_s = 30", 'ramp_s = "30"'),
    "nan": TAP.replace("ramp_s = 30", 'ramp_s = nan'),
    "bad-toml": TAP + "[current\n",
    "empty-top-key": '"" = 1\n' + TAP,
    "empty-section": TAP + '[""]\nx = 1\n',
    "empty-key": TAP.replace("[time]", '[time]\n"" = 1'),
    # problems found after conversion, named by the key as the file wrote it
    "research-no-protocol": RES,
    "short-form-no-on": RES + "[pulses]\ncount = 2\ngap_s = 1\n",
    "protocol-and-short-form": RES + "[pulses]\ncount = 2\non_s = 1\ngap_s = 1\n" + STEP,
    "repeat-no-gap": RES + STEP + "repeat = 2\n",
    "charge-below-ramps": RES + STEP.replace("on_s = 1", "charge_uams = 10"),
    "pulse-after-pulse": RES + STEP + STEP.replace("[protocol]\n", ""),
    "too-many-expanded": RES + STEP + "repeat = 600\ngap_s = 1\n",
    # a refused key silences the follow-on problems of the key it was an attempt at only
    "name-beside-names": TAP.replace('name = "t"', 'name = "t t"\nnames = 1'),
    "pause-max-beside-max-count": TAP + "[pause]\nmax_s = 0.5\nmax_count = 1.5\n",
    "no-pulse": RES + '[protocol]\n[[protocol.step]]\nkind = "baseline"\nduration_s = 1\n',
    "baseline-zero": (RES + '[protocol]\n[[protocol.step]]\nkind = "baseline"\nduration_s = 0\n'
                      + STEP.replace("[protocol]\n", "")),
    "on-too-long": RES + STEP.replace("on_s = 1", "on_min = 100000"),
    # every problem of every step is reported, not only the first one
    "step-unknown-kind-then-more": (RES + '[protocol]\n[[protocol.step]]\nkind = "burst"\n'
                                    '[[protocol.step]]\nkind = "pulse"\non_s = 1\nwidth_s = 1\n'),
    "step-two-unknown-keys": RES + STEP + "width_s = 1\ncurrent_a = 1\n",
    "step-two-keys-of-other-kind": (RES + STEP + '[[protocol.step]]\nkind = "gap"\nduration_s = 1\n'
                                    'current_ua = 5\non_s = 1\n'),
    "step-two-inexact": RES + STEP.replace("on_s = 1", "on_ms = 1.5\ncurrent_ua = 1.5"),
    "step-twice-then-inexact": RES + STEP + "on_ms = 1000\ncurrent_ua = 1.5\n",
    "step-key-of-two-kinds": RES + STEP + "duration_s = 1\n",
    "step-kind-with-unit": RES + STEP + "kind_s = 1\n",
    "step-on-without-unit": RES + STEP.replace("on_s = 1", "on = 1000"),
    # problems of keys the file did not write: named in the internal unit, "(not given)"
    "missing-site": TAP.replace('site = "palms"\n', ""),
    "name-a-number": TAP.replace('name = "t"', "name = 5"),
    "rename-unit-fraction": TAP.replace("target_ma = 10", "target_ma = 30.5"),
    "count-inexact": RES + "[pulses]\ncount = 1.5\non_s = 1\ngap_s = 1\n",
    # 0 means "not given" inside: written in a file, each is refused, never reinterpreted
    "zero-area": TAP + "area_cm2 = 0\n",
    "zero-return-area": DRUG.replace("return_area_cm2 = 20", "return_area_cm2 = 0"),
    "zero-max-density": TAP + "max_density_ma_per_cm2 = 0\n",
    "zero-charge-max": RES + STEP + "[charge]\nmax_mc = 0\n",
    "zero-charge-max-density": RES + STEP + "[charge]\nmax_density_mc_per_cm2 = 0\n",
    "unknown-key-among-counts": TAP + "[pause]\nretries = 2\n",
    "research-time-key": RES + STEP + "[time]\nduration_min = 10\n",
    # an inline table before the family line is still judged for the family
    "family-after-inline-table": ('name = "r"\ntime = { duration_min = 10 }\n'
                                  + RES.replace('name = "r"\n', "") + STEP),
    "decimal-beyond-a-float": TAP.replace("target_ma = 10", "target_ma = 10.00000000000000000001"),
    # a refused key stops the follow-on problems of its own field only
    "refused-key-and-others-in-its-section": TAP.replace("target_ma = 10", "target_ma = 100\nmax_ua = 0"),
    "missing-key-and-a-later-problem": (TAP.replace("ramp_s = 30\n", "")
                                        .replace("duration_min = 10", "duration_s = 5")),
    "unknown-section-first": TAP.replace("[current]", "[extras]\nx = 1\n[current]"),
    # a quoted key with a dot is one unknown key: it silences nothing of current.target
    "dotted-unknown-key": TAP.replace("target_ma = 10", 'target_ma = 100\n"x.target_ma" = 1'),
}

EXPECTED: dict[str, list[tuple[str, object, str]]] = {
    'empty-top-key': [
        ('""', 1, 'a known key of [top level]: name, family, description')],
    'empty-section': [
        ('[""]', 'section', "one of ['charge', 'current', 'dose', 'electrode', 'pause', 'pulses', 'time']")],
    'empty-key': [
        ('time.""', 1, 'a known key of [time]: duration_min')],
    'protocol-in-tap-water': [
        ('[protocol]', 'section', "only for family 'research'")],
    'unknown-protocol-key': [
        ('protocol.retries', 2, 'a known key of [protocol]: on_interrupt, step')],
    'bad-on-interrupt': [
        ('protocol.on_interrupt', 'retry', "one of ['end', 'repeat', 'skip']")],
    'no-steps': [
        ('protocol.step', '(not given)', 'one or more [[protocol.step]] tables')],
    'steps-not-tables': [
        ('protocol.step', [1, 2], 'one or more [[protocol.step]] tables')],
    'step-without-kind': [
        ('protocol.step[1].kind', '(not given)', "one of ['baseline', 'pulse', 'gap']")],
    'step-unknown-kind': [
        ('protocol.step[1].kind', 'burst', "one of ['baseline', 'pulse', 'gap']")],
    'step-unknown-key': [
        ('protocol.step[1].width_s', 1, 'a known key of a step: kind, duration_min, on_min, charge_ma_min, current_ma, repeat, gap_min (with any unit of its kind)')],
    'step-unknown-unit': [
        ('protocol.step[1].current_a', 1, 'a known key of a step: kind, duration_min, on_min, charge_ma_min, current_ma, repeat, gap_min (with any unit of its kind)')],
    'step-repeat-with-unit': [
        ('protocol.step[1].repeat_s', 2, 'a known key of a step: kind, duration_min, on_min, charge_ma_min, current_ma, repeat, gap_min (with any unit of its kind)')],
    'step-key-of-other-kind': [
        ('protocol.step[2].current_ua', 5, 'not for a gap (used by: pulse)')],
    'step-inexact': [
        ('protocol.step[1].on_ms', '1.5', 'a number that is a whole multiple of 1 ms')],
    'step-inexact-count': [
        ('protocol.step[1].repeat', '1.5', 'a number that is a whole multiple of 1 count')],
    'step-twice': [
        ('protocol.step[1].on_ms', 1000, 'only one of on and duration, and one unit per key')],
    'step-on-zero': [
        ('protocol.step[1].on_s', 0, 'either an on-time or a charge for a pulse (exactly one)')],
    'step-current-over': [
        ('protocol.step[1].current_ma', 5, 'at most the ceiling (100 uA)')],
    'unknown-section': [
        ('[extras]', 'section', "one of ['charge', 'current', 'dose', 'electrode', 'pause', 'pulses', 'time']")],
    'unknown-key': [
        ('current.ramp_up_s', 3, 'a known key of [current]: target_ma, max_ma, min_ma, step_ma, ramp_min, electrode_a, reverse_at_half, waveform, pulse_hz, duty_percent')],
    'unknown-top-key': [
        ('colour', 'red', 'a known key of [top level]: name, family, description')],
    'other-family-key': [
        ('electrode.return_area_cm2', 20, "no such key for family 'tap-water' (used by: drug, research)")],
    'duplicate-key': [
        ('current.ramp_ms', 30000, 'only one of the keys for ramp_ms (also given as current.ramp_s)')],
    'inexact': [
        ('current.target_ma', 10.0005, 'a number that is a whole multiple of 1/1000 ma')],
    'zero-max': [
        ('current.max_ua', 0, '> 0, or leave the key out (default: the target)')],
    'missing-required': [
        ('current.ramp_<unit>', '(not given)', 'required')],
    'missing-family': [
        ('family', '(not given)', 'required')],
    'rename-unit': [
        ('current.target_ma', 100, 'at most the device maximum 30000 uA'),
        ('current.ramp_s', 30, 'at least 49976 ms for 100000 uA (device max slew 2000 uA/s)')],
    'bool-value': [
        ('current.ramp_s', True, 'a number that is a whole multiple of 1/1000 s')],
    'string-number': [
        ('current.ramp_s', '30', 'a number that is a whole multiple of 1/1000 s')],
    'nan': [
        ('current.ramp_s', 'nan', 'a number that is a whole multiple of 1/1000 s')],
    'bad-toml': [
        ('file', 'profile', "valid TOML (Cannot declare ('current',) twice (at line 10, column 9))")],
    'research-no-protocol': [
        ('pulses.count', '(not given)', '>= 1 for research pulses (or a [protocol])'),
        ('pulses.on_ms', '(not given)', '>= 1000 ms')],  # no gap rule without pulses
    'short-form-no-on': [
        ('pulses.on_ms', '(not given)', '>= 1000 ms')],
    'protocol-and-short-form': [
        ('pulses.count', 2, '0 with a [protocol] (the protocol gives the pulses)'),
        ('pulses.on_s', 1, '0 with a [protocol] (the protocol gives the pulses)'),
        ('pulses.gap_s', 1, '0 with a [protocol] (the protocol gives the pulses)')],
    'repeat-no-gap': [
        ('protocol.step[1].gap_ms', 0, "> 0 between repetitions of a pulse (a pulse's charge includes its ramp down to zero)")],
    'charge-below-ramps': [
        ('protocol.step[1].charge_uams', 10, "at least the charge of the pulse's ramps up and down, 10000 uA*ms at 100 uA and 1000 uA/s")],
    'pulse-after-pulse': [
        ('protocol.step[1].kind', 'pulse', 'a pulse followed by a gap or a baseline, or last (its charge includes its ramp down to zero)')],
    'too-many-expanded': [
        ('protocol.step', 1199, 'at most 1000 steps with the repeats and their gaps expanded')],  # 600 + 599
    'no-pulse': [
        ('protocol.step', 1, 'at least one pulse')],
    'baseline-zero': [
        ('protocol.step[1].duration_s', 0, '>= 1 ms: a baseline lasts a time')],
    'on-too-long': [
        ('protocol.step[1].on_min', 100000, 'an integer from 0 to 3600000 ms')],
    'step-unknown-kind-then-more': [
        ('protocol.step[1].kind', 'burst', "one of ['baseline', 'pulse', 'gap']"),
        ('protocol.step[2].width_s', 1, 'a known key of a step: kind, duration_min, on_min, charge_ma_min, current_ma, repeat, gap_min (with any unit of its kind)')],
    'step-two-unknown-keys': [
        ('protocol.step[1].width_s', 1, 'a known key of a step: kind, duration_min, on_min, charge_ma_min, current_ma, repeat, gap_min (with any unit of its kind)'),
        ('protocol.step[1].current_a', 1, 'a known key of a step: kind, duration_min, on_min, charge_ma_min, current_ma, repeat, gap_min (with any unit of its kind)')],
    'step-two-keys-of-other-kind': [
        ('protocol.step[2].current_ua', 5, 'not for a gap (used by: pulse)'),
        ('protocol.step[2].on_s', 1, 'not for a gap (used by: pulse)')],
    'step-two-inexact': [
        ('protocol.step[1].on_ms', '1.5', 'a number that is a whole multiple of 1 ms'),
        ('protocol.step[1].current_ua', '1.5', 'a number that is a whole multiple of 1 ua')],
    'step-twice-then-inexact': [
        ('protocol.step[1].on_ms', 1000, 'only one of on and duration, and one unit per key'),
        ('protocol.step[1].current_ua', '1.5', 'a number that is a whole multiple of 1 ua')],
    'step-key-of-two-kinds': [
        ('protocol.step[1].duration_s', 1, 'not for a pulse (used by: baseline, gap)')],
    'step-kind-with-unit': [
        ('protocol.step[1].kind_s', 1, 'a known key of a step: kind, duration_min, on_min, charge_ma_min, current_ma, repeat, gap_min (with any unit of its kind)')],
    'step-on-without-unit': [
        ('protocol.step[1].on', 1000, 'a known key of a step: kind, duration_min, on_min, charge_ma_min, current_ma, repeat, gap_min (with any unit of its kind)')],
    'missing-site': [
        ('electrode.site', '(not given)', "one of ['palms', 'soles', 'underarms', 'child-hands']: the site sets the contact area the density limit is judged on")],
    'name-a-number': [
        ('name', 5, '1 to 64 letters, digits and dashes')],
    # 30.5 mA is 30500 uA: shown back in mA as the file wrote it, not cut to 30
    'rename-unit-fraction': [
        ('current.target_ma', 30.5, 'at most the device maximum 30000 uA')],
    'count-inexact': [
        ('pulses.count', 1.5, 'a number that is a whole multiple of 1 count')],
    'zero-area': [
        ('electrode.area_cm2', 0, '> 0, or leave the key out (default: required for drug and research)')],
    'zero-return-area': [
        ('electrode.return_area_cm2', 0, '> 0, or leave the key out (default: required for drug and research)')],
    'zero-max-density': [
        ('electrode.max_density_ma_per_cm2', 0, "> 0, or leave the key out (default: the family's)")],
    'zero-charge-max': [
        ('charge.max_mc', 0, "> 0, or leave the key out (default: the family's density x the smaller electrode)")],
    'zero-charge-max-density': [
        ('charge.max_density_mc_per_cm2', 0, "> 0, or leave the key out (default: the family's)")],
    'unknown-key-among-counts': [
        ('pause.retries', 2, 'a known key of [pause]: max_min, stable_min, probe_ma, max_count, max_total_min')],
    'research-time-key': [
        ('time.duration_min', 10, "no such key for family 'research' (used by: tap-water)")],
    'family-after-inline-table': [
        ('time.duration_min', 10, "no such key for family 'research' (used by: tap-water)")],
    'decimal-beyond-a-float': [
        ('current.target_ma', '10.00000000000000000001', 'a number that is a whole multiple of 1/1000 ma')],
    'refused-key-and-others-in-its-section': [
        ('current.max_ua', 0, '> 0, or leave the key out (default: the target)'),
        ('current.target_ma', 100, 'at most the device maximum 30000 uA'),
        ('current.ramp_s', 30, 'at least 49976 ms for 100000 uA (device max slew 2000 uA/s)')],
    'missing-key-and-a-later-problem': [
        ('current.ramp_<unit>', '(not given)', 'required'),
        ('time.duration_s', 5, '>= 10000 ms: a tap-water session ends by time')],
    'dotted-unknown-key': [
        ('current.x.target_ma', 1, 'a known key of [current]: target_ma, max_ma, min_ma, step_ma, ramp_min, electrode_a, reverse_at_half, waveform, pulse_hz, duty_percent'),
        ('current.target_ma', 100, 'at most the device maximum 30000 uA'),
        ('current.ramp_s', 30, 'at least 49976 ms for 100000 uA (device max slew 2000 uA/s)')],
    'unknown-section-first': [
        ('[extras]', 'section', "one of ['charge', 'current', 'dose', 'electrode', 'pause', 'pulses', 'time']")],
    'name-beside-names': [
        ('names', 1, 'a known key of [top level]: name, family, description'),
        ('name', 't t', '1 to 64 letters, digits and dashes')],
    'pause-max-beside-max-count': [
        ('pause.max_count', 1.5, 'a number that is a whole multiple of 1 count'),
        ('pause.max_s', 0.5, 'an integer from 1000 to 3600000 ms')],
}


@pytest.mark.req("RX-001", "RX-007", "RX-011")
@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_profile_is_refused_naming_field_value_and_limit(case: str) -> None:
    with pytest.raises(InvalidSettings) as info:
        profiles.parse(BAD[case], DeviceLimits())
    got = [(p.field, p.value, p.allowed) for p in info.value.problems]
    assert got == EXPECTED[case]
    for p in info.value.problems:  # and the one-line message carries all three
        assert f"{p.field} = {p.value!r}: allowed {p.allowed}" in str(info.value)


def test_the_bases_are_valid() -> None:
    """Each case breaks one thing of a valid profile."""
    for text in (TAP, DRUG, RES + STEP):
        profiles.parse(text, DeviceLimits())


@pytest.mark.parametrize("field, allowed", [("", "x"), ("x", ""), (None, "x"), ("x", None)])
def test_a_problem_must_name_its_field_and_what_is_allowed(field: object, allowed: object) -> None:
    with pytest.raises(TypeError, match="a field and what is allowed must be named"):
        Problem(field, 1, allowed)  # type: ignore[arg-type]


def test_invalid_settings_carries_problems_only() -> None:
    two = [Problem("a", 1, "at most 0"), Problem("b", "x", "one of ['y']")]
    err = InvalidSettings(two)
    assert err.context == "settings" and err.problems == two
    assert str(err) == "invalid settings: a = 1: allowed at most 0; b = 'x': allowed one of ['y']"
    assert InvalidSettings(two, "device limits").context == "device limits"
    with pytest.raises(TypeError, match="needs one or more Problem"):
        InvalidSettings([])
    with pytest.raises(TypeError):
        InvalidSettings([None])  # type: ignore[list-item]


@pytest.mark.req("RX-001")
def test_a_refused_file_is_named_as_the_context_of_its_problems(tmp_path: Path) -> None:
    with pytest.raises(InvalidSettings) as info:
        profiles.parse(BAD["unknown-key"], DeviceLimits())
    assert info.value.context == "profile"            # parse's default origin
    with pytest.raises(InvalidSettings) as info:
        profiles.parse(BAD["bad-toml"], DeviceLimits(), origin="clinic/palms.toml")
    assert info.value.context == "clinic/palms.toml"
    assert info.value.problems[0].value == "clinic/palms.toml"
    path = tmp_path / "palms"                          # a path without .toml: read as a file
    path.write_text(BAD["unknown-key"], "utf-8")
    with pytest.raises(InvalidSettings) as info:
        profiles.load(str(path), DeviceLimits())
    assert info.value.context == str(path)


def test_a_profile_is_a_built_in_name_or_a_toml_path(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InvalidSettings) as info:
        profiles.load("palms")
    names = ", ".join(profiles.builtin_names())
    assert info.value.context == "profile"
    assert [(p.field, p.value, p.allowed) for p in info.value.problems] == [
        ("profile", "palms", f"a built-in profile ({names}) or a path to a .toml file")]
    monkeypatch.chdir(tmp_path)                        # a bare file name ending in .toml
    (tmp_path / "mine.toml").write_text(TAP, "utf-8")
    assert profiles.load("mine.toml").name == "t"
    assert profiles.load("hyperhidrosis-palms").name == "hyperhidrosis-palms"
    small = DeviceLimits(max_current_ua=5_000, trip_ua=6_000)
    with pytest.raises(InvalidSettings, match="at most the device maximum 5000 uA"):
        profiles.load("mine.toml", small)              # the device is passed on


@pytest.mark.req("RX-001")
def test_an_unknown_built_in_profile_is_named_in_the_key_error() -> None:
    with pytest.raises(KeyError) as info:
        profiles.builtin_text("palms")
    assert info.value.args == ("palms",)
