"""Errors for bad input: every problem names the field, the value and what is allowed.

Bad input is rejected, never clamped: the object that was asked for is not created
and nothing that already exists is changed.
"""

from __future__ import annotations

from dataclasses import dataclass


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
        return f"{self.field} = {self.value!r}: allowed {self.allowed}"


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

    def check(self, ok: bool, field: str, value: object, allowed: str) -> bool:
        if not ok:
            self.add(field, value, allowed)
        return ok

    def raise_if_any(self) -> None:
        if self.problems:
            raise InvalidSettings(self.problems, self.context)
