"""What `qtfl run` prints: the quickstart (fewer rounds) ends in one comparison table with a
row per scenario, then the files written and the report to open — a short screen, not the
per-scenario dumps (those are behind --verbose)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from qtfl.present.run_table import run_table, terminal_cells
from tests.experiments.test_runner import run_cli

QUICKSTART = Path(__file__).resolve().parents[2] / "configs" / "quickstart.yaml"


@pytest.mark.integration
def test_quickstart_ends_in_one_table_and_the_report_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = yaml.safe_load(QUICKSTART.read_text())
    raw["training"]["rounds"] = 2
    cfg = tmp_path / "quickstart-2-rounds.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    out = tmp_path / "run"

    assert run_cli(["run", str(cfg), "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()

    names = [s["name"] for s in raw["scenarios"]]
    # the progress bars: one line per scenario, "name ━━━ 2/2 acc ..."
    bars = [i for i, line in enumerate(lines) if "2/2" in line and line.split()[0] in names]
    assert len(bars) == len(names)
    after = lines[max(bars) + 1 :]
    assert 0 < len(after) <= 40
    # one table: a header line, then one row per scenario in configuration order
    assert sum(1 for line in after if line.startswith("scenario ")) == 1
    rows = [line for line in after if line.split()[:1] and line.split()[0] in names]
    assert [r.split()[0] for r in rows] == names
    summary = json.loads((out / "summary.json").read_text())
    for line, row in zip(rows, run_table(summary).rows, strict=True):
        assert all(f" {cell}" in line for cell in terminal_cells(row)[1:]), line
    assert after[-1] == f"open {out / 'report.html'}"
    assert after[-2] == f"wrote summary.json, metrics.jsonl, report.html, report-data/ in {out}"
    text = "\n".join(after)
    assert not re.search(r"\d[eE][+-]?\d", text)  # no e-notation
    assert "bell_pairs_total" not in text  # no raw key dumps
