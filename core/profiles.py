"""Profiles: prescriptions as TOML files in human units, converted exactly to integers.

A key is `<name>_<unit>`: `target_ma = 15` and `target_ua = 15000` mean the same. Values
may be integers or decimals; a decimal that is not a whole number of the internal unit
(1 uA, 1 ms, 1 uA*ms, 1 mm2, 1 permille) is rejected, never rounded. Every problem
names the key as written in the file. The format: specs/profile_format.md.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from importlib import resources
from pathlib import Path, PurePath
from typing import Any

from .errors import InvalidSettings, Problem, described
from .limits import DeviceLimits
from .prescription import Prescription
from .protocol import DEFAULT_ON_INTERRUPT, KINDS, ON_INTERRUPT, PULSE, STEP_RANGES, Protocol, Step

CURRENT = {"ma": 1000, "ua": 1}
TIME = {"min": 60_000, "s": 1000, "ms": 1}
CHARGE = {"ma_min": 60_000_000, "mc": 1_000_000, "uams": 1}
CHARGE_DENSITY = {"mc_per_cm2": 1_000_000, "uams_per_cm2": 1}
DENSITY = {"ma_per_cm2": 1000, "ua_per_cm2": 1}
AREA = {"cm2": 100, "mm2": 1}
DUTY = {"percent": 10, "permille": 1}
PLAIN = {"": 1}


@dataclass(frozen=True)
class Key:
    """One profile key: section, base name, the Prescription field it fills, its units."""

    section: str
    base: str
    field: str
    units: dict[str, int] | None  # None: a string or boolean, taken as is
    doc: str
    default: str
    families: tuple[str, ...] = ("tap-water", "drug", "research")
    """The families that use this key; given for another family it is rejected (RX-007)."""


KEYS: tuple[Key, ...] = (
    Key("", "name", "name", None, "profile name (letters, digits, dashes)", "required"),
    Key("", "family", "family", None, "'tap-water', 'drug' or 'research'", "required"),
    Key("", "description", "description", None, "free text shown by `ionto profiles`", "''"),
    Key("current", "target", "target_ua", CURRENT, "intensity at the start (pulse amplitude "
        "when pulsed)", "required"),
    Key("current", "max", "max_ua", CURRENT, "ceiling the patient may raise to", "the target"),
    Key("current", "min", "min_ua", CURRENT, "floor the patient may lower to", "one step"),
    Key("current", "step", "step_ua", CURRENT, "patient adjustment step",
        "a tenth of the target"),
    Key("current", "ramp", "ramp_ms", TIME, "time from zero to the target; sets the slew used "
        "for every change", "required"),
    Key("current", "electrode_a", "electrode_a", None, "role of electrode A at the start: "
        "'anode' or 'cathode' (drug: A is the drug electrode)", "'anode'"),
    Key("current", "reverse_at_half", "reverse_at_half", None, "reverse polarity at half time "
        "(tap-water only)", "false", ("tap-water",)),
    Key("current", "waveform", "waveform", None, "'dc' or 'pulsed'", "'dc'"),
    Key("current", "pulse", "pulse_hz", {"hz": 1}, "pulse frequency (pulsed only)", "0"),
    Key("current", "duty", "duty_permille", DUTY, "pulse duty cycle (pulsed only)", "100 %"),
    Key("time", "duration", "duration_ms", TIME, "tap-water: session time", "required for "
        "tap-water", ("tap-water",)),
    Key("dose", "target", "dose_uams", CHARGE, "drug: the session ends when delivered",
        "required for drug", ("drug",)),
    Key("dose", "electrode_max", "electrode_max_uams", CHARGE, "drug: the electrode's rated "
        "maximum dose (hard limit)", "required for drug", ("drug",)),
    Key("dose", "max_duration", "duration_ms", TIME, "drug: longest time allowed to reach the "
        "dose (the session then stops)", "required for drug", ("drug",)),
    Key("electrode", "site", "site", None, "tap-water: treated site, one of "
        "'palms', 'soles', 'underarms', 'child-hands'; sets the assumed contact area "
        "(specs/limits.md)", "required for tap-water", ("tap-water",)),
    Key("electrode", "area", "area_mm2", AREA, "area of electrode A (drug: the drug electrode; "
        "research: the chamber); tap-water: narrows the site's area", "required for drug and "
        "research"),
    Key("electrode", "return_area", "return_area_mm2", AREA, "area of the other electrode; the "
        "density is judged on the smaller", "required for drug and research",
        ("drug", "research")),
    Key("electrode", "max_density", "max_density_ua_per_cm2", DENSITY, "a density limit of this "
        "profile's own (narrows the family's)", "the family's"),
    Key("pulses", "count", "pulse_count", PLAIN, "research, short form: number of equal pulses "
        "(a protocol of one repeated pulse)", "required for research without a [protocol]",
        ("research",)),
    Key("pulses", "on", "pulse_on_ms", TIME, "research: time at the set current per pulse",
        "required with `pulses.count`", ("research",)),
    Key("pulses", "gap", "pulse_gap_ms", TIME, "research: current-free gap between pulses",
        "required for research (2+ pulses)", ("research",)),
    Key("charge", "max", "max_charge_uams", CHARGE, "research: a session charge ceiling of this "
        "profile's own; the core never passes it (narrows the family's)",
        "the family's density x the smaller electrode", ("research",)),
    Key("charge", "max_density", "max_charge_density_uams_per_cm2", CHARGE_DENSITY, "research: "
        "the same per cm2 of the smaller electrode (narrows the family's)", "the family's",
        ("research",)),
    Key("pause", "max", "max_pause_ms", TIME, "a contact-loss pause longer than this stops "
        "the session", "120 s"),
    Key("pause", "stable", "contact_stable_ms", TIME, "contact must be back this long before "
        "the current ramps up again", "2 s"),
    Key("pause", "probe", "probe_ua", CURRENT, "average current held while paused to see contact "
        "return", "50 uA"),
    Key("pause", "max_count", "max_pauses", PLAIN, "a contact loss beyond this many pauses "
        "stops the session", "20"),
    Key("pause", "max_total", "max_paused_total_ms", TIME, "paused longer than this in all "
        "stops the session", "10 min"),
)

SECTIONS = tuple(sorted({k.section for k in KEYS if k.section}))

STEP_KEYS: dict[str, tuple[str, dict[str, int] | None, str, tuple[str, ...]]] = {
    "kind": ("kind", None, f"one of {', '.join(KINDS)}", KINDS),
    "duration": ("duration_ms", TIME, "baseline, gap: the time without current", ("baseline", "gap")),
    "on": ("duration_ms", TIME, "pulse by time: the on-time at the set current", (PULSE,)),
    "charge": ("charge_uams", CHARGE, "pulse by charge: the charge of the whole pulse, ramps "
               "included (instead of `on`)", (PULSE,)),
    "current": ("current_ua", CURRENT, "pulse: its current (at most `current.max`; default: the "
                "set-point)", (PULSE,)),
    "repeat": ("repeat", PLAIN, "pulse: how many times (default 1)", (PULSE,)),
    "gap": ("gap_ms", TIME, "pulse repeated: the current-free gap between repetitions",
            (PULSE,)),
}
"""The keys of one `[[protocol.step]]`: the Step field, units, meaning and the kinds using it."""


def builtin_names() -> list[str]:
    """Names of the built-in profiles, sorted."""
    folder = resources.files("iontocore") / "builtin_profiles"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def builtin_text(name: str) -> str:
    """The TOML text of a built-in profile. Raises KeyError for an unknown name."""
    if name not in builtin_names():
        raise KeyError(name)
    return (resources.files("iontocore") / "builtin_profiles" / f"{name}.toml").read_text("utf-8")


def load(name_or_path: str | PurePath, device: DeviceLimits | None = None) -> Prescription:
    """A built-in profile by name, or a TOML file by path (a str or a path object), validated
    (against `device` too when given). Raises InvalidSettings, naming what is wrong (a file
    that cannot be read as UTF-8 text too), or FileNotFoundError for a missing file."""
    if isinstance(name_or_path, PurePath):
        name_or_path = str(name_or_path)
    if type(name_or_path) is not str:
        raise InvalidSettings([Problem("profile", name_or_path, "a built-in profile name or a "
                                                                "path to a .toml file")], "profile")
    if name_or_path in builtin_names():
        text, origin = builtin_text(name_or_path), name_or_path
    elif name_or_path.endswith(".toml") or "/" in name_or_path:
        try:
            text, origin = Path(name_or_path).read_text("utf-8"), name_or_path
        except FileNotFoundError:
            raise
        except (OSError, UnicodeDecodeError, ValueError) as exc:  # a directory, not UTF-8, NUL
            raise InvalidSettings([Problem("file", name_or_path, "a readable UTF-8 text file "
                                           f"({described(exc)})")], "profile") from None
    else:
        raise InvalidSettings([Problem("profile", name_or_path,
                                       f"a built-in profile ({', '.join(builtin_names())}) "
                                       "or a path to a .toml file")], "profile")
    return parse(text, device, origin)


def parse(text: str, device: DeviceLimits | None = None, origin: str = "profile") -> Prescription:
    """Parse and validate profile TOML text. Every problem is reported at once."""
    if type(text) is not str:
        raise InvalidSettings([Problem("file", origin, f"TOML text (a str), not "
                                                       f"{type(text).__name__}")], origin)
    try:
        data = tomllib.loads(text, parse_float=Decimal)  # decimals exactly as written
    except ValueError as exc:  # TOMLDecodeError, or an integer past Python's 4300 digits
        raise InvalidSettings([Problem("file", origin, f"valid TOML ({exc})")], origin) from None
    fields, written, problems = _convert(data)
    named = {p.field for p in problems}
    if any(p.field.startswith("protocol") for p in problems):
        # a research protocol was not converted: no follow-on "no pulses" problems (a
        # [protocol] refused for another family reports no pulse problems at all)
        named.update(("pulses.count", "pulses.on_ms"))
    failed = {k.field for p in problems
              for k in [_attempted(p.field.rpartition(".")[0], p.field.rpartition(".")[2])] if k}
    for p in Prescription.draft(**fields).problems(device):
        if p.field in failed:  # a key whose value was already refused: no follow-on errors
            continue
        renamed = _rename(p, written)
        if renamed.field not in named:  # (a missing "section.key_<unit>" failed its field)
            problems.append(renamed)
            named.add(renamed.field)
    if problems:
        raise InvalidSettings(problems, origin)
    return Prescription(**fields)


def _convert(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, tuple[str, int]], list[Problem]]:
    family = data.get("family")
    fields: dict[str, Any] = {"family": family} if isinstance(family, str) else {}
    written: dict[str, tuple[str, int]] = {}  # field -> (key as written, scale)
    problems: list[Problem] = []
    for top, value in data.items():
        if top == "protocol" and isinstance(value, dict):
            proto = _protocol(value, family, problems, written)
            if proto is not None:
                fields["protocol"] = proto
            continue
        if isinstance(value, dict):
            if top not in SECTIONS:
                problems.append(Problem(f"[{_path('', top)}]", "section", f"one of {list(SECTIONS)}"))
                continue
            for key, v in value.items():
                _take(top, key, v, fields, written, problems)
        else:
            _take("", top, value, fields, written, problems)
    tried = {p.field for p in problems}
    for key in KEYS:
        if key.default == "required" and key.field not in fields:
            path = _path(key.section, key.base + ("_<unit>" if key.units else ""))
            if not any(t.startswith(_path(key.section, key.base)) for t in tried):
                problems.append(Problem(path, "(not given)", "required"))
    return fields, written, problems


def _take(section: str, key: str, value: Any, fields: dict[str, Any],
          written: dict[str, tuple[str, int]], problems: list[Problem]) -> None:
    path = _path(section, key)
    if isinstance(value, Decimal):  # shown as written in messages; converted exactly below
        shown: Any = float(value)
        if not value.is_finite() or Decimal(repr(shown)) != value:
            shown = _Literal(str(value).lower().replace("infinity", "inf"))  # as written
        raw, value = value, shown
    else:
        raw = value
    match = _match(section, key)
    if match is None:
        choices = [k.base + ("_" + next(iter(k.units)) if k.units and "" not in k.units else "")
                   for k in KEYS if k.section == section]
        problems.append(Problem(path, value, f"a known key of [{section or 'top level'}]: "
                                             f"{', '.join(choices)}"))
        return
    spec, scale = match
    family = fields.get("family")
    if section and family in ("tap-water", "drug", "research") and family not in spec.families:
        # RX-007: a key the family does not use is an error, never silently ignored
        problems.append(Problem(path, value, f"no such key for family '{family}' (used by: "
                                             f"{', '.join(spec.families)})"))
        return
    if spec.field in fields and not (spec.field == "family" and section == ""):
        problems.append(Problem(path, value, f"only one of the keys for {spec.field} "
                                             f"(also given as {written[spec.field][0]})"))
        return
    if spec.units is None:  # text or true/false as written: a number is no name (nan, 1e400)
        fields[spec.field] = raw
        written[spec.field] = (path, 0)
        return
    converted = _exact(raw, scale)
    if converted is None:
        unit = key[len(spec.base) + 1:] or "count"
        problems.append(Problem(path, value, f"a number that is a whole multiple of "
                                             f"{Fraction(1, scale)} {unit}"))
        return
    if converted == 0 and spec.field in ("max_ua", "min_ua", "step_ua", "area_mm2",
                                         "return_area_mm2", "max_density_ua_per_cm2",
                                         "max_charge_uams", "max_charge_density_uams_per_cm2"):
        # 0 means "not given" inside; written in a file it would be silently reinterpreted
        problems.append(Problem(path, value, f"> 0, or leave the key out (default: "
                                             f"{spec.default})"))
        return
    fields[spec.field] = converted
    written[spec.field] = (path, scale)


def _protocol(table: dict[str, Any], family: Any, problems: list[Problem],
              written: dict[str, tuple[str, int]] | None = None) -> Protocol | None:
    """The [protocol] section: `on_interrupt` and its `[[protocol.step]]` entries, converted
    exactly (RX-001); None when something could not be converted (reported in `problems`)."""
    before = len(problems)
    if family != "research":
        problems.append(Problem("[protocol]", "section", "only for family 'research'"))
        return None
    for key in table:
        if key not in ("on_interrupt", "step"):
            problems.append(Problem(f"protocol.{key}", table[key], "a known key of [protocol]: "
                                    "on_interrupt, step"))
    on_interrupt = table.get("on_interrupt", DEFAULT_ON_INTERRUPT)
    if on_interrupt not in ON_INTERRUPT:
        problems.append(Problem("protocol.on_interrupt", on_interrupt,
                                f"one of {list(ON_INTERRUPT)}"))
    entries = table.get("step")
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        problems.append(Problem("protocol.step", "(not given)" if entries is None else entries,
                                "one or more [[protocol.step]] tables"))
        return None
    steps = []
    for n, entry in enumerate(entries, start=1):
        at = f"protocol.step[{n}]"
        kind = entry.get("kind")
        if kind not in KINDS:
            problems.append(Problem(f"{at}.kind", "(not given)" if kind is None else kind,
                                    f"one of {list(KINDS)}"))
            continue
        values: dict[str, Any] = {"kind": kind}
        for key, raw in entry.items():
            if key == "kind":
                continue
            base, _, unit = key.partition("_")
            spec = STEP_KEYS.get(base)
            scale = None if spec is None or spec[1] is None else spec[1].get(unit)
            if base == "repeat" and not unit:
                scale = 1
            if spec is None or scale is None:
                names = ", ".join(b + ("" if u is PLAIN or u is None else "_" + next(iter(u)))
                                  for b, (_, u, _, _) in STEP_KEYS.items())
                problems.append(Problem(f"{at}.{key}", _shown(raw), f"a known key of a step: "
                                        f"{names} (with any unit of its kind)"))
                continue
            if kind not in spec[3]:
                problems.append(Problem(f"{at}.{key}", _shown(raw), f"not for a {kind} (used "
                                        f"by: {', '.join(spec[3])})"))
                continue
            converted = _exact(raw, scale)
            if converted is None:
                problems.append(Problem(f"{at}.{key}", _shown(raw), f"a number that is a whole "
                                        f"multiple of {Fraction(1, scale)} {unit or 'count'}"))
                continue
            if spec[0] in values:
                problems.append(Problem(f"{at}.{key}", _shown(raw), "only one of on and "
                                        "duration, and one unit per key"))
                continue
            values[spec[0]] = converted
            if written is not None:  # a later problem names the key as written, in its unit
                written[f"{at}.{spec[0]}"] = (f"{at}.{key}", scale)
        steps.append(Step(**values))
    if len(problems) > before:
        return None
    return Protocol(tuple(steps), on_interrupt)


def _shown(value: Any) -> Any:
    """A value as a message shows it (decimals as written)."""
    return _Literal(str(value)) if isinstance(value, Decimal) else value


def _step_range(field: str) -> str:
    if field == "kind":
        return ", ".join(KINDS)
    lo, hi, unit = STEP_RANGES[field]
    return f"{lo} to {hi} {unit}".strip() + (" (internal unit)" if unit else "")


class _Literal(str):
    """A number shown exactly as the file wrote it (no quotes in messages)."""

    def __repr__(self) -> str:
        return str(self)


def _attempted(section: str, key: str) -> Key | None:
    """The profile key a refused key was an attempt at: the key it names exactly, or a key
    with units named with an unknown unit (`ramp_x`, `ramp_<unit>`); None for another name
    (`names` is no attempt at `name`, `max_count` none at `max_<unit>`)."""
    found = _match(section, key)
    if found is not None:
        return found[0]
    return next((spec for spec in KEYS if spec.section == section and spec.units
                 and "" not in spec.units and key.startswith(spec.base + "_")), None)


def _match(section: str, key: str) -> tuple[Key, int] | None:
    for spec in KEYS:
        if spec.section != section:
            continue
        if spec.units is None or "" in spec.units:
            if key == spec.base:
                return spec, (spec.units or {"": 0})[""]
            continue
        for unit, scale in spec.units.items():
            if key == f"{spec.base}_{unit}":
                return spec, scale
    return None


def _exact(value: Any, scale: int) -> int | None:
    """value x scale as an exact integer, or None. TOML integers arrive as int and every other
    number as Decimal (parse reads floats with parse_float=Decimal, inf and nan included), so
    a decimal is taken as written, never with a float's rounding; a bool is no number."""
    if type(value) is int:
        return value * scale
    if isinstance(value, Decimal) and value.is_finite() and abs(value.adjusted()) <= 30:
        # (1e-999999999 is 13 bytes of TOML; made exact it would take hours)
        exact = Fraction(value) * scale
        return int(exact) if exact.denominator == 1 else None
    return None


