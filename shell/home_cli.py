"""The home-use commands of `ionto`: keys, sign, verify, history, report (iontocore.home).

Each handler returns an exit status: 0 done, 2 refused or bad input (the reason on stderr
or in the output). They import iontocore.home lazily, so `ionto` without the `home` extra
still runs everything else and says what to install.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_REFUSED = 0, 2


class HomeUnavailable(Exception):
    pass


def _home() -> None:
    """HomeUnavailable unless the home extra is installed (looked up, not imported: the
    signature library is home/'s alone)."""
    import importlib.util

    if importlib.util.find_spec("cryptography") is None:
        raise HomeUnavailable("home use needs the home extra: pip install 'iontocore[home]'")


def add_parsers(sub: Any) -> None:
    keys = sub.add_parser("keys", help="a clinician's signing keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    new = keys_sub.add_parser("new", help="make an Ed25519 key pair: OUT.key (private, mode "
                                          "600) and OUT.pub.toml (give it to devices)")
    new.add_argument("--name", required=True, help="the clinician's name, as devices show it")
    new.add_argument("--out", required=True, metavar="PATH", help="path without extension")
    new.add_argument("--passphrase-env", metavar="VAR",
                     help="encrypt the private key with the passphrase in this environment variable")

    sign = sub.add_parser("sign", help="sign a profile as a prescription (specs/signed_prescription.md)")
    sign.add_argument("profile", metavar="FILE.toml")
    sign.add_argument("--key", required=True, metavar="KEY.key")
    sign.add_argument("--id", required=True, dest="rx_id", help="the prescription's id (kept "
                      "across versions)")
    sign.add_argument("--version", type=int, default=1, dest="rx_version",
                      help="version number (a device never runs an older one after a newer)")
    who = sign.add_mutually_exclusive_group(required=True)
    who.add_argument("--patient", help="the patient this is for (a device configured for "
                     "another patient, or for none, refuses it)")
    who.add_argument("--any-patient", action="store_true",
                     help="no patient named: only devices that name no patient run it (a clinic)")
    sign.add_argument("--valid-until", metavar="YYYY-MM-DD", help="last day it may be used")
    sign.add_argument("--course", metavar="COURSE.toml", help="the treatment course "
                      "(min_hours_between, sessions, [[phase]] tables)")
    sign.add_argument("--passphrase-env", metavar="VAR")
    sign.add_argument("-o", "--output", required=True, metavar="OUT.toml")

    verify = sub.add_parser("verify", help="check a signed prescription as a device would")
    verify.add_argument("file", metavar="SIGNED.toml")
    verify.add_argument("--config", required=True, metavar="DEVICE.toml")

    hist = sub.add_parser("history", help="the sessions of this device")
    hist.add_argument("--config", required=True, metavar="DEVICE.toml")
    hist.add_argument("--json", action="store_true", help="one JSON object per line")
    hist_sub = hist.add_subparsers(dest="history_command")
    hist_sub.add_parser("verify", help="check the hash chain: edited, deleted, reordered rows")
    export = hist_sub.add_parser("export", help="export the sessions")
    export.add_argument("--fhir", action="store_true", required=True,
                        help="as a FHIR R4 (4.3, R4B) Bundle of Procedures and Observations")
    export.add_argument("-o", "--output", required=True, metavar="FILE.json")

    report = sub.add_parser("report", help="write a self-contained HTML report for the clinician")
    report.add_argument("--config", required=True, metavar="DEVICE.toml")
    report.add_argument("-o", "--output", required=True, metavar="FILE.html")


def _passphrase(var: str | None) -> bytes | None:
    if var is None:
        return None
    value = os.environ.get(var)
    if not value:
        raise HomeUnavailable(f"--passphrase-env {var}: the variable is not set or empty")
    return value.encode("utf-8")


def run(args: argparse.Namespace) -> int:
    try:
        _home()
        return {"keys": cmd_keys, "sign": cmd_sign, "verify": cmd_verify, "history": cmd_history,
                "report": cmd_report}[args.command](args)
    except HomeUnavailable as exc:
        print(f"ionto: error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except Exception as exc:
        from iontocore.home.history import HistoryError
        from iontocore.home.signing import Refused

        if isinstance(exc, (Refused, HistoryError)):
            print(f"ionto: refused: {exc}", file=sys.stderr)
            return EXIT_REFUSED
        raise


def cmd_keys(args: argparse.Namespace) -> int:
    from iontocore.home.signing import new_key_pair

    out = Path(args.out)
    public = new_key_pair(out.with_name(out.name + ".key"), out.with_name(out.name + ".pub.toml"),
                          args.name, _passphrase(args.passphrase_env))
    print(f"private key {out.name}.key (mode 600{', passphrase-protected' if args.passphrase_env else ''}); "
          f"public key {out.name}.pub.toml, id {public.key_id}")
    return EXIT_OK


def cmd_sign(args: argparse.Namespace) -> int:
    import tomllib

    from iontocore import DeviceLimits, profiles
    from iontocore.errors import InvalidSettings
    from iontocore.home.course import Course, CourseError
    from iontocore.home.signing import Refused, load_private_key, load_public_key, sign

    try:
        text = Path(args.profile).read_text("utf-8")
    except OSError as exc:
        raise Refused(f"{args.profile}: {exc.strerror}") from None
    try:
        profiles.parse(text, DeviceLimits(), args.profile)  # never sign what a device refuses
    except InvalidSettings as exc:
        raise Refused(f"{args.profile} is not a valid profile: {exc}") from None
    key_path = Path(args.key)
    key = load_private_key(key_path, _passphrase(args.passphrase_env))
    pub_path = key_path.with_name(key_path.name.removesuffix(".key") + ".pub.toml")
    signer = load_public_key(pub_path).name
    valid_until = None
    if args.valid_until:
        try:
            valid_until = dt.date.fromisoformat(args.valid_until)
        except ValueError:
            raise Refused(f"--valid-until {args.valid_until!r}: a date YYYY-MM-DD") from None
    course_toml = None
    if args.course:
        try:
            course = Course.parse(tomllib.loads(Path(args.course).read_text("utf-8")))
        except OSError as exc:
            raise Refused(f"--course {args.course}: {exc.strerror}") from None
        except (tomllib.TOMLDecodeError, CourseError) as exc:
            raise Refused(f"--course {args.course}: {exc}") from None
        course_toml = course.to_toml()
    signed = sign(text, key, signer, args.rx_id, args.rx_version, args.patient, valid_until,
                  course_toml)
    out = Path(args.output)
    try:
        with open(out, "x", encoding="utf-8") as fh:
            fh.write(signed)
    except FileExistsError:
        raise Refused(f"-o {out}: exists; a signed prescription is never overwritten") from None
    except OSError as exc:
        raise Refused(f"-o {out}: {exc.strerror}") from None
    print(f"signed {args.profile} as {args.rx_id} version {args.rx_version} by {signer}: {out}")
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    from iontocore import DeviceLimits, profiles
    from iontocore.errors import InvalidSettings
    from iontocore.home.history import History
    from iontocore.home.session import wall_ms
    from iontocore.home.signing import Refused
    from iontocore.home.trust import admit, load_config

    config = load_config(args.config)
    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        raise Refused(f"{args.file}: {exc.strerror}") from None
    history = History(config.history)
    try:
        admitted = admit(data, config, history, wall_ms())
    finally:
        history.close()
    try:
        rx = profiles.parse(admitted.profile_text, DeviceLimits(), args.file)
    except InvalidSettings as exc:
        raise Refused(f"the signed profile is not valid on this device: {exc}") from None
    s = admitted.signed
    print(f"{args.file}: accepted")
    if s is not None:
        print(f"  signature: valid, key {s.key_id} ({config.trusted[s.key_id].name}), not revoked")
        print(f"  prescription {s.prescription_id} version {s.version}, issued {s.issued}; "
              f"no newer version used on this device")
        print(f"  patient: {s.patient or '(not named)'}"
              + (f" (this device: {config.patient})" if config.patient else ""))
        print(f"  valid until: {s.valid_until.isoformat() if s.valid_until else '(no end)'}")
    print(f"  course: {admitted.course.describe() if admitted.course else '(none)'}")
    print(f"  now: {admitted.reason}")
    print(f"  profile: {rx.name} ({rx.family}), valid on this device; sha256 {admitted.rx_sha256}")
    return EXIT_OK


def cmd_history(args: argparse.Namespace) -> int:
    from iontocore.home.history import History
    from iontocore.home.trust import load_config

    config = load_config(args.config)
    history = History(config.history)
    try:
        if args.history_command == "verify":
            problems = history.verify()
            rows = history.rows()
            if problems:
                print(f"{config.history}: {len(problems)} problem(s) in {len(rows)} rows")
                for p in problems:
                    print(f"  {p}")
                return EXIT_REFUSED
            print(f"{config.history}: intact, {len(rows)} rows, chain verified")
            return EXIT_OK
        if args.history_command == "export":
            from iontocore.home.fhir import bundle

            out = Path(args.output)
            _write(out, json.dumps(bundle(history.rows(), config.device_id), indent=1))
            print(f"{len(history.rows())} sessions written to {out} (FHIR R4B Bundle)")
            return EXIT_OK
        from iontocore.home.course import utc

        for row in history.rows():
            if args.json:
                print(json.dumps(row.as_dict(), separators=(",", ":")))
            else:
                dose = "" if row.delivered_uams is None else f", {row.delivered_uams / 60e6:.2f} mA*min"
                print(f"{row.seq:>4}  {utc(row.started_ms)}  {row.profile:<28} {row.outcome:<9}"
                      f"{dose}  {row.reason}")
        return EXIT_OK
    finally:
        history.close()


def _write(path: Path, text: str) -> None:
    from iontocore.home.signing import Refused

    try:
        path.write_text(text, "utf-8")
    except OSError as exc:
        raise Refused(f"-o {path}: {exc.strerror}") from None


def cmd_report(args: argparse.Namespace) -> int:
    from iontocore.home.history import History
    from iontocore.home.report import render
    from iontocore.home.trust import load_config

    config = load_config(args.config)
    history = History(config.history)
    try:
        html = render(history.rows(), config, history.verify())
    finally:
        history.close()
    _write(Path(args.output), html)
    print(f"report written to {args.output}")
    return EXIT_OK
