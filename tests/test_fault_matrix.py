"""Every fault class in every state where it can occur: reaction, latency, invariants.
The generated matrix is kept in specs/fault_matrix.md."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import fault_matrix as fm

SPEC = Path(__file__).resolve().parents[1] / "specs" / "fault_matrix.md"


CELLS = [pytest.param(kind, state, duty, id=f"{kind}-{state}-{'dc' if duty == 1000 else f'd{duty // 10}'}",
                      marks=pytest.mark.req(fm.requirement_of(kind), "SM-002",
                                            *(("SUP-017",) if duty < 1000 else ())))
         for kind, state, duty in fm.cells()]


@pytest.mark.parametrize("kind, state, duty", CELLS)
def test_cell(kind: str, state: str, duty: int) -> None:
    cell = fm.run_cell(kind, state, duty)
    assert cell.passed, cell.detail


def test_every_fault_code_is_in_the_matrix() -> None:
    from iontocore.faults import CATALOGUE

    missing = {f.code.value for f in CATALOGUE} - set(fm.APPLICABLE) - {"dose_limit"}
    assert not missing, f"fault codes with no matrix row: {missing}"


def test_matrix_file_is_current() -> None:
    results = [fm.run_cell(k, s, d) for k, s, d in fm.cells()]
    text = fm.render(results)
    if os.environ.get("IONTO_REGEN"):
        SPEC.write_text(text, "utf-8")
    assert all(c.passed for c in results)
    assert SPEC.read_text("utf-8") == text, "specs/fault_matrix.md is stale: IONTO_REGEN=1 pytest tests/test_fault_matrix.py"
