"""Every fault class in every state where it can occur: reaction, latency, invariants.
The generated matrix is kept in specs/fault_matrix.md."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import fault_matrix as fm

SPEC = Path(__file__).resolve().parents[1] / "specs" / "fault_matrix.md"


CELLS = [pytest.param(kind, state, id=f"{kind}-{state}",
                      marks=pytest.mark.req(fm.requirement_of(kind), "SM-002"))
         for kind, state in fm.cells()]


@pytest.mark.parametrize("kind, state", CELLS)
def test_cell(kind: str, state: str) -> None:
    cell = fm.run_cell(kind, state)
    assert cell.passed, cell.detail


def test_matrix_file_is_current() -> None:
    results = [fm.run_cell(k, s) for k, s in fm.cells()]
    text = fm.render(results)
    if os.environ.get("IONTO_REGEN"):
        SPEC.write_text(text, "utf-8")
    assert all(c.passed for c in results)
    assert SPEC.read_text("utf-8") == text, "specs/fault_matrix.md is stale: IONTO_REGEN=1 pytest tests/test_fault_matrix.py"
