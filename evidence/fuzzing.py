"""The fuzz campaigns' size, for the evidence bundle (issue 17; SAFETY.md, "Verification
beyond examples").

Each `python -m fuzz.campaign` appends its summary (cases, seconds, workers, failures,
commit) to CAMPAIGN_DIR/campaigns.jsonl; the nightly workflow keeps that directory as an
artifact, so the file accumulates every night's campaign. `summary()` totals it:

    .venv/bin/python evidence/fuzzing.py [CAMPAIGN_DIR]
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def campaign_dir() -> Path:
    return Path(os.environ.get("IONTO_CAMPAIGN_DIR") or ROOT / ".hypothesis" / "campaign")


def summary(directory: Path | None = None) -> dict[str, Any]:
    """Totals over every campaign recorded in `directory` (none recorded: zeros)."""
    path = (directory or campaign_dir()) / "campaigns.jsonl"
    runs: list[dict[str, Any]] = []
    if path.is_file():
        for line in path.read_text("utf-8").splitlines():
            try:
                runs.append(json.loads(line))
            except ValueError:
                continue  # a line cut short by a killed campaign
    seconds = sum(float(r.get("duration_s", 0)) for r in runs)
    failures = sorted({f for r in runs for f in r.get("failures", [])})
    return {
        "source": str(path), "campaigns": len(runs),
        "cases": sum(int(r.get("cases", 0)) for r in runs),
        "hours": round(seconds / 3600, 2),
        "core_hours": round(sum(float(r.get("duration_s", 0)) * int(r.get("workers", 1))
                                for r in runs) / 3600, 2),
        "max_workers": max((int(r.get("workers", 1)) for r in runs), default=0),
        "failures_found": failures,
        "last": runs[-1] if runs else None,
    }


def line(s: dict[str, Any]) -> str:
    if not s["campaigns"]:
        return "no fuzz campaign recorded here"
    return (f"{s['campaigns']} campaign(s): {s['cases']:,} test cases in {s['hours']} h "
            f"({s['core_hours']} core-hours, up to {s['max_workers']} workers); "
            f"{len(s['failures_found'])} failing test(s) found")


if __name__ == "__main__":
    result = summary(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
    print(line(result))
    print(json.dumps(result, indent=1))
