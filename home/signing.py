"""Signed prescriptions: a clinician's Ed25519 key signs a profile, its identity and its course.

The format (specs/signed_prescription.md) is a TOML file. Everything before the final
`[signature]` table is signed byte for byte, so any edited byte breaks the signature; the
profile is carried verbatim as a literal string, so a reader sees what was prescribed.
`verify_text` returns what was signed, or raises `Refused` naming the reason; it checks the
signature only. Who may sign, for whom and until when is judged in `iontocore.home.trust`.

Keys: `new_key_pair` writes a PKCS#8 PEM private key (owner-only permissions, optionally
passphrase-protected) and a TOML public-key file naming the clinician.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

FORMAT = 1
"""The version of the signed-prescription format this code writes and reads."""
DOMAIN = b"iontocore signed prescription v1\n"
"""Prefixed to the signed bytes, so a signature made for anything else never verifies here."""
HEADER = ("# iontocore signed prescription, format 1 (specs/signed_prescription.md).\n"
          "# Signed byte for byte: any edit above the [signature] table breaks it.\n")
KEY_ID = re.compile(r"ed25519:[0-9a-f]{16}")
"""A key id as `key_id` makes it."""
_SIGNATURE = re.compile(r'\[signature\]\nkey = "(' + KEY_ID.pattern + r')"\nvalue = "([A-Za-z0-9+/=]{86,90})"\n\Z')


class Refused(Exception):
    """A signed file, key or request that cannot be accepted; the message says why."""


@dataclass(frozen=True)
class PublicKey:
    """A clinician's public key as a device trusts it."""

    name: str
    raw: bytes

    @property
    def key_id(self) -> str:
        """'ed25519:' and the first 16 hex digits of the key's SHA-256."""
        return key_id(self.raw)

    def text(self) -> str:
        """The public-key file: TOML with the clinician's name and the key."""
        return (f'# iontocore clinician public key (specs/signed_prescription.md)\n'
                f'name = {_toml_str(self.name)}\nkey = "ed25519:{base64.b64encode(self.raw).decode()}"\n'
                f'id = "{self.key_id}"\n')


@dataclass(frozen=True)
class Signed:
    """What a valid signature covers."""

    profile_text: str
    prescription_id: str
    version: int
    signer: str
    key_id: str
    issued: str
    patient: str | None
    valid_until: dt.date | None
    course: dict[str, Any] | None
    sha256: str
    """SHA-256 of the whole signed file, as the session record and history name it."""


def key_id(raw: bytes) -> str:
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]


def _toml_str(text: str) -> str:
    """A TOML basic string (JSON's escaping is valid TOML)."""
    import json

    return json.dumps(text, ensure_ascii=False)