def _rename(p: Problem, written: dict[str, tuple[str, int]]) -> Problem:
    """Name a prescription problem by the key the file used, and show the file's value."""
    if p.field not in written:
        key = next((k for k in KEYS if k.field == p.field), None)
        if key is None:
            return p
        # not in the file: name the key in the internal unit, so the value reads right
        unit = next((u for u, f in key.units.items() if f == 1), "") if key.units else ""
        path = _path(key.section, f"{key.base}_{unit}" if unit else key.base)
        return Problem(path, "(not given)" if p.value in (0, "") else p.value, p.allowed)
    path, scale = written[p.field]
    value: object = p.value
    if scale > 1 and isinstance(p.value, int) and not isinstance(p.value, bool):
        shown = Fraction(p.value, scale)  # back in the file's unit
        value = int(shown) if shown.denominator == 1 else float(shown)
    return Problem(path, value, p.allowed)


def _path(section: str, key: str) -> str:
    """The key as a message names it; an empty key as TOML writes it ("")."""
    key = key or '""'
    return f"{section}.{key}" if section else key



def render_format() -> str:
    """specs/profile_format.md: every key, its unit, default and allowed range, rendered from
    KEYS and the validator's own table (prescription.INT_RANGES)."""
    from .prescription import ANODE, CATHODE, FAMILIES, INT_RANGES, WAVEFORMS

    def units(key: Key) -> str:
        if key.units is None:
            return "-"
        if "" in key.units:
            return "count"
        return " or ".join(f"`_{u}`" for u in key.units)

    def allowed(key: Key) -> str:
        if key.field in INT_RANGES:
            lo, hi, unit = INT_RANGES[key.field]
            return f"{lo} to {hi} {unit}".strip() + (" (internal unit)" if key.units and "" not in key.units else "")
        return {"name": "1 to 64 letters, digits and dashes", "family": ", ".join(FAMILIES),
                "electrode_a": f"{ANODE}, {CATHODE}", "reverse_at_half": "true, false",
                "waveform": ", ".join(WAVEFORMS), "description": "any text"}.get(key.field, "-")

    lines = [
        "# Profile file format (TOML)",
        "",
        "Generated from `core/profiles.py` and `core/prescription.py` by "
        "`ionto profile format > specs/profile_format.md`;",
        "`tests/test_profiles.py` fails when this file and the code disagree. Requirements: RX-001,",
        "RX-002, RX-006.",
        "",
        "A profile is one clinician's prescription. Keys carry their unit in their name: "
        "`target_ma = 15` and",
        "`target_ua = 15000` are the same. Values may be integers or decimals, but a decimal that "
        "is not a whole",
        "number of the internal unit (1 uA, 1 ms, 1 uA*ms, 1 mm2, 1 permille) is rejected, never "
        "rounded. Every",
        "problem is reported at once, naming the key as written, its value and what is allowed "
        "(`ionto validate FILE`).",
        "Start from a built-in profile: `ionto profile show hyperhidrosis-palms > mine.toml`.",
        "",
        "## Keys",
        "",
        "| key | units | meaning | default | allowed |",
        "|---|---|---|---|---|",
    ]
    for key in KEYS:
        suffix = ""
        if key.units and "" not in key.units:
            suffix = "_<unit>" if len(key.units) > 1 else "_" + next(iter(key.units))
        name = _path(key.section, key.base + suffix)
        lines.append(f"| `{name}` | {units(key)} | {key.doc} | {key.default} | {allowed(key)} |")
    lines += [
        "",
        "Unit factors: current `_ma` x1000 = uA; time `_min` x60000, `_s` x1000 = ms; charge "
        "`_ma_min` x60,000,000,",
        "`_mc` x1,000,000 = uA*ms; density `_ma_per_cm2` x1000 = uA/cm2; area `_cm2` x100 = mm2; "
        "duty `_percent` x10 = permille.",
        "",
        "## Rules across keys",
        "",
        "- `current.max` >= `current.target` >= `current.min`; `current.step` <= the ceiling; "
        "`pause.probe` <= the target.",
        "- tap-water names `electrode.site` (its assumed contact area, specs/limits.md); "
        "`electrode.area` may only narrow it.",
        "- drug and research state `electrode.area` and `electrode.return_area`; the density is "
        "judged on the smaller.",
        "- `electrode.max_density`, when given, narrows the family's density limit; the ceiling "
        "must be <= density x area.",
        "- `waveform = \"pulsed\"` needs `pulse_hz` > 0 and a duty below 100 %; DC needs neither. "
        "The set current is the",
        "  pulse amplitude; the average (amplitude x duty) is what the sensor reports and what "
        "the dose counts.",
        "- tap-water: `time.duration` >= 10 s; no dose, no pulses; `reverse_at_half` allowed.",
        "- drug: `dose.target` > 0, `dose.electrode_max` >= it, `dose.max_duration` >= 10 s; "
        "polarity fixed (no reversal).",
        "- research: a `[protocol]` (below), or the short form `pulses.count` >= 1, `pulses.on` "
        ">= 1 s, `pulses.gap` >= 1 s between",
        "  pulses (a protocol of that many equal pulses, `on_interrupt = \"end\"`); no duration, "
        "no dose. `charge.max` and",
        "  `charge.max_density`, when given, narrow the session charge ceiling (the family's "
        "charge density x the smaller electrode).",
        "- tap-water and drug: `current.ramp` >= 1 s (a soft start and stop); research ramps "
        "are bounded by the device's slew alone.",
        "",
        "## Research protocol (`[protocol]`, research only)",
        "",
        "`on_interrupt` says what follows a pulse interrupted by a pause (the pulse is invalid): "
        f"{', '.join(repr(x) for x in ON_INTERRUPT)};",
        f"default {DEFAULT_ON_INTERRUPT!r} (no current after an invalid pulse). Each "
        "`[[protocol.step]]` is one step, in order; `kind` and:",
        "",
        "| key | units | meaning | used by | allowed |",
        "|---|---|---|---|---|",
        *[f"| `{base}` | {'-' if u is None else ('count' if u is PLAIN else ' or '.join(f'`_{x}`' for x in u))} "
          f"| {doc} | {', '.join(kinds)} | "
          f"{_step_range(field)} |" for base, (field, u, doc, kinds) in STEP_KEYS.items()],
        "",
        "- a pulse has either `on` (an on-time at the set current) or `charge` (it ends when its "
        "charge, counted from the",
        "  measured current with its ramp up and the ramp down still to come, is delivered); "
        "its charge must be at least",
        "  that of its ramps (current x ramp time); its `current` at most `current.max`;",
        "- a pulse is followed by a gap or a baseline, or is last (its charge includes its ramp "
        "down to zero); a repeated",
        "  pulse needs `gap` between its repetitions; at most 1000 steps with the repeats "
        "expanded; problems name",
        "  `protocol.step[N]` (N from 1, as written).",
        "- every step boundary is a marker (record, trace, `ionto run --markers FILE.csv`); "
        "every pulse is reported",
        "  with its nominal and delivered charge (`ionto run --pulses FILE.csv`).",
        "",
        "## Rules against the device (DeviceLimits, set by the maker)",
        "",
        "- the ceiling <= the device maximum current; the slew (target / ramp) <= the device "
        "maximum slew;",
        "- the planned session (duration, or the pulse train) <= the device maximum session "
        "time;",
        "- `reverse_at_half` only if the device allows reversal and the session is at least the "
        "device minimum",
        "  for reversal (10 min by default);",
        "- the waveform, pulse frequency and duty within what the device supports;",
        "- the clinical envelope of the family (specs/limits.md, ENV-001 to ENV-005): the "
        "ceiling <= the family's",
        "  current and <= its density x the smaller electrode (judged at the peak, the pulse "
        "amplitude when pulsed);",
        "  drug: `dose.electrode_max` <= the family's electrode rating; research: the pulse "
        "train's planned charge",
        "  (every pulse at the ceiling, full ramps included) <= the family's charge density x "
        "the smaller electrode.",
        "",
    ]
    return "\n".join(lines)
