"""The committed reference study: fer-compare reproduces the tables committed beside its runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from fer.cli.compare import main

ROOT = Path(__file__).resolve().parents[1]
PARTS = sorted(
    p.parent.relative_to(ROOT) for p in (ROOT / "docs" / "study").glob("**/comparison.csv")
)


def test_the_study_has_committed_parts():
    assert {p.name for p in PARTS} >= {"grid"}


@pytest.mark.parametrize("part", PARTS, ids=lambda p: p.name)
def test_fer_compare_reproduces_the_committed_tables(part, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)  # the tables name runs by the path fer-compare was given
    assert main([str(part), "-o", str(tmp_path)]) == 0
    for name in ("comparison.csv", "comparison.md"):
        assert (tmp_path / name).read_text() == (ROOT / part / name).read_text(), name
