"""A home device's configuration and the checks a prescription must pass before it runs.

The configuration (TOML, specs/signed_prescription.md) names the device, its patient, its
history database, the clinicians' public keys it trusts, revoked keys, and whether
signatures are required. `admit` runs every check in order and returns the accepted
prescription, or raises `Refused` with the first reason: unsigned (when required), any
edited byte, an unknown or revoked key, an expired prescription, another patient's, an
older version than one already used (no rollback), a course that does not allow a session
now, a clock behind the history.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .course import Course, CourseError, judge
from .history import History, HistoryError
from .signing import (KEY_ID, PublicKey, Refused, Signed, load_public_key, read_toml, split,
                      verify_text)


@dataclass(frozen=True)
class HomeConfig:
    """A device's home-use configuration."""

    device_id: str
    history: Path
    require_signature: bool = True
    trusted: dict[str, PublicKey] = field(default_factory=dict)
    revoked: frozenset[str] = frozenset()
    patient: str | None = None


def load_config(path: str | Path) -> HomeConfig:
    """Read a device configuration; Refused naming the key for anything wrong."""
    path = Path(path)
    data = read_toml(path, "not valid TOML")
    base = path.parent
    known = {"device_id", "patient", "history", "signatures"}
    for key in data:
        if key not in known:
            raise Refused(f"{path}: {key}: not a configuration key (allowed: {sorted(known)})")
    device_id, history = data.get("device_id"), data.get("history")
    if not isinstance(device_id, str) or not device_id:
        raise Refused(f"{path}: device_id: required (a string naming this device)")
    if not isinstance(history, str) or not history or "\0" in history:
        raise Refused(f"{path}: history: required, a file name (the SQLite file of this "
                      "device's sessions)")
    patient = data.get("patient")
    if patient is not None and not isinstance(patient, str):
        raise Refused(f"{path}: patient: a string")
    sig: dict[str, Any] = data.get("signatures", {})
    if not isinstance(sig, dict):
        raise Refused(f"{path}: [signatures]: a table")
    for name in sig:
        if name not in ("required", "trusted", "revoked"):
            raise Refused(f"{path}: signatures.{name}: not a key (required, trusted, revoked)")
    required = sig.get("required", True)
    if type(required) is not bool:
        raise Refused(f"{path}: signatures.required: true or false")
    trusted: dict[str, PublicKey] = {}
    files = sig.get("trusted", [])
    if not isinstance(files, list):
        raise Refused(f"{path}: signatures.trusted: a list of public-key files, e.g. "
                      '["dr-a.pub.toml"]')
    for file in files:
        if not isinstance(file, str):
            raise Refused(f"{path}: signatures.trusted: a list of public-key files")
        public = load_public_key(base / file)
        trusted[public.key_id] = public
    revoked = sig.get("revoked", [])
    if not isinstance(revoked, list):
        raise Refused(f"{path}: signatures.revoked: a list of key ids ('ed25519:...')")
    for entry in revoked:  # a typo must not silently revoke nothing
        if not isinstance(entry, str) or not KEY_ID.fullmatch(entry):
            raise Refused(f"{path}: signatures.revoked: {entry!r} is not a key id (ed25519: and "
                          "16 lowercase hex digits, as `ionto keys new` prints it)")
    if required and not trusted:
        raise Refused(f"{path}: signatures.trusted: signatures are required but no key is trusted")
    return HomeConfig(device_id, base / history, required, trusted, frozenset(revoked), patient)


@dataclass(frozen=True)
class Admitted:
    """A prescription cleared to run: its profile text, and what the history records."""

    profile_text: str
    signed: Signed | None
    course: Course | None
    rx_sha256: str
    reason: str


def looks_signed(data: bytes) -> bool:
    """Whether the file claims to be signed: then it is verified, and a damaged one is refused
    as damaged, never run as an unsigned file."""
    return b"[signature]" in data or data.lstrip().startswith(b"# iontocore signed prescription")


def admit(data: bytes, config: HomeConfig, history: History, clock_ms: int,
          today: dt.date | None = None) -> Admitted:
    """Every check before a session, in order; Refused (or HistoryError) with the reason."""
    import hashlib

    now = history.now_ms(clock_ms)  # a clock behind the history is refused first
    today = today or dt.datetime.fromtimestamp(now / 1000, dt.timezone.utc).date()
    if not looks_signed(data):
        if config.require_signature:
            raise Refused("this device runs signed prescriptions only; the file is not signed "
                          "(ionto sign)")
        return Admitted(data.decode("utf-8", "replace"), None, None,
                        hashlib.sha256(data).hexdigest(), "unsigned (signatures not required)")
    _, kid, _ = split(data)
    if kid in config.revoked:
        raise Refused(f"signed with key {kid}, which this device has revoked")
    signed = verify_text(data, config.trusted)
    if signed.valid_until is not None and today > signed.valid_until:
        raise Refused(f"the prescription expired on {signed.valid_until.isoformat()}")
    if signed.patient is not None and config.patient is not None and signed.patient != config.patient:
        raise Refused(f"the prescription is for patient {signed.patient}, this device's patient "
                      f"is {config.patient}")
    if signed.patient is not None and config.patient is None:
        raise Refused(f"the prescription is for patient {signed.patient}; this device names no "
                      "patient (configuration key patient)")
    if signed.patient is None and config.patient is not None:
        raise Refused(f"the prescription names no patient; this device runs only prescriptions "
                      f"for its patient {config.patient} (ionto sign --patient)")
    highest = history.highest_version(signed.prescription_id, kid)
    if signed.version < highest:
        raise Refused(f"version {signed.version} of prescription {signed.prescription_id} is "
                      f"older than version {highest} already used on this device (no rollback)")
    course = None
    if signed.course is not None:
        try:
            course = Course.parse(signed.course)
        except CourseError as exc:
            raise Refused(f"the signed course is not valid: {exc}") from None
        verdict = judge(course, history.starts_of(signed.prescription_id, kid), now)
        if not verdict.allowed:
            raise Refused(verdict.reason)
        reason = verdict.reason
    else:
        reason = "no course: no limit on how often"
    who = config.trusted[kid].name
    return Admitted(signed.profile_text, signed, course, signed.sha256,
                    f"signed by {who} ({kid}), version {signed.version}; {reason}")


__all__ = ["Admitted", "HistoryError", "HomeConfig", "Refused", "admit", "load_config",
           "looks_signed"]
