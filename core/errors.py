"""Errors for bad input: every problem names the field, the value and what is allowed.

Bad input is rejected, never clamped: the object that was asked for is not created
and nothing that already exists is changed.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

SHOWN_MAX = 200
"""The most characters of a refused value a message shows."""


def shown(value: object) -> str:
    """`value` as a message shows it: its repr, cut to SHOWN_MAX characters. Never raises: an
    integer too long to print (Python refuses over 4300 digits), a repr that raises or
    recurses too deep, show as a placeholder naming the type (bad input is refused by name
    whatever it holds; a message must not be the thing that fails)."""
    try:
        if isinstance(value, int) and int.bit_length(value) > 640:  # about 190 digits
            return f"<an integer of {int.bit_length(value)} bits>"
        text = repr(value)  # (a __repr__ that returns no str raises TypeError here)
    except Exception:  # noqa: BLE001 - any failure to show the value: name its type
        return f"<a {type(value).__qualname__} that cannot be shown>"
    return text if len(text) <= SHOWN_MAX else text[:SHOWN_MAX - 3] + "..."


def is_name(value: object, names: Collection[str]) -> bool:
    """Whether `value` is a str among `names`. Any value may be asked about: a list or a
    table (unhashable) is no name, never an error (the type is tested first)."""
    return type(value) is str and value in names


def quoted(name: object) -> str:
    """A name as a message quotes it: 'text' (cut to SHOWN_MAX characters), or any other
    value quoted as `shown` gives it; never raises."""
    text = name if type(name) is str else shown(name)
    return f"'{text[:SHOWN_MAX]}'"


def described(exc: BaseException) -> str:
    """An exception as a fault reason shows it, `Type: message`, cut to SHOWN_MAX characters;
    never raises (an exception whose message cannot be made still has a type)."""
    name = type(exc).__qualname__
    try:
        text = str(exc)  # (a __str__ that returns no str raises TypeError here)
    except Exception:  # noqa: BLE001 - the reason must be made whatever the exception holds
        text = "<message cannot be shown>"
    return f"{name}: {text}"[:SHOWN_MAX]


@dataclass(frozen=True)
class Problem:
    """One reason a setting was rejected."""

    field: str
    value: object
    allowed: str

    def __post_init__(self) -> None:
        """A problem that names no field or no limit tells the user nothing: refused."""
        if type(self.field) is not str or not self.field or type(self.allowed) is not str \
                or not self.allowed:
            raise TypeError(f"Problem({self.field!r}, ..., {self.allowed!r}): a field and what is "
                            "allowed must be named")

    def __str__(self) -> str:
        return f"{self.field} = {shown(self.value)}: allowed {self.allowed}"

    def __repr__(self) -> str:
        """As the dataclass would, with the value as `shown` gives it (never raises)."""
        return f"Problem(field={self.field!r}, value={shown(self.value)}, allowed={self.allowed!r})"


class InvalidSettings(ValueError):
    """Raised when device limits, a prescription or a profile file are not acceptable.

    `problems` lists every problem found, not just the first.
    """

    def __init__(self, problems: list[Problem], context: str = "settings") -> None:
        self.problems = list(problems)
        if not self.problems or not all(type(p) is Problem for p in self.problems):
            raise TypeError(f"InvalidSettings needs one or more Problem, got {self.problems!r}")
        self.context = context
        lines = "; ".join(str(p) for p in self.problems)
        super().__init__(f"invalid {context}: {lines}")


class Checker:
    """Collects problems while validating, then raises them all at once."""

    def __init__(self, context: str) -> None:
        self.context = context
        self.problems: list[Problem] = []

    def add(self, field: str, value: object, allowed: str) -> None:
        self.problems.append(Problem(field, value, allowed))

    def int_range(self, field: str, value: object, lo: int, hi: int, unit: str = "") -> bool:
        """Check that `value` is an int (not a bool) within [lo, hi]."""
        suffix = f" {unit}" if unit else ""
        if type(value) is not int or not lo <= value <= hi:
            self.add(field, value, f"an integer from {lo} to {hi}{suffix}")
            return False
        return True

    def one_of(self, field: str, value: object, names: Collection[str], allowed: str = "") -> bool:
        """Check that `value` is one of `names` (is_name); `allowed` says so by default."""
        return self.check(is_name(value, names), field, value, allowed or f"one of {list(names)}")

    def check(self, ok: bool, field: str, value: object, allowed: str) -> bool:
        if not ok:
            self.add(field, value, allowed)
        return ok

    def raise_if_any(self) -> None:
        if self.problems:
            raise InvalidSettings(self.problems, self.context)