def new_key_pair(private_path: Path, public_path: Path, name: str,
                 passphrase: bytes | None = None) -> PublicKey:
    """Generate a key pair: the private key (PEM, mode 0600, encrypted when a passphrase is
    given) and the public-key file. Refuses to overwrite either."""
    if not name.strip() or "\n" in name:
        raise Refused("the clinician's name must be one non-empty line")
    for path in (private_path, public_path):
        if path.exists():
            raise Refused(f"{path}: exists; a key is never overwritten")
    key = Ed25519PrivateKey.generate()
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase
        else serialization.NoEncryption())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            encryption)
    try:
        fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise Refused(f"{private_path}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    os.chmod(private_path, 0o600)  # whatever the umask
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    public = PublicKey(name.strip(), raw)
    try:
        fd = os.open(public_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except OSError as exc:
        os.unlink(private_path)  # no private key without its public half
        raise Refused(f"{public_path}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(public.text())
    return public


def load_private_key(path: Path, passphrase: bytes | None = None) -> Ed25519PrivateKey:
    """The private key; refuses a file readable by others, a wrong passphrase, another kind
    of key."""
    try:
        mode = path.stat().st_mode & 0o777
        data = path.read_bytes()
    except OSError as exc:
        raise Refused(f"{path}: {exc.strerror}") from None
    if mode & 0o077:
        raise Refused(f"{path}: readable by others (mode {mode:o}); a private key must be 600")
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except TypeError as exc:  # encrypted without a passphrase, or the other way round
        raise Refused(f"{path}: {exc}") from None
    except ValueError:
        raise Refused(f"{path}: not a private key, or a wrong passphrase") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise Refused(f"{path}: not an Ed25519 key")
    return key


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """A TOML file's table; Refused naming the file (unreadable, or not `what`)."""
    try:
        return tomllib.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise Refused(f"{path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise Refused(f"{path}: {what} ({exc})") from None


def load_public_key(path: Path) -> PublicKey:
    """A public-key file written by `new_key_pair`."""
    return parse_public_key(read_toml(path, "not a public-key file"), str(path))


def parse_public_key(data: dict[str, Any], origin: str) -> PublicKey:
    name, key = data.get("name"), data.get("key")
    if not isinstance(name, str) or not name.strip():
        raise Refused(f"{origin}: name: a clinician's name is required")
    if not isinstance(key, str) or not key.startswith("ed25519:"):
        raise Refused(f"{origin}: key: 'ed25519:' and the key in base64 is required")
    try:
        raw = base64.b64decode(key[8:], validate=True)
    except ValueError:
        raise Refused(f"{origin}: key: not base64") from None
    if len(raw) != 32:
        raise Refused(f"{origin}: key: an Ed25519 public key is 32 bytes, not {len(raw)}")
    return PublicKey(name.strip(), raw)


def sign(profile_text: str, key: Ed25519PrivateKey, signer: str, prescription_id: str,
         version: int, patient: str | None = None, valid_until: dt.date | None = None,
         course_toml: str | None = None, issued: dt.datetime | None = None) -> str:
    """The signed file for `profile_text` (and the course's `[course]` table, from
    `Course.to_toml`). The profile is checked by the caller (`ionto sign` validates it
    first); here only what the format cannot carry is refused."""
    if "'''" in profile_text:
        raise Refused("the profile contains ''' , which the signed format cannot carry")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", prescription_id):
        raise Refused(f"prescription id {prescription_id!r}: 1 to 64 letters, digits, '.', '_', '-'")
    if type(version) is not int or not 1 <= version <= 1_000_000:
        raise Refused(f"version {version!r}: an integer from 1 to 1000000")
    if patient is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", patient):
        raise Refused(f"patient {patient!r}: 1 to 64 letters, digits, '.', '_', '-'")
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    issued = issued or dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    lines = [HEADER, "[prescription]", f"format = {FORMAT}", f"id = {_toml_str(prescription_id)}",
             f"version = {version}", f"signer = {_toml_str(signer)}", f'key = "{key_id(raw)}"',
             f"issued = {issued.isoformat().replace('+00:00', 'Z')}"]
    if patient is not None:
        lines.append(f"patient = {_toml_str(patient)}")
    if valid_until is not None:
        lines.append(f"valid_until = {valid_until.isoformat()}")
    lines.append("")
    if course_toml is not None:
        lines += [course_toml.strip("\n"), ""]
    text = profile_text if profile_text.endswith("\n") else profile_text + "\n"
    lines += ["[profile]", f"text = '''\n{text}'''", ""]
    body = "\n".join(lines) + "\n"
    signature = key.sign(DOMAIN + body.encode("utf-8"))
    return body + (f'[signature]\nkey = "{key_id(raw)}"\n'
                   f'value = "{base64.b64encode(signature).decode()}"\n')


def split(data: bytes) -> tuple[bytes, str, bytes]:
    """(signed body, key id, signature) of a signed file; Refused if it is not one."""
    marker = data.rfind(b"\n[signature]\n")
    if marker < 0:
        if b"[signature]" in data:
            raise Refused("the signed file is damaged: its [signature] table is not where "
                          "signing put it (line endings or spacing changed?)")
        raise Refused("not signed: no [signature] table at the end")
    body, trailer = data[:marker + 1], data[marker + 1:]
    try:
        match = _SIGNATURE.fullmatch(trailer.decode("ascii"))
    except UnicodeDecodeError:
        match = None
    if match is None:
        raise Refused("the [signature] table is damaged, or something follows it")
    try:
        signature = base64.b64decode(match.group(2), validate=True)
    except ValueError:
        raise Refused("the signature is not base64") from None
    if len(signature) != 64:
        raise Refused(f"the signature is {len(signature)} bytes, not 64")
    return body, match.group(1), signature


def verify_text(data: bytes, keys: dict[str, PublicKey]) -> Signed:
    """Check the signature of a signed file against the keys (by key id) and return what it
    signed. Refused: not signed, damaged, an unknown key, a bad signature, an unreadable body."""
    body, kid, signature = split(data)
    public = keys.get(kid)
    if public is None:
        raise Refused(f"signed with key {kid}, which this device does not trust")
    try:
        Ed25519PublicKey.from_public_bytes(public.raw).verify(signature, DOMAIN + body)
    except InvalidSignature:
        raise Refused(f"the signature does not match the file: it was edited after signing, "
                      f"or signed by another key than {kid}") from None
    try:
        doc = tomllib.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise Refused(f"the signed body is not valid TOML ({exc})") from None
    rx, profile = doc.get("prescription"), doc.get("profile")
    if not isinstance(rx, dict) or not isinstance(profile, dict):
        raise Refused("the signed body lacks its [prescription] or [profile] table")
    if rx.get("format") != FORMAT:
        raise Refused(f"format {rx.get('format')!r}: this device reads format {FORMAT}")
    if rx.get("key") != kid:
        raise Refused(f"the body names key {rx.get('key')!r} but is signed by {kid}")
    extra = set(doc) - {"prescription", "profile", "course"}
    if extra:
        raise Refused(f"unknown table(s) in the signed body: {sorted(extra)}")
    valid_until = rx.get("valid_until")
    if valid_until is not None and type(valid_until) is not dt.date:
        raise Refused(f"valid_until {valid_until!r}: a date")
    fields = (rx.get("id"), rx.get("version"), rx.get("signer"), profile.get("text"))
    if not (isinstance(fields[0], str) and type(fields[1]) is int and isinstance(fields[2], str)
            and isinstance(fields[3], str)):
        raise Refused("the [prescription] table lacks id, version or signer, or [profile] its text")
    course = doc.get("course")
    return Signed(profile_text=fields[3].lstrip("\n"), prescription_id=fields[0],
                  version=fields[1], signer=fields[2], key_id=kid, issued=str(rx.get("issued")),
                  patient=rx.get("patient"), valid_until=valid_until,
                  course=course if isinstance(course, dict) else None,
                  sha256=hashlib.sha256(data).hexdigest())
